#!/usr/bin/env bash
# The digest (jobs/digest.c, built at send time) against bad CRM rows and
# what it claims about escalation, end to end: rapportd --once at a pinned
# time, the mail read back from the SMTP sink.
#   1. infinite dates and timestamps (a complaint opened at -infinity, an
#      invoice issued and due at -infinity, birthdays, follow-up plans,
#      interactions and creation times at +/-infinity, and finite ones so
#      far out that the digest's arithmetic left the type's range: a time of
#      year 294276 in Shanghai, an invoice issued on 5874897-12-31) and NaN
#      / Infinity amounts: the digest still goes out with the good items, the bad rows
#      left out (no "cannot subtract infinite ..." failing the whole digest,
#      retried until "too many attempts"), no "EUR NaN"; the same for a
#      manager's escalations;
#   2. "escalated to your manager" only when the complaints job would alert
#      an active manager (one with a known zone and a valid, unsuppressed
#      address): not for a rep without a manager, with an inactive one, or
#      one who cannot be reached; in both locales, text and HTML;
#   3. an item with neither e-mail nor phone reads "no contact details" in
#      the HTML part too, as in the text part (both locales).
set -uo pipefail
export PGOPTIONS='-c client_min_messages=warning'
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
smtp_start
CONF=$T_TMP/rapport.conf
rapport_config "$CONF" 'digest: { schedule = "*/15 * * * *"; effective_from = "2020-01-01"; };'
assert_exit 0 "migrate" -- "$RAPPORTCTL" --config "$CONF" migrate
load() { psql -XAtq -v ON_ERROR_STOP=1 >/dev/null; }

# Wednesday 2027-03-10, every rep's digest at 08:00 UTC.
#   1 Mona    manager of 2, has no manager herself (en)
#   2 Rick    Mona's report: the good and the bad rows (en)
#   3 赵      no manager (zh-CN)
#   4 Ina     her manager 5 is inactive
#   6 Sam     his manager 7 has no valid e-mail address
#   8 Pat     his manager 9 has a suppressed address
#   10 Lee    his manager 11 is in an unknown time zone
load <<'SQL'
INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, manager_id, active) VALUES
 (1, 'Mona Manager', 'mona@example.com', 'UTC', 'en', 8, NULL, true),
 (2, 'Rick Rep', 'rick@example.com', 'UTC', 'en', 8, 1, true),
 (3, '赵代表', 'zhao@example.cn', 'UTC', 'zh-CN', 8, NULL, true),
 (5, 'Old Boss', 'old.boss@example.com', 'UTC', 'en', 8, NULL, false),
 (4, 'Ina Inactive-Boss', 'ina@example.com', 'UTC', 'en', 8, 5, true),
 (7, 'Broken Boss', 'not-an-address', 'UTC', 'en', 8, NULL, true),
 (6, 'Sam Bad-Address-Boss', 'sam@example.com', 'UTC', 'en', 8, 7, true),
 (9, 'Bounced Boss', 'Bounced.Boss@example.com', 'UTC', 'en', 8, NULL, true),
 (8, 'Pat Suppressed-Boss', 'pat@example.com', 'UTC', 'en', 8, 9, true),
 (11, 'Mars Boss', 'mars.boss@example.com', 'Mars/Olympus', 'en', 8, NULL, true),
 (10, 'Lee Lost-Boss', 'lee@example.com', 'UTC', 'en', 8, 11, true);
INSERT INTO rapport.suppression (address, channel, reason) VALUES ('bounced.boss@example.com', 'email', 'hard bounce');

INSERT INTO crm.customers (id, name, tier, email, phone, birthday, time_zone, rep_id, next_follow_up, created_at) VALUES
 -- Rick's good customer: a follow-up due, a birthday, an invoice, a complaint
 (21, 'Good Gail', 'A', 'gail@example.com', NULL, '1980-03-12', 'UTC', 2, '2027-03-10', '2020-01-01'),
 -- Rick's bad rows
 (22, 'Bad Complaint Co', 'C', 'bc@example.com', NULL, NULL, 'UTC', 2, NULL, '2020-01-01'),
 (23, 'Bad Invoice Co', 'C', 'bi@example.com', NULL, NULL, 'UTC', 2, NULL, '2020-01-01'),
 (24, 'Bad Birthday Up', 'C', 'bb@example.com', NULL, 'infinity', 'UTC', 2, NULL, '2020-01-01'),
 (25, 'Bad Plan Down', 'C', 'bp@example.com', NULL, '-infinity', 'UTC', 2, '-infinity', '2020-01-01'),
 (26, 'Future Touch', 'C', 'ft@example.com', NULL, NULL, 'UTC', 2, NULL, '2020-01-01'),
 (27, 'Ancient Touch', 'C', 'at@example.com', NULL, NULL, 'UTC', 2, NULL, '2020-01-01'),
 (28, 'Endless Past', 'A', 'ep@example.com', NULL, NULL, 'UTC', 2, NULL, '-infinity'),
 (29, 'Not Yet Created', 'A', 'ny@example.com', NULL, NULL, 'UTC', 2, NULL, 'infinity'),
 (30, 'Plan Forever', 'C', 'pf@example.com', NULL, NULL, 'UTC', 2, 'infinity', '2020-01-01'),
 -- the others' customers, each with a critical complaint past twice its deadline
 (11, 'Nobody Reachable', 'C', NULL, NULL, NULL, 'UTC', 1, NULL, '2020-01-01'),
 (31, '钱无联系', 'C', NULL, NULL, NULL, 'UTC', 3, NULL, '2020-01-01'),
 (41, 'Ina Customer', 'C', 'ic@example.com', NULL, NULL, 'UTC', 4, NULL, '2020-01-01'),
 (61, 'Sam Customer', 'C', 'sc@example.com', NULL, NULL, 'UTC', 6, NULL, '2020-01-01'),
 (81, 'Pat Customer', 'C', 'pc@example.com', NULL, NULL, 'UTC', 8, NULL, '2020-01-01'),
 (101, 'Lee Customer', 'C', 'lc@example.com', NULL, NULL, 'UTC', 10, NULL, '2020-01-01');

-- Every customer contacted lately (none dormant, no cadence due), except:
-- Ancient Touch's only interaction is at -infinity, Endless Past and Not
-- Yet Created have none; Future Touch has one at +infinity as well.
INSERT INTO crm.interactions (customer_id, rep_id, kind, happened_at)
SELECT id, rep_id, 'call', '2027-03-05T10:00:00Z' FROM crm.customers WHERE id NOT IN (27, 28, 29);
INSERT INTO crm.interactions (customer_id, rep_id, kind, happened_at) VALUES
 (26, 2, 'call', 'infinity'), (27, 2, 'call', '-infinity');

INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on) VALUES
 (21, 'INV-GOOD', 100, 'EUR', '2027-01-01', '2027-03-01'),
 -- issued at +infinity, but due and owed: listed (its issue date is not shown)
 (21, 'INV-ODD', 20, 'EUR', 'infinity', '2027-03-02'),
 (23, 'INV-NEGINF', 50, 'EUR', '-infinity', '-infinity'),
 (23, 'INV-POSINF', 50, 'EUR', '2027-01-01', 'infinity'),
 (23, 'INV-NAN', 'NaN', 'EUR', '2027-01-01', '2027-01-02'),
 (23, 'INV-INF', 'Infinity', 'EUR', '2027-01-01', '2027-01-02');

INSERT INTO crm.complaints (customer_id, severity, summary, opened_at) VALUES
 (21, 'critical', 'line down', '2027-03-10T00:00:00Z'),
 (22, 'critical', 'since forever', '-infinity'),
 (22, 'critical', 'from the future', 'infinity'),
 (11, 'critical', 'no answer', '2027-03-10T00:00:00Z'),
 (31, 'critical', '无人答复', '2027-03-10T00:00:00Z'),
 (41, 'critical', 'boss gone', '2027-03-10T00:00:00Z'),
 (61, 'critical', 'boss unreachable', '2027-03-10T00:00:00Z'),
 (81, 'critical', 'boss bounced', '2027-03-10T00:00:00Z'),
 (101, 'critical', 'boss on mars', '2027-03-10T00:00:00Z');
SQL

mark
run "digests at 08:30Z" "$CONF" 2027-03-10T08:30:00Z
settle
got=$(who_since)
assert_contains "$got" "rick@example.com|Your customer digest for 2027-03-10: 6 items" \
    "the rep with bad CRM rows gets his digest, with the six good items"
assert_contains "$got" "mona@example.com|Your customer digest for 2027-03-10: 2 items" \
    "the manager gets hers: her own complaint and one escalation"
assert_contains "$got" "zhao@example.cn|" "the zh-CN rep gets hers"
assert_eq "" "$(psql_val "SELECT string_agg(recipient || ': ' || state || ' ' || coalesce(last_error, ''), '; ')
                          FROM rapport.outbox WHERE job = 'digest' AND (state <> 'sent' OR attempts <> 1)")" \
    "every digest sent at the first attempt"

# ---- 1. the bad rows.
t=$(mail_to rick@example.com text)
h=$(mail_to rick@example.com html)
assert_contains "$t" "FOLLOW-UPS DUE (1)
  - Good Gail [A]: due today, last contact 2027-03-05, planned for 2027-03-10 — gail@example.com" \
    "follow-ups: the good one only (plans at +/-infinity are no plan; an interaction at +infinity is ignored)"
assert_contains "$t" "BIRTHDAYS IN THE NEXT 7 DAYS (1)
  - Good Gail [A]: 2027-03-12, in 2 days (turns 47)" "birthdays: the good one only (none at +/-infinity)"
assert_contains "$t" "CUSTOMERS GONE QUIET (1)
  - Ancient Touch [C]: no activity for 2625 days, since 2020-01-01" \
    "dormant: an interaction at -infinity is no activity; customers created at +/-infinity are left out"
assert_contains "$t" "OVERDUE INVOICES (2)
  1+ days overdue (2), total EUR 120.00 
    - Good Gail [A]: INV-GOOD, EUR 100.00, 9 days overdue — gail@example.com
    - Good Gail [A]: INV-ODD, EUR 20.00, 8 days overdue — gail@example.com" \
    "receivables: the good invoices only (one issued at +infinity but due is owed), totals without NaN or Infinity"
assert_contains "$t" "COMPLAINTS PAST THEIR DEADLINE (1)
  - Good Gail [A]: #1 line down — critical priority, open 8 h, 4 h past the deadline; escalated to your manager" \
    "complaints: the good one only, escalated (the rep has an active manager)"
for bad in "Bad Complaint Co" "Bad Invoice Co" "Bad Birthday Up" "Bad Plan Down" "Future Touch" \
           "Endless Past" "Not Yet Created" "Plan Forever" INV-NEGINF INV-POSINF INV-NAN INV-INF \
           NaN Infinity infinity "since forever" "from the future"; do
    assert_not_contains "$t$h" "$bad" "no '$bad' in the rep's digest (text or HTML)"
done
assert_contains "$h" "escalated to your manager" "HTML: escalated (the rep has an active manager)"

# The manager's escalations: the NaN invoice (68 days overdue) and the
# complaint opened at -infinity are not among them.
t=$(mail_to mona@example.com text)
h=$(mail_to mona@example.com html)
assert_contains "$t" "YOUR TEAM: ESCALATIONS (1)
  - Good Gail [A], rep Rick Rep: complaint #1 line down — critical priority, open 8 h — gail@example.com" \
    "escalations: the good complaint only"
for bad in "Bad Complaint Co" "Bad Invoice Co" INV-NAN INV-INF INV-NEGINF NaN Infinity infinity; do
    assert_not_contains "$t$h" "$bad" "no '$bad' in the manager's digest"
done

# ---- 2. escalated only when a manager is alerted.
t=$(mail_to mona@example.com text)
h=$(mail_to mona@example.com html)
assert_contains "$t" "  - Nobody Reachable [C]: #4 no answer — critical priority, open 8 h, 4 h past the deadline; past twice the deadline, not escalated (no reachable active manager) — no contact details" \
    "no manager: the text does not say escalated"
assert_contains "$h" '<span style="white-space:nowrap">4 h</span> past the deadline</span>; past twice the deadline, not escalated (no reachable active manager)</td>' \
    "no manager: nor the HTML"
assert_not_contains "$t$h" "escalated to your manager" "no manager: 'escalated to your manager' nowhere"
t=$(mail_to zhao@example.cn text)
h=$(mail_to zhao@example.cn html)
assert_contains "$t" "超时 4 小时；已超过两倍时限，未升级（无可联系的在职主管） —— 无联系方式" "zh-CN, no manager: the text says it was not escalated"
assert_contains "$h" '超时 <span style="white-space:nowrap">4 小时</span></span>；已超过两倍时限，未升级（无可联系的在职主管）</td>' "zh-CN, no manager: the HTML too"
assert_not_contains "$t$h" "已升级至主管" "zh-CN, no manager: '已升级至主管' nowhere"
for who in ina sam pat lee; do
    t=$(mail_to $who@example.com text)
    h=$(mail_to $who@example.com html)
    assert_contains "$t" "4 h past the deadline; past twice the deadline, not escalated (no reachable active manager)" \
        "$who (manager inactive, without a valid address, suppressed, in an unknown zone): not escalated"
    assert_not_contains "$t$h" "escalated to your manager" "$who: 'escalated to your manager' nowhere"
done
# A complaint not yet past twice its deadline says neither.
psql_val "UPDATE crm.complaints SET opened_at = '2027-03-12T00:30:00Z' WHERE id IN (4, 5)" >/dev/null
out=$("$RAPPORTCTL" --config "$CONF" preview digest --rep 1 --now 2027-03-12T08:00:00Z 2>&1)
assert_contains "$out" "#4 no answer — critical priority, open 7 h, 3 h past the deadline — no contact details" \
    "past the deadline but not twice: no word on escalation"
psql_val "UPDATE crm.complaints SET opened_at = '2027-03-10T00:00:00Z' WHERE id IN (4, 5)" >/dev/null

# ---- 3. no contact details in the HTML as in the text.
h=$(mail_to mona@example.com html)
assert_contains "$h" '#4 no answer<br><span style="color:#b8452f"><strong>critical priority</strong>' "(Mona's HTML has the complaint)"
assert_contains "$h" '<div style="font-size:13px;color:#555555;padding-top:2px">no contact details</div></td>' \
    "HTML contact cell: 'no contact details' for a customer with neither e-mail nor phone"
h=$(mail_to zhao@example.cn html)
assert_contains "$h" '<div style="font-size:13px;color:#555555;padding-top:2px">无联系方式</div></td>' \
    "zh-CN HTML contact cell: '无联系方式'"
h=$(mail_to rick@example.com html)
assert_not_contains "$h" "no contact details" "a customer with an address: no 'no contact details'"
assert_contains "$h" '<a href="mailto:gail@example.com" style="color:#1f4e79">gail@example.com</a></div></td>' "... the address as before"
# Every section's contact cell, with a phone only, and with nothing.
psql_val "UPDATE crm.customers SET email = NULL WHERE id IN (21, 27)" >/dev/null
psql_val "UPDATE crm.customers SET phone = '+4930123456789' WHERE id = 27" >/dev/null
out=$("$RAPPORTCTL" --config "$CONF" preview digest --rep 2 --now 2027-03-12T08:30:00Z 2>&1)
assert_eq "5" "$(grep -o 'no contact details</div></td>' <<<"$out" | wc -l)" \
    "HTML: follow-up, birthday, two invoice and complaint rows of the customer without contact say so"
assert_eq "5" "$(grep -o ' — no contact details$' <<<"$out" | wc -l)" "... as the text does"
assert_contains "$out" '<span style="white-space:nowrap">+4930123456789</span></div></td>' "HTML: a phone only is shown, without 'no contact details'"
out=$("$RAPPORTCTL" --config "$CONF" preview digest --rep 1 --now 2027-03-12T08:30:00Z 2>&1)
assert_contains "$out" "rep Rick Rep: complaint #1 line down — critical priority, open 56 h — no contact details" "escalations: text"
assert_contains "$out" 'rep Rick Rep</div><div style="font-size:13px;color:#555555;padding-top:2px">no contact details</div></td><td valign="top" style="padding:8px;border-bottom:1px solid #eeeeee">complaint #1 line down<br><strong>critical priority</strong>, open <span style="white-space:nowrap">56 h</span></td>' \
    "escalations: HTML"
psql_val "UPDATE crm.customers SET email = 'gail@example.com' WHERE id = 21;
          UPDATE crm.customers SET email = 'at@example.com', phone = NULL WHERE id = 27" >/dev/null

# The same through preview, and a day later (the bad rows are still there).
assert_exit 0 "preview of the rep's digest with the bad rows" -- \
    "$RAPPORTCTL" --config "$CONF" preview digest --rep 2 --now 2027-03-11T08:30:00Z
assert_contains "$T_OUT" "Subject: Your customer digest for 2027-03-11: 6 items" "... six items the next day"
mark
run "digests a day later" "$CONF" 2027-03-11T08:30:00Z
settle
assert_contains "$(who_since)" "rick@example.com|Your customer digest for 2027-03-11: 6 items" "... and sent"

# Other infinite values, one at a time on the rows of the good items: each
# build leaves the digest standing (the CRM is put back after each).
psql_val "CREATE SCHEMA keep;
          CREATE TABLE keep.customers AS SELECT * FROM crm.customers;
          CREATE TABLE keep.interactions AS SELECT * FROM crm.interactions;
          CREATE TABLE keep.invoices AS SELECT * FROM crm.invoices;
          CREATE TABLE keep.complaints AS SELECT * FROM crm.complaints" >/dev/null
restore() {
    load <<'SQL'
TRUNCATE crm.customers CASCADE;
INSERT INTO crm.customers SELECT * FROM keep.customers;
INSERT INTO crm.interactions SELECT * FROM keep.interactions;
INSERT INTO crm.invoices SELECT * FROM keep.invoices;
INSERT INTO crm.complaints SELECT * FROM keep.complaints;
SQL
}
for change in \
    "UPDATE crm.complaints SET opened_at = '-infinity' WHERE id = 1" \
    "UPDATE crm.complaints SET opened_at = 'infinity' WHERE id = 1" \
    "UPDATE crm.complaints SET opened_at = '294276-12-31 20:00:00+00' WHERE id = 1" \
    "UPDATE crm.complaints SET opened_at = '4713-01-01 00:00:00+00 BC' WHERE id = 1" \
    "UPDATE crm.invoices SET due_on = '-infinity' WHERE number = 'INV-GOOD'" \
    "UPDATE crm.invoices SET issued_on = '-infinity', due_on = '-infinity' WHERE number = 'INV-GOOD'" \
    "UPDATE crm.invoices SET due_on = '4713-01-01 BC' WHERE number = 'INV-GOOD'" \
    "UPDATE crm.invoices SET amount = 'NaN' WHERE number = 'INV-GOOD'" \
    "UPDATE crm.invoices SET amount = '-Infinity' WHERE number = 'INV-GOOD'" \
    "UPDATE crm.invoices SET issued_on = '-infinity' WHERE number = 'INV-GOOD'" \
    "UPDATE crm.invoices SET issued_on = 'infinity' WHERE number = 'INV-GOOD'" \
    "UPDATE crm.customers SET next_follow_up = '-infinity' WHERE id = 21" \
    "UPDATE crm.customers SET next_follow_up = '4713-01-01 BC' WHERE id = 21" \
    "UPDATE crm.customers SET birthday = '-infinity' WHERE id = 21" \
    "UPDATE crm.customers SET birthday = 'infinity' WHERE id = 21" \
    "UPDATE crm.customers SET birthday = '5874897-12-31' WHERE id = 21" \
    "UPDATE crm.customers SET created_at = '-infinity' WHERE id = 21" \
    "UPDATE crm.interactions SET happened_at = '-infinity' WHERE customer_id = 21" \
    "UPDATE crm.interactions SET happened_at = 'infinity' WHERE customer_id = 21" \
    "UPDATE crm.interactions SET happened_at = '294276-12-31 23:00:00+00' WHERE customer_id = 21" \
    "DELETE FROM crm.interactions WHERE customer_id = 21; UPDATE crm.customers SET created_at = 'infinity' WHERE id = 21" \
    "DELETE FROM crm.interactions WHERE customer_id = 21; UPDATE crm.customers SET created_at = '-infinity' WHERE id = 21" \
    "UPDATE crm.customers SET created_at = '-infinity' WHERE id = 27" \
    "UPDATE crm.customers SET time_zone = 'Asia/Shanghai' WHERE id = 27; UPDATE crm.interactions SET happened_at = '294276-12-31 23:00:00+00' WHERE customer_id = 27" \
    "UPDATE crm.customers SET time_zone = 'Asia/Shanghai', created_at = '294276-12-31 23:00:00+00' WHERE id = 28" \
    "UPDATE crm.customers SET created_at = '4714-11-24 01:00:00+00 BC' WHERE id = 28" \
    "INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on) VALUES (27, 'INV-MAX', 1, 'EUR', '5874897-12-31', '5874897-12-31')" \
    "UPDATE crm.customers SET next_follow_up = '5874897-12-31' WHERE id = 21"; do
    psql_val "$change" >/dev/null
    for rep in 1 2; do
        assert_exit 0 "rep $rep's digest with: $change" -- \
            "$RAPPORTCTL" --config "$CONF" preview digest --rep $rep --now 2027-03-12T08:30:00Z
        assert_contains "$T_OUT" "Subject: Your customer digest for 2027-03-12" "... built"
        assert_not_contains "$T_OUT" "nfinit" "... with no infinity in it"
        assert_not_contains "$T_OUT" "NaN" "... nor NaN"
    done
    restore
done

# ---- 4. An invoice at least bad_debt_days overdue is said to be a bad-debt
# risk in the text, not only by colour, even when no ladder level falls on
# bad_debt_days: it is a step of the digest's ladder of its own.
load <<'SQL'
INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, manager_id, active) VALUES
 (12, 'Bea Books', 'bea@example.com', 'UTC', 'en', 8, NULL, true);
INSERT INTO crm.customers (id, name, tier, email, time_zone, rep_id, created_at) VALUES
 (40, 'Slow Payer', 'B', 'slow@example.com', 'UTC', 12, '2020-01-01');
INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on) VALUES
 (40, 'INV-95', 95, 'EUR', '2026-11-01', '2026-12-07'),
 (40, 'INV-65', 65, 'EUR', '2026-11-01', '2027-01-06'),
 (40, 'INV-50', 50, 'EUR', '2026-11-01', '2027-01-21'),
 (40, 'INV-31', 31, 'EUR', '2026-11-01', '2027-02-09');
SQL
digest_levels() { # digest_levels 'jobs block' — the level headings of Bea's digest
    local conf=$T_TMP/bad-debt.conf
    rapport_config "$conf" "digest: { effective_from = \"2020-01-01\"; }; $1"
    "$RAPPORTCTL" --config "$conf" preview digest --rep 12 --now 2027-03-12T08:30:00Z 2>&1 | grep -E '^  [0-9]+\+ days overdue'
}
assert_eq "  60+ days overdue: bad-debt risk (2), total EUR 160.00 
  30+ days overdue (2), total EUR 81.00 " "$(digest_levels '')" "bad_debt_days on a level (the defaults): as before"
assert_eq "  90+ days overdue: bad-debt risk (1), total EUR 95.00 
  60+ days overdue (1), total EUR 65.00 
  30+ days overdue (2), total EUR 81.00 " \
    "$(digest_levels 'receivables: { enabled = false; bad_debt_days = 90; };')" \
    "receivables' bad_debt_days 90, levels to +60: the invoice 95 days overdue is under '90+ days overdue: bad-debt risk'"
assert_eq "  60+ days overdue: bad-debt risk (2), total EUR 160.00 
  45+ days overdue: bad-debt risk (1), total EUR 50.00 
  30+ days overdue (1), total EUR 31.00 " \
    "$(digest_levels 'receivables: { enabled = false; bad_debt_days = 45; levels = ( { days = 30; template = "dunning_firm"; }, { days = 60; audience = "manager"; template = "dunning_manager"; } ); };')" \
    "bad_debt_days 45 between levels 30 and 60: the invoice 50 days overdue is a bad-debt risk too"

t_summary
