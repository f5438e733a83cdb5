#!/usr/bin/env bash
# The fault suite (`make faults`): rapport under crashes, restarts and
# outages, proving "nothing lost, nothing doubled" with counts.  Each
# scenario queues N messages (one per distinct recipient), breaks something
# while they are being sent, lets the system recover, then reads every
# delivered message back from the SMTP sink and prints
#     scenario: sent=N lost=N duplicated=N
# It fails on any loss, or on more duplicates than the scenario declares
# possible (at-least-once at the SMTP boundary: a message whose 250 reply
# was lost in a crash is sent again — at most one per connection in flight).
#   FAULT_N=10000 (messages per scenario)   FAULT_DOWN=60 (outage seconds)
#   tests/faults/faults.sh [SCENARIO...]
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"
N=${FAULT_N:-10000}
DOWN=${FAULT_DOWN:-60}
CONNS=8

rapport_db
smtp_start
LEASE=15s OUTBOX_EXTRA='max_age = "1d"; batch = 200;' EMAIL_EXTRA="" rapport_config "$T_TMP/rapport.conf" \
    'birthdays: { enabled = false; };'
sed -i "s/connections = 4;/connections = $CONNS;/; s/retry = \[ 1, 1, 1 \]; max_attempts = 4;/retry = [ 1, 2, 4 ]; max_attempts = 50;/" "$T_TMP/rapport.conf"
CONF=$T_TMP/rapport.conf
"$RAPPORTCTL" --config "$CONF" migrate >/dev/null
psql -XAtq -c "INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES (1, 'Fault Rep', 'rep@example.com', 'UTC', 'en', 8, true)"
cp "$CONF" "$T_TMP/good.conf"

# queue N messages for scenario $1, recipients $1-<i>@example.com
queue() {
    psql -XAtq -v ON_ERROR_STOP=1 -c "
      INSERT INTO rapport.outbox (job, channel, audience, rep_id, recipient, recipient_name, template, locale, time_zone,
                                  context, dedupe_key, not_before, next_attempt_at)
      SELECT 'fault', 'email', 'rep', 1, '$1-' || i || '@example.com', 'Fault ' || i, 'birthday', 'en', 'UTC',
             jsonb_build_object('customer', jsonb_build_object('name', 'Fault ' || i)),
             '$1:' || i, now(), now()
      FROM generate_series(1, $N) AS i"
}

delivered_counts() { # prints "distinct total" for scenario $1
    find "$SMTP_MAILDIR/new" -type f -print0 | xargs -0 -r grep -h -m1 -i "^X-Envelope-To: <$1-" 2>/dev/null |
        awk '{t++; if (!seen[$0]++) d++} END {printf "%d %d\n", d+0, t+0}'
}

done_count() { psql_val "SELECT count(*) FROM rapport.outbox WHERE job = 'fault' AND dedupe_key LIKE '$1:%' AND state IN ('sent', 'failed', 'cancelled')"; }
all_done() { [[ $(done_count "$1") -ge $N ]]; }
some_sent() { [[ $(psql_val "SELECT count(*) FROM rapport.outbox WHERE dedupe_key LIKE '$1:%' AND state = 'sent'") -ge $2 ]]; }

report() { # scenario, allowed duplicates
    local d t failed
    read -r d t < <(delivered_counts "$1")
    failed=$(psql_val "SELECT count(*) FROM rapport.outbox WHERE dedupe_key LIKE '$1:%' AND state <> 'sent'")
    local lost=$((N - d)) dup=$((t - d))
    printf '%s: sent=%d lost=%d duplicated=%d\n' "$1" "$d" "$lost" "$dup"
    assert_eq 0 "$lost" "$1: nothing lost"
    assert_eq 0 "$failed" "$1: every message ends sent"
    if ((dup <= $2)); then t_pass "$1: duplicates $dup <= $2 allowed"; else t_fail "$1: duplicates" "$dup > $2 allowed"; fi
}

start_daemon() { t_spawn "$1" "$RAPPORTD" --config "${2:-$CONF}"; }
wait_done() { wait_until "all_done $1" "${2:-600}" || t_fail "$1: finished in time" "$(done_count "$1") of $N done"; }

scenario_kill9() {
    queue kill9
    start_daemon d1
    wait_until "some_sent kill9 $((N / 4))" 300
    kill -9 "${_T_PIDS[d1]}"; t_stop d1
    start_daemon d2          # its leases expired or not, the survivor's restart picks up
    wait_done kill9
    t_stop d2
    report kill9 "$CONNS"
}

scenario_three() {
    queue three
    start_daemon a; start_daemon b; start_daemon c
    wait_done three
    t_stop a; t_stop b; t_stop c
    report three 0
    local inst
    inst=$(psql_val "SELECT count(DISTINCT leased_by) FROM rapport.outbox WHERE dedupe_key LIKE 'three:%'")
    echo "three: shared by $inst instance(s) (last lease holders)"
}

scenario_pg_restart() {
    queue pgrestart
    start_daemon d
    wait_until "some_sent pgrestart $((N / 4))" 300
    pg_stop fast
    pg_restart_server
    wait_done pgrestart
    t_stop d
    report pgrestart "$CONNS"
}

scenario_pg_down_at_start() {
    queue pgdown
    pg_stop fast
    start_daemon d
    local t0=$SECONDS
    while ((SECONDS - t0 < DOWN / 2)); do wait_until "false" 1 2>/dev/null; done # the outage itself
    kill -0 "${_T_PIDS[d]}" 2>/dev/null && t_pass "pgdown: daemon survives a database down at start" || t_fail "pgdown: daemon alive" "exited"
    pg_restart_server
    wait_done pgdown
    t_stop d
    report pgdown 0
}

scenario_smtp_down() {
    queue smtpdown
    start_daemon d
    wait_until "some_sent smtpdown $((N / 10))" 300
    smtp_stop
    local t0=$SECONDS
    while ((SECONDS - t0 < DOWN)); do wait_until "false" 1 2>/dev/null; done # the outage itself
    smtp_restart
    wait_done smtpdown
    t_stop d
    report smtpdown "$CONNS"
}

scenario_sighup_broken() {
    queue sighup
    start_daemon d
    wait_until "some_sent sighup $((N / 10))" 300
    printf 'this is { not a config\n' >"$CONF"
    kill -HUP "${_T_PIDS[d]}"
    wait_until "grep -q 'Reload failed' '$(t_log d)'" 30 && t_pass "sighup: broken reload refused" || t_fail "sighup: reload refused" ""
    wait_done sighup
    t_stop d
    cp "$T_TMP/good.conf" "$CONF"
    report sighup 0
}

scenarios=("$@")
((${#scenarios[@]})) || scenarios=(kill9 three pg_restart pg_down_at_start smtp_down sighup_broken)
for s in "${scenarios[@]}"; do
    start=$SECONDS
    "scenario_$s"
    echo "($s took $((SECONDS - start)) s)"
done
t_summary
