#!/usr/bin/env bash
# The relationship jobs end to end (follow_ups, dormant, receivables,
# complaints, holidays, digest) on one fixed scenario, with --now pinned:
# plan -> claim -> render -> SMTP/SMS, read back from the sinks.
#
# The scenario (all at or around Monday 2026-11-23 12:00 UTC):
#   reps   1 王经理 (Shanghai, manager of everyone), 2 Alice (New York),
#          3 Gone Rep (inactive), 4 Kiri (Auckland, UTC+13: already Tuesday),
#          5 Sione (Pago Pago, UTC-11: still early Monday), 6 Zone Typo
#          (unknown zone), 7 Empty Emma (no customers)
#   customers 1xx follow-ups, 2xx dormancy, 3xx receivables, 4xx complaints,
#          5xx holidays, 601 inactive.  Consent is off unless a rule needs it.
# Each section configures only the job it tests, and every section checks
# exactly who received what.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
smtp_start
sms_start
CONF=$T_TMP/rapport.conf
rapport_config "$CONF"
assert_exit 0 "migrate" -- "$RAPPORTCTL" --config "$CONF" migrate

psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, phone, time_zone, locale, digest_hour, manager_id, active) VALUES
 (1, '王经理', 'wang.manager@example.cn', '+8613800000001', 'Asia/Shanghai', 'zh-CN', 8, NULL, true),
 (2, 'Alice Smith', 'alice@example.com', '+12125550100', 'America/New_York', 'en', 8, 1, true),
 (3, 'Gone Rep', 'gone.rep@example.com', NULL, 'UTC', 'en', 8, 1, false),
 (4, 'Kiri Tane', 'kiri@example.co.nz', '+64211234567', 'Pacific/Auckland', 'en', 9, 1, true),
 (5, 'Sione Tuilagi', 'sione@example.as', '+16847331234', 'Pacific/Pago_Pago', 'en', 7, 1, true),
 (6, 'Zone Typo', 'typo@example.com', NULL, 'Mars/Olympus', 'en', 8, 1, true),
 (7, 'Empty Emma', 'emma@example.com', NULL, 'UTC', 'en', 8, 1, true);

INSERT INTO crm.customers (id, name, tier, email, phone, birthday, time_zone, locale, rep_id,
                           consent_email, consent_sms, next_follow_up, created_at, active) VALUES
 -- follow-ups
 (101, '张伟', 'A', 'c101@example.cn', '+8613900000101', NULL, 'Asia/Shanghai', 'zh-CN', 1, false, false, '2026-11-23', '2020-01-01', true),
 (102, 'Mere Ngata', 'A', 'mere@example.co.nz', NULL, '1970-11-26', 'Pacific/Auckland', 'en', 4, true, false, NULL, '2020-01-01', true),
 (103, 'Tavita Faleolo', 'A', 'tavita@example.as', NULL, NULL, 'Pacific/Pago_Pago', 'en', 5, true, false, NULL, '2020-01-01', true),
 (104, 'Old Friend', 'A', 'old.friend@example.com', NULL, NULL, 'America/New_York', 'en', 2, false, false, '2026-11-10', '2020-01-01', true),
 (105, 'Orphan Ltd', 'A', 'orphan@example.com', NULL, NULL, 'UTC', 'en', 3, false, false, '2026-11-23', '2020-01-01', true),
 (106, 'Bea Tier-B', 'B', 'bea@example.com', NULL, NULL, 'America/New_York', 'en', 2, false, false, '2026-11-23', '2020-01-01', true),
 (107, 'Vic Visited', 'A', 'vic@example.com', NULL, NULL, 'America/New_York', 'en', 2, false, false, '2026-11-22', '2020-01-01', true),
 -- dormancy
 (201, 'Rose Return', 'B', 'rose@example.com', NULL, NULL, 'America/New_York', 'en', 2, true, false, NULL, '2020-01-01', true),
 (202, 'Ned NoConsent', 'C', 'ned@example.com', NULL, NULL, 'UTC', 'en', 2, false, false, NULL, '2020-01-01', true),
 (203, 'Ada Ancient', 'A', 'ada@example.com', NULL, NULL, 'UTC', 'en', 2, true, false, NULL, '2020-01-01', true),
 (204, 'Sue Suppressed', 'B', 'Sue@Example.org', NULL, NULL, 'America/New_York', 'en', 2, true, false, NULL, '2020-01-01', true),
 -- receivables
 (301, '李娜', 'A', 'lina@example.cn', '+8613900000301', NULL, 'Asia/Shanghai', 'zh-CN', 1, false, false, NULL, '2020-01-01', true),
 (302, 'Bob Payer', 'B', 'bob@example.com', NULL, NULL, 'America/New_York', 'en', 2, false, false, NULL, '2020-01-01', true),
 (303, 'Carl Caller', 'C', 'carl@example.com', '+4930123456789', NULL, 'UTC', 'en', 2, false, false, NULL, '2020-01-01', true),
 (304, 'Dana Debt', 'B', 'dana@example.com', NULL, NULL, 'UTC', 'en', 3, false, false, NULL, '2020-01-01', true),
 (305, 'Evan Early', 'C', 'evan@example.com', NULL, NULL, 'UTC', 'en', 2, false, false, NULL, '2020-01-01', true),
 (306, 'Frank Bad', 'C', 'frank@@example', NULL, NULL, 'UTC', 'en', 2, false, false, NULL, '2020-01-01', true),
 -- complaints
 (401, 'Kim Complainer', 'A', 'kim@example.com', NULL, NULL, 'UTC', 'en', 2, true, false, NULL, '2020-01-01', true),
 (402, 'Lou Longwait', 'B', 'lou@example.com', NULL, NULL, 'UTC', 'en', 3, false, false, NULL, '2020-01-01', true),
 (403, 'Maya Happy', 'C', 'maya@example.com', NULL, NULL, 'UTC', 'en', 2, true, false, NULL, '2020-01-01', true),
 (404, 'Noel NoConsent', 'C', 'noel@example.com', NULL, NULL, 'UTC', 'en', 2, false, false, NULL, '2020-01-01', true),
 (405, 'Old Grievance', 'C', 'grievance@example.com', NULL, NULL, 'UTC', 'en', 2, false, false, NULL, '2020-01-01', true),
 -- holidays
 (501, 'Hana Holiday', 'A', 'hana@example.com', '+4915112345678', NULL, 'UTC', 'en', 4, true, true, NULL, '2020-01-01', true),
 (502, 'Ivan EmailOnly', 'C', 'ivan@example.com', '+4915187654321', NULL, 'UTC', 'en', 4, true, false, NULL, '2020-01-01', true),
 -- never contacted: inactive
 (601, 'Ina Inactive', 'A', 'ina@example.com', '+4915100000601', '1980-11-23', 'UTC', 'en', 2, true, true, '2026-11-23', '2020-01-01', false);

INSERT INTO crm.interactions (customer_id, rep_id, kind, happened_at, note) VALUES
 (101, 1, 'call', '2026-11-20 02:00Z', '电话回访'),
 (102, 4, 'visit', '2026-11-17 00:00Z', 'visit'),
 (103, 5, 'call', '2026-11-15 12:00Z', 'call'),
 (104, 2, 'call', '2026-11-05 15:00Z', 'call'),
 (105, 3, 'call', '2026-11-22 10:00Z', 'call'),
 (106, 2, 'call', '2026-11-20 15:00Z', 'call'),
 (107, 2, 'visit', '2026-11-22 15:00Z', 'visit after the planned date'),
 (201, 2, 'purchase', '2026-09-23 15:00Z', 'last order'),
 (203, 2, 'call', '2023-01-01 10:00Z', 'long ago'),
 (204, 2, 'purchase', '2026-09-23 15:00Z', 'last order'),
 (301, 1, 'call', '2026-11-20 02:00Z', ''), (302, 2, 'call', '2026-11-20 15:00Z', ''),
 (303, 2, 'call', '2026-11-20 15:00Z', ''), (304, 3, 'call', '2026-11-20 15:00Z', ''),
 (305, 2, 'call', '2026-11-20 15:00Z', ''), (306, 2, 'call', '2026-11-20 15:00Z', ''),
 (401, 2, 'call', '2026-11-20 15:00Z', ''), (402, 3, 'call', '2026-11-20 15:00Z', ''),
 (403, 2, 'call', '2026-11-20 15:00Z', ''), (404, 2, 'call', '2026-11-20 15:00Z', ''),
 (405, 2, 'call', '2026-11-20 15:00Z', ''), (501, 4, 'call', '2026-11-20 15:00Z', ''),
 (502, 4, 'call', '2026-11-20 15:00Z', '');

INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on, paid_on) VALUES
 (202, 'INV-202', 100.00, 'USD', '2026-05-27', '2026-06-26', '2026-06-20'),
 (301, 'INV-301-A', 1200.00, 'CNY', '2026-10-23', '2026-11-22', NULL),
 (301, 'INV-301-B', 350.50, 'USD', '2026-10-23', '2026-11-22', NULL),
 (301, 'INV-301-C', 8000.00, 'CNY', '2026-10-09', '2026-11-08', NULL),
 (301, 'INV-301-OLD', 99.00, 'CNY', '2023-01-30', '2023-03-01', NULL),
 (301, 'INV-301-PAID', 10.00, 'CNY', '2026-10-23', '2026-11-22', '2026-11-21'),
 (302, 'INV-302', 500.00, 'USD', '2026-10-23', '2026-11-22', NULL),
 (303, 'INV-303', 2500.00, 'EUR', '2026-09-24', '2026-10-24', NULL),
 (304, 'INV-304', 12000.00, 'USD', '2026-08-25', '2026-09-24', NULL),
 (305, 'INV-305', 80.00, 'USD', '2026-10-27', '2026-11-26', NULL),
 (306, 'INV-306', 60.00, 'USD', '2026-10-23', '2026-11-22', NULL),
 (601, 'INV-601', 70.00, 'USD', '2026-10-23', '2026-11-22', NULL);

INSERT INTO crm.complaints (id, customer_id, severity, summary, opened_at, resolved_at) VALUES
 (1, 401, 'critical', 'Order arrived damaged', '2026-11-23 06:00Z', NULL),
 (2, 402, 'low', 'Brochure had a typo', '2026-11-15 00:00Z', NULL),
 (3, 403, 'normal', 'Late delivery', '2026-11-19 08:00Z', '2026-11-20 10:00Z'),
 (4, 404, 'normal', 'Wrong colour', '2026-11-19 08:00Z', '2026-11-20 10:00Z'),
 (5, 405, 'high', 'Forgotten since 2024', '2024-03-01 08:00Z', NULL),
 (6, 601, 'critical', 'Inactive customer', '2026-11-23 06:00Z', NULL);

INSERT INTO rapport.suppression (address, channel, reason) VALUES ('sue@example.org', 'email', 'test');
SQL

# ---------------------------------------------------------------- helpers
mail_count_since_mark() { echo $(($(mail_count) - MARK)); }
state_of() { psql_val "SELECT string_agg(state, ',' ORDER BY id) FROM rapport.outbox WHERE dedupe_key = '$1'"; }
conf() { # conf FILE 'jobs block'
    rapport_config "$1" "$2"
}

# ============================================================ digest
# Runs first: it reads the CRM as loaded, before the sections below change it.
DIG=$T_TMP/digest.conf
conf "$DIG" 'digest: { schedule = "*/15 * * * *"; effective_from = "2026-11-01"; max_items = 2; };'
mark
# 03:00Z: Shanghai 11:00 (rep 1 due), Auckland 16:00 on the 23rd (rep 4
# due), Pago Pago 16:00 on the 22nd (rep 5: 07:00 was 11 h ago, within the
# 12 h max_lateness), New York 22:00 on the 22nd (rep 2: 08:00 was 14 h ago,
# too late: no stale digest).
out=$("$RAPPORTCTL" --config "$DIG" run digest --dry-run --now 2026-11-23T03:00:00Z 2>&1)
assert_eq "Subject: 2026-11-23 客户日报：7 项待办
Subject: Your customer digest for 2026-11-22: 1 item
Subject: Your customer digest for 2026-11-23: 1 item" "$(grep '^Subject: ' <<<"$out" | sort)" "dry run: every due digest built as it would be sent"
# The digest takes its thresholds from the jobs that own them: birthdays'
# lookahead_days = 2 leaves Mere's birthday (in 3 days) out of Kiri's digest,
# which is then empty; the digest's own birthday_lookahead_days still wins.
DIG2=$T_TMP/digest-shared.conf
conf "$DIG2" 'digest: { effective_from = "2026-11-01"; max_items = 2; };
  birthdays: { enabled = false; lookahead_days = 2; };'
out=$("$RAPPORTCTL" --config "$DIG2" run digest --dry-run --now 2026-11-23T03:00:00Z 2>&1)
assert_eq "Subject: 2026-11-23 客户日报：7 项待办
Subject: Your customer digest for 2026-11-22: 1 item" "$(grep '^Subject: ' <<<"$out" | sort)" \
    "digest: birthdays.lookahead_days = 2 applies to the digest (Kiri's only item was 3 days ahead)"
conf "$DIG2" 'digest: { effective_from = "2026-11-01"; max_items = 2; birthday_lookahead_days = 3; };
  birthdays: { enabled = false; lookahead_days = 2; };'
out=$("$RAPPORTCTL" --config "$DIG2" run digest --dry-run --now 2026-11-23T03:00:00Z 2>&1)
assert_contains "$out" "Subject: Your customer digest for 2026-11-23: 1 item" "digest: its own birthday_lookahead_days wins over the birthdays job's"
run "digest at 03:00Z" "$DIG" 2026-11-23T03:00:00Z
settle
assert_eq "kiri@example.co.nz|Your customer digest for 2026-11-23: 1 item
sione@example.as|Your customer digest for 2026-11-22: 1 item
wang.manager@example.cn|2026-11-23 客户日报：7 项待办" "$(who_since)" "03:00Z: digests of the reps whose hour has come, in their own date"

t=$(mail_to wang.manager@example.cn text)
assert_contains "$t" "待跟进客户（1）
  - 张伟 [A]：今天到期，上次联系 2026-11-20，原计划 2026-11-23 跟进 —— c101@example.cn, +8613900000101" "manager digest: own follow-up due today with contact"
assert_contains "$t" "逾期 60 天以上：坏账风险（1），合计 CNY 99.00" "manager digest: years-old invoice flagged bad-debt risk"
assert_contains "$t" "逾期 15 天以上（1），合计 CNY 8,000.00" "manager digest: invoices by ladder level"
assert_contains "$t" "逾期 1 天以上（2），合计 CNY 1,200.00 USD 350.50" "manager digest: totals per currency"
assert_contains "$t" "团队升级事项（2）" "manager digest: escalations section for the team"
assert_contains "$t" "Dana Debt [B]，负责人 Gone Rep（已离岗）：发票 INV-304，USD 12,000.00，逾期 60 天" "escalation: 60-day invoice of an inactive rep's customer"
assert_contains "$t" "Old Grievance [C]，负责人 Alice Smith：投诉 #5 Forgotten since 2024" "escalation: complaint past twice its deadline"
assert_eq "0" "$(grep -c 'Bob Payer\|Carl Caller' <<<"$t")" "manager digest: the team's customers are not in the manager's own sections"
# The same escalations in English (a preview, the manager's locale switched
# for it): days overdue read as words, plural included.
psql_val "UPDATE crm.reps SET locale = 'en' WHERE id = 1" >/dev/null
out=$("$RAPPORTCTL" --config "$DIG" preview digest --rep 1 --now 2026-11-24T01:00:00Z 2>&1)
psql_val "UPDATE crm.reps SET locale = 'zh-CN' WHERE id = 1" >/dev/null
assert_contains "$out" "YOUR TEAM: ESCALATIONS (3)" "English manager digest: escalations section (a day later: three)"
assert_contains "$out" "Dana Debt [B], rep Gone Rep (inactive): invoice INV-304, USD 12,000.00, 61 days overdue" \
    "English escalation: days overdue with its plural"
h=$(mail_to wang.manager@example.cn html)
assert_contains "$h" "<table role=\"presentation\"" "digest HTML: table layout"
assert_eq "0" "$(grep -ci '<script\|<img\|src=' <<<"$h")" "digest HTML: no scripts or remote images"
t=$(mail_to kiri@example.co.nz text)
assert_contains "$t" "BIRTHDAYS IN THE NEXT 7 DAYS (1)
  - Mere Ngata [A]: 2026-11-26, in 3 days (turns 56) — mere@example.co.nz" "Auckland rep: birthday coming up"
assert_eq "0" "$(grep -c 'Mere Ngata \[A\]: .*overdue' <<<"$t")" "Auckland rep: Mere's cadence falls due tomorrow, not listed"
t=$(mail_to sione@example.as text)
assert_contains "$t" "Here is what needs your attention today, 2026-11-22.

FOLLOW-UPS DUE (1)
  - Tavita Faleolo [A]: due today, last contact 2026-11-15 — tavita@example.as" "Pago Pago rep: still the 22nd there, cadence due that day"

# 13:30Z: New York 08:30 (rep 2); Emma (UTC) has nothing: no empty digest;
# Zone Typo is due but has an unknown zone: recorded as skipped.
mark
run "digest at 13:30Z" "$DIG" 2026-11-23T13:30:00Z
settle
assert_eq "alice@example.com|Your customer digest for 2026-11-23: 11 items" "$(who_since)" "13:30Z: New York rep's digest; no empty digest for Emma"
t=$(mail_to alice@example.com text)
assert_contains "$t" "FOLLOW-UPS DUE (2)
  - Old Friend [A]: 13 days overdue, last contact 2026-11-05, planned for 2026-11-10" "rep digest: overdue follow-up first, days overdue"
assert_contains "$t" "  - Bea Tier-B [B]: due today, last contact 2026-11-20, planned for 2026-11-23" "rep digest: follow-up due today"
assert_contains "$t" "CUSTOMERS GONE QUIET" "rep digest: dormant section"
assert_contains "$t" "CUSTOMERS GONE QUIET (4)
  - Ada Ancient [A]: no activity for 1422 days, since 2023-01-01 — ada@example.com
  - Rose Return [B]: no activity for 61 days, since 2026-09-23 — rose@example.com
  … and 2 more" "rep digest: dormant customers, key accounts first, bounded by max_items"
assert_contains "$t" "30+ days overdue (1), total EUR 2,500.00" "rep digest: 30-day ladder level"
assert_contains "$t" "Carl Caller [C]: INV-303, EUR 2,500.00, 30 days overdue — carl@example.com, +4930123456789" "rep digest: invoice item with contact handle"
assert_contains "$t" "COMPLAINTS PAST THEIR DEADLINE (2)" "rep digest: complaints section"
assert_contains "$t" "Kim Complainer [A]: #1 Order arrived damaged — critical priority, open 7 h, 3 h past the deadline" "rep digest: complaint past deadline"
assert_eq "0" "$(grep -c 'Ina Inactive\|Lou Longwait\|张伟' <<<"$t")" "rep digest: only own, active customers"
assert_eq "0" "$(grep -c 'ESCALATIONS' <<<"$t")" "rep digest: no escalations for a rep without a team"
assert_eq "rep has an unknown time zone" "$(psql_val "SELECT reason FROM rapport.skipped WHERE job = 'digest' AND customer_id = 6")" "rep with a bad zone skipped with a reason"
assert_eq "0" "$(psql_val "SELECT count(*) FROM rapport.outbox WHERE job = 'digest' AND rep_id IN (3, 6)")" "no digest for inactive or misconfigured reps"
assert_eq "cancelled|nothing to report (send_empty = false)" "$(psql_val "SELECT state, last_error FROM rapport.outbox WHERE job = 'digest' AND rep_id = 7")" "idle rep: the digest built empty is cancelled, not sent"
assert_eq "2|1" "$(psql_val "SELECT planned, cancelled FROM rapport.job_runs WHERE id = (SELECT run_id FROM rapport.outbox WHERE job = 'digest' AND rep_id = 7)")" \
    "the run records what it planned and, later, what was cancelled of it"
assert_exit 0 "status" -- "$RAPPORTCTL" --config "$DIG" status
assert_contains "$T_OUT" "cancelled" "status: a cancelled column"
mark
run "digest again at 13:45Z" "$DIG" 2026-11-23T13:45:00Z
assert_eq "" "$(who_since)" "one digest per rep per day"

# The digest is built when it is sent, not when it is planned: a complaint
# resolved in between is not in it.  (Restored afterwards for the sections
# below.)
mark
out=$("$RAPPORTCTL" --config "$DIG" preview digest --rep 2 --now 2026-11-24T13:30:00Z 2>&1)
assert_contains "$out" "Kim Complainer [A]: #1 Order arrived damaged" "preview: the digest as it would be built now"
assert_contains "$out" "preview digest: 1 message(s) would be queued" "preview: only the rep asked about"
# A plan that fell due on a customer whose contact rhythm lapsed long
# before: overdue counts from the earlier date, "planned" names the plan.
psql_val "INSERT INTO crm.customers (id, name, tier, email, time_zone, locale, rep_id, consent_email, consent_sms, next_follow_up, created_at, active)
          VALUES (130, 'Plan Later', 'A', 'plan.later@example.com', 'UTC', 'en', 2, true, false, '2026-11-20', '2026-11-01', true)" >/dev/null
out=$("$RAPPORTCTL" --config "$DIG" preview digest --rep 2 --now 2026-11-24T13:30:00Z 2>&1)
psql_val "DELETE FROM crm.customers WHERE id = 130" >/dev/null
# Created 2026-11-01 00:00Z, i.e. Oct 31 in the rep's New York, where the
# follow_ups job and the digest both count: due Nov 7, 17 days overdue.
assert_contains "$out" "Plan Later [A]: 17 days overdue, never contacted, planned for 2026-11-20" "digest: overdue since the lapsed rhythm, 'planned' shows the rep's own date"
assert_exit 0 "digest of the 24th planned only" -- "$RAPPORTCTL" --config "$DIG" run digest --now 2026-11-24T13:30:00Z
assert_eq "0" "$(mail_count_since_mark)" "planning alone sends nothing"
psql_val "UPDATE crm.complaints SET resolved_at = '2026-11-24T13:00:00Z' WHERE id = 1" >/dev/null
run "digest of the 24th sent" "$DIG" 2026-11-24T13:31:00Z
settle
t=$(mail_to alice@example.com text)
assert_contains "$t" "Here is what needs your attention today, 2026-11-24." "digest of the 24th sent"
assert_eq "0" "$(grep -c 'Kim Complainer' <<<"$t")" "built at send time: a complaint resolved after planning is not listed"
psql_val "UPDATE crm.complaints SET resolved_at = NULL WHERE id = 1" >/dev/null
# send_empty = true: Emma (UTC, 08:00) gets her empty digest of the 25th.
DIGE=$T_TMP/digest-empty.conf
conf "$DIGE" 'digest: { schedule = "*/15 * * * *"; effective_from = "2026-11-01"; send_empty = true; };'
mark
run "digest with send_empty" "$DIGE" 2026-11-25T13:45:00Z
settle
assert_contains "$(who_since)" "emma@example.com|Your customer digest for 2026-11-25: nothing due" "send_empty: the empty digest is sent"
assert_contains "$(mail_to emma@example.com text)" "Nothing needs your attention today." "send_empty: it says there is nothing to do"

# ============================================================ follow_ups
FU=$T_TMP/follow_ups.conf
conf "$FU" 'follow_ups: { tier_a_reminder = true; effective_from = "2026-11-01"; };'
mark
run "follow_ups at 12:00Z" "$FU" 2026-11-23T12:00:00Z
settle
assert_eq "sione@example.as|Overdue: Follow up with Tavita Faleolo today
wang.manager@example.cn|今日请跟进客户 张伟" "$(who_since)" "tier A reminders: plan due today (Shanghai), cadence due yesterday in Pago Pago"
assert_contains "$(mail_to sione@example.as text)" "This follow-up has been due for 1 day." "reminder shows how overdue"
assert_contains "$(mail_to sione@example.as text)" "the last contact was on 2026-11-15, 8 days ago" "reminder shows the last contact"
assert_contains "$(mail_to wang.manager@example.cn text)" "您原计划在 2026-11-23 回访该客户" "Chinese reminder for a planned follow-up"
assert_eq "queued|2026-11-23 20:00:00+00" "$(psql_val "SELECT state || '|' || not_before FROM rapport.outbox WHERE dedupe_key = 'follow_up:102:2026-11-24'")" \
    "Auckland: already the 24th there, reminder waits for 09:00 local"
assert_eq "no active owning rep" "$(psql_val "SELECT reason FROM rapport.skipped WHERE job = 'follow_ups' AND customer_id = 105")" "inactive rep: skipped with a reason"
assert_eq "0" "$(psql_val "SELECT count(*) FROM rapport.outbox WHERE job = 'follow_ups' AND customer_id IN (104, 106, 107, 601)")" \
    "no reminder: stale plan beyond max_lateness, tier B, plan met by a visit, inactive customer"
mark
run "follow_ups at 20:30Z" "$FU" 2026-11-23T20:30:00Z
settle
assert_eq "kiri@example.co.nz|Follow up with Mere Ngata today" "$(who_since)" "Auckland reminder sent at 09:00 NZDT"
mark
run "follow_ups next day" "$FU" 2026-11-24T12:00:00Z
assert_eq "" "$(who_since)" "no reminder twice for the same due date"

# ============================================================ receivables
# No effective_from: the job's first enabled day (today) is the default, so
# the 2023 invoice and earlier ladder steps are never chased.
AR=$T_TMP/receivables.conf
conf "$AR" 'receivables: {
  levels = ( { days = -3; audience = "customer"; channels = ["email"]; template = "dunning_courtesy"; },
             { days = 1; audience = "customer"; channels = ["email"]; template = "dunning_friendly"; },
             { days = 15; audience = "customer"; channels = ["email", "sms"]; template = "dunning_firm"; },
             { days = 30; audience = "rep"; channels = ["email"]; template = "dunning_rep_call"; },
             { days = 60; audience = "manager"; channels = ["email"]; template = "dunning_manager"; } );
};'
# Added only now (the digests above count every customer): two invoices in
# one New York reminder, one of them paid between planning and sending.
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.customers (id, name, tier, email, phone, birthday, time_zone, locale, rep_id,
                           consent_email, consent_sms, next_follow_up, created_at, active) VALUES
 (307, 'Pat Partial', 'B', 'pat@example.com', NULL, NULL, 'America/New_York', 'en', 2, false, false, NULL, '2020-01-01', true);
INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on, paid_on) VALUES
 (307, 'INV-307-A', 100.00, 'USD', '2026-10-23', '2026-11-22', NULL),
 (307, 'INV-307-B', 200.00, 'EUR', '2026-10-23', '2026-11-22', NULL);
INSERT INTO crm.interactions (customer_id, rep_id, kind, happened_at, note) VALUES
 (307, 2, 'call', '2026-11-20T15:00:00Z', 'asked for a copy of the invoices');
SQL
# preview --rep: what that rep or manager receives (here the manager's
# escalation about another rep's customer), not the reminders to the
# manager's own customers; --customer: what goes to that customer.
out=$("$RAPPORTCTL" --config "$AR" preview receivables --rep 1 --now 2026-11-23T12:00:00Z 2>&1)
assert_contains "$out" "preview receivables: 1 message(s) would be queued" "preview --rep: only what the manager receives"
assert_contains "$out" "【升级】客户 Dana Debt" "preview --rep: the manager's escalation about another rep's customer"
out=$("$RAPPORTCTL" --config "$AR" preview receivables --customer 301 --now 2026-11-23T12:00:00Z 2>&1)
assert_contains "$out" "preview receivables: 2 message(s) would be queued" "preview --customer: the customer's e-mail and SMS"
assert_contains "$out" "第二次付款提醒：3 张发票已逾期" "preview --customer: the reminder to that customer"
# One day may reach the customer and the rep by the same channel: the
# ledger knows a level by its days, channel and audience.
AR3=$T_TMP/receivables-same-day.conf
conf "$AR3" 'receivables: { effective_from = "2026-11-01";
  levels = ( { days = 30; audience = "customer"; channel = "email"; template = "dunning_firm"; },
             { days = 30; audience = "rep"; channel = "email"; template = "dunning_rep_call"; } ); };'
out=$("$RAPPORTCTL" --config "$AR3" run receivables --dry-run --now 2026-11-23T12:00:00Z 2>&1)
assert_contains "$out" "Second reminder: payment overdue on invoice INV-303" "the same day and channel: the customer's reminder ..."
assert_contains "$out" "Please call Carl Caller" "... and the rep's call request, both planned"
mark
sms_mark
run "receivables at 12:00Z" "$AR" 2026-11-23T12:00:00Z
settle
wait_for_sms 1 10 || true
# Customer 301 has two invoices reaching +1 and one reaching +15 today: one
# e-mail lists all three, in the words of the firmer level.
assert_eq "evan@example.com|Invoice INV-305 is due soon
lina@example.cn|第二次付款提醒：3 张发票已逾期
wang.manager@example.cn|【升级】客户 Dana Debt 有 1 张发票逾期未付，已逾期 60 天（坏账风险）" "$(who_since)" \
    "12:00Z: courtesy, one reminder for all of a customer's invoices due now, manager escalation for an inactive rep's customer"
t=$(mail_to lina@example.cn text)
assert_contains "$t" "以下发票目前仍未结清，其中最早的已逾期 15 天：

  - INV-301-C：CNY 8,000.00，到期日 2026-11-08（已逾期 15 天）
  - INV-301-A：CNY 1,200.00，到期日 2026-11-22（已逾期 1 天）
  - INV-301-B：USD 350.50，到期日 2026-11-22（已逾期 1 天）
合计：
  CNY 9,200.00
  USD 350.50" "one reminder lists the customer's invoices at +1 and +15 with totals per currency"
# The SMS is for INV-301-C alone (+1 goes by e-mail only), and it still
# lists the customer's other invoices past due: one reminder, all that is owed.
assert_eq "+8613900000301|【Acme Customer Care】再次提醒：INV-301-C（CNY 8,000.00）已逾期15天。INV-301-A（CNY 1,200.00）已逾期1天。INV-301-B（USD 350.50）已逾期1天。请于7日内付款，疑问请联系王经理 +8613800000001。" \
    "$(sms_since)" "firm reminder also by SMS, listing every invoice past due"
assert_eq "" "$(mail_to evan@example.com list_unsubscribe)" "dunning is transactional: no List-Unsubscribe"
assert_contains "$(mail_to wang.manager@example.cn text)" "Gone Rep（已离岗） 负责的客户 Dana Debt" "manager escalation names the rep"
assert_eq "dunning:INV-301-C:15:email" "$(psql_val "SELECT dedupe_key FROM rapport.outbox WHERE job = 'receivables' AND customer_id = 301 AND context->>'multiple' = 'true'")" \
    "grouped message keyed by its first invoice at its highest level"
assert_eq "INV-301-A:1:email,INV-301-B:1:email,INV-301-C:15:email,INV-301-C:15:sms" \
    "$(psql_val "SELECT string_agg(invoice_number || ':' || level_days || ':' || channel, ',' ORDER BY invoice_number, level_days, channel) FROM rapport.dunning_items WHERE customer_id = 301")" \
    "ledger: each invoice once per level and channel"
assert_eq "invalid e-mail address" "$(psql_val "SELECT reason FROM rapport.skipped WHERE job = 'receivables' AND customer_id = 306")" "bad address skipped with a reason"
assert_eq "00" "$(psql_val "SELECT count(*) FROM rapport.dunning_items WHERE invoice_number IN ('INV-301-OLD', 'INV-301-PAID') OR customer_id = 601")$(psql_val "SELECT count(*) FROM rapport.outbox WHERE job = 'receivables' AND customer_id = 601")" \
    "years-old, paid and inactive customers' invoices not chased"
assert_eq "2" "$(psql_val "SELECT context->>'invoice_count' FROM rapport.outbox WHERE dedupe_key = 'dunning:INV-307-A:1:email'")" \
    "the plan holds which invoices a message is about (its content is built when sent)"
assert_eq "2026-11-23" "$(psql_val "SELECT first_enabled FROM rapport.job_state WHERE job = 'receivables'")" \
    "effective_from defaults to the day the job was first enabled"
assert_eq "queued" "$(state_of dunning:INV-302:1:email)" "New York reminder waits for 10:00 local"
assert_eq "queued" "$(state_of dunning:INV-303:30:email:rep)" "rep call request waits for the rep's 10:00 (its key names the audience)"
# The customer pays after planning, before sending.
psql_val "UPDATE crm.invoices SET paid_on = '2026-11-23' WHERE number IN ('INV-302', 'INV-307-A')" >/dev/null
mark
run "receivables at 15:30Z" "$AR" 2026-11-23T15:30:00Z
settle
assert_eq "alice@example.com|Please call Carl Caller: 1 invoice 30 days overdue
pat@example.com|A friendly reminder: invoice INV-307-B past due" "$(who_since)" "15:30Z: rep asked to call; the paid invoices are not chased"
assert_eq "cancelled" "$(state_of dunning:INV-302:1:email)" "invoice paid after planning: reminder cancelled at send time (still_due)"
t=$(mail_to pat@example.com text)
assert_contains "$t" "  - INV-307-B: EUR 200.00, due 2026-11-22 (1 day overdue)
Total:
  EUR 200.00
" "one of two invoices paid after planning: the reminder lists and totals only the unpaid one"
assert_eq "0" "$(grep -c 'INV-307-A\|USD' <<<"$t")" "the invoice paid after planning is not chased"
mark
sms_mark
run "receivables again" "$AR" 2026-11-23T16:00:00Z
settle
assert_eq "" "$(who_since)$(sms_since)" "re-planning sends nothing twice"
# Two days later a new invoice of Pat's reaches +1.  INV-307-B, reminded at
# +1 already, is still unpaid: the new reminder lists both and totals both,
# though only the new one is charged to the ledger at +1.
psql_val "INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on, paid_on) VALUES
          (307, 'INV-307-C', 50.00, 'EUR', '2026-10-25', '2026-11-24', NULL)" >/dev/null
mark
run "receivables on the 25th" "$AR" 2026-11-25T15:30:00Z
settle
assert_contains "$(who_since)" "pat@example.com|A friendly reminder: 2 invoices past due" "a new invoice at +1: one reminder for everything past due"
assert_contains "$(mail_to pat@example.com text)" "  - INV-307-B: EUR 200.00, due 2026-11-22 (3 days overdue)
  - INV-307-C: EUR 50.00, due 2026-11-24 (1 day overdue)
Total:
  EUR 250.00
" "... listing the invoice reminded before, still unpaid, with the total of both"
assert_eq "INV-307-A:1:email,INV-307-B:1:email,INV-307-C:1:email" \
    "$(psql_val "SELECT string_agg(invoice_number || ':' || level_days || ':' || channel, ',' ORDER BY invoice_number) FROM rapport.dunning_items WHERE customer_id = 307")" \
    "... each invoice still gets each level once (the ledger)"
# A level may name one channel (`channel`) instead of a list (`channels`);
# a misspelt setting fails the run with a message naming it.
AR1=$T_TMP/receivables-channel.conf
conf "$AR1" 'receivables: { effective_from = "2026-11-01";
  levels = ( { days = 1; audience = "customer"; channel = "sms"; template = "dunning_friendly"; } ); };'
out=$("$RAPPORTCTL" --config "$AR1" run receivables --dry-run --now 2026-11-23T12:00:00Z 2>&1)
assert_contains "$out" "=== sms to" "a level's channel = \"sms\" sends by SMS"
assert_eq "0" "$(grep -c '=== email to' <<<"$out")" "... and not by e-mail"
AR2=$T_TMP/receivables-typo.conf
conf "$AR2" 'receivables: { levels = ( { days = 15; audience = "customer"; chanels = ["sms"]; template = "dunning_firm"; } ); };'
assert_exit 78 "a misspelt level setting is a configuration error" -- "$RAPPORTCTL" --config "$AR2" run receivables --dry-run --now 2026-11-23T12:00:00Z
assert_contains "$T_OUT" "jobs.receivables.levels[0].chanels: unknown setting 'chanels'" "... naming the setting"

# ============================================================ complaints
# Without a survey_url the survey asks for the score by reply; survey =
# false sends none (dry runs, before the real runs below).
CP0=$T_TMP/complaints-nourl.conf
conf "$CP0" 'complaints: { effective_from = "2026-11-01"; };'
out=$("$RAPPORTCTL" --config "$CP0" run complaints --dry-run --now 2026-11-23T12:00:00Z 2>&1)
assert_contains "$out" "Simply reply to this e-mail with a number from 0 (not at all) to 10 (completely)" \
    "no survey_url: the survey still goes, asking for a 0-10 score by reply"
conf "$CP0" 'complaints: { effective_from = "2026-11-01"; survey = false; };'
out=$("$RAPPORTCTL" --config "$CP0" run complaints --dry-run --now 2026-11-23T12:00:00Z 2>&1)
assert_eq "0" "$(grep -c 'How did we do' <<<"$out")" "survey = false: no survey"
assert_contains "$out" "Subject: URGENT: Complaint from Kim Complainer" "survey = false: alerts still go"
# The survey goes once, by the first configured channel that reaches the
# customer (Maya, given a phone and SMS consent for these dry runs).
psql_val "UPDATE crm.customers SET phone = '+14155550123', consent_sms = true WHERE id = 403" >/dev/null
conf "$CP0" 'complaints: { effective_from = "2026-11-01"; channels = ["sms", "email"]; };'
out=$("$RAPPORTCTL" --config "$CP0" run complaints --dry-run --now 2026-11-23T12:00:00Z 2>&1)
assert_eq "1" "$(grep -c '^=== sms to Maya Happy' <<<"$out")" "channels sms, email: the survey goes by SMS ..."
assert_eq "0" "$(grep -c '^=== email to Maya Happy' <<<"$out")" "... once: not by e-mail as well"
conf "$CP0" 'complaints: { effective_from = "2026-11-01"; channels = ["email", "sms"]; };'
out=$("$RAPPORTCTL" --config "$CP0" run complaints --dry-run --now 2026-11-23T12:00:00Z 2>&1)
assert_eq "1" "$(grep -c '^=== email to Maya Happy' <<<"$out")" "channels email, sms: by e-mail ..."
assert_eq "0" "$(grep -c '^=== sms to Maya Happy' <<<"$out")" "... and not by SMS as well"
psql_val "UPDATE crm.customers SET consent_email = false WHERE id = 403" >/dev/null
out=$("$RAPPORTCTL" --config "$CP0" run complaints --dry-run --now 2026-11-23T12:00:00Z 2>&1)
assert_eq "1" "$(grep -c '^=== sms to Maya Happy' <<<"$out")" "no e-mail consent: the next channel, SMS, carries the survey"
psql_val "UPDATE crm.customers SET phone = NULL, consent_sms = false, consent_email = true WHERE id = 403" >/dev/null
CP=$T_TMP/complaints.conf
# The severities' deadlines written as the administrator would say them
# (the defaults: critical 4 h, high 24 h, normal 72 h, low 7 d).
conf "$CP" 'complaints: { schedule = "*/15 * * * *"; survey_url = "https://survey.example.com/s"; effective_from = "2026-11-01";
  response_hours = { critical = "4h"; high = 24; normal = "3d"; low = "7d"; }; };'
mark
run "complaints at 12:00Z" "$CP" 2026-11-23T12:00:00Z
settle
assert_eq "alice@example.com|URGENT: Complaint from Kim Complainer is past its response deadline
maya@example.com|How did we do, Maya Happy?
wang.manager@example.cn|客户 Lou Longwait 的投诉已超过答复时限" "$(who_since)" \
    "12:00Z: rep alert, survey, and the manager standing in for an inactive rep"
assert_contains "$(mail_to maya@example.com text)" "https://survey.example.com/s?complaint=3" "survey links to survey_url?complaint=ID"
assert_contains "$(mail_to maya@example.com list_unsubscribe)" "https://example.com/unsubscribe" "survey is marketing: List-Unsubscribe"
assert_contains "$(mail_to wang.manager@example.cn text)" "Gone Rep 已离岗，此提醒转由您跟进" "covering manager told why"
assert_eq "0" "$(psql_val "SELECT count(*) FROM rapport.outbox WHERE job = 'complaints' AND customer_id IN (404, 405, 601)")" \
    "no survey without consent; no alert for a complaint from before effective_from or an inactive customer"
mark
run "complaints at 14:30Z" "$CP" 2026-11-23T14:30:00Z
settle
assert_eq "wang.manager@example.cn|【升级】客户 Kim Complainer 的投诉已 8 小时未解决" "$(who_since)" "twice the deadline: manager escalation"
psql_val "UPDATE crm.complaints SET resolved_at = '2026-11-23 15:00Z' WHERE id = 1" >/dev/null
mark
run "complaints next day" "$CP" 2026-11-24T12:00:00Z
settle
assert_eq "" "$(who_since)" "resolved complaint: no more alerts; survey not before survey_after_days"
mark
run "complaints two days after resolution" "$CP" 2026-11-25T15:15:00Z
settle
assert_eq "kim@example.com|How did we do, Kim Complainer?" "$(who_since)" "survey survey_after_days after resolution"

# ============================================================ holidays
# Two days of downtime: the job first runs on the 23rd.  Founders Day (the
# 21st) is still within max_lateness = 2d where it ended late enough;
# Harvest Day (the 18th) is beyond it everywhere.
HOL=$T_TMP/holidays.conf
HOL_DATES='dates = ( { name = "Founders Day"; date = "2026-11-21"; },
            { name = "Harvest Day"; date = "2026-11-18"; },
            { name = "Summer Day"; date = "2026-11-24"; tiers = ["A"]; },
            { name = "春节"; date = "2027-02-06"; template = "spring_festival"; } );'
conf "$HOL" "holidays: { effective_from = \"2026-11-01\"; max_lateness = \"2d\"; channels = [\"email\", \"sms\"]; $HOL_DATES };"
# dry_run = true in the configuration holds for a run by hand too: it shows
# what would be queued and queues nothing.
conf "$T_TMP/hol-dry.conf" "holidays: { dry_run = true; effective_from = \"2026-11-01\"; max_lateness = \"2d\"; channels = [\"email\", \"sms\"]; $HOL_DATES };"
assert_exit 0 "run by hand, dry_run = true configured" -- "$RAPPORTCTL" --config "$T_TMP/hol-dry.conf" run holidays --now 2026-11-23T08:30:00Z
assert_contains "$T_OUT" "job holidays has dry_run = true in $T_TMP/hol-dry.conf: showing what it would queue, queueing nothing" "configured dry_run: says so"
assert_contains "$T_OUT" "Warm wishes for Founders Day, Ada Ancient" "configured dry_run: shows the messages"
assert_contains "$T_OUT" "message(s) would be queued" "configured dry_run: counts them"
assert_exit 0 "run by hand --json, dry_run = true configured" -- "$RAPPORTCTL" --config "$T_TMP/hol-dry.conf" --json run holidays --now 2026-11-23T08:30:00Z
assert_contains "$T_OUT" '"dry_run":true' "configured dry_run, --json: the counts say dry_run"
assert_eq "0:0" "$(psql_val "SELECT count(*) FROM rapport.outbox WHERE job = 'holidays'"):$(psql_val "SELECT count(*) FROM rapport.job_runs WHERE job = 'holidays'")" \
    "configured dry_run: nothing queued, no run recorded"
# The job's tiers filter every date that names none of its own.
conf "$T_TMP/hol-tiers.conf" "holidays: { tiers = [\"B\", \"C\"]; effective_from = \"2026-11-01\"; max_lateness = \"2d\"; channels = [\"email\"]; $HOL_DATES };"
out=$("$RAPPORTCTL" --config "$T_TMP/hol-tiers.conf" run holidays --dry-run --now 2026-11-23T08:30:00Z 2>&1)
assert_contains "$out" "Warm wishes for Founders Day, Rose Return" "job-level tiers: tier B greeted"
assert_eq "0" "$(grep -c 'Founders Day, Ada Ancient\|Founders Day, Hana Holiday' <<<"$out")" "job-level tiers: tier A not greeted"
out=$("$RAPPORTCTL" --config "$T_TMP/hol-tiers.conf" run holidays --dry-run --now 2026-11-24T21:00:00Z 2>&1)
assert_contains "$out" "Warm wishes for Summer Day, Ada Ancient" "a date's own tiers replace the job's"
mark
sms_mark
run "holidays at 08:30Z" "$HOL" 2026-11-23T08:30:00Z
settle
wait_for_sms 1 10 || true
assert_eq "ada@example.com|Warm wishes for Founders Day, Ada Ancient
hana@example.com|Warm wishes for Founders Day, Hana Holiday
ivan@example.com|Warm wishes for Founders Day, Ivan EmailOnly
kim@example.com|Warm wishes for Founders Day, Kim Complainer
maya@example.com|Warm wishes for Founders Day, Maya Happy
rose@example.com|Warm wishes for Founders Day, Rose Return
tavita@example.as|Warm wishes for Founders Day, Tavita Faleolo" "$(who_since)" \
    "missed holiday sent once within max_lateness; not to Auckland (too late there), no consent, suppressed or inactive"
assert_eq "+4915112345678|Happy Founders Day, Hana Holiday! Warmest wishes to you and your family. - Acme Customer Care. Reply STOP to opt out." \
    "$(sms_since)" "holiday SMS with consent only"
assert_eq "0" "$(psql_val "SELECT count(*) FROM rapport.outbox WHERE job = 'holidays' AND (dedupe_key LIKE 'holiday:Harvest Day:%' OR customer_id IN (102, 204, 601))")" \
    "nothing beyond max_lateness, for Auckland, the suppressed or the inactive"
mark
run "holidays at 21:00Z" "$HOL" 2026-11-23T21:00:00Z
settle
assert_eq "mere@example.co.nz|Warm wishes for Summer Day, Mere Ngata" "$(who_since)" "Summer Day (tier A) greets Auckland first: it is the 24th there"
mark
run "holidays next day 21:00Z" "$HOL" 2026-11-24T21:00:00Z
settle
assert_eq "ada@example.com|Warm wishes for Summer Day, Ada Ancient
hana@example.com|Warm wishes for Summer Day, Hana Holiday
kim@example.com|Warm wishes for Summer Day, Kim Complainer
tavita@example.as|Warm wishes for Summer Day, Tavita Faleolo" "$(who_since)" "then the rest of tier A, Pago Pago last"
assert_eq "queued" "$(state_of 'holiday:Summer Day:2026-11-24:sms:501')" "SMS held by quiet hours in the recipient's zone"
assert_eq "0" "$(psql_val "SELECT count(*) FROM rapport.outbox WHERE job = 'holidays' AND dedupe_key LIKE 'holiday:Summer Day:%' AND customer_id IN (201, 403, 502)")" "tier filter"

# ============================================================ dormant
DOR=$T_TMP/dormant.conf
conf "$DOR" 'dormant: { effective_from = "2026-01-01"; winback = true; max_lateness = "2d"; };'
mark
run "dormant at 15:00Z" "$DOR" 2026-11-23T15:00:00Z
settle
assert_eq "alice@example.com|Ned NoConsent has gone quiet: no activity for 180 days
alice@example.com|Rose Return has gone quiet: no activity for 61 days
alice@example.com|Sue Suppressed has gone quiet: no activity for 61 days
rose@example.com|We have missed you, Rose Return" "$(who_since)" \
    "rep alerted once per dormant customer; win-back only with consent and not suppressed; nothing for the 2023 sleeper"
assert_contains "$(mail_to rose@example.com list_unsubscribe)" "https://example.com/unsubscribe" "win-back is marketing"
assert_eq "dormant:201:2026-09-23" "$(psql_val "SELECT dedupe_key FROM rapport.outbox WHERE job = 'dormant' AND customer_id = 201 AND audience = 'rep'")" "episode keyed by the last activity date"
# Rose comes back, then lapses again.
psql_val "INSERT INTO crm.interactions (customer_id, rep_id, kind, happened_at) VALUES (201, 2, 'purchase', '2026-11-25 15:00Z')" >/dev/null
mark
run "dormant after she returns" "$DOR" 2026-11-26T15:00:00Z
settle
assert_eq "" "$(who_since)" "a returning customer is not dormant"
mark
run "dormant when she lapses again" "$DOR" 2027-01-24T15:00:00Z
settle
assert_eq "alice@example.com|Rose Return has gone quiet: no activity for 60 days
rose@example.com|We have missed you, Rose Return" "$(who_since)" "a new dormancy episode alerts again"
assert_eq "dormant:201:2026-09-23,dormant:201:2026-11-25" "$(psql_val "SELECT string_agg(dedupe_key, ',' ORDER BY id) FROM rapport.outbox WHERE job = 'dormant' AND customer_id = 201 AND audience = 'rep'")" \
    "one alert per episode"
# A CRM outside the contract's tiers (A, B, C): no tier, or another one,
# counts 180 days whatever dormant_days says; its customers are found all
# the same (the plan reads each tier present, and the untiered apart).
psql_val "ALTER TABLE crm.customers DROP CONSTRAINT customers_tier_check, ALTER COLUMN tier DROP NOT NULL" >/dev/null
psql_val "INSERT INTO crm.customers (id, name, tier, email, time_zone, locale, rep_id, consent_email, consent_sms, created_at, active) VALUES
            (801, 'Tia Tierless', NULL, 'tia@example.com', 'UTC', 'en', 2, true, false, '2025-01-01', true),
            (802, 'Dee Othertier', 'D', 'dee@example.com', 'UTC', 'en', 2, true, false, '2025-01-01', true),
            (803, 'Bea Recent', 'D', 'bea@example.com', 'UTC', 'en', 2, true, false, '2025-01-01', true),
            (804, 'Nia Newcomer', NULL, 'nia@example.com', 'UTC', 'en', 2, true, false, '2026-07-28 10:00Z', true);
          INSERT INTO crm.interactions (customer_id, rep_id, kind, happened_at) VALUES
            (801, 2, 'call', '2026-07-28 10:00Z'), (802, 2, 'call', '2026-07-28 10:00Z'),
            (803, 2, 'call', '2026-11-25 10:00Z')" >/dev/null
mark
run "dormant over tiers outside the contract" "$DOR" 2027-01-24T18:30:00Z
settle
assert_eq "alice@example.com|Dee Othertier has gone quiet: no activity for 180 days
alice@example.com|Nia Newcomer has gone quiet: no activity for 180 days
alice@example.com|Tia Tierless has gone quiet: no activity for 180 days
dee@example.com|We have missed you, Dee Othertier
nia@example.com|We have missed you, Nia Newcomer
tia@example.com|We have missed you, Tia Tierless" "$(who_since | sort)" \
    "no tier or an unknown one: 180 days (an interaction, or created_at for the never active); not 60"

assert_eq "" "$(psql_val "SELECT string_agg(DISTINCT job || ':' || status, ',') FROM rapport.job_runs WHERE status NOT IN ('ok', 'skipped')")" "every run recorded ok"
assert_eq "0" "$(psql_val "SELECT count(*) FROM rapport.outbox WHERE state = 'failed'")" "nothing failed"
# Each run records what it passed over and why, consent and suppression
# included (the CRM rows skipped for bad data are also kept apart, above).
assert_eq "t|t" "$(psql_val "SELECT bool_or(skip_reasons ? 'no e-mail consent' AND skip_reasons ? 'address suppressed'),
                                   bool_or(skip_reasons ? 'no SMS consent')
                            FROM rapport.job_runs WHERE job IN ('dormant', 'holidays')" -F '|')" \
    "runs record skipped messages: no consent, suppressed address"
t_summary
