#pragma once
/* Planning one occurrence of a job: claim (job, scheduled_for) in
 * rapport.job_runs and run the job's set-based statement, all in one
 * transaction.  A second instance inserting the same occurrence waits on
 * the unique key and then finds it taken; if the first dies mid-plan its
 * transaction rolls back and the waiter plans instead — exactly once. */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rapport_config;
struct job_config;
struct job_def;

/* Which planned rows a dry run returns: all (who NULL), or those of one
 * customer or rep, on one channel (or all).  who "customer" keeps the
 * messages to that customer and those to reps about them
 * (outbox.customer_id); "rep" keeps what that rep or manager receives
 * (audience rep/manager, outbox.rep_id). */
struct plan_filter {
        const char *who, *id;
        const char *channel;
};

struct plan_result {
        bool won;        /* false: another instance planned this occurrence */
        bool busy;       /* another instance is planning it right now: try again shortly */
        int64_t run_id;
        long long planned, skipped;
        char *skip_reasons; /* JSON object reason -> count */
        PGresult *preview;  /* dry run: the rows that would be queued */
        long long cancelled_when_built; /* dry run: rows building cancelled */
        char *disabled;  /* set (why) when `rapportctl disable` stopped the occurrence */
        int64_t retry_at; /* planning failed: its next try (epoch s), 0 when none */
};
void plan_result_clear(struct plan_result *r);

/* How a run is recorded in rapport.job_runs. */
enum plan_claim {
        PLAN_MANUAL,          /* `rapportctl run`: a log entry, never in conflict */
        PLAN_OCCURRENCE_TRY,  /* a schedule occurrence; another instance planning it: ret->busy */
        PLAN_OCCURRENCE_WAIT, /* the same, waiting for that instance (--once: nothing else to do) */
};

/* now: ISO 8601 override, or NULL for the database's clock.  A dry run
 * rolls back and returns in ret->preview the rows that would be queued
 * (those `filter` selects), built as they would be sent. */
int planner_run(PGconn *conn, const struct rapport_config *c, const struct job_config *j, int64_t scheduled_for,
                const char *now, bool dry_run, const struct plan_filter *filter, enum plan_claim claim,
                struct plan_result *ret);

/* The messages of a job whose content is made when it is sent
 * (job_def.build_sql), for these outbox ids: *ret holds a row
 * (id, reason, context) for each message built.  The settings are the
 * job's as configured now, or its defaults if it is no longer configured. */
int planner_build(PGconn *conn, const struct rapport_config *c, const struct job_def *def, const char *now,
                  const int64_t *ids, size_t n, PGresult **ret);

/* Switched off with `rapportctl disable`: *ret is "since WHEN by WHO: WHY",
 * or NULL when the job is not disabled. */
int planner_job_disabled(PGconn *conn, const char *job, char **ret);

/* Record occurrences that will not run (catch-up policy / window). */
int planner_record_skipped_many(PGconn *conn, const struct rapport_config *c, const struct job_config *j,
                                const int64_t *occ, size_t n, const char *why);

/* The latest occurrence recorded for a job at or before not_after (at is
 * INT64_MIN if none).  Bounded so that a run on an earlier clock than one
 * already recorded (--now in the past, a host whose clock is behind
 * another's) still sees the occurrences due on its own clock. */
struct last_occurrence {
        int64_t at;
        bool failed;      /* its planning failed: tried again from retry_at */
        int attempts;
        int64_t retry_at; /* epoch seconds, on the clock of the run that failed */
};
int planner_last_occurrence(PGconn *conn, const char *job, int64_t not_after, struct last_occurrence *ret);

/* How long after its n-th failed try an occurrence is planned again: 1, 2,
 * 4, 8, then every 15 minutes (n an SQL integer expression). */
#define PLAN_RETRY_DELAY_SQL(n) "least(interval '1 minute' * power(2, least((" n ") - 1, 10)), interval '15 minutes')"

/* Epoch seconds as "2027-03-14 07:00:00+00" for SQL. */
void format_sql_time(int64_t t, char *buf, size_t len);
