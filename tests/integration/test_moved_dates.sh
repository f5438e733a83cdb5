#!/usr/bin/env bash
# The CRM (or the configuration) moves the date a planned message was for,
# between planning and sending: the still-due check at send time cancels
# it, and the corrected date is sent when it comes, once.
#   - a tier-A follow-up reminder whose next_follow_up moved to a later day
#     (cadence not exceeded), and one whose customer is no longer tier A;
#   - a birthday corrected to another day: no greeting on the old day, one
#     on the new (the key names the year: the cancel sets it aside);
#   - an invoice whose term was extended: no "past due" reminder for it now,
#     the reminder when the new due date brings the level (the ledger row
#     is freed);
#   - a holiday whose configured date was corrected: one greeting, on the
#     corrected date;
#   - an invoice whose amount is NaN or Infinity (numerics PostgreSQL
#     accepts) is never chased.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
smtp_start
CONF=$T_TMP/rapport.conf
jobs() { # $1: the holiday's date
    printf '%s' 'follow_ups: { schedule = "0 * * * *"; effective_from = "2026-01-01"; tier_a_reminder = true; send_at = "09:00"; };
    birthdays: { schedule = "0 * * * *"; send_at = "09:00"; channels = [ "email" ]; max_lateness = "1d"; effective_from = "2026-01-01"; };
    receivables: { schedule = "0 * * * *"; send_at = "09:00"; max_lateness = "3d"; effective_from = "2026-01-01";
                   levels = ( { days = 1; audience = "customer"; channel = "email"; template = "dunning_friendly"; } ); };
    holidays: { schedule = "0 * * * *"; send_at = "09:00"; channels = [ "email" ]; effective_from = "2026-01-01"; tiers = [ "C" ];
                dates = ( { name = "Mid-Autumn"; date = "'"$1"'"; template = "mid_autumn"; } ); };'
}
rapport_config "$CONF" "$(jobs 2026-11-23)"
"$RAPPORTCTL" --config "$CONF" migrate >/dev/null
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES
 (1, 'Rep', 'rep@example.com', 'UTC', 'en', 8, true);
INSERT INTO crm.customers (id, name, tier, email, birthday, next_follow_up, time_zone, locale, rep_id, consent_email, consent_sms, active, created_at) VALUES
 (1, 'Postponed', 'A', 'p@example.com', NULL, '2026-11-23', 'UTC', 'en', 1, true, false, true, '2020-01-01'),
 (2, 'Retiered', 'A', 'r@example.com', NULL, '2026-11-23', 'UTC', 'en', 1, true, false, true, '2020-01-01'),
 (3, 'Birthday Moved', 'B', 'b@example.com', '1980-11-23', NULL, 'UTC', 'en', 1, true, false, true, '2020-01-01'),
 (4, 'Term Extended', 'B', 't@example.com', NULL, NULL, 'UTC', 'en', 1, true, false, true, '2020-01-01'),
 (5, 'Not A Number', 'B', 'n@example.com', NULL, NULL, 'UTC', 'en', 1, true, false, true, '2020-01-01'),
 (6, 'Holiday Guest', 'C', 'h@example.com', NULL, NULL, 'UTC', 'en', 1, true, false, true, '2020-01-01');
INSERT INTO crm.interactions (customer_id, rep_id, kind, happened_at) VALUES
 (1, 1, 'call', '2026-11-20 10:00Z'), (2, 1, 'call', '2026-11-20 10:00Z');
INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on) VALUES
 (4, 'E-1', 10, 'USD', '2026-10-23', '2026-11-22'),
 (5, 'NAN-1', 'NaN', 'EUR', '2026-10-23', '2026-11-22'),
 (5, 'INF-1', 'Infinity', 'EUR', '2026-10-23', '2026-11-22');
SQL

for job in follow_ups birthdays receivables holidays; do
    assert_exit 0 "plan $job at midnight" -- "$RAPPORTCTL" --config "$CONF" run "$job" --now 2026-11-23T00:00:00Z
done
assert_eq "birthdays|birthday:email:3:2026
follow_ups|follow_up:1:2026-11-23
follow_ups|follow_up:2:2026-11-23
holidays|holiday:Mid-Autumn:2026-11-23:email:6
receivables|dunning:E-1:1:email" "$(psql_val "SELECT string_agg(job || '|' || dedupe_key, E'\n' ORDER BY job, dedupe_key) FROM rapport.outbox")" \
    "planned at midnight for 09:00: two reminders, a greeting, a dunning notice (not for the NaN invoice) and a holiday greeting"

# Between planning and sending, the CRM and the configuration change.
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
UPDATE crm.customers SET next_follow_up = '2026-11-30' WHERE id = 1;
UPDATE crm.customers SET tier = 'B' WHERE id = 2;
UPDATE crm.customers SET birthday = '1980-12-23' WHERE id = 3;
UPDATE crm.invoices SET due_on = '2026-12-22' WHERE number = 'E-1';
SQL
rapport_config "$CONF" "$(jobs 2026-11-24)"

assert_exit 0 "send at 09:05" -- "$RAPPORTD" --config "$CONF" --once --now 2026-11-23T09:05:00Z
assert_eq "0" "$(mail_count)" "nothing sent for a date that moved"
assert_eq "birthday:email:3:2026|cancelled|the birthday has changed in the CRM since planning
dunning:E-1:1:email|cancelled|the invoice is no longer that far past due: its due date has changed in the CRM
follow_up:1:2026-11-23|cancelled|the follow-up is no longer due: the next follow-up date has changed in the CRM
follow_up:2:2026-11-23|cancelled|the customer is no longer tier A
holiday:Mid-Autumn:2026-11-23:email:6|cancelled|the holiday is no longer configured for 2026-11-23" \
    "$(psql_val "SELECT string_agg(regexp_replace(dedupe_key, ':released:[0-9]+$', '') || '|' || state || '|' || last_error, E'\n' ORDER BY dedupe_key)
                 FROM rapport.outbox WHERE not_before < '2026-11-24'")" \
    "each cancelled with why"
assert_eq "2" "$(psql_val "SELECT count(*) FROM rapport.outbox WHERE dedupe_key LIKE '%:released:%'")" \
    "the birthday's and the invoice's keys set aside (they name the year and the level, not the date)"
assert_eq "0" "$(psql_val "SELECT count(*) FROM rapport.dunning_items WHERE invoice_number = 'E-1'")" \
    "the invoice's ledger row freed"

# The corrected dates, when they come: each sent once.
assert_exit 0 "the corrected holiday" -- "$RAPPORTD" --config "$CONF" --once --now 2026-11-24T09:05:00Z
assert_exit 0 "... run again" -- "$RAPPORTD" --config "$CONF" --once --now 2026-11-24T10:05:00Z
assert_exit 0 "the new due date + 1 and the corrected birthday" -- "$RAPPORTD" --config "$CONF" --once --now 2026-12-23T09:05:00Z
assert_exit 0 "... run again" -- "$RAPPORTD" --config "$CONF" --once --now 2026-12-23T10:05:00Z
wait_for_mail 3 10 || true
assert_eq "Birthday Moved <b@example.com>|2026-12-23
Holiday Guest <h@example.com>|2026-11-24
Term Extended <t@example.com>|2026-12-23" \
    "$(psql_val "SELECT string_agg(recipient_name || ' <' || recipient || '>|' || to_char(not_before, 'YYYY-MM-DD'), E'\n' ORDER BY recipient_name)
                 FROM rapport.outbox WHERE state = 'sent' AND job <> 'follow_ups'")" \
    "the corrected birthday, holiday and due date each sent once, on their day"
assert_eq "Birthday Moved <b@example.com>,Holiday Guest <h@example.com>,Term Extended <t@example.com>" \
    "$(mail_json | jq -r '[.[] | select(.to | test("rep@") | not) | .to] | sort | join(",")')" \
    "the sink saw exactly those three"
assert_eq "0" "$(psql_val "SELECT count(*) FROM rapport.outbox WHERE context::text ~ 'NAN-1|INF-1|NaN|Infinity'")" \
    "the NaN and Infinity invoices never chased"
t_summary
