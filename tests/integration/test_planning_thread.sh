#!/usr/bin/env bash
# Planning never stalls the daemon's event loop: while a job's plan
# statement waits on the database, queued messages still go out, new ones
# are woken by LISTEN/NOTIFY and sent, and SIGTERM and SIGHUP are taken at
# once.  The
# plan is held deterministically: a session of this script holds an ACCESS
# EXCLUSIVE lock on crm.interactions, which the dormant job reads and the
# dispatcher's statements for these messages never do.  The planning
# thread's backend then shows as waiting on a lock in pg_stat_activity
# (its own connection, application_name "rapportd planner").
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
smtp_start
sms_start
CONF=$T_TMP/rapport.conf
SMS_QUIET="" rapport_config "$CONF" \
    'dormant: { schedule = "* * * * *"; send_at = "00:00"; max_lateness = "2d"; effective_from = "2020-01-01"; };'
assert_exit 0 "migrate" -- "$RAPPORTCTL" --config "$CONF" migrate

psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, phone, time_zone, locale, digest_hour, active)
VALUES (1, 'Alice Rep', 'alice@example.com', '+12125550101', 'UTC', 'en', 8, true);
INSERT INTO crm.customers (id, name, tier, email, time_zone, locale, rep_id, consent_email, consent_sms, created_at, active)
VALUES (7, 'Quiet Ltd', 'A', 'quiet@example.com', 'UTC', 'en', 1, true, false, now() - interval '2 years', true);
INSERT INTO crm.interactions (id, customer_id, rep_id, kind, happened_at) VALUES (1, 7, 1, 'call', now() - interval '31 days');
SQL

# gate_close NAME — a session that holds the lock until gate_open kills it.
# Its pg_sleep only keeps the transaction (and the lock) open; nothing
# waits for it to end.
gate_close() {
    PGAPPNAME=$1 psql -XAtq -c "BEGIN; LOCK TABLE crm.interactions IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600);" \
        >/dev/null 2>&1 &
    wait_until "[[ \$(psql_val \"SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                 WHERE a.application_name = '$1' AND l.relation = 'crm.interactions'::regclass AND l.granted\") == 1 ]]" 10 ||
        t_fail "gate $1 closed" "no lock"
}
gate_open() {
    psql_val "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$1'" >/dev/null
}
planner_waiting() { # APPNAME — its backend waits on a lock
    [[ $(psql_val "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$1' AND wait_event_type = 'Lock'") == 1 ]]
}
queue_sms() { # KEY — an SMS to the rep, due now
    psql -XAtq -v ON_ERROR_STOP=1 -c "
      INSERT INTO rapport.outbox (job, channel, audience, rep_id, recipient, recipient_name, template, locale, time_zone,
                                  context, dedupe_key, not_before, next_attempt_at)
      VALUES ('fault', 'sms', 'rep', 1, '+12125550101', 'Alice Rep', 'birthday', 'en', 'UTC',
              jsonb_build_object('customer', jsonb_build_object('name', '$1')), '$1', now(), now())"
}
t_on_cleanup 'gate_open gate-a; gate_open gate-b'

# ---------------------------------------------------------------- --once
# A one-shot run plans, then sends one round of what is due (what was
# queued before and what it planned), and exits.  While its plan waits it
# still reads SIGHUP, and ignores it (it plans once, with the configuration
# it started with) without ending.
gate_close gate-a
queue_sms queued-before
"$RAPPORTD" --config "$CONF" --once -v >"$T_TMP/once.log" 2>&1 &
once_pid=$!
wait_until "planner_waiting 'rapportd --once planner'" 10 ||
    t_fail "--once: planning waits on the lock" "$(cat "$T_TMP/once.log")"
kill -HUP "$once_pid"
if wait_until "grep -q 'Reload ignored: a one-shot run keeps the configuration it started with' $T_TMP/once.log" 5; then
    t_pass "--once: SIGHUP read and ignored while planning waits"
else
    t_fail "--once: SIGHUP read and ignored while planning waits" "$(cat "$T_TMP/once.log")"
fi
if kill -0 "$once_pid" 2>/dev/null; then
    t_pass "--once: still running while its plan waits"
else
    t_fail "--once: still running while its plan waits" "$(cat "$T_TMP/once.log")"
fi
assert_eq "0 0" "$(mail_count) $(sms_count)" "--once: nothing sent before the plan is done"
gate_open gate-a
wait "$once_pid"
assert_eq 0 "$?" "--once: exits 0 after the plan"
assert_eq "1 1" "$(mail_count) $(sms_count)" "--once: what was queued and the dormant alert planned after the lock was released are sent before exit"
assert_contains "$(sms_json 1 | jq -r '.json.to')" "+12125550101" "--once: the SMS to the rep's number"
assert_contains "$(mail_json | jq -r '.[0].subject')" "Quiet Ltd" "--once: the alert names the customer"
assert_eq "dormant|1|1" "$(psql_val "SELECT job, planned, count(*) OVER () FROM rapport.job_runs WHERE job = 'dormant' AND finished_at IS NOT NULL" -F '|')" \
    "--once: the run is recorded with what it planned"
assert_eq 1 "$(grep -c 'Ran occurrence' "$T_TMP/once.log")" "--once: one planning pass, whatever the SIGHUP"

# ---------------------------------------------------------------- daemon
# A job with no history plans its current occurrence at start.
psql_val "DELETE FROM rapport.job_runs" >/dev/null
gate_close gate-b
t_spawn d "$RAPPORTD" --config "$CONF" -v
wait_until "planner_waiting 'rapportd planner'" 10 || t_fail "daemon: planning waits on the lock" "$(cat "$(t_log d)")"
queue_sms woken-by-notify
if wait_for_sms 2 10; then
    t_pass "daemon: a message queued during planning is woken by NOTIFY and sent"
else
    t_fail "daemon: a message queued during planning is woken by NOTIFY and sent" "$(cat "$(t_log d)")"
fi
assert_eq "sent" "$(psql_val "SELECT state FROM rapport.outbox WHERE dedupe_key = 'woken-by-notify'")" "daemon: and recorded sent"

# A reload is read at once and swapped in between passes: after the pass
# under the old configuration, which waits on the lock.
kill -HUP "${_T_PIDS[d]}"
wait_until "grep -q 'Reloading' $(t_log d)" 5 || t_fail "daemon: SIGHUP read during planning" "$(cat "$(t_log d)")"
assert_not_contains "$(cat "$(t_log d)")" "Configuration reloaded" "daemon: the reload waits for the pass in progress"
# SIGTERM: taken at once; the plan in progress is finished, not lost.
kill -TERM "${_T_PIDS[d]}"
wait_until "grep -q 'Received Terminated' $(t_log d)" 5 || t_fail "daemon: SIGTERM read during planning" "$(cat "$(t_log d)")"
if kill -0 "${_T_PIDS[d]}" 2>/dev/null; then
    t_pass "daemon: waits for the plan in progress before exiting"
else
    t_fail "daemon: waits for the plan in progress before exiting" "$(cat "$(t_log d)")"
fi
gate_open gate-b
t_stop d TERM 20
assert_eq 0 "$T_STOP_RC" "daemon: exits 0 once the plan is done"
assert_eq 1 "$(psql_val "SELECT count(*) FROM rapport.job_runs WHERE job = 'dormant' AND finished_at IS NOT NULL")" \
    "daemon: the occurrence it was planning at SIGTERM is recorded, not rolled back"
assert_eq 1 "$(mail_count)" "daemon: the alert already sent is not planned again"

t_summary
