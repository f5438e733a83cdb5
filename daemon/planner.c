#include "planner.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <time.h>

#include "../jobs/jobs.h"
#include "config.h"
#include "db.h"
#include "log.h"

/* The advisory lock an occurrence is planned under: the job's name and the
 * occurrence's minute (cron has no finer grain), so the key depends on no
 * session setting; the namespace keeps it apart from other applications'
 * single-key locks on the same database. */
#define OCCURRENCE_LOCK(JOB, TS) "hashtext('rapport occurrence ' || " JOB "), (extract(epoch FROM " TS ")::bigint / 60)::int"

void plan_result_clear(struct plan_result *r) {
        free(r->skip_reasons);
        free(r->disabled);
        PQclear(r->preview);
        *r = (struct plan_result){0};
}

void format_sql_time(int64_t t, char *buf, size_t len) {
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(buf, len, "%Y-%m-%d %H:%M:%S+00", &tm);
}

static void rollback(PGconn *conn) { PQclear(PQexec(conn, "ROLLBACK")); }

int planner_build(PGconn *conn, const struct rapport_config *c, const struct job_def *def, const char *now,
                  const int64_t *ids, size_t n, PGresult **ret) {
        const struct job_config *j = config_job(c, def->name);
        _cleanup_buf_ struct buf arr = {0};
        buf_puts(&arr, "{");
        for (size_t i = 0; i < n; i++)
                buf_printf(&arr, "%s%" PRId64, i ? "," : "", ids[i]);
        buf_puts(&arr, "}");
        if (!arr.data)
                return log_error_errno(-ENOMEM, "Building messages: %m");
        const char *p[] = {arr.data, now ? now : "now", j ? j->settings_json : "{}", c->time_zone};
        return db_exec_typed(conn, "Building messages", def->build_sql, JOB_BUILD_PARAMS, job_build_param_types, p, ret);
}

/* A dry run's rows as they would be sent: the built context in place of
 * the planned one, and without the messages building would cancel. */
static int build_preview(PGconn *conn, const struct rapport_config *c, const struct job_def *def, const char *now,
                         struct plan_result *ret) {
        PGresult *rows = ret->preview;
        int n = PQntuples(rows);
        if (n == 0)
                return 0;
        _cleanup_free_ int64_t *ids = calloc((size_t)n, sizeof *ids);
        if (!ids)
                return log_error_errno(-ENOMEM, "Building messages: %m");
        for (int i = 0; i < n; i++)
                ids[i] = strtoll(PQgetvalue(rows, i, 0), NULL, 10);
        _cleanup_(PQclearp) PGresult *built = NULL;
        int r = planner_build(conn, c, def, now, ids, (size_t)n, &built);
        if (r < 0)
                return r;
        PGresult *copy = PQcopyResult(rows, PG_COPYRES_ATTRS);
        if (!copy)
                return log_error_errno(-ENOMEM, "Building messages: %m");
        /* Both in id order (the preview's ORDER BY id, build_sql's
         * contract): one merge pass, not a search per row. */
        int out = 0, nb = PQntuples(built), k = 0;
        for (int i = 0; i < n; i++) {
                while (k < nb && strtoll(PQgetvalue(built, k, 0), NULL, 10) < ids[i])
                        k++;
                int b = k < nb && strtoll(PQgetvalue(built, k, 0), NULL, 10) == ids[i] ? k : -1;
                if (b >= 0 && !PQgetisnull(built, b, 1)) {
                        ret->cancelled_when_built++;
                        continue;
                }
                for (int f = 0; f < PQnfields(rows); f++) {
                        bool ctx = f == 7 && b >= 0;
                        PGresult *from = ctx ? built : rows;
                        int row = ctx ? b : i, col = ctx ? 2 : f;
                        if (!PQsetvalue(copy, out, f, PQgetvalue(from, row, col),
                                        PQgetisnull(from, row, col) ? -1 : PQgetlength(from, row, col))) {
                                PQclear(copy);
                                return log_error_errno(-ENOMEM, "Building messages: %m");
                        }
                }
                out++;
        }
        PQclear(rows);
        ret->preview = copy;
        return 0;
}

int planner_job_disabled(PGconn *conn, const char *job, char **ret) {
        *ret = NULL;
        const char *p[] = {job};
        _cleanup_(PQclearp) PGresult *res = NULL;
        int r = db_exec(conn, "Checking whether the job is disabled",
                        "SELECT 'since ' || to_char(disabled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI \"UTC\"')"
                        " || coalesce(' by ' || disabled_by, '') || coalesce(': ' || reason, '')"
                        " FROM rapport.job_disabled WHERE job = $1",
                        1, p, &res);
        if (r < 0 || PQntuples(res) == 0)
                return r;
        *ret = strdup(PQgetvalue(res, 0, 0));
        return *ret ? 0 : log_error_errno(-ENOMEM, "Checking whether the job is disabled: %m");
}

/* The plan statement failed (logged by db_exec): back to the savepoint,
 * the claimed row marked failed with the error and, for an occurrence,
 * when it is tried again (on the run's clock: --now, or this host's, as
 * the scheduler that decides it reads), then committed.  A dry run (no
 * claimed row), or a connection that is gone, records nothing. */
static int record_failure(PGconn *conn, const struct job_config *j, const char *run_id, bool no_retry, const char *now,
                          struct plan_result *ret) {
        struct log_ctx ctx = {j->name, 0, NULL};
        char err[512];
        snprintf(err, sizeof err, "%s", PQerrorMessage(conn));
        err[strcspn(err, "\n")] = '\0';
        if (!run_id[0]) {
                rollback(conn);
                return log_full(LOG_ERR, -EIO, &ctx, "Planning failed");
        }
        char base[64];
        if (now)
                snprintf(base, sizeof base, "%s", now);
        else
                format_sql_time((int64_t)time(NULL), base, sizeof base);
        const char *fp[] = {run_id, err, no_retry ? NULL : base};
        _cleanup_(PQclearp) PGresult *fr = NULL;
        int r = db_exec(conn, "Recording the failed run", "ROLLBACK TO SAVEPOINT plan", 0, NULL, NULL);
        if (r >= 0)
                r = db_exec(conn, "Recording the failed run",
                            "UPDATE rapport.job_runs SET status = 'failed', finished_at = clock_timestamp(), error = $2,"
                            "       retry_at = $3::timestamptz + " PLAN_RETRY_DELAY_SQL("attempts")
                            " WHERE id = $1::bigint RETURNING attempts, coalesce(extract(epoch FROM retry_at)::bigint, 0)",
                            3, fp, &fr);
        if (r >= 0)
                r = db_exec(conn, "Recording the failed run", "COMMIT", 0, NULL, NULL);
        if (r < 0 || PQntuples(fr) != 1) {
                rollback(conn);
                return -EIO; /* logged */
        }
        ret->retry_at = strtoll(PQgetvalue(fr, 0, 1), NULL, 10);
        if (!ret->retry_at)
                return log_full(LOG_ERR, -EIO, &ctx, "Planning failed; the run is recorded as failed");
        char when[64];
        tz_format_iso8601(j->tz, ret->retry_at, when, sizeof when);
        return log_full(LOG_ERR, -EIO, &ctx,
                        "Planning failed (attempt %s); the occurrence is tried again from %s while it is inside catch_up_window",
                        PQgetvalue(fr, 0, 0), when);
}

int planner_run(PGconn *conn, const struct rapport_config *c, const struct job_config *j, int64_t scheduled_for,
                const char *now, bool dry_run, const struct plan_filter *filter, enum plan_claim claim,
                struct plan_result *ret) {
        *ret = (struct plan_result){0};
        bool manual = claim == PLAN_MANUAL;
        char sched[64];
        format_sql_time(scheduled_for, sched, sizeof sched);
        const char *now_param = now ? now : "now";

        int r;
        /* Switched off with `rapportctl disable`: the scheduler's occurrence
         * is recorded as skipped, not planned (a manual run is the
         * administrator's own decision and goes ahead). */
        if (!manual) {
                _cleanup_free_ char *since = NULL;
                r = planner_job_disabled(conn, j->name, &since);
                if (r < 0)
                        return r;
                if (since) {
                        if (asprintf(&ret->disabled, "disabled with rapportctl disable %s", since) < 0) {
                                ret->disabled = NULL;
                                return log_error_errno(-ENOMEM, "Planning: %m");
                        }
                        ret->won = true;
                        if (!dry_run)
                                r = planner_record_skipped_many(conn, c, j, &scheduled_for, 1, ret->disabled);
                        return r;
                }
        }

        /* The instant a job was first enabled gives its default
         * effective_from (a dry run leaves no trace, so it does not
         * count): that instant's date in each recipient's zone
         * (JOB_RECIPIENT_EFFECTIVE_SQL).  The day is kept too, the earliest
         * date anywhere at that instant (UTC-12), for the filters over all
         * recipients. */
        if (!dry_run) {
                const char *sp[] = {j->name, now_param};
                r = db_exec(conn, "Recording the job's first enabled day",
                            "INSERT INTO rapport.job_state (job, first_enabled, first_enabled_at)"
                            " VALUES ($1, " JOB_EARLIEST_DATE_SQL("$2") ", $2::timestamptz) ON CONFLICT (job) DO NOTHING",
                            2, sp, NULL);
                if (r < 0)
                        return r;
        }

        r = db_exec(conn, "Starting the planning transaction", "BEGIN", 0, NULL, NULL);
        if (r < 0)
                return r;

        char run_id[32] = "";
        if (!dry_run && !manual) {
                /* Whoever plans an occurrence holds this lock until it
                 * commits.  Without it, a second instance's insert of the
                 * same key would wait on the first's uncommitted row: its
                 * event loop stalled for as long as the planning takes, and
                 * past lock_timeout the occurrence was given up.  Busy: the
                 * caller comes back shortly; if the holder dies, its lock
                 * and row go with it and the next try wins.  A one-shot
                 * run has nothing else to do and waits for the lock. */
                const char *p[] = {j->name, sched};
                _cleanup_(PQclearp) PGresult *res = NULL;
                r = db_exec(conn, "Claiming the occurrence",
                            claim == PLAN_OCCURRENCE_WAIT
                                    ? "SELECT true FROM pg_advisory_xact_lock(" OCCURRENCE_LOCK("$1", "$2::timestamptz") ")"
                                    : "SELECT pg_try_advisory_xact_lock(" OCCURRENCE_LOCK("$1", "$2::timestamptz") ")",
                            2, p, &res);
                if (r < 0) {
                        rollback(conn);
                        return r;
                }
                if (PQgetvalue(res, 0, 0)[0] != 't') {
                        rollback(conn);
                        ret->busy = true;
                        return 0;
                }
        }
        if (!dry_run) {
                const char *p[] = {j->name, sched, c->instance, manual ? "t" : "f"};
                _cleanup_(PQclearp) PGresult *res = NULL;
                /* An occurrence whose planning failed is taken over by
                 * its next try (the scheduler decides when). */
                r = db_exec(conn, "Claiming the occurrence",
                            "INSERT INTO rapport.job_runs AS r (job, scheduled_for, instance, started_at, manual)"
                            " VALUES ($1, $2, $3, clock_timestamp(), $4)"
                            " ON CONFLICT (job, scheduled_for) WHERE NOT manual DO UPDATE"
                            "   SET status = 'running', instance = EXCLUDED.instance, started_at = EXCLUDED.started_at,"
                            "       finished_at = NULL, error = NULL, retry_at = NULL, attempts = r.attempts + 1"
                            "   WHERE r.status = 'failed'"
                            " RETURNING id",
                            4, p, &res);
                if (r < 0) {
                        rollback(conn);
                        return r;
                }
                if (PQntuples(res) == 0) {
                        rollback(conn);
                        return 0; /* someone else planned it */
                }
                snprintf(run_id, sizeof run_id, "%s", PQgetvalue(res, 0, 0));
                ret->run_id = strtoll(run_id, NULL, 10);
                /* A failed plan is rolled back to here and recorded on the
                 * claimed row, in this transaction, under the lock: no
                 * other instance can take the occurrence in between. */
                r = db_exec(conn, "Starting the plan", "SAVEPOINT plan", 0, NULL, NULL);
                if (r < 0) {
                        rollback(conn);
                        return r;
                }
        }
        ret->won = true;

        /* A dry run reads back the rows it planned: those with ids past the
         * largest now (ids come from a sequence), a range of the primary
         * key instead of a scan of the whole outbox. */
        char before_id[32] = "0";
        if (dry_run) {
                _cleanup_(PQclearp) PGresult *mx = NULL;
                r = db_exec(conn, "Reading the outbox's last id", "SELECT coalesce(max(id), 0) FROM rapport.outbox", 0,
                            NULL, &mx);
                if (r < 0) {
                        rollback(conn);
                        return r;
                }
                snprintf(before_id, sizeof before_id, "%s", PQgetvalue(mx, 0, 0));
        }

        const char *p[] = {now_param, c->time_zone, c->locale, j->settings_json, run_id[0] ? run_id : NULL};
        _cleanup_(PQclearp) PGresult *res = NULL;
        r = db_exec_typed(conn, "Planning", j->def->plan_sql, JOB_PLAN_PARAMS, job_plan_param_types, p, &res);
        if (r < 0)
                return record_failure(conn, j, run_id, manual, now, ret);
        ret->planned = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        ret->skipped = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        ret->skip_reasons = strdup(PQgetvalue(res, 0, 2));

        if (dry_run) {
                const char *fp[] = {filter ? filter->who : NULL, filter ? filter->id : NULL,
                                    filter ? filter->channel : NULL, before_id};
                PGresult *prev = NULL;
                r = db_exec(conn, "Reading the planned rows",
                            "SELECT id, channel, audience, recipient, recipient_name, template, locale, context::text,"
                            " not_before, dedupe_key, marketing, unsubscribe_token::text FROM rapport.outbox"
                            " WHERE id > $4::bigint AND xmin::text = (pg_current_xact_id()::xid)::text"
                            "   AND ($1::text IS NULL"
                            "        OR ($1 = 'customer' AND customer_id = $2::bigint)"
                            "        OR ($1 = 'rep' AND audience IN ('rep', 'manager') AND rep_id = $2::bigint))"
                            "   AND ($3::text IS NULL OR channel = $3::text) ORDER BY id",
                            4, fp, &prev);
                ret->preview = prev;
                /* Built inside the transaction: the planned rows vanish with it. */
                if (r >= 0 && j->def->build_sql)
                        r = build_preview(conn, c, j->def, now_param, ret);
                rollback(conn);
                return r;
        }

        char planned[32], skipped[32];
        snprintf(planned, sizeof planned, "%lld", ret->planned);
        snprintf(skipped, sizeof skipped, "%lld", ret->skipped);
        const char *up[] = {run_id, planned, skipped, ret->skip_reasons};
        r = db_exec(conn, "Finishing the run",
                    "UPDATE rapport.job_runs SET status = 'ok', finished_at = clock_timestamp(),"
                    " planned = $2, skipped = $3, skip_reasons = $4::jsonb, cancelled = 0 WHERE id = $1",
                    4, up, NULL);
        if (r >= 0)
                r = db_exec(conn, "Committing the plan", "COMMIT", 0, NULL, NULL);
        if (r < 0) {
                rollback(conn);
                ret->won = false;
                return r;
        }
        return 0;
}

int planner_record_skipped_many(PGconn *conn, const struct rapport_config *c, const struct job_config *j,
                                const int64_t *occ, size_t n, const char *why) {
        /* One statement per few thousand: a year of a once-a-minute job
         * missed is half a million rows, never half a million round trips. */
        for (size_t done = 0; done < n;) {
                _cleanup_buf_ struct buf arr = {0};
                buf_puts(&arr, "{");
                size_t k = 0;
                for (; done < n && k < 5000; done++, k++) {
                        char t[64];
                        format_sql_time(occ[done], t, sizeof t);
                        buf_printf(&arr, "%s\"%s\"", k ? "," : "", t);
                }
                buf_puts(&arr, "}");
                const char *p[] = {j->name, arr.data, c->instance, why};
                /* An occurrence another instance holds (it is planning it)
                 * is left alone: waiting on its uncommitted row would stall
                 * the loop, and it is recorded by its planner anyway. */
                int r = db_exec(conn, "Recording skipped occurrences",
                                "INSERT INTO rapport.job_runs AS r (job, scheduled_for, instance, started_at, finished_at, status, error)"
                                " SELECT $1, s, $3, now(), now(), 'skipped', $4 FROM unnest($2::timestamptz[]) AS s"
                                " WHERE pg_try_advisory_xact_lock(" OCCURRENCE_LOCK("$1", "s") ")"
                                /* A failed occurrence skipped now (the job was
                                 * disabled) is no longer tried again. */
                                " ON CONFLICT (job, scheduled_for) WHERE NOT manual DO UPDATE"
                                "   SET status = 'skipped', error = EXCLUDED.error, finished_at = EXCLUDED.finished_at, retry_at = NULL"
                                "   WHERE r.status = 'failed'",
                                4, p, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

int planner_last_occurrence(PGconn *conn, const char *job, int64_t not_after, struct last_occurrence *ret) {
        char bound[32];
        snprintf(bound, sizeof bound, "%" PRId64, not_after);
        const char *p[] = {job, bound};
        _cleanup_(PQclearp) PGresult *res = NULL;
        int r = db_exec(conn, "Reading the last run",
                        "SELECT extract(epoch FROM scheduled_for)::bigint, status = 'failed', attempts,"
                        "       coalesce(extract(epoch FROM retry_at)::bigint, 0)"
                        " FROM rapport.job_runs"
                        " WHERE job = $1 AND NOT manual AND scheduled_for <= to_timestamp($2::bigint)"
                        " ORDER BY scheduled_for DESC LIMIT 1",
                        2, p, &res);
        if (r < 0)
                return r;
        *ret = (struct last_occurrence){.at = INT64_MIN};
        if (PQntuples(res) == 1) {
                ret->at = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
                ret->failed = PQgetvalue(res, 0, 1)[0] == 't';
                ret->attempts = (int)strtol(PQgetvalue(res, 0, 2), NULL, 10);
                ret->retry_at = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
        }
        return 0;
}
