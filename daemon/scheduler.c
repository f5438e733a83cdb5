#include "scheduler.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "config.h"
#include "cron.h"
#include "log.h"
#include "planner.h"
#include "preview.h"

/* An occurrence this recent is the current one, not a missed one. */
#define CURRENT_SLACK 120
/* How far back "came due while this daemon was busy" reaches. */
#define LIVE_SLACK 900
/* Enumeration bound: a once-a-minute job over a year-long window. */
#define MAX_OCCURRENCES 600000

static int run_one(const struct run_opts *o, const struct job_config *j, int64_t occ, int64_t now,
                   struct catch_up_stats *st) {
        struct plan_result res;
        struct log_ctx ctx = {j->name, 0, NULL};
        bool dry_run = o->dry_run || j->dry_run;
        int r = planner_run(o->conn, o->cfg, j, occ, o->now_iso, dry_run, NULL,
                            o->wait_for_claim ? PLAN_OCCURRENCE_WAIT : PLAN_OCCURRENCE_TRY, &res);
        if (r < 0) {
                st->failed++;
                st->retry_at = earliest_retry(st->retry_at, res.retry_at);
                plan_result_clear(&res);
                return r;
        }
        if (res.busy) {
                char when[64];
                tz_format_iso8601(j->tz, occ, when, sizeof when);
                log_full(LOG_INFO, 0, &ctx, "Occurrence %s is being planned by another instance; looking again shortly", when);
                st->busy++;
                plan_result_clear(&res);
                return -EAGAIN;
        }
        if (res.disabled) {
                char when[64];
                tz_format_iso8601(j->tz, occ, when, sizeof when);
                log_full(LOG_INFO, 0, &ctx, "Occurrence %s skipped: %s", when, res.disabled);
        } else if (!res.won)
                st->lost_race++;
        else {
                st->ran++;
                st->planned += res.planned;
                char when[64];
                tz_format_iso8601(j->tz, occ, when, sizeof when);
                log_full(LOG_INFO, 0, &ctx, "%s occurrence %s: planned %lld, skipped %lld %s",
                         dry_run ? "Dry run of" : "Ran", when, res.planned, res.skipped,
                         res.skipped ? res.skip_reasons : "");
                if (dry_run && res.preview && o->templates)
                        (void)preview_print(stdout, res.preview, o->cfg, o->templates, now, false);
        }
        plan_result_clear(&res);
        return 0;
}

int scheduler_run_due(const struct run_opts *o, const struct job_config *j, int64_t now, struct catch_up_stats *st) {
        PGconn *conn = o->conn;
        const struct rapport_config *c = o->cfg;
        if (!j->enabled)
                return 0;
        struct last_occurrence lo;
        int r = planner_last_occurrence(conn, j->name, now, &lo);
        if (r < 0)
                return r;
        int64_t last = lo.at;
        /* What came due while this daemon was live, or just now, is not
         * missed, however small the window: the window measures downtime,
         * not the moments a busy loop or a timer takes to get to it. */
        int64_t live = now - CURRENT_SLACK;
        if (o->live_since > 0 && o->live_since < live)
                live = o->live_since > now - LIVE_SLACK ? o->live_since : now - LIVE_SLACK;
        int64_t window_start = now - j->catch_up_window;
        if (live < window_start)
                window_start = live;

        /* Every occurrence after the last recorded one up to now, oldest
         * first.  A job with no history has missed nothing: only its
         * current occurrence (the latest one due, inside the window) is
         * considered, so enabling a job never back-fills. */
        bool fresh = last == INT64_MIN;
        int64_t t = fresh ? window_start - 1 : last;
        size_t cap = 64, n = 0;
        _cleanup_free_ int64_t *occ = malloc(cap * sizeof *occ);
        if (!occ)
                return -ENOMEM;
        while (n < MAX_OCCURRENCES) {
                int64_t next;
                if (cron_next(&j->cron, j->tz, t, &next) < 0 || next > now)
                        break;
                if (n == cap) {
                        int64_t *p = realloc(occ, 2 * cap * sizeof *occ);
                        if (!p)
                                return -ENOMEM;
                        occ = p;
                        cap *= 2;
                }
                occ[n++] = next;
                t = next;
        }
        /* Its planning failed and nothing later has run: try it again
         * once its back-off is over, while it is inside the window (a later
         * occurrence, planning what is due by then, supersedes it); with
         * catch_up = none only while it is the current one.  A job in
         * dry_run records nothing, so there is nothing to try again. */
        int64_t retry_from = j->catch_up == CATCH_UP_NONE && live > window_start ? live : window_start;
        if (n == 0 && lo.failed && lo.at >= retry_from && !j->dry_run) {
                if (lo.retry_at > now) {
                        st->retry_at = earliest_retry(st->retry_at, lo.retry_at);
                        return 0;
                }
                char when[64];
                tz_format_iso8601(j->tz, lo.at, when, sizeof when);
                log_full(LOG_INFO, 0, &(struct log_ctx){j->name, 0, NULL},
                         "Planning occurrence %s again (%d failed attempt(s) so far)", when, lo.attempts);
                r = run_one(o, j, lo.at, now, st);
                return r == -EAGAIN ? 0 : r;
        }
        if (n == 0)
                return 0;
        if (fresh) {
                occ[0] = occ[n - 1];
                n = 1;
        }

        /* Outside the window: recorded as skipped, never run. */
        size_t in_window = 0;
        while (in_window < n && occ[in_window] < window_start)
                in_window++;
        if (in_window > 0 && !o->dry_run)
                (void)planner_record_skipped_many(conn, c, j, occ, in_window, "missed: outside catch_up_window");
        st->skipped += (unsigned)in_window;
        if (in_window == n)
                return 0;

        size_t first_run = n; /* index of the first occurrence to run */
        switch (j->catch_up) {
        case CATCH_UP_LATEST:
                first_run = n - 1;
                break;
        case CATCH_UP_ALL:
                first_run = n - in_window > (size_t)j->catch_up_max ? n - (size_t)j->catch_up_max : in_window;
                break;
        case CATCH_UP_NONE:
                /* Since the daemon went live, but not further back than a
                 * long planning could take: a suspended VM or a stopped
                 * process did miss what fell due meanwhile. */
                first_run = occ[n - 1] >= live ? n - 1 : n;
                break;
        }
        if (first_run > in_window && !o->dry_run)
                (void)planner_record_skipped_many(conn, c, j, occ + in_window, first_run - in_window,
                                                  j->catch_up == CATCH_UP_ALL ? "missed: beyond catch_up_max"
                                                  : j->catch_up == CATCH_UP_NONE ? "missed: catch_up = none"
                                                                                 : "missed: superseded by a later occurrence");
        st->skipped += (unsigned)(first_run - in_window);
        for (size_t i = first_run; i < n; i++) {
                r = run_one(o, j, occ[i], now, st);
                if (r == -EAGAIN)
                        return 0; /* the rest after it, in order, on the retry */
                if (r < 0)
                        return r;
                if (o->progress && !o->progress(o->progress_userdata))
                        return 0;
        }
        return 0;
}

int64_t scheduler_next_wakeup(const struct rapport_config *c, int64_t after) {
        int64_t best = INT64_MAX;
        for (size_t i = 0; i < c->n_jobs; i++) {
                const struct job_config *j = &c->jobs[i];
                int64_t next;
                if (j->enabled && cron_next(&j->cron, j->tz, after, &next) == 0 && next < best)
                        best = next;
        }
        return best;
}
