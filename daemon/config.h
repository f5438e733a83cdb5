#pragma once
/* The daemon's configuration: parsed from a libconfig file into a fresh
 * struct, validated completely, and only then swapped in — a reload with a
 * bad file keeps the old one.  Every error names file, line and setting. */
#include <stdbool.h>
#include <stdint.h>

#include "cron.h"
#include "util.h"
#include "tz.h"

#define EXIT_CONFIG 78 /* sysexits EX_CONFIG */

enum catch_up { CATCH_UP_LATEST, CATCH_UP_ALL, CATCH_UP_NONE };
enum tls_mode { TLS_REQUIRED, TLS_OPPORTUNISTIC, TLS_NONE };

struct job_def;

struct job_config {
        const struct job_def *def;
        const char *name; /* == def->name */
        bool enabled;
        bool dry_run;
        char *schedule;
        struct cron cron;
        char *time_zone;
        struct tz *tz;
        enum catch_up catch_up;
        int64_t catch_up_window; /* seconds */
        int catch_up_max;
        char **channels; /* NULL-terminated */
        char *settings_json; /* every setting incl. defaults, for the SQL */
};

struct rapport_config {
        char *path;
        char *conninfo;
        char *db_password; /* secret: never logged */
        char *time_zone;
        struct tz *tz;
        char *locale;
        char *templates_dir;
        char *instance; /* name in job_runs and leases; default host:pid */

        struct {
                char *smtp_url;
                char *from_addr, *from_name;
                char *username, *password; /* password: secret */
                enum tls_mode tls;
                char *redirect_to;
                char *unsubscribe_mailto, *unsubscribe_url;
                char *ca_file;
                int connections;
                double rate; /* messages per second, 0 = unlimited */
                int timeout; /* seconds per message */
                int quiet_start, quiet_end; /* minutes after local midnight; equal = none */
        } email;

        struct {
                char *gateway_url;
                int format; /* enum sms_format */
                char *from;
                char *username, *token; /* token: secret */
                char *redirect_to; /* staging: every SMS goes to this number */
                int connections;
                double rate;
                int timeout;
                int quiet_start, quiet_end; /* minutes after local midnight; equal = none */
                int max_segments;
                /* format "json": the request's member names (never NULL;
                 * json_idempotency_key "" = not in the body) and where the
                 * reply holds the message id (NULL = "id", then "message_id"). */
                char *json_to, *json_from, *json_text, *json_idempotency_key;
                char **json_reply_id; /* NULL-terminated paths */
        } sms;

        struct {
                int64_t lease;  /* seconds */
                int batch;
                int64_t *retry; /* backoff schedule, seconds */
                size_t n_retry;
                int max_attempts;
                int64_t max_age;
                int retention_days;
        } outbox;

        struct job_config *jobs;
        size_t n_jobs;
};

/* Parse and validate; on failure prints every problem found (to stderr /
 * the journal) as "FILE:LINE: SETTING: reason" and returns -EINVAL.  If
 * `check_secrets` is false, missing secret files are not errors (used by
 * `rapportctl render` and friends that never connect anywhere). */
/* A BCP 47 tag in the shape template file names use: a 2-3 letter
 * language and optional subtags of 1-8 letters or digits (zh-CN, en,
 * zh-Hant-TW; zh_CN too), at most 31 bytes. */
bool language_tag_ok(const char *tag);

int config_load(const char *path, bool check_secrets, struct rapport_config **ret);
/* VALUE as the configuration in CONFIG_FILE reads a path: relative to that
 * file's directory.  Malloc'd; NULL when out of memory. */
char *config_resolve_path(const char *config_file, const char *value);
struct rapport_config *config_free(struct rapport_config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rapport_config *, config_free);

const struct job_config *config_job(const struct rapport_config *c, const char *name);

/* "90s", "15m", "4h", "1d", "2w", "1h30m" or plain seconds. */
int parse_duration(const char *s, int64_t *ret);
