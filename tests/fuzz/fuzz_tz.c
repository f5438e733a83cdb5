/* libFuzzer target: TZif and POSIX TZ parsing in tz_load (daemon/tz.h), and
 * cron_next over whatever zone that yields.
 *
 * The input is a zone file.  tz_load only reads from $TZDIR, so the harness
 * points TZDIR at a private directory (a harness may; the modules never
 * touch the environment) and rewrites one file there for each input.
 * Checked: every instant formats as ISO 8601 and parses back to itself, and
 * cron fire times move forward, in any zone tz_load accepts. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>

#include "cron.h"
#include "fuzz.h"
#include "tz.h"

static char zone_path[256];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void)argc, (void)argv;
        char tmpl[] = "/tmp/rapport-fuzz-tz.XXXXXX";
        const char *dir = mkdtemp(tmpl);
        if (!dir)
                abort();
        setenv("TZDIR", dir, 1);
        snprintf(zone_path, sizeof zone_path, "%s/Fuzz", dir);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 256 * 1024)
                return 0;
        int fd = open(zone_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, data, size) != (ssize_t)size)
                abort();
        close(fd);

        struct tz *tz = NULL;
        int r = tz_load("Fuzz", &tz);
        if (r < 0) {
                FUZZ_ASSERT(r == -EBADMSG || r == -ENOMEM || r == -EOPNOTSUPP || r == -EINVAL || r == -ENOENT ||
                                    r == -EFBIG || r == -EIO,
                            "tz_load returned %d", r);
                return 0;
        }
        const int64_t instants[] = {
                INT64_C(-2208988800), INT64_C(-1), 0, INT64_C(1000000000), INT64_C(1700000000),
                INT64_C(2147483647), INT64_C(4102444800), INT64_C(253402300799), (int64_t)fuzz_u64(data, size) % (INT64_C(1) << 36),
        };
        struct cron every, daily;
        if (cron_parse("*/15 * * * *", &every, NULL, 0) < 0 || cron_parse("30 2 * * *", &daily, NULL, 0) < 0)
                abort();
        for (size_t i = 0; i < ELEMENTSOF(instants); i++) {
                int64_t t = instants[i];
                struct tm tm;
                int off = 0;
                if (tz_localtime(tz, t, &tm, &off) < 0)
                        continue;
                char iso[64];
                if (tz_format_iso8601(tz, t, iso, sizeof iso) == 0) {
                        int64_t back = 0;
                        r = tz_parse_iso8601(iso, NULL, &back);
                        FUZZ_ASSERT(r == 0 && back == t, "%" PRId64 " formats as %s, which parses as %" PRId64 " (r=%d)",
                                    t, iso, back, r);
                }
                int64_t resolved;
                r = tz_mktime(tz, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, &resolved);
                FUZZ_ASSERT(r >= 0 || r == -EINVAL || r == -ERANGE, "tz_mktime returned %d", r);
                int64_t next;
                if (cron_next(&every, tz, t, &next) == 0)
                        FUZZ_ASSERT(next > t, "*/15: %" PRId64 " not after %" PRId64, next, t);
                if (cron_next(&daily, tz, t, &next) == 0)
                        FUZZ_ASSERT(next > t, "30 2: %" PRId64 " not after %" PRId64, next, t);
        }
        tz_free(tz);
        return 0;
}
