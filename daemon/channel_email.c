/* The e-mail channel: a MIME message built by mime.c, handed to libcurl's
 * SMTP client as the DATA payload.  libcurl keeps SMTP connections in the
 * multi handle's cache, so consecutive messages reuse one session. */
#include <errno.h>
#include <time.h>

#include "channel.h"
#include "config.h"
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
        *io = (struct transfer_io){.retry_after = -1};
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

int email_setup(const struct rapport_config *c, const struct outbox_msg *m, const struct rendered *r, CURL *easy,
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
                        /* The message id identifies the recipient to the
                         * unsubscribe endpoint; never the address itself. */
                        const char *sep = strchr(c->email.unsubscribe_url, '?') ? "&" : "?";
                        buf_printf(&u, "%s<%s%sid=%lld>", u.len ? ", " : "", c->email.unsubscribe_url, sep, (long long)m->id);
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
                .date = time(NULL),
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
        return 0;
}

void email_classify(CURL *easy, CURLcode result, struct transfer_io *io, struct outcome *o) {
        (void)io;
        long code = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
        o->retry_after = -1;
        if (result == CURLE_OK) {
                o->kind = OUTCOME_SENT;
                return;
        }
        snprintf(o->error, sizeof o->error, "SMTP %ld: %s", code, curl_easy_strerror(result));
        if (code >= 500 && code < 600) {
                /* 550/551/553 on RCPT: the mailbox does not exist — a hard
                 * bounce, never to be tried again. */
                o->kind = (code == 550 || code == 551 || code == 553) ? OUTCOME_BOUNCED : OUTCOME_FAILED;
        } else if (result == CURLE_LOGIN_DENIED || result == CURLE_USE_SSL_FAILED) {
                /* Our own configuration is wrong: retrying later gives the
                 * administrator time to fix it without losing anything. */
                o->kind = OUTCOME_RETRY;
        } else {
                o->kind = OUTCOME_RETRY;
        }
}
