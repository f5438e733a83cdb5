#include "smtp_pool.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "log.h"

struct job {
        struct job *next;
        CURL *easy;
        void *userdata;
        CURLcode result;
};

/* A connection cache (SMTP session, DNS entries, TLS session) with its
 * own locks: the loop's thread resets and frees handles still attached to
 * it, and a handle moving to another worker leaves it. */
struct share {
        struct share *next; /* a worker's retired shares */
        CURLSH *share;
        pthread_mutex_t lock[CURL_LOCK_DATA_LAST];
};

/* One per thread.  libcurl does not support sharing a connection cache
 * between threads that run transfers at once (CURLSHOPT_SHARE(3)), so
 * each worker keeps a share of its own, attached to each handle it runs. */
struct worker {
        pthread_t thread;
        struct smtp_pool *pool;
        struct share *share;
        /* Shares replaced after a reload, freed once no handle uses them. */
        struct share *retired;
        unsigned generation; /* the pool's, when this share was made */
        bool aborted; /* a transfer was cut short: its session is unclean */
};

struct smtp_pool {
        sd_event_source *efd_source;
        int efd;
        struct worker **workers;
        unsigned n_threads;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct job *todo, *todo_tail, *done;
        bool stop;
        atomic_bool abort;
        /* Raised by smtp_pool_renew(): each worker starts a new share
         * before its next transfer. */
        atomic_uint generation;
        bool joined;
        smtp_pool_done_fn done_fn;
        void *userdata;
};

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userp) {
        (void)h, (void)access;
        struct share *s = userp;
        pthread_mutex_lock(&s->lock[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userp) {
        (void)h;
        struct share *s = userp;
        pthread_mutex_unlock(&s->lock[data]);
}

static struct share *share_new(void) {
        struct share *s = calloc(1, sizeof *s);
        if (!s)
                return NULL;
        s->share = curl_share_init();
        if (!s->share) {
                free(s);
                return NULL;
        }
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
                pthread_mutex_init(&s->lock[i], NULL);
        curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock);
        curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
        curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
        curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
        curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
        return s;
}

/* Cleaning up a share says QUIT on its cached sessions.  -EBUSY while a
 * handle is still attached to it. */
static int share_free(struct share *s) {
        if (curl_share_cleanup(s->share) != CURLSHE_OK)
                return -EBUSY;
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
                pthread_mutex_destroy(&s->lock[i]);
        free(s);
        return 0;
}

/* Retired shares no handle uses any more. */
static void worker_prune_retired(struct worker *w) {
        for (struct share **s = &w->retired; *s;) {
                struct share *next = (*s)->next;
                if (share_free(*s) == 0)
                        *s = next;
                else
                        s = &(*s)->next;
        }
}

static struct worker *worker_new(struct smtp_pool *p) {
        struct worker *w = calloc(1, sizeof *w);
        if (!w)
                return NULL;
        w->pool = p;
        w->generation = atomic_load(&p->generation);
        w->share = share_new();
        if (!w->share) {
                free(w);
                return NULL;
        }
        return w;
}

/* After the thread is joined and every handle is gone.  A session cut
 * short mid-DATA would first wait out the server's reply to QUIT (up to
 * the timeout): after an abort, let the process end take it instead. */
static void worker_free(struct worker *w) {
        if (!w)
                return;
        if (!w->aborted) {
                (void)share_free(w->share);
                worker_prune_retired(w);
        }
        free(w);
}

/* libcurl picks a cached connection by host, port and credentials, not by
 * CURLOPT_USE_SSL: after a reload to email.tls = "required" a session
 * opened in clear text would carry the next message in clear text.  So a
 * reload gives each worker a new share (new connections, made with the
 * new settings); the old one goes once no handle is attached to it. */
static void worker_renew_share(struct worker *w, unsigned generation) {
        struct share *fresh = share_new();
        if (!fresh)
                return; /* tried again before the next transfer */
        w->share->next = w->retired;
        w->retired = w->share;
        w->share = fresh;
        w->generation = generation;
}

/* Also called from libcurl's blocking SMTP loop about once a second, so
 * an abort reaches even a transfer waiting for the final reply. */
static int on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
        (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
        struct smtp_pool *p = clientp;
        return atomic_load(&p->abort) ? 1 : 0;
}

/* After a failed transaction, the session it ran on is not used again.
 * libcurl keeps a connection whose final reply (to the end of DATA) timed
 * out: the server's late answer to that message would then be read as the
 * answer to the next message's MAIL FROM, and every reply after it would
 * answer the command before.  Shutting the socket down (libcurl still
 * owns and closes it) makes libcurl's liveness check before reuse see it
 * dead, so the next message opens a new session, and the QUIT at cleanup
 * fails at once instead of waiting for a server that does not answer. */
static void drop_connection(CURL *easy) {
        curl_socket_t fd = CURL_SOCKET_BAD;
        if (curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK && fd != CURL_SOCKET_BAD)
                (void)shutdown(fd, SHUT_RDWR);
}

static void *worker(void *arg) {
        struct worker *w = arg;
        struct smtp_pool *p = w->pool;
        pthread_mutex_lock(&p->lock);
        for (;;) {
                while (!p->todo && !p->stop)
                        pthread_cond_wait(&p->cond, &p->lock);
                if (!p->todo)
                        break;
                struct job *j = p->todo;
                p->todo = j->next;
                if (!p->todo)
                        p->todo_tail = NULL;
                pthread_mutex_unlock(&p->lock);

                unsigned generation = atomic_load(&p->generation);
                if (w->generation != generation)
                        worker_renew_share(w, generation);
                if (w->generation != generation) {
                        /* No memory for a new share: not on the old one. */
                        j->result = CURLE_OUT_OF_MEMORY;
                } else {
                        curl_easy_setopt(j->easy, CURLOPT_SHARE, w->share->share);
                        j->result = atomic_load(&p->abort) ? CURLE_ABORTED_BY_CALLBACK : curl_easy_perform(j->easy);
                }
                if (j->result == CURLE_ABORTED_BY_CALLBACK)
                        w->aborted = true;
                else if (j->result != CURLE_OK)
                        drop_connection(j->easy);
                if (j->result != CURLE_ABORTED_BY_CALLBACK && w->retired)
                        worker_prune_retired(w);

                pthread_mutex_lock(&p->lock);
                j->next = p->done;
                p->done = j;
                uint64_t one = 1;
                if (write(p->efd, &one, sizeof one) < 0) {
                        /* The counter cannot overflow in practice; the loop
                         * picks the job up with the next completion. */
                }
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

static int on_completion(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        (void)s, (void)revents;
        struct smtp_pool *p = userdata;
        uint64_t n;
        if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
                return log_error_errno(-errno, "Reading SMTP completions: %m"), 0;
        smtp_pool_collect(p);
        return 0;
}

/* Takes a job list (done or todo) from under the lock, leaving it empty. */
static struct job *take_jobs(struct smtp_pool *p, struct job **list) {
        pthread_mutex_lock(&p->lock);
        struct job *jobs = *list;
        *list = NULL;
        if (list == &p->todo)
                p->todo_tail = NULL;
        pthread_mutex_unlock(&p->lock);
        return jobs;
}

void smtp_pool_collect(struct smtp_pool *p) {
        if (!p)
                return;
        struct job *list = take_jobs(p, &p->done);
        /* Completed in reverse; order does not matter for outcomes. */
        while (list) {
                struct job *j = list;
                list = j->next;
                p->done_fn(j->easy, j->result, j->userdata, p->userdata);
                free(j);
        }
}

int smtp_pool_new(sd_event *e, unsigned workers, smtp_pool_done_fn done, void *userdata, struct smtp_pool **ret) {
        _cleanup_(smtp_pool_freep) struct smtp_pool *p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        p->efd = -1;
        p->done_fn = done;
        p->userdata = userdata;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->cond, NULL);

        p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (p->efd < 0)
                return log_error_errno(-errno, "Cannot create eventfd: %m");
        int r = sd_event_add_io(e, &p->efd_source, p->efd, EPOLLIN, on_completion, p);
        if (r < 0)
                return log_error_errno(r, "Cannot watch SMTP completions: %m");
        sd_event_source_set_description(p->efd_source, "smtp-completions");

        /* glibc gives each new thread a malloc arena of its own (up to 8 per
         * CPU), ~60-80 kB resident apiece once curl has run in it: a
         * thread's allocations here are small and short-lived, so the
         * workers share one arena besides the main thread's.  This is the
         * process's setting, made before the first worker exists. */
        (void)mallopt(M_ARENA_MAX, 2);
        /* glibc's defaults hand the top of the heap back to the kernel once
         * 128 kB of it is free, and serve any block over 128 kB with its
         * own mmap: each message then grew and shrank the heap (brk) or
         * mapped and unmapped a buffer, and with several threads every
         * shrink is a TLB shootdown on each CPU: 4 connections, 10,000
         * e-mails, 7,500 brk calls and 40% more system time (the big
         * block is libcurl's 128 kB SMTP scratch buffer).  Fixed
         * thresholds just above it end the churn and keep at most 512 kB
         * of free heap (peak RSS at 100,000 queued: 15.4 MB). */
        (void)mallopt(M_MMAP_THRESHOLD, 256 * 1024);
        (void)mallopt(M_TRIM_THRESHOLD, 512 * 1024);
        r = smtp_pool_grow(p, workers);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

int smtp_pool_submit(struct smtp_pool *p, CURL *easy, void *userdata) {
        struct job *j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        j->easy = easy;
        j->userdata = userdata;
        curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(easy, CURLOPT_XFERINFODATA, p);
        pthread_mutex_lock(&p->lock);
        if (p->todo_tail)
                p->todo_tail->next = j;
        else
                p->todo = j;
        p->todo_tail = j;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
        return 0;
}

void smtp_pool_abort(struct smtp_pool *p) { atomic_store(&p->abort, true); }

void smtp_pool_renew(struct smtp_pool *p) {
        if (p)
                atomic_fetch_add(&p->generation, 1);
}

void smtp_pool_unqueue(struct smtp_pool *p, smtp_pool_unqueued_fn fn, void *userdata) {
        if (!p)
                return;
        struct job *list = take_jobs(p, &p->todo);
        while (list) {
                struct job *j = list;
                list = j->next;
                fn(j->easy, j->userdata, userdata);
                free(j);
        }
}

unsigned smtp_pool_workers(const struct smtp_pool *p) { return p ? p->n_threads : 0; }

/* Start workers until there are this many (at creation, and after a reload
 * that raised email.connections).  A transfer handed to the pool waits in
 * its queue for a free worker while its lease runs, so the dispatcher
 * queues at most one behind each worker, and only when the lease covers
 * both.  The pool never shrinks: surplus workers stay idle, since the
 * dispatcher keeps to the (lower) configured number. */
int smtp_pool_grow(struct smtp_pool *p, unsigned workers) {
        if (workers <= p->n_threads)
                return 0;
        struct worker **t = realloc(p->workers, workers * sizeof *t);
        if (!t)
                return -ENOMEM;
        p->workers = t;
        while (p->n_threads < workers) {
                struct worker *w = worker_new(p);
                if (!w)
                        return -ENOMEM;
                int r = -pthread_create(&w->thread, NULL, worker, w);
                if (r < 0) {
                        worker_free(w);
                        return log_error_errno(r, "Cannot start SMTP worker: %m");
                }
                p->workers[p->n_threads++] = w;
        }
        return 0;
}

void smtp_pool_join(struct smtp_pool *p) {
        if (!p || p->joined)
                return;
        atomic_store(&p->abort, true);
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        for (unsigned i = 0; i < p->n_threads; i++)
                pthread_join(p->workers[i]->thread, NULL);
        p->joined = true;
}

struct smtp_pool *smtp_pool_free(struct smtp_pool *p) {
        if (!p)
                return NULL;
        smtp_pool_join(p);
        /* Jobs never collected: their handles belong to the dispatcher,
         * which has already released them. */
        for (struct job *j = p->done, *next; j; j = next) {
                next = j->next;
                free(j);
        }
        for (struct job *j = p->todo, *next; j; j = next) {
                next = j->next;
                free(j);
        }
        sd_event_source_disable_unref(p->efd_source);
        if (p->efd >= 0)
                close(p->efd);
        for (unsigned i = 0; i < p->n_threads; i++)
                worker_free(p->workers[i]);
        free(p->workers);
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
}
