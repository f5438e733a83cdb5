/* rapportd — the daemon.
 *
 * One sd-event loop.  Everything network-bound (SMTP, SMS) runs through
 * libcurl on that loop (SMTP's blocking end of DATA on worker threads, see
 * smtp_pool.h); the dispatcher's database work is short set-based
 * statements.  Planning, which can take seconds, runs on a thread of its
 * own with its own connection (plan_worker.h), so it never stalls a
 * transfer or a signal.  Signals are blocked with sigprocmask and
 * delivered as events (libsystemd 252 has no SD_EVENT_SIGNAL_PROCMASK).
 * The config is loaded into a fresh struct and swapped in only when it and
 * its templates are valid, so a bad reload keeps the old one running.
 * Losing the database is survived: reconnect with backoff, never exit. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>

#include <curl/curl.h>

#include "config.h"
#include "db.h"
#include "dispatch.h"
#include "log.h"
#include "outbox.h"
#include "plan_worker.h"
#include "planner.h"
#include "preview.h"
#include "scheduler.h"
#include "templates.h"

#define RECONNECT_MIN_USEC (500 * 1000ULL)
#define RECONNECT_MAX_USEC (30 * 1000000ULL)
#define STOP_GRACE_USEC (10 * 1000000ULL)
#define ONCE_DB_WAIT_SEC 60

struct daemon {
        sd_event *event;
        struct rapport_config *cfg;
        struct template_set *templates;
        PGconn *conn;
        struct dispatch_env env;
        struct dispatcher *dispatcher;
        struct plan_worker *planner;
        bool plan_again; /* the schedules were due again while a pass ran */
        /* A reload waiting for the planning pass under the old configuration
         * (what came due under it is planned under it) to be swapped in. */
        struct rapport_config *next_cfg;
        struct template_set *next_templates;
        bool next_needs_old_pass;
        uint64_t plan_retry_usec; /* the planning connection failed: next try after */
        time_t plan_lost_since;
        sd_event_source *sched_timer, *reconnect_timer, *pg_io, *prune_timer;
        uint64_t reconnect_delay;
        time_t first_attempt;
        bool once, dry_run, ready, stopping, failed;
        bool once_dispatching; /* --once: the plan is done, the dispatcher's round began */
        const char *now_iso;
        int64_t now_override;
        int64_t live_since; /* schedules run since (start, reconnect, reload) */
        unsigned long runs, planned;
};

static void daemon_status(struct daemon *d) {
        const struct dispatch_stats *s = d->dispatcher ? dispatcher_stats(d->dispatcher) : &(struct dispatch_stats){0};
        if (!d->conn) {
                sd_notify(0, "STATUS=Waiting for the database");
                return;
        }
        sd_notifyf(0, "STATUS=%zu job(s)%s; %lu run(s) planned %lu message(s); sent %lu, retried %lu, failed %lu, cancelled %lu; %u in flight",
                   d->cfg->n_jobs, plan_worker_running(d->planner) ? ", planning" : "", d->runs, d->planned, s->sent,
                   s->retried, s->failed, s->cancelled, d->dispatcher ? dispatcher_in_flight(d->dispatcher) : 0);
}

static int64_t current_time(struct daemon *d) { return d->now_iso ? d->now_override : (int64_t)time(NULL); }

static void drop_connection(struct daemon *d, const char *why);
static void schedule_reconnect(struct daemon *d);

/* Seconds before an occurrence another instance is planning is looked at
 * again (it is ours if that instance died). */
#define BUSY_RETRY 5

static void sched_timer_at(struct daemon *d, uint64_t realtime_usec) {
        sd_event_source_set_time(d->sched_timer, realtime_usec);
        sd_event_source_set_enabled(d->sched_timer, SD_EVENT_ONESHOT);
}

/* Start a planning pass over every job due now, or note that one is due
 * again when the pass running ends. */
static void plan_due(struct daemon *d) {
        if (!d->conn || d->stopping)
                return;
        if (plan_worker_running(d->planner)) {
                d->plan_again = true;
                return;
        }
        d->plan_again = false;
        struct plan_pass p = {d->cfg, d->templates, d->now_iso, current_time(d), d->live_since, d->dry_run, d->once};
        if (plan_worker_start(d->planner, &p) < 0) {
                /* Logged; the timer tries again. */
                d->failed = true;
                sched_timer_at(d, ((uint64_t)time(NULL) + BUSY_RETRY) * 1000000ULL);
        }
        daemon_status(d);
}

static void arm_sched_timer(struct daemon *d, int64_t pass_now, bool busy, int64_t retry_at) {
        /* Next after the instant just handled, not after the clock now:
         * what fell due while this pass was planning is due at once (a
         * timer in the past fires straight away). */
        int64_t wall = (int64_t)time(NULL);
        int64_t next = scheduler_next_wakeup(d->cfg, d->now_iso ? wall : pass_now);
        if (retry_at > 0 && retry_at < next)
                next = retry_at > wall ? retry_at : wall + 1; /* a failed plan's next try; never a busy loop */
        if (busy && next > wall + BUSY_RETRY)
                next = wall + BUSY_RETRY;
        if (next == INT64_MAX)
                sd_event_source_set_enabled(d->sched_timer, SD_EVENT_OFF);
        else
                sched_timer_at(d, (uint64_t)next * 1000000ULL);
}

static void reload_step(struct daemon *d);
static void once_planned(struct daemon *d);

static void kick_dispatcher(struct daemon *d) {
        if (d->dispatcher && (!d->once || d->once_dispatching))
                dispatcher_kick(d->dispatcher);
}

/* A planning pass ended (on the loop's thread). */
static void on_planned(const struct plan_pass_result *res, void *userdata) {
        struct daemon *d = userdata;
        d->runs += res->runs;
        d->planned += (unsigned long)res->planned;
        if (res->failed)
                d->failed = true;
        if (d->stopping) {
                daemon_status(d);
                return;
        }
        if (d->next_cfg) {
                reload_step(d);
                return;
        }
        if (res->db_lost) {
                /* The loop's own connection has its own reconnect; this one
                 * is tried again at the next pass, backing off the same way. */
                if (!d->plan_retry_usec)
                        d->plan_lost_since = time(NULL);
                d->plan_retry_usec = d->plan_retry_usec ? d->plan_retry_usec * 2 : RECONNECT_MIN_USEC;
                if (d->plan_retry_usec > RECONNECT_MAX_USEC)
                        d->plan_retry_usec = RECONNECT_MAX_USEC;
                if (d->once && time(NULL) - d->plan_lost_since >= ONCE_DB_WAIT_SEC) {
                        log_error("Giving up: no database to plan with after %d seconds", ONCE_DB_WAIT_SEC);
                        sd_event_exit(d->event, 69); /* EX_UNAVAILABLE */
                        return;
                }
                /* Without the loop's connection the schedules wait for its
                 * reconnect, which plans again (connected()). */
                if (d->conn) {
                        uint64_t now;
                        sd_event_now(d->event, CLOCK_REALTIME, &now);
                        sched_timer_at(d, now + d->plan_retry_usec);
                }
                daemon_status(d);
                return;
        }
        d->plan_retry_usec = 0;
        if (d->plan_again) {
                plan_due(d);
                return;
        }
        if (d->once)
                once_planned(d);
        else if (d->conn)
                arm_sched_timer(d, res->now, res->busy, res->retry_at);
        kick_dispatcher(d);
        daemon_status(d);
}

static int on_sched_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        (void)s, (void)usec;
        struct daemon *d = userdata;
        plan_due(d);
        kick_dispatcher(d);
        return 0;
}

#define PRUNE_INTERVAL_USEC (3600 * 1000000ULL)
#define PRUNE_BATCH 1000

/* Up to max_batches small batches of retention; returns whether a
 * backlog is left. */
static bool prune_batches(struct daemon *d, int max_batches) {
        long total = 0, n = 0;
        for (int i = 0; i < max_batches; i++) {
                /* Skip records and job runs carry dates of the run's
                 * clock: under --now the real one cannot judge their age
                 * (a run pinned years back would delete what it just
                 * wrote), so only finished messages, stamped by the
                 * database, are pruned then. */
                if (outbox_prune(d->conn, d->cfg->outbox.retention_days, PRUNE_BATCH, d->now_iso == NULL, &n) < 0)
                        break;
                total += n;
                if (n < PRUNE_BATCH)
                        break;
        }
        if (total)
                log_info("Pruned %ld message(s) older than %d days", total, d->cfg->outbox.retention_days);
        return n >= PRUNE_BATCH;
}

/* Retention: a few small batches per tick, sooner again while there is a
 * backlog, so years of history drain without one long transaction. */
static int on_prune_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct daemon *d = userdata;
        uint64_t next = PRUNE_INTERVAL_USEC;
        if (d->conn && !d->stopping && prune_batches(d, 10))
                next = 5 * 1000000ULL;
        uint64_t now;
        (void)usec;
        sd_event_now(d->event, CLOCK_MONOTONIC, &now);
        sd_event_source_set_time(s, now + next);
        sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static int on_pg_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        (void)s, (void)fd, (void)revents;
        struct daemon *d = userdata;
        /* Notifications are taken by on_post, which runs after this. */
        if (!PQconsumeInput(d->conn))
                drop_connection(d, PQerrorMessage(d->conn));
        return 0;
}

/* After every event: notice a connection that died during a query, and
 * drain notifications that arrived while a synchronous query ran (libpq
 * buffers them without the socket becoming readable again). */
static int on_post(sd_event_source *s, void *userdata) {
        (void)s;
        struct daemon *d = userdata;
        if (!d->conn)
                return 0;
        /* A query that met a dead server leaves the connection bad and its
         * socket closed by libpq — epoll never reports it — so look after
         * every event, whoever made the query. */
        if (PQstatus(d->conn) != CONNECTION_OK) {
                drop_connection(d, PQerrorMessage(d->conn));
                return 0;
        }
        bool kick = false;
        PGnotify *n;
        while ((n = PQnotifies(d->conn))) {
                kick = true;
                PQfreemem(n);
        }
        if (kick)
                kick_dispatcher(d);
        return 0;
}

/* The connection and its socket's watch gone, for the loop and the
 * dispatcher alike. */
static void forget_connection(struct daemon *d) {
        d->pg_io = sd_event_source_disable_unref(d->pg_io);
        PQfinish(d->conn);
        d->conn = NULL;
        d->env.conn = NULL;
}

static void drop_connection(struct daemon *d, const char *why) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", why ? why : "");
        msg[strcspn(msg, "\n")] = '\0';
        log_warning("Database connection lost (%s); reconnecting", msg);
        d->first_attempt = time(NULL); /* --once waits ONCE_DB_WAIT_SEC from the loss */
        forget_connection(d);
        sd_event_source_set_enabled(d->sched_timer, SD_EVENT_OFF);
        daemon_status(d);
        schedule_reconnect(d);
}

static int on_idle(struct dispatcher *disp, void *userdata);
static void idle_cb(struct dispatcher *disp, void *userdata) { (void)on_idle(disp, userdata); }

static int connected(struct daemon *d) {
        int have, want;
        int r = db_check_migrated(d->conn, &have, &want);
        if (r < 0) {
                if (r == -ESTALE)
                        log_error("The database schema is at version %d of %d: run `rapportctl migrate`", have, want);
                if (r == -ESTALE && d->once) {
                        /* Waiting would not help a one-shot run. */
                        sd_event_exit(d->event, 69); /* EX_UNAVAILABLE */
                        return 0;
                }
                return r;
        }
        /* A later release migrated it (an upgrade half done): this daemon's
         * statements may miss what changed.  Said at each connection, not
         * refused: stopping every instance mid-upgrade would stop sending. */
        if (have > want)
                log_warning("The database schema is at version %d, newer than this rapportd knows (%d): "
                            "upgrade this instance to the release that migrated it", have, want);
        /* A tzdata update since the last start is picked up here. */
        (void)db_refresh_time_zones(d->conn);
        r = db_exec(d->conn, "Listening for new work", "LISTEN rapport_outbox", 0, NULL, NULL);
        if (r < 0)
                return r;
        /* Watch a duplicate of libpq's socket: libpq closes its own when the
         * server goes away, and an fd number epoll still holds could be
         * reused by the next connection curl opens. */
        int fd = fcntl(PQsocket(d->conn), F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return log_error_errno(-errno, "Cannot duplicate the database socket: %m");
        r = sd_event_add_io(d->event, &d->pg_io, fd, EPOLLIN, on_pg_io, d);
        if (r < 0) {
                close(fd);
                return log_error_errno(r, "Cannot watch the database socket: %m");
        }
        sd_event_source_set_io_fd_own(d->pg_io, true);
        sd_event_source_set_description(d->pg_io, "postgres");
        d->env.conn = d->conn;
        d->reconnect_delay = 0;
        log_info("Connected to the database");

        if (!d->ready) {
                d->ready = true;
                sd_notify(0, "READY=1");
        }
        d->live_since = current_time(d);
        plan_due(d);
        /* What is queued already goes while the pass plans. */
        kick_dispatcher(d);
        daemon_status(d);
        return 0;
}

/* A one-shot run dispatches once its plan is done, one round of what is
 * due (under --now a retry due again at the pinned instant waits for the
 * next run), and ends when the dispatcher is idle. */
static void once_planned(struct daemon *d) {
        if (d->dry_run) {
                /* Said even when no occurrence was due (one already run or
                 * missed): an empty output would read as a silent failure. */
                log_info("Dry run done: %lu run(s) would queue %lu message(s); nothing was queued or sent", d->runs, d->planned);
                sd_event_exit(d->event, d->failed ? 1 : 0);
                return;
        }
        d->once_dispatching = true;
        dispatcher_set_idle(d->dispatcher, idle_cb, d);
}

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata) {
        (void)s, (void)usec;
        struct daemon *d = userdata;
        bool quiet = d->reconnect_delay > RECONNECT_MIN_USEC * 8; /* log the first few, then every so often */
        int r = db_connect(d->cfg, d->once ? "rapportd --once" : "rapportd", quiet, &d->conn);
        if (r >= 0) {
                r = connected(d);
                if (r < 0)
                        forget_connection(d);
        }
        if (r < 0) {
                if (d->once && time(NULL) - d->first_attempt >= ONCE_DB_WAIT_SEC) {
                        log_error("Giving up: no usable database after %d seconds", ONCE_DB_WAIT_SEC);
                        sd_event_exit(d->event, 69); /* EX_UNAVAILABLE */
                        return 0;
                }
                schedule_reconnect(d);
        }
        return 0;
}

static void schedule_reconnect(struct daemon *d) {
        if (d->stopping)
                return;
        d->reconnect_delay = d->reconnect_delay ? d->reconnect_delay * 2 : RECONNECT_MIN_USEC;
        if (d->reconnect_delay > RECONNECT_MAX_USEC)
                d->reconnect_delay = RECONNECT_MAX_USEC;
        uint64_t now;
        sd_event_now(d->event, CLOCK_MONOTONIC, &now);
        sd_event_source_set_time(d->reconnect_timer, now + d->reconnect_delay);
        sd_event_source_set_enabled(d->reconnect_timer, SD_EVENT_ONESHOT);
        /* Not ready until the database answers (a database down at boot):
         * each attempt asks systemd for time until the next one and a
         * connection's timeout beyond it, so TimeoutStartSec does not kill
         * a daemon that is only waiting, as it would after 90 s. */
        if (!d->ready)
                sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%llu", (unsigned long long)(d->reconnect_delay + 60 * 1000000ULL));
}

static int on_idle(struct dispatcher *disp, void *userdata) {
        struct daemon *d = userdata;
        const struct dispatch_stats *s = dispatcher_stats(disp);
        if (d->once && !d->stopping) {
                log_info("Done: planned %lu message(s) in %lu run(s); sent %lu, retried %lu, failed %lu, cancelled %lu",
                         d->planned, d->runs, s->sent, s->retried, s->failed, s->cancelled);
                /* Run from cron instead of as a service, --once still keeps
                 * retention: a bounded share of it per run (100,000
                 * messages), the rest next time. */
                if (d->conn && !d->dry_run)
                        (void)prune_batches(d, 100);
        }
        /* A daemon stopped on request exits 0 whatever its plans met: the
         * failures are in job_runs and the journal.  --once reports them. */
        sd_event_exit(d->event, d->once && d->failed ? 1 : 0);
        return 0;
}

static int on_stop(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void)s;
        struct daemon *d = userdata;
        if (d->stopping)
                return 0;
        d->stopping = true;
        log_info("Received %s, stopping", strsignal((int)si->ssi_signo));
        sd_notify(0, "STOPPING=1\nSTATUS=Stopping: finishing in-flight messages");
        sd_event_source_set_enabled(d->sched_timer, SD_EVENT_OFF);
        sd_event_source_set_enabled(d->reconnect_timer, SD_EVENT_OFF);
        /* Planning ends after the plan it is in: the rest of a catch-up is
         * due again at the next start.  Not cancelled: a plan rolled back
         * could fall out of its catch-up window by then. */
        plan_worker_stop(d->planner);
        dispatcher_set_idle(d->dispatcher, idle_cb, d);
        dispatcher_stop(d->dispatcher, STOP_GRACE_USEC);
        return 0;
}

/* A secret that was set and now reads as empty or missing is far more often
 * a secret file cut short (a full disk, an editor interrupted) or removed
 * by mistake than a wish to log in without one: refuse that reload, so a
 * running daemon never loses its database or gateway login to it.
 * Dropping a secret on purpose takes a restart. */
static int secret_kept(const char *path, const char *what, const char *was, const char *now) {
        if (!was || now)
                return 0;
        log_error("%s: the %s was set and its file or credential is now empty or missing "
                  "(cut short by a full disk?); restart rapportd to run without it",
                  path, what);
        return -EINVAL;
}

static int reload_keeps_secrets(const struct rapport_config *old, const struct rapport_config *new) {
        int r = secret_kept(new->path, "database password", old->db_password, new->db_password);
        int r2 = secret_kept(new->path, "SMTP password", old->email.password, new->email.password);
        int r3 = secret_kept(new->path, "SMS token", old->sms.token, new->sms.token);
        return r < 0 ? r : r2 < 0 ? r2 : r3;
}

static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void)s, (void)si;
        struct daemon *d = userdata;
        /* A one-shot run is over in moments and plans once: a new
         * configuration would mean passes after the one it runs, and what
         * they planned could be left unsent when it exits. */
        if (d->once) {
                log_info("Reload ignored: a one-shot run keeps the configuration it started with");
                return 0;
        }
        /* Before the first connection the daemon is not ready: a reload
         * then must not say it is (connected() sends READY=1). */
        if (d->ready)
                sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=Reloading configuration",
                           (unsigned long long)monotonic_usec());
        log_info("Reloading %s", d->cfg->path);

        _cleanup_(config_freep) struct rapport_config *c = NULL;
        _cleanup_(template_set_freep) struct template_set *t = NULL;
        int nerr = 0;
        int r = config_load(d->cfg->path, true, &c);
        if (r >= 0)
                r = reload_keeps_secrets(d->cfg, c);
        if (r >= 0)
                r = template_set_load(c->templates_dir, &t, &nerr);
        if (r >= 0 && templates_check_config(t, c) > 0)
                r = -ENOENT;
        if (r < 0) {
                log_error("Reload failed: keeping the previous configuration and templates");
                if (d->ready && !d->next_cfg)
                        sd_notify(0, "READY=1");
                daemon_status(d);
                return 0;
        }
        /* A reload that came while another waits replaces it, and shares
         * its pass under the old configuration (one more would only put
         * the swap off further). */
        if (!d->next_cfg)
                d->next_needs_old_pass = true;
        config_free(d->next_cfg);
        template_set_free(d->next_templates);
        d->next_cfg = TAKE_PTR(c);
        d->next_templates = TAKE_PTR(t);
        reload_step(d);
        return 0;
}

/* A valid reloaded configuration goes in between planning passes (a pass
 * reads the configuration it started with), after one more pass under the
 * old one: the new one's schedules start from now (live_since), and would
 * judge an occurrence the old one had not reached yet as missed. */
static void reload_step(struct daemon *d) {
        if (plan_worker_running(d->planner))
                return; /* on_planned comes back here */
        if (d->next_needs_old_pass) {
                d->next_needs_old_pass = false;
                plan_due(d);
                if (plan_worker_running(d->planner))
                        return;
        }
        _cleanup_(config_freep) struct rapport_config *c = TAKE_PTR(d->next_cfg);
        _cleanup_(template_set_freep) struct template_set *t = TAKE_PTR(d->next_templates);
        bool same_db = streq_ptr(c->conninfo, d->cfg->conninfo) && streq_ptr(c->db_password, d->cfg->db_password);
        /* The instance name stays: it identifies our leases. */
        free(c->instance);
        c->instance = strdup(d->cfg->instance);
        struct rapport_config *old = d->cfg;
        struct template_set *old_t = d->templates;
        d->cfg = TAKE_PTR(c);
        d->templates = TAKE_PTR(t);
        d->env.cfg = d->cfg;
        d->env.templates = d->templates;
        config_free(old);
        template_set_free(old_t);
        log_info("Configuration reloaded: %zu job(s)", d->cfg->n_jobs);
        int r;
        if (d->dispatcher && (r = dispatcher_reconfigure(d->dispatcher)) < 0)
                log_warning_errno(r, "Cannot start the SMTP connections the new configuration asks for: %m");
        if (!same_db) {
                plan_worker_disconnect(d->planner);
                if (d->conn)
                        drop_connection(d, "database settings changed");
        } else {
                d->live_since = current_time(d);
                plan_due(d);
        }
        kick_dispatcher(d);
        if (d->ready)
                sd_notify(0, "READY=1");
        daemon_status(d);
}

static void help(void) {
        printf("Usage: rapportd [OPTIONS]\n"
               "\n"
               "Keeps customer relationships from going quiet: plans follow-ups, greetings,\n"
               "dunning notices and digests from PostgreSQL on the configured schedules and\n"
               "delivers them by e-mail and SMS.\n"
               "\n"
               "  -c, --config FILE   configuration file (default %s)\n"
               "      --once          run every job due now, send what is sendable, exit\n"
               "      --now ISO8601   treat this instant as the current time (with --once)\n"
               "      --dry-run       plan and render what is due, print it, send nothing\n"
               "                      and exit (implies --once)\n"
               "  -n, --test-config   check the configuration and templates, print\n"
               "                      \"configuration OK\" and exit (78 if it is not)\n"
               "  -v, --verbose       log debug messages too\n"
               "  -h, --help          show this help\n"
               "      --version       show the version\n"
               "\n"
               "Signals: SIGHUP reloads the configuration and templates (a bad file keeps the\n"
               "old ones); SIGTERM/SIGINT finish in-flight messages and stop.\n"
               "See rapportd(8), rapport.conf(5) and rapportctl(8).\n",
               RAPPORT_CONFIG);
}

int main(int argc, char **argv) {
        enum { OPT_ONCE = 256, OPT_NOW, OPT_DRY_RUN, OPT_VERSION };
        static const struct option opts[] = {
                {"config", required_argument, NULL, 'c'}, {"once", no_argument, NULL, OPT_ONCE},
                {"now", required_argument, NULL, OPT_NOW}, {"dry-run", no_argument, NULL, OPT_DRY_RUN},
                {"test-config", no_argument, NULL, 'n'},   {"verbose", no_argument, NULL, 'v'},
                {"help", no_argument, NULL, 'h'},          {"version", no_argument, NULL, OPT_VERSION},
                {0, 0, 0, 0},
        };
        const char *config_path = RAPPORT_CONFIG, *now_arg = NULL;
        bool once = false, dry_run = false, test_only = false;
        int verbose = 0, o;
        static const char shortopts[] = "c:nvh";
        opterr = 0; /* said below, as "rapportd: ...", whatever argv[0] is */
        while ((o = getopt_long(argc, argv, shortopts, opts, NULL)) >= 0) {
                switch (o) {
                case 'c': config_path = optarg; break;
                case OPT_ONCE: once = true; break;
                case OPT_NOW: now_arg = optarg; break;
                case OPT_DRY_RUN: dry_run = once = true; break; /* a dry run is always one pass */
                case 'n': test_only = true; break;
                case 'v': verbose = 1; break;
                case 'h': help(); return 0;
                case OPT_VERSION: printf("rapportd %s\n", RAPPORT_VERSION); return 0;
                default: {
                        char msg[512];
                        getopt_error(msg, sizeof msg, shortopts, argc, argv);
                        fprintf(stderr, "rapportd: %s\nTry 'rapportd --help'.\n", msg);
                        return 64;
                }
                }
        }
        if (optind < argc) {
                fprintf(stderr, "rapportd: unexpected argument '%s'\nTry 'rapportd --help'.\n", argv[optind]);
                return 64;
        }
        if (now_arg && !once) {
                fprintf(stderr, "rapportd: --now only makes sense with --once\n");
                return 64;
        }
        /* -n loads and exits: a --once or --dry-run beside it would be
         * read as "it ran", when nothing was planned or sent. */
        if (test_only && once) {
                fprintf(stderr, "rapportd: -n checks the configuration only; it cannot be combined with %s\n",
                        dry_run ? "--dry-run" : "--once");
                return 64;
        }
        log_setup("rapportd", verbose ? LOG_DEBUG : LOG_INFO);

        /* A reload asked for while the configuration and templates load
         * (systemctl reload right after start, a kill -HUP from a script)
         * waits for the loop's signalfd instead of ending the daemon, as
         * SIGHUP's default action would. */
        sigset_t hup;
        sigemptyset(&hup);
        sigaddset(&hup, SIGHUP);
        sigprocmask(SIG_BLOCK, &hup, NULL);

        struct daemon d = {.once = once, .dry_run = dry_run};
        int r = config_load(config_path, true, &d.cfg);
        if (r < 0)
                return EXIT_CONFIG;
        int nerr = 0;
        r = template_set_load(d.cfg->templates_dir, &d.templates, &nerr);
        if (r < 0) {
                log_error("%d problem(s) in templates under %s", nerr, d.cfg->templates_dir);
                config_free(d.cfg);
                return EXIT_CONFIG;
        }
        /* A job with no template for a channel it uses would retry every
         * message until it gives up: refuse to start instead. */
        int missing = templates_check_config(d.templates, d.cfg);
        if (missing > 0) {
                log_error("%d template(s) the configuration needs are missing under %s", missing, d.cfg->templates_dir);
                template_set_free(d.templates);
                config_free(d.cfg);
                return EXIT_CONFIG;
        }
        if (test_only) {
                printf("configuration OK\n");
                template_set_free(d.templates);
                config_free(d.cfg);
                return 0;
        }
        if (now_arg) {
                if (tz_parse_iso8601(now_arg, d.cfg->tz, &d.now_override) < 0) {
                        fprintf(stderr, "rapportd: --now: cannot parse '%s' (expected ISO 8601, e.g. 2027-03-14T09:30:00+08:00)\n", now_arg);
                        return 64;
                }
                static char iso[64];
                tz_format_iso8601(d.cfg->tz, d.now_override, iso, sizeof iso);
                d.now_iso = iso;
        }
        d.first_attempt = time(NULL);
        curl_global_init(CURL_GLOBAL_DEFAULT);

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&d.event);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop: %m"), 1;
        sd_event_add_signal(d.event, NULL, SIGTERM, on_stop, &d);
        sd_event_add_signal(d.event, NULL, SIGINT, on_stop, &d);
        sd_event_add_signal(d.event, NULL, SIGHUP, on_reload, &d);
        /* Pings WATCHDOG=1 at half of WATCHDOG_USEC when systemd asks. */
        sd_event_set_watchdog(d.event, true);

        sd_event_add_post(d.event, NULL, on_post, &d);
        /* 1 ms accuracy: an occurrence starts when it says, not up to a second
         * later (sd-event would otherwise coalesce the wake-up that late). */
        sd_event_add_time(d.event, &d.sched_timer, CLOCK_REALTIME, UINT64_MAX, 1000, on_sched_timer, &d);
        sd_event_source_set_description(d.sched_timer, "scheduler");
        sd_event_source_set_enabled(d.sched_timer, SD_EVENT_OFF);
        if (!once) {
                /* First pass a minute after start, when the database is up. */
                uint64_t now;
                sd_event_now(d.event, CLOCK_MONOTONIC, &now);
                sd_event_add_time(d.event, &d.prune_timer, CLOCK_MONOTONIC, now + 60 * 1000000ULL, 60 * 1000000ULL, on_prune_timer, &d);
                sd_event_source_set_description(d.prune_timer, "retention");
                sd_event_source_set_enabled(d.prune_timer, SD_EVENT_ONESHOT);
        }
        sd_event_add_time(d.event, &d.reconnect_timer, CLOCK_MONOTONIC, 0, 1000, on_reconnect, &d);
        sd_event_source_set_description(d.reconnect_timer, "db-reconnect");
        sd_event_source_set_enabled(d.reconnect_timer, SD_EVENT_ONESHOT);

        d.env = (struct dispatch_env){.cfg = d.cfg, .templates = d.templates, .now = d.now_iso};
        r = dispatcher_new(d.event, &d.env, once ? "rapportd --once" : "rapportd", &d.dispatcher);
        if (r < 0)
                return 1;
        r = plan_worker_new(d.event, once ? "rapportd --once planner" : "rapportd planner", on_planned, &d, &d.planner);
        if (r < 0)
                return 1;
        sd_notify(0, "STATUS=Connecting to the database");

        r = sd_event_loop(d.event);
        if (r < 0) /* a timer or descriptor the kernel refused: never die without a word */
                log_error_errno(r, "Event loop failed: %m");

        /* A pass still planning ends after the plan it is in. */
        plan_worker_free(d.planner);
        /* Outcomes still held (or claimed rows to give back) and no
         * connection: the server went away and the back-off had not
         * reconnected yet.  One last attempt, so that a message that went
         * out is recorded now rather than sent again when its lease runs
         * out. */
        if (dispatcher_needs_database(d.dispatcher) && db_broken(d.conn)) {
                forget_connection(&d);
                if (db_connect(d.cfg, once ? "rapportd --once" : "rapportd", false, &d.conn) >= 0) {
                        log_info("Connected to the database again to record what was sent and give back what was claimed");
                        d.env.conn = d.conn;
                }
        }
        dispatcher_free(d.dispatcher);
        sd_event_source_disable_unref(d.sched_timer);
        sd_event_source_disable_unref(d.reconnect_timer);
        sd_event_source_disable_unref(d.pg_io);
        sd_event_source_disable_unref(d.prune_timer);
        PQfinish(d.conn);
        sd_event_unref(d.event);
        template_set_free(d.templates);
        config_free(d.cfg);
        template_set_free(d.next_templates);
        config_free(d.next_cfg);
        curl_global_cleanup();
        if (r < 0)
                return 1;
        return r;
}
