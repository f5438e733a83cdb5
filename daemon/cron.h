/* Cron expressions (5 fields, Vixie semantics) evaluated in a time zone. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "tz.h"

enum {
        CRON_DOM_STAR = 1 << 0, /* day-of-month field starts with '*' */
        CRON_DOW_STAR = 1 << 1, /* day-of-week field starts with '*' */
};

/* A parsed expression: a plain value, no heap; the caller keeps the text. */
struct cron {
        uint64_t minutes; /* bit n: minute n, 0-59 */
        uint32_t hours;   /* bit n: hour n, 0-23 */
        uint32_t mdays;   /* bit n: day n of the month, 1-31 */
        uint16_t months;  /* bit n: month n, 1-12 */
        uint8_t wdays;    /* bit n: weekday n, 0 = Sunday .. 6 */
        uint8_t flags;    /* CRON_DOM_STAR | CRON_DOW_STAR */
};

/* "minute hour day-of-month month day-of-week" or a macro (@yearly,
 * @annually, @monthly, @weekly, @daily, @midnight, @hourly).  On error
 * returns -EINVAL and writes a message naming the field and the reason to
 * err (if err is non-NULL and errlen > 0), e.g.
 * "day-of-month 32 out of range 1-31".  An expression that can never fire
 * ("0 0 30 2 *") is an error too. */
int cron_parse(const char *expr, struct cron *ret, char *err, size_t errlen);

/* The first fire time strictly after `after`, the fields read as local time
 * in tz.  A scheduled local time skipped by a DST gap fires once at the end
 * of the gap; a local time that occurs twice fires at its first occurrence
 * only (details at the top of cron.c).  -ERANGE if nothing fires within 400
 * years or before year 10000. */
int cron_next(const struct cron *c, const struct tz *tz, int64_t after, int64_t *ret);
