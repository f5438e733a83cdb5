/* dormant: customers whose last activity (latest interaction or invoice
 * issued_on, else created_at) is older than their tier's dormant_days.
 * The owning rep is alerted once per dormancy episode: the dedupe key
 * dormant:CUSTOMER:LAST-ACTIVITY-DATE changes when the customer comes back
 * and lapses again.  With winback = true the customer also gets a win-back
 * message per configured channel (marketing: consent and unsubscribe).
 *
 * The episode is due on last activity + dormant_days, at send_at in the
 * recipient's zone, within max_lateness (default 7 days here: a late alert
 * about a lapsing customer is still worth having) and on or after
 * effective_from, so switching the job on never reports the customers who
 * went quiet years ago.  Only a customer whose last activity falls in
 * its tier's due window (a few days before dormant_days ago) can be due:
 * those with activity in the window are found by date (the (happened_at,
 * customer_id) and (issued_on, customer_id) indexes of etc/crm.sql, and
 * customers by created_at for the never active), merged with the tier's
 * customers (customers_tier_idx), then one probe of the per-customer
 * indexes, in customer order, confirms nothing came later.  The cost
 * follows a few days of activity, not the whole history; but at a million
 * customers a few days of activity still reach a third of them (some
 * 150,000 probes remain), so this job plans in about a second there.  The
 * default schedule stays every six hours (max_lateness covers the gap). */
#include "jobs.h"

static const struct setting_spec dormant_settings[] = {
        {"dormant_days", SET_TIER_MAP, "{\"A\":30,\"B\":60,\"C\":180}", NULL, 0, 0},
        {"winback", SET_BOOL, "false", NULL, 0, 0},
        {"send_at", SET_TIME_OF_DAY, "\"09:00:00\"", NULL, 0, 0},
        {"template", SET_STRING, "\"dormant_alert\"", NULL, 0, 0},
        {"winback_template", SET_STRING, "\"winback\"", NULL, 0, 0},
        /* Overrides the common default: see above. */
        {"max_lateness", SET_DURATION, "604800", NULL, 0, 366LL * 86400},
        {NULL, 0, NULL, NULL, 0, 0},
};

static const char plan_sql[] =
        "WITH cfg AS (\n"
        "  SELECT $1::timestamptz AS now, $2::text AS dtz, $3::text AS dloc, $5::bigint AS run_id, $4::jsonb AS s,\n"
        "         ($4::jsonb->>'send_at')::time AS send_at,\n"
        "         make_interval(secs => ($4::jsonb->>'max_lateness')::bigint) AS lateness,\n"
        "         coalesce(($4::jsonb->>'winback')::boolean, false) AS winback,\n"
        "         " JOB_EFFECTIVE_FROM_SQL("dormant", "$4::jsonb", "$1") " AS eff_from,\n"
        "         " JOB_EFFECTIVE_AT_SQL("dormant", "$4::jsonb", "$1") " AS eff_at\n"
        "),\n"
        "zones AS MATERIALIZED (SELECT name FROM rapport.time_zones),\n"
        /* The tiers the active customers have: a loose scan of
         * customers_tier_idx (etc/crm.sql), one probe a tier.  The CRM
         * contract's tiers are A, B and C; any other tier, and none, gets
         * 180 days whatever the configuration says. */
        "tiers AS MATERIALIZED (\n"
        "  WITH RECURSIVE t AS (\n"
        "    SELECT min(c.tier) AS tier FROM crm.customers c WHERE c.active\n"
        "    UNION ALL\n"
        "    SELECT (SELECT min(c.tier) FROM crm.customers c WHERE c.active AND c.tier > t.tier) FROM t WHERE t.tier IS NOT NULL\n"
        "  )\n"
        "  SELECT t.tier FROM t WHERE t.tier IS NOT NULL\n"
        "  UNION ALL\n"
        "  SELECT NULL WHERE EXISTS (SELECT 1 FROM crm.customers c WHERE c.active AND c.tier IS NULL)\n"
        "),\n"
        /* The due window of each tier's dormancy threshold, as a UTC
         * superset with JOB_ZONE_SLACK_SQL each side: the last activity's
         * date is the customer's, the date it is compared with and the
         * send_at it goes at are the recipient's.  A customer whose last
         * activity falls in it may be due now.  It starts no earlier than
         * effective_from allows (an episode due before it is never
         * planned), so the first runs after a job is switched on read a day
         * or two of activity, not max_lateness of it.  An invoice counts as
         * activity at the end of its issue day (see act), so the invoices
         * in the window are those issued the day before its UTC dates. */
        "win AS MATERIALIZED (\n"
        "  SELECT w.*, (w.lo AT TIME ZONE 'UTC')::date - 1 AS inv_lo, (w.hi AT TIME ZONE 'UTC')::date - 1 AS inv_hi\n"
        "  FROM (SELECT t.tier, d.days,\n"
        "               greatest(cfg.now - make_interval(days => d.days) - " JOB_ZONE_SLACK_SQL " - cfg.lateness,\n"
        "                        (cfg.eff_from - d.days - 2)::timestamp AT TIME ZONE 'UTC') AS lo,\n"
        "               cfg.now - make_interval(days => d.days) + " JOB_ZONE_SLACK_SQL " AS hi\n"
        "        FROM cfg, tiers t,\n"
        "             LATERAL (SELECT coalesce((cfg.s->'dormant_days'->>t.tier)::int,\n"
        "                                      CASE t.tier WHEN 'A' THEN 30 WHEN 'B' THEN 60 ELSE 180 END) AS days) d) w\n"
        "),\n"
        /* Per tier, its customers with some activity inside its window:
         * range scans on the (happened_at, customer_id) and (issued_on,
         * customer_id) indexes, and on customers by created_at for those
         * who never had any, so the cost follows a few days of activity, not
         * the whole history.  What they find is sorted by customer alone (a
         * sort of one column, the cheap kind) and merged with the tier's
         * active customers, read in id order from customers_tier_idx.  At
         * 1M customers this took 0.5 s where one merge of every window's
         * activity with every customer, then the tier test, took 0.65 s
         * (and a hash of the customers 0.69 s, a probe per hit 2.6 s).  A
         * customer found twice in the window comes out twice: h1s removes
         * the duplicates in the sort it needs anyway.  The OFFSET 0 fences
         * keep PostgreSQL, which cannot guess how much activity a window
         * holds, to that shape.  Customers without a tier, outside the
         * contract, are looked up one by one. */
        "h1 AS MATERIALIZED (\n"
        "  SELECT x.id, w.days, w.lo, w.hi, x.created_at\n"
        "  FROM win w CROSS JOIN LATERAL (\n"
        "    SELECT c.id, c.created_at\n"
        "    FROM (SELECT h.id FROM (\n"
        "            SELECT i.customer_id AS id FROM crm.interactions i WHERE i.happened_at BETWEEN w.lo AND w.hi\n"
        "            UNION ALL\n"
        "            SELECT v.customer_id FROM crm.invoices v\n"
        "            WHERE v.issued_on BETWEEN w.inv_lo AND w.inv_hi\n"
        "            UNION ALL\n"
        "            SELECT c.id FROM crm.customers c WHERE c.active AND c.created_at BETWEEN w.lo AND w.hi) h\n"
        "          ORDER BY h.id OFFSET 0) h\n"
        "    JOIN (SELECT c.id, c.created_at FROM crm.customers c WHERE c.active AND c.tier = w.tier ORDER BY c.id OFFSET 0) c\n"
        "      ON c.id = h.id\n"
        "  ) x\n"
        "  UNION ALL\n"
        "  SELECT c.id, w.days, w.lo, w.hi, c.created_at\n"
        "  FROM win w JOIN crm.customers c ON c.active AND c.tier IS NULL\n"
        "  WHERE w.tier IS NULL\n"
        "    AND (c.created_at BETWEEN w.lo AND w.hi\n"
        "         OR EXISTS (SELECT 1 FROM crm.interactions i WHERE i.customer_id = c.id AND i.happened_at BETWEEN w.lo AND w.hi)\n"
        "         OR EXISTS (SELECT 1 FROM crm.invoices v WHERE v.customer_id = c.id\n"
        "                    AND v.issued_on BETWEEN w.inv_lo AND w.inv_hi))\n"
        "),\n"
        /* ... who have not been active after the window: one probe of the
         * per-customer index each, in customer order so that neighbouring
         * probes share index pages (OFFSET 0 keeps the sort below the
         * probes) ... */
        "h1s AS MATERIALIZED (\n"
        "  SELECT h1.*, (SELECT max(i.happened_at) FROM crm.interactions i WHERE i.customer_id = h1.id) AS last_at\n"
        "  FROM (SELECT DISTINCT ON (h1.id, h1.days) * FROM h1 ORDER BY h1.id, h1.days OFFSET 0) h1\n"
        "),\n"
        /* ... and whose last activity, invoices included, is in the window:
         * the same test as over every customer. */
        "h2 AS MATERIALIZED (\n"
        "  SELECT h1.*, (SELECT max(v.issued_on) FROM crm.invoices v WHERE v.customer_id = h1.id) AS last_inv\n"
        "  FROM h1s h1 WHERE h1.last_at IS NULL OR h1.last_at <= h1.hi\n"
        "),\n"
        "act AS (\n"
        "  SELECT h2.* FROM h2\n"
        "  WHERE coalesce(greatest(h2.last_at, (h2.last_inv + 1)::timestamp AT TIME ZONE 'UTC'), h2.created_at)\n"
        "        BETWEEN h2.lo AND h2.hi\n"
        "),\n"
        "cand AS MATERIALIZED (\n"
        "  SELECT c.id, c.name, c.tier, c.email, c.phone, c.consent_email, c.consent_sms, c.created_at,\n"
        "         coalesce(nullif(c.time_zone, ''), cfg.dtz) AS ctz,\n"
        "         coalesce(nullif(c.locale, ''), cfg.dloc) AS clocale,\n"
        "         coalesce(nullif(c.time_zone, ''), cfg.dtz) IN (SELECT name FROM zones) AS ctz_ok,\n"
        "         r.id AS rep_id, r.name AS rep_name, r.email AS rep_email, r.phone AS rep_phone, r.active AS rep_active,\n"
        "         coalesce(nullif(r.time_zone, ''), cfg.dtz) AS rtz,\n"
        "         coalesce(nullif(r.locale, ''), cfg.dloc) AS rlocale,\n"
        "         coalesce(nullif(r.time_zone, ''), cfg.dtz) IN (SELECT name FROM zones) AS rtz_ok,\n"
        "         a.days, a.last_at, a.last_inv\n"
        "  FROM act a CROSS JOIN cfg\n"
        "  JOIN crm.customers c ON c.id = a.id\n"
        "  LEFT JOIN crm.reps r ON r.id = c.rep_id\n"
        "),\n"
        "ep AS (\n"
        "  SELECT cand.*, l.last_date, l.last_date + cand.days AS due,\n"
        "         (cfg.now AT TIME ZONE CASE WHEN cand.rtz_ok THEN cand.rtz ELSE cfg.dtz END)::date AS rep_today,\n"
        "         (cfg.now AT TIME ZONE CASE WHEN cand.ctz_ok THEN cand.ctz ELSE cfg.dtz END)::date AS cust_today\n"
        "  FROM cand, cfg,\n"
        "       LATERAL (SELECT coalesce(greatest((cand.last_at AT TIME ZONE CASE WHEN cand.ctz_ok THEN cand.ctz ELSE cfg.dtz END)::date,\n"
        "                                         cand.last_inv),\n"
        "                                (cand.created_at AT TIME ZONE CASE WHEN cand.ctz_ok THEN cand.ctz ELSE cfg.dtz END)::date) AS last_date) l\n"
        "),\n"
        "/* One row per message: the rep alert, plus the win-back per channel. */\n"
        "msg AS (\n"
        "  SELECT ep.*, m.audience, m.channel, z.ztz,\n"
        "         CASE m.audience WHEN 'rep' THEN lower(ep.rep_email)\n"
        "              ELSE CASE m.channel WHEN 'email' THEN lower(ep.email) ELSE ep.phone END END AS recipient,\n"
        "         CASE m.audience WHEN 'rep' THEN ep.rtz ELSE ep.ctz END AS tz,\n"
        "         CASE m.audience WHEN 'rep' THEN ep.rep_today ELSE ep.cust_today END AS today,\n"
        "         CASE\n"
        "           WHEN NOT ep.ctz_ok THEN 'unknown time zone'\n"
        "           WHEN m.audience = 'rep' AND ep.rep_active IS NOT TRUE THEN 'no active owning rep'\n"
        "           WHEN m.audience = 'rep' AND NOT ep.rtz_ok THEN 'rep has an unknown time zone'\n"
        "           WHEN m.audience = 'rep' AND coalesce(ep.rep_email, '') = '' THEN 'rep has no e-mail address'\n"
        "           WHEN m.audience = 'rep' AND NOT rapport.email_ok(ep.rep_email) THEN 'rep has an invalid e-mail address'\n"
        "           WHEN m.audience = 'customer' AND m.channel = 'email' AND ep.consent_email AND ep.email IS NOT NULL\n"
        "                AND NOT rapport.email_ok(ep.email) THEN 'invalid e-mail address'\n"
        "           WHEN m.audience = 'customer' AND m.channel = 'sms' AND ep.consent_sms AND ep.phone IS NOT NULL\n"
        "                AND NOT rapport.phone_ok(ep.phone) THEN 'invalid phone number'\n"
        "         END AS skip_reason,\n"
        "         CASE WHEN m.audience = 'rep' THEN true\n"
        "              WHEN m.channel = 'email' THEN ep.consent_email AND ep.email IS NOT NULL\n"
        "              ELSE ep.consent_sms AND ep.phone IS NOT NULL END AS reachable\n"
        "  FROM ep, cfg,\n"
        "       LATERAL (SELECT 'rep'::text, 'email'::text\n"
        "                UNION ALL\n"
        "                SELECT 'customer', ch FROM jsonb_array_elements_text(cfg.s->'channels') AS ch WHERE cfg.winback\n"
        "               ) AS m(audience, channel),\n"
        /* The zone the message is timed in; its effective_from is that zone's date. */
        "       LATERAL (SELECT CASE WHEN m.audience = 'rep' AND ep.rtz_ok THEN ep.rtz\n"
        "                            WHEN ep.ctz_ok THEN ep.ctz ELSE cfg.dtz END AS ztz) z\n"
        "  WHERE ep.due >= " JOB_RECIPIENT_EFFECTIVE_SQL("z.ztz") "\n"
        "    AND ep.due <= CASE m.audience WHEN 'rep' THEN ep.rep_today ELSE ep.cust_today END\n"
        "),\n"
        "timed AS (\n"
        "  SELECT msg.*, (msg.due + cfg.send_at) AT TIME ZONE msg.ztz AS not_before\n"
        "  FROM msg, cfg\n"
        "),\n"
        "due AS (\n"
        "  SELECT t.* FROM timed t, cfg WHERE cfg.now <= t.not_before + cfg.lateness\n"
        "),\n"
        "wanted AS (\n"
        "  SELECT due.* FROM due\n"
        "  WHERE due.skip_reason IS NULL AND due.reachable\n"
        "    AND NOT EXISTS (SELECT 1 FROM rapport.suppression s WHERE s.address = lower(due.recipient))\n"
        "),\n"
        "ins AS (\n"
        "  INSERT INTO rapport.outbox (job, run_id, channel, audience, recipient, recipient_name, customer_id, rep_id,\n"
        "                              template, locale, time_zone, context, marketing, dedupe_key,\n"
        "                              not_before, next_attempt_at, expires_at)\n"
        "  SELECT 'dormant', cfg.run_id, w.channel, w.audience, w.recipient,\n"
        "         CASE w.audience WHEN 'rep' THEN w.rep_name ELSE w.name END, w.id, w.rep_id,\n"
        "         CASE w.audience WHEN 'rep' THEN cfg.s->>'template' ELSE cfg.s->>'winback_template' END,\n"
        "         CASE w.audience WHEN 'rep' THEN w.rlocale ELSE w.clocale END, w.tz,\n"
        "         jsonb_build_object(\n"
        "           'customer', jsonb_build_object('id', w.id, 'name', w.name, 'tier', w.tier, 'key_account', w.tier = 'A')\n"
        "                       || CASE WHEN w.audience = 'rep' THEN jsonb_build_object('email', w.email, 'phone', w.phone)\n"
        "                               ELSE '{}'::jsonb END,\n"
        "           'rep', " JOB_REP_CONTEXT("w.rep_id", "w.rep_name", "w.rep_email", "w.rep_phone", "w.rep_active", "w.audience") ",\n"
        "           'last_activity', to_char(w.last_date, 'YYYY-MM-DD'),\n"
        "           'last_interaction', to_char(w.last_at AT TIME ZONE w.ctz, 'YYYY-MM-DD'),\n"
        "           'last_interaction_at', to_char(w.last_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),\n"
        "           'last_invoice', to_char(w.last_inv, 'YYYY-MM-DD'),\n"
        "           'never_active', w.last_at IS NULL AND w.last_inv IS NULL,\n"
        "           'days_inactive', w.today - w.last_date,\n"
        "           'dormant_days', w.days,\n"
        "           'dormant_since', to_char(w.due, 'YYYY-MM-DD')),\n"
        "         w.audience = 'customer',\n"
        "         CASE w.audience WHEN 'rep' THEN 'dormant:' || w.id || ':' || to_char(w.last_date, 'YYYY-MM-DD')\n"
        "              ELSE 'winback:' || w.channel || ':' || w.id || ':' || to_char(w.last_date, 'YYYY-MM-DD') END,\n"
        "         w.not_before, w.not_before, w.not_before + cfg.lateness\n"
        "  FROM wanted w, cfg\n"
        "  ON CONFLICT (dedupe_key) DO NOTHING\n"
        "  RETURNING 1\n"
        "),\n"
        "skips AS (\n"
        "  INSERT INTO rapport.skipped (job, customer_id, reason, day, run_id)\n"
        "  SELECT DISTINCT 'dormant', due.id, due.skip_reason, (cfg.now AT TIME ZONE 'UTC')::date, cfg.run_id\n"
        "  FROM due, cfg WHERE due.skip_reason IS NOT NULL\n"
        "  ON CONFLICT DO NOTHING\n"
        "  RETURNING 1\n"
        "),\n"
        JOB_PASSED_OVER_CTE("id", "lower(due.recipient)")
        "SELECT (SELECT count(*) FROM ins) AS planned,\n"
        JOB_SKIP_COUNTS_SQL
        "       (SELECT count(*) FROM skips) AS newly_skipped\n";

/* Also no longer due: an alert to the rep about a customer deactivated
 * since planning (a closed account is not a lapsing one; the win-back to
 * the customer is cancelled by the claim's own check). */
static const char still_due_sql[] =
        "SELECT o.id, CASE WHEN NOT coalesce(c.active, false) THEN '" JOB_CUSTOMER_GONE_REASON "'\n"
        "                  ELSE 'the customer has been active again since ' || (o.context->>'last_activity') END AS reason\n"
        "FROM rapport.outbox o\n"
        "LEFT JOIN crm.customers c ON c.id = o.customer_id\n"
        "WHERE o.id = ANY($1::bigint[]) AND o.job = 'dormant'\n"
        "  AND (NOT coalesce(c.active, false)\n"
        "       OR EXISTS (SELECT 1 FROM crm.interactions i\n"
        "                  WHERE i.customer_id = o.customer_id\n"
        "                    AND i.happened_at > coalesce((o.context->>'last_interaction_at')::timestamptz, '-infinity')\n"
        "                    AND i.happened_at <= $2::timestamptz)\n"
        "       OR EXISTS (SELECT 1 FROM crm.invoices v\n"
        "                  WHERE v.customer_id = o.customer_id\n"
        "                    AND v.issued_on > coalesce((o.context->>'last_invoice')::date, '-infinity')))\n";

static const char *const dormant_channel_templates[] = {"winback_template", NULL};

const struct job_def job_dormant = {
        .channel_templates = dormant_channel_templates,
        .name = "dormant",
        .description = "alert the rep (and optionally win back the customer) when a customer goes quiet",
        .default_schedule = "15 */6 * * *",
        .settings = dormant_settings,
        .plan_sql = plan_sql,
        .still_due_sql = still_due_sql,
};
