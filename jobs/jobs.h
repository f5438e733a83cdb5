#pragma once
/* The registry of built-in jobs.  A job is data: the settings it accepts
 * (validated by the config loader, handed to its SQL as one jsonb
 * parameter), the one set-based statement that plans it, and the
 * statement that re-checks at send time that a planned message is still
 * wanted.  Adding a job means adding a file here, not touching the loop. */
#include <postgres_ext.h>
#include <stdbool.h>
#include <stddef.h>

enum setting_type {
        SET_BOOL,
        SET_INT,
        SET_FLOAT,
        SET_STRING,
        SET_DURATION,    /* integer seconds or "90s", "15m", "4h", "1d", "2w" -> seconds */
        SET_TIME_OF_DAY, /* "09:00" -> "09:00:00" */
        SET_DATE,        /* "2027-01-31" */
        SET_ENUM,        /* one of choices */
        SET_STRING_LIST, /* [ "a", "b" ] */
        SET_INT_LIST,    /* [ 1, 15, 30 ], each within min..max when max > min */
        SET_TIER_MAP,    /* { A = 7; B = 30; C = 90; } -> {"A":7,...} */
        SET_HOURS_MAP,   /* { critical = 4; low = "7d"; } -> {"critical":4,"low":168}: hours, keys from choices */
        SET_LADDER,      /* receivables levels: ( { days; audience; channel(s); template; }, ... ) */
        SET_HOLIDAYS,    /* holiday dates: ( { name; date; template; tiers; }, ... ) */
        SET_ANY,         /* any libconfig value, converted to JSON as is */
};

/* The earliest date anywhere on Earth at instant T (UTC-12's).  The day a
 * job was first enabled is a date in each recipient's own calendar (see
 * JOB_RECIPIENT_EFFECTIVE_SQL); this is the earliest of them, what range
 * filters over all recipients start from. */
#define JOB_EARLIEST_DATE_SQL(T) "(" T "::timestamptz AT TIME ZONE 'Etc/GMT+12')::date"
/* A job's effective_from as one date, the earliest any recipient has: set
 * in its SETTINGS (jsonb), else the day it was first enabled, else -- a dry
 * run of a job never enabled -- the day its first real run at NOW would
 * record, so that a preview shows what that run will send.  Selected as
 * cfg.eff_from, with JOB_EFFECTIVE_AT_SQL as cfg.eff_at. */
#define JOB_EFFECTIVE_FROM_SQL(JOB, SETTINGS, NOW)                                                          \
        "coalesce((" SETTINGS "->>'effective_from')::date,"                                                 \
        " (SELECT first_enabled FROM rapport.job_state WHERE job = '" JOB "'), " JOB_EARLIEST_DATE_SQL(NOW) ")"
/* The instant the job was first enabled when effective_from is left to its
 * default (NULL when the setting gives a date, or for a job enabled before
 * rapport kept the instant): NOW for a dry run of a job never enabled. */
#define JOB_EFFECTIVE_AT_SQL(JOB, SETTINGS, NOW)                                                            \
        "CASE WHEN (" SETTINGS "->>'effective_from') IS NULL THEN"                                          \
        " coalesce((SELECT first_enabled_at FROM rapport.job_state WHERE job = '" JOB "'),"                 \
        "          CASE WHEN NOT EXISTS (SELECT 1 FROM rapport.job_state WHERE job = '" JOB "')"             \
        "               THEN " NOW "::timestamptz END) END"
/* The effective_from of a recipient in zone TZ (a known zone): a date set
 * in the configuration is every recipient's, compared with their local
 * dates; the default is the day the job was first enabled in the
 * recipient's own calendar.  Switched on at 09:00 UTC on the 23rd, a job
 * sends nothing due on the 22nd to a customer in London, and still greets
 * one in Honolulu whose birthday the 22nd still is there.  Needs cfg.eff_at
 * and cfg.eff_from. */
#define JOB_RECIPIENT_EFFECTIVE_SQL(TZ) "coalesce((cfg.eff_at AT TIME ZONE " TZ ")::date, cfg.eff_from)"

/* The slack a UTC pre-filter needs around a local date: 50 hours covers
 * any two UTC offsets (UTC-12 to UTC+14: 26 hours) plus a whole day (a
 * send time up to 24:00, or a date reached at any hour of it), and with
 * it any change of one zone's offset between two instants (a DST change,
 * a zone that moved across the date line).  Jobs narrow their candidates
 * with ranges this wide on an index, then apply the exact rule in each
 * recipient's zone; ranges a day wide lost messages across a
 * spring-forward and between zones 26 hours apart. */
#define JOB_ZONE_SLACK_SQL "interval '50 hours'"

/* Why a message due with no bad data in it (row R: reachable, channel,
 * consent_email, consent_sms) does not go: suppressed if it could reach
 * the customer, else what it lacks. */
#define JOB_UNSENT_REASON(R)                                                                                \
        "CASE WHEN " R ".reachable THEN 'address suppressed'"                                               \
        " WHEN " R ".channel = 'email' AND " R ".consent_email THEN 'no e-mail address'"                    \
        " WHEN " R ".channel = 'email' THEN 'no e-mail consent'"                                            \
        " WHEN " R ".consent_sms THEN 'no phone number' ELSE 'no SMS consent' END"
/* The end of a plan statement whose `due` CTE has one row per message due
 * now (its customer in column ID, its address in ADDRESS, and skip_reason,
 * reachable, channel, consent_email, consent_sms): `passed` lists what the
 * run passes over and why -- bad data, no consent, no address on the
 * channel, a suppressed address -- and JOB_SKIP_COUNTS_SQL counts it per
 * customer for the run's record. */
#define JOB_PASSED_OVER_CTE(ID, ADDRESS)                                                                    \
        "passed AS (\n"                                                                                    \
        "  SELECT due." ID " AS id, coalesce(due.skip_reason, " JOB_UNSENT_REASON("due") ") AS reason\n"   \
        "  FROM due\n"                                                                                     \
        "  WHERE due.skip_reason IS NOT NULL OR NOT due.reachable\n"                                       \
        "     OR EXISTS (SELECT 1 FROM rapport.suppression s WHERE s.address = " ADDRESS ")\n"             \
        ")\n"
#define JOB_SKIP_COUNTS_SQL                                                                                 \
        "       (SELECT count(DISTINCT id) FROM passed) AS skipped,\n"                                     \
        "       (SELECT coalesce(jsonb_object_agg(reason, n), '{}'::jsonb)\n"                              \
        "          FROM (SELECT reason, count(DISTINCT id) AS n FROM passed GROUP BY 1) x) AS skip_reasons,\n"

/* A message context's `rep`, from the owning rep's columns and the
 * message's AUDIENCE: null in a customer's message when the rep has left (a
 * customer is never pointed at someone gone), else the rep with `inactive`
 * for the reps and managers who must know. */
#define JOB_REP_CONTEXT(ID, NAME, EMAIL, PHONE, ACTIVE, AUDIENCE)                                            \
        "CASE WHEN " ID " IS NULL OR (" AUDIENCE " = 'customer' AND " ACTIVE " IS NOT TRUE) THEN NULL ELSE"  \
        " jsonb_build_object('id', " ID ", 'name', " NAME ", 'email', " EMAIL ", 'phone', " PHONE ","        \
        " 'inactive', " ACTIVE " IS NOT TRUE) END"

/* AMOUNT (numeric) as CURRENCY (ISO 4217) writes it, for the text of a
 * message: thousands grouped, the currency's minor units (none for JPY or
 * KRW, three for BHD, KWD or TND, two for most), and never fewer decimals
 * than the amount itself carries, so what a reminder says is owed is never
 * off by a rounding. */
#define JOB_AMOUNT_SQL(AMOUNT, CURRENCY)                                                                   \
        "to_char(" AMOUNT ", 'FM999,999,999,999,999,999,990' || (SELECT CASE WHEN d.n > 0 THEN '.' || repeat('0', d.n) ELSE '' END" \
        " FROM (SELECT greatest(CASE WHEN upper(" CURRENCY ") IN ('BIF', 'CLP', 'DJF', 'GNF', 'ISK', 'JPY', 'KMF', 'KRW', 'PYG'," \
        " 'RWF', 'UGX', 'UYI', 'VND', 'VUV', 'XAF', 'XOF', 'XPF') THEN 0"                                    \
        " WHEN upper(" CURRENCY ") IN ('BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND') THEN 3"            \
        " WHEN upper(" CURRENCY ") IN ('CLF', 'UYW') THEN 4 ELSE 2 END, scale(trim_scale(" AMOUNT "))) AS n) d))"

/* The reason a rep's or manager's dunning message is cancelled at send
 * time when the customer has another rep (or the rep another manager)
 * since planning: outbox.c gives its invoices back to the ledger. */
#define JOB_REASSIGNED_REASON "the customer now has another rep or manager"

/* A rep's follow-up reminder or dormancy alert about a customer who has
 * been deactivated (or deleted) since planning: the jobs' still-due checks
 * cancel it.  Dunning and complaint alerts still go: unpaid invoices and
 * an open complaint matter after an account is closed. */
#define JOB_CUSTOMER_GONE_REASON "the customer is no longer active"

/* An invoice that is chased, and counted as owed: unpaid and owing
 * something.  NaN and Infinity are numerics PostgreSQL accepts and orders
 * above every number, so "amount > 0" alone would chase them (a reminder
 * for "EUR NaN"). */
#define JOB_INVOICE_CHASED_SQL(V) V ".paid_on IS NULL AND " V ".amount > 0 AND " V ".amount < 'Infinity'::numeric"

/* A message cancelled at send time because the CRM moved the date it was
 * planned for: a customer's birthday corrected, an invoice's due date
 * extended.  Its dedupe key is set aside (and a dunning message's ledger
 * rows freed, outbox.c) so that the corrected date is planned when it
 * comes, instead of never: the key names the year or the level, not the
 * date.  (They go into SQL literals: no quotes.) */
#define JOB_BIRTHDAY_MOVED_REASON "the birthday has changed in the CRM since planning"
#define JOB_DUE_DATE_MOVED_REASON "the invoice is no longer that far past due: its due date has changed in the CRM"

/* A complaint's severity as the jobs read it: the contract's four in any
 * case and spacing; anything else (NULL, or a word a CRM view made up) is
 * "normal", the reference schema's default, so that no open complaint is
 * left unchased because of its label. */
#define JOB_SEVERITY_SQL(SEV)                                                                              \
        "coalesce(CASE lower(btrim(" SEV ")) WHEN 'critical' THEN 'critical' WHEN 'high' THEN 'high'"      \
        " WHEN 'normal' THEN 'normal' WHEN 'low' THEN 'low' END, 'normal')"

/* The complaint severities of the CRM contract, mildest last. */
extern const char *const complaint_severities[];

struct setting_spec {
        const char *name;
        enum setting_type type;
        const char *def; /* default as a JSON literal, or NULL for none */
        const char *const *choices;
        long long min, max; /* for SET_INT / SET_DURATION when max > min */
};

/* Parameters of plan_sql:
 *   $1 timestamptz  the run's "now"
 *   $2 text         default time zone      $3 text  default locale
 *   $4 jsonb        the job's settings      $5 bigint the job_runs id
 * It must return one row: planned bigint, skipped bigint, skip_reasons jsonb.
 * Parameters of still_due_sql: $1 bigint[] outbox ids, $2 timestamptz now,
 * $3 jsonb the job's settings as configured now (a holiday whose date was
 * corrected since planning is no longer due).
 * It returns (id bigint, reason text) for each message no longer wanted.
 * Parameters of build_sql, for a job whose message is built when it is
 * sent: $1 bigint[] outbox ids, $2 timestamptz now, $3 jsonb the job's
 * settings, $4 text default time zone.  It returns (id bigint, reason
 * text, context jsonb) for every id it can build, in id order: a reason
 * cancels the message, otherwise the context replaces the planned one.
 * Every caller sends these parameters with the types below, so a statement
 * need not mention a parameter it has no use for. */
#define JOB_PLAN_PARAMS 5
#define JOB_STILL_DUE_PARAMS 3
#define JOB_BUILD_PARAMS 4
extern const Oid job_plan_param_types[JOB_PLAN_PARAMS];
extern const Oid job_still_due_param_types[JOB_STILL_DUE_PARAMS];
extern const Oid job_build_param_types[JOB_BUILD_PARAMS];
struct job_def {
        const char *name;
        const char *description;
        const char *default_schedule;
        const struct setting_spec *settings; /* terminated by {NULL} */
        const char *plan_sql;
        const char *still_due_sql; /* NULL: only the generic checks apply */
        const char *build_sql;     /* NULL: the planned context is the message's */
        /* Settings naming a template sent on the job's `channels` (to
         * customers); every other *template setting is an e-mail to a rep.
         * Nested objects with their own "channels" (receivables levels)
         * use those.  `rapportctl check` verifies each exists. */
        const char *const *channel_templates;
};

/* How many built-in jobs job_defs[] lists (before its NULL). */
#define JOB_COUNT 7
extern const struct job_def *const job_defs[];
/* The index of def in job_defs[], or -1. */
int job_def_index(const struct job_def *def);
const struct job_def *job_def_find(const char *name);
/* "follow_ups, birthdays, …": the built-in jobs, for error messages. */
void job_def_names(char *buf, size_t len);

/* Settings every job accepts (schedule, time_zone, catch_up, …). */
extern const struct setting_spec job_common_settings[];
