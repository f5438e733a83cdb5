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
/* Enumeration bound: a once-a-minute job over a year-long window. */
#define MAX_OCCURRENCES 600000

static int run_one(const struct run_opts *o, const struct job_config *j, int64_t occ, struct catch_up_stats *st) {
        struct plan_result res;
        struct log_ctx ctx = {j->name, 0, NULL};
        bool dry_run = o->dry_run || j->dry_run;
        int r = planner_run(o->conn, o->cfg, j, occ, o->now_iso, dry_run, false, &res);
        if (r < 0) {
                st->failed++;
                plan_result_clear(&res);
                return r;
        }
        if (!res.won)
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
                        (void)preview_print(stdout, res.preview, o->cfg, o->templates, false);
        }
        plan_result_clear(&res);
        return 0;
}

int scheduler_run_due(const struct run_opts *o, const struct job_config *j, int64_t now, struct catch_up_stats *st) {
        PGconn *conn = o->conn;
        const struct rapport_config *c = o->cfg;
        if (!j->enabled)
                return 0;
        int64_t last;
        int r = planner_last_occurrence(conn, j->name, &last);
        if (r < 0)
                return r;
        int64_t window_start = now - j->catch_up_window;

        /* Occurrences after the last recorded one but before the window
         * are recorded as skipped (bounded: a job whose history is far
         * behind gets its most recent ones recorded). */
        int64_t t = last;
        if (last != INT64_MIN && last < window_start) {
                unsigned n = 0;
                int64_t next;
                while (n < 1000 && cron_next(&j->cron, j->tz, t, &next) == 0 && next < window_start) {
                        if (!o->dry_run)
                                (void)planner_record_skipped(conn, c, j, next, "missed: outside catch_up_window");
                        st->skipped++;
                        t = next;
                        n++;
                }
        }
        int64_t from = last == INT64_MIN || last < window_start ? window_start - 1 : last;

        /* In-window occurrences, oldest first. */
        size_t cap = 64, n = 0;
        _cleanup_free_ int64_t *occ = malloc(cap * sizeof *occ);
        if (!occ)
                return -ENOMEM;
        for (t = from; n < MAX_OCCURRENCES;) {
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
        if (n == 0)
                return 0;

        size_t first_run = n; /* index of the first occurrence to run */
        switch (j->catch_up) {
        case CATCH_UP_LATEST:
                first_run = n - 1;
                break;
        case CATCH_UP_ALL:
                first_run = n > (size_t)j->catch_up_max ? n - (size_t)j->catch_up_max : 0;
                break;
        case CATCH_UP_NONE:
                first_run = occ[n - 1] >= now - CURRENT_SLACK ? n - 1 : n;
                break;
        }
        for (size_t i = 0; i < first_run && !o->dry_run; i++) {
                (void)planner_record_skipped(conn, c, j, occ[i],
                                             j->catch_up == CATCH_UP_ALL ? "missed: beyond catch_up_max"
                                             : j->catch_up == CATCH_UP_NONE ? "missed: catch_up = none"
                                                                            : "missed: superseded by a later occurrence");
                st->skipped++;
        }
        for (size_t i = first_run; i < n; i++) {
                r = run_one(o, j, occ[i], st);
                if (r < 0)
                        return r;
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
