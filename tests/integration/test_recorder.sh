#!/usr/bin/env bash
# The dispatcher's claims and the recording of sent messages run on
# threads of the daemon, each on a database connection of its own
# (application_name "rapportd claimer" and "rapportd recorder"), while the
# loop goes on sending.  When those connections cannot be had (here: the
# role's connection limit is reached, as with max_connections on a busy
# server) the dispatcher's own connection claims and records: every
# message is sent once and recorded sent, none is left 'sending'.  When a
# worker's connection is closed by the server between two pieces of work,
# the next one reconnects.  The daemon runs as a least-privilege role set up as README
# says (read on crm, its own schema created by `rapportctl migrate`).
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
sms_start
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
CREATE ROLE rapport_app LOGIN;
GRANT USAGE ON SCHEMA crm TO rapport_app;
GRANT SELECT ON ALL TABLES IN SCHEMA crm TO rapport_app;
GRANT CREATE ON DATABASE rapport TO rapport_app;
INSERT INTO crm.reps (id, name, email, phone, time_zone, locale, digest_hour, active)
VALUES (1, 'Alice Rep', 'alice@example.com', '+12125550101', 'UTC', 'en', 8, true);
SQL
CONF=$T_TMP/rapport.conf
PG_CONNINFO="host=127.0.0.1 port=$PGPORT user=rapport_app dbname=rapport" SMS_QUIET="" \
    rapport_config "$CONF" 'birthdays: { enabled = false; };'
assert_exit 0 "migrate as the least-privilege role" -- "$RAPPORTCTL" --config "$CONF" migrate

queued=0
queue_sms() { # N PREFIX — N SMS to the rep, due now
    psql -XAtq -v ON_ERROR_STOP=1 -c "
      INSERT INTO rapport.outbox (job, channel, audience, rep_id, recipient, recipient_name, template, locale, time_zone,
                                  context, dedupe_key, not_before, next_attempt_at)
      SELECT 'fault', 'sms', 'rep', 1, '+12125550101', 'Alice Rep', 'birthday', 'en', 'UTC',
             jsonb_build_object('customer', jsonb_build_object('name', '$2' || g)), '$2' || g, now(), now()
      FROM generate_series(1, $1) g"
    queued=$((queued + $1))
}
all_sent() { [[ $(psql_val "SELECT count(*) FILTER (WHERE state = 'sent') = $queued FROM rapport.outbox") == t ]]; }
backends() { psql_val "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$1'"; }
recorder_pid() { psql_val "SELECT pid FROM pg_stat_activity WHERE application_name = 'rapportd recorder'"; }
claimer_pid() { psql_val "SELECT pid FROM pg_stat_activity WHERE application_name = 'rapportd claimer'"; }
# Each message once at the gateway, each recorded sent with its history.
check_once() { # LABEL
    assert_eq "$queued $queued" "$(sms_count) $(sms_json | jq -r '.[].json.idempotency_key' | sort -u | wc -l)" \
        "$1: each message reached the gateway once"
    assert_eq "$queued|$queued|0" "$(psql_val "SELECT count(*) FILTER (WHERE state = 'sent' AND provider_id IS NOT NULL),
            (SELECT count(*) FROM rapport.outbox_events WHERE event = 'sent'),
            count(*) FILTER (WHERE state = 'sending') FROM rapport.outbox" -F '|')" \
        "$1: recorded sent with the gateway's id and a 'sent' event, none left sending"
}

# ---------------------------------------------------------------- the workers' connections refused
# The loop, the planner and the claimer connect at start (the first pump
# claims), the recorder only for its first batch.  With the role at its
# limit (the loop and the planner) and the claimer's backend gone, neither
# worker can connect, and the dispatcher's connection claims and records.
t_spawn d "$RAPPORTD" --config "$CONF" -v
wait_until "[[ \$(backends rapportd)\$(backends 'rapportd planner')\$(backends 'rapportd claimer') == 111 ]]" 20 ||
    t_fail "daemon connected (loop, planner, claimer)" "$(cat "$(t_log d)")"
psql_val "ALTER ROLE rapport_app CONNECTION LIMIT 2" >/dev/null
psql_val "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rapportd claimer'" >/dev/null
wait_until "[[ \$(backends 'rapportd claimer') == 0 ]]" 10 || t_fail "claimer's backend terminated" ""
queue_sms 150 refused-
if wait_until all_sent 30; then
    t_pass "recorder refused: every message recorded sent all the same"
else
    t_fail "recorder refused: every message recorded sent all the same" \
        "$(psql_val "SELECT state, count(*) FROM rapport.outbox GROUP BY 1"); $(grep -v 'Sent (attempt' "$(t_log d)")"
fi
check_once "recorder refused"
assert_eq "0 0" "$(backends 'rapportd recorder') $(backends 'rapportd claimer')" "recorder refused: the workers have no connection"
assert_contains "$(cat "$(t_log d)")" "too many connections for role" "recorder refused: the server's reason is logged"
assert_eq 2 "$(grep -c 'Cannot connect to the database' "$(t_log d)")" \
    "recorder refused: said once by each worker, not at every claim or batch"

# ---------------------------------------------------------------- back when the server lets it
# The recorder is tried again after a back-off (a second, doubling while it
# fails): messages keep coming meanwhile, one per poll, until it is back.
psql_val "ALTER ROLE rapport_app CONNECTION LIMIT -1" >/dev/null
n=0
poll_back() {
    n=$((n + 1))
    queue_sms 1 "back-$n-" && [[ $(backends 'rapportd recorder') == 1 && $(backends 'rapportd claimer') == 1 ]]
}
if wait_until poll_back 40; then
    t_pass "recorder back: the workers connect again once the server allows it"
else
    t_fail "recorder back: the workers connect again once the server allows it" "$(grep -v 'Sent (attempt' "$(t_log d)")"
fi
queue_sms 100 after-back-
wait_until all_sent 30 || t_fail "recorder back: everything sent" "$(psql_val "SELECT state, count(*) FROM rapport.outbox GROUP BY 1")"
check_once "recorder back"

# ---------------------------------------------------------------- closed by the server between batches
old=$(recorder_pid)
old_claimer=$(claimer_pid)
psql_val "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name IN ('rapportd recorder', 'rapportd claimer')" >/dev/null
wait_until "[[ -z \$(recorder_pid)\$(claimer_pid) ]]" 10 || t_fail "workers' backends terminated" "pid $old still there"
queue_sms 100 after-kill-
if wait_until all_sent 30; then
    t_pass "recorder closed by the server: the next messages are recorded"
else
    t_fail "recorder closed by the server: the next messages are recorded" "$(grep -v 'Sent (attempt' "$(t_log d)")"
fi
check_once "recorder closed by the server"
new=$(recorder_pid)
if [[ -n $new && $new != "$old" ]]; then
    t_pass "recorder closed by the server: reconnected (backend $old -> $new)"
else
    t_fail "recorder closed by the server: reconnected" "old $old, now '$new'"
fi
new=$(claimer_pid)
if [[ -n $new && $new != "$old_claimer" ]]; then
    t_pass "claimer closed by the server: reconnected (backend $old_claimer -> $new)"
else
    t_fail "claimer closed by the server: reconnected" "old $old_claimer, now '$new'"
fi

t_stop d TERM 20
assert_eq 0 "$T_STOP_RC" "daemon exits 0"
assert_not_contains "$(cat "$(t_log d)")" "outcome lost" "no outcome lost at stop"

# ---------------------------------------------------------------- --once
# A one-shot run ends only once what it sent is recorded, and says so.
queue_sms 300 once-
assert_exit 0 "--once sends the queue" -- "$RAPPORTD" --config "$CONF" --once
assert_contains "$T_OUT" "sent 300," "--once: its count includes the recorder's batches"
check_once "--once"

# With the workers refused, the loop's connection claims and records: a
# one-shot run must not end with due messages unsent because the claimer
# could not connect.
psql_val "ALTER ROLE rapport_app CONNECTION LIMIT 2" >/dev/null
queue_sms 200 once-refused-
assert_exit 0 "--once with the workers refused sends the queue" -- "$RAPPORTD" --config "$CONF" --once -v
assert_contains "$T_OUT" "sent 200," "--once, workers refused: all 200 sent in this run"
assert_contains "$T_OUT" "too many connections for role" "--once, workers refused: the server's reason is logged"
check_once "--once, workers refused"
psql_val "ALTER ROLE rapport_app CONNECTION LIMIT -1" >/dev/null

# ---------------------------------------------------------------- claims made ahead
# Under a rate limit the next claim is made while half the last one's rows
# still wait, and its rows join behind them.  Each row keeps its own
# claim's lease: none is released for an older claim's half lease.  40 SMS
# a second with a 16 s lease claims 160 at a time, each row sent within
# 6 s of its claim (2 s inside its half lease); 480 take 12 s, well past
# the first claim's half lease.
CONF_RATE=$T_TMP/rate.conf
PG_CONNINFO="host=127.0.0.1 port=$PGPORT user=rapport_app dbname=rapport" SMS_QUIET="" SMS_EXTRA='rate = 40;' LEASE=16s \
    rapport_config "$CONF_RATE" 'birthdays: { enabled = false; };'
queue_sms 480 ahead-
assert_exit 0 "--once under a rate limit sends the queue" -- "$RAPPORTD" --config "$CONF_RATE" --once
assert_contains "$T_OUT" "sent 480," "rate limit: all 480 sent in this run"
check_once "rate limit, claims made ahead"
assert_eq 0 "$(psql_val "SELECT count(*) FROM rapport.outbox_events WHERE event = 'released'")" \
    "rate limit: no row released for an older claim's lease"
assert_not_contains "$T_OUT" "released" "rate limit: no release logged"

t_summary
