/* LD_PRELOAD shim for the fault suite: this process sees a wall clock
 * RAPPORT_TEST_CLOCK_SKEW seconds off the real one (PostgreSQL's), as on a
 * host whose clock drifted.  Absolute CLOCK_REALTIME timers are shifted
 * back so they fire when the skewed clock says, as a skewed kernel clock
 * would; CLOCK_MONOTONIC is left alone.  libfaketime was tried first: it
 * also rewrites monotonic timerfd deadlines, which sd-event cannot survive. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>

static long skew_seconds(void) {
        static long skew;
        static int known;
        if (!known) {
                const char *s = getenv("RAPPORT_TEST_CLOCK_SKEW");
                skew = s ? strtol(s, NULL, 10) : 0;
                known = 1;
        }
        return skew;
}

static int is_wall_clock(clockid_t id) { return id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE; }

int clock_gettime(clockid_t id, struct timespec *ts) {
        static int (*real)(clockid_t, struct timespec *);
        if (!real)
                real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
        int r = real(id, ts);
        if (r == 0 && is_wall_clock(id))
                ts->tv_sec += skew_seconds();
        return r;
}

time_t time(time_t *t) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        if (t)
                *t = ts.tv_sec;
        return ts.tv_sec;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
        (void)tz;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        if (tv)
                *tv = (struct timeval){ts.tv_sec, ts.tv_nsec / 1000};
        return 0;
}

/* Which timerfds count wall-clock time (descriptors below 1024 suffice here). */
static unsigned char wall_timerfd[1024];

int timerfd_create(int clockid, int flags) {
        static int (*real)(int, int);
        if (!real)
                real = (int (*)(int, int))dlsym(RTLD_NEXT, "timerfd_create");
        int fd = real(clockid, flags);
        if (fd >= 0 && fd < 1024)
                wall_timerfd[fd] = is_wall_clock(clockid);
        return fd;
}

int timerfd_settime(int fd, int flags, const struct itimerspec *new, struct itimerspec *old) {
        static int (*real)(int, int, const struct itimerspec *, struct itimerspec *);
        if (!real)
                real = (int (*)(int, int, const struct itimerspec *, struct itimerspec *))dlsym(RTLD_NEXT, "timerfd_settime");
        struct itimerspec v = *new;
        if ((flags & TFD_TIMER_ABSTIME) && fd >= 0 && fd < 1024 && wall_timerfd[fd] &&
            (v.it_value.tv_sec || v.it_value.tv_nsec) && v.it_value.tv_sec > skew_seconds())
                v.it_value.tv_sec -= skew_seconds();
        return real(fd, flags, &v, old);
}
