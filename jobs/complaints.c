/* complaints: an open complaint past its severity's response deadline
 * (response_hours) alerts the owning rep (or the rep's manager standing in
 * for an inactive rep); past twice the deadline, the rep's manager.  A
 * resolved complaint gets a satisfaction survey to the customer
 * survey_after_days later at send_at in the customer's zone, once: by the
 * first of the configured channels that reaches the customer (marketing:
 * consent and unsubscribe; a survey already planned on any channel, by
 * an earlier run or configuration, counts), linking to
 * survey_url?complaint=ID, or without a survey_url asking for a 0-10
 * score by reply; survey = false sends none.
 *
 * Keys: complaint:ID:rep, complaint:ID:manager, survey:CHANNEL:ID.  Due
 * means the deadline (or survey day) has come, within max_lateness
 * (default 3 days) and on or after effective_from.  Both scans are ranges
 * on the partial indexes of open and of resolved complaints, followed by
 * one customer probe per complaint; zone validity and the local date are
 * worked out once per distinct recipient zone, not per message.  still_due
 * cancels an alert once the complaint is resolved, and a survey if the
 * complaint was reopened. */
#include "jobs.h"

static const struct setting_spec complaints_settings[] = {
        {"response_hours", SET_HOURS_MAP, "{\"critical\":4,\"high\":24,\"normal\":72,\"low\":168}", complaint_severities, 0, 0},
        {"survey_after_days", SET_INT, "2", NULL, 0, 365},
        {"survey", SET_BOOL, "true", NULL, 0, 0},
        {"survey_url", SET_STRING, NULL, NULL, 0, 0},
        {"send_at", SET_TIME_OF_DAY, "\"10:00:00\"", NULL, 0, 0},
        {"template", SET_STRING, "\"complaint_overdue\"", NULL, 0, 0},
        {"escalation_template", SET_STRING, "\"complaint_escalation\"", NULL, 0, 0},
        {"survey_template", SET_STRING, "\"complaint_survey\"", NULL, 0, 0},
        /* Overrides the common default: see above. */
        {"max_lateness", SET_DURATION, "259200", NULL, 0, 366LL * 86400},
        {NULL, 0, NULL, NULL, 0, 0},
};

static const char plan_sql[] =
        "WITH cfg AS (\n"
        "  SELECT $1::timestamptz AS now, $2::text AS dtz, $3::text AS dloc, $5::bigint AS run_id, $4::jsonb AS s,\n"
        "         ($4::jsonb->>'send_at')::time AS send_at,\n"
        "         make_interval(secs => ($4::jsonb->>'max_lateness')::bigint) AS lateness,\n"
        "         coalesce(($4::jsonb->>'survey_after_days')::int, 2) AS survey_after,\n"
        "         nullif($4::jsonb->>'survey_url', '') AS survey_url,\n"
        "         " JOB_EFFECTIVE_FROM_SQL("complaints", "$4::jsonb", "$1") " AS eff_from,\n"
        "         " JOB_EFFECTIVE_AT_SQL("complaints", "$4::jsonb", "$1") " AS eff_at\n"
        "),\n"
        "/* Response deadline per severity; unknown or missing severities get the\n"
        " * built-in default.  The longest one bounds the scan of open complaints. */\n"
        "sev AS MATERIALIZED (\n"
        "  SELECT d.severity, coalesce((cfg.s->'response_hours'->>d.severity)::numeric, d.hours) AS hours\n"
        "  FROM cfg, (VALUES ('critical', 4), ('high', 24), ('normal', 72), ('low', 168)) AS d(severity, hours)\n"
        "),\n"
        "zones AS MATERIALIZED (SELECT name FROM rapport.time_zones),\n"
        "/* Open complaints whose rep deadline (1x) or manager deadline (2x) fell\n"
        " * within max_lateness: a range on the partial index of open complaints. */\n"
        "open_c AS (\n"
        "  SELECT k.id, k.customer_id, " JOB_SEVERITY_SQL("k.severity") " AS severity, k.summary, k.opened_at,\n"
        "         NULL::timestamptz AS resolved_at, a.audience, a.factor\n"
        "  FROM crm.complaints k,\n"
        "       (VALUES ('rep', 1), ('manager', 2)) AS a(audience, factor)\n"
        "  WHERE k.resolved_at IS NULL\n"
        "    AND k.opened_at >= $1::timestamptz - make_interval(secs => ($4::jsonb->>'max_lateness')::bigint)\n"
        "                       - make_interval(hours => 2 * (SELECT max(hours) FROM sev)::int + 1)\n"
        "    AND k.opened_at <= $1::timestamptz - make_interval(hours => (SELECT min(hours) FROM sev)::int - 1)\n"
        /* The alert's own due test (deadline passed, within max_lateness),
         * before any customer or rep is looked up: it depends on no zone. */
        "    AND EXISTS (SELECT 1 FROM sev\n"
        "                WHERE sev.severity = " JOB_SEVERITY_SQL("k.severity") "\n"
        "                  AND k.opened_at + make_interval(secs => (a.factor * sev.hours * 3600)::double precision) <= $1::timestamptz\n"
        "                  AND $1::timestamptz <= k.opened_at + make_interval(secs => (a.factor * sev.hours * 3600)::double precision)\n"
        "                                         + make_interval(secs => ($4::jsonb->>'max_lateness')::bigint))\n"
        "),\n"
        "/* Resolved complaints whose survey day is within max_lateness: a range on\n"
        " * the partial index of resolved complaints.  The survey day is the\n"
        " * resolution's date in the customer's zone plus survey_after_days: the\n"
        " * range ends JOB_ZONE_SLACK_SQL after resolved_at + survey_after_days, as\n"
        " * follow_ups' does (with a day, a complaint resolved late on an evening\n"
        " * before a spring-forward was not seen in the first hour of its survey\n"
        " * day). */\n"
        "resolved_c AS (\n"
        "  SELECT k.id, k.customer_id, " JOB_SEVERITY_SQL("k.severity") ", k.summary, k.opened_at, k.resolved_at,\n"
        "         'customer'::text AS audience, 0 AS factor\n"
        "  FROM crm.complaints k\n"
        "  WHERE k.resolved_at IS NOT NULL\n"
        "    AND coalesce(($4::jsonb->>'survey')::boolean, true)\n"
        "    AND k.resolved_at >= $1::timestamptz - make_interval(days => coalesce(($4::jsonb->>'survey_after_days')::int, 2) + 2)\n"
        "                         - make_interval(secs => ($4::jsonb->>'max_lateness')::bigint)\n"
        "    AND k.resolved_at <= $1::timestamptz - make_interval(days => coalesce(($4::jsonb->>'survey_after_days')::int, 2))\n"
        "                         + " JOB_ZONE_SLACK_SQL "\n"
        "),\n"
        "base AS (\n"
        "  SELECT k.*, sev.hours, c.name, c.tier, c.email, c.phone, c.consent_email, c.consent_sms,\n"
        "         coalesce(nullif(c.time_zone, ''), cfg.dtz) AS ctz, coalesce(nullif(c.locale, ''), cfg.dloc) AS clocale,\n"
        "         r.id AS rep_id, r.name AS rep_name, r.email AS rep_email, r.phone AS rep_phone, r.active IS TRUE AS rep_active,\n"
        "         coalesce(nullif(r.time_zone, ''), cfg.dtz) AS rtz, coalesce(nullif(r.locale, ''), cfg.dloc) AS rlocale,\n"
        "         m.id AS mgr_id, m.name AS mgr_name, m.email AS mgr_email, m.active IS TRUE AS mgr_active,\n"
        "         coalesce(nullif(m.time_zone, ''), cfg.dtz) AS mtz, coalesce(nullif(m.locale, ''), cfg.dloc) AS mlocale\n"
        "  FROM (SELECT * FROM open_c UNION ALL SELECT * FROM resolved_c) k\n"
        "  CROSS JOIN cfg\n"
        "  JOIN sev ON sev.severity = k.severity\n"
        "  JOIN crm.customers c ON c.id = k.customer_id AND c.active\n"
        "  LEFT JOIN crm.reps r ON r.id = c.rep_id\n"
        "  LEFT JOIN crm.reps m ON m.id = r.manager_id\n"
        "),\n"
        "msg AS MATERIALIZED (\n"
        "  SELECT b.*, ch.channel, ch.rank, t.*,\n"
        "         CASE WHEN b.audience = 'customer' THEN NULL\n"
        "              ELSE b.opened_at + make_interval(secs => (b.factor * b.hours * 3600)::double precision) END AS deadline\n"
        "  FROM base b CROSS JOIN cfg,\n"
        "       LATERAL (SELECT 'email'::text, 1::bigint WHERE b.audience <> 'customer'\n"
        "                UNION ALL\n"
        "                SELECT x, n FROM jsonb_array_elements_text(cfg.s->'channels') WITH ORDINALITY AS e(x, n)\n"
        "                WHERE b.audience = 'customer') AS ch(channel, rank),\n"
        "       LATERAL (SELECT\n"
        "         CASE WHEN b.audience = 'customer' THEN NULL\n"
        "              WHEN b.audience = 'rep' AND b.rep_active THEN b.rep_id\n"
        "              WHEN b.mgr_active THEN b.mgr_id END AS who_rep_id,\n"
        "         CASE WHEN b.audience = 'customer' THEN b.name\n"
        "              WHEN b.audience = 'rep' AND b.rep_active THEN b.rep_name\n"
        "              WHEN b.mgr_active THEN b.mgr_name END AS who_name,\n"
        "         CASE WHEN b.audience = 'customer' THEN CASE ch.channel WHEN 'email' THEN b.email ELSE b.phone END\n"
        "              WHEN b.audience = 'rep' AND b.rep_active THEN b.rep_email\n"
        "              WHEN b.mgr_active THEN b.mgr_email END AS who_addr,\n"
        "         CASE WHEN b.audience = 'customer' THEN b.ctz\n"
        "              WHEN b.audience = 'rep' AND b.rep_active THEN b.rtz ELSE b.mtz END AS who_tz,\n"
        "         CASE WHEN b.audience = 'customer' THEN b.clocale\n"
        "              WHEN b.audience = 'rep' AND b.rep_active THEN b.rlocale ELSE b.mlocale END AS who_locale,\n"
        "         b.audience = 'rep' AND NOT b.rep_active AND b.mgr_active AS covering) t\n"
        "),\n"
        "/* Whether a zone is known, the zone the message is timed in and its\n"
        " * date today, once per distinct recipient zone rather than per message. */\n"
        "mz AS MATERIALIZED (\n"
        "  SELECT x.who_tz, x.tz_ok, l.tz, (cfg.now AT TIME ZONE l.tz)::date AS today\n"
        "  FROM (SELECT d.who_tz, d.who_tz IN (SELECT name FROM zones) AS tz_ok FROM (SELECT DISTINCT who_tz FROM msg) d) x\n"
        "  CROSS JOIN cfg, LATERAL (SELECT CASE WHEN x.tz_ok THEN x.who_tz ELSE cfg.dtz END AS tz) l\n"
        "),\n"
        "timed AS (\n"
        "  SELECT msg.*, l.tz_ok, l.tz, l.today,\n"
        "         CASE WHEN msg.audience = 'customer'\n"
        "              THEN (((msg.resolved_at AT TIME ZONE l.tz)::date + cfg.survey_after) + cfg.send_at) AT TIME ZONE l.tz\n"
        "              ELSE msg.deadline END AS not_before,\n"
        "         CASE\n"
        "           WHEN msg.audience = 'customer' AND NOT l.tz_ok THEN 'unknown time zone'\n"
        "           WHEN msg.audience = 'rep' AND msg.who_rep_id IS NULL THEN 'no active owning rep or manager'\n"
        "           WHEN msg.audience = 'manager' AND msg.who_rep_id IS NULL THEN 'no active manager'\n"
        "           WHEN NOT l.tz_ok THEN 'rep has an unknown time zone'\n"
        "           WHEN msg.audience <> 'customer' AND coalesce(msg.who_addr, '') = '' THEN 'rep has no e-mail address'\n"
        "           WHEN msg.audience <> 'customer' AND NOT rapport.email_ok(msg.who_addr) THEN 'rep has an invalid e-mail address'\n"
        "           WHEN msg.audience = 'customer' AND msg.channel = 'email' AND msg.consent_email AND msg.email IS NOT NULL\n"
        "                AND NOT rapport.email_ok(msg.email) THEN 'invalid e-mail address'\n"
        "           WHEN msg.audience = 'customer' AND msg.channel = 'sms' AND msg.consent_sms AND msg.phone IS NOT NULL\n"
        "                AND NOT rapport.phone_ok(msg.phone) THEN 'invalid phone number'\n"
        "         END AS skip_reason,\n"
        "         CASE WHEN msg.audience <> 'customer' THEN true\n"
        "              WHEN msg.channel = 'email' THEN msg.consent_email AND msg.email IS NOT NULL\n"
        "              ELSE msg.consent_sms AND msg.phone IS NOT NULL END AS reachable\n"
        "  FROM msg JOIN mz l ON l.who_tz = msg.who_tz CROSS JOIN cfg\n"
        "),\n"
        "due AS (\n"
        "  SELECT t.* FROM timed t, cfg\n"
        /* An alert is due at its deadline; a survey once its day has come in
         * the customer's zone, whatever the time: its send_at can be more
         * than a day ahead (23:30 on a day of 25 hours, seen from its
         * midnight), so "not_before within a day" missed it in that hour. */
        "  WHERE CASE WHEN t.audience = 'customer' THEN (t.not_before AT TIME ZONE t.tz)::date <= t.today\n"
        "             ELSE t.not_before <= cfg.now END\n"
        "    AND (t.not_before AT TIME ZONE t.tz)::date >= " JOB_RECIPIENT_EFFECTIVE_SQL("t.tz") "\n"
        "    AND cfg.now <= t.not_before + cfg.lateness\n"
        "),\n"
        "reaching AS MATERIALIZED (\n"
        "  SELECT due.*, CASE due.channel WHEN 'email' THEN lower(due.who_addr) ELSE due.who_addr END AS recipient,\n"
        /* The first channel that reaches the customer for this complaint's
         * survey: a window over the rows, not a sub-select per survey
         * scanning them all (at 1M customers 1,574 surveys x 8,652 rows:
         * 0.66 s of the job's 1 s). */
        "         min(due.rank) FILTER (WHERE due.audience = 'customer') OVER (PARTITION BY due.id) AS first_rank\n"
        "  FROM due\n"
        "  WHERE due.skip_reason IS NULL AND due.reachable\n"
        "    AND NOT EXISTS (SELECT 1 FROM rapport.suppression s WHERE s.address = lower(due.who_addr))\n"
        "),\n"
        /* A survey goes once: by the first configured channel that reaches
         * the customer, and not at all when one was planned before, on
         * whichever channel (the key names the channel). */
        "wanted AS (\n"
        "  SELECT r.* FROM reaching r CROSS JOIN cfg\n"
        "  WHERE r.audience <> 'customer'\n"
        "     OR (r.rank = r.first_rank\n"
        "         AND NOT EXISTS (SELECT 1 FROM rapport.outbox o\n"
        "                         WHERE o.dedupe_key IN ('survey:email:' || r.id, 'survey:sms:' || r.id)))\n"
        "),\n"
        "ins AS (\n"
        "  INSERT INTO rapport.outbox (job, run_id, channel, audience, recipient, recipient_name, customer_id, rep_id,\n"
        "                              template, locale, time_zone, context, marketing, dedupe_key,\n"
        "                              not_before, next_attempt_at, expires_at)\n"
        "  SELECT 'complaints', cfg.run_id, w.channel, w.audience, w.recipient, w.who_name, w.customer_id,\n"
        "         CASE WHEN w.audience = 'customer' THEN w.rep_id ELSE w.who_rep_id END,\n"
        "         CASE w.audience WHEN 'rep' THEN cfg.s->>'template' WHEN 'manager' THEN cfg.s->>'escalation_template'\n"
        "                         ELSE cfg.s->>'survey_template' END,\n"
        "         w.who_locale, w.tz,\n"
        "         jsonb_build_object(\n"
        "           'customer', jsonb_build_object('id', w.customer_id, 'name', w.name, 'tier', w.tier, 'key_account', w.tier = 'A')\n"
        "                       || CASE WHEN w.audience = 'customer' THEN '{}'::jsonb\n"
        "                               ELSE jsonb_build_object('email', w.email, 'phone', w.phone) END,\n"
        "           'rep', " JOB_REP_CONTEXT("w.rep_id", "w.rep_name", "w.rep_email", "w.rep_phone", "w.rep_active", "w.audience") ",\n"
        "           'recipient', jsonb_build_object('name', w.who_name),\n"
        "           'covering', w.covering,\n"
        "           'complaint', jsonb_build_object(\n"
        "               'id', w.id, 'severity', w.severity, 'summary', w.summary,\n"
        "               'critical', w.severity = 'critical', 'high', w.severity = 'high',\n"
        "               'normal', w.severity = 'normal', 'low', w.severity = 'low',\n"
        "               'opened_at', to_char(w.opened_at AT TIME ZONE w.tz, 'YYYY-MM-DD HH24:MI'),\n"
        "               'opened_on', to_char(w.opened_at AT TIME ZONE w.tz, 'YYYY-MM-DD'),\n"
        "               'resolved_at', to_char(w.resolved_at AT TIME ZONE w.tz, 'YYYY-MM-DD HH24:MI'),\n"
        "               'resolved_on', to_char(w.resolved_at AT TIME ZONE w.tz, 'YYYY-MM-DD'),\n"
        "               'response_hours', w.hours,\n"
        "               'deadline', to_char((w.opened_at + make_interval(secs => (w.hours * 3600)::double precision)) AT TIME ZONE w.tz,\n"
        "                                   'YYYY-MM-DD HH24:MI'),\n"
        "               'hours_open', floor(extract(epoch FROM coalesce(w.resolved_at, cfg.now) - w.opened_at) / 3600)::int,\n"
        "               'hours_late', greatest(floor(extract(epoch FROM coalesce(w.resolved_at, cfg.now) - w.opened_at) / 3600 - w.hours)::int, 0)),\n"
        "           'survey_url', CASE WHEN w.audience = 'customer' THEN\n"
        "               cfg.survey_url || CASE WHEN strpos(cfg.survey_url, '?') > 0 THEN '&' ELSE '?' END || 'complaint=' || w.id END),\n"
        "         w.audience = 'customer',\n"
        "         CASE w.audience WHEN 'customer' THEN 'survey:' || w.channel || ':' || w.id\n"
        "                         ELSE 'complaint:' || w.id || ':' || w.audience END,\n"
        "         w.not_before, w.not_before, w.not_before + cfg.lateness\n"
        "  FROM wanted w, cfg\n"
        "  ON CONFLICT (dedupe_key) DO NOTHING\n"
        "  RETURNING 1\n"
        "),\n"
        "skips AS (\n"
        "  INSERT INTO rapport.skipped (job, customer_id, reason, day, run_id)\n"
        "  SELECT DISTINCT 'complaints', due.customer_id, due.skip_reason, (cfg.now AT TIME ZONE 'UTC')::date, cfg.run_id\n"
        "  FROM due, cfg WHERE due.skip_reason IS NOT NULL\n"
        "  ON CONFLICT DO NOTHING\n"
        "  RETURNING 1\n"
        "),\n"
        JOB_PASSED_OVER_CTE("customer_id", "lower(due.who_addr)")
        "SELECT (SELECT count(*) FROM ins) AS planned,\n"
        JOB_SKIP_COUNTS_SQL
        "       (SELECT count(*) FROM skips) AS newly_skipped\n";

static const char still_due_sql[] =
        "SELECT o.id, CASE WHEN o.audience = 'customer' THEN 'the complaint is open again (or was deleted)'\n"
        "                  ELSE 'the complaint has been resolved' END AS reason\n"
        "FROM rapport.outbox o\n"
        "LEFT JOIN crm.complaints k ON k.id = (o.context->'complaint'->>'id')::bigint\n"
        "WHERE o.id = ANY($1::bigint[]) AND o.job = 'complaints'\n"
        "  AND CASE WHEN o.audience = 'customer' THEN k.resolved_at IS NULL\n"
        "           ELSE k.id IS NULL OR k.resolved_at IS NOT NULL END\n";

static const char *const complaints_channel_templates[] = {"survey_template", NULL};

const struct job_def job_complaints = {
        .channel_templates = complaints_channel_templates,
        .name = "complaints",
        .description = "alerts on complaints past their response deadline; satisfaction surveys after resolution",
        .default_schedule = "*/15 * * * *",
        .settings = complaints_settings,
        .plan_sql = plan_sql,
        .still_due_sql = still_due_sql,
};
