-- Demo / test data for the reference CRM schema (etc/crm.sql).
--
--   psql -v ON_ERROR_STOP=1 [-v customers=N] [-v today="'YYYY-MM-DD'"] -f etc/demo.sql
--
-- customers defaults to 3000, today to current_date (a bare YYYY-MM-DD works
-- too).  REPLACES everything in schema crm (TRUNCATE ... RESTART IDENTITY
-- CASCADE), in one transaction; etc/crm.sql must have been loaded.
-- Timing at 1M customers: ~45 s as superuser (foreign-key triggers skipped,
-- see below), ~2 min otherwise.
--
-- Set-based generate_series inserts, no row-at-a-time loop, so 1,000,000
-- customers (10M interactions, 2M invoices) load in minutes.  Every value is
-- derived from the row's id, through modulo rules or hashint8extended(id,
-- salt), never random(): the same N and today always give the same data.
--
-- Sizes: reps = greatest(6, N/100); interactions ~10 N (1..19 per customer);
-- invoices ~2 N (0..4 per customer); complaints = N/20 (one each for the
-- customers with id % 20 = 10).
--
-- Rules tests can rely on (today = the :today parameter):
--   * Customers 1, 2, 3 are showcase rows: active, both consents, e-mail and
--     phone set, birthday today; 1 = Chinese, tier A, Asia/Shanghai, zh-CN;
--     2 = English, tier B, America/New_York, en; 3 = Chinese, tier C,
--     Europe/Berlin, zh-CN.  They belong to reps 1, 2, 3 (active).
--   * Birthday on today's month/day: exactly the customers with id <= 3 or
--     id % 97 = 0 (plus id % 101 = 0 when today is Feb 29).  Customers with
--     id % 101 = 0 (and id % 97 <> 0) are born on Feb 29 of a leap year; no
--     other customer is born on Feb 29.  About 5% have no birthday.
--   * next_follow_up is set exactly for id % 10 = 5: today + ((id/10 + 30)
--     % 61 - 30) days, i.e. -30..+30 days; customer 5 is due today.
--   * Receivables ladder: each customer with id % 50 = 7 has an unpaid
--     invoice INV-<id, 7 digits>-1 overdue by 1, 15, 30, 60 or 90 days
--     (by (id/50) % 5: customer 7 -> 1 day, 57 -> 15, 107 -> 30, 157 -> 60,
--     207 -> 90).  Besides these ~4% of past-due invoices are unpaid.
--   * Complaints: customer id % 20 = 10, k = id / 20: severity
--     (low, normal, high, critical)[k % 4]; open when k % 3 = 0 (opened
--     1 h .. 14 days before today 00:00 UTC), else resolved 1..48 h after
--     being opened 3..60 days ago.
--   * ~3% of customers are inactive, ~8% dormant (all activity 400..730 days
--     old); ids <= 3 and ladder customers (id % 50 = 7) are neither.
--   * Reps: id % 8 = 1 are managers (rep 1 is the head, other managers
--     report to it, everybody else to the manager of their block of 8);
--     id % 20 = 6 are inactive.  Customer c belongs to rep 1 + (c-1) % reps.
--   * All e-mail addresses are under example.com/.cn/.org; phones are E.164
--     (+8613..., +1212..., +4930...).  Data is clean: tests add bad rows.

\set ON_ERROR_STOP on
\if :{?customers}
\else
\set customers 3000
\endif
\if :{?today}
\else
\set today current_date
\endif

BEGIN;

CREATE TEMP TABLE demo_params (
    customers bigint NOT NULL
              CONSTRAINT customers_must_be_at_least_1 CHECK (customers >= 1),
    today     date NOT NULL,
    reps      bigint NOT NULL
) ON COMMIT DROP;
INSERT INTO demo_params
SELECT :customers,
       -- Accepts 'YYYY-MM-DD' quoted (as documented) or bare, and current_date.
       CASE WHEN lower(:'today') = 'current_date' THEN current_date
            ELSE btrim(:'today', ''' ')::date END,
       greatest(6, (:customers)::bigint / 100);
SELECT customers AS demo_n, to_char(today, 'YYYY-MM-DD') AS demo_today,
       reps AS demo_reps
FROM demo_params \gset

-- Non-negative 31-bit hash of (x, salt); inlined by the planner.
CREATE FUNCTION pg_temp.h(x bigint, salt bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS 'SELECT hashint8extended(x, salt) & 2147483647';
CREATE FUNCTION pg_temp.is_chinese(id bigint) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS 'SELECT CASE WHEN id <= 3 THEN id <> 2 ELSE pg_temp.h(id, 1) % 2 = 0 END';
CREATE FUNCTION pg_temp.is_dormant(id bigint) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS 'SELECT id > 3 AND id % 50 <> 7 AND pg_temp.h(id, 21) % 12 = 0';
-- The zone itself when it names a country, else one of them (UTC, NULL).
CREATE FUNCTION pg_temp.country_zone(zone text, x bigint) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $f$
    SELECT CASE WHEN zone IN ('Asia/Shanghai', 'America/New_York', 'Europe/Berlin') THEN zone
                ELSE (ARRAY['Asia/Shanghai', 'America/New_York', 'Europe/Berlin'])[1 + pg_temp.h(x, 90) % 3] END
    $f$;
-- Mobile-looking E.164 number in the zone's country (random country for UTC/NULL).
CREATE FUNCTION pg_temp.phone(zone text, x bigint) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $f$
    SELECT CASE pg_temp.country_zone(zone, x)
        WHEN 'Asia/Shanghai' THEN '+8613' || lpad((pg_temp.h(x, 91) % 1000000000)::text, 9, '0')
        WHEN 'America/New_York' THEN '+1212' || lpad((2000000 + pg_temp.h(x, 91) % 8000000)::text, 7, '0')
        ELSE '+4930' || lpad((pg_temp.h(x, 91) % 100000000)::text, 8, '0')
    END
    $f$;
CREATE FUNCTION pg_temp.person(chinese boolean, x bigint) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $f$
    SELECT CASE WHEN chinese THEN
        (ARRAY['王','李','张','刘','陈','杨','黄','赵','吴','周',
               '徐','孙','马','朱','胡','郭','何','高','林','欧阳'])[1 + pg_temp.h(x, 2) % 20]
        || (ARRAY['伟','芳','娜','秀英','敏','静','丽','强','磊','洋',
                  '艳','勇','军','杰','娟','涛','明','超','秀兰','霞',
                  '平','刚','桂英','建华','文','晓明','俊杰','子涵','欣怡','浩然'])[1 + pg_temp.h(x, 3) % 30]
    ELSE
        (ARRAY['James','Mary','John','Patricia','Robert','Jennifer','Michael','Linda',
               'William','Elizabeth','David','Barbara','Richard','Susan','Joseph','Jessica',
               'Thomas','Sarah','Charles','Karen','Emma','Oliver','Sophia','Liam',
               'Noah','Olivia','Ava','Lucas','Mia','Zoë'])[1 + pg_temp.h(x, 2) % 30]
        || ' ' ||
        (ARRAY['Smith','Johnson','Williams','Brown','Jones','Garcia','Miller','Davis',
               'Rodriguez','Martinez','Wilson','Anderson','Taylor','Thomas','Moore','Jackson',
               'Martin','Lee','Thompson','White','Harris','Clark','Lewis','Walker',
               'Müller','Schmidt','Weber','O''Brien','Young','King'])[1 + pg_temp.h(x, 3) % 30]
    END
    $f$;

-- The rows below are generated from the rows they reference, so a superuser
-- may skip the per-row foreign-key triggers (about 2x faster at 1M
-- customers); everybody else gets the checks.
SELECT rolsuper AS demo_superuser FROM pg_roles WHERE rolname = current_user \gset
\if :demo_superuser
SET LOCAL session_replication_role = replica;
\endif

TRUNCATE crm.complaints, crm.invoices, crm.interactions, crm.customers, crm.reps
    RESTART IDENTITY CASCADE;

INSERT INTO crm.reps (id, name, email, phone, time_zone, locale, digest_hour, manager_id, active)
SELECT id,
       pg_temp.person(chinese, -id),
       'rep' || id || '@example.com',
       CASE WHEN id % 7 = 0 THEN NULL ELSE pg_temp.phone(zone, -id) END,
       zone,
       CASE WHEN chinese THEN 'zh-CN' ELSE 'en' END,
       7 + id % 3,
       CASE WHEN id = 1 THEN NULL
            WHEN id % 8 = 1 THEN 1
            ELSE (id - 1) / 8 * 8 + 1 END,
       id % 20 <> 6
FROM generate_series(1, :demo_reps) AS id,
     LATERAL (SELECT id % 2 = 1 AS chinese,
                     (ARRAY['Asia/Shanghai', 'America/New_York', 'Europe/Berlin', 'UTC'])[1 + (id - 1) % 4] AS zone) r;

INSERT INTO crm.customers (id, name, tier, email, phone, birthday, time_zone, locale,
                           rep_id, consent_email, consent_sms, next_follow_up,
                           created_at, active)
SELECT id,
       pg_temp.person(chinese, id),
       CASE WHEN id <= 3 THEN (ARRAY['A', 'B', 'C'])[id]
            WHEN pg_temp.h(id, 4) % 10 = 0 THEN 'A'
            WHEN pg_temp.h(id, 4) % 10 <= 3 THEN 'B'
            ELSE 'C' END,
       CASE WHEN NOT showcase AND pg_temp.h(id, 7) % 50 = 0 THEN NULL
            ELSE 'c' || id || '@' || (ARRAY['example.com', 'example.cn', 'example.org'])[1 + pg_temp.h(id, 8) % 3] END,
       CASE WHEN NOT showcase AND pg_temp.h(id, 11) % 7 = 0 THEN NULL
            ELSE pg_temp.phone(zone, id) END,
       CASE WHEN showcase OR id % 97 = 0
                 THEN make_date(1960 + 4 * (pg_temp.h(id, 12) % 12)::int,
                                extract(month FROM DATE :'demo_today')::int,
                                extract(day FROM DATE :'demo_today')::int)
            WHEN id % 101 = 0
                 THEN make_date(1960 + 4 * (pg_temp.h(id, 12) % 12)::int, 2, 29)
            WHEN pg_temp.h(id, 13) % 20 = 0 THEN NULL
            ELSE make_date(1950 + (pg_temp.h(id, 15) % 55)::int,
                           extract(month FROM md)::int, extract(day FROM md)::int) END,
       zone,
       CASE WHEN NOT showcase AND pg_temp.h(id, 6) % 40 = 0 THEN NULL
            WHEN chinese THEN 'zh-CN' ELSE 'en' END,
       1 + (id - 1) % :demo_reps,
       showcase OR pg_temp.h(id, 16) % 10 < 8,
       showcase OR pg_temp.h(id, 17) % 2 = 0,
       CASE WHEN id % 10 = 5
            THEN DATE :'demo_today' + ((id / 10 + 30) % 61 - 30)::int END,
       (DATE :'demo_today' - (800 + pg_temp.h(id, 18) % 2500)::int
            + make_interval(secs => pg_temp.h(id, 19) % 86400)) AT TIME ZONE 'UTC',
       showcase OR pg_temp.h(id, 20) % 33 <> 0
FROM generate_series(1, :demo_n) AS id,
     LATERAL (SELECT id <= 3 AS showcase,
                     pg_temp.is_chinese(id) AS chinese,
                     CASE WHEN id > 3 AND pg_temp.h(id, 5) % 50 = 0 THEN NULL
                          ELSE (ARRAY['Asia/Shanghai', 'America/New_York', 'Europe/Berlin', 'UTC'])[1 + (id - 1) % 4] END AS zone) c,
     -- An ordinary birthday: any day of a non-leap year except today's.
     LATERAL (SELECT CASE WHEN to_char(d, 'MM-DD') = to_char(DATE :'demo_today', 'MM-DD')
                          THEN d + 1 ELSE d END AS md
              FROM (SELECT DATE '2001-01-01' + (pg_temp.h(id, 14) % 365)::int AS d) x) b;

-- Ids were given explicitly: move the identities past them so later inserts
-- (tests adding rows of their own) do not collide.
SELECT setval(pg_get_serial_sequence('crm.reps', 'id'), :demo_reps) AS demo_seq_reps,
       setval(pg_get_serial_sequence('crm.customers', 'id'), :demo_n) AS demo_seq_customers \gset

INSERT INTO crm.interactions (customer_id, rep_id, kind, happened_at, note)
SELECT c.id,
       CASE WHEN pg_temp.h(k, 31) % 20 = 0 THEN NULL ELSE c.rep_id END,
       (ARRAY['visit', 'call', 'email', 'meeting', 'purchase'])[kind],
       (DATE :'demo_today'
            - (CASE WHEN pg_temp.is_dormant(c.id) THEN 400 + pg_temp.h(k, 33) % 331
                    ELSE 1 + pg_temp.h(k, 33) % 730 END)::int
            + make_interval(secs => 1800 * (16 + pg_temp.h(k, 34) % 22))) AT TIME ZONE 'UTC',
       CASE WHEN pg_temp.is_chinese(c.id)
            THEN (ARRAY['上门拜访，介绍新产品', '电话回访，客户满意', '发送报价单',
                        '季度业务回顾会议', '下单采购'])[kind]
            ELSE (ARRAY['On-site visit, presented the new range', 'Follow-up call, customer happy',
                        'Sent a quotation', 'Quarterly business review', 'Placed an order'])[kind] END
FROM crm.customers c,
     LATERAL generate_series(1, 1 + (pg_temp.h(c.id, 30) % 19)::int) AS j,
     LATERAL (SELECT c.id * 32 + j AS k) kk,
     LATERAL (SELECT 1 + (pg_temp.h(k, 32) % 5)::int AS kind) kd;

INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on, paid_on)
SELECT customer_id, number, amount, currency, issued_on, issued_on + 30,
       CASE WHEN ladder THEN NULL
            WHEN issued_on + 30 >= DATE :'demo_today'
                 THEN CASE WHEN pg_temp.h(k, 42) % 10 < 7 THEN NULL
                           ELSE issued_on + (pg_temp.h(k, 43) % (DATE :'demo_today' - issued_on + 1))::int END
            WHEN pg_temp.h(k, 42) % 25 = 0 THEN NULL
            ELSE least(issued_on + (pg_temp.h(k, 43) % 45)::int, DATE :'demo_today') END
FROM (
    SELECT c.id AS customer_id, k,
           'INV-' || lpad(c.id::text, 7, '0') || '-' || j AS number,
           ((500 + pg_temp.h(k, 44) % 2000000) / 100.0 * CASE c.tier WHEN 'A' THEN 5 WHEN 'B' THEN 2 ELSE 1 END)::numeric(12, 2) AS amount,
           CASE pg_temp.country_zone(c.time_zone, c.id)
                WHEN 'Asia/Shanghai' THEN 'CNY' WHEN 'Europe/Berlin' THEN 'EUR' ELSE 'USD' END AS currency,
           j = 1 AND c.id % 50 = 7 AS ladder,
           DATE :'demo_today' - CASE
                WHEN j = 1 AND c.id % 50 = 7 THEN 30 + (ARRAY[1, 15, 30, 60, 90])[1 + (c.id / 50 % 5)::int]
                WHEN pg_temp.is_dormant(c.id) THEN 400 + (pg_temp.h(k, 41) % 331)::int
                ELSE (pg_temp.h(k, 41) % 730)::int END AS issued_on
    FROM crm.customers c,
         LATERAL generate_series(1, CASE WHEN c.id % 50 = 7 THEN greatest(1, pg_temp.h(c.id, 40) % 5)
                                         ELSE pg_temp.h(c.id, 40) % 5 END::int) AS j,
         LATERAL (SELECT c.id * 8 + j AS k) kk
) i;

INSERT INTO crm.complaints (customer_id, severity, summary, opened_at, resolved_at)
SELECT id,
       (ARRAY['low', 'normal', 'high', 'critical'])[1 + (k % 4)::int],
       CASE WHEN pg_temp.is_chinese(id)
            THEN (ARRAY['发货延迟', '产品质量问题', '发票金额有误', '客服响应太慢'])[1 + (pg_temp.h(id, 50) % 4)::int]
            ELSE (ARRAY['Late delivery', 'Defective product', 'Wrong invoice amount', 'Slow support response'])[1 + (pg_temp.h(id, 50) % 4)::int] END,
       opened_at,
       CASE WHEN NOT open THEN opened_at + make_interval(hours => 1 + (k % 48)::int) END
FROM generate_series(10, :demo_n, 20) AS id,
     LATERAL (SELECT id / 20 AS k, (id / 20) % 3 = 0 AS open) o,
     LATERAL (SELECT CASE WHEN open
                          THEN DATE :'demo_today' - make_interval(hours => 1 + (k * 7 % 336)::int)
                          ELSE DATE :'demo_today' - (3 + k % 58)::int + time '09:00' END AT TIME ZONE 'UTC' AS opened_at) t;

COMMIT;

ANALYZE crm.reps, crm.customers, crm.interactions, crm.invoices, crm.complaints;

\x on
SELECT :'demo_today' AS today,
       (SELECT count(*) FROM crm.reps) AS reps,
       (SELECT count(*) FROM crm.reps WHERE NOT active) AS reps_inactive,
       (SELECT count(*) FROM crm.customers) AS customers,
       (SELECT count(*) FROM crm.customers WHERE NOT active) AS customers_inactive,
       (SELECT count(*) FROM crm.customers WHERE tier = 'A') AS tier_a,
       (SELECT count(*) FROM crm.customers WHERE tier = 'B') AS tier_b,
       (SELECT count(*) FROM crm.customers WHERE tier = 'C') AS tier_c,
       (SELECT count(*) FROM crm.customers
         WHERE extract(month FROM birthday) = extract(month FROM DATE :'demo_today')
           AND extract(day FROM birthday) = extract(day FROM DATE :'demo_today')) AS birthdays_today,
       (SELECT count(*) FROM crm.customers WHERE next_follow_up = DATE :'demo_today') AS follow_ups_today,
       (SELECT count(*) FROM crm.interactions) AS interactions,
       (SELECT count(*) FROM crm.invoices) AS invoices,
       (SELECT count(*) FROM crm.invoices
         WHERE paid_on IS NULL AND due_on < DATE :'demo_today') AS overdue_invoices,
       (SELECT count(*) FROM crm.complaints) AS complaints,
       (SELECT count(*) FROM crm.complaints WHERE resolved_at IS NULL) AS open_complaints;
\x off
