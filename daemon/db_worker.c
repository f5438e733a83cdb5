#include "db_worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "db.h"
#include "log.h"

/* Work goes IDLE -> QUEUED (the thread does it) -> DONE (the loop has not
 * taken the result yet) -> IDLE. */
enum work_state { WORK_IDLE, WORK_QUEUED, WORK_DONE };

struct db_worker {
        sd_event_source *efd_source;
        int efd;
        char *application_name;
        db_done_fn done;
        void *userdata;
        pthread_t thread;
        bool started;
        pthread_mutex_t lock;
        pthread_cond_t wake, finished;
        bool quit;
        enum work_state state;
        /* The work: set by the loop in IDLE, done by the thread in QUEUED. */
        db_work_fn work;
        void *arg;
        long result;
        /* The thread's alone once started: the connection and the settings it
         * was made with (copies: a reload frees the configuration's). */
        PGconn *conn;
        char *conninfo, *password;
        bool reconnect;
        bool reported_lost; /* a failed connect was logged: say it once, not every time */
};

static void secret_free(char *s) {
        if (s)
                explicit_bzero(s, strlen(s));
        free(s);
}

static long do_work(struct db_worker *w) {
        /* A server restarted since the last work has closed this idle
         * connection: reading what it said notices. */
        if (w->reconnect || !w->conn || !PQconsumeInput(w->conn) || db_broken(w->conn)) {
                PQfinish(w->conn);
                w->conn = NULL;
                w->reconnect = false;
                if (db_connect_to(w->conninfo, w->password, w->application_name, w->reported_lost, &w->conn) < 0) {
                        w->reported_lost = true;
                        return -ECONNREFUSED;
                }
                w->reported_lost = false;
        }
        return w->work(w->conn, w->arg);
}

static void *worker_main(void *arg) {
        struct db_worker *w = arg;
        pthread_mutex_lock(&w->lock);
        for (;;) {
                while (!w->quit && w->state != WORK_QUEUED)
                        pthread_cond_wait(&w->wake, &w->lock);
                if (w->state != WORK_QUEUED)
                        break; /* quit, nothing left to do */
                pthread_mutex_unlock(&w->lock);
                long result = do_work(w);
                pthread_mutex_lock(&w->lock);
                w->result = result;
                w->state = WORK_DONE;
                pthread_cond_broadcast(&w->finished);
                /* eventfd_write only fails on counter overflow, never at 1 a piece of work. */
                (void)eventfd_write(w->efd, 1);
                if (w->quit)
                        break;
        }
        pthread_mutex_unlock(&w->lock);
        PQfinish(w->conn);
        w->conn = NULL;
        return NULL;
}

/* The work's result to the caller, once (the eventfd and db_worker_wait()
 * may both come for it). */
static void deliver(struct db_worker *w) {
        pthread_mutex_lock(&w->lock);
        bool done = w->state == WORK_DONE;
        long result = w->result;
        void *arg = w->arg;
        if (done)
                w->state = WORK_IDLE;
        pthread_mutex_unlock(&w->lock);
        if (done)
                w->done(result, arg, w->userdata);
}

static int on_work_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        (void)s, (void)revents;
        eventfd_t n;
        (void)eventfd_read(fd, &n);
        deliver(userdata);
        return 0;
}

struct db_worker *db_worker_free(struct db_worker *w) {
        if (!w)
                return NULL;
        if (w->started) {
                pthread_mutex_lock(&w->lock);
                w->quit = true;
                pthread_cond_signal(&w->wake);
                pthread_mutex_unlock(&w->lock);
                pthread_join(w->thread, NULL);
        }
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->wake);
        pthread_cond_destroy(&w->finished);
        sd_event_source_disable_unref(w->efd_source);
        PQfinish(w->conn);
        free(w->conninfo);
        secret_free(w->password);
        free(w->application_name);
        free(w);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct db_worker *, db_worker_free);

int db_worker_new(sd_event *event, const char *application_name, db_done_fn done, void *userdata,
                  struct db_worker **ret) {
        _cleanup_(db_worker_freep) struct db_worker *w = calloc(1, sizeof *w);
        if (!w)
                return log_error_errno(-ENOMEM, "Cannot start the database worker %s: %m", application_name);
        w->done = done;
        w->userdata = userdata;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->wake, NULL);
        pthread_cond_init(&w->finished, NULL);
        if (!(w->application_name = strdup(application_name)))
                return log_error_errno(-ENOMEM, "Cannot start the database worker %s: %m", application_name);
        int r = eventfd_source_new(event, w->application_name, on_work_done, w, &w->efd_source, &w->efd);
        if (r < 0)
                return r;
        r = -pthread_create(&w->thread, NULL, worker_main, w);
        if (r < 0)
                return log_error_errno(r, "Cannot start the database worker %s: %m", application_name);
        w->started = true;
        *ret = TAKE_PTR(w);
        return 0;
}

int db_worker_submit(struct db_worker *w, const char *conninfo, const char *password, db_work_fn work, void *arg) {
        pthread_mutex_lock(&w->lock);
        int r = 0;
        if (w->state != WORK_IDLE) {
                r = -EBUSY;
                goto out;
        }
        /* Only here, with the thread waiting, are the settings the loop's to
         * change. */
        if (!streq_ptr(conninfo, w->conninfo) || !streq_ptr(password, w->password)) {
                char *ci = conninfo ? strdup(conninfo) : NULL, *pw = password ? strdup(password) : NULL;
                if ((conninfo && !ci) || (password && !pw)) {
                        free(ci);
                        secret_free(pw);
                        r = -ENOMEM;
                        goto out;
                }
                free(w->conninfo);
                secret_free(w->password);
                w->conninfo = ci;
                w->password = pw;
                w->reconnect = true;
        }
        w->work = work;
        w->arg = arg;
        w->state = WORK_QUEUED;
        pthread_cond_signal(&w->wake);
out:
        pthread_mutex_unlock(&w->lock);
        return r;
}

bool db_worker_busy(struct db_worker *w) {
        pthread_mutex_lock(&w->lock);
        bool busy = w->state != WORK_IDLE;
        pthread_mutex_unlock(&w->lock);
        return busy;
}

void db_worker_wait(struct db_worker *w) {
        pthread_mutex_lock(&w->lock);
        while (w->state == WORK_QUEUED)
                pthread_cond_wait(&w->finished, &w->lock);
        pthread_mutex_unlock(&w->lock);
        deliver(w);
}
