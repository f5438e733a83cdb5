/* libFuzzer target: cron_parse + cron_next (daemon/cron.h, daemon/tz.h).
 *
 * Input: ZONE \0 AFTER \0 EXPRESSION — an IANA zone name, a decimal Unix
 * time and the cron text.  Zones are loaded once and cached, so the fuzzer
 * spends its time in the parser and the search, not in reading TZif files.
 * Besides "no crash, no sanitizer report" it checks what cron.h promises:
 * each next fire time is strictly after its argument, and the fire times
 * form one set independent of where the search starts (asking again from
 * one second before a fire time gives that same fire time). */
#include <errno.h>
#include <inttypes.h>

#include "cron.h"
#include "fuzz.h"
#include "tz.h"

#define ZONE_CACHE 32

struct zone_slot {
        char *name;
        struct tz *tz; /* NULL: the name did not load */
};
static struct zone_slot zones[ZONE_CACHE];
static size_t n_zones;

/* Returns a cached zone, loading it on first sight; *tmp receives a zone to
 * free after use once the cache is full. */
static const struct tz *zone_get(const char *name, struct tz **tmp) {
        *tmp = NULL;
        for (size_t i = 0; i < n_zones; i++)
                if (strcmp(zones[i].name, name) == 0)
                        return zones[i].tz;
        struct tz *tz = NULL;
        if (tz_load(name, &tz) < 0)
                tz = NULL;
        if (n_zones < ZONE_CACHE) {
                zones[n_zones].name = strdup(name);
                zones[n_zones].tz = tz;
                n_zones++;
                return tz;
        }
        *tmp = tz;
        return tz;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct fuzz_fields ff;
        if (size > 4096 || fuzz_split(data, size, 3, &ff) < 0)
                return 0;
        if (ff.n < 3) {
                fuzz_fields_free(&ff);
                return 0;
        }
        struct tz *tmp = NULL;
        const struct tz *tz = zone_get(ff.f[0], &tmp);
        if (!tz) {
                fuzz_fields_free(&ff);
                return 0;
        }
        /* Keep instants within about ±4,000 years of 1970: far enough to
         * reach both ends of the supported range, near enough that most
         * searches find something. */
        int64_t after = strtoll(ff.f[1], NULL, 10);
        const int64_t span = INT64_C(1) << 37;
        after %= span;

        char err[256];
        struct cron c;
        int r = cron_parse(ff.f[2], &c, err, sizeof err);
        if (r < 0) {
                FUZZ_ASSERT(r == -EINVAL, "cron_parse returned %d", r);
                FUZZ_ASSERT(memchr(err, '\0', sizeof err) && err[0], "cron_parse error message missing");
        } else {
                FUZZ_ASSERT(r == 0, "cron_parse returned %d", r);
                int64_t t = after;
                for (int i = 0; i < 8; i++) {
                        int64_t next = 0;
                        r = cron_next(&c, tz, t, &next);
                        if (r < 0) {
                                FUZZ_ASSERT(r == -ERANGE || r == -EINVAL, "cron_next returned %d", r);
                                break;
                        }
                        FUZZ_ASSERT(next > t, "'%s' in %s: next %" PRId64 " not after %" PRId64, ff.f[2],
                                    ff.f[0], next, t);
                        int64_t again = 0;
                        r = cron_next(&c, tz, next - 1, &again);
                        FUZZ_ASSERT(r == 0 && again == next,
                                    "'%s' in %s: after %" PRId64 " next is %" PRId64 ", but after %" PRId64
                                    " it is %" PRId64 " (r=%d)",
                                    ff.f[2], ff.f[0], t, next, next - 1, again, r);
                        t = next;
                }
        }
        tz_free(tmp);
        fuzz_fields_free(&ff);
        return 0;
}
