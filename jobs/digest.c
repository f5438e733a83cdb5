/* digest: one e-mail per active rep per day, at the rep's digest_hour in
 * the rep's zone (digest:REP:LOCAL-DATE).  The job runs every few minutes
 * and plans only the reps whose hour has come (today, or on a day before
 * that max_lateness still covers) and who have not had that day's digest.
 * Planning decides only that; the content is built when
 * the dispatcher claims the message (build_sql), so it is never older than
 * the send itself, a retry rebuilds it, and planning costs the number of
 * reps, not the size of their books.  A digest with nothing in it is
 * cancelled then ("nothing to report") unless send_empty is set.
 *
 * Sections, all about the rep's own customers: follow-ups due (most
 * overdue first), birthdays in the coming days, customers gone dormant,
 * unpaid invoices by ladder level, complaints past their deadline; a
 * manager also gets the direct reports' escalations (invoices past
 * bad_debt_days, complaints past twice the deadline).  Each section shows
 * at most max_items items plus a count of the rest.  The digest needs the
 * other jobs' thresholds and takes them as its own settings, with the same
 * defaults; the configuration loader copies them from those jobs
 * (birthdays lookahead_days and feb29, follow_ups cadence_days, dormant
 * dormant_days, complaints response_hours, receivables levels and
 * bad_debt_days) unless the digest sets them itself.  Building costs, per customer of the reps in the claimed
 * batch, one probe for the last interaction, one of the unpaid-invoice
 * partial index (most find nothing), and one for the last invoice only
 * when no recent interaction already rules dormancy out. */
#include "jobs.h"

/* A date or time from the CRM that the digest takes: within the years 1 to
 * 9999.  Not an infinite one (PostgreSQL takes 'infinity' and '-infinity'
 * in any date or timestamp column: "cannot subtract infinite dates" failed
 * every digest built with such a row, at every retry, every day), nor one
 * so near the end of its type's range that the digest's arithmetic leaves
 * it (a time of year 294276 in a zone east of UTC, a date of 5874897 plus
 * days: "out of range").  Anything else is bad data, left out of what it
 * would have put in the digest; the rest of the digest goes. */
#define DIGEST_WHEN_OK(X) "(" X " >= '0001-01-01' AND " X " < '10000-01-01')"

static const char *const feb29_choices[] = {"feb28", "mar1", "skip", NULL};

static const struct setting_spec digest_settings[] = {
        {"send_empty", SET_BOOL, "false", NULL, 0, 0},
        {"max_items", SET_INT, "50", NULL, 1, 1000},
        {"birthday_lookahead_days", SET_INT, "7", NULL, 0, 60},
        {"feb29", SET_ENUM, "\"feb28\"", feb29_choices, 0, 0},
        {"cadence_days", SET_TIER_MAP, "{\"A\":7,\"B\":30,\"C\":90}", NULL, 0, 0},
        {"dormant_days", SET_TIER_MAP, "{\"A\":30,\"B\":60,\"C\":180}", NULL, 0, 0},
        {"response_hours", SET_HOURS_MAP, "{\"critical\":4,\"high\":24,\"normal\":72,\"low\":168}", complaint_severities, 0, 0},
        {"ladder_days", SET_INT_LIST, "[1,15,30,60]", NULL, 1, 3650},
        {"bad_debt_days", SET_INT, "60", NULL, 1, 3650},
        {"template", SET_STRING, "\"digest\"", NULL, 0, 0},
        /* Overrides the common default: see above. */
        {"max_lateness", SET_DURATION, "43200", NULL, 0, 7LL * 86400},
        {NULL, 0, NULL, NULL, 0, 0},
};

static const char plan_sql[] =
        "WITH cfg AS (\n"
        "  SELECT $1::timestamptz AS now, $2::text AS dtz, $3::text AS dloc, $5::bigint AS run_id, $4::jsonb AS s,\n"
        "         make_interval(secs => ($4::jsonb->>'max_lateness')::bigint) AS lateness,\n"
        "         " JOB_EFFECTIVE_FROM_SQL("digest", "$4::jsonb", "$1") " AS eff_from,\n"
        "         " JOB_EFFECTIVE_AT_SQL("digest", "$4::jsonb", "$1") " AS eff_at\n"
        "),\n"
        "zones AS MATERIALIZED (SELECT name FROM rapport.time_zones),\n"
        "/* Active reps whose digest hour has come today in their own zone and who\n"
        " * have not had today's digest yet (the dedupe key, looked up by its unique\n"
        " * index).  Reps with bad data are kept here to be recorded as skipped\n"
        " * (a digest hour out of 0-23, which a CRM view may give, is timed at\n"
        " * midnight for that, not an error that stops every rep's digest). */\n"
        "rz AS (\n"
        "  SELECT r.id, r.name, r.email, r.manager_id,\n"
        "         coalesce(nullif(r.locale, ''), cfg.dloc) AS locale,\n"
        "         coalesce(nullif(r.time_zone, ''), cfg.dtz) AS tz,\n"
        "         coalesce(nullif(r.time_zone, ''), cfg.dtz) IN (SELECT name FROM zones) AS tz_ok,\n"
        "         r.digest_hour, coalesce(r.digest_hour BETWEEN 0 AND 23, false) AS hour_ok\n"
        "  FROM crm.reps r CROSS JOIN cfg\n"
        "  WHERE r.active\n"
        "),\n"
        "rd0 AS (\n"
        "  SELECT rz.*, l.ztz, l.today, (l.today + make_time(CASE WHEN rz.hour_ok THEN rz.digest_hour ELSE 0 END, 0, 0)) AT TIME ZONE l.ztz AS due_at,\n"
        "         CASE WHEN NOT rz.tz_ok THEN 'rep has an unknown time zone'\n"
        "              WHEN NOT rz.hour_ok THEN 'rep has an invalid digest hour'\n"
        "              WHEN coalesce(rz.email, '') = '' THEN 'rep has no e-mail address'\n"
        "              WHEN NOT rapport.email_ok(rz.email) THEN 'rep has an invalid e-mail address' END AS skip_reason\n"
        "  FROM rz CROSS JOIN cfg,\n"
        "       LATERAL (SELECT CASE WHEN rz.tz_ok THEN rz.tz ELSE cfg.dtz END AS ztz) z,\n"
        /* Today's digest and those of the days before that max_lateness
         * still covers: a digest hour late in the day is still due after the
         * rep's midnight (a week at most, the setting's upper bound).  One
         * day more than the lateness spans: a spring-forward shortens a
         * local day (an hour; two in Antarctica/Troll), so a 23:00 digest
         * with max_lateness 1d can still be due on the second local date
         * after its own (23:00 EST on Sat 2027-03-13 + 24 h = 00:00 EDT on
         * Mon the 15th). */
        "       LATERAL (SELECT z.ztz, (cfg.now AT TIME ZONE z.ztz)::date - d.k AS today\n"
        "                FROM generate_series(0, ceil(extract(epoch FROM cfg.lateness) / 86400)::int + 1) AS d(k)) l\n"
        "),\n"
        "rd_all AS (\n"
        "  SELECT rd0.*, EXISTS (SELECT 1 FROM rapport.suppression s WHERE s.address = lower(rd0.email)) AS suppressed\n"
        "  FROM rd0, cfg\n"
        "  WHERE rd0.due_at <= cfg.now AND cfg.now <= rd0.due_at + cfg.lateness AND rd0.today >= " JOB_RECIPIENT_EFFECTIVE_SQL("rd0.ztz") "\n"
        "    AND NOT EXISTS (SELECT 1 FROM rapport.outbox o\n"
        "                    WHERE o.dedupe_key = 'digest:' || rd0.id || ':' || to_char(rd0.today, 'YYYY-MM-DD'))\n"
        "),\n"
        "rd AS MATERIALIZED (\n"
        "  SELECT rd_all.* FROM rd_all\n"
        "  WHERE rd_all.skip_reason IS NULL AND NOT rd_all.suppressed\n"
        "),\n"
        "/* The digest itself is built when it is sent (build_sql): planning only\n"
        " * decides whose digest is due and for which day. */\n"
        "ins AS (\n"
        "  INSERT INTO rapport.outbox (job, run_id, channel, audience, recipient, recipient_name, customer_id, rep_id,\n"
        "                              template, locale, time_zone, context, marketing, dedupe_key,\n"
        "                              not_before, next_attempt_at, expires_at)\n"
        "  SELECT 'digest', cfg.run_id, 'email', 'rep', lower(rd.email), rd.name, NULL, rd.id,\n"
        "         cfg.s->>'template', rd.locale, rd.tz,\n"
        "         jsonb_build_object('rep', jsonb_build_object('id', rd.id, 'name', rd.name),\n"
        "                            'date', to_char(rd.today, 'YYYY-MM-DD'),\n"
        "                            'month', extract(month FROM rd.today)::int, 'day', extract(day FROM rd.today)::int),\n"
        "         false,\n"
        "         'digest:' || rd.id || ':' || to_char(rd.today, 'YYYY-MM-DD'),\n"
        "         rd.due_at, rd.due_at, rd.due_at + cfg.lateness\n"
        "  FROM rd, cfg\n"
        "  ON CONFLICT (dedupe_key) DO NOTHING\n"
        "  RETURNING 1\n"
        "),\n"
        "skips AS (\n"
        "  INSERT INTO rapport.skipped (job, customer_id, reason, day, run_id)\n"
        "  SELECT DISTINCT 'digest', r.id, r.skip_reason, (cfg.now AT TIME ZONE 'UTC')::date, cfg.run_id\n"
        "  FROM rd_all r, cfg WHERE r.skip_reason IS NOT NULL\n"
        "  ON CONFLICT DO NOTHING\n"
        "  RETURNING 1\n"
        "),\n"
        /* What the run passes over, as the other jobs count it: bad data,
         * and a rep's suppressed address (not a data error: not recorded
         * in rapport.skipped, but counted, or status would never say why
         * that rep has no digest). */
        "passed AS (\n"
        "  SELECT id, coalesce(skip_reason, 'address suppressed') AS reason FROM rd_all\n"
        "  WHERE skip_reason IS NOT NULL OR suppressed\n"
        ")\n"
        "SELECT (SELECT count(*) FROM ins) AS planned,\n"
        JOB_SKIP_COUNTS_SQL
        "       (SELECT count(*) FROM skips) AS newly_skipped\n";

/* Parameters as jobs.h says: $1 the claimed digests' outbox ids, $2 now,
 * $3 the job's settings, $4 the default time zone.  "Today" is the day
 * the digest was planned for, in the rep's zone.  Rows come in id order. */
static const char build_sql[] =
        "WITH cfg AS (\n"
        "  SELECT $2::timestamptz AS now, $4::text AS dtz, $3::jsonb AS s,\n"
        "         coalesce(($3::jsonb->>'max_items')::int, 50) AS max_items,\n"
        "         coalesce(($3::jsonb->>'send_empty')::boolean, false) AS send_empty,\n"
        "         coalesce(($3::jsonb->>'birthday_lookahead_days')::int, 7) AS lookahead,\n"
        "         coalesce($3::jsonb->>'feb29', 'feb28') AS feb29,\n"
        "         coalesce(($3::jsonb->>'bad_debt_days')::int, 60) AS bad_debt_days\n"
        "),\n"
        "zones AS MATERIALIZED (SELECT name FROM rapport.time_zones),\n"
        "sev AS MATERIALIZED (\n"
        "  SELECT d.severity, coalesce((cfg.s->'response_hours'->>d.severity)::numeric, d.hours) AS hours\n"
        "  FROM cfg, (VALUES ('critical', 4), ('high', 24), ('normal', 72), ('low', 168)) AS d(severity, hours)\n"
        "),\n"
        /* bad_debt_days is a step of its own: with no level on it (levels
         * to +60, bad_debt_days 90) an invoice 95 days overdue sat under
         * "60+ days overdue", its risk said nowhere in the text. */
        "ladder AS MATERIALIZED (\n"
        "  SELECT (x #>> '{}')::int AS days\n"
        "  FROM cfg, jsonb_array_elements(coalesce(cfg.s->'ladder_days', '[1, 15, 30, 60]'::jsonb)) AS x\n"
        "  UNION SELECT bad_debt_days FROM cfg\n"
        "),\n"
        "rd AS MATERIALIZED (\n"
        "  SELECT o.id AS oid, o.context AS planned, r.id, r.name, r.manager_id, o.time_zone AS rtz,\n"
        "         coalesce((o.context->>'date')::date, (cfg.now AT TIME ZONE o.time_zone)::date) AS today\n"
        "  FROM rapport.outbox o CROSS JOIN cfg\n"
        "  JOIN crm.reps r ON r.id = o.rep_id\n"
        "  WHERE o.id = ANY ($1::bigint[])\n"
        "),\n"
        "/* The customers in view: each due rep's own.  Last interaction by one\n"
        " * probe of the per-customer index; the last invoice only when it can\n"
        " * matter, i.e. when no interaction keeps the customer out of dormancy\n"
        " * (last_date is only ever compared with today - dormant_days, and shown\n"
        " * for dormant customers).  OFFSET 0 keeps each probe evaluated once.\n"
        " * A date or time out of DIGEST_WHEN_OK (an infinite one) says nothing:\n"
        " * such an interaction or invoice is not the last activity, such a\n"
        " * birthday, follow-up plan or creation time is none. */\n"
        "mine AS (\n"
        "  SELECT m.*, z.ok AS ctz_ok, z.tz AS ztz, m.last_at AT TIME ZONE z.tz AS last_local\n"
        "  FROM (SELECT rd.oid AS for_msg, rd.today, rd.rtz, c.id, c.name, c.tier, c.email, c.phone,\n"
        "               CASE WHEN " DIGEST_WHEN_OK("c.birthday") " THEN c.birthday END AS birthday,\n"
        "               CASE WHEN " DIGEST_WHEN_OK("c.next_follow_up") " THEN c.next_follow_up END AS next_follow_up,\n"
        "               CASE WHEN " DIGEST_WHEN_OK("c.created_at") " THEN c.created_at END AS created_at,\n"
        "               coalesce(nullif(c.time_zone, ''), cfg.dtz) AS ctz,\n"
        "               (SELECT max(i.happened_at) FROM crm.interactions i\n"
        "                WHERE i.customer_id = c.id AND " DIGEST_WHEN_OK("i.happened_at") ") AS last_at,\n"
        "               coalesce((cfg.s->'cadence_days'->>c.tier)::int, CASE c.tier WHEN 'A' THEN 7 WHEN 'B' THEN 30 ELSE 90 END) AS cadence,\n"
        "               coalesce((cfg.s->'dormant_days'->>c.tier)::int, CASE c.tier WHEN 'A' THEN 30 WHEN 'B' THEN 60 ELSE 180 END) AS dormant_days\n"
        "        FROM rd CROSS JOIN cfg\n"
        "        JOIN crm.customers c ON c.rep_id = rd.id AND c.active\n"
        "        OFFSET 0) m CROSS JOIN cfg,\n"
        "       LATERAL (SELECT m.ctz IN (SELECT name FROM zones) AS ok) ok,\n"
        "       LATERAL (SELECT ok.ok, CASE WHEN ok.ok THEN m.ctz ELSE cfg.dtz END AS tz) z\n"
        "),\n"
        "cust AS MATERIALIZED (\n"
        "  SELECT x.*, coalesce(greatest(x.last_local::date, x.last_inv), (x.created_at AT TIME ZONE x.ztz)::date) AS last_date\n"
        "  FROM (SELECT m.*,\n"
        "               CASE WHEN m.last_local IS NULL OR m.last_local::date + m.dormant_days <= m.today\n"
        "                    THEN (SELECT max(v.issued_on) FROM crm.invoices v\n"
        "                          WHERE v.customer_id = m.id AND " DIGEST_WHEN_OK("v.issued_on") ") END AS last_inv\n"
        "        FROM mine m OFFSET 0) x\n"
        "),\n"
        "/* Follow-ups due: an explicit plan not yet met by an interaction, or the\n"
        " * tier's cadence exceeded.  Most overdue first.  Dates in the rep's zone,\n"
        " * as the follow_ups job reckons them (dormancy goes by the customer's). */\n"
        "fu AS (\n"
        "  SELECT c.for_msg, c.id, c.name, c.tier, c.email, c.phone, d.due_on, c.today - d.due_on AS days_overdue, d.planned, x.plan_due AS planned_on,\n"
        "         lr.last_local, c.today - lr.last_local::date AS days_since, c.cadence\n"
        "  FROM cust c,\n"
        "       LATERAL (SELECT c.last_at AT TIME ZONE c.rtz AS last_local) lr,\n"
        "       LATERAL (SELECT CASE WHEN c.next_follow_up IS NOT NULL\n"
        "                             AND (lr.last_local IS NULL OR lr.last_local::date < c.next_follow_up)\n"
        "                            THEN c.next_follow_up END AS plan_due,\n"
        "                       coalesce(lr.last_local::date, (c.created_at AT TIME ZONE c.rtz)::date) + c.cadence AS cadence_due) x,\n"
        "       LATERAL (SELECT least(CASE WHEN x.plan_due <= c.today THEN x.plan_due END,\n"
        "                             CASE WHEN x.cadence_due <= c.today THEN x.cadence_due END) AS due_on,\n"
        "                       x.plan_due IS NOT NULL AND x.plan_due <= c.today AS planned) d\n"
        "  /* A customer gone dormant is listed there, not here, unless the rep\n"
        "   * has an explicit plan for them. */\n"
        "  WHERE d.due_on IS NOT NULL AND (d.planned OR c.last_date + c.dormant_days > c.today)\n"
        "),\n"
        "fu_s AS (\n"
        "  SELECT for_msg, count(*) AS n,\n"
        "         jsonb_agg(jsonb_build_object('customer', jsonb_build_object('id', id, 'name', name, 'tier', tier, 'key_account', tier = 'A', 'email', email, 'phone', phone), 'due_on', to_char(due_on, 'YYYY-MM-DD'),\n"
        "                                      'days_overdue', days_overdue, 'overdue', days_overdue > 0,\n"
        "                                      'days_overdue_plural', days_overdue <> 1,\n"
        "                                      'planned', planned, 'planned_on', to_char(planned_on, 'YYYY-MM-DD'), 'cadence_days', cadence,\n"
        "                                      'last_contact', to_char(last_local, 'YYYY-MM-DD'),\n"
        "                                      'days_since_contact', days_since, 'never_contacted', last_local IS NULL)\n"
        "                   ORDER BY days_overdue DESC, tier, name) FILTER (WHERE rn <= (SELECT max_items FROM cfg)) AS items\n"
        "  FROM (SELECT fu.*, row_number() OVER (PARTITION BY for_msg ORDER BY days_overdue DESC, tier, name) AS rn FROM fu) f\n"
        "  GROUP BY for_msg\n"
        "),\n"
        "/* Birthdays in the coming lookahead_days.  Born on Feb 29: in a common\n"
        " * year on the day the birthdays job greets them (feb29: Feb 28, Mar 1,\n"
        " * or not at all). */\n"
        "bd AS (\n"
        "  SELECT c.for_msg, c.id, c.name, c.tier, c.email, c.phone, o.occ, o.occ - c.today AS in_days, extract(year FROM o.occ)::int - extract(year FROM c.birthday)::int AS age\n"
        "  FROM cust c CROSS JOIN cfg,\n"
        "       LATERAL (SELECT extract(year FROM c.today)::int AS y,\n"
        "                       extract(month FROM c.birthday)::int AS bm, extract(day FROM c.birthday)::int AS bd) b,\n"
        "       LATERAL (SELECT CASE WHEN b.bm = 2 AND b.bd = 29 AND NOT (b.y % 4 = 0 AND (b.y % 100 <> 0 OR b.y % 400 = 0))\n"
        "                            THEN CASE cfg.feb29 WHEN 'mar1' THEN make_date(b.y, 3, 1) WHEN 'skip' THEN NULL\n"
        "                                                ELSE make_date(b.y, 2, 28) END\n"
        "                            ELSE make_date(b.y, b.bm, b.bd) END AS this_year,\n"
        "                       CASE WHEN b.bm = 2 AND b.bd = 29 AND NOT ((b.y + 1) % 4 = 0 AND ((b.y + 1) % 100 <> 0 OR (b.y + 1) % 400 = 0))\n"
        "                            THEN CASE cfg.feb29 WHEN 'mar1' THEN make_date(b.y + 1, 3, 1) WHEN 'skip' THEN NULL\n"
        "                                                ELSE make_date(b.y + 1, 2, 28) END\n"
        "                            ELSE make_date(b.y + 1, b.bm, b.bd) END AS next_year) yy,\n"
        "       LATERAL (SELECT CASE WHEN yy.this_year >= c.today THEN yy.this_year ELSE yy.next_year END AS occ) o\n"
        "  WHERE c.birthday IS NOT NULL AND o.occ <= c.today + cfg.lookahead\n"
        "),\n"
        "bd_s AS (\n"
        "  SELECT for_msg, count(*) AS n,\n"
        "         jsonb_agg(jsonb_build_object('customer', jsonb_build_object('id', id, 'name', name, 'tier', tier, 'key_account', tier = 'A', 'email', email, 'phone', phone), 'date', to_char(occ, 'YYYY-MM-DD'),\n"
        "                                      'month', extract(month FROM occ)::int, 'day', extract(day FROM occ)::int,\n"
        "                                      'in_days', in_days, 'today', in_days = 0, 'tomorrow', in_days = 1, 'age', age)\n"
        "                   ORDER BY occ, name) FILTER (WHERE rn <= (SELECT max_items FROM cfg)) AS items\n"
        "  FROM (SELECT bd.*, row_number() OVER (PARTITION BY for_msg ORDER BY occ, name) AS rn FROM bd) b\n"
        "  GROUP BY for_msg\n"
        "),\n"
        "dm AS (\n"
        "  SELECT c.for_msg, c.id, c.name, c.tier, c.email, c.phone, c.last_date, c.today - c.last_date AS days_inactive, c.dormant_days\n"
        "  FROM cust c WHERE c.last_date + c.dormant_days <= c.today\n"
        "),\n"
        "dm_s AS (\n"
        "  SELECT for_msg, count(*) AS n,\n"
        "         jsonb_agg(jsonb_build_object('customer', jsonb_build_object('id', id, 'name', name, 'tier', tier, 'key_account', tier = 'A', 'email', email, 'phone', phone), 'last_activity', to_char(last_date, 'YYYY-MM-DD'),\n"
        "                                      'days_inactive', days_inactive, 'dormant_days', dormant_days)\n"
        "                   ORDER BY tier, days_inactive, name) FILTER (WHERE rn <= (SELECT max_items FROM cfg)) AS items\n"
        "  FROM (SELECT dm.*, row_number() OVER (PARTITION BY for_msg ORDER BY tier, days_inactive, name) AS rn FROM dm) d\n"
        "  GROUP BY for_msg\n"
        "),\n"
        "/* Overdue invoices, placed on the ladder: the highest level reached (the\n"
        " * levels after the due date: ladder_days).  One overdue by less than the\n"
        " * first level is \"1+ days overdue\", which it is, not \"0+\".  Not an\n"
        " * amount of NaN (numeric takes it, and NaN > 0 there) or Infinity, which\n"
        " * would read \"EUR NaN\" and make the level's total NaN, nor a due date\n"
        " * of -infinity (DIGEST_WHEN_OK): bad rows, left out. */\n"
        "iv AS (\n"
        "  SELECT c.for_msg, c.id AS cid, c.name, c.tier, c.email, c.phone, v.id, v.number, v.amount, v.currency, v.due_on, c.today - v.due_on AS days_overdue,\n"
        "         coalesce((SELECT max(l.days) FROM ladder l WHERE l.days <= c.today - v.due_on), 1) AS level\n"
        "  FROM cust c\n"
        "  JOIN crm.invoices v ON v.customer_id = c.id AND " JOB_INVOICE_CHASED_SQL("v") "\n"
        "                      AND v.due_on < c.today AND " DIGEST_WHEN_OK("v.due_on") "\n"
        "),\n"
        "iv_r AS (\n"
        "  SELECT iv.*, row_number() OVER (PARTITION BY for_msg, level ORDER BY days_overdue DESC, number) AS rn,\n"
        "         count(*) OVER (PARTITION BY for_msg, level) AS level_n\n"
        "  FROM iv\n"
        "),\n"
        "iv_l AS (\n"
        "  SELECT for_msg, level, max(level_n) AS n, count(*) FILTER (WHERE rn <= (SELECT max_items FROM cfg)) AS shown,\n"
        "         jsonb_agg(jsonb_build_object('customer', jsonb_build_object('id', cid, 'name', name, 'tier', tier, 'key_account', tier = 'A', 'email', email, 'phone', phone), 'number', number,\n"
        "                                      'amount', " JOB_AMOUNT_SQL("amount", "currency") ", 'currency', currency,\n"
        "                                      'due_on', to_char(due_on, 'YYYY-MM-DD'), 'days_overdue', days_overdue,\n"
        "                                      'days_overdue_plural', days_overdue <> 1,\n"
        "                                      'bad_debt_risk', days_overdue >= (SELECT bad_debt_days FROM cfg))\n"
        "                   ORDER BY days_overdue DESC, number)\n"
        "                   FILTER (WHERE rn <= (SELECT max_items FROM cfg)) AS items,\n"
        "         array_agg(currency) AS currencies, array_agg(amount) AS amounts\n"
        "  FROM iv_r\n"
        "  GROUP BY for_msg, level\n"
        "),\n"
        "iv_s AS (\n"
        "  SELECT for_msg, sum(n) AS n,\n"
        "         jsonb_agg(jsonb_build_object('days', level, 'count', n, 'bad_debt_risk', level >= (SELECT bad_debt_days FROM cfg),\n"
        "                                      'items', coalesce(items, '[]'::jsonb), 'more', n - shown,\n"
        "                                      'totals', (SELECT jsonb_agg(jsonb_build_object('currency', u.currency,\n"
        "                                                         'amount', " JOB_AMOUNT_SQL("u.total", "u.currency") ") ORDER BY u.currency)\n"
        "                                                 FROM (SELECT x.currency, sum(x.amount) AS total\n"
        "                                                       FROM unnest(currencies, amounts) AS x(currency, amount) GROUP BY 1) u))\n"
        "                   ORDER BY level DESC) AS levels\n"
        "  FROM iv_l GROUP BY for_msg\n"
        "),\n"
        /* Whether the complaints job alerts the rep's manager of a complaint
         * past twice its deadline, decided as it decides: a manager who is
         * active, in a known zone, with a valid address that is not
         * suppressed (else it skips the escalation: "no active manager", or
         * the manager's bad data).  Without one the digest must not tell the
         * rep the complaint was escalated. */
        "mgr AS MATERIALIZED (\n"
        "  SELECT rd.oid AS for_msg,\n"
        "         coalesce(m.active IS TRUE\n"
        "                  AND coalesce(nullif(m.time_zone, ''), cfg.dtz) IN (SELECT name FROM zones)\n"
        "                  AND rapport.email_ok(m.email)\n"
        "                  AND NOT EXISTS (SELECT 1 FROM rapport.suppression s WHERE s.address = lower(m.email)), false) AS alerted\n"
        "  FROM rd CROSS JOIN cfg\n"
        "  LEFT JOIN crm.reps m ON m.id = rd.manager_id\n"
        "),\n"
        /* Dates in the rep's zone, as every date a template gets (opened_on:
         * to_char of a timestamptz would give the session's UTC date).  A
         * complaint opened at -infinity (DIGEST_WHEN_OK) is left out: its
         * hours open are no number.  The deadline is compared as now minus
         * the response time, which no opening time can overflow.
         * escalated: past twice the deadline; manager_alerted: and the
         * complaints job tells the rep's manager (mgr), which is what the
         * templates' "escalated to your manager" says. */
        "cp AS (\n"
        "  SELECT c.for_msg, c.id AS cid, c.name, c.tier, c.email, c.phone, k.id, " JOB_SEVERITY_SQL("k.severity") " AS severity,\n"
        "         k.summary, k.opened_at, (k.opened_at AT TIME ZONE c.rtz)::date AS opened_on, sev.hours,\n"
        "         extract(epoch FROM cfg.now - k.opened_at) / 3600 AS hours_open, mgr.alerted AS mgr_alerted\n"
        "  FROM cust c CROSS JOIN cfg\n"
        "  JOIN mgr ON mgr.for_msg = c.for_msg\n"
        "  JOIN crm.complaints k ON k.customer_id = c.id AND k.resolved_at IS NULL AND " DIGEST_WHEN_OK("k.opened_at") "\n"
        "  JOIN sev ON sev.severity = " JOB_SEVERITY_SQL("k.severity") "\n"
        "  WHERE k.opened_at <= cfg.now - make_interval(secs => (sev.hours * 3600)::double precision)\n"
        "),\n"
        "cp_s AS (\n"
        "  SELECT for_msg, count(*) AS n,\n"
        "         jsonb_agg(jsonb_build_object('customer', jsonb_build_object('id', cid, 'name', name, 'tier', tier, 'key_account', tier = 'A', 'email', email, 'phone', phone), 'id', id, 'severity', severity, 'summary', summary,\n"
        "                                      'critical', severity = 'critical',\n"
        "                                      'opened_on', to_char(opened_on, 'YYYY-MM-DD'),\n"
        "                                      'hours_open', floor(hours_open)::int, 'response_hours', hours,\n"
        "                                      'hours_late', floor(hours_open - hours)::int,\n"
        "                                      'escalated', hours_open >= 2 * hours,\n"
        "                                      'manager_alerted', hours_open >= 2 * hours AND mgr_alerted)\n"
        "                   ORDER BY hours_open - hours DESC, id) FILTER (WHERE rn <= (SELECT max_items FROM cfg)) AS items\n"
        "  FROM (SELECT cp.*, row_number() OVER (PARTITION BY for_msg ORDER BY hours_open - hours DESC, id) AS rn FROM cp) x\n"
        "  GROUP BY for_msg\n"
        "),\n"
        "/* A manager's escalations: the direct reports' invoices past bad_debt_days\n"
        " * and complaints past twice their deadline, found through the partial\n"
        " * indexes of unpaid invoices and open complaints.  Bad rows left out as\n"
        " * above: a due date or opening time out of DIGEST_WHEN_OK (-infinity),\n"
        " * an amount of NaN or Infinity. */\n"
        "esc AS (\n"
        "  SELECT rd.oid AS for_msg, 'invoice' AS kind, t.name AS rep_name, t.active AS rep_active,\n"
        "         jsonb_build_object('id', c.id, 'name', c.name, 'tier', c.tier, 'key_account', c.tier = 'A',\n"
        "                            'email', c.email, 'phone', c.phone) AS cj,\n"
        "         (rd.today - v.due_on)::numeric AS weight,\n"
        "         jsonb_build_object('number', v.number, 'amount', " JOB_AMOUNT_SQL("v.amount", "v.currency") ",\n"
        "                            'currency', v.currency, 'due_on', to_char(v.due_on, 'YYYY-MM-DD'),\n"
        "                            'days_overdue', rd.today - v.due_on, 'days_overdue_plural', rd.today - v.due_on <> 1) AS fact\n"
        "  FROM crm.invoices v\n"
        "  JOIN crm.customers c ON c.id = v.customer_id AND c.active\n"
        "  JOIN crm.reps t ON t.id = c.rep_id\n"
        "  JOIN rd ON rd.id = t.manager_id AND t.id <> rd.id\n"
        "  CROSS JOIN cfg\n"
        "  WHERE " JOB_INVOICE_CHASED_SQL("v") " AND " DIGEST_WHEN_OK("v.due_on") "\n"
        "    AND v.due_on <= ($2::timestamptz AT TIME ZONE 'UTC')::date + 1 - coalesce(($3::jsonb->>'bad_debt_days')::int, 60)\n"
        "    AND v.due_on <= rd.today - cfg.bad_debt_days\n"
        "  UNION ALL\n"
        "  SELECT rd.oid, 'complaint', t.name, t.active,\n"
        "         jsonb_build_object('id', c.id, 'name', c.name, 'tier', c.tier, 'key_account', c.tier = 'A',\n"
        "                            'email', c.email, 'phone', c.phone),\n"
        "         extract(epoch FROM cfg.now - k.opened_at)::numeric / 3600 - 2 * sev.hours,\n"
        "         jsonb_build_object('id', k.id, 'severity', sev.severity, 'summary', k.summary, 'critical', sev.severity = 'critical',\n"
        "                            'opened_on', to_char(k.opened_at AT TIME ZONE rd.rtz, 'YYYY-MM-DD'),\n"
        "                            'hours_open', floor(extract(epoch FROM cfg.now - k.opened_at) / 3600)::int,\n"
        "                            'response_hours', sev.hours)\n"
        "  FROM crm.complaints k\n"
        "  JOIN sev ON sev.severity = " JOB_SEVERITY_SQL("k.severity") "\n"
        "  JOIN crm.customers c ON c.id = k.customer_id AND c.active\n"
        "  JOIN crm.reps t ON t.id = c.rep_id\n"
        "  JOIN rd ON rd.id = t.manager_id AND t.id <> rd.id\n"
        "  CROSS JOIN cfg\n"
        "  WHERE k.resolved_at IS NULL AND " DIGEST_WHEN_OK("k.opened_at") "\n"
        "    AND k.opened_at <= $2::timestamptz - make_interval(secs => (2 * 3600 * (SELECT min(hours) FROM sev))::double precision)\n"
        "    AND k.opened_at <= cfg.now - make_interval(secs => (2 * sev.hours * 3600)::double precision)\n"
        "),\n"
        "esc_s AS (\n"
        "  SELECT for_msg, count(*) AS n,\n"
        "         count(*) FILTER (WHERE kind = 'invoice') AS n_inv, count(*) FILTER (WHERE kind = 'complaint') AS n_cp,\n"
        "         jsonb_agg(jsonb_build_object('customer', cj, 'rep', jsonb_build_object('name', rep_name, 'inactive', NOT rep_active),\n"
        "                                      'invoice', CASE WHEN kind = 'invoice' THEN fact END,\n"
        "                                      'complaint', CASE WHEN kind = 'complaint' THEN fact END)\n"
        "                   ORDER BY kind DESC, weight DESC, fact->>'number', (fact->>'id')::bigint)\n"
        "                   FILTER (WHERE rn <= (SELECT max_items FROM cfg)) AS items\n"
        /* Ties (two invoices due the same day) in a fixed order, so that a
         * max_items cut through them keeps the same ones every time. */
        "  FROM (SELECT esc.*, row_number() OVER (PARTITION BY for_msg ORDER BY kind DESC, weight DESC, fact->>'number',\n"
        "                                                     (fact->>'id')::bigint) AS rn FROM esc) e\n"
        "  GROUP BY for_msg\n"
        "),\n"
        "body AS (\n"
        "  SELECT rd.*, coalesce(fu_s.n, 0) + coalesce(bd_s.n, 0) + coalesce(dm_s.n, 0) + coalesce(iv_s.n, 0)\n"
        "               + coalesce(cp_s.n, 0) + coalesce(esc_s.n, 0) AS total,\n"
        "         EXISTS (SELECT 1 FROM crm.reps t WHERE t.manager_id = rd.id AND t.id <> rd.id) AS is_manager,\n"
        "         fu_s.n AS fu_n, fu_s.items AS fu_items, bd_s.n AS bd_n, bd_s.items AS bd_items,\n"
        "         dm_s.n AS dm_n, dm_s.items AS dm_items, iv_s.n AS iv_n, iv_s.levels AS iv_levels,\n"
        "         cp_s.n AS cp_n, cp_s.items AS cp_items, esc_s.n AS esc_n, esc_s.n_inv, esc_s.n_cp, esc_s.items AS esc_items\n"
        "  FROM rd\n"
        "  LEFT JOIN fu_s ON fu_s.for_msg = rd.oid\n"
        "  LEFT JOIN bd_s ON bd_s.for_msg = rd.oid\n"
        "  LEFT JOIN dm_s ON dm_s.for_msg = rd.oid\n"
        "  LEFT JOIN iv_s ON iv_s.for_msg = rd.oid\n"
        "  LEFT JOIN cp_s ON cp_s.for_msg = rd.oid\n"
        "  LEFT JOIN esc_s ON esc_s.for_msg = rd.oid\n"
        ")\n"
        "SELECT b.oid AS id,\n"
        "       CASE WHEN b.total = 0 AND NOT cfg.send_empty THEN 'nothing to report (send_empty = false)' END AS reason,\n"
        "       b.planned || jsonb_build_object(\n"
        "           'rep', jsonb_build_object('id', b.id, 'name', b.name),\n"
        "           'total', b.total, 'total_plural', b.total <> 1, 'empty', b.total = 0, 'is_manager', b.is_manager,\n"
        "           'max_items', cfg.max_items,\n"
        "           'follow_ups', CASE WHEN b.fu_n > 0 THEN jsonb_build_object(\n"
        "               'count', b.fu_n, 'items', b.fu_items, 'more', greatest(b.fu_n - cfg.max_items, 0)) END,\n"
        "           'birthdays', CASE WHEN b.bd_n > 0 THEN jsonb_build_object(\n"
        "               'count', b.bd_n, 'items', b.bd_items, 'more', greatest(b.bd_n - cfg.max_items, 0),\n"
        "               'lookahead_days', cfg.lookahead) END,\n"
        "           'dormant', CASE WHEN b.dm_n > 0 THEN jsonb_build_object(\n"
        "               'count', b.dm_n, 'items', b.dm_items, 'more', greatest(b.dm_n - cfg.max_items, 0)) END,\n"
        "           'receivables', CASE WHEN b.iv_n > 0 THEN jsonb_build_object(\n"
        "               'count', b.iv_n, 'levels', b.iv_levels) END,\n"
        "           'complaints', CASE WHEN b.cp_n > 0 THEN jsonb_build_object(\n"
        "               'count', b.cp_n, 'items', b.cp_items, 'more', greatest(b.cp_n - cfg.max_items, 0)) END,\n"
        "           'escalations', CASE WHEN b.esc_n > 0 THEN jsonb_build_object(\n"
        "               'count', b.esc_n, 'invoices', b.n_inv, 'complaints', b.n_cp,\n"
        "               'items', b.esc_items, 'more', greatest(b.esc_n - cfg.max_items, 0)) END) AS context\n"
        "FROM body b, cfg\n"
        "ORDER BY b.oid\n";

/* No longer wanted: a digest when a later day's digest for the same rep
 * is due too (after downtime, with a max_lateness over a day, each missed
 * day's digest is planned): the rep gets the latest, built now, not one a
 * day.  The later ones are found by their keys (the unique index), a few
 * days ahead, as far as max_lateness reaches. */
static const char still_due_sql[] =
        "SELECT o.id, 'superseded by the digest of ' || to_char(n.day, 'YYYY-MM-DD')\n"
        "FROM rapport.outbox o\n"
        "CROSS JOIN LATERAL (SELECT d.day FROM generate_series(1, 8) AS k,\n"
        "                           LATERAL (SELECT CASE WHEN o.context->>'date' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'\n"
        "                                                THEN (o.context->>'date')::date END + k AS day) d\n"
        "                    JOIN rapport.outbox n ON n.dedupe_key = 'digest:' || o.rep_id || ':' || to_char(d.day, 'YYYY-MM-DD')\n"
        "                    WHERE n.state IN ('queued', 'sending', 'sent') AND n.not_before <= $2::timestamptz\n"
        "                    ORDER BY d.day DESC LIMIT 1) n\n"
        "WHERE o.id = ANY($1::bigint[]) AND o.job = 'digest'\n";

const struct job_def job_digest = {
        .name = "digest",
        .description = "each rep's daily digest of what needs attention",
        .default_schedule = "*/15 * * * *",
        .settings = digest_settings,
        .plan_sql = plan_sql,
        .still_due_sql = still_due_sql,
        .build_sql = build_sql,
};
