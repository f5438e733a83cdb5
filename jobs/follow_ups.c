/* follow_ups: customers the owning rep should contact now — an explicit
 * next_follow_up that is today or past (and not yet met by an interaction
 * on or after it), or no interaction for longer than the tier's
 * cadence_days.  They reach the rep through the digest, which computes
 * them itself; this job only plans the optional same-day reminder for
 * tier A (tier_a_reminder = true).
 *
 * Each condition is a due date (the plan date; last interaction + cadence)
 * and the reminder goes once per customer and due date
 * (follow_up:CUSTOMER:DATE) at send_at in the rep's zone: "due <= today and
 * not yet sent", kept within max_lateness and on or after effective_from.
 * Cost: one pass over tier A customers with one index probe each for the
 * last interaction — the CRM contract gives no index on recency. */
#include "jobs.h"

static const struct setting_spec follow_ups_settings[] = {
        {"cadence_days", SET_TIER_MAP, "{\"A\":7,\"B\":30,\"C\":90}", NULL, 0, 0},
        {"tier_a_reminder", SET_BOOL, "false", NULL, 0, 0},
        {"send_at", SET_TIME_OF_DAY, "\"09:00:00\"", NULL, 0, 0},
        {"template", SET_STRING, "\"follow_up_reminder\"", NULL, 0, 0},
        {NULL, 0, NULL, NULL, 0, 0},
};

static const char plan_sql[] =
        "WITH cfg AS (\n"
        "  SELECT $1::timestamptz AS now, $2::text AS dtz, $3::text AS dloc, $5::bigint AS run_id, $4::jsonb AS s,\n"
        "         ($4::jsonb->>'send_at')::time AS send_at,\n"
        "         make_interval(secs => ($4::jsonb->>'max_lateness')::bigint) AS lateness,\n"
        "         " JOB_EFFECTIVE_FROM_SQL("follow_ups", "$4::jsonb", "$1") " AS eff_from,\n"
        "         " JOB_EFFECTIVE_AT_SQL("follow_ups", "$4::jsonb", "$1") " AS eff_at\n"
        "),\n"
        "zones AS MATERIALIZED (SELECT name FROM rapport.time_zones),\n"
        "base AS (\n"
        "  SELECT c.id, c.name, c.tier, c.email, c.phone, c.next_follow_up, c.created_at, c.rep_id,\n"
        "         coalesce((cfg.s->'cadence_days'->>c.tier)::int,\n"
        "                  CASE c.tier WHEN 'A' THEN 7 WHEN 'B' THEN 30 ELSE 90 END) AS cadence,\n"
        "         (SELECT max(i.happened_at) FROM crm.interactions i WHERE i.customer_id = c.id) AS last_at\n"
        "  FROM cfg\n"
        "  JOIN crm.customers c ON c.active AND c.tier = 'A'\n"
        "  WHERE coalesce((cfg.s->>'tier_a_reminder')::boolean, false)\n"
        "),\n"
        "/* Cheap superset of \"some due date falls in the window\", in UTC, before\n"
        " * any per-zone work.  The cadence date is the last contact's date in the\n"
        " * rep's zone plus cadence_days: the range ends JOB_ZONE_SLACK_SQL after\n"
        " * contact + cadence (the rep's offset can grow between the contact and\n"
        " * now: with a day, a contact late on an evening before a spring-forward\n"
        " * was not seen in the first hour of the rep's due date). */\n"
        "cand AS MATERIALIZED (\n"
        "  SELECT b.*, r.name AS rep_name, r.email AS rep_email, r.active AS rep_active,\n"
        "         coalesce(nullif(r.locale, ''), cfg.dloc) AS rep_locale,\n"
        "         coalesce(nullif(r.time_zone, ''), cfg.dtz) AS rtz,\n"
        "         coalesce(nullif(r.time_zone, ''), cfg.dtz) IN (SELECT name FROM zones) AS tz_ok\n"
        "  FROM base b CROSS JOIN cfg\n"
        "  LEFT JOIN crm.reps r ON r.id = b.rep_id\n"
        "  WHERE (b.next_follow_up IS NOT NULL AND b.next_follow_up <= (cfg.now AT TIME ZONE 'UTC')::date + 1)\n"
        "     OR coalesce(b.last_at, b.created_at) BETWEEN cfg.now - make_interval(days => b.cadence + 2) - cfg.lateness\n"
        "                                              AND cfg.now - make_interval(days => b.cadence) + " JOB_ZONE_SLACK_SQL "\n"
        "),\n"
        "loc AS (\n"
        "  SELECT cand.*, z.tz,\n"
        "         (cfg.now AT TIME ZONE z.tz)::date AS today,\n"
        "         CASE WHEN cand.next_follow_up IS NOT NULL\n"
        "                   AND (cand.last_at IS NULL OR cand.last_at < (cand.next_follow_up::timestamp AT TIME ZONE z.tz))\n"
        "              THEN cand.next_follow_up END AS plan_due,\n"
        "         (coalesce(cand.last_at, cand.created_at) AT TIME ZONE z.tz)::date + cand.cadence AS cadence_due\n"
        "  FROM cand, cfg,\n"
        "       LATERAL (SELECT CASE WHEN cand.tz_ok THEN cand.rtz ELSE cfg.dtz END AS tz) z\n"
        "),\n"
        "ev AS (\n"
        "  SELECT loc.*, e.due, least(loc.plan_due, loc.cadence_due) AS first_due,\n"
        "         (e.due + cfg.send_at) AT TIME ZONE loc.tz AS not_before,\n"
        "         CASE\n"
        "           WHEN loc.rep_active IS NOT TRUE THEN 'no active owning rep'\n"
        "           WHEN NOT loc.tz_ok THEN 'rep has an unknown time zone'\n"
        "           WHEN coalesce(loc.rep_email, '') = '' THEN 'rep has no e-mail address'\n"
        "           WHEN NOT rapport.email_ok(loc.rep_email) THEN 'rep has an invalid e-mail address'\n"
        "         END AS skip_reason\n"
        "  FROM loc, cfg, LATERAL (SELECT DISTINCT d FROM unnest(ARRAY[loc.plan_due, loc.cadence_due]) AS u(d)\n"
        "                          WHERE d IS NOT NULL) AS e(due)\n"
        "  WHERE e.due <= loc.today AND e.due >= " JOB_RECIPIENT_EFFECTIVE_SQL("loc.tz") "\n"
        "    AND cfg.now <= ((e.due + cfg.send_at) AT TIME ZONE loc.tz) + cfg.lateness\n"
        "),\n"
        "wanted AS (\n"
        "  SELECT ev.* FROM ev\n"
        "  WHERE ev.skip_reason IS NULL\n"
        "    AND NOT EXISTS (SELECT 1 FROM rapport.suppression s WHERE s.address = lower(ev.rep_email))\n"
        "),\n"
        "ins AS (\n"
        "  INSERT INTO rapport.outbox (job, run_id, channel, audience, recipient, recipient_name, customer_id, rep_id,\n"
        "                              template, locale, time_zone, context, marketing, dedupe_key,\n"
        "                              not_before, next_attempt_at, expires_at)\n"
        "  SELECT 'follow_ups', cfg.run_id, 'email', 'rep', lower(w.rep_email), w.rep_name, w.id, w.rep_id,\n"
        "         cfg.s->>'template', w.rep_locale, w.tz,\n"
        "         jsonb_build_object(\n"
        "           'customer', jsonb_build_object('id', w.id, 'name', w.name, 'tier', w.tier, 'key_account', w.tier = 'A',\n"
        "                                          'email', w.email, 'phone', w.phone),\n"
        "           'rep', jsonb_build_object('id', w.rep_id, 'name', w.rep_name),\n"
        "           'due_on', to_char(w.due, 'YYYY-MM-DD'),\n"
        "           'today', to_char(w.today, 'YYYY-MM-DD'),\n"
        "           'days_overdue', w.today - w.first_due,\n"
        "           'days_overdue_plural', w.today - w.first_due <> 1,\n"
        "           'overdue', w.today > w.first_due,\n"
        "           'planned', w.plan_due IS NOT NULL,\n"
        "           'next_follow_up', to_char(w.plan_due, 'YYYY-MM-DD'),\n"
        "           'cadence_days', w.cadence,\n"
        "           'cadence_exceeded', w.cadence_due <= w.today,\n"
        "           'last_contact', to_char(w.last_at AT TIME ZONE w.tz, 'YYYY-MM-DD'),\n"
        "           'days_since_contact', w.today - (w.last_at AT TIME ZONE w.tz)::date,\n"
        "           'last_interaction_at', to_char(w.last_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),\n"
        "           'never_contacted', w.last_at IS NULL),\n"
        "         false,\n"
        "         'follow_up:' || w.id || ':' || to_char(w.due, 'YYYY-MM-DD'),\n"
        "         w.not_before, w.not_before, w.not_before + cfg.lateness\n"
        "  FROM wanted w, cfg\n"
        "  ON CONFLICT (dedupe_key) DO NOTHING\n"
        "  RETURNING 1\n"
        "),\n"
        "skips AS (\n"
        "  INSERT INTO rapport.skipped (job, customer_id, reason, day, run_id)\n"
        "  SELECT DISTINCT 'follow_ups', ev.id, ev.skip_reason, (cfg.now AT TIME ZONE 'UTC')::date, cfg.run_id\n"
        "  FROM ev, cfg WHERE ev.skip_reason IS NOT NULL\n"
        "  ON CONFLICT DO NOTHING\n"
        "  RETURNING 1\n"
        ")\n"
        "SELECT (SELECT count(*) FROM ins) AS planned,\n"
        "       (SELECT count(DISTINCT id) FROM ev WHERE skip_reason IS NOT NULL) AS skipped,\n"
        "       (SELECT coalesce(jsonb_object_agg(skip_reason, n), '{}'::jsonb)\n"
        "          FROM (SELECT skip_reason, count(DISTINCT id) AS n FROM ev\n"
        "                WHERE skip_reason IS NOT NULL GROUP BY 1) x) AS skip_reasons,\n"
        "       (SELECT count(*) FROM skips) AS newly_skipped\n";

/* Also no longer due: a reminder about a customer deactivated since
 * planning (no one to follow up with), one no longer tier A, and one whose
 * follow-up the CRM no longer has due: the plan date moved to a later day
 * (or was cleared) and the tier's cadence is not exceeded either.  Dates
 * are the rep's (the message's zone), as the plan reckoned them. */
static const char still_due_sql[] =
        "SELECT o.id, CASE WHEN NOT coalesce(c.active, false) THEN '" JOB_CUSTOMER_GONE_REASON "'\n"
        "                  WHEN x.contacted THEN 'the rep has been in touch with the customer since the reminder was planned'\n"
        "                  WHEN c.tier IS DISTINCT FROM 'A' THEN 'the customer is no longer tier A'\n"
        "                  ELSE 'the follow-up is no longer due: the next follow-up date has changed in the CRM' END AS reason\n"
        "FROM rapport.outbox o\n"
        "LEFT JOIN crm.customers c ON c.id = o.customer_id\n"
        "CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM crm.interactions i\n"
        "                                   WHERE i.customer_id = o.customer_id\n"
        "                                     AND i.happened_at > coalesce((o.context->>'last_interaction_at')::timestamptz, '-infinity')\n"
        "                                     AND i.happened_at <= $2::timestamptz) AS contacted,\n"
        "                           ($2::timestamptz AT TIME ZONE o.time_zone)::date AS today,\n"
        "                           coalesce(($3::jsonb->'cadence_days'->>'A')::int, 7) AS cadence) x\n"
        "WHERE o.id = ANY($1::bigint[]) AND o.job = 'follow_ups'\n"
        "  AND (NOT coalesce(c.active, false) OR x.contacted OR c.tier IS DISTINCT FROM 'A'\n"
        "       OR NOT (coalesce(c.next_follow_up <= x.today AND isfinite(c.next_follow_up), false)\n"
        "               OR coalesce((coalesce((o.context->>'last_interaction_at')::timestamptz, c.created_at)\n"
        "                            AT TIME ZONE o.time_zone)::date + x.cadence <= x.today, false)))\n";

const struct job_def job_follow_ups = {
        .name = "follow_ups",
        .description = "same-day reminders to reps for tier A customers due for a follow-up (the digest lists all tiers)",
        .default_schedule = "0 * * * *",
        .settings = follow_ups_settings,
        .plan_sql = plan_sql,
        .still_due_sql = still_due_sql,
};
