/* libFuzzer target: config_load (daemon/config.h).
 *
 * config_load takes a path, so each input is written to one memfd created
 * at start-up and loaded as /proc/self/fd/N — no files pile up in /tmp.
 * Secrets are not required (check_secrets = false), as for `rapportctl
 * render`.  Problems are reported on stderr by design; run with
 * -close_fd_mask=2 to keep the fuzzer's output readable (sanitizer reports
 * still get through: libFuzzer re-points them at its own copy of stderr). */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static int memfd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 64 * 1024)
                return 0;
        if (memfd < 0) {
                memfd = memfd_create("rapport.conf", MFD_CLOEXEC);
                if (memfd < 0)
                        abort();
                snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
        }
        if (ftruncate(memfd, 0) < 0 || pwrite(memfd, data, size, 0) != (ssize_t)size)
                abort();

        struct rapport_config *c = NULL;
        int r = config_load(path, false, &c);
        if (r < 0) {
                FUZZ_ASSERT(r == -EINVAL || r == -ENOMEM, "config_load returned %d", r);
                FUZZ_ASSERT(!c, "config_load failed but returned a config");
                return 0;
        }
        FUZZ_ASSERT(c, "config_load succeeded without a config");
        /* What the rest of the daemon relies on after a successful load. */
        FUZZ_ASSERT(c->tz && c->time_zone && c->locale && c->templates_dir && c->instance,
                    "a loaded config lacks a required setting");
        FUZZ_ASSERT(c->email.connections >= 1 && c->sms.connections >= 1 && c->outbox.batch >= 1,
                    "connections/batch < 1: email %d sms %d batch %d", c->email.connections,
                    c->sms.connections, c->outbox.batch);
        FUZZ_ASSERT(c->email.rate >= 0 && c->sms.rate >= 0, "negative rate");
        for (size_t i = 0; i < c->n_jobs; i++) {
                const struct job_config *j = &c->jobs[i];
                FUZZ_ASSERT(j->def && j->name && j->tz && j->schedule && j->settings_json,
                            "job %zu incompletely loaded", i);
                FUZZ_ASSERT(config_job(c, j->name) == j, "config_job(%s) does not find it", j->name);
        }
        config_free(c);
        return 0;
}
