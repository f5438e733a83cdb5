#include "record_worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "outbox.h"

/* A batch goes IDLE -> QUEUED (the thread records it) -> DONE (the loop
 * has not taken the result yet) -> IDLE. */
enum batch_state { BATCH_IDLE, BATCH_QUEUED, BATCH_DONE };

struct record_worker {
        sd_event_source *efd_source;
        int efd;
        char *application_name;
        record_done_fn done;
        void *userdata;
        pthread_t thread;
        bool started;
        pthread_mutex_t lock;
        pthread_cond_t wake, finished;
        bool quit;
        enum batch_state state;
        /* The batch: set by the loop in IDLE, read by the thread in QUEUED. */
        const struct outbox_sent *sent;
        size_t n;
        long recorded;
        /* The thread's alone once started: the connection and the settings it
         * was made with (copies: a reload frees the configuration's). */
        PGconn *conn;
        char *conninfo, *password;
        bool reconnect;
        bool reported_lost; /* a failed connect was logged: say it once, not every batch */
};

static void secret_free(char *s) {
        if (s)
                explicit_bzero(s, strlen(s));
        free(s);
}

static long record_batch(struct record_worker *w) {
        /* A server restarted since the last batch has closed this idle
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
        return outbox_mark_sent_many(w->conn, w->sent, w->n);
}

static void *worker_main(void *arg) {
        struct record_worker *w = arg;
        pthread_mutex_lock(&w->lock);
        for (;;) {
                while (!w->quit && w->state != BATCH_QUEUED)
                        pthread_cond_wait(&w->wake, &w->lock);
                if (w->state != BATCH_QUEUED)
                        break; /* quit, nothing left to record */
                pthread_mutex_unlock(&w->lock);
                long recorded = record_batch(w);
                pthread_mutex_lock(&w->lock);
                w->recorded = recorded;
                w->state = BATCH_DONE;
                pthread_cond_broadcast(&w->finished);
                /* eventfd_write only fails on counter overflow, never at 1 a batch. */
                (void)eventfd_write(w->efd, 1);
                if (w->quit)
                        break;
        }
        pthread_mutex_unlock(&w->lock);
        PQfinish(w->conn);
        w->conn = NULL;
        return NULL;
}

/* The batch's result to the caller, once (the eventfd and
 * record_worker_wait() may both come for it). */
static void deliver(struct record_worker *w) {
        pthread_mutex_lock(&w->lock);
        bool done = w->state == BATCH_DONE;
        long recorded = w->recorded;
        if (done)
                w->state = BATCH_IDLE;
        pthread_mutex_unlock(&w->lock);
        if (done)
                w->done(recorded, w->userdata);
}

static int on_batch_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        (void)s, (void)revents;
        eventfd_t n;
        (void)eventfd_read(fd, &n);
        deliver(userdata);
        return 0;
}

struct record_worker *record_worker_free(struct record_worker *w) {
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
DEFINE_TRIVIAL_CLEANUP_FUNC(struct record_worker *, record_worker_free);

int record_worker_new(sd_event *event, const char *application_name, record_done_fn done, void *userdata,
                      struct record_worker **ret) {
        _cleanup_(record_worker_freep) struct record_worker *w = calloc(1, sizeof *w);
        if (!w)
                return log_error_errno(-ENOMEM, "Cannot start the recorder: %m");
        w->done = done;
        w->userdata = userdata;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->wake, NULL);
        pthread_cond_init(&w->finished, NULL);
        if (!(w->application_name = strdup(application_name)))
                return log_error_errno(-ENOMEM, "Cannot start the recorder: %m");
        int r = eventfd_source_new(event, "recorder", on_batch_done, w, &w->efd_source, &w->efd);
        if (r < 0)
                return r;
        r = -pthread_create(&w->thread, NULL, worker_main, w);
        if (r < 0)
                return log_error_errno(r, "Cannot start the recording thread: %m");
        w->started = true;
        *ret = TAKE_PTR(w);
        return 0;
}

int record_worker_submit(struct record_worker *w, const char *conninfo, const char *password,
                         const struct outbox_sent *sent, size_t n) {
        pthread_mutex_lock(&w->lock);
        int r = 0;
        if (w->state != BATCH_IDLE) {
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
        w->sent = sent;
        w->n = n;
        w->state = BATCH_QUEUED;
        pthread_cond_signal(&w->wake);
out:
        pthread_mutex_unlock(&w->lock);
        return r;
}

bool record_worker_busy(struct record_worker *w) {
        pthread_mutex_lock(&w->lock);
        bool busy = w->state != BATCH_IDLE;
        pthread_mutex_unlock(&w->lock);
        return busy;
}

void record_worker_wait(struct record_worker *w) {
        pthread_mutex_lock(&w->lock);
        while (w->state == BATCH_QUEUED)
                pthread_cond_wait(&w->finished, &w->lock);
        pthread_mutex_unlock(&w->lock);
        deliver(w);
}
