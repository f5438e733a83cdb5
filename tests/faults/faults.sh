#!/usr/bin/env bash
# The fault suite (`make faults`): rapport under crashes, restarts and
# outages, proving "nothing lost, nothing doubled" with counts.  Each
# scenario queues N messages (one per distinct recipient), breaks something
# while they are being sent, lets the system recover, then reads every
# delivered message back from the SMTP sink and prints
#     scenario: sent=N lost=N duplicated=N
# It fails on any loss, or on more duplicates than the scenario declares
# possible (at-least-once at the SMTP boundary: a message accepted by the
# server but not yet recorded sent when the daemon dies is sent again — at
# most one per connection in flight, and for kill -9 also the outcomes
# waiting for the recorder, of which rapportd holds at most HELD_MAX).
# Scenarios: kill9 three pg_restart pg_down_at_start smtp_down smtp_slow
# sighup_broken sms_gateway stale_worker clock_skew reload_files (the slow,
# SMS, stale-worker and clock ones use a fraction of N to bound their time).
#   FAULT_N=10000 (messages per scenario)   FAULT_DOWN=60 (outage seconds)
#   FAULT_VERBOSE=1 (show the daemons' logs)
#   tests/faults/faults.sh [SCENARIO...], or FAULTS="SCENARIO..." make faults
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"
N=${FAULT_N:-10000}
DOWN=${FAULT_DOWN:-60}
CONNS=8
# daemon/dispatch.c: outcomes held for the recorder, past which rapportd
# starts nothing more; and up to 4 e-mails waiting behind busy connections.
HELD_MAX=64
WAITING_MAX=4

# fault_config FILE [CONNECTIONS=4] — rapport_config (its environment
# hooks apply) with no jobs and retries that outlast any outage here.
fault_config() {
    rapport_config "$1" 'birthdays: { enabled = false; };'
    sed -i "s/connections = 4;/connections = ${2:-4};/; s/retry = \[ 1, 1, 1 \]; max_attempts = 4;/retry = [ 1, 2, 4 ]; max_attempts = 50;/" "$1"
}

rapport_db
smtp_start
LEASE=15s OUTBOX_EXTRA='max_age = "1d"; batch = 200;' EMAIL_EXTRA="" fault_config "$T_TMP/rapport.conf" "$CONNS"
CONF=$T_TMP/rapport.conf
"$RAPPORTCTL" --config "$CONF" migrate >/dev/null
psql -XAtq -c "INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES (1, 'Fault Rep', 'rep@example.com', 'UTC', 'en', 8, true)"
cp "$CONF" "$T_TMP/good.conf"

# queue SCENARIO [CHANNEL=email] [NOT_BEFORE=now()] — N messages,
# recipients SCENARIO-<i>@example.com (e-mail) or +1555<i> (SMS).
queue() {
    local rcpt="'$1-' || i || '@example.com'"
    [[ ${2:-email} == sms ]] && rcpt="'+1555' || lpad(i::text, 7, '0')"
    psql -XAtq -v ON_ERROR_STOP=1 -c "
      INSERT INTO rapport.outbox (job, channel, audience, rep_id, recipient, recipient_name, template, locale, time_zone,
                                  context, dedupe_key, not_before, next_attempt_at)
      SELECT 'fault', '${2:-email}', 'rep', 1, $rcpt, 'Fault ' || i, 'birthday', 'en', 'UTC',
             jsonb_build_object('customer', jsonb_build_object('name', 'Fault ' || i)),
             '$1:' || i, ${3:-now()}, ${3:-now()}
      FROM generate_series(1, $N) AS i"
}

delivered_counts() { # SCENARIO [MAILDIR...] — prints "distinct total"
    local scen=$1
    shift
    (($#)) || set -- "$SMTP_MAILDIR"
    local m
    for m in "$@"; do
        find "$m/new" -type f -print0 | xargs -0 -r grep -h -m1 -i "^X-Envelope-To: <$scen-" 2>/dev/null
    done | awk '{t++; if (!seen[$0]++) d++} END {printf "%d %d\n", d+0, t+0}'
}

done_count() { psql_val "SELECT count(*) FROM rapport.outbox WHERE job = 'fault' AND dedupe_key LIKE '$1:%' AND state IN ('sent', 'failed', 'cancelled')"; }
all_done() { [[ $(done_count "$1") -ge $N ]]; }
some_sent() { [[ $(psql_val "SELECT count(*) FROM rapport.outbox WHERE dedupe_key LIKE '$1:%' AND state = 'sent'") -ge $2 ]]; }

report() { # SCENARIO ALLOWED_DUPLICATES [COUNTS "distinct total"]
    local d t failed
    read -r d t < <(if (($# > 2)); then echo "$3"; else delivered_counts "$1"; fi)
    failed=$(psql_val "SELECT count(*) FROM rapport.outbox WHERE dedupe_key LIKE '$1:%' AND state <> 'sent'")
    local lost=$((N - d)) dup=$((t - d))
    # Named as it is selected (faults.sh pg_restart, FAULTS=pg_restart).
    printf '%s: sent=%d lost=%d duplicated=%d\n' "${FUNCNAME[1]#scenario_}" "$d" "$lost" "$dup"
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
    # Typically 1-5 here; 11 seen once on a loaded machine.
    report kill9 "$((CONNS + WAITING_MAX + HELD_MAX))"
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

scenario_smtp_slow() {
    # 2 s before every reply: throughput falls to 8 connections / 2 s, so
    # a claim of up to 200 outlasts half its 15 s lease; the unstarted rest
    # goes back to the queue rather than start late and be claimed twice.
    local N=$((N / 50 > 40 ? N / 50 : 40))
    smtp_restart --delay 2
    queue smtpslow
    start_daemon d
    wait_done smtpslow
    t_stop d
    smtp_restart --no-faults
    echo "smtpslow: $(grep -c 'half their lease passed' "$(t_log d)") claim(s) partly released before their lease ran short"
    report smtpslow 0
}

# The SMS gateway fails in every way a gateway does: 500s, 429 with
# Retry-After, a request left hanging (no answer until the client's
# timeout), a dropped connection.  Everything still arrives; a retry reuses
# the message's idempotency key, so a gateway that did take the hung
# request drops the copy.
scenario_sms_gateway() {
    local N=$((N / 10 > 50 ? N / 10 : 50))
    sms_start
    SMS_QUIET="" SMS_EXTRA='timeout = 2; connections = 4;' fault_config "$T_TMP/sms.conf"
    sms_script 500 500 '429 Retry-After=2' 500 hang '429 Retry-After=1' close 500 hang 503
    queue smsgw sms
    start_daemon d "$T_TMP/sms.conf"
    wait_done smsgw
    t_stop d
    local counts keys hung
    counts=$(jq -rs '[.[] | select((.reply | type) == "number" and .reply < 300) | .json.to]
                     | "\(unique | length) \(length)"' "$SMS_LOG")
    # Every request for one number carried one key (hangs and retries alike).
    keys=$(jq -rs 'group_by(.json.to) | map(map(.headers["idempotency-key"]) | unique | length) | max' "$SMS_LOG")
    hung=$(jq -rs '[.[] | select(.reply == "hang" or .reply == "close")] | length' "$SMS_LOG")
    echo "smsgw: $(jq -rs length "$SMS_LOG") request(s) for $N message(s); $hung hung or dropped and retried with the same key"
    assert_eq 1 "$keys" "smsgw: one idempotency key per message across retries"
    sms_stop
    report smsgw 0 "$counts"
}

# A stale worker: instance d1's SMTP server takes 15 s a message while its
# lease is 10 s, so d2 takes its messages over (new attempt, new token) and
# sends them through a fast server.  When d1's sends finish, its outcome
# updates match no row (0 rows affected) — the newer attempt's record
# stands.  Each message d1 got through before losing it is a declared
# duplicate (its lease had lapsed: the at-least-once bound), one per
# fenced outcome at most.
scenario_stale_worker() {
    local N=$((N / 10 > 50 ? N / 10 : 50)) slow_dir=$T_TMP/smtp-slow
    mkdir -p "$slow_dir"
    _t_launch smtp_slow "$T_PY" "$T_LIB_DIR/sinks/smtp_sink.py" --port 0 --maildir "$slow_dir/Maildir" --delay 15 || return 1
    local slow_port=$_T_LAUNCH_PORT
    LEASE=10s OUTBOX_EXTRA='max_age = "1d"; batch = 20;' SMTP_PORT=$slow_port fault_config "$T_TMP/stale1.conf"
    queue stale
    start_daemon d1 "$T_TMP/stale1.conf"
    wait_until "[[ \$(psql_val \"SELECT count(*) FROM rapport.outbox WHERE dedupe_key LIKE 'stale:%' AND state = 'sending'\") -gt 0 ]]" 30
    start_daemon d2
    wait_done stale
    wait_until "grep -q 'Lease lost' '$(t_log d1)'" 15 || true
    t_stop d1; t_stop d2; t_stop smtp_slow
    [[ -z ${FAULT_VERBOSE:-} ]] || tail -n 20 "$(t_log d1)" "$(t_log d2)"
    local fenced d1_sent
    fenced=$(grep -c 'Lease lost' "$(t_log d1)")
    d1_sent=$(find "$slow_dir/Maildir/new" -type f | wc -l)
    echo "stale: the slow instance delivered $d1_sent, $fenced of its outcomes were fenced off (0 rows affected)"
    if ((fenced > 0)); then t_pass "stale: a worker that lost its lease records nothing"; else
        t_fail "stale: fenced outcomes" "no 'Lease lost' in $(t_log d1)"; fi
    assert_eq 0 "$(psql_val "SELECT count(*) FROM (SELECT e.outbox_id FROM rapport.outbox_events e JOIN rapport.outbox o ON o.id = e.outbox_id
                             WHERE o.dedupe_key LIKE 'stale:%' AND e.event = 'sent' GROUP BY 1 HAVING count(*) > 1) x")" \
        "stale: no message recorded sent twice"
    report stale "$fenced" "$(delivered_counts stale "$SMTP_MAILDIR" "$slow_dir/Maildir")"
}

# Two instances whose host clocks are 5 minutes ahead and 5 minutes behind
# the database's (tests/faults/skewclock.c, preloaded): every queue decision
# uses the database's clock, so nothing goes before its not_before and
# nothing twice.
scenario_clock_skew() {
    local N=$((N / 5 > 50 ? N / 5 : 50)) shim=$T_TMP/skewclock.so
    if ! ${CC:-cc} -shared -fPIC -O1 -o "$shim" "$T_ROOT/tests/faults/skewclock.c" -ldl 2>"$T_TMP/skewclock.err"; then
        t_fail "skew: build the clock shim" "$(cat "$T_TMP/skewclock.err")"
        return
    fi
    local skewed
    skewed=$(env LD_PRELOAD="$shim" RAPPORT_TEST_CLOCK_SKEW=300 date +%s)
    if ((skewed - $(date +%s) >= 299)); then t_pass "skew: the shim moves the host clock"; else
        t_fail "skew: the shim moves the host clock" "$skewed vs $(date +%s)"; fi
    local nb
    nb=$(psql_val "SELECT now() + interval '8 seconds'")
    queue skew email "'$nb'::timestamptz"
    t_spawn ahead env LD_PRELOAD="$shim" RAPPORT_TEST_CLOCK_SKEW=300 "$RAPPORTD" --config "$CONF"
    t_spawn behind env LD_PRELOAD="$shim" RAPPORT_TEST_CLOCK_SKEW=-300 "$RAPPORTD" --config "$CONF"
    wait_done skew 120
    t_stop ahead; t_stop behind
    [[ -z ${FAULT_VERBOSE:-} ]] || tail -n 20 "$(t_log ahead)" "$(t_log behind)"
    assert_eq 0 "$(psql_val "SELECT count(*) FROM rapport.outbox WHERE dedupe_key LIKE 'skew:%' AND sent_at < not_before")" \
        "skew: no message recorded sent before its not_before"
    local first
    first=$(find "$SMTP_MAILDIR/new" -type f -print0 | xargs -0 -r grep -l -m1 -i "^X-Envelope-To: <skew-" | xargs -r stat -c %Y | sort -n | head -n 1)
    if ((${first:-0} >= $(date -d "$nb" +%s))); then t_pass "skew: the SMTP server received nothing early"; else
        t_fail "skew: nothing early" "first message at $(date -u -d "@${first:-0}" +%T), not_before $nb"; fi
    echo "skew: messages recorded by $(psql_val "SELECT count(DISTINCT leased_by) FROM rapport.outbox WHERE dedupe_key LIKE 'skew:%'") instance(s)"
    report skew 0
}

# Reloads that meet a file rapportd may not read (permissions), a template
# cut short (as a full disk leaves an editor's write) and an emptied
# secret: each reload is refused with the reason, the running
# configuration keeps sending, nothing is lost.  The daemon runs as
# "nobody" when we are root, so permissions bite.
scenario_reload_files() {
    local dir=$T_TMP/reload creds
    rm -rf "$dir"; mkdir -p "$dir/templates" "$dir/creds"
    chmod 755 "$dir" "$dir/templates" "$dir/creds"
    cp "$T_ROOT"/templates/*.mustache "$dir/templates/"
    creds=$dir/creds
    printf 's3cret\n' >"$creds/db-password"
    chmod 644 "$dir"/templates/* "$creds/db-password"
    TEMPLATES_DIR=$dir/templates fault_config "$dir/rapport.conf" 2
    chmod 644 "$dir/rapport.conf"
    local -a as=()
    ((EUID != 0)) || as=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
    local N=$((N / 2 > 200 ? N / 2 : 200))
    queue reload
    t_spawn r env CREDENTIALS_DIRECTORY="$creds" "${as[@]}" "$RAPPORTD" --config "$dir/rapport.conf"
    local tpl=$dir/templates/birthday.email.en.mustache n=0
    reload_refused() { # WHAT REASON-PATTERN
        n=$((n + 1))
        kill -HUP "${_T_PIDS[r]}"
        if wait_until "[[ \$(grep -c 'Reload failed' '$(t_log r)') -ge $n ]]" 20 && grep -q -- "$2" "$(t_log r)"; then
            t_pass "reload: $1: refused, with the reason"
        else
            t_fail "reload: $1: refused with '$2'" "$(tail -n 5 "$(t_log r)")"
        fi
    }
    wait_until "some_sent reload 10" 60
    chmod 000 "$creds/db-password"
    reload_refused "unreadable credential" "cannot read secret file $creds/db-password: Permission denied"
    chmod 644 "$creds/db-password"
    : >"$creds/db-password"
    reload_refused "emptied credential" "database password was set and its file or credential is now empty"
    printf 's3cret\n' >"$creds/db-password"
    chmod 000 "$tpl"
    reload_refused "unreadable template" "birthday.email.en.mustache.*Permission denied"
    chmod 644 "$tpl"
    cp "$tpl" "$dir/full.mustache"
    head -c "$(($(stat -c %s "$tpl") / 2))" "$dir/full.mustache" >"$tpl"
    printf '{{customer.na' >>"$tpl"
    reload_refused "template cut short (full disk)" "birthday.email.en.mustache:[0-9]*:[0-9]*"
    cp "$dir/full.mustache" "$tpl"
    kill -HUP "${_T_PIDS[r]}"
    wait_until "grep -q 'Configuration reloaded' '$(t_log r)'" 20 && t_pass "reload: the repaired files load" ||
        t_fail "reload: repaired files load" "$(tail -n 5 "$(t_log r)")"
    wait_done reload
    kill -0 "${_T_PIDS[r]}" 2>/dev/null && t_pass "reload: the daemon kept running" || t_fail "reload: daemon alive" "exited"
    t_stop r
    [[ -z ${FAULT_VERBOSE:-} ]] || grep -E 'Reload|secret|template|password' "$(t_log r)"
    report reload 0
}

scenarios=("$@")
((${#scenarios[@]})) || read -ra scenarios <<<"${FAULTS:-}"
((${#scenarios[@]})) || scenarios=(kill9 three pg_restart pg_down_at_start smtp_down smtp_slow sighup_broken
                                   sms_gateway stale_worker clock_skew reload_files)
for s in "${scenarios[@]}"; do
    start=$SECONDS
    "scenario_$s"
    echo "($s took $((SECONDS - start)) s)"
done
t_summary
