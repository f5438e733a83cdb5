#pragma once
/* What the e-mail and SMS channels share with the dispatcher: the state
 * of one transfer and the classification of its outcome. */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "sms_text.h"
#include "util.h"

struct rapport_config;
struct outbox_msg;
struct rendered;

struct transfer_io {
        struct buf payload; /* what we upload (SMTP DATA) or POST */
        size_t read_off;
        struct curl_slist *rcpt, *headers;
        struct buf response; /* HTTP body */
        int64_t retry_after; /* seconds, from a Retry-After header, or -1 */
        int64_t retry_at;    /* epoch seconds, from a Retry-After HTTP-date, or 0 */
        char *provider_id;   /* Message-ID for e-mail */
        char *audit;         /* rendered text kept with the sent row */
        char **reply_id;     /* SMS json: where the reply holds the id (NULL: built-in) */
        /* E-mail: curl's own words on a failure ("RCPT failed: 550") and
         * the server's last reply line, which together say at which step
         * of the SMTP transaction, and why, a message was refused. */
        char errbuf[CURL_ERROR_SIZE];
        char reply[256];
};
void transfer_io_clear(struct transfer_io *io);
/* Frees what only the transfer needed (the payload, the reply, curl's
 * lists), keeping what its outcome is recorded with: an outcome may wait
 * a while for the database, and hundreds of them must not hold hundreds
 * of message bodies.  keep_envelope keeps the recipient list, which a hard
 * bounce needs to tell the intended recipient from a redirect address. */
void transfer_io_shed(struct transfer_io *io, bool keep_envelope);

enum outcome_kind { OUTCOME_SENT, OUTCOME_RETRY, OUTCOME_FAILED, OUTCOME_BOUNCED };
struct outcome {
        enum outcome_kind kind;
        int64_t retry_after; /* -1: use the backoff schedule */
        int64_t retry_at;    /* >0: not before this instant (an HTTP-date), on the database's clock */
        /* HTTP 429: the gateway limits our rate, which says nothing about
         * this message; such an attempt does not count toward
         * max_attempts (max_age still bounds it). */
        bool throttled;
        char error[512];
};

/* The context a message is rendered with: its own (planned, or built at
 * send time) plus what the configuration adds — the sender's name and, on
 * marketing messages, the recipient's own unsubscribe link.  The
 * dispatcher and `rapportctl preview` both use it, so a preview shows the
 * words that go out.  NULL only when out of memory. */
struct json_object;
struct json_object *message_context(const struct rapport_config *c, const char *context_json, int64_t id,
                                    const char *unsubscribe_token, bool marketing);

/* Prepare `easy` for one message.  Returns 0, or a negative code with
 * *why set when the message itself can never be sent (bad address, too
 * many SMS segments) — the dispatcher then marks it failed. */
int email_setup(const struct rapport_config *c, const struct outbox_msg *m, const struct rendered *r, time_t date,
                CURL *easy, struct transfer_io *io, char *why, size_t whylen);
/* Only a recipient refused at RCPT TO with 550, 551 or 553 is a hard
 * bounce (the address is suppressed); any other 5xx — MAIL FROM, DATA,
 * the reply to the message itself (content, policy) — fails the message
 * permanently and leaves the address alone. */
void email_classify(CURL *easy, CURLcode result, struct transfer_io *io, struct outcome *o);

int sms_setup(const struct rapport_config *c, const struct outbox_msg *m, const struct rendered *r,
              CURL *easy, struct transfer_io *io, char *why, size_t whylen);
void sms_classify(enum sms_format fmt, CURL *easy, CURLcode result, struct transfer_io *io, struct outcome *o);
