/* birthdays: a greeting on the customer's birthday at send_at in the
 * customer's own time zone, once a year, per configured channel, with
 * consent.
 *
 * Planning is "due <= today and not yet sent", never an exact date match:
 * the candidate month/day pairs cover every local date on earth right now
 * plus max_lateness days back, so a daemon that was down yesterday still
 * greets yesterday's customers if max_lateness allows, and the dedupe key
 * (birthday:CHANNEL:CUSTOMER:YEAR) makes re-planning harmless.  Feb 29
 * birthdays are always candidates and resolved by the feb29 policy.
 *
 * Cost: one probe of the (month, day) index per candidate date and one
 * read of each candidate's row -- every candidate is checked, for the
 * skip reasons too.  What depends only on the zone and the date (zone
 * validity, local today, this year's occurrence, send time) is computed
 * once per (zone, month, day), and reps are read only for the customers
 * that are due. */
#include "jobs.h"

static const char *const feb29_choices[] = {"feb28", "mar1", "skip", NULL};

static const struct setting_spec birthday_settings[] = {
        {"send_at", SET_TIME_OF_DAY, "\"09:00:00\"", NULL, 0, 0},
        {"feb29", SET_ENUM, "\"feb28\"", feb29_choices, 0, 0},
        {"lookahead_days", SET_INT, "7", NULL, 0, 60},
        {"template", SET_STRING, "\"birthday\"", NULL, 0, 0},
        {NULL, 0, NULL, NULL, 0, 0},
};

static const char plan_sql[] =
        "WITH cfg AS (\n"
        "  SELECT $1::timestamptz AS now, $2::text AS dtz, $3::text AS dloc, $5::bigint AS run_id,\n"
        "         ($4::jsonb->>'send_at')::time AS send_at,\n"
        "         $4::jsonb->>'feb29' AS feb29,\n"
        "         $4::jsonb->>'template' AS template,\n"
        "         make_interval(secs => ($4::jsonb->>'max_lateness')::bigint) AS lateness,\n"
        "         ($4::jsonb->>'max_lateness')::bigint AS lateness_s,\n"
        "         " JOB_EFFECTIVE_FROM_SQL("birthdays", "$4::jsonb", "$1") " AS eff_from,\n"
        "         " JOB_EFFECTIVE_AT_SQL("birthdays", "$4::jsonb", "$1") " AS eff_at,\n"
        "         $4::jsonb->'channels' AS channels\n"
        "),\n"
        /* Local dates run from UTC-12 to UTC+14: one day either side of the
         * UTC date, plus the lateness window back. */
        "days AS (\n"
        "  SELECT DISTINCT extract(month FROM g)::int AS m, extract(day FROM g)::int AS d\n"
        "  FROM cfg, generate_series((now AT TIME ZONE 'UTC')::date - (lateness_s / 86400 + 2)::int,\n"
        "                            (now AT TIME ZONE 'UTC')::date + 1, interval '1 day') AS g\n"
        "  UNION SELECT 2, 29\n"
        "),\n"
        /* The known zones (rapport.time_zones, PostgreSQL's own list):
         * probed once per distinct zone (in occ), not once per customer. */
        "zones AS MATERIALIZED (SELECT name FROM rapport.time_zones),\n"
        /* The only per-customer read: the birthday index and the row.  The
         * rep is looked up later, for the customers that are due. */
        "cand AS MATERIALIZED (\n"
        "  SELECT c.id, c.name, c.tier, c.email, c.phone, c.birthday, c.consent_email, c.consent_sms,\n"
        "         c.rep_id AS crep_id,\n"
        "         coalesce(nullif(c.time_zone, ''), cfg.dtz) AS tz,\n"
        "         coalesce(nullif(c.locale, ''), cfg.dloc) AS locale,\n"
        "         days.m AS bm, days.d AS bd\n"
        "  FROM cfg CROSS JOIN days\n"
        "  JOIN crm.customers c ON extract(month FROM c.birthday) = days.m AND extract(day FROM c.birthday) = days.d\n"
        "  WHERE c.active\n"
        "),\n"
        /* What depends only on the zone and the month/day -- the local date,
         * this year's occurrence in the customer's calendar, or last year's
         * if this year's is still ahead (late December / early January) or
         * does not exist (feb29 = skip in a common year), and its send time
         * -- is computed once per (zone, month, day): a few zones times a few
         * dates, however many customers share them. */
        "occ AS MATERIALIZED (\n"
        "  SELECT z.tz, z.tz_ok, l.today, days.m, days.d, o.occ,\n"
        "         CASE WHEN z.tz_ok THEN " JOB_RECIPIENT_EFFECTIVE_SQL("z.tz") " END AS eff,\n"
        "         CASE WHEN l.today IS NULL THEN NULL ELSE (o.occ + cfg.send_at) AT TIME ZONE z.tz END AS not_before\n"
        "  FROM (SELECT t.tz, t.tz IN (SELECT name FROM zones) AS tz_ok FROM (SELECT DISTINCT tz FROM cand) t) z\n"
        "  CROSS JOIN days CROSS JOIN cfg,\n"
        "  LATERAL (SELECT CASE WHEN z.tz_ok THEN (cfg.now AT TIME ZONE z.tz)::date END AS today) l,\n"
        "  LATERAL (SELECT extract(year FROM l.today)::int AS y) y,\n"
        "  LATERAL (SELECT\n"
        "    CASE WHEN days.m = 2 AND days.d = 29 AND NOT (y.y % 4 = 0 AND (y.y % 100 <> 0 OR y.y % 400 = 0)) THEN\n"
        "           CASE cfg.feb29 WHEN 'feb28' THEN make_date(y.y, 2, 28) WHEN 'mar1' THEN make_date(y.y, 3, 1) END\n"
        "         ELSE make_date(y.y, days.m, days.d) END AS this_year,\n"
        "    CASE WHEN days.m = 2 AND days.d = 29\n"
        "              AND NOT ((y.y - 1) % 4 = 0 AND ((y.y - 1) % 100 <> 0 OR (y.y - 1) % 400 = 0)) THEN\n"
        "           CASE cfg.feb29 WHEN 'feb28' THEN make_date(y.y - 1, 2, 28) WHEN 'mar1' THEN make_date(y.y - 1, 3, 1) END\n"
        "         ELSE make_date(y.y - 1, days.m, days.d) END AS last_year) oy,\n"
        "  LATERAL (SELECT CASE WHEN oy.this_year <= l.today THEN oy.this_year ELSE oy.last_year END AS occ) o\n"
        "  WHERE l.today IS NULL OR o.occ IS NOT NULL\n"
        "),\n"
        "per_channel AS MATERIALIZED (\n"
        "  SELECT c.*, o.tz_ok, o.today, o.occ, o.eff, o.not_before, ch.channel,\n"
        "         CASE\n"
        "           WHEN NOT o.tz_ok THEN 'unknown time zone'\n"
        "           WHEN c.birthday > o.today THEN 'birthday in the future'\n"
        "           WHEN c.birthday < DATE '1900-01-01' THEN 'implausible birthday'\n"
        "           WHEN ch.channel = 'email' AND c.consent_email AND c.email IS NOT NULL\n"
        "                AND NOT rapport.email_ok(c.email) THEN 'invalid e-mail address'\n"
        "           WHEN ch.channel = 'sms' AND c.consent_sms AND c.phone IS NOT NULL\n"
        "                AND NOT rapport.phone_ok(c.phone) THEN 'invalid phone number'\n"
        "         END AS skip_reason,\n"
        "         CASE ch.channel WHEN 'email' THEN c.consent_email AND c.email IS NOT NULL\n"
        "                         WHEN 'sms' THEN c.consent_sms AND c.phone IS NOT NULL END AS reachable\n"
        "  FROM cand c JOIN occ o ON o.tz = c.tz AND o.m = c.bm AND o.d = c.bd\n"
        "  CROSS JOIN cfg CROSS JOIN jsonb_array_elements_text(cfg.channels) AS ch(channel)\n"
        "),\n"
        "due AS (\n"
        "  SELECT p.*, CASE p.channel WHEN 'email' THEN lower(p.email) ELSE p.phone END AS recipient\n"
        "  FROM per_channel p, cfg\n"
        "  WHERE p.skip_reason IS NULL AND p.reachable\n"
        "    AND p.occ >= p.eff\n"
        "    AND cfg.now <= p.not_before + cfg.lateness\n"
        "),\n"
        "wanted AS (\n"
        "  SELECT due.*, r.id AS rep_id, r.name AS rep_name, r.email AS rep_email, r.phone AS rep_phone\n"
        "  FROM due LEFT JOIN crm.reps r ON r.id = due.crep_id AND r.active\n"
        "  WHERE NOT EXISTS (SELECT 1 FROM rapport.suppression s WHERE s.address = due.recipient)\n"
        "),\n"
        "ins AS (\n"
        "  INSERT INTO rapport.outbox (job, run_id, channel, audience, recipient, recipient_name, customer_id, rep_id,\n"
        "                              template, locale, time_zone, context, marketing, dedupe_key,\n"
        "                              not_before, next_attempt_at, expires_at)\n"
        "  SELECT 'birthdays', cfg.run_id, w.channel, 'customer', w.recipient, w.name, w.id, w.rep_id,\n"
        "         cfg.template, w.locale, w.tz,\n"
        "         jsonb_build_object(\n"
        "           'customer', jsonb_build_object('id', w.id, 'name', w.name, 'tier', w.tier,\n"
        "                                          'key_account', w.tier = 'A'),\n"
        "           'rep', CASE WHEN w.rep_id IS NULL THEN NULL ELSE\n"
        "                  jsonb_build_object('name', w.rep_name, 'email', w.rep_email, 'phone', w.rep_phone) END,\n"
        "           'birthday', to_char(w.occ, 'YYYY-MM-DD'),\n"
        "           'month', extract(month FROM w.occ)::int, 'day', extract(day FROM w.occ)::int,\n"
        "           'year', extract(year FROM w.occ)::int,\n"
        /* The month and day the CRM had: a correction since planning
         * cancels the greeting when it is sent (still_due_sql). */
        "           'birthday_on_file', to_char(w.birthday, 'MM-DD')),\n"
        "         true,\n"
        "         'birthday:' || w.channel || ':' || w.id || ':' || extract(year FROM w.occ)::int,\n"
        "         w.not_before, w.not_before, w.not_before + cfg.lateness\n"
        "  FROM wanted w, cfg\n"
        "  ON CONFLICT (dedupe_key) DO NOTHING\n"
        "  RETURNING 1\n"
        "),\n"
        "skips AS (\n"
        "  INSERT INTO rapport.skipped (job, customer_id, reason, day, run_id)\n"
        "  SELECT DISTINCT 'birthdays', p.id, p.skip_reason, (cfg.now AT TIME ZONE 'UTC')::date, cfg.run_id\n"
        "  FROM per_channel p, cfg WHERE p.skip_reason IS NOT NULL\n"
        "  ON CONFLICT DO NOTHING\n"
        "  RETURNING 1\n"
        "),\n"
        /* What the run passed over, and why: the bad data above, and the
         * greetings due now that go nowhere (no consent, no address on
         * the channel, a suppressed address). */
        "passed AS (\n"
        "  SELECT p.id, p.skip_reason AS reason FROM per_channel p WHERE p.skip_reason IS NOT NULL\n"
        "  UNION ALL\n"
        "  SELECT p.id, " JOB_UNSENT_REASON("p") "\n"
        "  FROM per_channel p, cfg\n"
        "  WHERE p.skip_reason IS NULL AND p.occ >= p.eff AND cfg.now <= p.not_before + cfg.lateness\n"
        "    AND (NOT p.reachable OR EXISTS (SELECT 1 FROM rapport.suppression s\n"
        "                                     WHERE s.address = CASE p.channel WHEN 'email' THEN lower(p.email) ELSE p.phone END))\n"
        ")\n"
        "SELECT (SELECT count(*) FROM ins) AS planned,\n"
        JOB_SKIP_COUNTS_SQL
        "       (SELECT count(*) FROM skips) AS newly_skipped\n";

static const char *const birthdays_channel_templates[] = {"template", NULL};

/* No longer due: a greeting for a birthday the CRM has corrected since
 * planning (another month and day, or none; a corrected year changes
 * nothing).  Its key (the year) is set aside by the cancel
 * (JOB_BIRTHDAY_MOVED_REASON), so the corrected day is greeted when it
 * comes.  A message without birthday_on_file (queued by hand, or before
 * it was recorded) is left alone. */
static const char still_due_sql[] =
        "SELECT o.id, '" JOB_BIRTHDAY_MOVED_REASON "'\n"
        "FROM rapport.outbox o\n"
        "JOIN crm.customers c ON c.id = o.customer_id\n"
        "WHERE o.id = ANY($1::bigint[]) AND o.job = 'birthdays'\n"
        "  AND o.context ? 'birthday_on_file'\n"
        "  AND (c.birthday IS NULL OR NOT isfinite(c.birthday)\n"
        "       OR to_char(c.birthday, 'MM-DD') IS DISTINCT FROM o.context->>'birthday_on_file')\n";

const struct job_def job_birthdays = {
        .channel_templates = birthdays_channel_templates,
        .name = "birthdays",
        .description = "birthday greetings to customers, at send_at in their own time zone",
        .default_schedule = "0 * * * *",
        .settings = birthday_settings,
        .plan_sql = plan_sql,
        .still_due_sql = still_due_sql,
};
