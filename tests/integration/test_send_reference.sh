#!/usr/bin/env bash
# Differential test of the dispatcher's send-time rules (quiet hours per
# channel in the recipient's zone, not_before, expires_at, retries with
# jitter, max_attempts, max_age, expired leases) against a reference model
# written from the documented rules (tests/reference/send_reference.py).
# Each seed makes one round: e-mail and SMS quiet hours chosen from windows
# that wrap midnight, start at 00:00 or end inside a DST gap or repeat; one
# instant T at, a second or half an hour either side of a window's edge on a
# day the clocks change in a focus zone (Chatham, Lord Howe, St John's, New
# York, London, Santiago); outbox rows for recipients in every extreme zone
# (UTC-12, Kiritimati's +14, Chatham, Kathmandu, ...) with not_before,
# next_attempt_at and expires_at a second either side of T, some with an
# expired lease, and, in some rounds, an SMS gateway that fails every
# request (5xx, or 429 with Retry-After in seconds or as an HTTP date
# before or after T).  Seeds 1, 16, 19 and 34 found quiet hours ending in a
# DST gap deferred past their end (see test_sms.sh).  One `rapportd --once --now T`;
# then each row's state, attempts and next_attempt_at (within the jitter
# bounds for a retry) and who the sinks received must be the model's.
# A failure prints the seed and the row; `python3
# tests/reference/send_reference.py gen SEED DIR` writes the round
# (rows.sql, now, round.json) and `... expect DIR` the model's outcome.
# SEND_REF_SEEDS overrides the seed list.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

REF=$T_LIB_DIR/reference/send_reference.py
SEEDS=${SEND_REF_SEEDS:-$(seq 1 60)}
export PGOPTIONS='-c client_min_messages=warning'

rapport_db
smtp_start
sms_start
rapport_config "$T_TMP/base.conf" 'birthdays: { enabled = false; };'
"$RAPPORTCTL" --config "$T_TMP/base.conf" migrate >/dev/null
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, time_zone, locale) VALUES (1, 'Alice Rep', 'alice@example.com', 'UTC', 'en');
INSERT INTO crm.customers (id, name, phone, email, time_zone, locale, rep_id, consent_email, consent_sms, active)
VALUES (1, 'Gus', '+12125550100', 'gus@example.com', 'UTC', 'en', 1, true, true, true);
SQL

for seed in $SEEDS; do
    dir=$T_TMP/round-$seed
    mkdir -p "$dir"
    "$T_PY" "$REF" gen "$seed" "$dir"
    "$T_PY" "$REF" conf "$dir" "$T_TMP/base.conf" "$dir/rapport.conf"
    psql -XAtq -v ON_ERROR_STOP=1 -c "TRUNCATE rapport.outbox CASCADE" -f "$dir/rows.sql" >/dev/null
    mapfile -t script <"$dir/script"
    sms_script "${script[@]}"
    mark
    sms_mark
    now=$(cat "$dir/now")
    if ! "$RAPPORTD" --config "$dir/rapport.conf" --once --now "$now" >"$dir/daemon.log" 2>&1; then
        t_fail "seed $seed: rapportd --once --now $now failed: $(tail -3 "$dir/daemon.log")"
        continue
    fi
    psql -XAtq -F '|' -c "SELECT dedupe_key, state, coalesce(extract(epoch FROM next_attempt_at)::bigint::text, ''), attempts
                          FROM rapport.outbox" >"$dir/actual"
    { sms_since | cut -d'|' -f1; who_since | cut -d'|' -f1; } >"$dir/sent"
    diverged=$("$T_PY" "$REF" check "$dir" "$dir/actual" "$dir/sent")
    assert_eq "" "$diverged" "seed $seed (T=$now, focus $(jq -r .focus "$dir/round.json")): outcome of every row as the model's"
done
sms_script

t_summary
