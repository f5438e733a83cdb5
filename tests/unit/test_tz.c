/* Unit tests for daemon/tz.c: loading, UTC <-> local conversion (checked
 * against glibc, which may use TZ here because this is a test), the POSIX
 * footer rules, ISO 8601 formatting and parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>

#include "tz.h"
#include "util.h"

static struct tz *load(const char *name) {
        struct tz *tz = NULL;
        int r = tz_load(name, &tz);
        if (r < 0)
                fail_msg("tz_load(%s) = %d", name, r);
        return tz;
}

static const char *fmt(const struct tz *tz, int64_t t, char buf[static 64]) {
        int r = tz_format_iso8601(tz, t, buf, 64);
        if (r < 0)
                fail_msg("tz_format_iso8601(%lld) = %d", (long long)t, r);
        return buf;
}

static int64_t parse(const char *s, const struct tz *tz) {
        int64_t t = 0;
        int r = tz_parse_iso8601(s, tz, &t);
        if (r < 0)
                fail_msg("tz_parse_iso8601(%s) = %d", s, r);
        return t;
}

/* Instants from 'from' to 'to' compared field by field with glibc. */
static void check_against_glibc(const struct tz *tz, const char *tzenv, int64_t from, int64_t to,
                                int64_t step) {
        setenv("TZ", tzenv, 1);
        tzset();
        for (int64_t t = from; t <= to; t += step) {
                time_t tt = (time_t)t;
                struct tm want, got;
                int off;
                assert_non_null(localtime_r(&tt, &want));
                assert_int_equal(tz_localtime(tz, t, &got, &off), 0);
                if (want.tm_year != got.tm_year || want.tm_mon != got.tm_mon ||
                    want.tm_mday != got.tm_mday || want.tm_hour != got.tm_hour ||
                    want.tm_min != got.tm_min || want.tm_sec != got.tm_sec ||
                    want.tm_wday != got.tm_wday || want.tm_yday != got.tm_yday ||
                    want.tm_isdst != got.tm_isdst || want.tm_gmtoff != off)
                        fail_msg("%s at %lld: glibc %04d-%02d-%02d %02d:%02d:%02d off %ld dst %d, "
                                 "tz.c %04d-%02d-%02d %02d:%02d:%02d off %d dst %d",
                                 tzenv, (long long)t, want.tm_year + 1900, want.tm_mon + 1,
                                 want.tm_mday, want.tm_hour, want.tm_min, want.tm_sec,
                                 want.tm_gmtoff, want.tm_isdst, got.tm_year + 1900, got.tm_mon + 1,
                                 got.tm_mday, got.tm_hour, got.tm_min, got.tm_sec, off,
                                 got.tm_isdst);
        }
        unsetenv("TZ");
        tzset();
}

/* ---- loading ---------------------------------------------------------------- */

static void test_load_errors(void **state) {
        (void)state;
        struct tz *tz = NULL;
        assert_int_equal(tz_load("", &tz), -EINVAL);
        assert_int_equal(tz_load("../etc/passwd", &tz), -EINVAL);
        assert_int_equal(tz_load("America/../../etc/passwd", &tz), -EINVAL);
        assert_int_equal(tz_load("America/./New_York", &tz), -EINVAL);
        assert_int_equal(tz_load("/etc/localtime", &tz), -EINVAL);
        assert_int_equal(tz_load("America//New_York", &tz), -EINVAL);
        assert_int_equal(tz_load("America/", &tz), -EINVAL);
        assert_int_equal(tz_load("America/New York", &tz), -EINVAL);
        assert_int_equal(tz_load("EST5EDT,M3.2.0,M11.1.0", &tz), -EINVAL);
        assert_int_equal(tz_load(".hidden", &tz), -EINVAL);
        assert_int_equal(tz_load("Europe/Berlin\n", &tz), -EINVAL);
        assert_int_equal(tz_load(NULL, &tz), -EINVAL);
        assert_int_equal(tz_load("Mars/Olympus_Mons", &tz), -ENOENT);
        assert_int_equal(tz_load("America/New_York/x", &tz), -ENOENT);
        assert_int_equal(tz_load("America", &tz), -ENOENT); /* a directory */
        assert_int_equal(tz_load("zone.tab", &tz), -EBADMSG); /* not TZif */
        if (access("/usr/share/zoneinfo/right/UTC", R_OK) == 0)
                assert_int_equal(tz_load("right/UTC", &tz), -EOPNOTSUPP);
        assert_null(tz);
        assert_null(tz_free(NULL));
}

static void test_load_names(void **state) {
        (void)state;
        _cleanup_(tz_freep) struct tz *a = load("America/New_York");
        _cleanup_(tz_freep) struct tz *b = load("Etc/GMT+5");
        _cleanup_(tz_freep) struct tz *u = load("UTC");
        _cleanup_(tz_freep) struct tz *eu = load("Etc/UTC");
        char buf[64];
        assert_string_equal(tz_name(a), "America/New_York");
        assert_string_equal(tz_name(u), "UTC");
        assert_string_equal(tz_name(eu), "Etc/UTC");
        assert_string_equal(fmt(b, 0, buf), "1969-12-31T19:00:00-05:00");
        assert_string_equal(fmt(u, 0, buf), "1970-01-01T00:00:00+00:00");
        assert_string_equal(fmt(eu, 1700000000, buf), "2023-11-14T22:13:20+00:00");
        assert_string_equal(fmt(u, -1, buf), "1969-12-31T23:59:59+00:00");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void)st, (void)flag, (void)ftw;
        return remove(path);
}

static void rm_rf(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void write_bytes(const char *dir, const char *name, const void *data, size_t len) {
        _cleanup_free_ char *path = NULL;
        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
}

static void put32(struct buf *b, uint32_t v) {
        char c[4] = {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v};
        assert_int_equal(buf_append(b, c, 4), 0);
}

/* A TZif file without transitions, so the footer governs every instant
 * (the extreme case of a "slim" file). */
static void write_footer_zone(const char *dir, const char *name, char version, const char *footer) {
        _cleanup_buf_ struct buf b = {0};
        for (int block = 0; block < 2; block++) {
                assert_int_equal(buf_append(&b, "TZif", 4), 0);
                assert_int_equal(buf_append(&b, &version, 1), 0);
                assert_int_equal(buf_append(&b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15), 0);
                put32(&b, 0); /* isutcnt */
                put32(&b, 0); /* isstdcnt */
                put32(&b, 0); /* leapcnt */
                put32(&b, 0); /* timecnt */
                put32(&b, 1); /* typecnt */
                put32(&b, 4); /* charcnt */
                put32(&b, 0); /* utoff */
                assert_int_equal(buf_append(&b, "\0\0XXX\0", 6), 0); /* isdst, idx, chars */
        }
        assert_int_equal(buf_printf(&b, "\n%s\n", footer), 0);
        write_bytes(dir, name, b.data, b.len);
}

static void test_load_corrupt(void **state) {
        (void)state;
        char dir[] = "/tmp/test_tz.XXXXXX";
        assert_non_null(mkdtemp(dir));
        setenv("TZDIR", dir, 1);

        struct tz *tz = NULL;
        write_bytes(dir, "Empty", "", 0);
        assert_int_equal(tz_load("Empty", &tz), -EBADMSG);
        write_bytes(dir, "Garbage", "not a zone file at all, sorry, not even close....", 50);
        assert_int_equal(tz_load("Garbage", &tz), -EBADMSG);

        /* Valid header claiming more data than the file holds. */
        _cleanup_buf_ struct buf b = {0};
        assert_int_equal(buf_append(&b, "TZif2", 5), 0);
        assert_int_equal(buf_append(&b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15), 0);
        put32(&b, 0), put32(&b, 0), put32(&b, 0), put32(&b, 100), put32(&b, 1), put32(&b, 4);
        write_bytes(dir, "Truncated", b.data, b.len);
        assert_int_equal(tz_load("Truncated", &tz), -EBADMSG);

        write_footer_zone(dir, "BadFooter", '2', "EST5EDT,M3.2.0");
        assert_int_equal(tz_load("BadFooter", &tz), -EBADMSG);
        write_footer_zone(dir, "BadFooter2", '2', "EST5EDT,M13.2.0,M11.1.0");
        assert_int_equal(tz_load("BadFooter2", &tz), -EBADMSG);
        write_footer_zone(dir, "BadFooter3", '3', "E5");
        assert_int_equal(tz_load("BadFooter3", &tz), -EBADMSG);
        /* A day or more from UTC: ISO 8601 could not write such an offset
         * back, so the zone is refused rather than half-supported. */
        write_footer_zone(dir, "DayAhead", '2', "XXX-24");
        assert_int_equal(tz_load("DayAhead", &tz), -EBADMSG);
        write_footer_zone(dir, "DayAheadDst", '2', "XXX-23:30YYY,M3.2.0,M11.1.0");
        assert_int_equal(tz_load("DayAheadDst", &tz), -EBADMSG);
        write_footer_zone(dir, "AlmostDay", '2', "XXX-23:59:59");
        assert_int_equal(tz_load("AlmostDay", &tz), 0);
        tz = tz_free(tz);
        write_footer_zone(dir, "Good", '3', "EST5EDT,M3.2.0,M11.1.0");
        assert_int_equal(tz_load("Good", &tz), 0);
        assert_non_null(tz);
        tz = tz_free(tz);
        assert_null(tz);
        assert_int_equal(tz_load("America/New_York", &tz), -ENOENT); /* TZDIR honoured */

        unsetenv("TZDIR");
        rm_rf(dir);
}

/* ---- conversions against glibc -------------------------------------------- */

static const char *const zones[] = {
        "America/New_York", "Europe/Berlin",  "Australia/Lord_Howe", "Asia/Kolkata",
        "Asia/Kathmandu",   "Asia/Shanghai",  "America/Sao_Paulo",   "Pacific/Chatham",
        "America/St_Johns", "Europe/Dublin",  "Africa/Casablanca",   "Pacific/Apia",
        "America/Nuuk",     "Asia/Jerusalem", "Australia/Adelaide",  "Pacific/Kiritimati",
        "America/Santiago", "Europe/London",  "Asia/Tehran",         "UTC",
};

static void test_localtime_matches_glibc(void **state) {
        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(zones); i++) {
                _cleanup_(tz_freep) struct tz *tz = load(zones[i]);
                _cleanup_free_ char *env = NULL;
                assert_true(asprintf(&env, ":%s", zones[i]) > 0);
                /* 1901..2100 coarsely (table and footer), 2026..2028 and
                 * 2044..2046 every 15 minutes (every transition instant). */
                check_against_glibc(tz, env, INT64_C(-2145916800), INT64_C(4102444800), 7 * 3600 + 13 * 60 + 7);
                check_against_glibc(tz, env, INT64_C(1767225600), INT64_C(1830297600), 15 * 60);
                check_against_glibc(tz, env, INT64_C(2335219200), INT64_C(2398291200), 15 * 60);
        }
}

/* Footer-only files exercise every POSIX rule form; glibc parses the same
 * strings from TZ directly. */
static void test_footer_rules_match_glibc(void **state) {
        (void)state;
        static const char *const footers[] = {
                "EST5EDT,M3.2.0,M11.1.0",
                "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
                "<+0545>-5:45",
                "<-0330>3:30",
                "CET-1CEST,M3.5.0,M10.5.0/3",
                "NZST-12NZDT,M9.5.0,M4.1.0/3",
                "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1",
                "IST-2IDT,M3.4.4/26,M10.5.0",
                "XXX3YYY,J60/2,J300/2",
                "XXX3YYY,59/2,299/2",
                "AAA-9:30BBB-10:15:30,J2/0,J364/23:59:59",
                "<+13>-13",
                "<-12>12",
        };
        char dir[] = "/tmp/test_tz.XXXXXX";
        assert_non_null(mkdtemp(dir));
        for (size_t i = 0; i < ELEMENTSOF(footers); i++) {
                char name[32];
                snprintf(name, sizeof name, "Zone%zu", i);
                write_footer_zone(dir, name, i % 2 ? '2' : '3', footers[i]);
                setenv("TZDIR", dir, 1);
                _cleanup_(tz_freep) struct tz *tz = load(name);
                unsetenv("TZDIR");
                check_against_glibc(tz, footers[i], INT64_C(1704067200), INT64_C(1798761600), 15 * 60);
                /* glibc evaluates POSIX rules for years before 1970 as if they were
                 * 1970, so compare from 1970 on only. */
                check_against_glibc(tz, footers[i], 0, INT64_C(7258118400), 86400 * 3 + 3607);
        }
        rm_rf(dir);
}

/* Rules whose transitions sit right at New Year: glibc only looks at the
 * rules of the current UTC year there, so expectations are spelled out. */
static void test_footer_year_boundary(void **state) {
        (void)state;
        char dir[] = "/tmp/test_tz.XXXXXX", buf[64];
        assert_non_null(mkdtemp(dir));
        write_footer_zone(dir, "Edge", '2', "AAA-9:30BBB-10:15:30,J1/0,J365/23:59:59");
        write_footer_zone(dir, "Permanent", '3', "EST5EDT4,0/0,J365/25");
        write_footer_zone(dir, "NoRule", '2', "AAA8BBB");
        write_footer_zone(dir, "South", '2', "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0");
        setenv("TZDIR", dir, 1);
        _cleanup_(tz_freep) struct tz *edge = load("Edge");
        _cleanup_(tz_freep) struct tz *south = load("South");
        _cleanup_(tz_freep) struct tz *norule = load("NoRule");
        _cleanup_(tz_freep) struct tz *permanent = load("Permanent");
        unsetenv("TZDIR");
        rm_rf(dir);

        /* DST ends at 23:59:59 BBB on Dec 31 and restarts at 00:00 AAA. */
        assert_string_equal(fmt(edge, parse("2024-12-31T13:44:28Z", NULL), buf), "2024-12-31T23:59:58+10:15:30");
        assert_string_equal(fmt(edge, parse("2024-12-31T13:44:29Z", NULL), buf), "2024-12-31T23:14:29+09:30");
        assert_string_equal(fmt(edge, parse("2024-12-31T14:29:59Z", NULL), buf), "2024-12-31T23:59:59+09:30");
        assert_string_equal(fmt(edge, parse("2024-12-31T14:30:00Z", NULL), buf), "2025-01-01T00:45:30+10:15:30");
        /* RFC 8536's spelling of DST all year round. */
        for (int64_t t = INT64_C(1704067200) - 86400; t < INT64_C(1830297600); t += 3600 + 7) {
                struct tm tm;
                int off;
                assert_int_equal(tz_localtime(permanent, t, &tm, &off), 0);
                assert_int_equal(off, -4 * 3600);
                assert_int_equal(tm.tm_isdst, 1);
        }
        /* DST without rules: the customary M3.2.0,M11.1.0. */
        assert_string_equal(fmt(norule, parse("2027-03-14T09:59:59Z", NULL), buf), "2027-03-14T01:59:59-08:00");
        assert_string_equal(fmt(norule, parse("2027-03-14T10:00:00Z", NULL), buf), "2027-03-14T03:00:00-07:00");
        assert_string_equal(fmt(norule, parse("2027-11-07T09:00:00Z", NULL), buf), "2027-11-07T01:00:00-08:00");
        /* Southern hemisphere: DST spans New Year. */
        assert_string_equal(fmt(south, parse("2044-12-31T12:59:59Z", NULL), buf), "2044-12-31T23:59:59+11:00");
        assert_string_equal(fmt(south, parse("2045-01-01T00:00:00+11:00", NULL), buf), "2045-01-01T00:00:00+11:00");
        assert_string_equal(fmt(south, parse("2045-04-02T01:59:59+11:00", NULL), buf), "2045-04-02T01:59:59+11:00");
        assert_string_equal(fmt(south, parse("2045-04-02T01:30:00+10:30", NULL), buf), "2045-04-02T01:30:00+10:30");
        assert_string_equal(fmt(south, parse("2045-10-01T01:59:59+10:30", NULL), buf), "2045-10-01T01:59:59+10:30");
        assert_string_equal(fmt(south, parse("2045-10-01T02:30:00+11:00", NULL), buf), "2045-10-01T02:30:00+11:00");
}

/* Debian may ship slim files, where the footer covers everything after the
 * last rule change; compile them with zic and compare with the fat ones. */
static void test_slim_files_match_fat(void **state) {
        (void)state;
        if (access("/usr/sbin/zic", X_OK) < 0 || access("/usr/share/zoneinfo/tzdata.zi", R_OK) < 0)
                skip();
        char dir[] = "/tmp/test_tz.XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *cmd = NULL;
        assert_true(asprintf(&cmd, "/usr/sbin/zic -b slim -d %s /usr/share/zoneinfo/tzdata.zi", dir) > 0);
        assert_int_equal(system(cmd), 0);

        for (size_t i = 0; i < ELEMENTSOF(zones); i++) {
                if (streq(zones[i], "UTC"))
                        continue;
                _cleanup_(tz_freep) struct tz *fat = load(zones[i]);
                setenv("TZDIR", dir, 1);
                _cleanup_(tz_freep) struct tz *slim = load(zones[i]);
                unsetenv("TZDIR");
                for (int64_t t = INT64_C(-2145916800); t < INT64_C(7258118400); t += 4 * 3600 + 59) {
                        int a, b;
                        struct tm ta, tb;
                        assert_int_equal(tz_localtime(fat, t, &ta, &a), 0);
                        assert_int_equal(tz_localtime(slim, t, &tb, &b), 0);
                        if (a != b || ta.tm_isdst != tb.tm_isdst)
                                fail_msg("%s at %lld: fat %d slim %d", zones[i], (long long)t, a, b);
                }
        }
        rm_rf(dir);
}

static void test_localtime_fields(void **state) {
        (void)state;
        _cleanup_(tz_freep) struct tz *ny = load("America/New_York");
        struct tm tm;
        int off;
        /* 2027-03-14T07:00:00Z = 03:00 EDT, a Sunday, day 72 of the year. */
        assert_int_equal(tz_localtime(ny, INT64_C(1805007600), &tm, &off), 0);
        assert_int_equal(tm.tm_year, 127);
        assert_int_equal(tm.tm_mon, 2);
        assert_int_equal(tm.tm_mday, 14);
        assert_int_equal(tm.tm_hour, 3);
        assert_int_equal(tm.tm_min, 0);
        assert_int_equal(tm.tm_sec, 0);
        assert_int_equal(tm.tm_wday, 0);
        assert_int_equal(tm.tm_yday, 72);
        assert_int_equal(tm.tm_isdst, 1);
        assert_int_equal(off, -4 * 3600);
        /* One second earlier it is 01:59:59 EST. */
        assert_int_equal(tz_localtime(ny, INT64_C(1805007599), &tm, NULL), 0);
        assert_int_equal(tm.tm_hour, 1);
        assert_int_equal(tm.tm_min, 59);
        assert_int_equal(tm.tm_isdst, 0);
        assert_int_equal(tz_localtime(ny, INT64_MAX, &tm, NULL), -ERANGE);
}

/* ---- local -> UTC ------------------------------------------------------------ */

static void check_mktime(const char *zone, int y, int mo, int d, int h, int mi, int s, int want_r,
                         const char *want) {
        _cleanup_(tz_freep) struct tz *tz = load(zone);
        int64_t t;
        char buf[64];
        int r = tz_mktime(tz, y, mo, d, h, mi, s, &t);
        if (r != want_r)
                fail_msg("%s %04d-%02d-%02d %02d:%02d:%02d: r=%d, want %d", zone, y, mo, d, h, mi, s, r, want_r);
        assert_string_equal(fmt(tz, t, buf), want);
}

static void test_mktime_dst(void **state) {
        (void)state;
        /* Gaps resolve to the transition instant and return 1. */
        check_mktime("America/New_York", 2027, 3, 14, 2, 30, 0, 1, "2027-03-14T03:00:00-04:00");
        check_mktime("America/New_York", 2027, 3, 14, 2, 0, 0, 1, "2027-03-14T03:00:00-04:00");
        check_mktime("America/New_York", 2027, 3, 14, 2, 59, 59, 1, "2027-03-14T03:00:00-04:00");
        check_mktime("America/New_York", 2027, 3, 14, 3, 0, 0, 0, "2027-03-14T03:00:00-04:00");
        check_mktime("America/New_York", 2027, 3, 14, 1, 59, 59, 0, "2027-03-14T01:59:59-05:00");
        check_mktime("Europe/Berlin", 2027, 3, 28, 2, 15, 0, 1, "2027-03-28T03:00:00+02:00");
        check_mktime("Australia/Lord_Howe", 2027, 10, 3, 2, 10, 0, 1, "2027-10-03T02:30:00+11:00");
        check_mktime("Australia/Lord_Howe", 2027, 10, 3, 2, 30, 0, 0, "2027-10-03T02:30:00+11:00");
        /* Folds resolve to the first occurrence. */
        check_mktime("America/New_York", 2027, 11, 7, 1, 30, 0, 0, "2027-11-07T01:30:00-04:00");
        check_mktime("America/New_York", 2027, 11, 7, 2, 0, 0, 0, "2027-11-07T02:00:00-05:00");
        check_mktime("Europe/Berlin", 2027, 10, 31, 2, 30, 0, 0, "2027-10-31T02:30:00+02:00");
        check_mktime("Australia/Lord_Howe", 2027, 4, 4, 1, 45, 0, 0, "2027-04-04T01:45:00+11:00");
        check_mktime("Australia/Lord_Howe", 2027, 4, 4, 2, 0, 0, 0, "2027-04-04T02:00:00+10:30");
        /* No DST, odd offsets, footer years. */
        check_mktime("Asia/Kolkata", 2027, 3, 14, 2, 30, 0, 0, "2027-03-14T02:30:00+05:30");
        check_mktime("Asia/Kathmandu", 2027, 10, 3, 0, 0, 0, 0, "2027-10-03T00:00:00+05:45");
        check_mktime("America/New_York", 2045, 3, 12, 2, 30, 0, 1, "2045-03-12T03:00:00-04:00");
        check_mktime("America/New_York", 2045, 11, 5, 1, 30, 0, 0, "2045-11-05T01:30:00-04:00");
        check_mktime("Australia/Lord_Howe", 2049, 10, 3, 2, 0, 0, 1, "2049-10-03T02:30:00+11:00");
        check_mktime("UTC", 2028, 2, 29, 23, 59, 59, 0, "2028-02-29T23:59:59+00:00");
        /* Samoa skipped 2011-12-30 entirely. */
        check_mktime("Pacific/Apia", 2011, 12, 30, 12, 0, 0, 1, "2011-12-31T00:00:00+14:00");
}

static void test_mktime_invalid(void **state) {
        (void)state;
        _cleanup_(tz_freep) struct tz *tz = load("Europe/Berlin");
        int64_t t;
        assert_int_equal(tz_mktime(tz, 2027, 2, 29, 0, 0, 0, &t), -EINVAL);
        assert_int_equal(tz_mktime(tz, 2027, 13, 1, 0, 0, 0, &t), -EINVAL);
        assert_int_equal(tz_mktime(tz, 2027, 0, 1, 0, 0, 0, &t), -EINVAL);
        assert_int_equal(tz_mktime(tz, 2027, 4, 31, 0, 0, 0, &t), -EINVAL);
        assert_int_equal(tz_mktime(tz, 2027, 4, 1, 24, 0, 0, &t), -EINVAL);
        assert_int_equal(tz_mktime(tz, 2027, 4, 1, 0, 60, 0, &t), -EINVAL);
        assert_int_equal(tz_mktime(tz, 2027, 4, 1, 0, 0, 60, &t), -EINVAL);
        assert_int_equal(tz_mktime(tz, 10000, 1, 1, 0, 0, 0, &t), -EINVAL);
        assert_int_equal(tz_mktime(tz, 2028, 2, 29, 0, 0, 0, &t), 0);
}

/* Every instant maps back to itself, except in the repeated hour, where
 * mktime picks the first pass. */
static void test_mktime_roundtrip(void **state) {
        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(zones); i++) {
                _cleanup_(tz_freep) struct tz *tz = load(zones[i]);
                for (int64_t t = INT64_C(1700000000); t < INT64_C(2600000000); t += 3 * 3600 + 11 * 60 + 7) {
                        struct tm tm;
                        int64_t back;
                        assert_int_equal(tz_localtime(tz, t, &tm, NULL), 0);
                        assert_int_equal(tz_mktime(tz, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                                                   tm.tm_hour, tm.tm_min, tm.tm_sec, &back), 0);
                        if (back != t) {
                                /* Only legitimate when `back` is an earlier
                                 * instant with the same wall clock. */
                                struct tm tm2;
                                assert_true(back < t && t - back <= 3 * 3600);
                                assert_int_equal(tz_localtime(tz, back, &tm2, NULL), 0);
                                assert_int_equal(tm2.tm_hour, tm.tm_hour);
                                assert_int_equal(tm2.tm_min, tm.tm_min);
                                assert_int_equal(tm2.tm_mday, tm.tm_mday);
                        }
                }
        }
}

/* ---- ISO 8601 ------------------------------------------------------------------ */

static void test_format(void **state) {
        (void)state;
        _cleanup_(tz_freep) struct tz *ny = load("America/New_York");
        _cleanup_(tz_freep) struct tz *kol = load("Asia/Kolkata");
        _cleanup_(tz_freep) struct tz *ktm = load("Asia/Kathmandu");
        _cleanup_(tz_freep) struct tz *lh = load("Australia/Lord_Howe");
        char buf[64];
        assert_string_equal(fmt(ny, INT64_C(1805007600), buf), "2027-03-14T03:00:00-04:00");
        assert_string_equal(fmt(kol, INT64_C(1805007600), buf), "2027-03-14T12:30:00+05:30");
        assert_string_equal(fmt(ktm, INT64_C(1805007600), buf), "2027-03-14T12:45:00+05:45");
        assert_string_equal(fmt(lh, INT64_C(1805007600), buf), "2027-03-14T18:00:00+11:00");
        /* Local mean time has seconds in its offset. */
        assert_string_equal(fmt(ny, INT64_C(-3000000000), buf), "1874-12-07T13:43:58-04:56:02");

        char small[26];
        assert_int_equal(tz_format_iso8601(ny, 0, small, sizeof small), 0);
        assert_string_equal(small, "1969-12-31T19:00:00-05:00");
        assert_int_equal(tz_format_iso8601(ny, 0, small, sizeof small - 1), -ENOBUFS);
        assert_int_equal(tz_format_iso8601(ny, INT64_C(300000000000), buf, sizeof buf), -ERANGE);
}

static void test_parse_valid(void **state) {
        (void)state;
        _cleanup_(tz_freep) struct tz *ny = load("America/New_York");
        _cleanup_(tz_freep) struct tz *kol = load("Asia/Kolkata");
        const int64_t t = INT64_C(1805007600); /* 2027-03-14T07:00:00Z */
        char buf[64];

        assert_int_equal(parse("2027-03-14T03:00:00-04:00", NULL), t);
        assert_int_equal(parse("2027-03-14T07:00:00Z", NULL), t);
        assert_int_equal(parse("2027-03-14t07:00:00z", NULL), t);
        assert_int_equal(parse("2027-03-14T07:00:00+00:00", NULL), t);
        assert_int_equal(parse("2027-03-14T12:30:00+0530", NULL), t);
        assert_int_equal(parse("2027-03-14T12:30:00+05:30", NULL), t);
        assert_int_equal(parse("2027-03-14T09:00:00+02", NULL), t);
        assert_int_equal(parse("2027-03-14T07:00:00.123456Z", NULL), t);
        assert_int_equal(parse("2027-03-14T07:00:00,5Z", NULL), t);
        assert_int_equal(parse("2027-03-14T07:00Z", NULL), t);
        assert_int_equal(parse("2027-03-14 07:00:00Z", NULL), t);
        assert_int_equal(parse("1874-12-07T13:43:58-04:56:02", NULL), INT64_C(-3000000000));
        /* Without offset: local time in the given zone. */
        assert_int_equal(parse("2027-03-14T03:00", ny), t);
        assert_int_equal(parse("2027-03-14 03:00:00", ny), t);
        assert_int_equal(parse("2027-03-14T12:30:00", kol), t);
        assert_int_equal(parse("2027-03-14T02:30", ny), t); /* in the gap */
        assert_string_equal(fmt(ny, parse("2027-11-07T01:30:00", ny), buf), "2027-11-07T01:30:00-04:00");
        assert_string_equal(fmt(ny, parse("2027-03-14", ny), buf), "2027-03-14T00:00:00-05:00");
        assert_string_equal(fmt(kol, parse("2028-02-29", kol), buf), "2028-02-29T00:00:00+05:30");
}

static void test_parse_invalid(void **state) {
        (void)state;
        _cleanup_(tz_freep) struct tz *ny = load("America/New_York");
        static const char *const bad[] = {
                "",
                "2027",
                "2027-03",
                "2027-3-14",
                "27-03-14",
                "2027/03/14",
                "2027-03-14T",
                "2027-03-14T03",
                "2027-03-14T3:00",
                "2027-03-14T03:0",
                "2027-03-14T03:00:0",
                "2027-03-14T03:00:00.",
                "2027-03-14T03:00:00Zjunk",
                "2027-03-14T03:00:00-04:00 ",
                "2027-03-14 ",
                "2027-03-14x",
                "2027-03-14T03:00:00+5",
                "2027-03-14T03:00:00+05:3",
                "2027-03-14T03:00:00+24:00",
                "2027-03-14T03:00:00+05:60",
                "2027-03-14T03:00:00 +05:00",
                "2027-13-01",
                "2027-00-10",
                "2027-02-29",
                "2027-04-31",
                "2027-03-00",
                "2027-03-14T24:00:00Z",
                "2027-03-14T23:60:00Z",
                "2027-03-14T23:59:60Z",
                "2027-03-14X03:00:00Z",
                " 2027-03-14",
                "+2027-03-14",
                "next tuesday",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int64_t t = 42;
                if (tz_parse_iso8601(bad[i], ny, &t) != -EINVAL)
                        fail_msg("accepted '%s'", bad[i]);
                assert_int_equal(t, 42);
        }
        int64_t t;
        assert_int_equal(tz_parse_iso8601("2027-03-14T03:00", NULL, &t), -EINVAL);
        assert_int_equal(tz_parse_iso8601("2027-03-14", NULL, &t), -EINVAL);
        assert_int_equal(tz_parse_iso8601(NULL, ny, &t), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_load_errors),
                cmocka_unit_test(test_load_names),
                cmocka_unit_test(test_load_corrupt),
                cmocka_unit_test(test_localtime_matches_glibc),
                cmocka_unit_test(test_footer_rules_match_glibc),
                cmocka_unit_test(test_footer_year_boundary),
                cmocka_unit_test(test_slim_files_match_fat),
                cmocka_unit_test(test_localtime_fields),
                cmocka_unit_test(test_mktime_dst),
                cmocka_unit_test(test_mktime_invalid),
                cmocka_unit_test(test_mktime_roundtrip),
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_parse_valid),
                cmocka_unit_test(test_parse_invalid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
