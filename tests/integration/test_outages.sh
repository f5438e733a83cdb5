#!/usr/bin/env bash
# run.sh: clock-bound
# Delivery across a database outage and a reload, against real PostgreSQL
# and a real (slow) SMTP server, read back from the Maildir:
#  - the database goes away while outcomes are in hand and comes back after
#    their leases expired: the outcomes are recorded before anything is
#    claimed again, so nothing goes out twice;
#  - a reload raises outbox.lease while a claimed batch drains: the batch
#    keeps the lease it was claimed with, so none of it is sent after its
#    lease ran out (and sent again by the next claim);
#  - `rapportd --once` that has run for more than its 60 s database wait
#    meets a short database restart: it waits for the database again
#    rather than giving up with messages in flight.
# Clock-bound: the cases wait for leases to run out and for a run to pass
# 60 seconds, so run.sh runs this beside the other scripts.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
smtp_start --delay 1.5
psql -XAtq -c "INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES (1, 'Rep', 'rep@example.com', 'UTC', 'en', 8, true)"

# config FILE LEASE TIMEOUT — one SMTP connection, no jobs planning.
config() {
    LEASE=$2 EMAIL_EXTRA="timeout = \"$3\";" rapport_config "$1" 'birthdays: { enabled = false; };'
    sed -i 's/connections = 4;/connections = 1;/' "$1"
}
# enqueue PREFIX N — N e-mails to PREFIX-i@example.com, due now.
enqueue() {
    psql -XAtq -v ON_ERROR_STOP=1 -c "
      INSERT INTO rapport.outbox (job, channel, audience, rep_id, recipient, recipient_name, template, locale, time_zone,
                                  context, dedupe_key, not_before, next_attempt_at)
      SELECT 'outage', 'email', 'rep', 1, '$1-' || i || '@example.com', 'R ' || i, 'birthday', 'en', 'UTC',
             jsonb_build_object('customer', jsonb_build_object('name', 'R ' || i)), '$1:' || i, now(), now()
      FROM generate_series(1, $2) AS i; NOTIFY rapport_outbox"
}
count() { psql_val "SELECT count(*) FROM rapport.outbox WHERE dedupe_key LIKE '$1:%' AND $2"; }
mails_to() { grep -l "^X-Envelope-To: <$1-" "$SMTP_MAILDIR"/new/* 2>/dev/null | wc -l; }
events() { psql_val "SELECT count(*) FROM rapport.outbox_events e JOIN rapport.outbox o ON o.id = e.outbox_id WHERE o.dedupe_key LIKE '$1:%' AND e.event = '$2'"; }

# ---------------------------------------------------------------- outcomes held across an outage
# A lease of 20 s covers a message waiting behind the one in flight (lease >
# 2 x (2 x email.timeout)); the timeout of 4 s leaves the 1.5 s server
# room on a loaded machine (a timeout would send a message twice).
config "$T_TMP/outage.conf" 20s 4s
assert_exit 0 "migrate" -- "$RAPPORTCTL" --config "$T_TMP/outage.conf" migrate
t_spawn outage "$RAPPORTD" --config "$T_TMP/outage.conf"
wait_until "grep -q 'Connected to the database' $(t_log outage)" 20 || t_fail "outage: daemon connected" "$(cat "$(t_log outage)")"
enqueue db 2
if wait_until "[[ \$(count db \"state = 'sending'\") == 2 ]]" 10; then
    pg_stop fast
    wait_for_mail 2 15 || t_fail "outage: both accepted by the server while the database is down" "$(mail_count) mail(s)"
    # Both outcomes are now held in memory.  The leases (20 s) run out
    # while the database is away: nothing but the clock can say when.
    sleep 21
    pg_restart_server
    wait_until "[[ \$(count db \"state = 'sent'\") == 2 ]]" 60 || true
    assert_eq "2:1,1" "$(count db "state = 'sent'"):$(psql_val "SELECT string_agg(attempts::text, ',') FROM rapport.outbox WHERE dedupe_key LIKE 'db:%'")" \
        "outage: both recorded sent, at their first attempt"
    assert_eq "0" "$(events db expired)" "outage: no lease taken over, though they had expired"
    assert_eq "2" "$(mails_to db)" "outage: each delivered once"
else
    t_fail "outage: both claimed" "$(count db "state = 'sending'") sending"
fi
t_stop outage

# ---------------------------------------------------------------- a reload raises outbox.lease mid-batch
N=10
# The timeout of 4 s, as above, leaves the 1.5 s server room on a loaded
# machine (3 s left it 1.5 s: a timeout sends a message twice).
config "$T_TMP/lease.conf" 10s 4s
t_spawn lease "$RAPPORTD" --config "$T_TMP/lease.conf"
wait_until "grep -q 'Connected to the database' $(t_log lease)" 20 || t_fail "lease: daemon connected" "$(cat "$(t_log lease)")"
enqueue lr "$N"
if wait_until "[[ \$(count lr \"state = 'sending'\") == $N ]]" 10; then
    sed -i 's/lease = "10s"/lease = "2m"/' "$T_TMP/lease.conf"
    kill -HUP "${_T_PIDS[lease]}"
    wait_until "grep -q 'Configuration reloaded' $(t_log lease)" 10 || t_fail "lease: reloaded" "$(cat "$(t_log lease)")"
    wait_until "[[ \$(count lr \"state = 'sent'\") == $N ]]" 90 || true
    assert_eq "$N" "$(count lr "state = 'sent'")" "lease reload: all sent"
    assert_eq "0" "$(events lr expired)" "lease reload: none sent after its lease ran out"
    assert_eq "$N" "$(mails_to lr)" "lease reload: each delivered once"
else
    t_fail "lease reload: batch claimed" "$(count lr "state = 'sending'") sending"
fi
t_stop lease

# ---------------------------------------------------------------- --once past its database wait
# 35 messages at 2 s each on one connection: the run lasts over a minute.
smtp_restart --delay 2
N=35
config "$T_TMP/once.conf" 30s 5s
enqueue ob "$N"
t_spawn once "$RAPPORTD" --config "$T_TMP/once.conf" --once
once_pid=$T_SPAWN_PID
# The run must be older than its 60 s database wait when the database
# restarts: only the clock says so.
sleep 63
if _t_alive "$once_pid"; then
    pg_stop fast
    # Back only after the daemon has noticed and failed to reconnect once.
    wait_until "grep -q 'Cannot connect to the database' $(t_log once)" 30 ||
        t_fail "--once: noticed the database is gone" "$(cat "$(t_log once)")"
    pg_restart_server
    wait_until "! _t_alive $once_pid" 120 || true
    t_stop once
    assert_eq "0" "$T_STOP_RC" "--once after a minute survives a database restart (log: $(grep -v 'Sent (attempt' "$(t_log once)" | tr '\n' '|'))"
    assert_eq "$N" "$(count ob "state = 'sent'")" "--once: every message sent and recorded"
    assert_eq "$N" "$(mails_to ob)" "--once: each delivered once"
else
    t_stop once
    t_fail "--once: still running after 63 s" "exit $T_STOP_RC; $(mail_count) mail(s)"
fi

# ---------------------------------------------------------------- a busy or suspended daemon
# holidays every minute with catch_up_window = 0: an occurrence that came
# due while the daemon ran is never "outside the window", though the loop
# gets to it late (here: stopped from a second before the minute to two
# after).  birthdays once an hour at minute M with catch_up = "none": the
# process is stopped across M:00 for over two minutes, then gets SIGHUP and
# SIGCONT together.  The reload must not make the occurrence the running
# daemon had not reached yet look missed.
# until_clock EPOCH — the wall clock is the condition here (a minute
# boundary, an occurrence's age): no descriptor or process can signal it.
until_clock() { while (($(date +%s) < $1)); do sleep 0.2; done; }
now=$(date +%s)
b1=$(((now + 10) / 60 * 60 + 60)) # a minute boundary at least 10 s away: holidays
due=$((b1 + 60))                  # birthdays' occurrence, while stopped
m=$((10#$(date -u -d "@$due" +%M)))
LEASE=5m rapport_config "$T_TMP/live.conf" \
    "birthdays: { schedule = \"$m * * * *\"; catch_up = \"none\"; }; holidays: { schedule = \"* * * * *\"; catch_up_window = 0; };"
t_spawn live "$RAPPORTD" --config "$T_TMP/live.conf"
wait_until "grep -q 'Connected to the database' $(t_log live)" 20 || t_fail "live: daemon connected" "$(cat "$(t_log live)")"
runs() { psql_val "SELECT coalesce(string_agg(status || coalesce(':' || error, ''), ',' ORDER BY scheduled_for), '') FROM rapport.job_runs WHERE job = '$1' AND scheduled_for $2"; }
# Only the clock says when the minute comes.
until_clock $((b1 - 1))
kill -STOP "${_T_PIDS[live]}"
until_clock $((b1 + 2))
kill -CONT "${_T_PIDS[live]}"
if wait_until "[[ -n \$(runs holidays \"= to_timestamp($b1)\") ]]" 30; then
    assert_eq "ok" "$(runs holidays "= to_timestamp($b1)")" "catch_up_window = 0: an occurrence the running daemon reaches late is planned, not missed"
else
    t_fail "catch_up_window = 0: an occurrence the running daemon reaches late is planned" "nothing recorded; log: $(tr '\n' '|' <"$(t_log live)")"
fi
kill -STOP "${_T_PIDS[live]}"
# Stopped until the birthdays occurrence is over two minutes old.
until_clock $((due + 125))
kill -HUP "${_T_PIDS[live]}"
kill -CONT "${_T_PIDS[live]}"
wait_until "[[ -n \$(runs birthdays \"= to_timestamp($due)\") ]]" 30 || true
assert_eq "ok" "$(runs birthdays "= to_timestamp($due)")" "catch_up = none: an occurrence that came due while the daemon was stopped, then reloaded, is planned"
t_stop live

t_summary
