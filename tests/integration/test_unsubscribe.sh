#!/usr/bin/env bash
# One-click unsubscribe links cannot be forged: a marketing e-mail's
# List-Unsubscribe https link (and its unsubscribe_url in the body) carries
# the message's id and a random token; `rapportctl unsubscribe ID TOKEN`
# suppresses that message's recipient only when both match.  Ids are
# sequential: an id alone, or another message's token, unsubscribes no one.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
smtp_start
CONF=$T_TMP/rapport.conf
rapport_config "$CONF"
"$RAPPORTCTL" --config "$CONF" migrate >/dev/null
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES
 (1, 'Rep', 'rep@example.com', 'UTC', 'en', 8, true);
INSERT INTO crm.customers (id, name, tier, email, birthday, time_zone, locale, rep_id, consent_email, consent_sms, active) VALUES
 (1, 'Ann Lee', 'B', 'Ann.Lee@example.com', '1980-11-23', 'UTC', 'en', 1, true, false, true),
 (2, 'Bo Chen', 'B', 'bo@example.com', '1980-11-23', 'UTC', 'zh-CN', 1, true, false, true);
SQL
assert_exit 0 "birthday greetings sent" -- "$RAPPORTD" --config "$CONF" --once --now 2026-11-23T09:05:00Z
wait_for_mail 2 10 || true
ann=$(mail_json | jq -c '.[] | select(.to | test("Ann"))')
link=$(jq -r '.list_unsubscribe' <<<"$ann" | grep -oE '<https://[^>]+>' | tr -d '<>')
assert_contains "$link" "https://example.com/unsubscribe?id=" "the https link names the message"
id=$(sed -nE 's/.*[?&]id=([0-9]+).*/\1/p' <<<"$link")
token=$(sed -nE 's/.*[?&]token=([0-9a-f-]+).*/\1/p' <<<"$link")
assert_eq "36" "${#token}" "... and carries a token (a UUID)"
assert_eq "$(psql_val "SELECT unsubscribe_token FROM rapport.outbox WHERE id = $id")" "$token" "... the message's own"
assert_contains "$(jq -r '.text' <<<"$ann")" "$link" "the body's unsubscribe link is the same"
bo_token=$(psql_val "SELECT unsubscribe_token FROM rapport.outbox WHERE recipient = 'bo@example.com'")
[[ -n $bo_token && $bo_token != "$token" ]] && t_pass "each message has a token of its own" || t_fail "each message has a token of its own: $bo_token"

# Forgeries change nothing.
assert_exit 1 "another message's token" -- "$RAPPORTCTL" --config "$CONF" unsubscribe "$id" "$bo_token"
assert_exit 1 "a token of no message" -- "$RAPPORTCTL" --config "$CONF" unsubscribe "$id" 00000000-0000-4000-8000-000000000000
assert_exit 64 "no token at all" -- "$RAPPORTCTL" --config "$CONF" unsubscribe "$id"
assert_exit 64 "a token that is not one" -- "$RAPPORTCTL" --config "$CONF" unsubscribe "$id" "1 OR 1=1"
assert_exit 64 "an id that is not one" -- "$RAPPORTCTL" --config "$CONF" unsubscribe "x$id" "$token"
assert_eq "0" "$(psql_val "SELECT count(*) FROM rapport.suppression")" "no one suppressed by a forged link"

# The real link.
out=$("$RAPPORTCTL" --config "$CONF" unsubscribe "$id" "${token^^}" 2>&1)
assert_eq "suppressed (email)" "$out" "the link as sent unsubscribes (the token's case does not matter)"
assert_eq "ann.lee@example.com|email|unsubscribed (message $id)" \
    "$(psql_val "SELECT address || '|' || channel || '|' || reason FROM rapport.suppression")" "... its recipient, on its channel"
assert_eq "already suppressed (email)" "$("$RAPPORTCTL" --config "$CONF" unsubscribe "$id" "$token" 2>&1)" "a second click is harmless"
assert_contains "$("$RAPPORTCTL" --config "$CONF" unsubscribe --help)" "Usage: rapportctl unsubscribe MESSAGE-ID TOKEN" "--help"

# Transactional mail has no unsubscribe link and no token to honour.
psql_val "UPDATE rapport.outbox SET marketing = false WHERE recipient = 'bo@example.com'" >/dev/null
bo_id=$(psql_val "SELECT id FROM rapport.outbox WHERE recipient = 'bo@example.com'")
assert_exit 1 "a transactional message's token unsubscribes no one" -- "$RAPPORTCTL" --config "$CONF" unsubscribe "$bo_id" "$bo_token"
t_summary
