/* sd-event <-> curl multi, after systemd's src/import/curl-util.c.  One
 * io source per socket curl cares about (stored with curl_multi_assign so
 * lookups are O(1)), one oneshot timer re-armed whenever curl asks. */
#include "curl_glue.h"

#include <errno.h>
#include <stdint.h>
#include <time.h>

#include "log.h"

struct curl_glue {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        sd_event_source *now;  /* curl asked to be called again at once */
        curl_glue_done_fn done;
        unsigned running;
};

static void check_finished(struct curl_glue *g) {
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(g->multi, &left))) {
                if (msg->msg != CURLMSG_DONE)
                        continue;
                CURL *easy = msg->easy_handle;
                CURLcode result = msg->data.result;
                void *userdata = NULL;
                curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&userdata);
                curl_multi_remove_handle(g->multi, easy);
                g->running--;
                g->done(g, easy, result, userdata);
        }
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        (void)s;
        struct curl_glue *g = userdata;
        int action = 0, running;
        if (revents & (EPOLLIN | EPOLLHUP))
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & EPOLLERR)
                action |= CURL_CSELECT_ERR;
        if (curl_multi_socket_action(g->multi, fd, action, &running) != CURLM_OK)
                log_warning("curl_multi_socket_action failed on fd %d", fd);
        check_finished(g);
        return 0;
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        (void)easy;
        struct curl_glue *g = userp;
        sd_event_source *io = socketp;
        if (what == CURL_POLL_REMOVE) {
                if (io) {
                        sd_event_source_disable_unref(io);
                        curl_multi_assign(g->multi, fd, NULL);
                }
                return 0;
        }
        uint32_t events = (what == CURL_POLL_IN ? EPOLLIN : what == CURL_POLL_OUT ? EPOLLOUT : EPOLLIN | EPOLLOUT);
        if (io) {
                if (sd_event_source_set_io_events(io, events) < 0 ||
                    sd_event_source_set_enabled(io, SD_EVENT_ON) < 0)
                        return -1;
                return 0;
        }
        int r = sd_event_add_io(g->event, &io, fd, events, on_io, g);
        if (r < 0) {
                log_error_errno(r, "Cannot watch curl socket: %m");
                return -1;
        }
        sd_event_source_set_description(io, "curl-io");
        curl_multi_assign(g->multi, fd, io);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        (void)s, (void)usec;
        struct curl_glue *g = userdata;
        int running;
        curl_multi_socket_action(g->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_finished(g);
        return 0;
}

void curl_glue_kick(struct curl_glue *g) {
        int running;
        curl_multi_socket_action(g->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_finished(g);
}

static int on_now(sd_event_source *s, void *userdata) {
        return on_timer(s, 0, userdata);
}

/* curl re-arms its timer several times per transfer, mostly to "now" (0):
 * that runs from a defer source, with no timerfd_settime() system call, and
 * real timeouts (connect, transfer) get a coarse accuracy so that re-arming
 * them to nearly the same time leaves the timerfd alone. */
static int on_timer_request(CURLM *multi, long timeout_ms, void *userp) {
        (void)multi;
        struct curl_glue *g = userp;
        if (timeout_ms < 0) {
                if (sd_event_source_set_enabled(g->now, SD_EVENT_OFF) < 0 ||
                    sd_event_source_set_enabled(g->timer, SD_EVENT_OFF) < 0)
                        return -1;
                return 0;
        }
        if (timeout_ms == 0) {
                if (sd_event_source_set_enabled(g->timer, SD_EVENT_OFF) < 0 ||
                    sd_event_source_set_enabled(g->now, SD_EVENT_ONESHOT) < 0)
                        return -1;
                return 0;
        }
        uint64_t now;
        sd_event_now(g->event, CLOCK_MONOTONIC, &now);
        uint64_t accuracy = timeout_ms >= 1000 ? 50000 : timeout_ms >= 100 ? 5000 : 1000;
        if (sd_event_source_set_enabled(g->now, SD_EVENT_OFF) < 0 ||
            sd_event_source_set_time_accuracy(g->timer, accuracy) < 0 ||
            sd_event_source_set_time(g->timer, now + (uint64_t)timeout_ms * 1000) < 0 ||
            sd_event_source_set_enabled(g->timer, SD_EVENT_ONESHOT) < 0)
                return -1;
        return 0;
}

int curl_glue_new(sd_event *event, curl_glue_done_fn done, struct curl_glue **ret) {
        _cleanup_(curl_glue_freep) struct curl_glue *g = calloc(1, sizeof *g);
        if (!g)
                return -ENOMEM;
        g->event = sd_event_ref(event);
        g->done = done;
        g->multi = curl_multi_init();
        if (!g->multi)
                return -ENOMEM;
        int r = sd_event_add_time(event, &g->timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_timer, g);
        if (r < 0)
                return log_error_errno(r, "Cannot create curl timer: %m");
        sd_event_source_set_description(g->timer, "curl-timer");
        sd_event_source_set_enabled(g->timer, SD_EVENT_OFF);
        r = sd_event_add_defer(event, &g->now, on_now, g);
        if (r < 0)
                return log_error_errno(r, "Cannot create curl event: %m");
        sd_event_source_set_description(g->now, "curl-now");
        sd_event_source_set_enabled(g->now, SD_EVENT_OFF);
        curl_multi_setopt(g->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(g->multi, CURLMOPT_SOCKETDATA, g);
        curl_multi_setopt(g->multi, CURLMOPT_TIMERFUNCTION, on_timer_request);
        curl_multi_setopt(g->multi, CURLMOPT_TIMERDATA, g);
        *ret = TAKE_PTR(g);
        return 0;
}

void curl_glue_set_max_connections(struct curl_glue *g, long n) {
        curl_multi_setopt(g->multi, CURLMOPT_MAXCONNECTS, n);
}

int curl_glue_add(struct curl_glue *g, CURL *easy, void *userdata) {
        curl_easy_setopt(easy, CURLOPT_PRIVATE, userdata);
        if (curl_multi_add_handle(g->multi, easy) != CURLM_OK)
                return -EIO;
        g->running++;
        return 0;
}

void curl_glue_remove(struct curl_glue *g, CURL *easy) {
        if (curl_multi_remove_handle(g->multi, easy) == CURLM_OK)
                g->running--;
}

unsigned curl_glue_running(const struct curl_glue *g) { return g->running; }

struct curl_glue *curl_glue_free(struct curl_glue *g) {
        if (!g)
                return NULL;
        if (g->multi)
                curl_multi_cleanup(g->multi);
        sd_event_source_disable_unref(g->timer);
        sd_event_source_disable_unref(g->now);
        sd_event_unref(g->event);
        free(g);
        return NULL;
}
