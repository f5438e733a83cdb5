#!/usr/bin/env bash
# effective_from left to its default: the day the job is first enabled,
# in each recipient's own calendar.  A customer west of UTC whose birthday
# it still is when the job is switched on is greeted, on both sides of the
# date line; one whose birthday was the day before there is not, even
# within max_lateness (London), nor one whose day is long over (Shanghai).
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
smtp_start
CONF=$T_TMP/rapport.conf
rapport_config "$CONF" 'birthdays: { schedule = "0 * * * *"; send_at = "09:00"; channels = [ "email" ]; max_lateness = "1d"; };
    receivables: { schedule = "0 * * * *"; send_at = "09:00"; max_lateness = "3d";
                   levels = ( { days = 1; audience = "customer"; channel = "email"; template = "dunning_friendly"; } ); };'
"$RAPPORTCTL" --config "$CONF" migrate >/dev/null
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES
 (1, 'Rep', 'rep@example.com', 'UTC', 'en', 8, true);
INSERT INTO crm.customers (id, name, tier, email, birthday, time_zone, locale, rep_id, consent_email, consent_sms, active) VALUES
 (1, 'Sina Pago', 'B', 'sina@example.as', '1980-11-22', 'Pacific/Pago_Pago', 'en', 1, true, false, true),
 (2, 'Teuea Kiri', 'B', 'teuea@example.ki', '1980-11-23', 'Pacific/Kiritimati', 'en', 1, true, false, true),
 (3, 'Li Shanghai', 'B', 'li@example.cn', '1980-11-22', 'Asia/Shanghai', 'en', 1, true, false, true),
 (4, 'Lou London', 'B', 'lou@example.co.uk', '1980-11-22', 'Europe/London', 'en', 1, true, false, true);
SQL
# 03:00Z on the 23rd: 16:00 on the 22nd in Pago Pago (UTC-11), 17:00 on the
# 23rd in Kiritimati (UTC+14), 11:00 on the 23rd in Shanghai, 03:00 on the
# 23rd in London (whose greeting of the 22nd, at 09:00 then, would still be
# inside max_lateness = 1d).
# A dry run before the job was ever enabled shows what that first run will
# send: the same default effective_from (it leaves no trace of its own).
out=$("$RAPPORTCTL" --config "$CONF" run birthdays --dry-run --now 2026-11-23T03:00:00Z 2>&1)
assert_eq "Sina Pago,Teuea Kiri" "$(grep -oE '^=== email to [^<]+' <<<"$out" | sed 's/^=== email to //; s/ *$//' | sort | paste -sd,)" \
    "dry run before the first: the same greetings the first run sends"
assert_eq "0" "$(psql_val "SELECT count(*) FROM rapport.job_state")" "... and the job is still not enabled by it"
assert_exit 0 "first run, job just enabled" -- "$RAPPORTD" --config "$CONF" --once --now 2026-11-23T03:00:00Z
wait_for_mail 2 10 || true
assert_eq "2026-11-22|2026-11-23 03:00:00+00" "$(psql_val "SELECT first_enabled || '|' || first_enabled_at FROM rapport.job_state WHERE job = 'birthdays'")" \
    "first enabled: the instant, and the earliest date anywhere then"
assert_eq "Sina Pago <sina@example.as>,Teuea Kiri <teuea@example.ki>" "$(mail_json | jq -r '[.[].to] | sort | join(",")')" \
    "greeted: Pago Pago (still the 22nd there) and Kiritimati (the 23rd); not London or Shanghai, whose 22nd was before the job"
# The same for every job: a dunning level reached in London on the 22nd
# (before the job) is not chased, one reached on the 23rd is.
psql_val "INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on) VALUES
          (4, 'INV-OLD', 10, 'GBP', '2026-10-01', '2026-11-21'), (4, 'INV-NEW', 20, 'GBP', '2026-10-01', '2026-11-22')" >/dev/null
assert_exit 0 "receivables: first run" -- "$RAPPORTCTL" --config "$CONF" run receivables --now 2026-11-23T03:00:00Z
assert_eq "INV-NEW" "$(psql_val "SELECT string_agg(invoice_number, ',') FROM rapport.dunning_items")" \
    "receivables: the level reached on the 23rd in London is chased, not the one of the 22nd"
t_summary
