#!/usr/bin/env bash
# Occasions whose date is not the UTC date: a rep's digest hour late in the
# evening is still due after the rep's midnight, and a dormancy alert far
# east of the customer goes when the rep's date comes, not a day later;
# a ladder with two levels on the same day and channel is refused.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
CONF=$T_TMP/rapport.conf
rapport_config "$CONF" 'digest: { effective_from = "2020-01-01"; };
  dormant: { effective_from = "2020-01-01"; max_lateness = "12h"; winback = true; channels = [ "email" ]; };'
"$RAPPORTCTL" --config "$CONF" migrate >/dev/null
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES
 (1, 'Nia York', 'nia@example.com', 'America/New_York', 'en', 21, true),
 (2, 'Kiri Rep', 'kiri@example.com', 'Pacific/Kiritimati', 'en', 8, true);
INSERT INTO crm.customers (id, name, tier, email, time_zone, locale, rep_id, consent_email, next_follow_up, created_at, active) VALUES
 (1, 'Due Follow', 'A', 'due@example.com', 'UTC', 'en', 1, true, '2027-02-20', '2020-01-01', true),
 (2, 'Pago Cust', 'A', 'pago@example.com', 'Pacific/Pago_Pago', 'en', 2, true, NULL, '2020-01-01', true),
 (3, 'Kiri Cust', 'A', 'kc@example.com', 'Pacific/Kiritimati', 'en', 2, true, NULL, '2020-01-01', true);
-- Customer 2's last activity: 2027-01-29 23:00 in Pago Pago, so dormant
-- (tier A, 30 days) on 2027-02-28; the alert is due at 09:00 that day in
-- the rep's zone, Kiritimati: 2027-02-27 19:00Z.
INSERT INTO crm.interactions (customer_id, rep_id, kind, happened_at) VALUES (2, 2, 'call', '2027-01-30T10:00:00Z'),
 (1, 1, 'call', '2027-02-27T10:00:00Z');
-- Customer 3: only an invoice, issued 2027-01-29: dormant on 2027-02-28.
INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on, paid_on) VALUES
 (3, 'INV-K', 10, 'USD', '2027-01-29', '2027-02-28', '2027-02-01');
SQL

# 05:30Z on Mar 1 is 00:30 in New York: the Feb 28 21:00 digest is 3.5 h
# late, inside the digest's default max_lateness of 12 h.
"$RAPPORTCTL" --config "$CONF" run digest --now 2027-03-01T05:30:00Z >/dev/null
assert_eq "digest:1:2027-02-28|2027-03-01 02:00:00+00" \
    "$(psql_val "SELECT string_agg(dedupe_key || '|' || not_before, ',') FROM rapport.outbox WHERE job = 'digest' AND rep_id = 1")" \
    "after the rep's midnight: yesterday's digest, at its hour"
out=$("$RAPPORTCTL" --config "$CONF" run digest --dry-run --now 2027-03-01T05:30:00Z 2>&1)
assert_eq "0" "$(grep -c '^=== email to Nia York' <<<"$out")" "planned once: a second run finds it"
"$RAPPORTCTL" --config "$CONF" run digest --now 2027-03-01T14:30:00Z >/dev/null
assert_eq "1" "$(psql_val "SELECT count(*) FROM rapport.outbox WHERE job = 'digest' AND rep_id = 1")" \
    "past max_lateness after the hour, nothing more for that day (and the 1st's hour has not come)"
"$RAPPORTCTL" --config "$CONF" run digest --now 2027-03-02T02:30:00Z >/dev/null
assert_eq "digest:1:2027-02-28,digest:1:2027-03-01" \
    "$(psql_val "SELECT string_agg(dedupe_key, ',' ORDER BY dedupe_key) FROM rapport.outbox WHERE job = 'digest' AND rep_id = 1")" \
    "the next day's digest at its hour"

# 20:00Z on Feb 27 is 10:00 on Feb 28 in Kiritimati: both alerts (and
# customer 3's win-back, 09:00 on the 28th in Kiritimati) are due now.
"$RAPPORTCTL" --config "$CONF" run dormant --now 2027-02-27T20:00:00Z >/dev/null
assert_eq "dormant:2:2027-01-29|kiri@example.com|2027-02-27 19:00:00+00,dormant:3:2027-01-29|kiri@example.com|2027-02-27 19:00:00+00,winback:email:3:2027-01-29|kc@example.com|2027-02-27 19:00:00+00" \
    "$(psql_val "SELECT string_agg(dedupe_key || '|' || recipient || '|' || not_before, ',' ORDER BY dedupe_key) FROM rapport.outbox WHERE job = 'dormant'")" \
    "dormancy due in the recipient's zone ahead of UTC: planned when that date comes, not a day late"
"$RAPPORTCTL" --config "$CONF" run dormant --now 2027-02-28T06:00:00Z >/dev/null
assert_eq "3" "$(psql_val "SELECT count(*) FROM rapport.outbox WHERE job = 'dormant'")" "once per episode"

# A follow-up seen by the rep in Kiritimati of a customer in Pago Pago:
# the reminder and the digest reckon its dates alike, in the rep's zone.
# Last call 2027-02-20 20:00Z: the 20th in Pago Pago, the 21st in
# Kiritimati; tier A (7 days): due the 28th there, which 19:00Z on the
# 27th already is.
psql_val "INSERT INTO crm.customers (id, name, tier, email, time_zone, locale, rep_id, consent_email, created_at, active)
          VALUES (4, 'Pago Follow', 'A', 'pf@example.com', 'Pacific/Pago_Pago', 'en', 2, true, '2020-01-01', true);
          INSERT INTO crm.interactions (customer_id, rep_id, kind, happened_at) VALUES (4, 2, 'call', '2027-02-20T20:00:00Z')" >/dev/null
FU=$T_TMP/follow.conf
rapport_config "$FU" 'follow_ups: { effective_from = "2020-01-01"; tier_a_reminder = true; }; digest: { effective_from = "2020-01-01"; };'
out=$("$RAPPORTCTL" --config "$FU" run follow_ups --dry-run --now 2027-02-27T19:00:00Z 2>&1)
assert_contains "$out" "the last contact was on 2027-02-21, 7 days ago" "reminder: last contact in the rep's zone"
out=$("$RAPPORTCTL" --config "$FU" preview digest --rep 2 --now 2027-02-27T19:00:00Z 2>&1)
assert_contains "$out" "Pago Follow [A]: due today, last contact 2027-02-21" "digest: the same dates as the reminder"

# A customer whose rep has left is never pointed at that rep; the manager
# is told the rep is no longer active.
psql_val "INSERT INTO crm.reps (id, name, email, phone, time_zone, locale, digest_hour, manager_id, active) VALUES
            (3, 'Boss', 'boss@example.com', NULL, 'UTC', 'en', 8, NULL, true),
            (4, 'Ivan Gone', 'ivan@example.com', '+12125550177', 'UTC', 'en', 8, 3, false);
          INSERT INTO crm.customers (id, name, tier, email, time_zone, locale, rep_id, consent_email, created_at, active)
            VALUES (5, 'Ada Owes', 'B', 'ada@example.com', 'UTC', 'en', 4, true, '2020-01-01', true);
          INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on) VALUES
            (5, 'INV-A1', 100, 'EUR', '2027-01-01', '2027-03-09'), (5, 'INV-A2', 900, 'EUR', '2026-12-01', '2027-01-09')" >/dev/null
AR=$T_TMP/ar.conf
rapport_config "$AR" 'receivables: { effective_from = "2020-01-01"; };'
out=$("$RAPPORTCTL" --config "$AR" run receivables --dry-run --now 2027-03-10T12:00:00Z 2>&1)
assert_contains "$out" "=== email to Ada Owes" "a reminder to the customer of a rep who has left ..."
to_ada=$(awk '/^=== /{p = /to Ada Owes/} p' <<<"$out")
assert_contains "$to_ada" "INV-A2" "(the customer's own message)"
assert_not_contains "$to_ada" "Ivan" "... does not name that rep"
assert_contains "$out" "a customer of Ivan Gone (no longer active)" "the manager's escalation says the rep is inactive"

# A holiday's name in each customer's language (names), the configured
# one otherwise; a bad language tag is a configuration error.
psql_val "INSERT INTO crm.customers (id, name, tier, email, time_zone, locale, rep_id, consent_email, created_at, active) VALUES
            (6, 'Eve English', 'B', 'eve@example.com', 'UTC', 'en', 1, true, '2020-01-01', true),
            (7, '王芳', 'B', 'wf@example.cn', 'Asia/Shanghai', 'zh-CN', 1, true, '2020-01-01', true),
            (8, 'Fritz Deutsch', 'B', 'fritz@example.de', 'UTC', 'de', 1, true, '2020-01-01', true),
            (9, 'Posix Pat', 'B', 'pat@example.com', 'UTC', 'en_US.UTF-8', 1, true, '2020-01-01', true),
            (10, '李娜', 'B', 'ln@example.cn', 'Asia/Shanghai', 'zh_cn', 1, true, '2020-01-01', true)" >/dev/null
HN=$T_TMP/holiday-names.conf
rapport_config "$HN" 'holidays: { effective_from = "2020-01-01"; channels = [ "email" ];
  dates = ( { name = "Chinese New Year"; names = { EN = "Spring Festival"; zh-CN = "春节"; }; date = "2027-02-06"; template = "holiday"; } ); };'
out=$("$RAPPORTCTL" --config "$HN" run holidays --dry-run --now 2027-02-06T12:00:00Z 2>&1)
assert_contains "$out" "Subject: Warm wishes for Spring Festival, Eve English" "names: the English name to an English reader"
assert_contains "$out" "Subject: 王芳，春节快乐！" "the configured name to a Chinese reader"
assert_contains "$out" "Warm wishes for Chinese New Year, Fritz Deutsch" "no name for the language: the configured one (German falls back to the English template)"
assert_contains "$out" "Warm wishes for Spring Festival, Posix Pat" "a POSIX locale (en_US.UTF-8) reads names.EN: case, '_', codeset and country do not matter"
assert_contains "$out" "Subject: 李娜，春节快乐！" "locale zh_cn reads names.zh-CN"
BADN=$T_TMP/holiday-badnames.conf
rapport_config "$BADN" 'holidays: { dates = ( { name = "春节"; names = { e = "Spring Festival"; }; date = "2027-02-06"; } ); };'
assert_exit 78 "names: a key that is not a language tag" -- "$RAPPORTD" --config "$BADN" -n
assert_contains "$T_OUT" "'e' is not a language tag" "... names the bad key"

# Two ladder levels on the same day, channel and audience: one would never
# be sent.
BAD=$T_TMP/ladder.conf
rapport_config "$BAD" 'receivables: { levels = (
    { days = 60; audience = "rep"; channels = [ "email" ]; template = "dunning_rep_call"; },
    { days = 60; audience = "rep"; channels = [ "sms", "email" ]; template = "dunning_manager"; } ); };'
assert_exit 78 "two levels on the same day, channel and audience: configuration error" -- "$RAPPORTD" --config "$BAD" -n
assert_contains "$T_OUT" "days = 60 on email to the rep is already levels[0]" "... naming the level and why"
OK=$T_TMP/ladder-ok.conf
rapport_config "$OK" 'receivables: { levels = (
    { days = 60; audience = "customer"; channels = [ "sms" ]; template = "dunning_firm"; },
    { days = 60; audience = "manager"; channels = [ "email" ]; template = "dunning_manager"; } ); };'
assert_exit 0 "the same day on different channels is fine" -- "$RAPPORTD" --config "$OK" -n
OK2=$T_TMP/ladder-ok2.conf
rapport_config "$OK2" 'receivables: { levels = (
    { days = 60; audience = "rep"; channels = [ "email" ]; template = "dunning_rep_call"; },
    { days = 60; audience = "manager"; channels = [ "email" ]; template = "dunning_manager"; } ); };'
assert_exit 0 "the same day and channel to different audiences is fine" -- "$RAPPORTD" --config "$OK2" -n
# A rep call cancelled at send time because the rep has left since planning
# gives the invoice back: the next run chases it through the manager
# standing in, instead of never (the ledger said it was chased).
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, manager_id, active) VALUES
 (20, 'Manny Manager', 'manny@example.com', 'UTC', 'en', 8, NULL, true),
 (21, 'Leaving Rep', 'leaving@example.com', 'UTC', 'en', 8, 20, true);
INSERT INTO crm.customers (id, name, tier, email, time_zone, locale, rep_id, consent_email, created_at, active) VALUES
 (20, 'Late Payer', 'B', 'late@example.com', 'UTC', 'en', 21, true, '2020-01-01', true);
INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on) VALUES
 (20, 'INV-LEAVE', 100, 'EUR', '2026-10-01', '2026-10-31');
SQL
RC=$T_TMP/rep-call.conf
rapport_config "$RC" 'receivables: { effective_from = "2020-01-01"; levels = (
    { days = 30; audience = "rep"; channels = [ "email" ]; template = "dunning_rep_call"; } ); };'
recv() { psql_val "SELECT coalesce(string_agg(recipient || ':' || state, ',' ORDER BY id), '') FROM rapport.outbox WHERE job = 'receivables' AND customer_id = 20"; }
assert_exit 0 "rep call planned" -- "$RAPPORTCTL" --config "$RC" run receivables --now 2026-11-30T08:00:00Z
assert_eq "leaving@example.com:queued" "$(recv)" "the rep call goes to the owning rep"
psql_val "UPDATE crm.reps SET active = false WHERE id = 21" >/dev/null
assert_exit 0 "sending after the rep left" -- "$RAPPORTD" --config "$RC" --once --now 2026-11-30T10:05:00Z
assert_eq "leaving@example.com:cancelled" "$(recv)" "... cancelled at send time: the rep has left"
assert_exit 0 "the next run" -- "$RAPPORTCTL" --config "$RC" run receivables --now 2026-11-30T10:10:00Z
assert_eq "leaving@example.com:cancelled,manny@example.com:queued" "$(recv)" \
    "the invoice is chased again, through the manager standing in"
assert_exit 0 "and again" -- "$RAPPORTCTL" --config "$RC" run receivables --now 2026-11-30T10:15:00Z
assert_eq "leaving@example.com:cancelled,manny@example.com:queued" "$(recv)" "... once"

# A job's still-due check that cannot run (here: the CRM lost a column it
# reads) holds the message back for a retry; it is never sent on a guess
# (the complaint may have been resolved).
alert=$(psql_val "INSERT INTO rapport.outbox (job, channel, audience, rep_id, customer_id, recipient, template, locale, time_zone,
                   context, dedupe_key, not_before, next_attempt_at)
                  VALUES ('complaints', 'email', 'rep', 20, 20, 'manny@example.com', 'complaint_overdue', 'en', 'UTC',
                   '{\"complaint\": {\"id\": 1}, \"customer\": {\"name\": \"Late Payer\"}}', 'complaint:1:rep',
                   '2026-11-30T10:00:00Z', '2026-11-30T10:00:00Z') RETURNING id")
RC2=$T_TMP/no-jobs.conf
rapport_config "$RC2" 'receivables: { enabled = false; }; complaints: { enabled = false; };'
psql_val "ALTER TABLE crm.complaints RENAME COLUMN resolved_at TO resolved_at_gone" >/dev/null
assert_exit 0 "sending while the still-due check fails" -- "$RAPPORTD" --config "$RC2" --once --now 2026-11-30T10:20:00Z
assert_eq "queued:the job's still-due check failed" "$(psql_val "SELECT state || ':' || last_error FROM rapport.outbox WHERE id = $alert")" \
    "still-due check failed: retried later, not sent"
psql_val "ALTER TABLE crm.complaints RENAME COLUMN resolved_at_gone TO resolved_at" >/dev/null

# The earliest activity a late dormancy alert can come from: last activity
# at 00:30 on 2027-05-10 in Kiritimati (UTC+14, 2027-05-09 10:30Z), so
# dormant (tier A) on 2027-06-09; the rep is in UTC-12 and alerts go at
# 23:30, so it is due at 2027-06-10 11:30Z and may still go until
# 2027-06-13 11:30Z (max_lateness 3 days).  At 11:00Z that day, a first run
# (after downtime) must still read that activity: 50 hours before the
# lateness window, not 48.
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES
 (40, 'West Most', 'westmost@example.com', 'Etc/GMT+12', 'en', 8, true);
INSERT INTO crm.customers (id, name, tier, email, time_zone, locale, rep_id, consent_email, created_at, active) VALUES
 (40, 'East Most', 'A', 'eastmost@example.com', 'Pacific/Kiritimati', 'en', 40, true, '2020-01-01', true);
INSERT INTO crm.interactions (customer_id, rep_id, kind, happened_at) VALUES (40, 40, 'visit', '2027-05-09T10:30:00Z');
SQL
DC=$T_TMP/dormant-late.conf
rapport_config "$DC" 'dormant: { effective_from = "2020-01-01"; send_at = "23:30"; max_lateness = "3d"; };'
assert_exit 0 "a late first run" -- "$RAPPORTCTL" --config "$DC" run dormant --now 2027-06-13T11:00:00Z
assert_eq "dormant:40:2027-05-10|westmost@example.com|2027-06-10 11:30:00+00" \
    "$(psql_val "SELECT string_agg(dedupe_key || '|' || recipient || '|' || not_before, ',') FROM rapport.outbox WHERE customer_id = 40")" \
    "a dormancy alert half an hour inside max_lateness, across 26 hours of zones, is planned"

# A follow-up reminder across a spring-forward: the rep's last call was at
# 23:59:30 on 2027-03-10 in New York (EST, 04:59:30Z on the 11th); tier A
# (7 days): due on 2027-03-17, at send_at 00:00 EDT (04:00Z), and with
# max_lateness 30m it may go until 04:30Z.  A run at 04:30Z (00:30 there)
# must find that call: contact + 7 days is only 00:30 on the 17th UTC, but
# the rep's offset grew an hour since (the UTC window stopped at now - 6
# days, 04:30Z on the 11th, and a run every half hour lost the reminder).
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES
 (41, 'Dee Ess', 'dst@example.com', 'America/New_York', 'en', 8, true);
INSERT INTO crm.customers (id, name, tier, email, time_zone, locale, rep_id, consent_email, created_at, active) VALUES
 (41, 'Late Caller', 'A', 'late-caller@example.com', 'America/New_York', 'en', 41, true, '2020-01-01', true);
INSERT INTO crm.interactions (customer_id, rep_id, kind, happened_at) VALUES (41, 41, 'call', '2027-03-11T04:59:30Z');
SQL
FD=$T_TMP/follow-dst.conf
rapport_config "$FD" 'follow_ups: { effective_from = "2020-01-01"; tier_a_reminder = true; send_at = "00:00"; max_lateness = "30m"; };'
assert_exit 0 "a run half an hour after the rep's midnight" -- "$RAPPORTCTL" --config "$FD" run follow_ups --now 2027-03-17T04:30:00Z
assert_eq "follow_up:41:2027-03-17|dst@example.com|2027-03-17 04:00:00+00" \
    "$(psql_val "SELECT string_agg(dedupe_key || '|' || recipient || '|' || not_before, ',') FROM rapport.outbox WHERE customer_id = 41")" \
    "a follow-up due after a spring-forward is planned on the rep's due date, inside max_lateness"

# The dates of complaints in a digest are the rep's, as every date a
# template gets: a complaint opened at 12:00Z on Apr 1 was opened on Apr 2
# in Kiritimati (02:00), for the rep's own complaint and for the one a
# manager there sees escalated from the team (to_char of the timestamptz
# gave the session's UTC date, Apr 1; found by test_digest_reference).
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES
 (42, 'Kiri Boss', 'kiri-boss@example.com', 'Pacific/Kiritimati', 'en', 8, true),
 (43, 'Team Rep', 'team-rep@example.com', 'UTC', 'en', 8, true);
UPDATE crm.reps SET manager_id = 42 WHERE id = 43;
INSERT INTO crm.customers (id, name, tier, email, time_zone, locale, rep_id, consent_email, created_at, active) VALUES
 (42, 'Kiri Complainer', 'A', 'kc42@example.com', 'Pacific/Kiritimati', 'en', 42, true, '2020-01-01', true),
 (43, 'Team Complainer', 'A', 'tc43@example.com', 'UTC', 'en', 43, true, '2020-01-01', true);
INSERT INTO crm.complaints (id, customer_id, severity, summary, opened_at) VALUES
 (42, 42, 'critical', 'Broken', '2027-04-01T12:00:00Z'), (43, 43, 'critical', 'Late', '2027-04-01T12:00:00Z');
SQL
cp -r "$T_ROOT/templates" "$T_TMP/tpl-opened"
printf '%s\n' 'Subject: digest' '' \
    '{{#complaints}}{{#items}}complaint #{{id}} opened {{opened_on}}{{/items}}{{/complaints}}' \
    '{{#escalations}}{{#items}}{{#complaint}}escalated #{{id}} opened {{opened_on}}{{/complaint}}{{/items}}{{/escalations}}' \
    >"$T_TMP/tpl-opened/digest.email.en.mustache"
DO=$T_TMP/digest-opened.conf
TEMPLATES_DIR=$T_TMP/tpl-opened rapport_config "$DO" 'digest: { effective_from = "2020-01-01"; };'
out=$("$RAPPORTCTL" --config "$DO" preview digest --rep 42 --now 2027-04-02T18:00:00Z 2>&1)
assert_contains "$out" "complaint #42 opened 2027-04-02" "digest: a complaint's opened_on is the rep's date"
assert_contains "$out" "escalated #43 opened 2027-04-02" "digest: an escalated complaint's opened_on is the manager's date"

# A late digest across a spring-forward: Antarctica/Troll goes from +00 to
# +02 at 01:00Z on 2027-03-28.  The 23:00 digest of Sat the 27th (23:00Z)
# with max_lateness 1d may go until 23:00Z on the 28th, which is 01:00 on
# Mon the 29th there: a run at 22:30Z (00:30 on the 29th) must still plan
# it, beside the 28th's own (21:00Z).  Planning looked only as many local
# days back as the lateness spans, and lost it (found by
# test_digest_reference: a New York rep at 23:00, the last second of the
# window).
psql_val "INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active)
          VALUES (44, 'Troll Rep', 'troll@example.com', 'Antarctica/Troll', 'en', 23, true)" >/dev/null
DT=$T_TMP/digest-troll.conf
rapport_config "$DT" 'digest: { effective_from = "2020-01-01"; max_lateness = "1d"; send_empty = true; };'
assert_exit 0 "a digest run half an hour after the rep's midnight" -- "$RAPPORTCTL" --config "$DT" run digest --now 2027-03-28T22:30:00Z
assert_eq "digest:44:2027-03-27|2027-03-27 23:00:00+00,digest:44:2027-03-28|2027-03-28 21:00:00+00" \
    "$(psql_val "SELECT string_agg(dedupe_key || '|' || not_before, ',' ORDER BY dedupe_key) FROM rapport.outbox WHERE rep_id = 44")" \
    "a digest still inside max_lateness two local dates later (a spring-forward) is planned"

# A satisfaction survey across a spring-forward: the complaint was resolved
# at 23:59:30 on 2027-03-13 in New York (EST, 04:59:30Z on the 14th);
# survey_after_days 2: the survey day is 2027-03-15, at send_at 00:00 EDT
# (04:00Z), and with max_lateness 30m it may go until 04:30Z.  Sunday had
# 23 hours there, so at 04:30Z only 23.5 hours have passed since the
# resolution: a UTC window ending survey_after_days - 1 days before now
# did not see it, and runs every 15 minutes lost the survey.
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES
 (52, 'Sue Vey', 'survey-rep@example.com', 'America/New_York', 'en', 8, true);
INSERT INTO crm.customers (id, name, tier, email, time_zone, locale, rep_id, consent_email, created_at, active) VALUES
 (52, 'Late Resolved', 'B', 'late-resolved@example.com', 'America/New_York', 'en', 52, true, '2020-01-01', true);
INSERT INTO crm.complaints (id, customer_id, severity, summary, opened_at, resolved_at) VALUES
 (52, 52, 'normal', 'Late delivery', '2027-03-13T20:00:00Z', '2027-03-14T04:59:30Z');
SQL
SV=$T_TMP/survey-dst.conf
rapport_config "$SV" 'complaints: { effective_from = "2020-01-01"; send_at = "00:00"; max_lateness = "30m"; survey_after_days = 2; };'
assert_exit 0 "a run half an hour after the customer's midnight" -- "$RAPPORTCTL" --config "$SV" run complaints --now 2027-03-15T04:30:00Z
assert_eq "survey:email:52|late-resolved@example.com|2027-03-15 04:00:00+00" \
    "$(psql_val "SELECT string_agg(dedupe_key || '|' || recipient || '|' || not_before, ',') FROM rapport.outbox WHERE customer_id = 52")" \
    "a survey due after a spring-forward is planned on its day, inside max_lateness"

# A survey on a day of 25 hours: resolved on 2027-11-05 in New York,
# survey_after_days 2: the survey day is 2027-11-07, when the clocks go
# back, at send_at 23:30 EST (04:30Z on the 8th).  A run at 00:10 EDT that
# day (04:10Z) is on the survey day and must plan it, though its send time
# is 24 h 20 min ahead ("within a day" is not "on the day").
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.customers (id, name, tier, email, time_zone, locale, rep_id, consent_email, created_at, active) VALUES
 (53, 'Long Day', 'B', 'long-day@example.com', 'America/New_York', 'en', 52, true, '2020-01-01', true);
INSERT INTO crm.complaints (id, customer_id, severity, summary, opened_at, resolved_at) VALUES
 (53, 53, 'normal', 'Wrong size', '2027-11-05T12:00:00Z', '2027-11-05T16:00:00Z');
SQL
SL=$T_TMP/survey-long-day.conf
rapport_config "$SL" 'complaints: { effective_from = "2020-01-01"; send_at = "23:30"; max_lateness = "1d"; survey_after_days = 2; };'
assert_exit 0 "a run ten minutes into the survey day" -- "$RAPPORTCTL" --config "$SL" run complaints --now 2027-11-07T04:10:00Z
assert_eq "survey:email:53|long-day@example.com|2027-11-08 04:30:00+00" \
    "$(psql_val "SELECT string_agg(dedupe_key || '|' || recipient || '|' || not_before, ',') FROM rapport.outbox WHERE customer_id = 53")" \
    "a survey is planned from the start of its day, even a day of 25 hours"

t_summary
