#pragma once
/* Planning off the event loop.
 *
 * A job's plan statement over a large CRM takes a second or more (a
 * catch-up after downtime, many).  Run on the loop it would stall every
 * SMS transfer in flight, the rate limits' timers, LISTEN wake-ups and
 * SIGTERM for that long.  So the schedules' passes run on a thread of their
 * own, with a database connection of their own, one pass at a time; the
 * loop hears of a pass's end through an eventfd and carries on from there
 * (re-arming the scheduler's timer, kicking the dispatcher).
 *
 * The configuration and templates a pass reads are the caller's and must
 * stay unchanged until the pass is over: rapportd swaps in a reloaded
 * configuration only between passes. */
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

struct rapport_config;
struct template_set;
struct plan_worker;

struct plan_pass {
        const struct rapport_config *cfg;
        const struct template_set *templates; /* dry run: printed with these */
        const char *now_iso;                  /* --now, or NULL */
        int64_t now;                          /* the instant the pass plans for (epoch s) */
        int64_t live_since;                   /* see run_opts.live_since */
        bool dry_run;
        bool once; /* a one-shot run: wait for an occurrence another instance is planning */
};

struct plan_pass_result {
        int64_t now; /* the pass's instant, as given */
        unsigned long runs;
        long long planned;
        bool busy;    /* an occurrence another instance is planning: look again shortly */
        int64_t retry_at; /* the earliest failed occurrence's next try (epoch s), 0: none */
        bool failed;  /* a job's planning failed (logged) */
        bool db_lost; /* the planning connection could not be made or broke */
};

typedef void (*plan_done_fn)(const struct plan_pass_result *res, void *userdata);

int plan_worker_new(sd_event *event, const char *application_name, plan_done_fn done, void *userdata,
                    struct plan_worker **ret);
/* Lets a running pass end after its current plan, waits for it, and closes
 * the connection.  Takes NULL. */
struct plan_worker *plan_worker_free(struct plan_worker *w);

/* Starts a pass over every enabled job; -EBUSY while one runs. */
int plan_worker_start(struct plan_worker *w, const struct plan_pass *pass);
bool plan_worker_running(const struct plan_worker *w);
/* Ends a running pass after the plan it is in (the rest is due at the next
 * start): a stop waits for one plan, not for a whole catch-up. */
void plan_worker_stop(struct plan_worker *w);
/* Between passes only: the next pass connects anew (the database settings
 * changed). */
void plan_worker_disconnect(struct plan_worker *w);
