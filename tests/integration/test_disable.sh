#!/usr/bin/env bash
# `rapportctl disable JOB` / `enable JOB`: a job switched off without a
# configuration edit.  While disabled, the scheduler records each occurrence
# as skipped (who, when, why) and plans nothing; `run` still plans it once
# when asked; `status` says so; enabling it again plans the next occurrence
# as usual, and what is still due then (inside max_lateness) still goes.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
smtp_start
CONF=$T_TMP/rapport.conf
rapport_config "$CONF"
assert_exit 0 "migrate" -- "$RAPPORTCTL" --config "$CONF" migrate

psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, phone, time_zone, locale, digest_hour, manager_id, active) VALUES
 (1, 'Alice Smith', 'alice@example.com', NULL, 'UTC', 'en', 8, NULL, true);
INSERT INTO crm.customers (id, name, tier, email, phone, birthday, time_zone, locale, rep_id, consent_email, consent_sms, active) VALUES
 (1, 'Ann One', 'A', 'ann@example.com', NULL, '1980-11-23', 'UTC', 'en', 1, true, false, true),
 (2, 'Bob Two', 'B', 'bob@example.com', NULL, '1975-11-24', 'UTC', 'en', 1, true, false, true);
SQL

assert_exit 64 "disable: unknown job" -- "$RAPPORTCTL" --config "$CONF" disable birthday
assert_contains "$("$RAPPORTCTL" --config "$CONF" disable birthday 2>&1)" "(known jobs: follow_ups, birthdays," "... names the known jobs"
assert_exit 64 "disable: a JOB is required" -- "$RAPPORTCTL" --config "$CONF" disable
assert_contains "$("$RAPPORTCTL" disable --help)" "Usage: rapportctl disable JOB [--reason TEXT]" "disable --help"
assert_contains "$("$RAPPORTCTL" --help)" "disable" "disable is in rapportctl --help"

out=$("$RAPPORTCTL" --config "$CONF" disable birthdays --reason "holiday freeze" 2>&1)
assert_contains "$out" "job birthdays disabled" "disable says what it did"
assert_eq "holiday freeze" "$(psql_val "SELECT reason FROM rapport.job_disabled WHERE job = 'birthdays'")" "recorded with its reason"

# 12:00Z on Ann's birthday: the occurrence is skipped, nothing planned or sent.
assert_exit 0 "rapportd while disabled" -- "$RAPPORTD" --config "$CONF" --once --now 2026-11-23T12:00:00Z
assert_eq "0" "$(psql_val "SELECT count(*) FROM rapport.outbox")" "disabled: nothing planned"
assert_eq "0" "$(mail_count)" "disabled: nothing sent"
why=$(psql_val "SELECT status || ' ' || error FROM rapport.job_runs WHERE job = 'birthdays' ORDER BY id DESC LIMIT 1")
assert_contains "$why" "skipped disabled with rapportctl disable since" "the occurrence is recorded as skipped"
assert_contains "$why" ": holiday freeze" "... with the reason"
st=$("$RAPPORTCTL" --config "$CONF" status)
assert_contains "$st" "disabled with rapportctl disable since" "status shows the job disabled"
assert_eq "false|holiday freeze" "$("$RAPPORTCTL" --config "$CONF" status --json | jq -r '.jobs[] | select(.job == "birthdays") | "\(.enabled)|\(.disabled | split(": ") | last)"')" \
    "status --json: enabled false, and why"

# A manual run is the administrator's own decision: it plans.
assert_exit 0 "run --dry-run while disabled" -- "$RAPPORTCTL" --config "$CONF" run birthdays --dry-run --now 2026-11-23T12:00:00Z
assert_contains "$("$RAPPORTCTL" --config "$CONF" run birthdays --dry-run --now 2026-11-23T12:00:00Z 2>&1)" "=== email to" \
    "run --dry-run still shows what the job would send"

assert_contains "$("$RAPPORTCTL" --config "$CONF" enable birthdays 2>&1)" "job birthdays enabled" "enable says what it did"
assert_eq "0" "$(psql_val "SELECT count(*) FROM rapport.job_disabled")" "enable removes the switch"
assert_contains "$("$RAPPORTCTL" --config "$CONF" enable birthdays 2>&1)" "nothing to do" "enable twice: nothing to do"

# The next occurrence plans as usual; Ann's greeting, still inside its
# max_lateness, goes out.
assert_exit 0 "rapportd after enable" -- "$RAPPORTD" --config "$CONF" --once --now 2026-11-23T13:00:00Z
wait_for_mail 1 10 || true
assert_eq "ann@example.com" "$(mail_json | jq -r '.[].envelope_to[]' | sort | tr '\n' ' ' | sed 's/ $//')" "enabled again: the greeting still due goes out"
assert_eq "ok" "$(psql_val "SELECT status FROM rapport.job_runs WHERE job = 'birthdays' ORDER BY id DESC LIMIT 1")" "the occurrence after enable ran"
t_summary
