/* receivables: the dunning ladder.  Each level (days past due, negative =
 * before; audience customer, rep or manager; channels; template) fires
 * once per invoice, level, channel and audience when due_on + days is today or past
 * in the recipient's zone, at send_at, within max_lateness (default 3 days)
 * and on or after effective_from.  Dunning is transactional: no consent
 * needed, no unsubscribe; suppressed addresses are still never contacted.
 *
 * A customer whose several invoices reach a level at the same time, at
 * one level or at several, gets ONE message per recipient and channel
 * in the words (template) of the highest level among them, listing them
 * and every other invoice of the customer already past due, with totals
 * per currency: one reminder shows everything owed.  "Once per invoice" is therefore kept in a
 * ledger, rapport.dunning_items (invoice number, level, channel, audience), not in
 * the outbox key: the statement inserts the ledger rows first and builds
 * each message only from the rows it really inserted (RETURNING), so a
 * racing run can neither duplicate nor swallow an invoice.  The message's
 * dedupe key is dunning:FIRST-INVOICE:LEVEL:CHANNEL, with :rep or :manager
 * appended for those audiences — LEVEL the highest of the group and
 * FIRST-INVOICE the smallest invoice number at that level, which no other
 * message can carry at that level, channel and audience because the
 * ledger holds it.  A ladder may so have one day reach the customer and
 * the rep by the same channel.  A level's channels are `channels` (a list) or
 * `channel` (one).
 * Recipients: the rep level goes to the owning rep, or to the rep's manager
 * standing in when the rep is inactive; the manager level to the rep's
 * manager.  The plan records which invoices a message is about; its
 * content is built when it is sent (build_sql), from the invoices still
 * unpaid then, so a reminder never lists an invoice paid since planning.
 * still_due cancels a message once every invoice in it is paid, or when
 * none is still at its level because the CRM moved its due date (the
 * term extended after planning): that cancel frees the invoices' ledger
 * rows (JOB_DUE_DATE_MOVED_REASON, outbox.c), so the level goes when the
 * new date brings it.
 *
 * Cost: per distinct level, one range of the unpaid-invoice index by due_on
 * (etc/crm.sql's invoices_unpaid_due_cover_idx carries the invoice columns,
 * so only the index is read), covering just the invoices on which that
 * level is due in the lateness window; then one customer probe per such
 * invoice, in customer order.  Zone validity and local dates are worked
 * out once per distinct zone; the rest (ledger, outbox, context) is per
 * message. */
#include "jobs.h"

/* The level an invoice of a planned message is at: its own (a grouped
 * message's invoice_levels) or the message's. */
#define RECEIVABLES_INVOICE_LEVEL_SQL(CONTEXT, ID) \
        "coalesce((" CONTEXT "->'invoice_levels'->>" ID ")::int, (" CONTEXT "->'level'->>'days')::int)"

static const struct setting_spec receivables_settings[] = {
        {"levels", SET_LADDER, "[{\"days\":1,\"audience\":\"customer\",\"channels\":[\"email\"],\"template\":\"dunning_friendly\"},"
          "{\"days\":15,\"audience\":\"customer\",\"channels\":[\"email\",\"sms\"],\"template\":\"dunning_firm\"},"
          "{\"days\":30,\"audience\":\"rep\",\"channels\":[\"email\"],\"template\":\"dunning_rep_call\"},"
          "{\"days\":60,\"audience\":\"manager\",\"channels\":[\"email\"],\"template\":\"dunning_manager\"}]", NULL, 0, 0},
        {"send_at", SET_TIME_OF_DAY, "\"10:00:00\"", NULL, 0, 0},
        {"bad_debt_days", SET_INT, "60", NULL, 1, 3650},
        /* Overrides the common default: see above. */
        {"max_lateness", SET_DURATION, "259200", NULL, 0, 366LL * 86400},
        {NULL, 0, NULL, NULL, 0, 0},
};

static const char plan_sql[] =
        "WITH cfg AS (\n"
        "  SELECT $1::timestamptz AS now, $2::text AS dtz, $3::text AS dloc, $5::bigint AS run_id, $4::jsonb AS s,\n"
        "         ($4::jsonb->>'send_at')::time AS send_at,\n"
        "         make_interval(secs => ($4::jsonb->>'max_lateness')::bigint) AS lateness,\n"
        "         coalesce(($4::jsonb->>'bad_debt_days')::int, 60) AS bad_debt_days,\n"
        "         " JOB_EFFECTIVE_FROM_SQL("receivables", "$4::jsonb", "$1") " AS eff_from,\n"
        "         " JOB_EFFECTIVE_AT_SQL("receivables", "$4::jsonb", "$1") " AS eff_at\n"
        "),\n"
        "/* The ladder, one row per level and channel.  A malformed level stops the\n"
        " * run with a message naming it (the cast of the message text to int is\n"
        " * how plain SQL raises an error). */\n"
        "lv AS MATERIALIZED (\n"
        "  SELECT x.days, x.audience, ch.channel, x.template,\n"
        "         CASE WHEN x.days IS NULL OR x.audience NOT IN ('customer', 'rep', 'manager')\n"
        "                   OR ch.channel NOT IN ('email', 'sms') OR x.template IS NULL OR x.unknown IS NOT NULL\n"
        "              THEN ('jobs.receivables.levels[' || x.ord - 1 || ']: '\n"
        "                    || coalesce('unknown setting \"' || x.unknown || '\"; ', '')\n"
        "                    || 'needs days (integer), audience (customer, rep or manager), '\n"
        "                    || 'channel or channels (email, sms) and template; got ' || x.l::text)::int END AS invalid\n"
        "  FROM cfg,\n"
        "       jsonb_array_elements(cfg.s->'levels') WITH ORDINALITY AS e(l, ord),\n"
        "       LATERAL (SELECT e.l, e.ord, (e.l->>'days')::int AS days, coalesce(e.l->>'audience', 'customer') AS audience,\n"
        "                       e.l->>'template' AS template,\n"
        "                       CASE WHEN jsonb_typeof(e.l) = 'object' THEN\n"
        "                         (SELECT min(k) FROM jsonb_object_keys(e.l) AS k\n"
        "                          WHERE k NOT IN ('days', 'audience', 'channel', 'channels', 'template')) END AS unknown,\n"
        "                       /* `channel = \"sms\"` (one) or `channels = [...]`. */\n"
        "                       coalesce(e.l->'channels',\n"
        "                                CASE jsonb_typeof(e.l->'channel') WHEN 'array' THEN e.l->'channel'\n"
        "                                     WHEN 'string' THEN jsonb_build_array(e.l->'channel') END,\n"
        "                                '[\"email\"]'::jsonb) AS channels) x,\n"
        "       LATERAL jsonb_array_elements_text(x.channels) AS ch(channel)\n"
        "),\n"
        "zones AS MATERIALIZED (SELECT name FROM rapport.time_zones),\n"
        "/* Unpaid invoices on which some level falls in the lateness window (and\n"
        " * not before effective_from: a level due earlier is never planned): one\n"
        " * range per distinct level on the partial index of unpaid invoices by\n"
        " * due_on, which carries every column read here (index-only, no visit\n"
        " * to the invoice rows). */\n"
        "inv AS MATERIALIZED (\n"
        "  SELECT v.id, v.customer_id, v.number, v.amount, v.currency, v.issued_on, v.due_on, d.days\n"
        "  FROM (SELECT DISTINCT days FROM lv) d CROSS JOIN cfg\n"
        "  JOIN crm.invoices v ON " JOB_INVOICE_CHASED_SQL("v") "\n"
        "   AND v.due_on BETWEEN greatest((cfg.now AT TIME ZONE 'UTC')::date - 2 - (cfg.s->>'max_lateness')::int / 86400,\n"
        "                                 cfg.eff_from) - d.days\n"
        "                    AND (cfg.now AT TIME ZONE 'UTC')::date + 1 - d.days\n"
        "),\n"
        "/* One probe of customers per invoice, in customer order so that\n"
        " * neighbouring probes share pages, whatever the planner guesses of inv's\n"
        " * size: the OFFSET 0 fences keep it from hashing the whole customer\n"
        " * table instead. */\n"
        "base AS (\n"
        "  SELECT inv.*, c.name, c.tier, c.email, c.phone,\n"
        "         coalesce(nullif(c.time_zone, ''), cfg.dtz) AS ctz,\n"
        "         coalesce(nullif(c.locale, ''), cfg.dloc) AS clocale,\n"
        "         r.id AS rep_id, r.name AS rep_name, r.email AS rep_email, r.phone AS rep_phone,\n"
        "         r.active IS TRUE AS rep_active,\n"
        "         m.id AS mgr_id, m.name AS mgr_name, m.email AS mgr_email, m.phone AS mgr_phone,\n"
        "         m.active IS TRUE AS mgr_active,\n"
        "         coalesce(nullif(m.time_zone, ''), cfg.dtz) AS mtz, coalesce(nullif(m.locale, ''), cfg.dloc) AS mlocale,\n"
        "         coalesce(nullif(r.time_zone, ''), cfg.dtz) AS rtz, coalesce(nullif(r.locale, ''), cfg.dloc) AS rlocale\n"
        "  FROM (SELECT * FROM inv ORDER BY inv.customer_id OFFSET 0) inv CROSS JOIN cfg\n"
        "  JOIN LATERAL (SELECT c.name, c.tier, c.email, c.phone, c.time_zone, c.locale, c.rep_id\n"
        "                FROM crm.customers c WHERE c.id = inv.customer_id AND c.active OFFSET 0) c ON true\n"
        "  LEFT JOIN crm.reps r ON r.id = c.rep_id\n"
        "  LEFT JOIN crm.reps m ON m.id = r.manager_id\n"
        "),\n"
        "/* Who receives each level: the customer; the owning rep (or, when the rep\n"
        " * is inactive, the rep's manager standing in); the rep's manager. */\n"
        "bl AS MATERIALIZED (\n"
        "  SELECT b.*, lv.audience, lv.channel, lv.template, b.due_on + lv.days AS level_on\n"
        "  FROM base b JOIN lv ON lv.days = b.days\n"
        "),\n"
        "msg AS (\n"
        "  SELECT b.*, t.*\n"
        "  FROM bl b,\n"
        "       LATERAL (SELECT\n"
        "         CASE WHEN b.audience = 'customer' THEN NULL\n"
        "              WHEN b.audience = 'rep' AND b.rep_active THEN b.rep_id\n"
        "              WHEN b.mgr_active THEN b.mgr_id END AS who_rep_id,\n"
        "         CASE WHEN b.audience = 'customer' THEN b.name\n"
        "              WHEN b.audience = 'rep' AND b.rep_active THEN b.rep_name\n"
        "              WHEN b.mgr_active THEN b.mgr_name END AS who_name,\n"
        "         CASE WHEN b.audience = 'customer' THEN CASE b.channel WHEN 'email' THEN b.email ELSE b.phone END\n"
        "              WHEN b.audience = 'rep' AND b.rep_active THEN CASE b.channel WHEN 'email' THEN b.rep_email ELSE b.rep_phone END\n"
        "              WHEN b.mgr_active THEN CASE b.channel WHEN 'email' THEN b.mgr_email ELSE b.mgr_phone END END AS who_addr,\n"
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
        "  FROM (SELECT d.who_tz, d.who_tz IN (SELECT name FROM zones) AS tz_ok\n"
        "        FROM (SELECT DISTINCT z.who_tz FROM bl, LATERAL (VALUES (bl.ctz), (bl.rtz), (bl.mtz)) AS z(who_tz)) d) x\n"
        "  CROSS JOIN cfg, LATERAL (SELECT CASE WHEN x.tz_ok THEN x.who_tz ELSE cfg.dtz END AS tz) l\n"
        "),\n"
        "timed AS (\n"
        "  SELECT msg.*, l.tz_ok, l.tz AS ztz, l.today, (msg.level_on + cfg.send_at) AT TIME ZONE l.tz AS not_before,\n"
        "         CASE\n"
        "           WHEN msg.audience = 'customer' AND NOT l.tz_ok THEN 'unknown time zone'\n"
        "           WHEN msg.audience = 'rep' AND msg.who_rep_id IS NULL THEN 'no active owning rep or manager'\n"
        "           WHEN msg.audience = 'manager' AND msg.who_rep_id IS NULL THEN 'no active manager'\n"
        "           WHEN NOT l.tz_ok THEN 'rep has an unknown time zone'\n"
        "           WHEN msg.who_addr IS NULL AND msg.audience <> 'customer' THEN\n"
        "                'rep has no ' || CASE msg.channel WHEN 'email' THEN 'e-mail address' ELSE 'phone number' END\n"
        "           WHEN msg.who_addr IS NULL THEN NULL\n"
        "           WHEN msg.channel = 'email' AND NOT rapport.email_ok(msg.who_addr) THEN\n"
        "                CASE WHEN msg.audience = 'customer' THEN '' ELSE 'rep has an ' END || 'invalid e-mail address'\n"
        "           WHEN msg.channel = 'sms' AND NOT rapport.phone_ok(msg.who_addr) THEN\n"
        "                CASE WHEN msg.audience = 'customer' THEN '' ELSE 'rep has an ' END || 'invalid phone number'\n"
        "         END AS skip_reason\n"
        "  FROM msg JOIN mz l ON l.who_tz = msg.who_tz CROSS JOIN cfg\n"
        "),\n"
        "due AS (\n"
        "  SELECT t.* FROM timed t, cfg\n"
        "  WHERE t.level_on <= t.today AND t.level_on >= " JOB_RECIPIENT_EFFECTIVE_SQL("t.ztz") "\n"
        "    AND cfg.now <= t.not_before + cfg.lateness\n"
        "    AND NOT EXISTS (SELECT 1 FROM rapport.dunning_items d\n"
        "                    WHERE d.invoice_number = t.number AND d.level_days = t.days AND d.channel = t.channel\n"
        "                      AND d.audience = t.audience)\n"
        "),\n"
        "wanted AS (\n"
        "  SELECT due.*, CASE due.channel WHEN 'email' THEN lower(due.who_addr) ELSE due.who_addr END AS recipient\n"
        "  FROM due\n"
        "  WHERE due.skip_reason IS NULL AND due.who_addr IS NOT NULL\n"
        "    AND NOT EXISTS (SELECT 1 FROM rapport.suppression s WHERE s.address = lower(due.who_addr))\n"
        "),\n"
        "/* The ledger first: a message is built only from the rows this statement\n"
        " * really inserted, so a concurrent run can neither duplicate nor swallow\n"
        " * an invoice. */\n"
        "led AS (\n"
        "  INSERT INTO rapport.dunning_items (invoice_number, level_days, channel, audience, invoice_id, customer_id, run_id)\n"
        "  SELECT w.number, w.days, w.channel, w.audience, w.id, w.customer_id, cfg.run_id FROM wanted w, cfg\n"
        "  ON CONFLICT DO NOTHING\n"
        "  RETURNING invoice_number, level_days, channel, audience\n"
        "),\n"
        "items AS (\n"
        "  SELECT w.*, max(w.days) OVER (PARTITION BY w.customer_id, w.audience, w.channel, w.recipient) AS top_days\n"
        "  FROM wanted w JOIN led ON led.invoice_number = w.number AND led.level_days = w.days AND led.channel = w.channel\n"
        "                       AND led.audience = w.audience\n"
        "),\n"
        "/* One message per customer, recipient and channel: the invoices reaching\n"
        " * a level now, whatever the level, go in one message in the words (the\n"
        " * template) of the highest level among them.  Its dedupe key names an\n"
        " * invoice at that level, which the ledger gives to no other message.\n"
        " * Its content (the invoices still unpaid, totals, days overdue) is\n"
        " * built when it is sent (build_sql): the plan carries only which\n"
        " * invoices, at which level, it is about. */\n"
        "grp AS (\n"
        "  SELECT i.customer_id, i.top_days AS days, i.channel, i.audience, i.recipient,\n"
        "         min(i.template) FILTER (WHERE i.days = i.top_days) AS template,\n"
        "         min(i.who_name) AS who_name, min(i.who_rep_id) AS who_rep_id, min(i.who_locale) AS who_locale,\n"
        "         min(i.who_tz) AS who_tz, bool_or(i.covering) AS covering, min(i.rep_id) AS rep_id,\n"
        "         min(i.number) FILTER (WHERE i.days = i.top_days) AS first_number,\n"
        "         count(DISTINCT i.id) AS n, max(i.not_before) AS not_before,\n"
        "         jsonb_agg(DISTINCT i.id) AS invoice_ids,\n"
        "         jsonb_object_agg(i.id::text, i.days ORDER BY i.days) AS invoice_levels\n"
        "  FROM items i\n"
        "  GROUP BY i.customer_id, i.top_days, i.channel, i.audience, i.recipient\n"
        "),\n"
        "ins AS (\n"
        "  INSERT INTO rapport.outbox (job, run_id, channel, audience, recipient, recipient_name, customer_id, rep_id,\n"
        "                              template, locale, time_zone, context, marketing, dedupe_key,\n"
        "                              not_before, next_attempt_at, expires_at)\n"
        "  SELECT 'receivables', cfg.run_id, g.channel, g.audience, g.recipient, g.who_name, g.customer_id,\n"
        "         CASE WHEN g.audience = 'customer' THEN g.rep_id ELSE g.who_rep_id END,\n"
        "         g.template, g.who_locale, g.who_tz,\n"
        "         jsonb_build_object('customer', jsonb_build_object('id', g.customer_id),\n"
        "                            'level', jsonb_build_object('days', g.days),\n"
        "                            'covering', g.covering,\n"
        "                            'invoice_ids', g.invoice_ids, 'invoice_levels', g.invoice_levels,\n"
        "                            'invoice_count', g.n, 'multiple', g.n > 1),\n"
        "         false,\n"
        "         'dunning:' || g.first_number || ':' || g.days || ':' || g.channel\n"
        "           || CASE WHEN g.audience = 'customer' THEN '' ELSE ':' || g.audience END,\n"
        "         g.not_before, g.not_before, g.not_before + cfg.lateness\n"
        "  FROM grp g, cfg\n"
        "  ON CONFLICT (dedupe_key) DO NOTHING\n"
        "  RETURNING 1\n"
        "),\n"
        "skips AS (\n"
        "  INSERT INTO rapport.skipped (job, customer_id, reason, day, run_id)\n"
        "  SELECT DISTINCT 'receivables', due.customer_id, due.skip_reason, (cfg.now AT TIME ZONE 'UTC')::date, cfg.run_id\n"
        "  FROM due, cfg WHERE due.skip_reason IS NOT NULL\n"
        "  ON CONFLICT DO NOTHING\n"
        "  RETURNING 1\n"
        "),\n"
        /* What the run passed over, and why: bad data, a customer with no
         * address on the level's channel, a suppressed address. */
        "passed AS (\n"
        "  SELECT due.customer_id AS id,\n"
        "         coalesce(due.skip_reason, CASE WHEN due.who_addr IS NULL AND due.channel = 'email' THEN 'no e-mail address'\n"
        "                                        WHEN due.who_addr IS NULL THEN 'no phone number'\n"
        "                                        ELSE 'address suppressed' END) AS reason\n"
        "  FROM due\n"
        "  WHERE due.skip_reason IS NOT NULL OR due.who_addr IS NULL\n"
        "     OR EXISTS (SELECT 1 FROM rapport.suppression s WHERE s.address = lower(due.who_addr))\n"
        ")\n"
        "SELECT (SELECT count(*) FROM ins) AS planned,\n"
        JOB_SKIP_COUNTS_SQL
        "       (SELECT count(*) FROM skips) AS newly_skipped,\n"
        "       (SELECT count(*) FROM lv WHERE invalid IS NOT NULL) AS invalid_levels\n";

static const char still_due_sql[] =
        "SELECT o.id, CASE WHEN u.unpaid THEN '" JOB_DUE_DATE_MOVED_REASON "'\n"
        "                  WHEN jsonb_array_length(o.context->'invoice_ids') = 1 THEN 'the invoice has been paid'\n"
        "                  ELSE 'every invoice in the message has been paid' END AS reason\n"
        "FROM rapport.outbox o\n"
        "CROSS JOIN LATERAL (SELECT bool_or(true) AS unpaid,\n"
        "                           bool_or(v.due_on + " RECEIVABLES_INVOICE_LEVEL_SQL("o.context", "x.id") "\n"
        "                                   <= ($2::timestamptz AT TIME ZONE o.time_zone)::date) AS at_level\n"
        "                    FROM jsonb_array_elements_text(o.context->'invoice_ids') AS x(id)\n"
        "                    JOIN crm.invoices v ON v.id = x.id::bigint\n"
        "                    WHERE " JOB_INVOICE_CHASED_SQL("v") ") u\n"
        "WHERE o.id = ANY($1::bigint[]) AND o.job = 'receivables'\n"
        "  AND u.at_level IS NOT TRUE\n";

/* The message as sent: only the invoices of the plan still unpaid (one
 * paid since planning is neither listed nor totalled), totals per
 * currency and days overdue as of the recipient's today, the customer and
 * the owning rep as the CRM has them now.  A message whose invoices are
 * all paid is cancelled with the reason. */
static const char build_sql[] =
        "WITH cfg AS (\n"
        "  SELECT $2::timestamptz AS now, $4::text AS dtz, coalesce(($3::jsonb->>'bad_debt_days')::int, 60) AS bad_debt_days,\n"
        "         " JOB_EFFECTIVE_FROM_SQL("receivables", "$3::jsonb", "$2") " AS eff_from,\n"
        "         coalesce((SELECT max((l->>'days')::int) FROM jsonb_array_elements($3::jsonb->'levels') AS l), 0) AS top_level\n"
        "),\n"
        "m AS MATERIALIZED (\n"
        "  SELECT o.id AS oid, o.audience, o.customer_id, o.recipient_name, o.context AS planned, o.rep_id AS to_rep,\n"
        "         (o.context->'level'->>'days')::int AS days,\n"
        "         (cfg.now AT TIME ZONE coalesce(nullif(o.time_zone, ''), cfg.dtz))::date AS today\n"
        "  FROM rapport.outbox o CROSS JOIN cfg\n"
        "  WHERE o.id = ANY ($1::bigint[]) AND o.job = 'receivables'\n"
        "),\n"
        "planned AS MATERIALIZED (\n"
        "  SELECT m.oid, m.customer_id, m.today, v.id, v.number, v.amount, v.currency, v.issued_on, v.due_on,\n"
        "         " RECEIVABLES_INVOICE_LEVEL_SQL("m.planned", "x.id") " AS level_days, true AS newly_due\n"
        "  FROM m, jsonb_array_elements_text(m.planned->'invoice_ids') AS x(id)\n"
        "  JOIN crm.invoices v ON v.id = x.id::bigint\n"
        "  WHERE " JOB_INVOICE_CHASED_SQL("v") "\n"
        "    AND v.due_on + " RECEIVABLES_INVOICE_LEVEL_SQL("m.planned", "x.id") " <= m.today\n"
        "),\n"
        /* The customer's other unpaid invoices already past due go in the
         * same message: one reminder lists everything owed, with totals per
         * currency, not only what reached a level today.  They are listed,
         * not charged to the ledger: each keeps its own levels.  History
         * stays out as it does from planning: an invoice whose whole ladder
         * ended before effective_from (years-old debt the CRM never closed)
         * is not dug up. */
        "inv AS (\n"
        "  SELECT p.oid, p.today, p.id, p.number, p.amount, p.currency, p.issued_on, p.due_on, p.level_days, p.newly_due\n"
        "  FROM planned p\n"
        "  UNION ALL\n"
        "  SELECT o.oid, o.today, v.id, v.number, v.amount, v.currency, v.issued_on, v.due_on, NULL::int, false\n"
        "  FROM (SELECT DISTINCT oid, customer_id, today FROM planned) o CROSS JOIN cfg\n"
        "  JOIN crm.invoices v ON v.customer_id = o.customer_id\n"
        "  WHERE " JOB_INVOICE_CHASED_SQL("v") " AND v.due_on < o.today\n"
        "    AND v.due_on + cfg.top_level >= cfg.eff_from\n"
        "    AND NOT EXISTS (SELECT 1 FROM planned p WHERE p.oid = o.oid AND p.id = v.id)\n"
        "),\n"
        "agg AS (\n"
        "  SELECT i.oid, count(*) AS n, count(*) FILTER (WHERE i.today > i.due_on) AS n_overdue,\n"
        "         max(i.today - i.due_on) AS max_days_overdue,\n"
        "         jsonb_agg(jsonb_build_object(\n"
        "             'id', i.id, 'number', i.number,\n"
        "             'amount', " JOB_AMOUNT_SQL("i.amount", "i.currency") ", 'currency', i.currency,\n"
        "             'issued_on', to_char(i.issued_on, 'YYYY-MM-DD'), 'due_on', to_char(i.due_on, 'YYYY-MM-DD'),\n"
        "             'days_overdue', greatest(i.today - i.due_on, 0), 'days_until_due', greatest(i.due_on - i.today, 0),\n"
        "             'days_overdue_plural', greatest(i.today - i.due_on, 0) <> 1,\n"
        "             'overdue', i.today > i.due_on, 'level_days', i.level_days, 'newly_due', i.newly_due)\n"
        "           ORDER BY i.due_on, i.number) AS invoices,\n"
        "         jsonb_agg(i.id ORDER BY i.id) FILTER (WHERE i.newly_due) AS invoice_ids,\n"
        "         count(DISTINCT i.level_days) > 1 AS mixed_levels\n"
        "  FROM inv i GROUP BY i.oid\n"
        "),\n"
        "tot AS (\n"
        "  SELECT t.oid, jsonb_agg(jsonb_build_object('currency', t.currency,\n"
        "                                             'amount', " JOB_AMOUNT_SQL("t.total", "t.currency") ")\n"
        "                          ORDER BY t.currency) AS totals\n"
        "  FROM (SELECT i.oid, i.currency, sum(i.amount) AS total FROM inv i GROUP BY 1, 2) t\n"
        "  GROUP BY t.oid\n"
        ")\n"
        "SELECT m.oid,\n"
        "       CASE WHEN a.oid IS NULL THEN\n"
        "         CASE WHEN EXISTS (SELECT 1 FROM jsonb_array_elements_text(m.planned->'invoice_ids') AS x(id)\n"
        "                           JOIN crm.invoices v ON v.id = x.id::bigint WHERE " JOB_INVOICE_CHASED_SQL("v") ")\n"
        "                THEN '" JOB_DUE_DATE_MOVED_REASON "'\n"
        "              WHEN jsonb_array_length(m.planned->'invoice_ids') = 1 THEN 'the invoice has been paid'\n"
        "              ELSE 'every invoice in the message has been paid' END\n"
        /* A rep or manager hears only of their own customers and team: one
         * given to another rep (or whose rep has another manager, or came
         * back) since planning goes to whoever has it now.  Cancelled with
         * this reason, the message gives its invoices back to the ledger
         * (outbox.c) and the next run plans them for the new recipient. */
        "            WHEN m.audience <> 'customer'\n"
        "                 AND m.to_rep IS DISTINCT FROM CASE WHEN m.audience = 'rep' AND r.active THEN r.id ELSE r.manager_id END\n"
        "              THEN '" JOB_REASSIGNED_REASON "' END AS reason,\n"
        "       CASE WHEN a.oid IS NOT NULL THEN jsonb_build_object(\n"
        "         'customer', jsonb_build_object('id', m.customer_id, 'name', c.name, 'tier', c.tier, 'key_account', c.tier = 'A')\n"
        "                     || CASE WHEN m.audience = 'customer' THEN '{}'::jsonb\n"
        "                             ELSE jsonb_build_object('email', c.email, 'phone', c.phone) END,\n"
        "         'rep', " JOB_REP_CONTEXT("r.id", "r.name", "r.email", "r.phone", "r.active", "m.audience") ",\n"
        "         'recipient', jsonb_build_object('name', m.recipient_name),\n"
        "         'covering', coalesce((m.planned->>'covering')::boolean, false),\n"
        "         'level', jsonb_build_object('days', m.days, 'before_due', m.days < 0, 'days_before', greatest(-m.days, 0),\n"
        "                                     'bad_debt_risk', m.days >= cfg.bad_debt_days),\n"
        "         'invoices', a.invoices,\n"
        "         'invoice_ids', a.invoice_ids,\n"
        "         'invoice_count', a.n,\n"
        "         'multiple', a.n > 1,\n"
        /* A courtesy level (before the due date) may fire with a later one:
         * the listing then holds invoices not yet due, which a subject
         * saying "2 invoices past due" would misstate. */
        "         'overdue_count', a.n_overdue,\n"
        "         'all_overdue', a.n_overdue = a.n,\n"
        "         'any_overdue', a.n_overdue > 0,\n"
        "         'mixed_levels', a.mixed_levels,\n"
        "         'max_days_overdue', greatest(a.max_days_overdue, 0),\n"
        "         'totals', t.totals,\n"
        "         'today', to_char(m.today, 'YYYY-MM-DD')) END AS context\n"
        "FROM m CROSS JOIN cfg\n"
        "LEFT JOIN agg a ON a.oid = m.oid\n"
        "LEFT JOIN tot t ON t.oid = m.oid\n"
        "LEFT JOIN crm.customers c ON c.id = m.customer_id\n"
        "LEFT JOIN crm.reps r ON r.id = c.rep_id\n"
        "ORDER BY m.oid\n";

const struct job_def job_receivables = {
        .name = "receivables",
        .description = "dunning ladder: reminders to customers, call requests to reps, escalations to managers",
        .default_schedule = "0 * * * *",
        .settings = receivables_settings,
        .plan_sql = plan_sql,
        .still_due_sql = still_due_sql,
        .build_sql = build_sql,
};
