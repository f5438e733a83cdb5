#!/usr/bin/env bash
# A courtesy level (before the due date) that fires on the day of a later
# level writes in the later level's words, listing the invoices not yet
# due too: the subject and SMS must not call them past due ("2 invoices
# past due", "is 0 days overdue").  Seen through preview, which builds
# the messages as they would be sent.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
CONF=$T_TMP/c.conf
rapport_config "$CONF" 'receivables: { effective_from = "2026-11-23";
  levels = ( { days = -3; audience = "customer"; channels = ["email", "sms"]; template = "dunning_courtesy"; },
             { days = 1; audience = "customer"; channels = ["email", "sms"]; template = "dunning_friendly"; },
             { days = 15; audience = "customer"; channels = ["email", "sms"]; template = "dunning_firm"; } ); };'
assert_exit 0 "migrate" -- "$RAPPORTCTL" --config "$CONF" migrate
# Today (UTC) is 2026-11-23: due 11-26 is at -3, due 11-22 at +1, due 11-08 at +15.
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, phone, time_zone, locale) VALUES (1, 'Rick Rep', 'rick@example.com', '+4915100000001', 'UTC', 'en');
INSERT INTO crm.customers (id, name, tier, email, phone, time_zone, locale, rep_id, consent_email, consent_sms) VALUES
 (1, 'Ann Able', 'B', 'ann@example.com', '+4917600000001', 'UTC', 'en', 1, true, true),
 (2, '王芳', 'B', 'wang@example.cn', '+8613900000002', 'UTC', 'zh-CN', 1, true, true),
 (3, 'Fred Firm', 'B', 'fred@example.com', '+4917600000003', 'UTC', 'en', 1, true, true),
 (4, '李强', 'B', 'li@example.cn', '+8613900000004', 'UTC', 'zh-CN', 1, true, true),
 (5, 'Sam Single', 'B', 'sam@example.com', '+4917600000005', 'UTC', 'en', 1, true, true);
INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on) VALUES
 (1, 'A-SOON', 100, 'USD', '2026-10-27', '2026-11-26'), (1, 'A-LATE', 200, 'USD', '2026-10-23', '2026-11-22'),
 (2, 'W-SOON', 100, 'CNY', '2026-10-27', '2026-11-26'), (2, 'W-LATE', 200, 'CNY', '2026-10-23', '2026-11-22'),
 (3, 'F-SOON', 100, 'USD', '2026-10-27', '2026-11-26'), (3, 'F-LATE', 300, 'USD', '2026-10-09', '2026-11-08'),
 (4, 'L-SOON', 100, 'CNY', '2026-10-27', '2026-11-26'), (4, 'L-LATE', 300, 'CNY', '2026-10-09', '2026-11-08'),
 (5, 'S-LATE', 200, 'USD', '2026-10-23', '2026-11-22');
SQL
NOW=2026-11-23T12:00:00Z
preview() { "$RAPPORTCTL" --config "$CONF" preview receivables --customer "$1" --now "$NOW" 2>&1; }

out=$(preview 1)
assert_contains "$out" "A friendly reminder: 2 open invoices, 1 past due" "friendly with a courtesy invoice: the subject counts what is past due"
assert_not_contains "$out" "2 invoices past due" "... not '2 invoices past due'"
assert_contains "$out" "A-LATE (USD 200.00) was due 2026-11-22. A-SOON (USD 100.00) is due 2026-11-26." "... the SMS: 'was due' and 'is due'"
out=$(preview 2)
assert_contains "$out" "付款提醒：2 张发票待付款，其中 1 张已到期" "zh-CN friendly: the same"
assert_contains "$out" "W-LATE（CNY 200.00）2026-11-22已到期。W-SOON（CNY 100.00）2026-11-26到期。" "... and its SMS"
out=$(preview 3)
assert_contains "$out" "Second reminder: payment overdue on 1 of 2 invoices" "firm with a courtesy invoice: 1 of 2 overdue"
assert_contains "$out" "F-LATE (USD 300.00) is 15 days overdue. F-SOON (USD 100.00) is due 2026-11-26." "... the SMS never says '0 days overdue'"
assert_not_contains "$out" "0 days overdue" "... (nowhere)"
out=$(preview 4)
assert_contains "$out" "第二次付款提醒：2 张发票中 1 张已逾期" "zh-CN firm: the same"
assert_contains "$out" "L-LATE（CNY 300.00）已逾期15天。L-SOON（CNY 100.00）将于2026-11-26到期。" "... and its SMS"
out=$(preview 5)
assert_contains "$out" "A friendly reminder: invoice S-LATE past due" "one invoice past due: the subject as before"

# The courtesy note lists invoices already past due too (their own level
# went out before): its subject then says so.
printf '%s' '{"multiple":true,"invoice_count":2,"overdue_count":1,"any_overdue":true,"all_overdue":false,
  "invoices":[{"number":"X-1","overdue":true},{"number":"X-2","overdue":false}]}' >"$T_TMP/c.json"
assert_eq "2 open invoices, 1 past due" \
    "$("$RAPPORTCTL" render --template "$T_ROOT/templates/dunning_courtesy.email.en.mustache" --data "$T_TMP/c.json" | sed -n '1s/^Subject: //p')" \
    "courtesy with an invoice already past due: the subject says so"
assert_eq "付款提示：2 张发票待付款，其中 1 张已到期" \
    "$("$RAPPORTCTL" render --template "$T_ROOT/templates/dunning_courtesy.email.zh-CN.mustache" --data "$T_TMP/c.json" | sed -n '1s/^Subject: //p')" \
    "... in Chinese too"
printf '%s' '{"multiple":true,"invoice_count":2,"overdue_count":0,"any_overdue":false,"all_overdue":false,
  "invoices":[{"number":"X-1","overdue":false},{"number":"X-2","overdue":false}]}' >"$T_TMP/c.json"
assert_eq "2 invoices are due soon" \
    "$("$RAPPORTCTL" render --template "$T_ROOT/templates/dunning_courtesy.email.en.mustache" --data "$T_TMP/c.json" | sed -n '1s/^Subject: //p')" \
    "courtesy alone: 'due soon'"
t_summary
