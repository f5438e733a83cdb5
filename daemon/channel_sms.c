/* The SMS channel: one HTTP POST per message to the gateway (Twilio's
 * Messages API shape or a generic JSON body).  Every request carries the
 * message's dedupe key as an idempotency key (the JSON shape also in its
 * body) so that a gateway honouring it does not send twice when a retry
 * follows a lost response.  Twilio's own Messages API reads no such key
 * (I-Twilio-Idempotency-Token is the header Twilio puts on the webhooks it
 * sends), so for Twilio itself that window stays open, as rapport.conf(5)
 * says; the Twilio shape still sends the key, as Idempotency-Key and under
 * Twilio's header name, for the gateways and relays that speak Twilio's
 * API and do honour one.  Headers a server does not know are ignored. */
#include <ctype.h>
#include <errno.h>
#include <strings.h>

#include "channel.h"
#include "config.h"
#include "outbox.h"
#include "log.h"
#include "sms_text.h"
#include "templates.h"

/* The dedupe key as an HTTP header value.  Keys carry CRM data (an
 * invoice number): a CR or LF in one could end the header line and add
 * headers of its own, and non-ASCII bytes are not safe in a header, yet
 * leaving the header out would leave that message without the key that
 * stops a gateway sending it twice.  So control bytes, non-ASCII bytes
 * and '%' itself are percent-encoded (the mapping stays one-to-one); the
 * usual keys, plain ASCII, go as they are. */
static char *header_safe_key(const char *key) {
        static const char hex[] = "0123456789ABCDEF";
        char *out = malloc(strlen(key) * 3 + 1), *o = out;
        if (!out)
                return NULL;
        for (const unsigned char *p = (const unsigned char *)key; *p; p++)
                if (*p < 0x20 || *p >= 0x7f || *p == '%') {
                        *o++ = '%';
                        *o++ = hex[*p >> 4];
                        *o++ = hex[*p & 15];
                } else
                        *o++ = (char)*p;
        *o = '\0';
        return out;
}

static size_t write_response(char *data, size_t size, size_t nmemb, void *userdata) {
        struct transfer_io *io = userdata;
        size_t n = size * nmemb;
        if (io->response.len + n > 1024 * 1024) /* a gateway reply is small */
                return 0;
        return buf_append(&io->response, data, n) < 0 ? 0 : n;
}

/* The longest wait a Retry-After may impose: a year, as max_age's upper
 * bound.  A larger value (or a date centuries ahead) would put
 * next_attempt_at out of PostgreSQL's range and the outcome could not be
 * recorded at all. */
#define RETRY_AFTER_MAX (366LL * 86400)

static size_t read_header(char *data, size_t size, size_t nmemb, void *userdata) {
        struct transfer_io *io = userdata;
        size_t n = size * nmemb;
        if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
                const char *v = data + 12;
                while (*v == ' ' || *v == '\t')
                        v++;
                if (isdigit((unsigned char)*v)) {
                        long long s = strtoll(v, NULL, 10);
                        io->retry_after = s > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : s;
                        io->retry_at = 0;
                } else {
                        /* HTTP-date form: an instant, not a delay.  It is
                         * kept as such and compared with the run's clock
                         * (the database's, or --now) when the retry is
                         * recorded: this host's clock decides nothing. */
                        char tmp[128];
                        snprintf(tmp, sizeof tmp, "%.*s", (int)(n - (size_t)(v - data)), v);
                        time_t t = curl_getdate(tmp, NULL);
                        if (t > 0) {
                                io->retry_at = (int64_t)t;
                                io->retry_after = 0;
                        }
                }
        }
        return n;
}

int sms_setup(const struct rapport_config *c, const struct outbox_msg *m, const struct rendered *r, CURL *easy,
              struct transfer_io *io, char *why, size_t whylen) {
        if (!sms_number_valid(m->recipient)) {
                snprintf(why, whylen, "invalid phone number (E.164 expected)");
                return -EINVAL;
        }
        _cleanup_free_ char *body = strdup(r->text ? r->text : "");
        if (!body) {
                snprintf(why, whylen, "out of memory");
                return -ENOMEM;
        }
        sms_text_clean(body);
        struct sms_segments seg;
        if (sms_count_segments(body, &seg) < 0) {
                snprintf(why, whylen, "message is not valid UTF-8");
                return -EILSEQ;
        }
        if ((int)seg.segments > c->sms.max_segments) {
                snprintf(why, whylen, "message needs %zu segments, more than sms.max_segments = %d",
                         seg.segments, c->sms.max_segments);
                return -EMSGSIZE;
        }
        const char *ctype = NULL;
        const char *from = c->sms.from ? c->sms.from : "";
        /* Staging: the intended number was checked above, as in production;
         * the text goes to the test phone unchanged. */
        const char *to = c->sms.redirect_to ? c->sms.redirect_to : m->recipient;
        int ret;
        if (c->sms.format == SMS_FORMAT_JSON) {
                const struct sms_json_fields fields = {
                        .to = c->sms.json_to, .from = c->sms.json_from, .text = c->sms.json_text,
                        .idempotency_key = c->sms.json_idempotency_key,
                };
                ret = sms_build_json_request(&fields, from, to, body, m->dedupe_key, &io->payload, &ctype);
        } else
                ret = sms_build_request(c->sms.format, from, to, body, m->dedupe_key, &io->payload, &ctype);
        if (ret < 0) {
                snprintf(why, whylen, "cannot build the gateway request: %s", strerror(-ret));
                return ret;
        }
        io->audit = strdup(body);
        /* The reply is read after the transfer, possibly after a reload
         * freed this configuration: the transfer keeps its own copy. */
        if (c->sms.format == SMS_FORMAT_JSON && strv_copy(c->sms.json_reply_id, &io->reply_id) < 0)
                return -ENOMEM;
        _cleanup_free_ char *ct = NULL, *idem = NULL, *twilio_idem = NULL, *bearer = NULL;
        if (asprintf(&ct, "Content-Type: %s", ctype) < 0)
                return -ENOMEM;
        io->headers = curl_slist_append(io->headers, ct);
        if (m->dedupe_key) {
                _cleanup_free_ char *key = header_safe_key(m->dedupe_key);
                if (!key || asprintf(&idem, "Idempotency-Key: %s", key) < 0)
                        return -ENOMEM;
                io->headers = curl_slist_append(io->headers, idem);
                if (c->sms.format == SMS_FORMAT_TWILIO) {
                        if (asprintf(&twilio_idem, "I-Twilio-Idempotency-Token: %s", key) < 0)
                                return -ENOMEM;
                        io->headers = curl_slist_append(io->headers, twilio_idem);
                }
        }
        io->headers = curl_slist_append(io->headers, "Accept: application/json");
        io->headers = curl_slist_append(io->headers, "Expect:");
        if (c->sms.token) {
                if (c->sms.format == SMS_FORMAT_TWILIO || c->sms.username) {
                        curl_easy_setopt(easy, CURLOPT_USERNAME, c->sms.username ? c->sms.username : "");
                        curl_easy_setopt(easy, CURLOPT_PASSWORD, c->sms.token);
                } else {
                        if (asprintf(&bearer, "Authorization: Bearer %s", c->sms.token) < 0)
                                return -ENOMEM;
                        io->headers = curl_slist_append(io->headers, bearer);
                }
        }
        curl_easy_setopt(easy, CURLOPT_URL, c->sms.gateway_url);
        curl_easy_setopt(easy, CURLOPT_POST, 1L);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, io->payload.data);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)io->payload.len);
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, io->headers);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_response);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, io);
        curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, read_header);
        curl_easy_setopt(easy, CURLOPT_HEADERDATA, io);
        curl_easy_setopt(easy, CURLOPT_TIMEOUT, (long)c->sms.timeout);
        curl_easy_setopt(easy, CURLOPT_USERAGENT, "rapportd");
        return 0;
}

void sms_classify(enum sms_format fmt, CURL *easy, CURLcode result, struct transfer_io *io, struct outcome *o) {
        long code = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
        o->retry_after = -1;
        o->retry_at = 0;
        o->throttled = false;
        o->error[0] = '\0';
        bool accepted = code >= 200 && code < 300;
        if (result != CURLE_OK && !accepted) {
                o->kind = OUTCOME_RETRY;
                snprintf(o->error, sizeof o->error, "gateway: %s", curl_easy_strerror(result));
                return;
        }
        if (accepted) {
                /* The status line is the gateway's answer: a 2xx whose body
                 * then broke off (the connection dropped, never finished,
                 * more than we keep) still took the message, and sending it
                 * again would send the SMS twice.  The note is logged with
                 * the message; the id is read from what arrived, if it is
                 * there. */
                if (result != CURLE_OK)
                        snprintf(o->error, sizeof o->error,
                                 "the gateway accepted it (HTTP %ld) but its reply was cut short (%s)", code,
                                 result == CURLE_WRITE_ERROR ? "longer than 1 MB" : curl_easy_strerror(result));
                o->kind = OUTCOME_SENT;
                char *id = NULL;
                const char *reply = io->response.data ? io->response.data : "";
                if (fmt == SMS_FORMAT_JSON && io->reply_id)
                        (void)sms_parse_response_paths((const char *const *)io->reply_id, reply, io->response.len, &id);
                else
                        (void)sms_parse_response(fmt, reply, io->response.len, &id);
                io->provider_id = id;
                return;
        }
        /* Keep the start of the gateway's answer: it usually says why, and
         * often quotes the number ("The To number +1555... is not valid"),
         * which the journal and last_error must not. */
        char answer[256];
        snprintf(answer, sizeof answer, "%.200s", io->response.data ? io->response.data : "");
        char masked[sizeof answer + 64];
        log_mask_text(answer, masked, sizeof masked);
        snprintf(o->error, sizeof o->error, "gateway HTTP %ld: %s", code, masked);
        if (code == 429 || code >= 500) {
                o->kind = OUTCOME_RETRY;
                o->retry_after = io->retry_after;
                o->retry_at = io->retry_at;
                o->throttled = code == 429;
        } else if (code == 408) {
                /* Request Timeout: the gateway gave up waiting for our
                 * request before it had all of it, so nothing was sent;
                 * RFC 9110 lets the client repeat it. */
                o->kind = OUTCOME_RETRY;
        } else if (code >= 300 && code < 400) {
                /* Not followed: the request carries the credentials and the
                 * message, and a redirect is the gateway saying the
                 * configured address is not the one to use.  Nothing was
                 * sent; retried, so that correcting sms.gateway_url loses
                 * no message, with where the gateway points in the reason. */
                const char *location = NULL;
                curl_easy_getinfo(easy, CURLINFO_REDIRECT_URL, &location);
                snprintf(o->error, sizeof o->error, "gateway HTTP %ld: redirected to %.300s, not followed (check sms.gateway_url)",
                         code, location ? location : "(no Location)");
                o->kind = OUTCOME_RETRY;
        } else
                o->kind = OUTCOME_FAILED;
}
