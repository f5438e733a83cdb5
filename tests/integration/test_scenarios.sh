#!/usr/bin/env bash
# The promises of issue 6 ("the relationship jobs"), each on a small fixed
# scenario of its own with --now pinned, checked by who received what
# (recipient, subject, the text that matters) -- not by internals:
#   1. complaints: response deadlines per severity with the defaults
#      (critical 4 h, high 24 h, normal 72 h, low 7 d), the manager at twice
#      the deadline, nothing for a complaint resolved in time, the survey
#      survey_after_days after resolution, once, only with consent;
#   2. follow-ups in the digest with the default tier cadences (A 7, B 30,
#      C 90 days), an explicit next_follow_up first with how overdue it is,
#      and the tier-A same-day reminder only with tier_a_reminder = true;
#   3. two days of downtime for receivables (max_lateness 3 d) and dormant
#      (7 d): what fell due on day N goes once when the daemon comes back on
#      N+2, what fell due beyond max_lateness before the run does not;
#   4. the default dunning ladder (+1 friendly, +15 e-mail and SMS, +30 the
#      rep asked to call, +60 the manager), a configured courtesy level
#      before the due date, paid invoices never chased;
#   5. per-run counts: planned / skipped (and why) in rapportctl status
#      --json and in rapport.job_runs.
#
# Reps (all UTC, English, digest at 08:00): 1 Mona Manager (manager of
# everyone), 2 Rick (complaints), 3 Fay (follow-ups), 4 Rae (receivables),
# 5 Dot (downtime), 6 Sam (counts).  Customers 1xx follow-ups, 2xx
# complaints, 3xx ladder, 4xx downtime, 5xx counts.  Each section loads its
# own customers when it starts and configures only the jobs it tests.
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
 (1, 'Mona Manager', 'mona@example.com', '+4915100000001', 'UTC', 'en', 8, NULL, true),
 (2, 'Rick Rep', 'rick@example.com', '+4915100000002', 'UTC', 'en', 8, 1, true),
 (3, 'Fay Follow', 'fay@example.com', '+4915100000003', 'UTC', 'en', 8, 1, true),
 (4, 'Rae Ledger', 'rae@example.com', '+4915100000004', 'UTC', 'en', 8, 1, true),
 (5, 'Dot Downtime', 'dot@example.com', '+4915100000005', 'UTC', 'en', 8, 1, true),
 (6, 'Sam Status', 'sam@example.com', '+4915100000006', 'UTC', 'en', 8, 1, true);
SQL

# ---------------------------------------------------------------- helpers
load() { psql -XAtq -v ON_ERROR_STOP=1 >/dev/null; }
# all_subjects -- "recipient|subject" of every mail of the whole test.
all_subjects() {
    mail_json | "$T_PY" -c '
import json, sys
print("\n".join(",".join(x["envelope_to"]) + "|" + (x["subject"] or "") for x in json.load(sys.stdin)))'
}
# step NAME CONF NOW -- mark, run the daemon once at NOW, wait for it to settle.
step() {
    mark
    sms_mark
    run "$1" "$2" "$3"
    settle
}

# ======================================================= 2. follow-ups
# Monday 2026-11-23, Fay's digest hour 08:00 UTC.  Cadences by default:
# A 7, B 30, C 90 days.
load <<'SQL'
INSERT INTO crm.customers (id, name, tier, email, phone, birthday, time_zone, locale, rep_id,
                           consent_email, consent_sms, next_follow_up, created_at, active) VALUES
 (101, 'Bea ThirtyOne', 'B', 'bea@example.com', NULL, NULL, 'UTC', 'en', 3, false, false, NULL, '2020-01-01', true),
 (102, 'Ben TwentyNine', 'B', 'ben@example.com', NULL, NULL, 'UTC', 'en', 3, false, false, NULL, '2020-01-01', true),
 (103, 'Cal NinetyOne', 'C', 'cal@example.com', NULL, NULL, 'UTC', 'en', 3, false, false, NULL, '2020-01-01', true),
 (104, 'Pia Planned', 'B', 'pia@example.com', NULL, NULL, 'UTC', 'en', 3, false, false, '2026-11-13', '2020-01-01', true),
 (105, 'Ann Today', 'A', 'ann@example.com', NULL, NULL, 'UTC', 'en', 3, false, false, NULL, '2020-01-01', true);
INSERT INTO crm.interactions (customer_id, rep_id, kind, happened_at, note) VALUES
 (101, 3, 'call', '2026-10-23 10:00Z', '31 days before'),
 (102, 3, 'call', '2026-10-25 10:00Z', '29 days before'),
 (103, 3, 'call', '2026-08-24 10:00Z', '91 days before'),
 (104, 3, 'call', '2026-11-10 10:00Z', 'agreed to call back on the 13th'),
 (105, 3, 'visit', '2026-11-16 10:00Z', '7 days before');
SQL

DIG=$T_TMP/digest.conf
rapport_config "$DIG" 'digest: { schedule = "*/15 * * * *"; effective_from = "2026-11-01"; };'
out=$("$RAPPORTCTL" --config "$DIG" preview digest --rep 3 --now 2026-11-23T08:30:00Z 2>&1)
assert_contains "$out" "FOLLOW-UPS DUE (4)
  - Pia Planned [B]: 10 days overdue, last contact 2026-11-10, planned for 2026-11-13" \
    "preview: an explicit next_follow_up in the past is listed first, with how overdue it is"
assert_contains "$out" "  - Bea ThirtyOne [B]: 1 day overdue, last contact 2026-10-23 — bea@example.com" \
    "preview: tier B last contacted 31 days ago is listed (cadence 30)"
assert_contains "$out" "  - Cal NinetyOne [C]: 1 day overdue, last contact 2026-08-24 — cal@example.com" \
    "preview: tier C last contacted 91 days ago is listed (cadence 90)"
assert_contains "$out" "  - Ann Today [A]: due today, last contact 2026-11-16 — ann@example.com" \
    "preview: tier A last contacted 7 days ago is due today (cadence 7)"
assert_not_contains "$out" "Ben TwentyNine" "preview: tier B last contacted 29 days ago is not listed"

step "digest at 08:30Z" "$DIG" 2026-11-23T08:30:00Z
assert_eq "fay@example.com|Your customer digest for 2026-11-23: 4 items" "$(who_since)" \
    "digest: Fay (and nobody else) gets her follow-ups"
t=$(mail_to fay@example.com text)
assert_contains "$t" "FOLLOW-UPS DUE (4)
  - Pia Planned [B]: 10 days overdue, last contact 2026-11-10, planned for 2026-11-13" "digest: overdue plan first, days overdue"
assert_contains "$t" "Bea ThirtyOne [B]: 1 day overdue" "digest: B at 31 days listed"
assert_contains "$t" "Cal NinetyOne [C]: 1 day overdue" "digest: C at 91 days listed"
assert_not_contains "$t" "Ben TwentyNine" "digest: B at 29 days not listed"

# The same-day reminder for tier A goes only with tier_a_reminder = true
# (jobs/follow_ups.c, rapport.conf(5): default false).
FU0=$T_TMP/follow_ups-default.conf
rapport_config "$FU0" 'follow_ups: { schedule = "*/15 * * * *"; effective_from = "2026-11-01"; };'
step "follow_ups with the default settings at 09:30Z" "$FU0" 2026-11-23T09:30:00Z
assert_eq "" "$(who_since)" "follow_ups: no separate reminder unless tier_a_reminder is set"
FU1=$T_TMP/follow_ups-reminder.conf
rapport_config "$FU1" 'follow_ups: { schedule = "*/15 * * * *"; effective_from = "2026-11-01"; tier_a_reminder = true; };'
step "follow_ups with tier_a_reminder at 09:45Z" "$FU1" 2026-11-23T09:45:00Z
assert_eq "fay@example.com|Follow up with Ann Today today" "$(who_since)" \
    "tier_a_reminder = true: a separate same-day e-mail to the rep, tier A only"
assert_contains "$(mail_to fay@example.com text)" "Tier A customers are contacted at least every 7 days; the last contact was on 2026-11-16, 7 days ago." \
    "reminder: says why (tier A cadence of 7 days)"
step "follow_ups again at 10:00Z" "$FU1" 2026-11-23T10:00:00Z
assert_eq "" "$(who_since)" "follow_ups: the reminder goes once"

# ======================================================= 1. complaints
# Rick owns the complaining customers, Mona is his manager.  Default
# deadlines: critical 4 h, high 24 h, normal 72 h, low 168 h.
load <<'SQL'
INSERT INTO crm.customers (id, name, tier, email, phone, birthday, time_zone, locale, rep_id,
                           consent_email, consent_sms, next_follow_up, created_at, active) VALUES
 (201, 'Hal High', 'B', 'hal@example.com', NULL, NULL, 'UTC', 'en', 2, false, false, NULL, '2020-01-01', true),
 (202, 'Nora Normal', 'B', 'nora@example.com', NULL, NULL, 'UTC', 'en', 2, false, false, NULL, '2020-01-01', true),
 (203, 'Lou Low', 'B', 'lou@example.com', NULL, NULL, 'UTC', 'en', 2, false, false, NULL, '2020-01-01', true),
 (204, 'Cris Critical', 'A', 'cris@example.com', NULL, NULL, 'UTC', 'en', 2, false, false, NULL, '2020-01-01', true),
 (205, 'Ray Resolved', 'B', 'ray@example.com', NULL, NULL, 'UTC', 'en', 2, true, false, NULL, '2020-01-01', true),
 (206, 'Sue Survey', 'C', 'sue@example.com', NULL, NULL, 'UTC', 'en', 2, true, false, NULL, '2020-01-01', true),
 (207, 'Nick NoConsent', 'C', 'nick@example.com', NULL, NULL, 'UTC', 'en', 2, false, false, NULL, '2020-01-01', true);
INSERT INTO crm.interactions (customer_id, rep_id, kind, happened_at, note)
 SELECT id, 2, 'call', '2026-11-20 15:00Z', '' FROM crm.customers WHERE id BETWEEN 201 AND 207;
INSERT INTO crm.complaints (id, customer_id, severity, summary, opened_at, resolved_at) VALUES
 (1, 201, 'high', 'Invoice sent twice', '2026-11-22 11:00Z', NULL),          -- 25 h open at 12:00
 (2, 202, 'normal', 'Manual missing', '2026-11-20 13:00Z', NULL),            -- 71 h at 12:00, 73 h at 14:00
 (3, 203, 'low', 'Brochure typo', '2026-11-17 12:00Z', NULL),                -- 6 days at 12:00
 (4, 204, 'critical', 'Production line down', '2026-11-23 03:00Z', NULL),    -- 9 h at 12:00
 (5, 205, 'critical', 'Wrong part shipped', '2026-11-23 06:00Z', '2026-11-23 08:00Z'), -- resolved in 2 h
 (6, 206, 'normal', 'Late delivery', '2026-11-19 08:00Z', '2026-11-20 15:00Z'),
 (7, 207, 'normal', 'Late delivery too', '2026-11-19 08:00Z', '2026-11-20 15:00Z');
SQL
CP=$T_TMP/complaints.conf
rapport_config "$CP" 'complaints: { effective_from = "2026-11-01"; survey_after_days = 3; };'

step "complaints at 09:30Z" "$CP" 2026-11-23T09:30:00Z
assert_eq "rick@example.com|URGENT: Complaint from Cris Critical is past its response deadline" "$(who_since)" \
    "09:30Z: critical open 6.5 h alerts the rep only (deadline 4 h, manager not before 8 h); high at 22.5 h does not"
assert_contains "$(mail_to rick@example.com text)" "has not been answered within the promised 4 hours" "critical alert: the 4-hour deadline"

step "complaints at 12:00Z" "$CP" 2026-11-23T12:00:00Z
assert_eq "mona@example.com|Escalation: complaint from Cris Critical open 9 hours
rick@example.com|Complaint from Hal High is past its response deadline
sue@example.com|How did we do, Sue Survey?" "$(who_since)" \
    "12:00Z: high open 25 h alerts the rep; critical open 9 h (> 2 x 4 h) alerts the manager; survey 3 days after resolution; nothing for normal at 71 h, low at 6 days, the complaint resolved in time, or the customer without consent"
assert_contains "$(mail_to rick@example.com text)" "A high-priority complaint from Hal High (tier B) has not been answered within the promised 24 hours." \
    "high alert: the 24-hour deadline"
t=$(mail_to mona@example.com text)
assert_contains "$t" "after more than twice its 4-hour response time" "escalation: twice the deadline"
assert_contains "$t" "Responsible rep: Rick Rep, rick@example.com" "escalation: names the rep"
assert_contains "$(mail_to sue@example.com text)" 'the matter you raised with us on 2026-11-19 (reference #6)' "survey: about the customer's complaint, by its date and reference (not the CRM's internal summary)"

step "complaints at 14:00Z" "$CP" 2026-11-23T14:00:00Z
assert_eq "rick@example.com|Complaint from Nora Normal is past its response deadline" "$(who_since)" \
    "14:00Z: normal open 73 h (> 72 h) alerts the rep; the complaint resolved in time still alerts nobody"
assert_contains "$(mail_to rick@example.com text)" "within the promised 72 hours" "normal alert: the 72-hour deadline"

step "complaints next day 13:00Z" "$CP" 2026-11-24T13:00:00Z
assert_eq "mona@example.com|Escalation: complaint from Hal High open 50 hours
rick@example.com|Complaint from Lou Low is past its response deadline" "$(who_since)" \
    "next day: low past 7 days alerts the rep; high past 48 h goes to the manager"

step "complaints two days after Ray's resolution" "$CP" 2026-11-25T12:00:00Z
assert_eq "" "$(who_since)" "no survey before survey_after_days; no second survey"

step "complaints three days after Ray's resolution" "$CP" 2026-11-26T12:00:00Z
assert_eq "ray@example.com|How did we do, Ray Resolved?" "$(who_since)" \
    "survey_after_days = 3 after resolution: the survey goes; the customer without consent gets none, Sue none again"
assert_eq "" "$(all_subjects | grep -v '^ray@example.com|How did we do' | grep 'Ray Resolved')" \
    "a complaint resolved before its deadline alerted nobody"
assert_eq "" "$(all_subjects | grep 'nick@example.com\|Nick NoConsent')" "no survey without consent, ever"
assert_eq "1" "$(all_subjects | grep -c '^sue@example.com|')" "the survey went once"

# ======================================================= 4. dunning ladder
# Rae's customers, Mona her manager.  All invoices fall due on Sunday
# 2026-11-22; send_at 10:00 UTC, runs at 12:00Z.
load <<'SQL'
INSERT INTO crm.customers (id, name, tier, email, phone, birthday, time_zone, locale, rep_id,
                           consent_email, consent_sms, next_follow_up, created_at, active) VALUES
 (301, 'Lee Ledger', 'C', 'lee@example.com', '+4915100000301', NULL, 'UTC', 'en', 4, false, false, NULL, '2020-01-01', true),
 (302, 'Pam Paid', 'C', 'pam@example.com', '+4915100000302', NULL, 'UTC', 'en', 4, false, false, NULL, '2020-01-01', true),
 (303, 'Quin Quickpay', 'C', 'quin@example.com', '+4915100000303', NULL, 'UTC', 'en', 4, false, false, NULL, '2020-01-01', true);
INSERT INTO crm.interactions (customer_id, rep_id, kind, happened_at, note)
 SELECT id, 4, 'call', '2026-11-20 15:00Z', '' FROM crm.customers WHERE id BETWEEN 301 AND 303;
INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on, paid_on) VALUES
 (301, 'INV-L1', 1250.00, 'EUR', '2026-10-23', '2026-11-22', NULL),
 (302, 'INV-L2', 300.00, 'EUR', '2026-10-23', '2026-11-22', '2026-11-20'),
 (303, 'INV-L3', 80.00, 'EUR', '2026-10-23', '2026-11-22', NULL);
SQL
# A courtesy level three days before the due date needs a configured ladder
# (levels replaces the default one).
ARC=$T_TMP/receivables-courtesy.conf
rapport_config "$ARC" 'receivables: { effective_from = "2026-11-01";
  levels = ( { days = -3; audience = "customer"; channels = ["email"]; template = "dunning_courtesy"; },
             { days = 1; audience = "customer"; channels = ["email"]; template = "dunning_friendly"; },
             { days = 15; audience = "customer"; channels = ["email", "sms"]; template = "dunning_firm"; },
             { days = 30; audience = "rep"; channels = ["email"]; template = "dunning_rep_call"; },
             { days = 60; audience = "manager"; channels = ["email"]; template = "dunning_manager"; } ); };'
step "courtesy ladder four days before the due date" "$ARC" 2026-11-18T12:00:00Z
assert_eq "" "$(who_since)" "courtesy level (-3): nothing four days before the due date"
step "courtesy ladder three days before the due date" "$ARC" 2026-11-19T12:00:00Z
assert_eq "lee@example.com|Invoice INV-L1 is due soon
quin@example.com|Invoice INV-L3 is due soon" "$(who_since)" \
    "courtesy level (-3) goes three days before the due date; not for the paid invoice"
assert_contains "$(mail_to lee@example.com text)" "  - INV-L1: EUR 1,250.00, due 2026-11-22" "courtesy: the invoice and its due date"

# The default ladder from here on: no `levels` configured.
AR=$T_TMP/receivables.conf
rapport_config "$AR" 'receivables: { effective_from = "2026-11-01"; };'
step "ladder on the due date" "$AR" 2026-11-22T12:00:00Z
assert_eq "" "$(who_since)" "default ladder: nothing on the due date itself"
step "ladder +1" "$AR" 2026-11-23T12:00:00Z
assert_eq "lee@example.com|A friendly reminder: invoice INV-L1 past due
quin@example.com|A friendly reminder: invoice INV-L3 past due" "$(who_since)" \
    "+1 day: a friendly e-mail to the customer; the paid invoice is not chased"
assert_contains "$(mail_to lee@example.com text)" "  - INV-L1: EUR 1,250.00, due 2026-11-22 (1 day overdue)" "+1: the invoice, 1 day overdue"
assert_eq "" "$(sms_since)" "+1: no SMS"
# Quin pays; Lee does not.
psql_val "UPDATE crm.invoices SET paid_on = '2026-11-30' WHERE number = 'INV-L3'" >/dev/null
step "ladder +14" "$AR" 2026-12-06T12:00:00Z
assert_eq "" "$(who_since)$(sms_since)" "+14: nothing"
step "ladder +15" "$AR" 2026-12-07T12:00:00Z
wait_for_sms $((SMS_MARK + 1)) 10 || true
assert_eq "lee@example.com|Second reminder: payment overdue on invoice INV-L1" "$(who_since)" \
    "+15 days: a firmer e-mail to the customer; nothing to the customer who paid"
assert_contains "$(mail_to lee@example.com text)" "INV-L1: EUR 1,250.00, due 2026-11-22 (15 days overdue)" "+15: 15 days overdue"
assert_eq "+4915100000301|Second reminder: INV-L1 (EUR 1,250.00) is 15 days overdue. Please pay within 7 days or call us. +4915100000004 - Acme Customer Care" \
    "$(sms_since)" "+15 days: and an SMS to the customer"
step "ladder +30" "$AR" 2026-12-22T12:00:00Z
assert_eq "rae@example.com|Please call Lee Ledger: 1 invoice 30 days overdue" "$(who_since)" \
    "+30 days: an e-mail to the owning rep asking to call"
t=$(mail_to rae@example.com text)
assert_contains "$t" "Please call the customer" "+30: the rep is asked to call"
assert_contains "$t" "INV-L1: EUR 1,250.00, due 2026-11-22 (30 days overdue)" "+30: the invoice, 30 days overdue"
assert_eq "" "$(sms_since)" "+30: no SMS"
step "ladder +60" "$AR" 2027-01-21T12:00:00Z
assert_eq "mona@example.com|Escalation: Lee Ledger, 1 invoice 60 days overdue (bad-debt risk)" "$(who_since)" \
    "+60 days: an e-mail to the rep's manager"
t=$(mail_to mona@example.com text)
assert_contains "$t" "a customer of Rae Ledger, has left the following unpaid for 60 days, and it is now flagged as a bad-debt risk" \
    "+60: the manager is told whose customer and the bad-debt risk"
step "ladder again" "$AR" 2027-01-21T15:00:00Z
assert_eq "" "$(who_since)$(sms_since)" "ladder: re-running sends nothing twice"
assert_eq "" "$(all_subjects | grep 'pam@example.com\|Pam Paid\|INV-L2')" "an invoice paid before it fell due is never chased"
assert_eq "" "$(all_subjects | grep 'Quin Quickpay' ; all_subjects | grep '^quin@' | grep -v 'INV-L3 is due soon\|friendly reminder: invoice INV-L3')" \
    "an invoice paid after the +1 level is chased no further"

# ======================================================= 3. downtime
# The daemon was down on days N = Monday 2027-03-08 and N+1, and runs only on
# N+2, 2027-03-10.  receivables keeps max_lateness 3 d, dormant 7 d (the
# defaults).  What fell due on N goes once; what fell due 5 days (receivables)
# or 9 days (dormant) before the run is beyond max_lateness and does not go.
load <<'SQL'
INSERT INTO crm.customers (id, name, tier, email, phone, birthday, time_zone, locale, rep_id,
                           consent_email, consent_sms, next_follow_up, created_at, active) VALUES
 (401, 'Nia Now', 'C', 'nia@example.com', NULL, NULL, 'UTC', 'en', 5, false, false, NULL, '2020-01-01', true),
 (402, 'Otto Old', 'C', 'otto@example.com', NULL, NULL, 'UTC', 'en', 5, false, false, NULL, '2020-01-01', true),
 (403, 'Dora Dormant', 'A', 'dora@example.com', NULL, NULL, 'UTC', 'en', 5, false, false, NULL, '2020-01-01', true),
 (404, 'Olaf Older', 'A', 'olaf@example.com', NULL, NULL, 'UTC', 'en', 5, false, false, NULL, '2020-01-01', true);
INSERT INTO crm.interactions (customer_id, rep_id, kind, happened_at, note) VALUES
 (401, 5, 'call', '2027-03-01 10:00Z', ''),
 (402, 5, 'call', '2027-03-01 10:00Z', ''),
 (403, 5, 'visit', '2027-02-06 10:00Z', 'dormant (A, 30 days) on 2027-03-08 = N'),
 (404, 5, 'visit', '2027-01-30 10:00Z', 'dormant on 2027-03-01, 9 days before the run');
INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on, paid_on) VALUES
 (401, 'INV-DT-N', 500.00, 'EUR', '2027-02-05', '2027-03-07', NULL),   -- +1 on 2027-03-08 = N
 (402, 'INV-DT-OLD', 700.00, 'EUR', '2027-02-02', '2027-03-04', NULL); -- +1 on 2027-03-05, 5 days before the run
SQL
DT=$T_TMP/downtime.conf
rapport_config "$DT" 'receivables: { effective_from = "2026-11-01"; };
  dormant: { effective_from = "2026-11-01"; };'
step "downtime: the daemon comes back on N+2" "$DT" 2027-03-10T12:00:00Z
assert_eq "dot@example.com|Dora Dormant has gone quiet: no activity for 32 days
nia@example.com|A friendly reminder: invoice INV-DT-N past due" "$(who_since)" \
    "N+2: the dunning level and the dormancy episode of day N are sent; those 5 and 9 days old are not"
assert_contains "$(mail_to nia@example.com text)" "INV-DT-N: EUR 500.00, due 2027-03-07 (3 days overdue)" "late reminder: overdue as of the day it is sent"
assert_contains "$(mail_to dot@example.com text)" "has had no activity since 2027-02-06, 32 days ago" "late dormant alert: since when"
step "downtime: running again the same day" "$DT" 2027-03-10T18:30:00Z
assert_eq "" "$(who_since)" "running again sends nothing twice"
step "downtime: and the next day" "$DT" 2027-03-11T12:00:00Z
assert_eq "" "$(who_since)" "the next day sends nothing twice either, and nothing of what was missed"
assert_eq "" "$(all_subjects | grep 'otto@example.com\|Otto Old\|Olaf Older')" "beyond max_lateness: never sent"

# ======================================================= 5. per-run counts
# A customer with an invalid e-mail address is skipped, counted and
# explained.  (Dated in 2030: status lists skipped rows of the last 7 days
# of the real clock, and --now must not be older than that.)
load <<'SQL'
INSERT INTO crm.customers (id, name, tier, email, phone, birthday, time_zone, locale, rep_id,
                           consent_email, consent_sms, next_follow_up, created_at, active) VALUES
 (501, 'Vera Invalid', 'C', 'vera@@invalid', NULL, NULL, 'UTC', 'en', 6, false, false, NULL, '2020-01-01', true),
 (502, 'Walt Valid', 'C', 'walt@example.com', NULL, NULL, 'UTC', 'en', 6, false, false, NULL, '2020-01-01', true);
INSERT INTO crm.interactions (customer_id, rep_id, kind, happened_at, note) VALUES
 (501, 6, 'call', '2030-04-10 10:00Z', ''), (502, 6, 'call', '2030-04-10 10:00Z', '');
INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on, paid_on) VALUES
 (501, 'INV-S1', 40.00, 'EUR', '2030-03-20', '2030-04-19', NULL),
 (502, 'INV-S2', 60.00, 'EUR', '2030-03-20', '2030-04-19', NULL);
SQL
step "receivables with a bad address" "$AR" 2030-04-20T12:00:00Z
assert_eq "walt@example.com|A friendly reminder: invoice INV-S2 past due" "$(who_since)" \
    "the valid customer is reminded, the invalid address is not tried"
assert_exit 0 "status --json" -- "$RAPPORTCTL" --config "$AR" status --json
js=$T_OUT
assert_eq "1|1|ok" "$(jq -r '.jobs[] | select(.job == "receivables") | "\(.last_planned)|\(.last_skipped)|\(.last_status)"' <<<"$js")" \
    "status --json: the last run planned 1 and skipped 1"
assert_eq "invalid e-mail address|1" "$(jq -r '.skipped[] | select(.job == "receivables") | "\(.reason)|\(.customers)"' <<<"$js")" \
    "status --json: the reason of the skip"
assert_eq '1|1|{"invalid e-mail address": 1}' \
    "$(psql_val "SELECT planned || '|' || skipped || '|' || skip_reasons::text FROM rapport.job_runs WHERE job = 'receivables' ORDER BY scheduled_for DESC LIMIT 1")" \
    "rapport.job_runs: planned, skipped and skip_reasons of the run"
assert_exit 0 "status (text)" -- "$RAPPORTCTL" --config "$AR" status
assert_contains "$T_OUT" "invalid e-mail address" "status: the reason in the text report too"

# ======================================================= the whole test
# Twenty e-mails in all, each asserted above; nothing else went anywhere.
assert_eq "20" "$(mail_count)" "exactly the 20 e-mails asserted above were sent, no other"
assert_eq "1" "$(sms_count)" "exactly one SMS (the +15 level) was sent"

t_summary
