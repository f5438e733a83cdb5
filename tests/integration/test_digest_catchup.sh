#!/usr/bin/env bash
# After downtime, with a digest max_lateness over a day, every missed day's
# digest is still due: the rep gets the latest one, built now, not one per
# missed day at once.  The older ones are cancelled as superseded; a day
# whose digest went out stays sent.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
smtp_start
CONF=$T_TMP/rapport.conf
rapport_config "$CONF" 'digest: { schedule = "*/15 * * * *"; effective_from = "2026-01-01"; max_lateness = "3d"; send_empty = true; };'
"$RAPPORTCTL" --config "$CONF" migrate >/dev/null
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES
 (1, 'Rep One', 'one@example.com', 'UTC', 'en', 8, true),
 (2, 'Rep Two', 'two@example.com', 'UTC', 'en', 8, true);
INSERT INTO crm.customers (id, name, tier, email, next_follow_up, time_zone, locale, rep_id, consent_email, consent_sms, active, created_at) VALUES
 (1, 'Due Customer', 'B', 'c1@example.com', '2026-11-20', 'UTC', 'en', 1, true, false, true, '2020-01-01');
SQL
# Rep two had the digest of the 21st (the daemon ran then, for rep two
# only; the 19th's and 20th's, due too within max_lateness, gave way to it).
psql_val "UPDATE crm.reps SET active = false WHERE id = 1" >/dev/null
assert_exit 0 "the 21st, 08:05: rep two's digest" -- "$RAPPORTD" --config "$CONF" --once --now 2026-11-21T08:05:00Z
psql_val "UPDATE crm.reps SET active = true WHERE id = 1" >/dev/null
wait_for_mail 1 10 || true
# Down from then to the 23rd, 10:00: the 21st (rep one), 22nd and 23rd are due.
assert_exit 0 "back on the 23rd, 10:00" -- "$RAPPORTD" --config "$CONF" --once --now 2026-11-23T10:00:00Z
wait_for_mail 3 10 || true
assert_eq "one@example.com|2026-11-23
two@example.com|2026-11-21
two@example.com|2026-11-23" \
    "$(psql_val "SELECT string_agg(recipient || '|' || (context->>'date'), E'\n' ORDER BY recipient, context->>'date') FROM rapport.outbox WHERE state = 'sent'")" \
    "each rep gets the latest digest; the one already sent stays"
assert_eq "one@example.com|2026-11-21|superseded by the digest of 2026-11-23
one@example.com|2026-11-22|superseded by the digest of 2026-11-23
two@example.com|2026-11-19|superseded by the digest of 2026-11-21
two@example.com|2026-11-20|superseded by the digest of 2026-11-21
two@example.com|2026-11-22|superseded by the digest of 2026-11-23" \
    "$(psql_val "SELECT string_agg(recipient || '|' || (context->>'date') || '|' || last_error, E'\n' ORDER BY recipient, context->>'date') FROM rapport.outbox WHERE state = 'cancelled'")" \
    "the missed days' digests are cancelled as superseded"
assert_eq "3" "$(mail_count)" "three digests in the sink: none per missed day"
assert_contains "$(mail_json | jq -r '[.[] | select(.to | test("one@"))][0].text')" "Due Customer" "the latest digest lists what is due now"
t_summary
