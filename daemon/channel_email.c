/* The e-mail channel: a MIME message built by mime.c, handed to libcurl's
 * SMTP client as the DATA payload.  libcurl keeps SMTP connections in the
 * multi handle's cache, so consecutive messages reuse one session. */
#include <errno.h>
#include <time.h>

#include <json-c/json.h>

#include "channel.h"
#include "config.h"
#include "log.h"
#include "mime.h"
#include "outbox.h"
#include "templates.h"

void transfer_io_clear(struct transfer_io *io) {
        buf_free(&io->payload);
        buf_free(&io->response);
        curl_slist_free_all(io->rcpt);
        curl_slist_free_all(io->headers);
        free(io->provider_id);
        free(io->audit);
        strv_free(io->reply_id);
        *io = (struct transfer_io){.retry_after = -1};
}

void transfer_io_shed(struct transfer_io *io, bool keep_envelope) {
        buf_free(&io->payload);
        buf_free(&io->response);
        if (!keep_envelope) {
                curl_slist_free_all(io->rcpt);
                io->rcpt = NULL;
        }
        curl_slist_free_all(io->headers);
        strv_free(io->reply_id);
        io->headers = NULL;
        io->reply_id = NULL;
        io->read_off = 0;
}

/* libcurl hands every SMTP reply line to the header callback.  The last
 * refusal (4xx, 5xx) is the server's answer to whatever failed: the 221
 * to the QUIT curl sends after a failure must not hide it. */
static size_t read_reply(char *data, size_t size, size_t nmemb, void *userdata) {
        struct transfer_io *io = userdata;
        size_t n = size * nmemb, len = n;
        if (n == 0 || (data[0] != '4' && data[0] != '5'))
                return n;
        while (len > 0 && (data[len - 1] == '\r' || data[len - 1] == '\n'))
                len--;
        if (len >= sizeof io->reply)
                len = sizeof io->reply - 1;
        memcpy(io->reply, data, len);
        io->reply[len] = '\0';
        return n;
}

static size_t read_payload(char *dst, size_t size, size_t nmemb, void *userdata) {
        struct transfer_io *io = userdata;
        size_t want = size * nmemb, left = io->payload.len - io->read_off;
        size_t n = want < left ? want : left;
        memcpy(dst, io->payload.data + io->read_off, n);
        io->read_off += n;
        return n;
}

static int build_audit(const struct rendered *r, char **ret) {
        _cleanup_buf_ struct buf b = {0};
        buf_printf(&b, "Subject: %s\n\n%s", r->subject ? r->subject : "", r->text ? r->text : "");
        if (r->html)
                buf_printf(&b, "\n--- html ---\n%s", r->html);
        *ret = buf_steal(&b);
        return *ret ? 0 : -ENOMEM;
}

/* The message id identifies the recipient to the unsubscribe endpoint,
 * never the address itself; the random token makes the link unforgeable
 * (RFC 8058 asks for that): ids are sequential. */
static void unsubscribe_link(const struct rapport_config *c, int64_t id, const char *token, char *buf, size_t len) {
        snprintf(buf, len, "%s%sid=%lld%s%s", c->email.unsubscribe_url, strchr(c->email.unsubscribe_url, '?') ? "&" : "?",
                 (long long)id, token ? "&token=" : "", token ? token : "");
}

json_object *message_context(const struct rapport_config *c, const char *context_json, int64_t id,
                             const char *unsubscribe_token, bool marketing) {
        json_object *ctx = json_tokener_parse(context_json ? context_json : "{}");
        if (!ctx || !json_object_is_type(ctx, json_type_object)) {
                json_object_put(ctx);
                ctx = json_object_new_object();
        }
        if (!ctx)
                return NULL;
        if (c->email.from_name)
                json_object_object_add(ctx, "sender", json_object_new_string(c->email.from_name));
        if (marketing && c->email.unsubscribe_url) {
                char link[1024];
                unsubscribe_link(c, id, unsubscribe_token, link, sizeof link);
                json_object_object_add(ctx, "unsubscribe_url", json_object_new_string(link));
        }
        return ctx;
}

int email_setup(const struct rapport_config *c, const struct outbox_msg *m, const struct rendered *r, time_t date, CURL *easy,
                struct transfer_io *io, char *why, size_t whylen) {
        if (!email_address_valid(m->recipient)) {
                snprintf(why, whylen, "invalid e-mail address");
                return -EINVAL;
        }
        const char *to = c->email.redirect_to ? c->email.redirect_to : m->recipient;

        struct mail_header extra[5];
        size_t n = 0;
        char id[64];
        snprintf(id, sizeof id, "%lld", (long long)m->id);
        extra[n++] = (struct mail_header){"X-Rapport-Id", id};
        if (c->email.redirect_to)
                extra[n++] = (struct mail_header){"X-Rapport-Original-To", m->recipient};
        _cleanup_free_ char *unsub = NULL;
        if (m->marketing && (c->email.unsubscribe_mailto || c->email.unsubscribe_url)) {
                _cleanup_buf_ struct buf u = {0};
                if (c->email.unsubscribe_mailto)
                        buf_printf(&u, "<mailto:%s?subject=unsubscribe>", c->email.unsubscribe_mailto);
                if (c->email.unsubscribe_url) {
                        char link[1024];
                        unsubscribe_link(c, m->id, m->unsubscribe_token, link, sizeof link);
                        buf_printf(&u, "%s<%s>", u.len ? ", " : "", link);
                }
                unsub = buf_steal(&u);
                extra[n++] = (struct mail_header){"List-Unsubscribe", unsub};
                if (c->email.unsubscribe_url)
                        extra[n++] = (struct mail_header){"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"};
        }

        struct mail_message mm = {
                .from_name = c->email.from_name,
                .from_addr = c->email.from_addr,
                .to_name = m->recipient_name,
                .to_addr = to,
                .subject = r->subject ? r->subject : "",
                .text = r->text ? r->text : "",
                .html = r->html,
                .date = date,
                .extra = extra,
                .n_extra = n,
        };
        int ret = smtp_build_message(&mm, &io->payload, &io->provider_id);
        if (ret < 0) {
                snprintf(why, whylen, "cannot build the message: %s", strerror(-ret));
                return ret;
        }
        ret = build_audit(r, &io->audit);
        if (ret < 0)
                return ret;

        _cleanup_free_ char *from = NULL, *rcpt = NULL;
        if (asprintf(&from, "<%s>", c->email.from_addr) < 0 || asprintf(&rcpt, "<%s>", to) < 0)
                return -ENOMEM;
        io->rcpt = curl_slist_append(NULL, rcpt);
        curl_easy_setopt(easy, CURLOPT_URL, c->email.smtp_url);
        curl_easy_setopt(easy, CURLOPT_MAIL_FROM, from);
        curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, io->rcpt);
        curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
        /* Memory: each handle keeps an upload buffer (64 kB by default) and
         * a receive buffer (16 kB) for its life, and with a message waiting
         * behind each worker there are two handles a connection.  A message
         * is a few kB and an SMTP reply line at most 512 bytes (RFC 5321), so
         * libcurl's smallest upload buffer and a 4 kB receive buffer cost
         * nothing in speed and keep 16 connections' worth under 2 MB. */
        curl_easy_setopt(easy, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
        curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, 4096L);
        curl_easy_setopt(easy, CURLOPT_READFUNCTION, read_payload);
        curl_easy_setopt(easy, CURLOPT_READDATA, io);
        curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)io->payload.len);
        curl_easy_setopt(easy, CURLOPT_USE_SSL, c->email.tls == TLS_REQUIRED ? (long)CURLUSESSL_ALL
                                                : c->email.tls == TLS_OPPORTUNISTIC ? (long)CURLUSESSL_TRY
                                                                                    : (long)CURLUSESSL_NONE);
        if (c->email.username)
                curl_easy_setopt(easy, CURLOPT_USERNAME, c->email.username);
        if (c->email.password)
                curl_easy_setopt(easy, CURLOPT_PASSWORD, c->email.password);
        if (c->email.ca_file)
                curl_easy_setopt(easy, CURLOPT_CAINFO, c->email.ca_file);
        curl_easy_setopt(easy, CURLOPT_TIMEOUT, (long)c->email.timeout);
        curl_easy_setopt(easy, CURLOPT_SERVER_RESPONSE_TIMEOUT, (long)c->email.timeout);
        curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, io->errbuf);
        curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, read_reply);
        curl_easy_setopt(easy, CURLOPT_HEADERDATA, io);
        return 0;
}

static bool starts_with(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The enhanced status code (RFC 3463) after the basic one, "550 5.1.1 ...":
 * returns whether the reply has one. */
static bool enhanced_status(const char *reply, int *cls, int *subject, int *detail) {
        const char *p = reply + strspn(reply, "0123456789");
        if (*p != ' ' && *p != '-')
                return false;
        int n = 0;
        return sscanf(p + 1, "%1d.%3d.%3d%n", cls, subject, detail, &n) == 3 && n > 0 &&
               (p[1 + n] == '\0' || p[1 + n] == ' ' || p[1 + n] == '\r' || p[1 + n] == '\n');
}

/* Whether a permanent refusal says the recipient's address is bad, so it
 * is suppressed: by its enhanced status code when it has one (X.1.x about
 * the destination — unknown mailbox, bad domain, bad syntax, moved, null
 * MX — or X.2.1, mailbox disabled), whatever step it came at (one
 * recipient per message); otherwise by the basic code at RCPT TO.  A
 * policy refusal (5.7.x), a full mailbox (5.2.2) or a refused content says
 * nothing against the address.  (A refusal at MAIL FROM never comes here:
 * it is about our own address; see email_classify().) */
static bool is_hard_bounce(long code, const char *stage, const char *reply) {
        int cls, subject, detail;
        if (enhanced_status(reply, &cls, &subject, &detail) && cls == 5)
                return (subject == 1 && detail != 7 && detail != 8) || (subject == 2 && detail == 1);
        return stage && streq(stage, "RCPT TO") && (code == 550 || code == 551 || code == 553);
}

/* A 552 to RCPT TO that says no more than its code, or says "too many
 * recipients" (X.5.3), is RFC 821's misnumbered 452.  One that says what
 * it is (552 5.2.2, mailbox full) is that permanent refusal. */
static bool rcpt_552_means_452(const char *reply) {
        int cls, subject, detail;
        if (!enhanced_status(reply, &cls, &subject, &detail))
                return true;
        return subject == 5 && detail == 3;
}

void email_classify(CURL *easy, CURLcode result, struct transfer_io *io, struct outcome *o) {
        long code = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
        o->retry_after = -1;
        o->retry_at = 0;
        if (result == CURLE_OK) {
                o->kind = OUTCOME_SENT;
                return;
        }
        if (result == CURLE_USE_SSL_FAILED) {
                /* email.tls = "required" and the server offers no STARTTLS:
                 * curl stops before MAIL FROM, so nothing went out in clear
                 * text.  Our own configuration (or the server's) is wrong:
                 * retrying gives the administrator time to fix it. */
                snprintf(o->error, sizeof o->error,
                         "SMTP: TLS required (email.tls = \"required\") but the server did not start it,"
                         " nothing sent in clear text: %s",
                         io->errbuf[0] ? io->errbuf : curl_easy_strerror(result));
                o->kind = OUTCOME_RETRY;
                return;
        }
        if (result == CURLE_PEER_FAILED_VERIFICATION || result == CURLE_SSL_CONNECT_ERROR ||
            result == CURLE_SSL_CACERT_BADFILE || result == CURLE_SSL_ISSUER_ERROR) {
                /* The last reply code here is the server's 220 to STARTTLS
                 * (or none, with smtps://): naming it would read as if the
                 * server had complained.  The handshake failed before MAIL
                 * FROM, so nothing went out; retried like a refused login,
                 * while the administrator fixes the trust (email.ca_file). */
                const char *what = curl_easy_strerror(result);
                bool detail = io->errbuf[0] && !streq(io->errbuf, what);
                snprintf(o->error, sizeof o->error,
                         "SMTP: TLS handshake failed%s, nothing sent: %s%s%s%s",
                         result == CURLE_PEER_FAILED_VERIFICATION
                                 ? " (the server's certificate is not trusted; a private CA goes in email.ca_file)"
                                 : "",
                         what, detail ? " (" : "", detail ? io->errbuf : "", detail ? ")" : "");
                o->kind = OUTCOME_RETRY;
                return;
        }

        /* Which step failed.  CURLINFO_RESPONSE_CODE is only the last reply
         * received, whatever it answered: curl's error text says which
         * command it was ("RCPT failed: 550", CURLE_SEND_ERROR), and a
         * refusal of the message itself comes after the payload was read
         * (CURLE_WEIRD_SERVER_REPLY, CURLE_RECV_ERROR in older libcurl,
         * with no text of its own). */
        const char *stage = NULL;
        if (result == CURLE_SEND_ERROR && starts_with(io->errbuf, "RCPT failed"))
                stage = "RCPT TO";
        else if (result == CURLE_SEND_ERROR && starts_with(io->errbuf, "MAIL failed"))
                stage = "MAIL FROM";
        else if (result == CURLE_SEND_ERROR && starts_with(io->errbuf, "DATA failed"))
                stage = "DATA";
        else if (code >= 400 && io->read_off > 0)
                stage = "end of DATA";
        /* The whole message went and no reply to it came: the connection
         * dropped or the reply timed out after the final dot.  The server
         * may have taken it; it is retried all the same (nothing is
         * lost), and the reason says the recipient may get it twice. */
        bool unanswered = code < 400 && io->payload.len > 0 && io->read_off == io->payload.len &&
                          (result == CURLE_OPERATION_TIMEDOUT || result == CURLE_RECV_ERROR || result == CURLE_GOT_NOTHING);

        char codestr[24];
        snprintf(codestr, sizeof codestr, "%ld", code);
        if (unanswered) {
                const char *what = curl_easy_strerror(result);
                bool detail = io->errbuf[0] && !streq(io->errbuf, what);
                snprintf(o->error, sizeof o->error,
                         "SMTP at end of DATA: no reply to the message, the server may have delivered it"
                         " (a retry can deliver it twice): %s%s%s%s",
                         what, detail ? " (" : "", detail ? io->errbuf : "", detail ? ")" : "");
        } else if (code >= 400 && starts_with(io->reply, codestr)) {
                char reply[sizeof io->reply];
                log_mask_text(io->reply, reply, sizeof reply);
                snprintf(o->error, sizeof o->error, "SMTP %ld%s%s: %s", code, stage ? " at " : "", stage ? stage : "", reply);
        } else {
                const char *what = curl_easy_strerror(result);
                bool detail = io->errbuf[0] && !streq(io->errbuf, what);
                /* A code below 400 is the last reply that went well (the
                 * 354 to DATA before a timeout, 0 before any): naming it
                 * would read as the server's complaint. */
                char codeprefix[24] = "";
                if (code >= 400)
                        snprintf(codeprefix, sizeof codeprefix, " %ld", code);
                snprintf(o->error, sizeof o->error, "SMTP%s%s%s: %s%s%s%s", codeprefix, stage ? " at " : "", stage ? stage : "",
                         what, detail ? " (" : "", detail ? io->errbuf : "", detail ? ")" : "");
        }
        if (result == CURLE_LOGIN_DENIED) {
                /* A 535 is about our credentials, not this message: retrying
                 * gives the administrator time to fix them without losing
                 * every message queued meanwhile. */
                o->kind = OUTCOME_RETRY;
        } else if (code >= 500 && code < 600 && stage && streq(stage, "MAIL FROM")) {
                /* Our sender refused ("550 5.1.0 Sender address rejected"):
                 * about email.from or the relay's policy for it, never about
                 * this recipient.  Like a refused login, retrying gives the
                 * administrator time to fix it without losing the queue. */
                o->kind = OUTCOME_RETRY;
        } else if (code == 552 && stage && streq(stage, "RCPT TO") && rcpt_552_means_452(starts_with(io->reply, codestr) ? io->reply : "")) {
                /* RFC 821 listed "too many recipients" as 552; RFC 5321
                 * (4.5.3.1.10) asks clients to take it as the temporary 452
                 * it should be.  Nothing against the address. */
                o->kind = OUTCOME_RETRY;
        } else if (code >= 500 && code < 600) {
                bool bounce = is_hard_bounce(code, stage, starts_with(io->reply, codestr) ? io->reply : "");
                o->kind = bounce ? OUTCOME_BOUNCED : OUTCOME_FAILED;
        } else
                o->kind = OUTCOME_RETRY; /* 4xx, connection errors, timeouts */
}
