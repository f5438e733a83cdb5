#!/usr/bin/env bash
# `rapportctl status` gives as next run the occurrence the daemon will
# really plan: after the latest one a run has taken.  A `rapportd --once
# --now` at the coming hour (as `make demo` does) takes that one, so status
# names the hour after, not an occurrence already done.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
rapport_config "$T_TMP/c.conf"
"$RAPPORTCTL" --config "$T_TMP/c.conf" migrate >/dev/null
next_run() { "$RAPPORTCTL" --config "$T_TMP/c.conf" status --json | jq -r '.jobs[] | select(.job == "birthdays") | .next_run'; }

h1=$("$RAPPORTCTL" next '0 * * * *' --tz UTC)
h2=$("$RAPPORTCTL" next '0 * * * *' --tz UTC --from "$h1")
got=$(next_run)
# (an hour may turn between the two reads)
[[ $got == "$h1" ]] || h1=$("$RAPPORTCTL" next '0 * * * *' --tz UTC) h2=$("$RAPPORTCTL" next '0 * * * *' --tz UTC --from "$h1")
assert_eq "$h1" "$got" "before any run: the coming hour"
assert_exit 0 "rapportd --once at the coming hour" -- "$RAPPORTD" --config "$T_TMP/c.conf" --once --now "$h1"
assert_contains "$T_OUT" "Ran occurrence $h1" "the run took the coming hour's occurrence"
assert_eq "$h2" "$(next_run)" "status: the next run is the hour after, not the one just taken"
assert_exit 0 "a manual run far ahead" -- "$RAPPORTCTL" --config "$T_TMP/c.conf" run birthdays --now 2030-01-01T10:00:00Z
assert_eq "$h2" "$(next_run)" "a manual run is no occurrence: the next run stays"
# --now: the next run as seen from then (the occurrence after that time
# that no run has taken), as `make demo` reads it after its --once --now.
status_at() { "$RAPPORTCTL" --config "$T_TMP/c.conf" status --now "$1" --json | jq -r '.jobs[] | select(.job == "birthdays") | .next_run'; }
assert_eq "2031-06-01T11:00:00+00:00" "$(status_at 2031-06-01T10:20:00Z)" "status --now: the hour after that time"
assert_exit 0 "rapportd --once at that hour" -- "$RAPPORTD" --config "$T_TMP/c.conf" --once --now 2031-06-01T11:00:00Z
assert_eq "2031-06-01T12:00:00+00:00" "$(status_at 2031-06-01T10:20:00Z)" "... and the hour after it, once a run took it"
# The skip records are dated by their run's clock: status --now reads the
# week before that time, as of a run with that --now.
psql_val "INSERT INTO rapport.skipped (job, customer_id, reason, day) VALUES ('birthdays', 1, 'invalid e-mail address', '2020-03-05')" >/dev/null
skipped_at() { "$RAPPORTCTL" --config "$T_TMP/c.conf" status ${1:+--now "$1"} --json | jq -r '[.skipped[] | "\(.reason)|\(.customers)"] | join(",")'; }
assert_eq "invalid e-mail address|1" "$(skipped_at 2020-03-06T09:00:00Z)" "status --now: the skip records of the week before that time"
assert_eq "" "$(skipped_at 2020-03-13T09:00:00Z)" "... not of the week before that"
assert_eq "" "$(skipped_at 2020-03-01T09:00:00Z)" "... nor of days after that time (a week looked back at, not everything since)"
assert_eq "" "$(skipped_at)" "... and without --now, the week before now"
assert_exit 64 "status --now that is no time" -- "$RAPPORTCTL" --config "$T_TMP/c.conf" status --now yesterday
assert_contains "$T_OUT" "--now: cannot parse 'yesterday'" "... says what it could not read"
assert_exit 64 "status with an argument" -- "$RAPPORTCTL" --config "$T_TMP/c.conf" status birthdays
t_summary
