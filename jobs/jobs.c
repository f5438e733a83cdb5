#include "jobs.h"

const char *const complaint_severities[] = {"critical", "high", "normal", "low", NULL};

#include <stdio.h>
#include <string.h>

extern const struct job_def job_birthdays;
extern const struct job_def job_follow_ups;
extern const struct job_def job_holidays;
extern const struct job_def job_dormant;
extern const struct job_def job_receivables;
extern const struct job_def job_complaints;
extern const struct job_def job_digest;

const struct job_def *const job_defs[] = {
        &job_follow_ups, &job_birthdays, &job_holidays, &job_dormant,
        &job_receivables, &job_complaints, &job_digest, NULL,
};

static const char *const catch_up_choices[] = {"latest", "all", "none", NULL};
static const char *const channel_choices[] = {"email", "sms", NULL};

const struct setting_spec job_common_settings[] = {
        {"enabled", SET_BOOL, "true", NULL, 0, 0},
        {"schedule", SET_STRING, NULL, NULL, 0, 0},
        {"time_zone", SET_STRING, NULL, NULL, 0, 0},
        {"catch_up", SET_ENUM, "\"latest\"", catch_up_choices, 0, 0},
        {"catch_up_window", SET_DURATION, "86400", NULL, 0, 366LL * 86400},
        {"catch_up_max", SET_INT, "100", NULL, 1, 100000},
        {"dry_run", SET_BOOL, "false", NULL, 0, 0},
        {"effective_from", SET_DATE, NULL, NULL, 0, 0},
        {"max_lateness", SET_DURATION, "86400", NULL, 0, 366LL * 86400},
        {"channels", SET_STRING_LIST, "[\"email\"]", channel_choices, 0, 0},
        {NULL, 0, NULL, NULL, 0, 0},
};

void job_def_names(char *buf, size_t len) {
        size_t used = 0;
        buf[0] = '\0';
        for (size_t i = 0; job_defs[i] && used < len; i++) {
                int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", job_defs[i]->name);
                if (n < 0)
                        break;
                used += (size_t)n;
        }
}

/* pg_type OIDs, fixed since PostgreSQL 9.4 (catalog/pg_type_d.h, which
 * only the server's headers carry). */
enum { OID_TEXT = 25, OID_INT8 = 20, OID_INT8_ARRAY = 1016, OID_TIMESTAMPTZ = 1184, OID_JSONB = 3802 };

const Oid job_plan_param_types[JOB_PLAN_PARAMS] = {OID_TIMESTAMPTZ, OID_TEXT, OID_TEXT, OID_JSONB, OID_INT8};
const Oid job_still_due_param_types[JOB_STILL_DUE_PARAMS] = {OID_INT8_ARRAY, OID_TIMESTAMPTZ, OID_JSONB};
const Oid job_build_param_types[JOB_BUILD_PARAMS] = {OID_INT8_ARRAY, OID_TIMESTAMPTZ, OID_JSONB, OID_TEXT};

_Static_assert(sizeof job_defs / sizeof job_defs[0] == JOB_COUNT + 1, "JOB_COUNT must match job_defs[]");

int job_def_index(const struct job_def *def) {
        for (int i = 0; job_defs[i]; i++)
                if (job_defs[i] == def)
                        return i;
        return -1;
}

const struct job_def *job_def_find(const char *name) {
        for (size_t i = 0; job_defs[i]; i++)
                if (strcmp(job_defs[i]->name, name) == 0)
                        return job_defs[i];
        return NULL;
}
