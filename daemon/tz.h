/* Time zones without touching the process-wide TZ: IANA TZif files read from
 * $TZDIR (default /usr/share/zoneinfo), including the POSIX TZ footer that
 * governs instants past the end of the file's transition table.
 *
 * All instants are int64_t seconds since the Unix epoch.  A loaded struct tz
 * is immutable, so one instance may be shared between threads and cached. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util.h"

struct tz;

/* name is an IANA zone name ("Europe/Berlin", "UTC").  Returns -EINVAL for
 * an unsafe or malformed name (absolute path, "..", empty, odd characters),
 * -ENOENT for an unknown zone, -EBADMSG for a file that is not valid TZif,
 * -EOPNOTSUPP for a zone with leap seconds ("right/..."). */
int tz_load(const char *name, struct tz **ret);
struct tz *tz_free(struct tz *tz);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct tz *, tz_free);

const char *tz_name(const struct tz *tz);

/* Fills tm_year..tm_sec, tm_wday, tm_yday and tm_isdst (tm_gmtoff too);
 * gmtoff_ret (may be NULL) receives the UTC offset in seconds east. */
int tz_localtime(const struct tz *tz, int64_t t, struct tm *ret, int *gmtoff_ret);

/* Local wall-clock time -> instant.  year 1..9999, mon 1-12, fields checked
 * (-EINVAL when out of range).  An ambiguous local time (fall back) resolves
 * to its FIRST occurrence and returns 0.  A local time that does not exist
 * (spring-forward gap) resolves to the first instant after the gap, i.e.
 * the transition instant, and returns 1. */
int tz_mktime(const struct tz *tz, int year, int mon, int mday, int hour, int min, int sec,
              int64_t *ret);

/* "2027-03-14T03:00:00-04:00"; UTC prints "+00:00", never "Z".  An offset
 * with a seconds part (local mean time before ~1900) prints "+hh:mm:ss".
 * -ENOBUFS if buf is too small, -ERANGE outside years 0000..9999. */
int tz_format_iso8601(const struct tz *tz, int64_t t, char *buf, size_t len);

/* Accepts "YYYY-MM-DDTHH:MM[:SS[.frac]]" with 'T' or ' ', followed by "Z",
 * "+hh:mm", "+hhmm", "+hh" (and "+hh:mm:ss" as printed above) or nothing;
 * or a bare date "YYYY-MM-DD".  Without an offset the time is local in
 * tz_for_local (via tz_mktime: a time in a gap resolves to the transition
 * instant, still returning 0); a bare date means local midnight.
 * Returns -EINVAL for anything else, including trailing junk, out-of-range
 * fields, or a local time when tz_for_local is NULL. */
int tz_parse_iso8601(const char *s, const struct tz *tz_for_local, int64_t *ret);
