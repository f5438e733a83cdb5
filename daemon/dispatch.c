/* Dispatcher.  The queue lives in PostgreSQL; this module keeps only what
 * is in flight.  A pump claims at most as many rows per channel as that
 * channel has free connections and rate tokens, so memory stays bounded
 * whatever the queue depth, and every completion pumps again: the
 * pipeline stays full without polling.  When nothing is due the wake-up
 * timer is armed for the next not_before (LISTEN/NOTIFY covers new work). */
#include "dispatch.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <sys/random.h>
#include <time.h>

#include "../jobs/jobs.h"
#include "channel.h"
#include "db.h"
#include "db_worker.h"
#include "config.h"
#include "curl_glue.h"
#include "log.h"
#include "outbox.h"
#include "planner.h"
#include "smtp_pool.h"
#include "templates.h"
#include "tz.h"

enum { CH_EMAIL, CH_SMS, CH_MAX };
#define SPARE_MAX 4
/* Messages prepared and waiting behind busy SMTP workers, at most: one per
 * worker keeps a connection from idling while the loop records the last
 * outcome (most of the gain at one to four connections), and each waiting
 * message holds a built message and a libcurl handle (memory). */
#define WAITING_MAX 4
#define QUIET_CHANNEL_USEC 1000000ULL
/* Outcomes wait for a batch this big, or this long, before they are
 * recorded: see maybe_flush_unrecorded(). */
#define RECORD_BATCH 64
#define RECORD_DELAY_USEC 10000ULL
/* Outcomes held (waiting, or being recorded by the recorder's thread) past
 * which nothing more is claimed or started: a database slower than the
 * gateway must slow the sending down, not fill the memory with outcomes;
 * and a message accepted but not yet recorded is sent again after a
 * crash, so this (with the transfers in flight) bounds what a crash can
 * double. */
#define HELD_MAX 64
/* The texts one statement of the recorder's carries, at most (at least one
 * message): the statement is built whole, and libpq copies it into a
 * buffer it keeps for the connection's life, so a batch of digests would
 * otherwise leave megabytes behind on the recorder's thread. */
#define RECORD_BATCH_BYTES (64 * 1024)
#define PUMP_ROUNDS 16
static const char *const channel_names[CH_MAX] = {"email", "sms"};

struct transfer {
        struct transfer *next, *prev;
        struct dispatcher *d;
        int ch;
        struct outbox_msg msg;
        CURL *easy;
        bool released;
        struct outcome outcome; /* when waiting in d->unrecorded */
        uint64_t lease_half_usec; /* monotonic: half its lease gone (see claims_safe_until()) */
        struct transfer_io io;
        int timeout; /* seconds, as set up (a reload may change the setting) */
};

struct bucket {
        double tokens;
        uint64_t last_usec;
};

/* Claimed (leased) but not started yet: a claim fetches a batch, the
 * connections drain it. */
struct ready {
        struct outbox_msg *msgs;
        /* Per row, monotonic: when half its lease is over (rows claimed
         * ahead join behind older ones, so the instants never decrease). */
        uint64_t *lease_half;
        size_t n, head;
        int64_t lease; /* seconds, the shortest the rows were claimed with (a reload may change the setting) */
};

/* What the recorder records: sent messages, as one statement. */
struct sent_batch {
        struct outbox_sent *sent;
        size_t n;
};

/* A claim on the claimer's thread, with the jobs' still-due checks of
 * what it took.  The strings are copies: a reload frees the
 * configuration's while the claim runs. */
struct claim_work {
        int ch;
        struct outbox_claim_opts o;
        char *now, *instance;
        char *settings[JOB_COUNT]; /* settings_snapshot() */
        uint64_t started_usec; /* monotonic, before the claim: its lease began later */
        uint64_t safe_until;   /* monotonic: held outcomes' first half lease over, the claim must not run */
        struct outbox_msg *msgs;
        size_t n;
};

/* A database worker and its back-off: after it failed, its work is done
 * on the loop's connection until retry_usec (monotonic); the delay
 * doubles while it keeps failing (the worker's connection may be the only
 * one the server refuses: max_connections). */
struct worker_slot {
        struct db_worker *w; /* NULL: all on the loop's connection */
        uint64_t retry_usec, backoff_usec;
};

struct dispatcher {
        sd_event *event;
        struct ready ready[CH_MAX];
        struct dispatch_env *env;
        struct curl_glue *glue;
        struct transfer *inflight;
        struct transfer *abandoned; /* released at stop, e-mail thread not yet done */
        /* To give back at stop while the database is away: what a release
         * needs of each (id, token, and job and channel for the log),
         * given back by dispatcher_free() if it can connect. */
        struct outbox_msg *unreleased;
        size_t n_unreleased, cap_unreleased;
        struct transfer *unrecorded; /* finished, outcome not yet in the database */
        unsigned n_unrecorded;
        uint64_t unrecorded_since; /* monotonic: when the oldest of them finished */
        /* Sent messages the recorder's thread is recording. */
        struct worker_slot recorder;
        struct transfer *recording;
        unsigned n_recording;
        struct sent_batch recording_batch;
        /* The claim the claimer's thread is making, one at a time. */
        struct worker_slot claimer;
        struct claim_work claim;
        bool claiming;
        struct smtp_pool *smtp;
        unsigned n_inflight[CH_MAX];
        /* A channel whose last claim came back short has nothing more due:
         * it is not claimed again before this (monotonic) time unless
         * something says there is new work (NOTIFY, the wake-up timer, an
         * idle dispatcher).  Otherwise every completion on a busy channel
         * would cost an empty claim on the quiet one. */
        uint64_t quiet_until[CH_MAX];
        /* The channel's last claim was full: more is likely due on it, so
         * when its batch is done it is claimed again at once, without first
         * asking the database when the next message is due. */
        bool claim_full[CH_MAX];
        struct bucket bucket[CH_MAX];
        sd_event_source *wake;   /* next due message or rate token */
        sd_event_source *defer;  /* pump from a clean stack */
        sd_event_source *grace;  /* end of graceful stop */
        sd_event_source *record; /* RECORD_DELAY_USEC after the oldest unrecorded outcome */
        /* Finished handles kept for the next message (curl_easy_reset):
         * creating one per message costs allocations and, for e-mail, the
         * private multi handle curl_easy_perform sets up (sockets too). */
        CURL *spare[CH_MAX][SPARE_MAX];
        unsigned n_spare[CH_MAX];
        bool stopping, pumping;
        unsigned long finished; /* transfers finished so far */
        bool claim_failed;      /* the last claim failed (logged) */
        int64_t now_epoch;      /* env->now as seconds, or 0 */
        dispatch_idle_fn idle;
        void *idle_userdata;
        struct dispatch_stats stats;
};

static void on_done(struct curl_glue *g, CURL *easy, CURLcode result, void *userdata);
static void on_smtp_done(CURL *easy, CURLcode result, void *job, void *userdata);
static void on_recorded(long recorded, void *arg, void *userdata);
static void on_claimed(long claimed, void *arg, void *userdata);
static void release_waiting(struct dispatcher *d);

static bool channel_configured(const struct rapport_config *c, int ch) {
        return ch == CH_EMAIL ? c->email.smtp_url != NULL : c->sms.gateway_url != NULL;
}

static unsigned channel_connections(const struct rapport_config *c, int ch) {
        return (unsigned)(ch == CH_EMAIL ? c->email.connections : c->sms.connections);
}

/* Whether an e-mail may wait behind each SMTP worker's current transfer.
 * When a worker finishes, its next message would otherwise wait for this
 * loop to take the outcome and hand it another (behind whatever the loop
 * is doing: a claim, a build, other transfers, while the connection
 * idles).  The lease must cover the
 * wait: the message was claimed up to half a lease ago (after that it is
 * released instead: lease_running_short()), then waits out the worker's
 * current transfer and runs its own, each bounded by the timeout it was
 * set up with.  The lease is the one the waiting messages were claimed
 * with and the timeouts those of the transfers running, not the settings:
 * a reload may have changed those since.  Not under a rate limit: a message
 * waiting behind a slow one would start right after it, on a token taken
 * long before, and two would go out closer together than the rate allows. */
static bool email_may_wait(const struct dispatcher *d) {
        const struct rapport_config *c = d->env->cfg;
        if (c->email.rate > 0)
                return false;
        const struct ready *rq = &d->ready[CH_EMAIL];
        int64_t lease = rq->head < rq->n ? rq->lease : c->outbox.lease;
        int64_t running = c->email.timeout;
        for (const struct transfer *t = d->inflight; t; t = t->next)
                if (t->ch == CH_EMAIL && t->timeout > running)
                        running = t->timeout;
        return lease > 2 * (running + c->email.timeout);
}

/* Transfers a channel may have in flight: its connections, and for e-mail
 * one more waiting behind each of up to WAITING_MAX workers when
 * email_may_wait().  Never more connections than the pool has workers: a
 * reload that lowered email.connections leaves surplus workers, which must
 * stay idle. */
static unsigned channel_slots(const struct dispatcher *d, int ch) {
        const struct rapport_config *c = d->env->cfg;
        unsigned n = channel_connections(c, ch);
        if (ch == CH_EMAIL) {
                unsigned w = smtp_pool_workers(d->smtp);
                if (w < n)
                        n = w;
                else if (w == n && email_may_wait(d))
                        n += n < WAITING_MAX ? n : WAITING_MAX;
        }
        return n;
}

static double channel_rate(const struct rapport_config *c, int ch) {
        return ch == CH_EMAIL ? c->email.rate : c->sms.rate;
}

static uint64_t now_usec(struct dispatcher *d) {
        uint64_t t;
        sd_event_now(d->event, CLOCK_MONOTONIC, &t);
        return t;
}

/* Token bucket of capacity max(1, rate / 10): messages are paced evenly,
 * and a burst never exceeds a tenth of a second's worth, so no second
 * (however its window is placed) sees more than about the rate itself; a
 * provider's per-second limit is a limit on every second.  Returns how many
 * messages may start now. */
static unsigned bucket_take_allowance(struct dispatcher *d, int ch, unsigned want, uint64_t *wait_usec) {
        double rate = channel_rate(d->env->cfg, ch);
        *wait_usec = 0;
        if (rate <= 0)
                return want;
        struct bucket *b = &d->bucket[ch];
        uint64_t now = now_usec(d);
        double cap = rate < 10 ? 1 : rate / 10;
        if (b->last_usec == 0)
                b->tokens = cap;
        else
                b->tokens = fmin(cap, b->tokens + (double)(now - b->last_usec) / 1e6 * rate);
        b->last_usec = now;
        unsigned n = (unsigned)floor(b->tokens);
        if (n > want)
                n = want;
        b->tokens -= n;
        if (n < want)
                *wait_usec = (uint64_t)((1.0 - (b->tokens - floor(b->tokens))) / rate * 1e6) + 1000;
        return n;
}

static int64_t backoff(const struct rapport_config *c, int attempts) {
        size_t i = attempts > 0 ? (size_t)attempts - 1 : 0;
        if (i >= c->outbox.n_retry)
                i = c->outbox.n_retry - 1;
        int64_t base = c->outbox.retry[i];
        /* ±20% jitter so a recovering server is not hit by a thundering herd. */
        uint32_t rnd = 0;
        if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd)
                rnd = (uint32_t)time(NULL);
        double f = 0.8 + 0.4 * (rnd / 4294967296.0);
        int64_t v = (int64_t)llround((double)base * f);
        return v < 1 ? 1 : v;
}

static CURL *easy_get(struct dispatcher *d, int ch) {
        if (d->n_spare[ch] > 0)
                return d->spare[ch][--d->n_spare[ch]];
        return curl_easy_init();
}

/* Keep a few spares: a finished transfer's handle is usually taken again
 * at once, and each spare holds libcurl's buffers (memory, not speed). */
static void easy_put(struct dispatcher *d, int ch, CURL *easy) {
        if (!easy)
                return;
        if (d->n_spare[ch] < SPARE_MAX) {
                curl_easy_reset(easy);
                d->spare[ch][d->n_spare[ch]++] = easy;
        } else
                curl_easy_cleanup(easy);
}

static void spares_free(struct dispatcher *d) {
        for (int ch = 0; ch < CH_MAX; ch++) {
                while (d->n_spare[ch] > 0)
                        curl_easy_cleanup(d->spare[ch][--d->n_spare[ch]]);
        }
}

static void transfer_free(struct transfer *t) {
        if (!t)
                return;
        easy_put(t->d, t->ch, t->easy);
        transfer_io_clear(&t->io);
        outbox_msg_clear(&t->msg);
        free(t);
}

static void unlink_transfer(struct dispatcher *d, struct transfer *t) {
        if (t->prev)
                t->prev->next = t->next;
        else
                d->inflight = t->next;
        if (t->next)
                t->next->prev = t->prev;
        d->n_inflight[t->ch]--;
}

static void record_outcome(struct dispatcher *d, struct outbox_msg *m, const struct outcome *o, struct transfer_io *io) {
        PGconn *conn = d->env->conn;
        const struct rapport_config *c = d->env->cfg;
        struct log_ctx ctx = {m->job, m->id, m->channel};
        switch (o->kind) {
        case OUTCOME_SENT:
                if (outbox_mark_sent(conn, m, io->provider_id, io->audit) > 0)
                        d->stats.sent++;
                return;
        case OUTCOME_BOUNCED: {
                /* Suppress only the address the server refused.  Under
                 * email.redirect_to (staging) that is the redirect address,
                 * not the intended recipient.  The transfer's own envelope
                 * decides, not the configuration, which a reload may have
                 * changed since the message went out. */
                const char *env = io->rcpt ? io->rcpt->data : NULL;
                size_t n = strlen(m->recipient);
                bool intended = env ? env[0] == '<' && strncmp(env + 1, m->recipient, n) == 0 && streq(env + 1 + n, ">")
                                    : !(streq(m->channel, "email") && c->email.redirect_to);
                if (!intended) {
                        log_full(LOG_WARNING, 0, &ctx,
                                 "Failed permanently: the redirect address was refused, the intended recipient is not suppressed: %s",
                                 o->error);
                } else {
                        log_full(LOG_NOTICE, 0, &ctx, "Hard bounce, recipient suppressed: %s", o->error);
                        (void)outbox_suppress(conn, m->recipient, m->channel, "hard bounce");
                }
                if (outbox_mark_failed(conn, m, o->error, io->audit) > 0)
                        d->stats.failed++;
                return;
        }
        case OUTCOME_FAILED:
                log_full(LOG_WARNING, 0, &ctx, "Failed permanently: %s", o->error);
                if (outbox_mark_failed(conn, m, o->error, io->audit) > 0)
                        d->stats.failed++;
                return;
        case OUTCOME_RETRY:
                break;
        }
        /* A gateway throttling a burst with "429 Retry-After: 1" would
         * otherwise use up max_attempts in seconds and fail messages
         * nothing was wrong with. */
        if ((m->attempts >= c->outbox.max_attempts && !o->throttled) || m->age > c->outbox.max_age) {
                char why[700];
                snprintf(why, sizeof why, "%s (last error: %s)",
                         m->attempts >= c->outbox.max_attempts ? "too many attempts" : "too old to send", o->error);
                log_full(LOG_WARNING, 0, &ctx, "Giving up: %s", why);
                if (outbox_mark_failed(conn, m, why, io->audit) > 0)
                        d->stats.failed++;
                return;
        }
        int64_t delay = o->retry_after >= 0 ? o->retry_after : backoff(c, m->attempts);
        /* Not past max_age (outbox_mark_retry() holds a Retry-After date
         * to it too): the last try is then. */
        if (delay > c->outbox.max_age - m->age)
                delay = c->outbox.max_age - m->age;
        /* Uncounted, a "Retry-After: 0" must not make a loop of it. */
        if (o->throttled && delay < 1)
                delay = 1;
        if (o->retry_at > 0)
                log_full(LOG_NOTICE, 0, &ctx, "Temporary failure, retry at the time the gateway named (Retry-After): %s", o->error);
        else
                log_full(LOG_NOTICE, 0, &ctx, "Temporary failure, retry in %llds: %s", (long long)delay, o->error);
        if (outbox_mark_retry(conn, m, d->env->now, delay, o->retry_at, c->outbox.max_age, o->throttled, o->error) > 0)
                d->stats.retried++;
}

/* Start one claimed message, or settle it at once if it cannot go. */
static void start_one(struct dispatcher *d, int ch, struct outbox_msg *m) {
        struct log_ctx ctx = {m->job, m->id, m->channel};
        if (m->cancel_reason) {
                log_full(LOG_INFO, 0, &ctx, "Cancelled: %s", m->cancel_reason);
                if (outbox_mark_cancelled(d->env->conn, m, m->cancel_reason) > 0)
                        d->stats.cancelled++;
                outbox_msg_clear(m);
                return;
        }
        const struct message_template *tpl =
                template_find(d->env->templates, m->template_name, m->channel, m->locale, d->env->cfg->locale);
        struct outcome fail = {.kind = OUTCOME_FAILED, .retry_after = -1};
        struct rendered r = {0};
        _cleanup_free_ struct transfer *t = calloc(1, sizeof *t);
        if (m->retry_reason) {
                fail.kind = OUTCOME_RETRY;
                snprintf(fail.error, sizeof fail.error, "%s", m->retry_reason);
        } else if (!tpl) {
                /* A missing template is the administrator's to fix: retry
                 * on the backoff schedule rather than lose the message. */
                fail.kind = OUTCOME_RETRY;
                snprintf(fail.error, sizeof fail.error, "no template %s.%s for locale %s", m->template_name, m->channel, m->locale);
        } else {
                json_object *jctx = message_context(d->env->cfg, m->context, m->id, m->unsubscribe_token, m->marketing);
                int rr = jctx ? template_render(d->env->templates, tpl, jctx, &r) : -ENOMEM;
                json_object_put(jctx);
                if (rr == -ENOMEM)
                        fail.kind = OUTCOME_RETRY;
                if (rr < 0)
                        snprintf(fail.error, sizeof fail.error, "rendering %s failed: %s", tpl->path, strerror(-rr));
        }
        if (!fail.error[0] && !t)
                snprintf(fail.error, sizeof fail.error, "out of memory"), fail.kind = OUTCOME_RETRY;
        if (!fail.error[0]) {
                t->d = d;
                t->ch = ch;
                t->io.retry_after = -1;
                t->io.retry_at = 0;
                t->easy = easy_get(d, ch);
                int sr = -ENOMEM;
                if (t->easy) {
                        curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
                        curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT, 10L);
                        /* --now: the whole run, sending too, is at that instant. */
                        time_t date = d->now_epoch ? (time_t)d->now_epoch : time(NULL);
                        t->timeout = ch == CH_EMAIL ? d->env->cfg->email.timeout : d->env->cfg->sms.timeout;
                        sr = ch == CH_EMAIL ? email_setup(d->env->cfg, m, &r, date, t->easy, &t->io, fail.error, sizeof fail.error)
                                            : sms_setup(d->env->cfg, m, &r, t->easy, &t->io, fail.error, sizeof fail.error);
                }
                if (sr >= 0) {
                        const struct ready *rq = &d->ready[ch];
                        t->lease_half_usec = rq->lease_half[m - rq->msgs];
                        t->msg = *m;
                        *m = (struct outbox_msg){0};
                        if ((ch == CH_EMAIL ? smtp_pool_submit(d->smtp, t->easy, t) : curl_glue_add(d->glue, t->easy, t)) >= 0) {
                                t->next = d->inflight;
                                if (d->inflight)
                                        d->inflight->prev = t;
                                d->inflight = t;
                                d->n_inflight[ch]++;
                                t = NULL;
                                rendered_clear(&r);
                                return;
                        }
                        *m = t->msg;
                        t->msg = (struct outbox_msg){0};
                        fail.kind = OUTCOME_RETRY;
                        snprintf(fail.error, sizeof fail.error, "cannot start the transfer");
                }
                if (!fail.error[0])
                        snprintf(fail.error, sizeof fail.error, "cannot prepare the transfer: %s", strerror(-sr));
                easy_put(d, ch, t->easy);
                transfer_io_clear(&t->io);
        }
        rendered_clear(&r);
        if (fail.kind == OUTCOME_FAILED)
                log_full(LOG_WARNING, 0, &ctx, "Cannot send: %s", fail.error);
        record_outcome(d, m, &fail, &(struct transfer_io){.retry_after = -1});
        outbox_msg_clear(m);
}

/* Each job's settings as configured, for its still-due check, indexed as
 * job_defs[] (NULL: the job is not configured; the check gets "{}"). */
static void settings_view(const struct rapport_config *c, char *settings[JOB_COUNT]) {
        for (int j = 0; j < JOB_COUNT; j++) {
                const struct job_config *jc = config_job(c, job_defs[j]->name);
                settings[j] = jc ? jc->settings_json : NULL;
        }
}

static void settings_clear(char *settings[JOB_COUNT]) {
        for (int j = 0; j < JOB_COUNT; j++) {
                free(settings[j]);
                settings[j] = NULL;
        }
}

/* The same as copies, for the claimer's thread: it may still be checking
 * when a reload replaces the configuration. */
static int settings_snapshot(const struct rapport_config *c, char *settings[JOB_COUNT]) {
        char *view[JOB_COUNT];
        settings_view(c, view);
        for (int j = 0; j < JOB_COUNT; j++)
                settings[j] = NULL;
        for (int j = 0; j < JOB_COUNT; j++)
                if (view[j] && !(settings[j] = strdup(view[j]))) {
                        settings_clear(settings);
                        return -ENOMEM;
                }
        return 0;
}

/* The job's own still-due check (an invoice paid, a complaint resolved
 * since planning), one query per job per batch. */
static void apply_still_due(PGconn *conn, const char *now, char *const settings[JOB_COUNT], struct outbox_msg *msgs,
                            size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (msgs[i].cancel_reason)
                        continue;
                const struct job_def *def = job_def_find(msgs[i].job);
                if (!def || !def->still_due_sql)
                        continue;
                bool seen = false;
                for (size_t k = 0; k < i && !seen; k++)
                        seen = !msgs[k].cancel_reason && streq(msgs[k].job, msgs[i].job);
                if (seen)
                        continue; /* handled with the first message of this job */
                _cleanup_buf_ struct buf ids = {0};
                buf_puts(&ids, "{");
                for (size_t k = i; k < n; k++)
                        if (!msgs[k].cancel_reason && streq(msgs[k].job, def->name))
                                buf_printf(&ids, "%s%lld", ids.len > 1 ? "," : "", (long long)msgs[k].id);
                buf_puts(&ids, "}");
                int j = job_def_index(def);
                const char *p[] = {ids.data, now ? now : "now", j >= 0 && settings[j] ? settings[j] : "{}"};
                _cleanup_(PQclearp) PGresult *res = NULL;
                if (db_exec_typed(conn, "Checking messages are still due", def->still_due_sql, JOB_STILL_DUE_PARAMS,
                                  job_still_due_param_types, p, &res) < 0) {
                        /* Not known to be still due (the invoice may be
                         * paid): retried later, never sent on a guess. */
                        for (size_t k = i; k < n; k++)
                                if (!msgs[k].cancel_reason && !msgs[k].retry_reason && streq(msgs[k].job, def->name))
                                        msgs[k].retry_reason = strdup("the job's still-due check failed");
                        continue;
                }
                for (int r = 0; r < PQntuples(res); r++) {
                        long long id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
                        for (size_t k = i; k < n; k++)
                                if (msgs[k].id == id && !msgs[k].cancel_reason)
                                        msgs[k].cancel_reason = strdup(PQgetvalue(res, r, 1));
                }
        }
}

/* Messages built at send time (the digest), one query per job for the few
 * about to start: a digest over a large book takes milliseconds to build,
 * and building a whole claim at once would hold the event loop for as long
 * as the sum.  One the query does not build waits for a retry: a message
 * is never sent with only its planned skeleton. */
enum { BUILD_AHEAD = 8 };
static void apply_build(struct dispatcher *d, struct outbox_msg *msgs, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (msgs[i].cancel_reason || msgs[i].retry_reason || msgs[i].built)
                        continue;
                const struct job_def *def = job_def_find(msgs[i].job);
                if (!def || !def->build_sql) {
                        msgs[i].built = true;
                        continue;
                }
                _cleanup_free_ int64_t *ids = calloc(n - i, sizeof *ids);
                size_t m = 0;
                for (size_t k = i; ids && k < n; k++)
                        if (!msgs[k].cancel_reason && !msgs[k].retry_reason && !msgs[k].built && streq(msgs[k].job, def->name))
                                ids[m++] = msgs[k].id;
                _cleanup_(PQclearp) PGresult *res = NULL;
                int r = ids ? planner_build(d->env->conn, d->env->cfg, def, d->env->now, ids, m, &res) : -ENOMEM;
                for (size_t k = i; k < n; k++) {
                        struct outbox_msg *msg = &msgs[k];
                        if (msg->cancel_reason || msg->retry_reason || msg->built || !streq(msg->job, def->name))
                                continue;
                        msg->built = true;
                        int row = -1;
                        for (int x = 0; r >= 0 && x < PQntuples(res) && row < 0; x++)
                                if (strtoll(PQgetvalue(res, x, 0), NULL, 10) == msg->id)
                                        row = x;
                        char *ctx = row >= 0 && PQgetisnull(res, row, 1) ? strdup(PQgetvalue(res, row, 2)) : NULL;
                        if (row >= 0 && !PQgetisnull(res, row, 1))
                                msg->cancel_reason = strdup(PQgetvalue(res, row, 1));
                        else if (ctx) {
                                free(msg->context);
                                msg->context = ctx;
                        } else
                                msg->retry_reason = strdup(r < 0 ? "building the message failed" : "the message could not be built");
                }
        }
}

static void channels_wake(struct dispatcher *d) {
        for (int ch = 0; ch < CH_MAX; ch++)
                d->quiet_until[ch] = 0;
}

static void arm_wake(struct dispatcher *d, uint64_t usec_from_now) {
        sd_event_source_set_time(d->wake, now_usec(d) + usec_from_now);
        sd_event_source_set_enabled(d->wake, SD_EVENT_ONESHOT);
}

/* Every outcome held, recorded on the loop's connection. */
static void flush_unrecorded_here(struct dispatcher *d) {
        /* Sent messages: one statement for the lot. */
        size_t n = 0;
        for (struct transfer *t = d->unrecorded; t; t = t->next)
                n += t->outcome.kind == OUTCOME_SENT;
        if (n > 0) {
                _cleanup_free_ struct outbox_sent *batch = calloc(n, sizeof *batch);
                size_t k = 0;
                for (struct transfer *t = d->unrecorded; batch && t; t = t->next)
                        if (t->outcome.kind == OUTCOME_SENT)
                                batch[k++] = (struct outbox_sent){&t->msg, t->io.provider_id, t->io.audit};
                long recorded = batch ? outbox_mark_sent_many(d->env->conn, batch, k) : -ENOMEM;
                if (recorded < 0)
                        return; /* keep them for the next pump */
                d->stats.sent += (unsigned long)recorded;
        }
        while (d->unrecorded) {
                struct transfer *t = d->unrecorded;
                d->unrecorded = t->next;
                if (t->outcome.kind != OUTCOME_SENT)
                        record_outcome(d, &t->msg, &t->outcome, &t->io);
                transfer_free(t);
        }
        d->n_unrecorded = 0;
        sd_event_source_set_enabled(d->record, SD_EVENT_OFF);
}

static long record_sent(PGconn *conn, void *arg) {
        const struct sent_batch *b = arg;
        return outbox_mark_sent_many(conn, b->sent, b->n);
}

static bool worker_usable(struct dispatcher *d, const struct worker_slot *ws) {
        return ws->w && !d->stopping && now_usec(d) >= ws->retry_usec;
}

static void worker_result(struct dispatcher *d, struct worker_slot *ws, bool ok) {
        if (ok) {
                ws->backoff_usec = 0;
                return;
        }
        ws->backoff_usec = ws->backoff_usec ? ws->backoff_usec * 2 : 1000000ULL;
        if (ws->backoff_usec > 30000000ULL)
                ws->backoff_usec = 30000000ULL;
        ws->retry_usec = now_usec(d) + ws->backoff_usec;
}

/* Sent messages go to the recorder's thread, when it is free, as one batch;
 * the rare other outcomes (retries, failures) are recorded here at once.
 * At stop, or while the recorder is failing, all are recorded here, after
 * the batch in progress (if any) is over. */
static void flush_unrecorded(struct dispatcher *d) {
        if (!d->env->conn || PQstatus(d->env->conn) != CONNECTION_OK)
                return;
        if (!worker_usable(d, &d->recorder)) {
                if (d->recorder.w)
                        db_worker_wait(d->recorder.w);
                if (d->unrecorded)
                        flush_unrecorded_here(d);
                return;
        }
        if (!d->unrecorded || db_worker_busy(d->recorder.w))
                return; /* its end flushes again */
        size_t n = 0;
        for (struct transfer *t = d->unrecorded; t; t = t->next)
                n += t->outcome.kind == OUTCOME_SENT;
        /* Owned by the recorder's batch until it is done: freed by the
         * next one, or by dispatcher_free(). */
        struct sent_batch *b = &d->recording_batch;
        free(b->sent);
        b->sent = n ? calloc(n, sizeof *b->sent) : NULL;
        b->n = 0;
        if (n && !b->sent) {
                flush_unrecorded_here(d);
                return;
        }
        /* Oldest first (the list is newest first): under a steady load the
         * oldest outcome must not wait behind newer ones while its lease
         * runs out. */
        struct transfer *oldest_first = NULL;
        while (d->unrecorded) {
                struct transfer *t = d->unrecorded;
                d->unrecorded = t->next;
                t->next = oldest_first;
                oldest_first = t;
        }
        d->n_unrecorded = 0;
        size_t bytes = 0;
        while (oldest_first) {
                struct transfer *t = oldest_first;
                oldest_first = t->next;
                if (t->outcome.kind != OUTCOME_SENT) {
                        record_outcome(d, &t->msg, &t->outcome, &t->io);
                        transfer_free(t);
                        continue;
                }
                size_t len = t->io.audit ? strlen(t->io.audit) : 0;
                if (b->n > 0 && bytes + len > RECORD_BATCH_BYTES) {
                        /* The next batch's: back on the list, which stays newest first. */
                        t->next = d->unrecorded;
                        d->unrecorded = t;
                        d->n_unrecorded++;
                        continue;
                }
                bytes += len;
                b->sent[b->n++] = (struct outbox_sent){&t->msg, t->io.provider_id, t->io.audit};
                t->next = d->recording;
                d->recording = t;
                d->n_recording++;
        }
        if (!d->unrecorded)
                sd_event_source_set_enabled(d->record, SD_EVENT_OFF);
        if (b->n && db_worker_submit(d->recorder.w, d->env->cfg->conninfo, d->env->cfg->db_password, record_sent, b) < 0) {
                /* Not submitted (out of memory): back, and recorded here. */
                on_recorded(-ENOMEM, b, d);
                flush_unrecorded_here(d);
        }
}

/* A batch of sent messages is recorded, or could not be (on the loop). */
static void on_recorded(long recorded, void *arg, void *userdata) {
        (void)arg; /* d->recording_batch */
        struct dispatcher *d = userdata;
        worker_result(d, &d->recorder, recorded >= 0);
        if (recorded >= 0) {
                d->stats.sent += (unsigned long)recorded;
                while (d->recording) {
                        struct transfer *t = d->recording;
                        d->recording = t->next;
                        transfer_free(t);
                }
        } else {
                /* Still 'sending' in the database: held again, recorded on the
                 * loop's connection for a while (the recorder's may be the
                 * only one that cannot reach the server: max_connections). */
                if (d->recording) {
                        /* Older than anything held meanwhile: the list's
                         * tail, in its order (newest first), so the next
                         * batch takes them first. */
                        struct transfer **tail = &d->unrecorded;
                        while (*tail)
                                tail = &(*tail)->next;
                        if (!d->unrecorded)
                                d->unrecorded_since = now_usec(d);
                        *tail = TAKE_PTR(d->recording);
                        d->n_unrecorded += d->n_recording;
                }
        }
        d->n_recording = 0;
        free(d->recording_batch.sent);
        d->recording_batch = (struct sent_batch){0};
        if (!d->stopping)
                sd_event_source_set_enabled(d->defer, SD_EVENT_ONESHOT);
}

/* Whether a claim may run while outcomes are held: it also takes rows
 * whose lease expired, and after a database outage those can include
 * messages whose outcome this loop holds but has not recorded yet —
 * claimed again, they would go out twice.  A message within the first half
 * of its lease is safe (its lease runs on the database's clock from
 * before the claim returned, so the loop's clock sees it start late).
 * Returns until when (monotonic) a claim may run: the earliest held
 * outcome's half lease, or UINT64_MAX with none held.  A claim on the
 * claimer's thread checks it again just before its statement: the thread
 * may first have had to connect, which can take seconds. */
static uint64_t claims_safe_until(struct dispatcher *d) {
        uint64_t until = UINT64_MAX;
        for (struct transfer *t = d->unrecorded; t; t = t->next)
                if (t->lease_half_usec < until)
                        until = t->lease_half_usec;
        for (struct transfer *t = d->recording; t; t = t->next)
                if (t->lease_half_usec < until)
                        until = t->lease_half_usec;
        return until;
}

/* Recording an outcome costs a database round trip and a commit whether
 * it covers one message or a hundred, and the loop waits for it.  E-mail
 * goes out from threads, which keep sending meanwhile: recording at every
 * pump costs them nothing.  SMS transfers run on this loop (and a local
 * gateway often answers within the pump that started them): a record per
 * completion would hold the next request behind that round trip and spend
 * the server's time on commits.  So while SMS is moving, outcomes wait for
 * a batch, for at most RECORD_DELAY_USEC, or until nothing is in flight and
 * no pump is coming: the window in which a crash could send a message
 * again grows by that much, no more. */
static void maybe_flush_unrecorded(struct dispatcher *d) {
        if (!d->unrecorded)
                return;
        if (worker_usable(d, &d->recorder)) {
                /* The loop does not wait for the recorder: what came in
                 * while it was busy is the next batch. */
                flush_unrecorded(d);
                return;
        }
        uint64_t due = d->unrecorded_since + RECORD_DELAY_USEC;
        int pump_pending = SD_EVENT_OFF;
        sd_event_source_get_enabled(d->defer, &pump_pending);
        bool sms_moving = d->n_inflight[CH_SMS] > 0 || d->ready[CH_SMS].head < d->ready[CH_SMS].n;
        if (!sms_moving || d->n_unrecorded >= RECORD_BATCH || now_usec(d) >= due ||
            (!d->inflight && pump_pending == SD_EVENT_OFF)) {
                flush_unrecorded(d);
                return;
        }
        int enabled = SD_EVENT_OFF;
        sd_event_source_get_enabled(d->record, &enabled);
        if (enabled == SD_EVENT_OFF) {
                sd_event_source_set_time(d->record, due);
                sd_event_source_set_enabled(d->record, SD_EVENT_ONESHOT);
        }
}

/* How many to claim at once: enough that a claim's round trip is shared
 * by many messages, few enough that a rate-limited channel sends them well
 * inside their lease. */
static int claim_size(const struct rapport_config *c, int ch) {
        double rate = channel_rate(c, ch);
        int n = c->outbox.batch;
        if (rate > 0 && rate * (double)c->outbox.lease / 4 < n)
                n = (int)(rate * (double)c->outbox.lease / 4);
        int conns = (int)channel_connections(c, ch);
        return n < conns ? conns : n < 1 ? 1 : n;
}

static void ready_clear(struct ready *rq) {
        outbox_msgs_free(rq->msgs, rq->n);
        free(rq->lease_half);
        *rq = (struct ready){0};
}

/* A claimed message waits for a free connection; when connections are
 * slower than the claim size assumed (a server taking seconds a message),
 * the last of a batch would start near or past the end of its lease and
 * another claim (ours or another instance's) could take it over while it
 * is being sent: a duplicate.  Past half the lease, the rest of the batch
 * goes back to the queue instead, and a fresh claim follows. */
static bool lease_running_short(struct dispatcher *d, const struct ready *rq) {
        return rq->head < rq->n && now_usec(d) >= rq->lease_half[rq->head];
}

/* The rows past half their lease; those a later claim took stay. */
static void release_ready(struct dispatcher *d, int ch) {
        struct ready *rq = &d->ready[ch];
        uint64_t now = now_usec(d);
        unsigned released = 0;
        for (; rq->head < rq->n && now >= rq->lease_half[rq->head]; rq->head++)
                if (outbox_release(d->env->conn, &rq->msgs[rq->head], "lease half over before a connection was free") > 0)
                        released++;
        if (released)
                log_info("%u claimed %s message(s) released: half their lease passed before a connection was free",
                         released, channel_names[ch]);
}

static void claim_work_clear(struct claim_work *w) {
        free(w->now);
        free(w->instance);
        settings_clear(w->settings);
        outbox_msgs_free(w->msgs, w->n);
        *w = (struct claim_work){0};
}

/* On the claimer's thread. */
static long claim_due(PGconn *conn, void *arg) {
        struct claim_work *w = arg;
        if (monotonic_usec() >= w->safe_until)
                return -EAGAIN; /* not claimed: the loop records first */
        int r = outbox_claim(conn, &w->o, &w->msgs, &w->n);
        if (r < 0)
                return r;
        if (w->n)
                apply_still_due(conn, w->o.now, w->settings, w->msgs, w->n);
        return (long)w->n;
}

/* Rows a claim took join what is ready on their channel: behind what is
 * still waiting when the claim was made ahead, each row keeping its own
 * claim's time (so none is kept past half its lease, and none released
 * early for an older claim's).  claimed_usec is when the claim was sent:
 * its lease began after that, so the loop's reckoning errs on the safe
 * side.  Takes msgs. */
static void ready_add(struct dispatcher *d, int ch, struct outbox_msg *msgs, size_t n, int64_t lease,
                      uint64_t claimed_usec) {
        struct ready *rq = &d->ready[ch];
        size_t left = rq->n - rq->head;
        struct outbox_msg *m = left ? calloc(left + n, sizeof *m) : msgs;
        uint64_t *half = calloc(left + n, sizeof *half);
        if (!m || !half) {
                for (size_t i = 0; i < n; i++)
                        (void)outbox_release(d->env->conn, &msgs[i], "out of memory");
                outbox_msgs_free(msgs, n);
                if (m != msgs)
                        free(m);
                free(half);
                return;
        }
        uint64_t lease_half = claimed_usec + (uint64_t)lease * 1000000ULL / 2;
        for (size_t i = 0; i < n; i++)
                half[left + i] = lease_half;
        if (!left) {
                ready_clear(rq);
                *rq = (struct ready){.msgs = msgs, .lease_half = half, .n = n, .lease = lease};
                return;
        }
        memcpy(m, rq->msgs + rq->head, left * sizeof *m);
        memcpy(m + left, msgs, n * sizeof *m);
        memcpy(half, rq->lease_half + rq->head, left * sizeof *half);
        free(rq->msgs); /* those before head were moved out or cleared already */
        free(rq->lease_half);
        free(msgs);
        rq->msgs = m;
        rq->lease_half = half;
        rq->n = left + n;
        rq->head = 0;
        if (lease < rq->lease)
                rq->lease = lease;
}

/* A claim's outcome, wherever it ran.  Takes msgs. */
static void claim_settle(struct dispatcher *d, int ch, int r, int limit, int64_t lease, uint64_t claimed_usec,
                         struct outbox_msg *msgs, size_t n) {
        if (r < 0) {
                outbox_msgs_free(msgs, n);
                /* Logged; try again in a while, not at once (a claim that
                 * fails now, on a working connection, fails next time). */
                d->claim_full[ch] = false;
                d->quiet_until[ch] = now_usec(d) + QUIET_CHANNEL_USEC;
                d->claim_failed = true;
                return;
        }
        d->claim_failed = false;
        d->claim_full[ch] = (int)n == limit;
        d->quiet_until[ch] = d->claim_full[ch] ? 0 : now_usec(d) + QUIET_CHANNEL_USEC;
        if (n)
                ready_add(d, ch, msgs, n, lease, claimed_usec);
        else
                free(msgs);
}

/* Claims due rows of a channel, at most once per pump and one claim at a
 * time: on the claimer's thread (its end pumps again), or here when there
 * is no claimer or it is failing.  Returns whether rows are ready now. */
static bool claim(struct dispatcher *d, int ch, bool claimed[CH_MAX]) {
        if (claimed[ch] || d->claiming || now_usec(d) < d->quiet_until[ch])
                return false;
        /* Outcomes first (see claims_safe_until()). */
        flush_unrecorded(d);
        uint64_t started = now_usec(d), safe_until = claims_safe_until(d);
        if (started >= safe_until || d->n_unrecorded + d->n_recording >= HELD_MAX)
                return false;
        claimed[ch] = true;
        const struct rapport_config *c = d->env->cfg;
        struct outbox_claim_opts o = {
                .now = d->env->now, .limit = claim_size(c, ch), .lease = c->outbox.lease,
                .instance = c->instance, .channel = channel_names[ch],
                .quiet_start = ch == CH_SMS ? c->sms.quiet_start : c->email.quiet_start,
                .quiet_end = ch == CH_SMS ? c->sms.quiet_end : c->email.quiet_end,
        };
        if (worker_usable(d, &d->claimer)) {
                struct claim_work *w = &d->claim;
                claim_work_clear(w);
                w->ch = ch;
                w->started_usec = started;
                w->safe_until = safe_until;
                w->o = o;
                w->o.now = w->now = o.now ? strdup(o.now) : NULL;
                w->o.instance = w->instance = strdup(o.instance);
                if ((!o.now || w->now) && w->instance && settings_snapshot(c, w->settings) >= 0 &&
                    db_worker_submit(d->claimer.w, c->conninfo, c->db_password, claim_due, w) >= 0) {
                        d->claiming = true;
                        return false;
                }
                claim_work_clear(w);
        }
        struct outbox_msg *msgs = NULL;
        size_t n = 0;
        int r = outbox_claim(d->env->conn, &o, &msgs, &n);
        if (r >= 0 && n) {
                char *settings[JOB_COUNT];
                settings_view(c, settings); /* on the loop: no reload can intervene */
                apply_still_due(d->env->conn, d->env->now, settings, msgs, n);
        }
        claim_settle(d, ch, r, o.limit, o.lease, started, msgs, n);
        return r >= 0 && n > 0;
}

static void on_claimed(long claimed, void *arg, void *userdata) {
        struct dispatcher *d = userdata;
        struct claim_work *w = arg;
        d->claiming = false;
        worker_result(d, &d->claimer, claimed >= 0 || claimed == -EAGAIN);
        if (claimed >= 0) {
                struct outbox_msg *msgs = TAKE_PTR(w->msgs);
                size_t n = w->n;
                w->n = 0;
                claim_settle(d, w->ch, 0, w->o.limit, w->o.lease, w->started_usec, msgs, n);
        }
        /* A failed claim (logged by the worker) is not the channel's failure
         * yet: the claimer is backing off, and the next pump claims on the
         * loop's connection at once — --once must not end with due rows
         * unsent because one connection was refused.  One not made because
         * held outcomes came too near their lease's half (-EAGAIN) waits,
         * as claim() does, for them to be recorded. */
        claim_work_clear(w);
        if (d->stopping)
                release_waiting(d); /* taken after the stop began: back at once */
        else
                sd_event_source_set_enabled(d->defer, SD_EVENT_ONESHOT);
}

/* Start what the free connections and rate tokens allow on each channel,
 * claiming at most once per channel per pump.  Returns whether more can
 * start at once (see the end of the loop); *wait is the earliest rate
 * token. */
static bool pump_channels(struct dispatcher *d, bool claimed[CH_MAX], uint64_t *wait) {
        const struct rapport_config *c = d->env->cfg;
        bool more_now = false;
        for (int ch = 0; ch < CH_MAX; ch++) {
                if (!channel_configured(c, ch))
                        continue;
                unsigned conns = channel_slots(d, ch);
                struct ready *rq = &d->ready[ch];
                bool token_wait = false;
                while (d->n_inflight[ch] < conns && d->n_unrecorded + d->n_recording < HELD_MAX) {
                        if (rq->head == rq->n) {
                                ready_clear(rq);
                                if (!claim(d, ch, claimed))
                                        break;
                        } else if (lease_running_short(d, rq)) {
                                release_ready(d, ch);
                                continue;
                        }
                        uint64_t w;
                        if (bucket_take_allowance(d, ch, 1, &w) == 0) {
                                if (w && (!*wait || w < *wait))
                                        *wait = w;
                                token_wait = true;
                                break;
                        }
                        if (!rq->msgs[rq->head].built) {
                                size_t ahead = rq->n - rq->head;
                                apply_build(d, &rq->msgs[rq->head], ahead < BUILD_AHEAD ? ahead : BUILD_AHEAD);
                        }
                        start_one(d, ch, &rq->msgs[rq->head++]);
                }
                /* The next claim while these rows still go out: on the
                 * claimer's thread it costs the loop nothing, and its rows
                 * are there when these run out. */
                if (d->claim_full[ch] && worker_usable(d, &d->claimer) &&
                    rq->n - rq->head <= (size_t)claim_size(c, ch) / 2)
                        (void)claim(d, ch, claimed);
                /* Claimed and waiting for a connection, or everything
                 * claimed already settled (cancelled, failed, or sent
                 * within this pump) after a full claim.  A channel waiting
                 * for a rate token has its wake-up timer instead. */
                if (!token_wait && (rq->head < rq->n || d->claim_full[ch]))
                        more_now = true;
        }
        return more_now;
}

static void pump(struct dispatcher *d) {
        if (d->pumping || !d->env->conn || PQstatus(d->env->conn) != CONNECTION_OK)
                return;
        if (d->stopping) {
                flush_unrecorded(d);
                return;
        }
        d->pumping = true;
        bool claimed[CH_MAX] = {false}, more_now;
        uint64_t wait;
        for (unsigned round = 1;; round++) {
                unsigned long finished = d->finished;
                wait = 0;
                more_now = pump_channels(d, claimed, &wait);
                /* A local gateway often answers within the kick that sent
                 * the request: start the next messages now rather than after
                 * another turn of the event loop (an epoll_wait each). */
                curl_glue_kick(d->glue);
                if (d->finished == finished || round == PUMP_ROUNDS || d->stopping)
                        break;
        }
        /* The outcomes that freed the connections are recorded only now,
         * with the next messages already on their way: the e-mail threads
         * and (kicked) curl send while this waits for the database. */
        maybe_flush_unrecorded(d);
        d->pumping = false;

        if (more_now && d->inflight == NULL && !d->claiming && !d->recording) {
                /* Nothing in flight to pump again, and more may be due:
                 * go again from the loop. */
                sd_event_source_set_enabled(d->defer, SD_EVENT_ONESHOT);
                return;
        }
        if (wait) {
                arm_wake(d, wait);
                return;
        }
        if (d->inflight || d->recording || d->claiming)
                return; /* completions pump again */
        int64_t next = -1;
        if (outbox_next_due(d->env->conn, d->env->now, &next) < 0)
                next = 60;
        if (next == 0)
                channels_wake(d); /* due now: claim every channel again */
        if (d->idle) {
                /* --once: what is due now is done (or cannot be claimed:
                 * logged, and trying again at once would only spin). */
                if (next != 0 || d->env->now || d->claim_failed)
                        d->idle(d, d->idle_userdata);
                else
                        sd_event_source_set_enabled(d->defer, SD_EVENT_ONESHOT);
                return;
        }
        if (next >= 0)
                arm_wake(d, (uint64_t)(next ? next : 1) * 1000000ULL);
        else
                sd_event_source_set_enabled(d->wake, SD_EVENT_OFF);
}

static void transfer_finished(struct dispatcher *d, struct transfer *t, CURLcode result) {
        if (t->released) {
                /* Given back to the queue at stop; its outcome is moot, unless
                 * the server accepted it in the last instant before the abort:
                 * then the next attempt sends it again, and the log says so. */
                if (result == CURLE_OK) {
                        struct log_ctx ctx = {t->msg.job, t->msg.id, t->msg.channel};
                        log_full(LOG_WARNING, 0, &ctx,
                                 "Accepted by the server just after it was released at shutdown: it may be sent again");
                }
                if (t->prev)
                        t->prev->next = t->next;
                else
                        d->abandoned = t->next;
                if (t->next)
                        t->next->prev = t->prev;
                transfer_free(t);
                return;
        }
        unlink_transfer(d, t);
        d->finished++;
        struct outcome o = {0};
        if (t->ch == CH_EMAIL)
                email_classify(t->easy, result, &t->io, &o);
        else
                sms_classify(d->env->cfg->sms.format, t->easy, result, &t->io, &o);
        if (o.kind == OUTCOME_SENT && o.error[0]) {
                struct log_ctx ctx = {t->msg.job, t->msg.id, t->msg.channel};
                log_full(LOG_WARNING, 0, &ctx, "Sent: %s", o.error);
        }
        /* The outcome is all that is left to keep: the handle serves the
         * next message while this one waits to be recorded. */
        easy_put(d, t->ch, t->easy);
        t->easy = NULL;
        transfer_io_shed(&t->io, o.kind == OUTCOME_BOUNCED);
        free(t->msg.context);
        t->msg.context = NULL;
        /* Outcomes are recorded in batches by the next pump (one statement
         * for all messages sent meanwhile), or kept until the database is
         * back: recorded within the lease, a sent message is not sent again. */
        if (!d->env->conn || PQstatus(d->env->conn) != CONNECTION_OK) {
                struct log_ctx ctx = {t->msg.job, t->msg.id, t->msg.channel};
                log_full(LOG_NOTICE, 0, &ctx, "Database unavailable: outcome kept until it is back");
        }
        t->outcome = o;
        t->prev = NULL;
        t->next = d->unrecorded;
        if (!d->unrecorded)
                d->unrecorded_since = now_usec(d);
        d->unrecorded = t;
        d->n_unrecorded++;
        if (!d->stopping)
                sd_event_source_set_enabled(d->defer, SD_EVENT_ONESHOT);
        else {
                flush_unrecorded(d);
                if (!d->inflight && d->idle)
                        d->idle(d, d->idle_userdata);
        }
}

static void on_done(struct curl_glue *g, CURL *easy, CURLcode result, void *userdata) {
        (void)g, (void)easy;
        struct transfer *t = userdata;
        transfer_finished(t->d, t, result);
}

static void on_smtp_done(CURL *easy, CURLcode result, void *job, void *userdata) {
        (void)easy;
        transfer_finished(userdata, job, result);
}

static int on_wake(sd_event_source *s, uint64_t usec, void *userdata) {
        (void)s, (void)usec;
        channels_wake(userdata);
        pump(userdata);
        return 0;
}

static int on_record(sd_event_source *s, uint64_t usec, void *userdata) {
        (void)s, (void)usec;
        flush_unrecorded(userdata);
        return 0;
}

static int on_defer(sd_event_source *s, void *userdata) {
        (void)s;
        pump(userdata);
        return 0;
}

/* Connection caches and the SMTP pool sized from the configuration: at
 * start, and again after each reload (the pool grows, never shrinks). */
int dispatcher_reconfigure(struct dispatcher *d) {
        const struct rapport_config *c = d->env->cfg;
        curl_glue_set_max_connections(d->glue, (long)(c->email.connections + c->sms.connections) * 2);
        if (!c->email.smtp_url)
                return 0;
        if (!d->smtp)
                return smtp_pool_new(d->event, (unsigned)c->email.connections, on_smtp_done, d, &d->smtp);
        smtp_pool_renew(d->smtp);
        return smtp_pool_grow(d->smtp, (unsigned)c->email.connections);
}

void dispatcher_kick(struct dispatcher *d) {
        channels_wake(d);
        if (!d->stopping)
                sd_event_source_set_enabled(d->defer, SD_EVENT_ONESHOT);
}

void dispatcher_set_idle(struct dispatcher *d, dispatch_idle_fn idle, void *userdata) {
        d->idle = idle;
        d->idle_userdata = userdata;
}

/* A claimed message back to the queue at stop, counted when it was ours. */
static bool release_now(struct dispatcher *d, const struct outbox_msg *m) {
        if (db_broken(d->env->conn))
                return false;
        if (outbox_release(d->env->conn, m, "released at shutdown") > 0)
                d->stats.released++;
        return true;
}

static void release_at_stop(struct dispatcher *d, const struct outbox_msg *m) {
        if (release_now(d, m))
                return;
        /* Kept for dispatcher_free(); without memory, its lease returns it. */
        if (d->n_unreleased == d->cap_unreleased) {
                size_t cap = d->cap_unreleased ? 2 * d->cap_unreleased : 16;
                struct outbox_msg *a = reallocarray(d->unreleased, cap, sizeof *a);
                if (!a)
                        return;
                d->unreleased = a;
                d->cap_unreleased = cap;
        }
        struct outbox_msg *k = &d->unreleased[d->n_unreleased];
        *k = (struct outbox_msg){.id = m->id, .token = strdup(m->token ? m->token : ""),
                                 .job = strdup(m->job ? m->job : ""), .channel = strdup(m->channel ? m->channel : "")};
        if (!k->token || !k->job || !k->channel) {
                outbox_msg_clear(k);
                return;
        }
        d->n_unreleased++;
}

/* An e-mail still waiting behind a busy SMTP worker has not started. */
static void on_unqueued(CURL *easy, void *job, void *userdata) {
        (void)easy;
        struct dispatcher *d = userdata;
        struct transfer *t = job;
        unlink_transfer(d, t);
        release_at_stop(d, &t->msg);
        transfer_free(t);
}

/* At stop, what is claimed but not started goes back to the queue at once
 * (another instance may take it now), not after the grace period. */
static void release_waiting(struct dispatcher *d) {
        for (int ch = 0; ch < CH_MAX; ch++) {
                struct ready *rq = &d->ready[ch];
                for (; rq->head < rq->n; rq->head++)
                        release_at_stop(d, &rq->msgs[rq->head]);
                ready_clear(rq);
        }
        smtp_pool_unqueue(d->smtp, on_unqueued, d);
}

static void release_all(struct dispatcher *d) {
        release_waiting(d);
        while (d->inflight) {
                struct transfer *t = d->inflight;
                unlink_transfer(d, t);
                release_at_stop(d, &t->msg);
                if (t->ch == CH_EMAIL) {
                        /* Its thread still holds the handle: park it until
                         * the (aborted) transfer comes back. */
                        t->released = true;
                        t->prev = NULL;
                        t->next = d->abandoned;
                        if (d->abandoned)
                                d->abandoned->prev = t;
                        d->abandoned = t;
                } else {
                        curl_glue_remove(d->glue, t->easy);
                        transfer_free(t);
                }
        }
}

static int on_grace_end(sd_event_source *s, uint64_t usec, void *userdata) {
        (void)s, (void)usec;
        struct dispatcher *d = userdata;
        /* Transfers that finished while the loop was busy are recorded, not
         * released (which would send them again). */
        smtp_pool_collect(d->smtp);
        if (d->inflight)
                log_notice("Stop: %u transfer(s) still running after the grace period, released to the queue",
                           d->n_inflight[CH_EMAIL] + d->n_inflight[CH_SMS]);
        if (d->smtp)
                smtp_pool_abort(d->smtp);
        release_all(d);
        if (d->idle)
                d->idle(d, d->idle_userdata);
        return 0;
}

void dispatcher_stop(struct dispatcher *d, uint64_t grace_usec) {
        d->stopping = true;
        /* What is sent is recorded now (the recorder's batch included), so
         * the counts a stop reports are complete. */
        flush_unrecorded(d);
        sd_event_source_set_enabled(d->wake, SD_EVENT_OFF);
        sd_event_source_set_enabled(d->defer, SD_EVENT_OFF);
        release_waiting(d);
        if (!d->inflight) {
                if (d->idle)
                        d->idle(d, d->idle_userdata);
                return;
        }
        sd_event_source_set_time(d->grace, now_usec(d) + grace_usec);
        sd_event_source_set_enabled(d->grace, SD_EVENT_ONESHOT);
}

bool dispatcher_needs_database(const struct dispatcher *d) {
        if (!d)
                return false;
        /* A claim in progress too: its rows are given back when it ends. */
        if (d->unrecorded || d->recording || d->inflight || d->n_unreleased || d->claiming)
                return true;
        for (int ch = 0; ch < CH_MAX; ch++)
                if (d->ready[ch].head < d->ready[ch].n)
                        return true;
        return false;
}

unsigned dispatcher_in_flight(const struct dispatcher *d) { return d->n_inflight[CH_EMAIL] + d->n_inflight[CH_SMS]; }

const struct dispatch_stats *dispatcher_stats(const struct dispatcher *d) { return &d->stats; }

int dispatcher_new(sd_event *e, struct dispatch_env *env, const char *worker_name, struct dispatcher **ret) {
        _cleanup_(dispatcher_freep) struct dispatcher *d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        d->event = sd_event_ref(e);
        d->env = env;
        if (env->now && tz_parse_iso8601(env->now, NULL, &d->now_epoch) < 0)
                d->now_epoch = 0;
        int r = curl_glue_new(e, on_done, &d->glue);
        if (r < 0)
                return r;
        r = dispatcher_reconfigure(d);
        if (r < 0)
                return r;
        if (worker_name) {
                _cleanup_free_ char *recorder = NULL, *claimer = NULL;
                if (asprintf(&recorder, "%s recorder", worker_name) < 0 || asprintf(&claimer, "%s claimer", worker_name) < 0)
                        return log_error_errno(-ENOMEM, "Cannot start the dispatcher: %m");
                if ((r = db_worker_new(e, recorder, on_recorded, d, &d->recorder.w)) < 0 ||
                    (r = db_worker_new(e, claimer, on_claimed, d, &d->claimer.w)) < 0)
                        return r;
        }
        r = sd_event_add_time(e, &d->wake, CLOCK_MONOTONIC, UINT64_MAX, 10000, on_wake, d);
        if (r < 0)
                return log_error_errno(r, "Cannot create dispatcher timer: %m");
        sd_event_source_set_description(d->wake, "dispatch-wake");
        sd_event_source_set_enabled(d->wake, SD_EVENT_OFF);
        r = sd_event_add_time(e, &d->grace, CLOCK_MONOTONIC, UINT64_MAX, 10000, on_grace_end, d);
        if (r < 0)
                return log_error_errno(r, "Cannot create dispatcher timer: %m");
        sd_event_source_set_description(d->grace, "dispatch-grace");
        sd_event_source_set_enabled(d->grace, SD_EVENT_OFF);
        r = sd_event_add_time(e, &d->record, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_record, d);
        if (r < 0)
                return log_error_errno(r, "Cannot create dispatcher timer: %m");
        sd_event_source_set_description(d->record, "dispatch-record");
        sd_event_source_set_enabled(d->record, SD_EVENT_OFF);
        r = sd_event_add_defer(e, &d->defer, on_defer, d);
        if (r < 0)
                return log_error_errno(r, "Cannot create dispatcher event: %m");
        sd_event_source_set_description(d->defer, "dispatch-pump");
        /* After every other ready event: completions that arrive together
         * are recorded together, in one statement, by one pump. */
        sd_event_source_set_priority(d->defer, SD_EVENT_PRIORITY_NORMAL + 10);
        sd_event_source_set_enabled(d->defer, SD_EVENT_OFF);
        *ret = TAKE_PTR(d);
        return 0;
}

struct dispatcher *dispatcher_free(struct dispatcher *d) {
        if (!d)
                return NULL;
        /* The batch being recorded first: its messages are sent.  And
         * the claim in progress: what it took is released below. */
        if (d->recorder.w)
                db_worker_wait(d->recorder.w);
        d->recorder.w = db_worker_free(d->recorder.w);
        if (d->claimer.w)
                db_worker_wait(d->claimer.w);
        d->claimer.w = db_worker_free(d->claimer.w);
        if (d->smtp)
                smtp_pool_abort(d->smtp);
        release_all(d);
        /* Join the e-mail threads: after this no handle is in use. */
        smtp_pool_join(d->smtp);
        while (d->abandoned) {
                struct transfer *t = d->abandoned;
                d->abandoned = t->next;
                transfer_free(t);
        }
        flush_unrecorded(d);
        while (d->unrecorded) {
                struct transfer *t = d->unrecorded;
                struct log_ctx ctx = {t->msg.job, t->msg.id, t->msg.channel};
                log_full(LOG_WARNING, 0, &ctx, "Exiting without a database: outcome lost, the lease will return the message to the queue");
                d->unrecorded = t->next;
                transfer_free(t);
        }
        size_t kept = 0;
        for (size_t i = 0; i < d->n_unreleased; i++)
                kept += !release_now(d, &d->unreleased[i]);
        if (kept)
                log_warning("Exiting without a database: %zu claimed message(s) not given back, their leases will return them to the queue",
                            kept);
        outbox_msgs_free(d->unreleased, d->n_unreleased);
        spares_free(d);
        /* Only now, with every handle cleaned up, can the shared
         * connection cache go. */
        d->smtp = smtp_pool_free(d->smtp);
        curl_glue_free(d->glue);
        sd_event_source_disable_unref(d->wake);
        sd_event_source_disable_unref(d->defer);
        sd_event_source_disable_unref(d->grace);
        sd_event_source_disable_unref(d->record);
        sd_event_unref(d->event);
        free(d->recording_batch.sent);
        claim_work_clear(&d->claim);
        free(d);
        return NULL;
}
