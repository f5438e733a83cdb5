/* Time zones read straight from TZif files, never via setenv("TZ").
 *
 * glibc's localtime_r()/mktime() only know the one zone named by the
 * process-wide TZ variable, and switching it is neither thread-safe nor
 * cheap, while rapport evaluates every job and customer in its own zone.  So
 * this module parses TZif (RFC 8536) itself: the 64-bit table when the file
 * has one, plus the POSIX TZ footer that governs every instant after the
 * table's last transition (slim files keep only a few transitions and rely
 * on the footer for everything since ~2007).
 *
 * Everything is built on one primitive, lookup(): the UTC offset in force at
 * an instant and the instant of the next transition.  Local -> UTC then walks
 * the offset segments around the wanted wall-clock time and takes the first
 * instant whose wall clock reaches it, which yields "first occurrence" for
 * folds and "transition instant" for gaps by construction. */
#include "tz.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>

#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"
#define TZ_NAME_MAX 255
#define TZIF_MAX_SIZE (4 * 1024 * 1024)
/* No real zone has been a day or more from UTC (tzdata's extremes are
 * about -15:57 and +15:13, both local mean time).  Offsets of 24 h or more
 * are refused: ISO 8601 (and so tz_parse_iso8601) cannot write them back,
 * and the local -> UTC search window below relies on a bound. */
#define TZ_OFFSET_MAX (24 * 3600 - 1)
/* Roughly +-31 million years: keeps every intermediate product in int64. */
#define TZ_INSTANT_MAX INT64_C(1000000000000000)
#define SECS_PER_DAY 86400

enum rule_kind { RULE_JULIAN_NOLEAP, RULE_JULIAN_ZERO, RULE_MONTH_WEEK_DAY };

struct rule_date {
        enum rule_kind kind;
        int n;       /* Jn: 1..365; n: 0..365 */
        int m, w, d; /* Mm.w.d */
        int32_t time; /* seconds after local midnight, may be negative or > 24h */
};

/* A POSIX TZ string such as "EST5EDT,M3.2.0,M11.1.0".  Offsets are stored
 * as seconds EAST of UTC (the opposite sign of the POSIX text). */
struct posix_tz {
        int32_t std_off, dst_off;
        bool has_dst;
        struct rule_date start, end;
};

struct tz_type {
        int32_t utoff;
        bool isdst;
};

struct tz {
        char *name;
        size_t n_trans, n_types;
        int64_t *trans;
        uint8_t *trans_type;
        struct tz_type *types;
        bool has_footer;
        struct posix_tz footer;
};

static int64_t floor_div(int64_t a, int64_t b) {
        int64_t q = a / b;
        return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b) { return a - floor_div(a, b) * b; }

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int64_t y, int m) {
        static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Howard Hinnant's days_from_civil: proleptic Gregorian, 1970-01-01 = 0. */
static int64_t days_from_civil(int64_t y, int m, int d) {
        y -= m <= 2;
        int64_t era = floor_div(y, 400);
        int64_t yoe = y - era * 400;
        int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y_ret, int *m_ret, int *d_ret) {
        z += 719468;
        int64_t era = floor_div(z, 146097);
        int64_t doe = z - era * 146097;
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        int64_t mp = (5 * doy + 2) / 153;
        int d = (int)(doy - (153 * mp + 2) / 5 + 1);
        int m = (int)(mp < 10 ? mp + 3 : mp - 9);
        *y_ret = yoe + era * 400 + (m <= 2);
        *m_ret = m;
        *d_ret = d;
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static int weekday_from_days(int64_t z) { return (int)floor_mod(z + 4, 7); }

/* ---- POSIX TZ strings ---------------------------------------------------- */

static const char *parse_tz_abbr(const char *s) {
        const char *p = s;
        if (*p == '<') {
                p++;
                while (isalnum((unsigned char)*p) || *p == '+' || *p == '-')
                        p++;
                if (*p != '>' || p - s < 2)
                        return NULL;
                return p + 1;
        }
        while (isalpha((unsigned char)*p))
                p++;
        return p - s >= 3 ? p : NULL;
}

static const char *parse_digits(const char *s, int maxdigits, int *ret) {
        int v = 0, n = 0;
        while (n < maxdigits && isdigit((unsigned char)*s)) {
                v = v * 10 + (*s - '0');
                s++;
                n++;
        }
        if (n == 0)
                return NULL;
        *ret = v;
        return s;
}

/* [+-]hh[:mm[:ss]] with hh <= max_hours; POSIX sign convention kept. */
static const char *parse_hms(const char *s, int max_hours, int32_t *ret) {
        int sign = 1, h, m = 0, sec = 0;
        if (*s == '+' || *s == '-')
                sign = *s++ == '-' ? -1 : 1;
        s = parse_digits(s, 3, &h);
        if (!s || h > max_hours)
                return NULL;
        if (*s == ':') {
                s = parse_digits(s + 1, 2, &m);
                if (!s || m > 59)
                        return NULL;
                if (*s == ':') {
                        s = parse_digits(s + 1, 2, &sec);
                        if (!s || sec > 59)
                                return NULL;
                }
        }
        *ret = sign * (h * 3600 + m * 60 + sec);
        return s;
}

static const char *parse_rule_date(const char *s, struct rule_date *r) {
        if (*s == 'J') {
                r->kind = RULE_JULIAN_NOLEAP;
                s = parse_digits(s + 1, 3, &r->n);
                if (!s || r->n < 1 || r->n > 365)
                        return NULL;
        } else if (*s == 'M') {
                r->kind = RULE_MONTH_WEEK_DAY;
                s = parse_digits(s + 1, 2, &r->m);
                if (!s || r->m < 1 || r->m > 12 || *s != '.')
                        return NULL;
                s = parse_digits(s + 1, 1, &r->w);
                if (!s || r->w < 1 || r->w > 5 || *s != '.')
                        return NULL;
                s = parse_digits(s + 1, 1, &r->d);
                if (!s || r->d > 6)
                        return NULL;
        } else {
                r->kind = RULE_JULIAN_ZERO;
                s = parse_digits(s, 3, &r->n);
                if (!s || r->n > 365)
                        return NULL;
        }
        r->time = 2 * 3600;
        if (*s == '/') {
                /* RFC 8536 extends the POSIX range to -167..167 hours. */
                s = parse_hms(s + 1, 167, &r->time);
                if (!s)
                        return NULL;
        }
        return s;
}

static int parse_posix_tz(const char *s, struct posix_tz *ret) {
        struct posix_tz p = {0};
        int32_t off;

        s = parse_tz_abbr(s);
        if (!s)
                return -EBADMSG;
        s = parse_hms(s, 24, &off);
        if (!s)
                return -EBADMSG;
        p.std_off = -off;
        p.dst_off = p.std_off;

        if (*s != '\0') {
                s = parse_tz_abbr(s);
                if (!s)
                        return -EBADMSG;
                p.has_dst = true;
                p.dst_off = p.std_off + 3600;
                if (*s != ',' && *s != '\0') {
                        s = parse_hms(s, 24, &off);
                        if (!s)
                                return -EBADMSG;
                        p.dst_off = -off;
                }
                if (*s == '\0') {
                        /* No rule given: glibc's and POSIX's customary US default. */
                        p.start = (struct rule_date){.kind = RULE_MONTH_WEEK_DAY, .m = 3, .w = 2, .d = 0, .time = 7200};
                        p.end = (struct rule_date){.kind = RULE_MONTH_WEEK_DAY, .m = 11, .w = 1, .d = 0, .time = 7200};
                } else {
                        if (*s != ',')
                                return -EBADMSG;
                        s = parse_rule_date(s + 1, &p.start);
                        if (!s || *s != ',')
                                return -EBADMSG;
                        s = parse_rule_date(s + 1, &p.end);
                        if (!s)
                                return -EBADMSG;
                }
        }
        if (*s != '\0')
                return -EBADMSG;
        *ret = p;
        return 0;
}

/* Instant at which a rule fires in `year`; the rule's time is wall-clock
 * time of the offset in force just before it. */
static int64_t rule_instant(const struct rule_date *r, int64_t year, int32_t off_before) {
        int64_t day;
        switch (r->kind) {
        case RULE_JULIAN_NOLEAP:
                day = days_from_civil(year, 1, 1) + r->n - 1 + (is_leap(year) && r->n >= 60);
                break;
        case RULE_JULIAN_ZERO:
                day = days_from_civil(year, 1, 1) + r->n;
                break;
        default: {
                int64_t first = days_from_civil(year, r->m, 1);
                int mday = 1 + (r->d - weekday_from_days(first) + 7) % 7 + (r->w - 1) * 7;
                while (mday > days_in_month(year, r->m))
                        mday -= 7;
                day = first + mday - 1;
                break;
        }
        }
        return day * SECS_PER_DAY + r->time - off_before;
}

static void footer_lookup(const struct posix_tz *p, int64_t t, int32_t *off, bool *isdst,
                          int64_t *next) {
        if (!p->has_dst) {
                *off = p->std_off;
                *isdst = false;
                *next = INT64_MAX;
                return;
        }

        /* Transitions of the neighbouring years too, so rules whose time
         * crosses New Year (or southern-hemisphere DST spanning it) need no
         * special cases.  At equal instants the end sorts first, so a zone
         * with DST all year (e.g. "EST5EDT4,0/0,J365/25") stays on DST. */
        struct event {
                int64_t at;
                bool dst;
        } ev[6], tmp;
        int64_t year;
        int mon_unused, mday_unused;
        civil_from_days(floor_div(t + p->std_off, SECS_PER_DAY), &year, &mon_unused, &mday_unused);
        size_t n = 0;
        for (int64_t y = year - 1; y <= year + 1; y++) {
                ev[n++] = (struct event){rule_instant(&p->end, y, p->dst_off), false};
                ev[n++] = (struct event){rule_instant(&p->start, y, p->std_off), true};
        }
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && (ev[j].at < ev[j - 1].at ||
                                             (ev[j].at == ev[j - 1].at && !ev[j].dst && ev[j - 1].dst));
                     j--) {
                        tmp = ev[j];
                        ev[j] = ev[j - 1];
                        ev[j - 1] = tmp;
                }

        bool dst = !ev[0].dst; /* state before the earliest event */
        *next = INT64_MAX;
        for (size_t i = 0; i < n; i++) {
                if (ev[i].at > t) {
                        *next = ev[i].at;
                        break;
                }
                dst = ev[i].dst;
        }
        *off = dst ? p->dst_off : p->std_off;
        *isdst = dst;
}

/* ---- lookup ---------------------------------------------------------------- */

static void lookup(const struct tz *tz, int64_t t, int32_t *off, bool *isdst, int64_t *next) {
        size_t type;

        if (tz->n_trans == 0 || t >= tz->trans[tz->n_trans - 1]) {
                if (tz->has_footer) {
                        footer_lookup(&tz->footer, t, off, isdst, next);
                        return;
                }
                type = tz->n_trans ? tz->trans_type[tz->n_trans - 1] : 0;
                *next = INT64_MAX;
        } else if (t < tz->trans[0]) {
                type = 0;
                *next = tz->trans[0];
        } else {
                size_t lo = 0, hi = tz->n_trans - 1; /* trans[lo] <= t < trans[hi] */
                while (hi - lo > 1) {
                        size_t mid = lo + (hi - lo) / 2;
                        if (tz->trans[mid] <= t)
                                lo = mid;
                        else
                                hi = mid;
                }
                type = tz->trans_type[lo];
                *next = tz->trans[hi];
        }
        *off = tz->types[type].utoff;
        *isdst = tz->types[type].isdst;
}

/* ---- TZif ------------------------------------------------------------------ */

static uint32_t be32(const uint8_t *p) {
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p) { return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4)); }

struct tzif_header {
        uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static int parse_tzif_header(const uint8_t *p, size_t len, struct tzif_header *h, char *version) {
        if (len < 44 || memcmp(p, "TZif", 4) != 0)
                return -EBADMSG;
        *version = (char)p[4];
        *h = (struct tzif_header){be32(p + 20), be32(p + 24), be32(p + 28),
                                  be32(p + 32), be32(p + 36), be32(p + 40)};
        if (h->typecnt == 0 || h->typecnt > 256 || h->charcnt == 0 ||
            (h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
            (h->isstdcnt != 0 && h->isstdcnt != h->typecnt) || h->timecnt > TZIF_MAX_SIZE ||
            h->leapcnt > TZIF_MAX_SIZE || h->charcnt > TZIF_MAX_SIZE)
                return -EBADMSG;
        return 0;
}

static size_t tzif_block_size(const struct tzif_header *h, size_t timesize) {
        return (size_t)h->timecnt * timesize + h->timecnt + (size_t)h->typecnt * 6 + h->charcnt +
               (size_t)h->leapcnt * (timesize + 4) + h->isstdcnt + h->isutcnt;
}

static int parse_tzif(const uint8_t *data, size_t len, struct tz *tz) {
        struct tzif_header h;
        char version;
        size_t timesize = 4;
        int r;

        r = parse_tzif_header(data, len, &h, &version);
        if (r < 0)
                return r;
        const uint8_t *p = data + 44, *end = data + len;
        if (tzif_block_size(&h, 4) > (size_t)(end - p))
                return -EBADMSG;

        if (version >= '2') {
                /* Skip the legacy 32-bit block; the 64-bit one follows. */
                p += tzif_block_size(&h, 4);
                char version2;
                r = parse_tzif_header(p, (size_t)(end - p), &h, &version2);
                if (r < 0)
                        return r;
                p += 44;
                timesize = 8;
                if (tzif_block_size(&h, 8) > (size_t)(end - p))
                        return -EBADMSG;
        }

        /* "right/" zones count leap seconds in their timestamps, which
         * would put every result ~30 s off POSIX time: refuse them. */
        if (h.leapcnt > 0)
                return -EOPNOTSUPP;

        tz->n_trans = h.timecnt;
        tz->n_types = h.typecnt;
        tz->trans = calloc(h.timecnt ? h.timecnt : 1, sizeof *tz->trans);
        tz->trans_type = calloc(h.timecnt ? h.timecnt : 1, 1);
        tz->types = calloc(h.typecnt, sizeof *tz->types);
        if (!tz->trans || !tz->trans_type || !tz->types)
                return -ENOMEM;

        for (size_t i = 0; i < h.timecnt; i++, p += timesize) {
                tz->trans[i] = timesize == 8 ? be64(p) : (int32_t)be32(p);
                if (i > 0 && tz->trans[i] <= tz->trans[i - 1])
                        return -EBADMSG;
        }
        for (size_t i = 0; i < h.timecnt; i++, p++) {
                if (*p >= h.typecnt)
                        return -EBADMSG;
                tz->trans_type[i] = *p;
        }
        for (size_t i = 0; i < h.typecnt; i++, p += 6) {
                int32_t utoff = (int32_t)be32(p);
                if (utoff < -TZ_OFFSET_MAX || utoff > TZ_OFFSET_MAX || p[4] > 1 || p[5] >= h.charcnt)
                        return -EBADMSG;
                tz->types[i] = (struct tz_type){utoff, p[4] == 1};
        }
        /* Abbreviations, leap seconds and the std/ut indicators are not needed. */
        p += h.charcnt + (size_t)h.leapcnt * (timesize + 4) + h.isstdcnt + h.isutcnt;

        if (timesize == 8) {
                if (p >= end || *p != '\n')
                        return -EBADMSG;
                const uint8_t *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
                if (!nl)
                        return -EBADMSG;
                size_t n = (size_t)(nl - p - 1);
                if (n > 0) {
                        char footer[256];
                        if (n >= sizeof footer || memchr(p + 1, '\0', n))
                                return -EBADMSG;
                        memcpy(footer, p + 1, n);
                        footer[n] = '\0';
                        r = parse_posix_tz(footer, &tz->footer);
                        if (r < 0)
                                return r;
                        int32_t dst_off = tz->footer.has_dst ? tz->footer.dst_off : tz->footer.std_off;
                        if (tz->footer.std_off < -TZ_OFFSET_MAX || tz->footer.std_off > TZ_OFFSET_MAX ||
                            dst_off < -TZ_OFFSET_MAX || dst_off > TZ_OFFSET_MAX)
                                return -EBADMSG;
                        tz->has_footer = true;
                }
        }
        return 0;
}

static bool tz_name_is_valid(const char *name) {
        size_t len = strlen(name);
        if (len == 0 || len > TZ_NAME_MAX || name[0] == '/')
                return false;
        bool component_start = true;
        for (const char *c = name; *c; c++) {
                if (component_start && (*c == '.' || *c == '/' || *c == '-'))
                        return false; /* "..", hidden files, "//", option-like */
                component_start = *c == '/';
                if (!isalnum((unsigned char)*c) && !strchr("/_+-.", *c))
                        return false;
        }
        return !component_start; /* no trailing '/' */
}

static int read_zone_file(const char *path, uint8_t **ret, size_t *len_ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT || errno == ENOTDIR || errno == EISDIR ? -ENOENT : -errno;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -ENOENT;
        if (st.st_size > TZIF_MAX_SIZE)
                return -EBADMSG;

        size_t cap = (size_t)st.st_size + 1, len = 0;
        _cleanup_free_ uint8_t *data = malloc(cap);
        if (!data)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, data + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len == cap)
                        return -EBADMSG; /* grew while reading: not a zone file */
        }
        *ret = TAKE_PTR(data);
        *len_ret = len;
        return 0;
}

struct tz *tz_free(struct tz *tz) {
        if (!tz)
                return NULL;
        free(tz->name);
        free(tz->trans);
        free(tz->trans_type);
        free(tz->types);
        free(tz);
        return NULL;
}

int tz_load(const char *name, struct tz **ret) {
        if (!name || !ret || !tz_name_is_valid(name))
                return -EINVAL;

        _cleanup_(tz_freep) struct tz *tz = calloc(1, sizeof *tz);
        if (!tz)
                return -ENOMEM;
        tz->name = strdup(name);
        if (!tz->name)
                return -ENOMEM;

        /* UTC works even where tzdata is not installed (minimal containers). */
        if (streq(name, "UTC") || streq(name, "Etc/UTC")) {
                tz->n_types = 1;
                tz->types = calloc(1, sizeof *tz->types);
                if (!tz->types)
                        return -ENOMEM;
                *ret = TAKE_PTR(tz);
                return 0;
        }

        const char *dir = getenv("TZDIR");
        if (!dir || !*dir)
                dir = TZ_DEFAULT_DIR;
        _cleanup_buf_ struct buf path = {0};
        int r = buf_printf(&path, "%s/%s", dir, name);
        if (r < 0)
                return r;

        _cleanup_free_ uint8_t *data = NULL;
        size_t len = 0;
        r = read_zone_file(path.data, &data, &len);
        if (r < 0)
                return r;
        r = parse_tzif(data, len, tz);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(tz);
        return 0;
}

const char *tz_name(const struct tz *tz) { return tz ? tz->name : NULL; }

/* ---- conversions ------------------------------------------------------------ */

int tz_localtime(const struct tz *tz, int64_t t, struct tm *ret, int *gmtoff_ret) {
        if (!tz || !ret)
                return -EINVAL;
        if (t < -TZ_INSTANT_MAX || t > TZ_INSTANT_MAX)
                return -ERANGE;

        int32_t off;
        bool isdst;
        int64_t next;
        lookup(tz, t, &off, &isdst, &next);

        int64_t local = t + off;
        int64_t days = floor_div(local, SECS_PER_DAY);
        int64_t secs = local - days * SECS_PER_DAY;
        int64_t year;
        int mon, mday;
        civil_from_days(days, &year, &mon, &mday);

        *ret = (struct tm){
                .tm_year = (int)(year - 1900),
                .tm_mon = mon - 1,
                .tm_mday = mday,
                .tm_hour = (int)(secs / 3600),
                .tm_min = (int)(secs / 60 % 60),
                .tm_sec = (int)(secs % 60),
                .tm_wday = weekday_from_days(days),
                .tm_yday = (int)(days - days_from_civil(year, 1, 1)),
                .tm_isdst = isdst,
#ifdef __USE_MISC
                .tm_gmtoff = off,
#endif
        };
        if (gmtoff_ret)
                *gmtoff_ret = off;
        return 0;
}

int tz_mktime(const struct tz *tz, int year, int mon, int mday, int hour, int min, int sec,
              int64_t *ret) {
        if (!tz || !ret || year < 0 || year > 9999 || mon < 1 || mon > 12 || mday < 1 ||
            mday > days_in_month(year, mon) || hour < 0 || hour > 23 || min < 0 || min > 59 ||
            sec < 0 || sec > 59)
                return -EINVAL;

        int64_t wall = days_from_civil(year, mon, mday) * SECS_PER_DAY + hour * 3600 + min * 60 + sec;

        /* Walk the constant-offset segments forward from well before `wall`
         * (two days exceed any offset, so the wall clock there is still
         * earlier).  The first segment whose clock reaches `wall` holds the
         * answer: inside it when the time exists (earliest pass of a fold),
         * at its start when the time was skipped. */
        int64_t t = wall - 2 * SECS_PER_DAY;
        for (int i = 0; i < 64; i++) {
                int32_t off;
                bool isdst;
                int64_t next;
                lookup(tz, t, &off, &isdst, &next);
                int64_t cand = wall - off > t ? wall - off : t;
                if (cand < next) {
                        *ret = cand;
                        return cand + off == wall ? 0 : 1;
                }
                t = next;
        }
        return -ERANGE;
}

int tz_format_iso8601(const struct tz *tz, int64_t t, char *buf, size_t len) {
        if (!buf)
                return -EINVAL;
        struct tm tm;
        int off;
        int r = tz_localtime(tz, t, &tm, &off);
        if (r < 0)
                return r;
        if (tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
                return -ERANGE;

        int aoff = off < 0 ? -off : off;
        char sign = off < 0 ? '-' : '+';
        int n;
        if (aoff % 60)
                n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d:%02d",
                             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                             tm.tm_sec, sign, aoff / 3600, aoff / 60 % 60, aoff % 60);
        else
                n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d",
                             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                             tm.tm_sec, sign, aoff / 3600, aoff / 60 % 60);
        if (n < 0)
                return -EINVAL;
        if ((size_t)n >= len)
                return -ENOBUFS;
        return 0;
}

/* Exactly n digits. */
static const char *iso_digits(const char *s, int n, int *ret) {
        int v = 0;
        for (int i = 0; i < n; i++) {
                if (!isdigit((unsigned char)s[i]))
                        return NULL;
                v = v * 10 + (s[i] - '0');
        }
        *ret = v;
        return s + n;
}

int tz_parse_iso8601(const char *s, const struct tz *tz_for_local, int64_t *ret) {
        int year, mon, mday, hour = 0, min = 0, sec = 0;

        if (!s || !ret)
                return -EINVAL;
        s = iso_digits(s, 4, &year);
        if (!s || *s != '-' || !(s = iso_digits(s + 1, 2, &mon)) || *s != '-' ||
            !(s = iso_digits(s + 1, 2, &mday)))
                return -EINVAL;
        if (mon < 1 || mon > 12 || mday < 1 || mday > days_in_month(year, mon))
                return -EINVAL;

        bool has_offset = false;
        int32_t off = 0;
        if (*s != '\0') {
                if (*s != 'T' && *s != 't' && *s != ' ')
                        return -EINVAL;
                if (!(s = iso_digits(s + 1, 2, &hour)) || *s != ':' || !(s = iso_digits(s + 1, 2, &min)))
                        return -EINVAL;
                if (*s == ':') {
                        if (!(s = iso_digits(s + 1, 2, &sec)))
                                return -EINVAL;
                        if (*s == '.' || *s == ',') {
                                s++;
                                if (!isdigit((unsigned char)*s))
                                        return -EINVAL;
                                while (isdigit((unsigned char)*s))
                                        s++;
                        }
                }
                if (hour > 23 || min > 59 || sec > 59)
                        return -EINVAL;

                if (*s == 'Z' || *s == 'z') {
                        has_offset = true;
                        s++;
                } else if (*s == '+' || *s == '-') {
                        int sign = *s == '-' ? -1 : 1, oh, om = 0, os = 0;
                        has_offset = true;
                        if (!(s = iso_digits(s + 1, 2, &oh)))
                                return -EINVAL;
                        if (*s == ':') {
                                if (!(s = iso_digits(s + 1, 2, &om)))
                                        return -EINVAL;
                                if (*s == ':' && !(s = iso_digits(s + 1, 2, &os)))
                                        return -EINVAL;
                        } else if (isdigit((unsigned char)*s)) {
                                if (!(s = iso_digits(s, 2, &om)))
                                        return -EINVAL;
                        }
                        if (oh > 23 || om > 59 || os > 59)
                                return -EINVAL;
                        off = sign * (oh * 3600 + om * 60 + os);
                }
                if (*s != '\0')
                        return -EINVAL;
        }

        if (has_offset) {
                *ret = days_from_civil(year, mon, mday) * SECS_PER_DAY + hour * 3600 + min * 60 + sec - off;
                return 0;
        }
        if (!tz_for_local)
                return -EINVAL;
        int64_t t;
        int r = tz_mktime(tz_for_local, year, mon, mday, hour, min, sec, &t);
        if (r < 0)
                return r;
        *ret = t;
        return 0;
}
