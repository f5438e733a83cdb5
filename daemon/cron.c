/* Cron expressions as bitmaps, and the next fire time in a time zone.
 *
 * Each field becomes a bitmap, so finding the next occurrence never steps
 * minute by minute: per month one bitmap of matching days is computed
 * arithmetically (day-of-month bits combined with the weekday pattern
 * shifted to that month's first weekday), and within a day the next hour and
 * minute are the next set bits.  A 400-year horizon (one full Gregorian
 * cycle) is therefore cheap and guarantees that any expression that can fire
 * at all is found.
 *
 * Day matching follows the classic Vixie cron rule: when both
 * day-of-month and day-of-week are restricted, a day matches if EITHER
 * matches; otherwise both must match.  "Restricted" means the field leaves
 * some day out, whatever its spelling: a star with a step (every other
 * day) restricts, "1-31" or "0-7" does not.  That is how the rule reads,
 * and how croniter applies it; Vixie's own code looks only at whether the
 * field starts with '*', so there a star with a step counts as
 * unrestricted -- a quirk no administrator would guess.
 *
 * Daylight saving time.  Fields are matched against local wall-clock time
 * in the job's zone; a matching wall-clock time fires at the instant it
 * denotes, with two rules for the times DST makes irregular:
 *   - A scheduled local time that does not exist (skipped by a spring-forward
 *     gap, e.g. 02:30 on the night clocks jump from 02:00 to 03:00) fires
 *     once, at the first instant after the gap, i.e. at the transition
 *     (03:00 new time).  Several scheduled times inside one gap collapse into
 *     that single firing, and if a regularly scheduled time (03:00 itself)
 *     falls on the same instant it is still one firing.
 *   - A local time that occurs twice (the hour repeated when clocks fall
 *     back) fires once, at its first occurrence.  So "30 1 * * *" fires at
 *     01:30 of the first pass only, and "0 * * * *" does not fire again
 *     during the repeated hour.
 * Both rules are tz_mktime()'s resolution of a wall-clock time.  Because
 * that resolution never decreases as the wall-clock time increases, the
 * next firing is simply the first matching wall-clock time, scanned in
 * order from the local time of `after`, whose instant lies after `after`
 * (only inside a repeated hour can an earlier-resolving time be skipped). */
#include "cron.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <strings.h>

#define CRON_EXPR_MAX 1024
#define CRON_SEARCH_MONTHS (400 * 12 + 1)

struct field_spec {
        const char *name;
        int min, max;
        int star_max; /* '*' in day-of-week means 0-6, not 0-7 */
        const char *const *names; /* names[i] denotes value min + i */
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const wday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

enum { F_MINUTE, F_HOUR, F_MDAY, F_MONTH, F_WDAY, N_FIELDS };

static const struct field_spec fields[N_FIELDS] = {
        [F_MINUTE] = {"minute", 0, 59, 59, NULL},
        [F_HOUR] = {"hour", 0, 23, 23, NULL},
        [F_MDAY] = {"day-of-month", 1, 31, 31, NULL},
        [F_MONTH] = {"month", 1, 12, 12, month_names},
        [F_WDAY] = {"day-of-week", 0, 7, 6, wday_names},
};

static const struct {
        const char *name, *expansion;
} macros[] = {
        {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"},  {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
};

_printf_(3, 4) static int fail(char *err, size_t errlen, const char *fmt, ...) {
        if (err && errlen > 0) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

/* One number or name starting at *p_io (the token runs to the next '-', '/'
 * or the end of the element); on success *p_io points after it. */
static int parse_value(const struct field_spec *f, const char **p_io, const char *end, int *ret,
                       char *err, size_t errlen) {
        const char *p = *p_io, *tok_end = p;
        while (tok_end < end && *tok_end != '-' && *tok_end != '/')
                tok_end++;
        int tok_len = (int)(tok_end - p);

        if (tok_len > 0 && isdigit((unsigned char)*p)) {
                long v = 0;
                const char *q = p;
                while (q < tok_end && isdigit((unsigned char)*q)) {
                        if (v < 1000000)
                                v = v * 10 + (*q - '0');
                        q++;
                }
                if (q != tok_end)
                        return fail(err, errlen, "%s: unknown value '%.*s'", f->name, tok_len, p);
                if (v < f->min || v > f->max)
                        return fail(err, errlen, "%s %.*s out of range %d-%d", f->name, tok_len, p,
                                    f->min, f->max);
                *ret = (int)v;
        } else {
                bool found = false;
                for (size_t i = 0; f->names && f->names[i]; i++)
                        if (tok_len == 3 && strncasecmp(p, f->names[i], 3) == 0) {
                                *ret = f->min + (int)i;
                                found = true;
                                break;
                        }
                if (!found)
                        return fail(err, errlen, "%s: unknown value '%.*s'", f->name, tok_len, p);
        }
        *p_io = tok_end;
        return 0;
}

/* One comma-separated element: '*', N, N-M, each optionally "/step". */
static int parse_element(const struct field_spec *f, const char *p, const char *end, uint64_t *mask,
                         char *err, size_t errlen) {
        const char *elem = p;
        int elem_len = (int)(end - p);
        int lo, hi, step = 1, r;

        if (p == end)
                return fail(err, errlen, "%s: empty list element", f->name);

        if (*p == '*') {
                lo = f->min;
                hi = f->star_max;
                p++;
                if (p < end && *p != '/')
                        return fail(err, errlen, "%s: unknown value '%.*s'", f->name, elem_len, elem);
        } else {
                if (*p == '-' || *p == '/')
                        return fail(err, errlen, "%s: unknown value '%.*s'", f->name, elem_len, elem);
                r = parse_value(f, &p, end, &lo, err, errlen);
                if (r < 0)
                        return r;
                hi = lo;
                if (p < end && *p == '-') {
                        p++;
                        if (p == end || *p == '-' || *p == '/')
                                return fail(err, errlen, "%s: unknown value '%.*s'", f->name,
                                            elem_len, elem);
                        r = parse_value(f, &p, end, &hi, err, errlen);
                        if (r < 0)
                                return r;
                        /* "fri-sun": Sunday closing a range is day 7. */
                        if (f == &fields[F_WDAY] && hi == 0 && lo > 0)
                                hi = 7;
                        if (hi < lo)
                                return fail(err, errlen, "%s: bad range '%.*s'", f->name, elem_len,
                                            elem);
                } else if (p < end && *p == '/')
                        /* "5/10" means 5-max/10; in the day of week max is
                         * 7 (Sunday), as in cronie and croniter, so "7/2"
                         * is Sunday and "5/1" Friday to Sunday. */
                        hi = f->max;
        }

        if (p < end && *p != '/')
                return fail(err, errlen, "%s: bad range '%.*s'", f->name, elem_len, elem);
        if (p < end) {
                const char *s = ++p;
                int s_len = (int)(end - s);
                long v = 0;
                for (; p < end && isdigit((unsigned char)*p); p++)
                        if (v < 1000000)
                                v = v * 10 + (*p - '0');
                /* A step as long as the field's span or longer hits only
                 * its start (step 60 over the minutes: minute 0), as in Vixie cron and
                 * croniter; only 0 and garbage are refused. */
                if (s_len == 0 || p != end || v < 1)
                        return fail(err, errlen, "%s: bad step '%.*s'", f->name, s_len, s);
                step = (int)v;
        }

        for (int v = lo; v <= hi; v += step)
                *mask |= UINT64_C(1) << v;
        return 0;
}

static int parse_field(const struct field_spec *f, const char *text, uint64_t *mask, char *err,
                       size_t errlen) {
        *mask = 0;
        for (const char *p = text;;) {
                const char *comma = strchr(p, ',');
                const char *end = comma ? comma : p + strlen(p);
                int r = parse_element(f, p, end, mask, err, errlen);
                if (r < 0)
                        return r;
                if (!comma)
                        return 0;
                p = comma + 1;
        }
}

/* Largest day each month can have, leap years included. */
static const int month_max_days[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

int cron_parse(const char *expr, struct cron *ret, char *err, size_t errlen) {
        char copy[CRON_EXPR_MAX];
        char *tok[N_FIELDS];
        int n = 0;

        if (err && errlen > 0)
                err[0] = '\0';
        if (!expr || !ret)
                return fail(err, errlen, "no expression");
        if (strlen(expr) >= sizeof copy)
                return fail(err, errlen, "expression too long");
        strcpy(copy, expr);

        for (char *p = copy;;) {
                while (*p && isspace((unsigned char)*p))
                        p++;
                if (!*p)
                        break;
                if (n < N_FIELDS)
                        tok[n] = p;
                n++;
                while (*p && !isspace((unsigned char)*p))
                        p++;
                if (*p)
                        *p++ = '\0';
        }

        if (n >= 1 && tok[0][0] == '@') {
                for (size_t i = 0; i < ELEMENTSOF(macros); i++)
                        if (strcasecmp(tok[0], macros[i].name) == 0) {
                                if (n != 1)
                                        return fail(err, errlen, "expected no fields after '%s', got %d",
                                                    tok[0], n - 1);
                                return cron_parse(macros[i].expansion, ret, err, errlen);
                        }
                return fail(err, errlen, "unknown macro '%s'", tok[0]);
        }
        if (n != N_FIELDS)
                return fail(err, errlen, "expected 5 fields, got %d", n);

        struct cron c = {0};
        uint64_t mask[N_FIELDS];
        for (int i = 0; i < N_FIELDS; i++) {
                int r = parse_field(&fields[i], tok[i], &mask[i], err, errlen);
                if (r < 0)
                        return r;
        }
        c.minutes = mask[F_MINUTE];
        c.hours = (uint32_t)mask[F_HOUR];
        c.mdays = (uint32_t)mask[F_MDAY];
        c.months = (uint16_t)mask[F_MONTH];
        c.wdays = (uint8_t)((mask[F_WDAY] | mask[F_WDAY] >> 7) & 0x7f); /* 7 is Sunday too */
        if (c.mdays == UINT32_C(0xfffffffe)) /* days 1-31: every day */
                c.flags |= CRON_DOM_STAR;
        if (c.wdays == 0x7f)
                c.flags |= CRON_DOW_STAR;

        /* With "both must match", a day-of-month that no selected month has
         * can never fire.  (Any date falls on every weekday within the
         * 400-year cycle, so the weekday cannot make it impossible; and with
         * the OR rule every selected weekday fires anyway.) */
        if (c.flags & (CRON_DOM_STAR | CRON_DOW_STAR)) {
                bool possible = false;
                for (int m = 1; m <= 12 && !possible; m++)
                        if (c.months & (1u << m))
                                possible = (c.mdays & ((UINT32_C(2) << month_max_days[m]) - 2)) != 0;
                if (!possible)
                        return fail(err, errlen,
                                    "never fires: day-of-month %s never occurs in the selected months",
                                    tok[F_MDAY]);
        }

        *ret = c;
        return 0;
}

/* ---- next fire time -------------------------------------------------------- */

static int next_bit(uint64_t mask, int from) {
        if (from < 0)
                from = 0;
        if (from >= 64)
                return -1;
        mask &= ~UINT64_C(0) << from;
        return mask ? __builtin_ctzll(mask) : -1;
}

static bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int y, int m) { return m == 2 && !is_leap(y) ? 28 : month_max_days[m]; }

/* Sakamoto's method; 0 = Sunday. */
static int weekday(int y, int m, int d) {
        static const int t[12] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};
        if (m < 3)
                y--;
        return (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7;
}

/* Bit d set for each matching day d of the month. */
static uint32_t month_day_mask(const struct cron *c, int y, int m) {
        uint32_t valid = (UINT32_C(2) << days_in_month(y, m)) - 2;
        int first_wday = weekday(y, m, 1);
        uint64_t week = 0;
        for (int w = 0; w < 7; w++)
                if (c->wdays & (1u << w))
                        week |= UINT64_C(1) << (1 + (w - first_wday + 7) % 7);
        uint32_t by_wday = (uint32_t)(week | week << 7 | week << 14 | week << 21 | week << 28) & valid;
        uint32_t by_mday = c->mdays & valid;
        if (c->flags & (CRON_DOM_STAR | CRON_DOW_STAR))
                return by_mday & by_wday;
        return by_mday | by_wday;
}

int cron_next(const struct cron *c, const struct tz *tz, int64_t after, int64_t *ret) {
        struct tm tm;
        int r;

        if (!c || !tz || !ret)
                return -EINVAL;
        r = tz_localtime(tz, after, &tm, NULL);
        if (r < 0)
                return r;

        /* Firings are whole minutes, so the first candidate is the minute
         * after the local time of `after` (whether or not seconds are 0). */
        int y = tm.tm_year + 1900, m = tm.tm_mon + 1, d = tm.tm_mday, h = tm.tm_hour,
            mi = tm.tm_min + 1;
        if (y < 0)
                return -ERANGE;

        for (int scanned = 0; scanned < CRON_SEARCH_MONTHS; scanned++) {
                if (c->months & (1u << m)) {
                        uint32_t days = month_day_mask(c, y, m) & ~((UINT32_C(1) << d) - 1);
                        for (; days; days &= days - 1) {
                                int dd = __builtin_ctz(days);
                                if (dd != d) {
                                        d = dd;
                                        h = 0;
                                        mi = 0;
                                }
                                for (int hh = next_bit(c->hours, h); hh >= 0; hh = next_bit(c->hours, hh + 1))
                                        for (int mm = next_bit(c->minutes, hh == h ? mi : 0); mm >= 0;
                                             mm = next_bit(c->minutes, mm + 1)) {
                                                int64_t t;
                                                r = tz_mktime(tz, y, m, dd, hh, mm, 0, &t);
                                                if (r < 0)
                                                        return r == -EINVAL ? -ERANGE : r;
                                                /* Only inside a repeated hour can t be <= after. */
                                                if (t > after) {
                                                        *ret = t;
                                                        return 0;
                                                }
                                        }
                                /* Past the start day: later days start at 00:00. */
                                h = 0;
                                mi = 0;
                        }
                }
                if (++m > 12) {
                        m = 1;
                        if (++y > 9999)
                                return -ERANGE;
                }
                d = 1;
                h = 0;
                mi = 0;
        }
        return -ERANGE;
}
