#!/usr/bin/env bash
# A schedule occurrence whose planning fails is tried again: after 1, 2, 4,
# 8, then every 15 minutes, while it is inside catch_up_window and no later
# occurrence has run.  Nothing due is lost to a CRM view broken for an
# hour.  The failure is real: crm.interactions, which the dormant job
# reads, is renamed away and back.  Every run is `rapportd --once --now`,
# so back-offs are measured on the pinned clock.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
smtp_start
CONF=$T_TMP/rapport.conf
rapport_config "$CONF" \
    'dormant: { schedule = "0 * * * *"; send_at = "00:00"; max_lateness = "7d"; effective_from = "2020-01-01"; catch_up_window = "3h"; };'
assert_exit 0 "migrate" -- "$RAPPORTCTL" --config "$CONF" migrate

DAY=$(date -u -d tomorrow +%F)
at() { date -u -d "$DAY $1" +%FT%TZ; }
psql -XAtq -v ON_ERROR_STOP=1 <<SQL
INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active)
VALUES (1, 'Alice Rep', 'alice@example.com', 'UTC', 'en', 8, true);
INSERT INTO crm.customers (id, name, tier, email, time_zone, locale, rep_id, consent_email, consent_sms, created_at, active)
VALUES (7, 'Quiet Ltd', 'A', 'quiet@example.com', 'UTC', 'en', 1, true, false, '2020-01-01', true);
INSERT INTO crm.interactions (id, customer_id, rep_id, kind, happened_at)
VALUES (1, 7, 1, 'call', date '$DAY' - 31);
SQL
break_crm() { psql_val "ALTER TABLE crm.interactions RENAME TO interactions_away" >/dev/null; }
repair_crm() { psql_val "ALTER TABLE crm.interactions_away RENAME TO interactions" >/dev/null; }
run_state() { # OCCURRENCE — status|attempts|retry_at of that occurrence
    psql_val "SELECT status || '|' || attempts || '|' || coalesce(to_char(retry_at AT TIME ZONE 'UTC', 'HH24:MI:SS'), '-')
              FROM rapport.job_runs WHERE job = 'dormant' AND scheduled_for = '$1'"
}
once() { # LABEL NOW EXPECTED_EXIT
    "$RAPPORTD" --config "$CONF" --once --now "$2" >"$T_TMP/once.log" 2>&1
    assert_eq "$3" "$?" "$1: exit status"
}

# ---------------------------------------------------------------- back-off
break_crm
once "a failing plan" "$(at 10:00:00)" 1
assert_eq "failed|1|10:01:00" "$(run_state "$DAY 10:00Z")" "the failed occurrence is recorded with its first retry a minute later"
assert_contains "$(cat "$T_TMP/once.log")" "Planning failed (attempt 1); the occurrence is tried again from ${DAY}T10:01:00" \
    "the log says when it is tried again"
status=$("$RAPPORTCTL" --config "$CONF" status --now "$(at 10:00:30)")
assert_contains "$status" "failed 1 time(s); tried again from ${DAY}T10:01:00" "rapportctl status shows the next try"
assert_contains "$status" 'relation "crm.interactions" does not exist' "rapportctl status shows the error"

once "before its back-off is over" "$(at 10:00:59)" 0
assert_eq "failed|1|10:01:00" "$(run_state "$DAY 10:00Z")" "not tried before the back-off is over"

once "second try, still failing" "$(at 10:01:00)" 1
assert_eq "failed|2|10:03:00" "$(run_state "$DAY 10:00Z")" "the second failure backs off two minutes"
assert_contains "$(cat "$T_TMP/once.log")" "Planning occurrence ${DAY}T10:00:00+00:00 again (1 failed attempt(s) so far)" "the retry is logged"

once "third try, still failing" "$(at 10:03:10)" 1
assert_eq "failed|3|10:07:10" "$(run_state "$DAY 10:00Z")" "then four"
assert_eq 1 "$(psql_val "SELECT count(*) FROM rapport.job_runs WHERE job = 'dormant'")" "one row for the occurrence, however many tries"

repair_crm
once "fourth try, after the repair" "$(at 10:07:10)" 0
assert_eq "ok|4|-" "$(run_state "$DAY 10:00Z")" "the occurrence is planned at its fourth attempt"
assert_eq 1 "$(mail_count)" "the dormant alert goes out after all"
assert_contains "$(mail_json | jq -r '.[0].subject')" "Quiet Ltd" "about the dormant customer"
assert_contains "$("$RAPPORTCTL" --config "$CONF" status --now "$(at 10:08:00)")" "planned at attempt 4" "rapportctl status tells it took four"

once "the occurrence is not planned again" "$(at 10:30:00)" 0
assert_eq "ok|4|-" "$(run_state "$DAY 10:00Z")" "a planned occurrence is left alone"

# ---------------------------------------------------------------- superseded
# A later occurrence plans what is due by then: the failed one before it is
# not tried again.
break_crm
once "11:00 fails" "$(at 11:00:00)" 1
repair_crm
once "12:00 runs" "$(at 12:00:00)" 0
assert_eq "failed|1|11:01:00" "$(run_state "$DAY 11:00Z")" "11:00 stays failed"
assert_eq "ok|1|-" "$(run_state "$DAY 12:00Z")" "12:00 is planned"
once "later" "$(at 12:20:00)" 0
assert_eq "failed|1|11:01:00" "$(run_state "$DAY 11:00Z")" "a failed occurrence superseded by a later one is not tried again"

# ---------------------------------------------------------------- window
# Past catch_up_window (3 h), a failed occurrence is no longer tried.  A
# daily schedule, so that no later occurrence comes first.
DAILY=$T_TMP/daily.conf
rapport_config "$DAILY" \
    'dormant: { schedule = "0 13 * * *"; send_at = "00:00"; max_lateness = "7d"; effective_from = "2020-01-01"; catch_up_window = "3h"; };'
psql_val "DELETE FROM rapport.job_runs" >/dev/null
CONF=$DAILY
break_crm
once "13:00 fails" "$(at 13:00:00)" 1
repair_crm
once "16:00:01, 3 h and a second after" "$(at 16:00:01)" 0
assert_eq "failed|1|13:01:00" "$(run_state "$DAY 13:00Z")" "not tried outside catch_up_window"
once "15:59:59, inside the window" "$(at 15:59:59)" 0
assert_eq "ok|2|-" "$(run_state "$DAY 13:00Z")" "tried again inside it"

# ---------------------------------------------------------------- disabled
# A failed occurrence of a job then disabled with rapportctl disable is
# recorded as skipped, and not tried again when the job is enabled again.
CONF=$DAILY
psql_val "DELETE FROM rapport.job_runs" >/dev/null
break_crm
once "13:00 fails again" "$(at 13:00:00)" 1
repair_crm
assert_exit 0 "disable" -- "$RAPPORTCTL" --config "$CONF" disable dormant --reason "CRM upgrade"
once "disabled, past its back-off" "$(at 13:02:00)" 0
assert_contains "$(run_state "$DAY 13:00Z")" "skipped|1|-" "the failed occurrence of a disabled job is recorded skipped"
assert_exit 0 "enable" -- "$RAPPORTCTL" --config "$CONF" enable dormant
once "enabled again" "$(at 13:05:00)" 0
assert_contains "$(run_state "$DAY 13:00Z")" "skipped|1|-" "and not planned once the job is enabled again"

# ---------------------------------------------------------------- catch_up = none
# With catch_up = none a failed occurrence is tried again only while it is
# the current one (two minutes at a one-shot run's start).
NONE=$T_TMP/none.conf
rapport_config "$NONE" \
    'dormant: { schedule = "0 13 * * *"; send_at = "00:00"; max_lateness = "7d"; effective_from = "2020-01-01"; catch_up = "none"; };'
CONF=$NONE
psql_val "DELETE FROM rapport.job_runs" >/dev/null
break_crm
once "none: 13:00 fails" "$(at 13:00:00)" 1
repair_crm
once "none: 13:03, no longer current" "$(at 13:03:00)" 0
assert_eq "failed|1|13:01:00" "$(run_state "$DAY 13:00Z")" "catch_up = none: not tried once it is no longer the current occurrence"
psql_val "DELETE FROM rapport.job_runs" >/dev/null
break_crm
once "none: 13:00 fails" "$(at 13:00:00)" 1
repair_crm
once "none: 13:01:30, still current" "$(at 13:01:30)" 0
assert_eq "ok|2|-" "$(run_state "$DAY 13:00Z")" "catch_up = none: tried again while current"

# ---------------------------------------------------------------- daemon
# The daemon arms its timer for the next try, not for the next occurrence
# an hour away: shown by the scheduler timer's wake-up in the log.  Real
# time here: a one-minute back-off is waited for (about 60 s).
CONF=$T_TMP/rapport.conf
# The schedule is hourly on the real clock: started in the last 90 s of an
# hour, the next hour's occurrence would run before the retry and take its
# place (as it should).  Nothing but the clock can say when the hour has
# turned, so such a start waits for it.
left=$((3600 - $(date +%s) % 3600))
if ((left < 90)); then sleep $((left + 1)); fi
psql_val "DELETE FROM rapport.job_runs" >/dev/null
break_crm
t_spawn d "$RAPPORTD" --config "$CONF" -v
wait_until "grep -q 'Planning failed (attempt 1)' $(t_log d)" 20 || t_fail "daemon: first try fails" "$(cat "$(t_log d)")"
repair_crm
if wait_until "grep -q 'again (1 failed attempt(s) so far)' $(t_log d)" 75; then
    t_pass "daemon: the failed occurrence is tried again after its back-off"
else
    t_fail "daemon: the failed occurrence is tried again after its back-off" "$(cat "$(t_log d)")"
fi
wait_until "[[ \$(psql_val \"SELECT status FROM rapport.job_runs WHERE job = 'dormant'\") == ok ]]" 10 ||
    t_fail "daemon: planned at the second try" "$(psql_val "SELECT * FROM rapport.job_runs")"
t_stop d
assert_eq 0 "$T_STOP_RC" "daemon: exits 0"

t_summary
