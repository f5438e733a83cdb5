#pragma once
/* The outbox: claiming due messages under a lease and recording outcomes.
 *
 * Every claim hands out a fresh attempt token (lease_token); every outcome
 * is recorded "WHERE id = … AND lease_token = …", so a worker whose lease
 * expired and was taken over can never overwrite the newer attempt — its
 * update touches 0 rows.  All queue decisions use the database's clock
 * (or the run's --now), never the host's. */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

struct outbox_msg {
        int64_t id;
        char *job, *channel, *audience;
        char *recipient, *recipient_name;
        char *template_name, *locale, *time_zone;
        char *context; /* JSON text */
        char *dedupe_key;
        char *token;   /* lease token of this attempt */
        char *unsubscribe_token; /* in a marketing message's unsubscribe link; NULL: none (queued before 0018) */
        char *cancel_reason; /* non-NULL: no longer wanted, don't send */
        char *retry_reason;  /* non-NULL: cannot go yet (not built), retry later */
        bool built;          /* built at send time already (job_def.build_sql) */
        bool marketing;
        int attempts;  /* including this one */
        int64_t age;   /* seconds since due (not_before), on the claim's clock */
};

void outbox_msg_clear(struct outbox_msg *m);

struct outbox_claim_opts {
        const char *now;      /* ISO 8601 override or NULL for the DB clock */
        int limit;
        int64_t lease;        /* seconds */
        const char *instance;
        const char *channel;  /* claims are per channel (the index is) */
        int quiet_start, quiet_end; /* the channel's quiet hours, minutes; equal = none */
};

/* Claims up to opts->limit due messages; *ret is an array the caller frees
 * with outbox_msgs_free.  Generic still-wanted checks (expired, suppressed,
 * inactive, consent) come back as cancel_reason. */
int outbox_claim(PGconn *conn, const struct outbox_claim_opts *opts, struct outbox_msg **ret, size_t *n);
void outbox_msgs_free(struct outbox_msg *msgs, size_t n);

/* Outcomes.  Return 1 when recorded, 0 when the lease was lost (fenced),
 * negative on database errors. */
int outbox_mark_sent(PGconn *conn, const struct outbox_msg *m, const char *provider_id, const char *rendered);
/* Record many sent messages in one statement; returns how many were
 * recorded (the rest had lost their lease, and are logged). */
struct outbox_sent {
        const struct outbox_msg *msg;
        const char *provider_id, *rendered;
};
long outbox_mark_sent_many(PGconn *conn, const struct outbox_sent *sent, size_t n);
/* Due again delay_s after the run's clock, and not before retry_at (epoch
 * seconds, 0: no such bound); but never later than max_age_s after the
 * message's not_before.  uncounted: the attempt the claim counted is
 * taken back (the gateway throttled us). */
int outbox_mark_retry(PGconn *conn, const struct outbox_msg *m, const char *now, int64_t delay_s, int64_t retry_at,
                      int64_t max_age_s, bool uncounted, const char *error);
/* rendered: the text the last attempt offered (kept for audit, so an
 * administrator sees what a server refused), or NULL. */
int outbox_mark_failed(PGconn *conn, const struct outbox_msg *m, const char *error, const char *rendered);
int outbox_mark_cancelled(PGconn *conn, const struct outbox_msg *m, const char *reason);
/* Give an unstarted or interrupted claim back to the queue (graceful stop,
 * a lease about to run out); `why` goes into the message's history. */
int outbox_release(PGconn *conn, const struct outbox_msg *m, const char *why);

/* Delete up to `batch` finished messages older than retention_days (their
 * audit text with them); *deleted says how many.  With side_tables, once
 * those are done, old skip records and job runs too. */
int outbox_prune(PGconn *conn, int retention_days, int batch, bool side_tables, long *deleted);

int outbox_suppress(PGconn *conn, const char *address, const char *channel, const char *reason);

/* Seconds until the next queued message becomes due (0 if due now), or
 * -1 when nothing is queued.  Used to arm the dispatcher's timer. */
int outbox_next_due(PGconn *conn, const char *now, int64_t *seconds);
