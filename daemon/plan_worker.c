#include "plan_worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "scheduler.h"

struct plan_worker {
        sd_event_source *efd_source;
        int efd;
        char *application_name;
        plan_done_fn done;
        void *userdata;
        /* Owned by the pass's thread while it runs, by the loop between
         * passes: pthread_create and pthread_join order the hand-overs. */
        PGconn *conn;
        struct plan_pass pass;
        struct plan_pass_result result;
        bool reported_lost; /* a failed connect was logged: say it once, not every retry */
        pthread_t thread;
        bool running;
        atomic_bool stop;
};

static bool keep_going(void *userdata) {
        struct plan_worker *w = userdata;
        return !atomic_load(&w->stop);
}

static void *pass_main(void *arg) {
        struct plan_worker *w = arg;
        const struct plan_pass *p = &w->pass;
        struct plan_pass_result *res = &w->result;
        *res = (struct plan_pass_result){.now = p->now};

        /* A server restarted since the last pass has closed this idle
         * connection: reading what it said notices (libpq would only find
         * out in the middle of the first statement, as an error). */
        if (!w->conn || !PQconsumeInput(w->conn) || db_broken(w->conn)) {
                PQfinish(w->conn);
                w->conn = NULL;
                if (db_connect(p->cfg, w->application_name, w->reported_lost, &w->conn) < 0) {
                        w->reported_lost = true;
                        res->db_lost = true;
                        goto done;
                }
                w->reported_lost = false;
        }
        for (size_t i = 0; i < p->cfg->n_jobs && keep_going(w); i++) {
                struct catch_up_stats st = {0};
                struct run_opts o = {w->conn, p->cfg,     p->now_iso, p->dry_run, p->templates,
                                     p->live_since, p->once, keep_going, w};
                int r = scheduler_run_due(&o, &p->cfg->jobs[i], p->now, &st);
                res->runs += st.ran;
                res->planned += st.planned;
                res->busy = res->busy || st.busy;
                res->retry_at = earliest_retry(res->retry_at, st.retry_at);
                if (r < 0 || st.failed)
                        res->failed = true;
                if (db_broken(w->conn)) {
                        char why[256];
                        snprintf(why, sizeof why, "%s", w->conn ? PQerrorMessage(w->conn) : "not connected");
                        why[strcspn(why, "\n")] = '\0';
                        log_warning("The planning connection to the database was lost (%s); planning again shortly", why);
                        res->db_lost = true;
                        break;
                }
        }
done:
        /* eventfd_write only fails on counter overflow, never at 1 a pass. */
        (void)eventfd_write(w->efd, 1);
        return NULL;
}

static int on_pass_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        (void)s, (void)revents;
        struct plan_worker *w = userdata;
        eventfd_t n;
        if (eventfd_read(fd, &n) < 0 || !w->running)
                return 0;
        pthread_join(w->thread, NULL);
        w->running = false;
        struct plan_pass_result res = w->result;
        w->done(&res, w->userdata);
        return 0;
}

struct plan_worker *plan_worker_free(struct plan_worker *w) {
        if (!w)
                return NULL;
        if (w->running) {
                atomic_store(&w->stop, true);
                pthread_join(w->thread, NULL);
        }
        sd_event_source_disable_unref(w->efd_source);
        PQfinish(w->conn);
        free(w->application_name);
        free(w);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct plan_worker *, plan_worker_free);

int plan_worker_new(sd_event *event, const char *application_name, plan_done_fn done, void *userdata,
                    struct plan_worker **ret) {
        _cleanup_(plan_worker_freep) struct plan_worker *w = calloc(1, sizeof *w);
        if (!w)
                return log_error_errno(-ENOMEM, "Cannot start the planner: %m");
        w->done = done;
        w->userdata = userdata;
        if (!(w->application_name = strdup(application_name)))
                return log_error_errno(-ENOMEM, "Cannot start the planner: %m");
        int r = eventfd_source_new(event, "planner", on_pass_done, w, &w->efd_source, &w->efd);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(w);
        return 0;
}

int plan_worker_start(struct plan_worker *w, const struct plan_pass *pass) {
        if (w->running)
                return -EBUSY;
        w->pass = *pass;
        atomic_store(&w->stop, false);
        int r = -pthread_create(&w->thread, NULL, pass_main, w);
        if (r < 0)
                return log_error_errno(r, "Cannot start the planning thread: %m");
        w->running = true;
        return 0;
}

bool plan_worker_running(const struct plan_worker *w) { return w && w->running; }

void plan_worker_stop(struct plan_worker *w) {
        if (w)
                atomic_store(&w->stop, true);
}

void plan_worker_disconnect(struct plan_worker *w) {
        if (!w || w->running)
                return;
        PQfinish(w->conn);
        w->conn = NULL;
}
