/* holidays: greetings on the dates listed in the config (Spring Festival,
 * Mid-Autumn and the like move every year, so dates are data), at send_at
 * in the customer's own zone, once per holiday, channel and customer
 * (holiday:NAME:DATE:CHANNEL:CUSTOMER), with consent, optionally only for
 * some tiers (the job's `tiers`, or a date's own, which wins).  Due means the holiday has begun in the customer's zone,
 * within max_lateness, on or after effective_from.
 *
 * Only holidays that can be due somewhere on earth right now reach the
 * customer scan; on every other day the statement touches no customer. */
#include "jobs.h"

static const char *const holiday_tier_choices[] = {"A", "B", "C", NULL};

static const struct setting_spec holidays_settings[] = {
        {"dates", SET_HOLIDAYS, "[]", NULL, 0, 0},
        {"tiers", SET_STRING_LIST, NULL, holiday_tier_choices, 0, 0},
        {"send_at", SET_TIME_OF_DAY, "\"09:00:00\"", NULL, 0, 0},
        {"template", SET_STRING, "\"holiday\"", NULL, 0, 0},
        {NULL, 0, NULL, NULL, 0, 0},
};

static const char plan_sql[] =
        "WITH cfg AS (\n"
        "  SELECT $1::timestamptz AS now, $2::text AS dtz, $3::text AS dloc, $5::bigint AS run_id, $4::jsonb AS s,\n"
        "         ($4::jsonb->>'send_at')::time AS send_at,\n"
        "         make_interval(secs => ($4::jsonb->>'max_lateness')::bigint) AS lateness,\n"
        "         " JOB_EFFECTIVE_FROM_SQL("holidays", "$4::jsonb", "$1") " AS eff_from,\n"
        "         " JOB_EFFECTIVE_AT_SQL("holidays", "$4::jsonb", "$1") " AS eff_at\n"
        "),\n"
        "/* The configured holidays; a malformed entry stops the run with a message\n"
        " * naming it (casting the message to int is how plain SQL raises). */\n"
        "hol_all AS MATERIALIZED (\n"
        "  SELECT h.l->>'name' AS name, (h.l->>'date')::date AS day,\n"
        "         coalesce(nullif(h.l->>'template', ''), cfg.s->>'template') AS template,\n"
        "         coalesce(h.l->'tiers', cfg.s->'tiers') AS tiers, h.l->'names' AS names,\n"
        "         CASE WHEN nullif(h.l->>'name', '') IS NULL OR h.l->>'date' IS NULL\n"
        "                   OR (h.l ? 'tiers' AND jsonb_typeof(h.l->'tiers') <> 'array')\n"
        "              THEN ('jobs.holidays.dates[' || h.ord - 1 || ']: needs name, date (\"YYYY-MM-DD\") and optionally '\n"
        "                    || 'template and tiers ([\"A\", \"B\"]); got ' || h.l::text)::int END AS invalid\n"
        "  FROM cfg, jsonb_array_elements(coalesce(cfg.s->'dates', '[]'::jsonb)) WITH ORDINALITY AS h(l, ord)\n"
        "),\n"
        "/* Only holidays that can be due somewhere on earth now, max_lateness back. */\n"
        "hol AS MATERIALIZED (\n"
        "  SELECT hol_all.* FROM hol_all, cfg\n"
        "  WHERE hol_all.day BETWEEN (cfg.now AT TIME ZONE 'UTC')::date - 2 - (cfg.s->>'max_lateness')::int / 86400\n"
        "                        AND (cfg.now AT TIME ZONE 'UTC')::date + 1\n"
        "    AND hol_all.day >= cfg.eff_from\n"
        "),\n"
        "zones AS MATERIALIZED (SELECT name FROM rapport.time_zones),\n"
        "cand AS (\n"
        "  SELECT hol.name AS holiday, hol.names, hol.day, hol.template, c.id, c.name, c.tier, c.email, c.phone,\n"
        "         c.consent_email, c.consent_sms,\n"
        "         coalesce(nullif(c.time_zone, ''), cfg.dtz) AS tz,\n"
        "         coalesce(nullif(c.locale, ''), cfg.dloc) AS locale,\n"
        "         coalesce(nullif(c.time_zone, ''), cfg.dtz) IN (SELECT name FROM zones) AS tz_ok,\n"
        "         r.id AS rep_id, r.name AS rep_name, r.email AS rep_email, r.phone AS rep_phone\n"
        "  FROM hol CROSS JOIN cfg\n"
        "  JOIN crm.customers c ON c.active\n"
        "  LEFT JOIN crm.reps r ON r.id = c.rep_id AND r.active\n"
        "  WHERE (hol.tiers IS NULL OR hol.tiers ? c.tier)\n"
        "    AND EXISTS (SELECT 1 FROM hol) -- a one-time filter: no holiday, no scan\n"
        "),\n"
        "per_channel AS (\n"
        "  SELECT cand.*, ch.channel,\n"
        "         (cfg.now AT TIME ZONE CASE WHEN cand.tz_ok THEN cand.tz ELSE cfg.dtz END)::date AS today,\n"
        "         (cand.day + cfg.send_at) AT TIME ZONE CASE WHEN cand.tz_ok THEN cand.tz ELSE cfg.dtz END AS not_before,\n"
        "         CASE\n"
        "           WHEN NOT cand.tz_ok THEN 'unknown time zone'\n"
        "           WHEN ch.channel = 'email' AND cand.consent_email AND cand.email IS NOT NULL\n"
        "                AND NOT rapport.email_ok(cand.email) THEN 'invalid e-mail address'\n"
        "           WHEN ch.channel = 'sms' AND cand.consent_sms AND cand.phone IS NOT NULL\n"
        "                AND NOT rapport.phone_ok(cand.phone) THEN 'invalid phone number'\n"
        "         END AS skip_reason,\n"
        "         CASE ch.channel WHEN 'email' THEN cand.consent_email AND cand.email IS NOT NULL\n"
        "                         WHEN 'sms' THEN cand.consent_sms AND cand.phone IS NOT NULL END AS reachable\n"
        "  FROM cand, cfg, jsonb_array_elements_text(cfg.s->'channels') AS ch(channel)\n"
        "),\n"
        "due AS (\n"
        "  SELECT p.*, CASE p.channel WHEN 'email' THEN lower(p.email) ELSE p.phone END AS recipient\n"
        "  FROM per_channel p, cfg\n"
        "  WHERE p.day <= p.today AND cfg.now <= p.not_before + cfg.lateness\n"
        "    AND p.day >= " JOB_RECIPIENT_EFFECTIVE_SQL("CASE WHEN p.tz_ok THEN p.tz ELSE cfg.dtz END") "\n"
        "),\n"
        "wanted AS (\n"
        "  SELECT due.* FROM due\n"
        "  WHERE due.skip_reason IS NULL AND due.reachable\n"
        "    AND NOT EXISTS (SELECT 1 FROM rapport.suppression s WHERE s.address = due.recipient)\n"
        "),\n"
        "ins AS (\n"
        "  INSERT INTO rapport.outbox (job, run_id, channel, audience, recipient, recipient_name, customer_id, rep_id,\n"
        "                              template, locale, time_zone, context, marketing, dedupe_key,\n"
        "                              not_before, next_attempt_at, expires_at)\n"
        "  SELECT 'holidays', cfg.run_id, w.channel, 'customer', w.recipient, w.name, w.id, w.rep_id,\n"
        "         w.template, w.locale, w.tz,\n"
        "         jsonb_build_object(\n"
        "           'customer', jsonb_build_object('id', w.id, 'name', w.name, 'tier', w.tier, 'key_account', w.tier = 'A'),\n"
        "           'rep', CASE WHEN w.rep_id IS NULL THEN NULL ELSE\n"
        "                  jsonb_build_object('name', w.rep_name, 'email', w.rep_email, 'phone', w.rep_phone) END,\n"
        /* The holiday's name in the customer's language when the
         * configuration gives one (names), else as configured (name).
         * Locales compare as template lookups do: case and '_' or '-'
         * apart, a POSIX codeset or modifier left out (zh_CN.UTF-8 reads
         * names.zh-CN, en_US.UTF-8 names.en).  lk.lkey is that form. */
        "           'holiday', jsonb_build_object('name', coalesce(\n"
        "               (SELECT n.v FROM jsonb_each_text(w.names) AS n(k, v) WHERE lower(replace(n.k, '_', '-')) = lk.lkey ORDER BY n.k LIMIT 1),\n"
        "               (SELECT n.v FROM jsonb_each_text(w.names) AS n(k, v) WHERE lower(replace(n.k, '_', '-')) = split_part(lk.lkey, '-', 1) ORDER BY n.k LIMIT 1),\n"
        "               w.holiday),\n"
        "                                         'date', to_char(w.day, 'YYYY-MM-DD'),\n"
        "                                         'year', extract(year FROM w.day)::int,\n"
        "                                         'month', extract(month FROM w.day)::int, 'day', extract(day FROM w.day)::int)),\n"
        "         true,\n"
        "         'holiday:' || w.holiday || ':' || to_char(w.day, 'YYYY-MM-DD') || ':' || w.channel || ':' || w.id,\n"
        "         w.not_before, w.not_before, w.not_before + cfg.lateness\n"
        "  FROM wanted w, cfg,\n"
        "       LATERAL (SELECT lower(replace(split_part(split_part(w.locale, '.', 1), '@', 1), '_', '-')) AS lkey) AS lk\n"
        "  ON CONFLICT (dedupe_key) DO NOTHING\n"
        "  RETURNING 1\n"
        "),\n"
        "skips AS (\n"
        "  INSERT INTO rapport.skipped (job, customer_id, reason, day, run_id)\n"
        "  SELECT DISTINCT 'holidays', due.id, due.skip_reason, (cfg.now AT TIME ZONE 'UTC')::date, cfg.run_id\n"
        "  FROM due, cfg WHERE due.skip_reason IS NOT NULL\n"
        "  ON CONFLICT DO NOTHING\n"
        "  RETURNING 1\n"
        "),\n"
        JOB_PASSED_OVER_CTE("id", "due.recipient")
        "SELECT (SELECT count(*) FROM ins) AS planned,\n"
        JOB_SKIP_COUNTS_SQL
        "       (SELECT count(*) FROM skips) AS newly_skipped,\n"
        "       (SELECT count(*) FROM hol_all WHERE invalid IS NOT NULL) AS invalid_dates\n";

/* No longer due: a greeting for a holiday the configuration no longer
 * lists on that date (its date corrected, or the entry removed since
 * planning).  The key names the date, so a corrected date is planned
 * under a key of its own.  Without the settings ($3 lacks "dates") nothing
 * is cancelled. */
static const char still_due_sql[] =
        "SELECT o.id, 'the holiday is no longer configured for ' || (o.context->'holiday'->>'date')\n"
        "FROM rapport.outbox o\n"
        "WHERE o.id = ANY($1::bigint[]) AND o.job = 'holidays'\n"
        "  AND $3::jsonb ? 'dates'\n"
        "  AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements($3::jsonb->'dates') AS h(l)\n"
        "                  WHERE jsonb_typeof(h.l) = 'object' AND h.l->>'date' = o.context->'holiday'->>'date'\n"
        "                    AND starts_with(o.dedupe_key, 'holiday:' || (h.l->>'name') || ':' || (h.l->>'date') || ':'))\n";

static const char *const holidays_channel_templates[] = {"template", NULL};

const struct job_def job_holidays = {
        .channel_templates = holidays_channel_templates,
        .name = "holidays",
        .description = "holiday greetings to customers on configured dates",
        .default_schedule = "0 * * * *",
        .settings = holidays_settings,
        .plan_sql = plan_sql,
        .still_due_sql = still_due_sql,
};
