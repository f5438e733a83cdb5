#pragma once
/* Which occurrences of a job run now.  rapport.job_runs remembers the last
 * occurrence any instance handled; everything after it up to now is either
 * run or recorded as skipped according to the job's catch_up policy and
 * window — so a restart, a reload or a late timer never re-runs and never
 * silently loses an occurrence (cf. systemd timers' Persistent=true). */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

struct rapport_config;
struct job_config;

struct catch_up_stats {
        unsigned ran, lost_race, skipped, failed;
        unsigned busy; /* occurrences another instance is planning right now */
        long long planned;
        int64_t retry_at; /* earliest failed occurrence's next try (epoch s), 0: none */
};

struct template_set;

struct run_opts {
        PGconn *conn;
        const struct rapport_config *cfg;
        const char *now_iso; /* --now override passed down to SQL, or NULL */
        bool dry_run;        /* plan in a rolled-back transaction ... */
        const struct template_set *templates; /* ... and print the rendered messages */
        /* Since when this daemon has been running the schedules (its start,
         * reconnect or reload); 0 when unknown (one-shot runs).  An
         * occurrence that came due after it was not missed: it is run
         * whatever the catch_up policy, even when planning something else
         * kept the daemon busy past it. */
        int64_t live_since;
        /* An occurrence another instance is planning: wait for it (a
         * one-shot run has nothing else to do) rather than come back. */
        bool wait_for_claim;
        /* Called after each occurrence planned; false ends the pass early
         * (the rest is due again at the next).  NULL: never. */
        bool (*progress)(void *userdata);
        void *progress_userdata;
};

/* The sooner of two retry_at instants, 0 standing for none. */
static inline int64_t earliest_retry(int64_t a, int64_t b) { return !a || (b && b < a) ? b : a; }

/* Run what is due for job j at `now` (epoch seconds). */
int scheduler_run_due(const struct run_opts *o, const struct job_config *j, int64_t now, struct catch_up_stats *stats);

/* The earliest next occurrence after `after` over all enabled jobs, or
 * INT64_MAX when none. */
int64_t scheduler_next_wakeup(const struct rapport_config *c, int64_t after);
