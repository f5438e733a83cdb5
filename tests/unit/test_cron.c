/* Unit tests for daemon/cron.c: the parser (every syntax form and error
 * message), and cron_next across zones, leap years, month ends and DST
 * transitions, checked as formatted ISO 8601 strings and against a
 * minute-by-minute reference search. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <time.h>

#include "cron.h"
#include "tz.h"
#include "util.h"

static struct cron parse_ok(const char *expr) {
        struct cron c;
        char err[256] = "";
        int r = cron_parse(expr, &c, err, sizeof err);
        if (r != 0)
                fail_msg("cron_parse('%s') = %d: %s", expr, r, err);
        return c;
}

static void parse_fails(const char *expr, const char *want) {
        struct cron c = {0};
        char err[256] = "";
        int r = cron_parse(expr, &c, err, sizeof err);
        if (r != -EINVAL)
                fail_msg("cron_parse('%s') = %d, want -EINVAL", expr, r);
        if (!streq(err, want))
                fail_msg("cron_parse('%s'): '%s', want '%s'", expr, err, want);
}

static uint64_t bits(const int *v, size_t n) {
        uint64_t m = 0;
        for (size_t i = 0; i < n; i++)
                m |= UINT64_C(1) << v[i];
        return m;
}
#define BITS(...) bits((const int[]){__VA_ARGS__}, sizeof((const int[]){__VA_ARGS__}) / sizeof(int))

/* ---- parser ------------------------------------------------------------------ */

static void test_parse_star(void **state) {
        (void)state;
        struct cron c = parse_ok("* * * * *");
        assert_true(c.minutes == (UINT64_C(1) << 60) - 1);
        assert_int_equal(c.hours, (1u << 24) - 1);
        assert_int_equal(c.mdays, 0xfffffffeu);
        assert_int_equal(c.months, 0x1ffe);
        assert_int_equal(c.wdays, 0x7f);
        assert_int_equal(c.flags, CRON_DOM_STAR | CRON_DOW_STAR);
}

static void test_parse_forms(void **state) {
        (void)state;
        struct cron c;

        c = parse_ok("*/15 */6 1-31/2 */3 *");
        assert_true(c.minutes == BITS(0, 15, 30, 45));
        assert_int_equal(c.hours, BITS(0, 6, 12, 18));
        assert_int_equal(c.mdays, BITS(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31));
        assert_int_equal(c.months, BITS(1, 4, 7, 10));
        assert_int_equal(c.flags, CRON_DOW_STAR);

        c = parse_ok("5/10 3/7 10/10 11/1 1/2");
        assert_true(c.minutes == BITS(5, 15, 25, 35, 45, 55));
        assert_int_equal(c.hours, BITS(3, 10, 17));
        assert_int_equal(c.mdays, BITS(10, 20, 30));
        assert_int_equal(c.months, BITS(11, 12));
        assert_int_equal(c.wdays, BITS(0, 1, 3, 5)); /* 1-7/2: 7 is Sunday */
        assert_int_equal(c.flags, 0);

        c = parse_ok("0,59 1,2,5-7,23 1,15,31 1-3,12 0");
        assert_true(c.minutes == BITS(0, 59));
        assert_int_equal(c.hours, BITS(1, 2, 5, 6, 7, 23));
        assert_int_equal(c.mdays, BITS(1, 15, 31));
        assert_int_equal(c.months, BITS(1, 2, 3, 12));
        assert_int_equal(c.wdays, BITS(0));

        c = parse_ok("0-10/5,30-40/10 0-23/12 * * *");
        assert_true(c.minutes == BITS(0, 5, 10, 30, 40));
        assert_int_equal(c.hours, BITS(0, 12));

        c = parse_ok("  0\t9   *  *\t\tmon-fri  ");
        assert_true(c.minutes == BITS(0));
        assert_int_equal(c.hours, BITS(9));
        assert_int_equal(c.wdays, BITS(1, 2, 3, 4, 5));
        assert_int_equal(c.flags, CRON_DOM_STAR);
}

static void test_parse_names(void **state) {
        (void)state;
        struct cron c;
        c = parse_ok("0 0 * JAN,mar-May,Dec *");
        assert_int_equal(c.months, BITS(1, 3, 4, 5, 12));
        c = parse_ok("0 0 * jan-dec/2 *");
        assert_int_equal(c.months, BITS(1, 3, 5, 7, 9, 11));
        c = parse_ok("0 0 * * SUN,Mon,tue,WED,thu,fri,sat");
        assert_int_equal(c.wdays, 0x7f);
        c = parse_ok("0 0 * * mon-FRI");
        assert_int_equal(c.wdays, BITS(1, 2, 3, 4, 5));
        c = parse_ok("0 0 * * fri-sun");
        assert_int_equal(c.wdays, BITS(0, 5, 6));
        c = parse_ok("0 0 * * sat,sun");
        assert_int_equal(c.wdays, BITS(0, 6));
}

static void test_parse_sunday_is_0_and_7(void **state) {
        (void)state;
        assert_int_equal(parse_ok("0 0 * * 7").wdays, BITS(0));
        assert_int_equal(parse_ok("0 0 * * 0").wdays, BITS(0));
        assert_int_equal(parse_ok("0 0 * * 5-7").wdays, BITS(0, 5, 6));
        assert_int_equal(parse_ok("0 0 * * 0-7").wdays, 0x7f);
        assert_int_equal(parse_ok("0 0 * * 0-0").wdays, BITS(0));
        assert_int_equal(parse_ok("0 0 * * 6-7").wdays, BITS(0, 6));
        assert_int_equal(parse_ok("0 0 * * */2").wdays, BITS(0, 2, 4, 6));
        /* "N/step" runs to 7 like cronie and croniter: it never comes out
         * empty ("7/2" used to parse and then never fire). */
        assert_int_equal(parse_ok("0 0 * * 7/2").wdays, BITS(0));
        assert_int_equal(parse_ok("0 0 * * 5/1").wdays, BITS(0, 5, 6));
        assert_int_equal(parse_ok("0 0 * * 3/4").wdays, BITS(0, 3));
}

static void test_parse_macros(void **state) {
        (void)state;
        static const char *const pairs[][2] = {
                {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
                {"@weekly", "0 0 * * 0"},  {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
                {"@hourly", "0 * * * *"},  {"  @DAILY ", "0 0 * * *"}, {"@Hourly", "0 * * * *"},
        };
        for (size_t i = 0; i < ELEMENTSOF(pairs); i++) {
                struct cron a = parse_ok(pairs[i][0]), b = parse_ok(pairs[i][1]);
                assert_memory_equal(&a, &b, sizeof a);
        }
        parse_fails("@foo", "unknown macro '@foo'");
        parse_fails("@reboot", "unknown macro '@reboot'");
        parse_fails("@", "unknown macro '@'");
        parse_fails("@daily 5", "expected no fields after '@daily', got 1");
}

static void test_parse_errors(void **state) {
        (void)state;
        parse_fails("0 0 32 * *", "day-of-month 32 out of range 1-31");
        parse_fails("0 0 0 * *", "day-of-month 0 out of range 1-31");
        parse_fails("60 * * * *", "minute 60 out of range 0-59");
        parse_fails("* 24 * * *", "hour 24 out of range 0-23");
        parse_fails("* * * 13 *", "month 13 out of range 1-12");
        parse_fails("* * * 0 *", "month 0 out of range 1-12");
        parse_fails("* * * * 8", "day-of-week 8 out of range 0-7");
        parse_fails("1-99 * * * *", "minute 99 out of range 0-59");
        parse_fails("99999999999999999999 * * * *",
                    "minute 99999999999999999999 out of range 0-59");
        parse_fails("*/0 * * * *", "minute: bad step '0'");
        parse_fails("*/x * * * *", "minute: bad step 'x'");
        parse_fails("*/ * * * *", "minute: bad step ''");
        /* A step as long as the span hits only the start, as in Vixie cron and croniter. */
        assert_true(parse_ok("*/60 * * * *").minutes == BITS(0));
        assert_true(parse_ok("0 0 */31 * *").mdays == BITS(1));
        assert_true(parse_ok("0 0 * * */8").wdays == BITS(0));
        parse_fails("* */5x * * *", "hour: bad step '5x'");
        parse_fails("* 1/2/3 * * *", "hour: bad step '2/3'");
        parse_fails("0 x * * *", "hour: unknown value 'x'");
        parse_fails("1x * * * *", "minute: unknown value '1x'");
        parse_fails("*5 * * * *", "minute: unknown value '*5'");
        parse_fails("-5 * * * *", "minute: unknown value '-5'");
        parse_fails("1- * * * *", "minute: unknown value '1-'");
        parse_fails("/5 * * * *", "minute: unknown value '/5'");
        parse_fails("* * * foo *", "month: unknown value 'foo'");
        parse_fails("* * * january *", "month: unknown value 'january'");
        parse_fails("* * * * jan", "day-of-week: unknown value 'jan'");
        parse_fails("* * * * mon-xyz", "day-of-week: unknown value 'xyz'");
        parse_fails("* * mon * *", "day-of-month: unknown value 'mon'");
        parse_fails("10-5 * * * *", "minute: bad range '10-5'");
        parse_fails("* * * dec-jan *", "month: bad range 'dec-jan'");
        parse_fails("1-5-7 * * * *", "minute: bad range '1-5-7'");
        parse_fails("* * * * mon-fri-sat", "day-of-week: bad range 'mon-fri-sat'");
        parse_fails("1,,2 * * * *", "minute: empty list element");
        parse_fails("1, * * * *", "minute: empty list element");
        parse_fails("0 0 * *", "expected 5 fields, got 4");
        parse_fails("0 0 * * * *", "expected 5 fields, got 6");
        parse_fails("", "expected 5 fields, got 0");
        parse_fails("   \t ", "expected 5 fields, got 0");
        parse_fails("0 0 30 2 *", "never fires: day-of-month 30 never occurs in the selected months");
        parse_fails("0 0 31 4,6,9,11 *",
                    "never fires: day-of-month 31 never occurs in the selected months");
        parse_fails("0 0 30,31 feb *",
                    "never fires: day-of-month 30,31 never occurs in the selected months");

        /* Possible after all: Feb 29, and the OR rule firing on weekdays. */
        parse_ok("0 0 29 2 *");
        parse_ok("0 0 30 2 mon");
        parse_ok("0 0 30 2 */2"); /* a star with a step restricts: OR */
        parse_ok("0 0 */30 2 *");
        parse_ok("0 0 31 1,4 *");

        /* err is optional and always NUL-terminated. */
        struct cron c;
        assert_int_equal(cron_parse("0 0 32 * *", &c, NULL, 0), -EINVAL);
        char small[8];
        assert_int_equal(cron_parse("0 0 32 * *", &c, small, sizeof small), -EINVAL);
        assert_string_equal(small, "day-of-");
        char err[64] = "junk";
        assert_int_equal(cron_parse("0 0 1 * *", &c, err, sizeof err), 0);
        assert_string_equal(err, "");
}

/* ---- cron_next ------------------------------------------------------------------ */

/* Runs the expression from `from` and compares each firing with want[]. */
static void check_next(const char *zone, const char *expr, const char *from, const char *const *want,
                       size_t n) {
        _cleanup_(tz_freep) struct tz *tz = NULL;
        assert_int_equal(tz_load(zone, &tz), 0);
        struct cron c = parse_ok(expr);
        int64_t t;
        assert_int_equal(tz_parse_iso8601(from, tz, &t), 0);
        for (size_t i = 0; i < n; i++) {
                int64_t next;
                char buf[64];
                int r = cron_next(&c, tz, t, &next);
                if (r < 0)
                        fail_msg("%s '%s' after %s: %d", zone, expr, from, r);
                assert_true(next > t);
                assert_int_equal(tz_format_iso8601(tz, next, buf, sizeof buf), 0);
                if (!streq(buf, want[i]))
                        fail_msg("%s '%s' from %s, firing %zu: got %s, want %s", zone, expr, from,
                                 i + 1, buf, want[i]);
                t = next;
        }
}
#define CHECK_NEXT(zone, expr, from, ...)                                                    \
        check_next(zone, expr, from, (const char *const[]){__VA_ARGS__},                     \
                   sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static void test_next_basic(void **state) {
        (void)state;
        /* Strictly after, whole minutes. */
        CHECK_NEXT("UTC", "* * * * *", "2027-05-01T12:00:00Z", "2027-05-01T12:01:00+00:00",
                   "2027-05-01T12:02:00+00:00");
        CHECK_NEXT("UTC", "* * * * *", "2027-05-01T12:00:30Z", "2027-05-01T12:01:00+00:00");
        CHECK_NEXT("UTC", "* * * * *", "2027-12-31T23:59:59Z", "2028-01-01T00:00:00+00:00");
        CHECK_NEXT("UTC", "*/15 * * * *", "2027-05-01T12:07:00Z", "2027-05-01T12:15:00+00:00",
                   "2027-05-01T12:30:00+00:00", "2027-05-01T12:45:00+00:00", "2027-05-01T13:00:00+00:00");
        CHECK_NEXT("Etc/UTC", "5/20 */12 * * *", "2027-05-01T11:50:00Z", "2027-05-01T12:05:00+00:00",
                   "2027-05-01T12:25:00+00:00", "2027-05-01T12:45:00+00:00", "2027-05-02T00:05:00+00:00");
        /* 2027-03-12 is a Friday. */
        CHECK_NEXT("Asia/Kolkata", "0 9 * * mon-fri", "2027-03-12T10:00:00+05:30",
                   "2027-03-15T09:00:00+05:30", "2027-03-16T09:00:00+05:30");
        CHECK_NEXT("Asia/Kolkata", "0 9 * * 1-5", "2027-03-12T08:59:59+05:30",
                   "2027-03-12T09:00:00+05:30", "2027-03-15T09:00:00+05:30");
        CHECK_NEXT("Asia/Kathmandu", "*/15 * * * *", "2027-03-14T23:50:00+05:45",
                   "2027-03-15T00:00:00+05:45", "2027-03-15T00:15:00+05:45");
        CHECK_NEXT("Asia/Kathmandu", "@monthly", "2027-10-15T00:00:00Z", "2027-11-01T00:00:00+05:45",
                   "2027-12-01T00:00:00+05:45", "2028-01-01T00:00:00+05:45");
        CHECK_NEXT("Europe/Berlin", "@yearly", "2027-06-01T00:00:00Z", "2028-01-01T00:00:00+01:00",
                   "2029-01-01T00:00:00+01:00");
        CHECK_NEXT("Europe/Berlin", "@weekly", "2027-06-01T00:00:00Z", "2027-06-06T00:00:00+02:00",
                   "2027-06-13T00:00:00+02:00");
        CHECK_NEXT("America/New_York", "0 12 * * 7", "2027-06-01T00:00:00Z", "2027-06-06T12:00:00-04:00");
}

static void test_next_calendar(void **state) {
        (void)state;
        CHECK_NEXT("UTC", "0 0 29 2 *", "2025-01-01T00:00:00Z", "2028-02-29T00:00:00+00:00",
                   "2032-02-29T00:00:00+00:00");
        CHECK_NEXT("Europe/Berlin", "0 0 29 2 *", "2028-02-29T00:00:00+01:00", "2032-02-29T00:00:00+01:00");
        /* 2100 is not a leap year. */
        CHECK_NEXT("UTC", "0 0 29 2 *", "2097-01-01T00:00:00Z", "2104-02-29T00:00:00+00:00");
        CHECK_NEXT("UTC", "0 0 31 * *", "2027-01-31T00:00:00Z", "2027-03-31T00:00:00+00:00",
                   "2027-05-31T00:00:00+00:00", "2027-07-31T00:00:00+00:00", "2027-08-31T00:00:00+00:00",
                   "2027-10-31T00:00:00+00:00", "2027-12-31T00:00:00+00:00", "2028-01-31T00:00:00+00:00");
        CHECK_NEXT("America/New_York", "30 23 30 * *", "2027-01-30T23:30:00-05:00",
                   "2027-03-30T23:30:00-04:00", "2027-04-30T23:30:00-04:00");
        CHECK_NEXT("UTC", "0 0 1 1 *", "2027-12-31T23:59:59Z", "2028-01-01T00:00:00+00:00");
        /* Feb 29 across 2100, which is no leap year: eight years apart. */
        CHECK_NEXT("UTC", "0 0 29 2 *", "2097-01-01T00:00:00Z", "2104-02-29T00:00:00+00:00",
                   "2108-02-29T00:00:00+00:00");
        /* Both restricted, so either: Feb 29 or any Sunday in February. */
        CHECK_NEXT("UTC", "0 0 29 2 */7", "2028-01-01T00:00:00Z", "2028-02-06T00:00:00+00:00",
                   "2028-02-13T00:00:00+00:00", "2028-02-20T00:00:00+00:00");
}

static void test_next_vixie_rule(void **state) {
        (void)state;
        /* Both restricted: the 13th OR any Friday.  2027-01-01 is a Friday. */
        CHECK_NEXT("UTC", "0 0 13 * fri", "2027-01-01T00:00:00Z", "2027-01-08T00:00:00+00:00",
                   "2027-01-13T00:00:00+00:00", "2027-01-15T00:00:00+00:00", "2027-01-22T00:00:00+00:00");
        /* A field that covers every day restricts nothing, however it is
         * written: AND, Fridays only ... */
        CHECK_NEXT("UTC", "0 0 1-31 * fri", "2027-01-01T00:00:00Z", "2027-01-08T00:00:00+00:00",
                   "2027-01-15T00:00:00+00:00");
        CHECK_NEXT("UTC", "0 0 */1 * fri", "2027-01-01T00:00:00Z", "2027-01-08T00:00:00+00:00",
                   "2027-01-15T00:00:00+00:00");
        CHECK_NEXT("UTC", "0 0 * * fri", "2027-01-01T00:00:00Z", "2027-01-08T00:00:00+00:00");
        CHECK_NEXT("UTC", "0 0 13 * 0-7", "2027-01-01T00:00:00Z", "2027-01-13T00:00:00+00:00",
                   "2027-02-13T00:00:00+00:00");
        /* ... while a star with a step restricts (Vixie's code would AND
         * here, croniter and the rule as written OR): the 13th, and every
         * Sunday, Tuesday, Thursday and Saturday. */
        CHECK_NEXT("UTC", "0 0 13 * */2", "2027-01-01T00:00:00Z", "2027-01-02T00:00:00+00:00",
                   "2027-01-03T00:00:00+00:00", "2027-01-05T00:00:00+00:00", "2027-01-07T00:00:00+00:00");
        /* With the OR rule, Feb 30 never comes but Mondays in February do. */
        CHECK_NEXT("UTC", "0 0 30 2 mon", "2027-01-01T00:00:00Z", "2027-02-01T00:00:00+00:00",
                   "2027-02-08T00:00:00+00:00", "2027-02-15T00:00:00+00:00", "2027-02-22T00:00:00+00:00",
                   "2028-02-07T00:00:00+00:00");
}

static void test_next_new_york_dst(void **state) {
        (void)state;
        const char *ny = "America/New_York";
        /* Spring forward 2027-03-14: 02:00 EST -> 03:00 EDT. */
        CHECK_NEXT(ny, "30 2 * * *", "2027-03-13T12:00:00-05:00", "2027-03-14T03:00:00-04:00",
                   "2027-03-15T02:30:00-04:00");
        CHECK_NEXT(ny, "*/15 * * * *", "2027-03-14T01:30:00-05:00", "2027-03-14T01:45:00-05:00",
                   "2027-03-14T03:00:00-04:00", "2027-03-14T03:15:00-04:00");
        /* Gap times and the regular 03:00 are a single firing. */
        CHECK_NEXT(ny, "0,30 2-3 * * *", "2027-03-14T01:00:00-05:00", "2027-03-14T03:00:00-04:00",
                   "2027-03-14T03:30:00-04:00", "2027-03-15T02:00:00-04:00");
        CHECK_NEXT(ny, "0 * * * *", "2027-03-14T00:30:00-05:00", "2027-03-14T01:00:00-05:00",
                   "2027-03-14T03:00:00-04:00", "2027-03-14T04:00:00-04:00");
        /* Fall back 2027-11-07: 02:00 EDT -> 01:00 EST; 01:xx happens twice. */
        CHECK_NEXT(ny, "0 * * * *", "2027-11-07T00:00:00-04:00", "2027-11-07T01:00:00-04:00",
                   "2027-11-07T02:00:00-05:00", "2027-11-07T03:00:00-05:00");
        CHECK_NEXT(ny, "0 * * * *", "2027-11-07T01:30:00-05:00", "2027-11-07T02:00:00-05:00");
        CHECK_NEXT(ny, "30 1 * * *", "2027-11-06T12:00:00-04:00", "2027-11-07T01:30:00-04:00",
                   "2027-11-08T01:30:00-05:00");
        CHECK_NEXT(ny, "30 1 * * *", "2027-11-07T01:00:00-05:00", "2027-11-08T01:30:00-05:00");
        CHECK_NEXT(ny, "*/20 1 * * *", "2027-11-07T00:59:00-04:00", "2027-11-07T01:00:00-04:00",
                   "2027-11-07T01:20:00-04:00", "2027-11-07T01:40:00-04:00", "2027-11-08T01:00:00-05:00");
        /* Footer years. */
        CHECK_NEXT(ny, "30 2 * * *", "2045-03-11T12:00:00-05:00", "2045-03-12T03:00:00-04:00",
                   "2045-03-13T02:30:00-04:00");
        CHECK_NEXT(ny, "0 * * * *", "2045-11-05T00:30:00-04:00", "2045-11-05T01:00:00-04:00",
                   "2045-11-05T02:00:00-05:00");
        CHECK_NEXT(ny, "0 9 * * mon-fri", "2061-12-30T10:00:00-05:00", "2062-01-02T09:00:00-05:00");
}

static void test_next_berlin_dst(void **state) {
        (void)state;
        const char *be = "Europe/Berlin";
        /* 2027-03-28: 02:00 CET -> 03:00 CEST. */
        CHECK_NEXT(be, "30 2 * * *", "2027-03-27T12:00:00+01:00", "2027-03-28T03:00:00+02:00",
                   "2027-03-29T02:30:00+02:00");
        CHECK_NEXT(be, "*/15 * * * *", "2027-03-28T01:40:00+01:00", "2027-03-28T01:45:00+01:00",
                   "2027-03-28T03:00:00+02:00", "2027-03-28T03:15:00+02:00");
        /* 2027-10-31: 03:00 CEST -> 02:00 CET; 02:xx happens twice. */
        CHECK_NEXT(be, "*/30 * * * *", "2027-10-31T01:45:00+02:00", "2027-10-31T02:00:00+02:00",
                   "2027-10-31T02:30:00+02:00", "2027-10-31T03:00:00+01:00");
        CHECK_NEXT(be, "0 2 * * *", "2027-10-30T12:00:00+02:00", "2027-10-31T02:00:00+02:00",
                   "2027-11-01T02:00:00+01:00");
        CHECK_NEXT(be, "0 2 * * *", "2027-10-31T02:00:00+01:00", "2027-11-01T02:00:00+01:00");
        CHECK_NEXT(be, "0 3 * * *", "2027-10-31T02:30:00+01:00", "2027-10-31T03:00:00+01:00");
        /* Footer years. */
        CHECK_NEXT(be, "30 2 * * *", "2050-03-26T12:00:00+01:00", "2050-03-27T03:00:00+02:00");
}

static void test_next_lord_howe_dst(void **state) {
        (void)state;
        const char *lh = "Australia/Lord_Howe";
        /* 2027-04-04: 02:00 +11 -> 01:30 +10:30; 01:30-01:59 twice. */
        CHECK_NEXT(lh, "*/15 * * * *", "2027-04-04T01:30:00+11:00", "2027-04-04T01:45:00+11:00",
                   "2027-04-04T02:00:00+10:30", "2027-04-04T02:15:00+10:30");
        CHECK_NEXT(lh, "45 1 * * *", "2027-04-03T12:00:00+11:00", "2027-04-04T01:45:00+11:00",
                   "2027-04-05T01:45:00+10:30");
        /* 2027-10-03: 02:00 +10:30 -> 02:30 +11. */
        CHECK_NEXT(lh, "*/15 * * * *", "2027-10-03T01:30:00+10:30", "2027-10-03T01:45:00+10:30",
                   "2027-10-03T02:30:00+11:00", "2027-10-03T02:45:00+11:00");
        CHECK_NEXT(lh, "15 2 * * *", "2027-10-02T12:00:00+10:30", "2027-10-03T02:30:00+11:00",
                   "2027-10-04T02:15:00+11:00");
        /* Footer years. */
        CHECK_NEXT(lh, "0 2 * * *", "2049-10-02T12:00:00+10:30", "2049-10-03T02:30:00+11:00",
                   "2049-10-04T02:00:00+11:00");
}

/* Asia/Kolkata today has no DST, but tzdata records four wartime
 * transitions at local midnight: the gaps 1941-10-01 and 1942-09-01
 * (00:00 IST -> 01:00 +06:30) and the folds 1942-05-15 and 1945-10-15
 * (00:00 +06:30 -> 23:00 IST the day before). */
static void test_next_kolkata_dst(void **state) {
        (void)state;
        const char *ko = "Asia/Kolkata";
        CHECK_NEXT(ko, "30 0 * * *", "1941-09-30T12:00:00+05:30", "1941-10-01T01:00:00+06:30",
                   "1941-10-02T00:30:00+06:30");
        CHECK_NEXT(ko, "*/20 * * * *", "1942-08-31T23:30:00+05:30", "1942-08-31T23:40:00+05:30",
                   "1942-09-01T01:00:00+06:30", "1942-09-01T01:20:00+06:30");
        CHECK_NEXT(ko, "30 23 * * *", "1942-05-14T12:00:00+06:30", "1942-05-14T23:30:00+06:30",
                   "1942-05-15T23:30:00+05:30");
        CHECK_NEXT(ko, "*/30 * * * *", "1942-05-14T23:15:00+06:30", "1942-05-14T23:30:00+06:30",
                   "1942-05-15T00:00:00+05:30", "1942-05-15T00:30:00+05:30");
        CHECK_NEXT(ko, "0 23 * * *", "1945-10-14T12:00:00+06:30", "1945-10-14T23:00:00+06:30",
                   "1945-10-15T23:00:00+05:30");
        /* From inside the repeated hour (second pass): nothing repeats. */
        CHECK_NEXT(ko, "30 23 * * *", "1945-10-14T23:10:00+05:30", "1945-10-15T23:30:00+05:30");
}

static void test_next_errors(void **state) {
        (void)state;
        _cleanup_(tz_freep) struct tz *utc = NULL;
        assert_int_equal(tz_load("UTC", &utc), 0);
        int64_t t;
        /* A hand-built expression that never fires ends quickly: in CPU
         * time (well under a millisecond), which a loaded machine does not
         * stretch as it does the wall clock. */
        struct cron never = parse_ok("* * * * *");
        never.mdays = 0;
        struct timespec a, b;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        assert_int_equal(cron_next(&never, utc, 0, &t), -ERANGE);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        assert_true((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 100000000L);
        /* Nothing left before year 10000. */
        struct cron leap = parse_ok("0 0 29 2 *");
        assert_int_equal(tz_parse_iso8601("9997-01-01T00:00:00Z", NULL, &t), 0);
        assert_int_equal(cron_next(&leap, utc, t, &t), -ERANGE);
        assert_int_equal(cron_next(NULL, utc, 0, &t), -EINVAL);
        assert_int_equal(cron_next(&leap, NULL, 0, &t), -EINVAL);
}

/* ---- reference search ------------------------------------------------------------ */

static bool matches(const struct cron *c, const struct tm *tm) {
        if (!(c->minutes >> tm->tm_min & 1) || !(c->hours >> tm->tm_hour & 1) ||
            !(c->months >> (tm->tm_mon + 1) & 1))
                return false;
        bool dom = c->mdays >> tm->tm_mday & 1, dow = c->wdays >> tm->tm_wday & 1;
        return (c->flags & (CRON_DOM_STAR | CRON_DOW_STAR)) ? dom && dow : dom || dow;
}

/* Every wall-clock minute in order, each resolved like tz_mktime does; the
 * earliest resulting instant after `after` wins.  The scan continues a few
 * hours past the first hit so no ordering assumption is built in. */
static int64_t reference_next(const struct cron *c, const struct tz *tz, const struct tz *utc,
                              int64_t after, int days) {
        struct tm tm;
        int64_t wall, best = INT64_MAX, stop = INT64_MAX;
        assert_int_equal(tz_localtime(tz, after, &tm, NULL), 0);
        assert_int_equal(tz_mktime(utc, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                   tm.tm_min, 0, &wall), 0);
        for (int64_t w = wall - 3 * 3600; w < wall + days * 86400 && w < stop; w += 60) {
                int64_t t;
                assert_int_equal(tz_localtime(utc, w, &tm, NULL), 0);
                if (!matches(c, &tm))
                        continue;
                assert_true(tz_mktime(tz, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                      tm.tm_min, 0, &t) >= 0);
                if (t > after && t < best) {
                        best = t;
                        if (stop == INT64_MAX)
                                stop = w + 4 * 3600;
                }
        }
        return best;
}

static void test_next_matches_reference(void **state) {
        (void)state;
        static const char *const exprs[] = {
                "*/15 * * * *", "30 2 * * *",       "0 * * * *", "0,30 1-3 * * *",
                "0 9 * * mon-fri", "*/7 */5 * * *", "45 1 * * 0", "59 23 * * *",
                "0 0 1-7 * mon",  "0 12 15 * *",
        };
        static const struct {
                const char *zone, *around;
        } cases[] = {
                {"America/New_York", "2027-03-14T07:00:00Z"},   {"America/New_York", "2027-11-07T06:00:00Z"},
                {"Europe/Berlin", "2027-03-28T01:00:00Z"},      {"Europe/Berlin", "2027-10-31T01:00:00Z"},
                {"Australia/Lord_Howe", "2027-04-03T15:00:00Z"}, {"Australia/Lord_Howe", "2027-10-02T15:30:00Z"},
                {"Asia/Kathmandu", "2027-01-01T00:00:00Z"},     {"America/New_York", "2046-03-11T07:00:00Z"},
                {"Pacific/Chatham", "2027-04-04T14:00:00Z"},    {"America/St_Johns", "2027-11-07T04:30:00Z"},
                {"Asia/Kolkata", "1941-09-30T18:30:00Z"},       {"Asia/Kolkata", "1942-05-14T17:30:00Z"},
        };
        _cleanup_(tz_freep) struct tz *utc = NULL;
        assert_int_equal(tz_load("UTC", &utc), 0);
        for (size_t z = 0; z < ELEMENTSOF(cases); z++) {
                _cleanup_(tz_freep) struct tz *tz = NULL;
                assert_int_equal(tz_load(cases[z].zone, &tz), 0);
                int64_t around;
                assert_int_equal(tz_parse_iso8601(cases[z].around, NULL, &around), 0);
                for (size_t e = 0; e < ELEMENTSOF(exprs); e++) {
                        struct cron c = parse_ok(exprs[e]);
                        for (int64_t after = around - 86400; after < around + 86400; after += 47 * 60 + 13) {
                                int64_t got, want = reference_next(&c, tz, utc, after, 40);
                                assert_int_equal(cron_next(&c, tz, after, &got), 0);
                                if (got != want)
                                        fail_msg("%s '%s' after %lld: got %lld want %lld", cases[z].zone,
                                                 exprs[e], (long long)after, (long long)got, (long long)want);
                        }
                        /* Also at the exact firing instants. */
                        int64_t t = around - 86400;
                        for (int i = 0; i < 50; i++) {
                                int64_t got;
                                assert_int_equal(cron_next(&c, tz, t, &got), 0);
                                assert_int_equal(got, reference_next(&c, tz, utc, t, 40));
                                t = got;
                        }
                }
        }
}

/* ---- speed ------------------------------------------------------------------------ */

static void test_next_speed(void **state) {
        (void)state;
        static const char *const exprs[] = {"*/15 * * * *", "0 9 * * mon-fri", "30 2 * * *", "0 0 29 2 *"};
        _cleanup_(tz_freep) struct tz *tz = NULL;
        assert_int_equal(tz_load("America/New_York", &tz), 0);
        for (size_t e = 0; e < ELEMENTSOF(exprs); e++) {
                struct cron c = parse_ok(exprs[e]);
                const int n = 100000;
                int64_t t = INT64_C(1798761600); /* 2027-01-01 */
                struct timespec a, b;
                /* Thread CPU time: a loaded machine does not stretch it. */
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
                for (int i = 0; i < n; i++) {
                        int64_t next;
                        assert_int_equal(cron_next(&c, tz, t + (int64_t)i * 3607, &next), 0);
                }
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
                double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / n;
                print_message("cron_next '%s': %.0f ns/call (CPU)\n", exprs[e], ns);
                /* Generous so sanitizer builds pass; the plain figure is printed. */
                assert_true(ns < 50000);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_star),
                cmocka_unit_test(test_parse_forms),
                cmocka_unit_test(test_parse_names),
                cmocka_unit_test(test_parse_sunday_is_0_and_7),
                cmocka_unit_test(test_parse_macros),
                cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_next_basic),
                cmocka_unit_test(test_next_calendar),
                cmocka_unit_test(test_next_vixie_rule),
                cmocka_unit_test(test_next_new_york_dst),
                cmocka_unit_test(test_next_berlin_dst),
                cmocka_unit_test(test_next_lord_howe_dst),
                cmocka_unit_test(test_next_kolkata_dst),
                cmocka_unit_test(test_next_errors),
                cmocka_unit_test(test_next_matches_reference),
                cmocka_unit_test(test_next_speed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
