#!/usr/bin/env bash
# The administrator's documentation is true, read both ways: every setting
# the code accepts is in rapport.conf(5) with its type, default and range,
# and every one there is accepted; each wrong value is refused naming
# FILE:LINE and the setting (exit 78); every example in the manual and
# README is accepted; rapportctl's and rapportd's commands, options and exit
# statuses are the ones --help and the man pages give.  No servers: this is
# what an administrator meets before the database does.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

# docs_truth CHECK: tests/reference/docs_truth.py's lines, counted.
docs_truth() {
    local status name detail n=0
    while IFS=$'\t' read -r status name detail; do
        n=$((n + 1))
        if [[ $status == ok ]]; then t_pass "$1: $name"; else t_fail "$1: $name" "$detail"; fi
    done < <("$T_PY" "$T_LIB_DIR/reference/docs_truth.py" "$T_ROOT" "$RAPPORTD" "$RAPPORTCTL" "$T_TMP" "$1")
    ((n > 0)) || t_fail "$1: docs_truth.py printed nothing"
}
for check in settings values examples ctl daemon readme; do
    docs_truth "$check"
done

# ---- typos: never silently ignored --------------------------------------
# rapport.conf(5): "An unknown setting is an error, so a typo is never
# silently ignored" — a misspelt job, group or setting, or one in the
# wrong group, is refused with its file, line and dotted name.
CONF=$T_TMP/typo.conf
base='time_zone = "UTC";
database: { conninfo = "host=/nonexistent dbname=x"; };
templates: { dir = "'"$T_ROOT"'/templates"; };
email: { smtp_url = "smtp://127.0.0.1:9"; from = "a@example.com"; tls = "none"; };'
typo() { # typo NAME LINE-6-TEXT EXPECTED-MESSAGE
    printf '%s\n%s\n' "$base" "$2" >"$CONF"
    assert_exit 78 "typo: $1" -- "$RAPPORTD" -n --config "$CONF"
    assert_contains "$T_OUT" "$CONF:5: $3" "typo: $1: named with file and line"
}
typo "jobs.birthday (for birthdays)" 'jobs: { birthday: { enabled = true; }; };' \
    "jobs.birthday: unknown job (known jobs: follow_ups, birthdays, holidays, dormant, receivables, complaints, digest); did you mean 'birthdays'?"
typo "emial group" 'emial: { host = "x"; };' "emial: unknown setting; did you mean 'email'?"
typo "outbox.leese (for lease)" 'outbox: { leese = "5m"; };' "outbox.leese: unknown setting; did you mean 'lease'?"
typo "a job's setting in another job" 'jobs: { birthdays: { winback = true; }; };' \
    "jobs.birthdays.winback: unknown setting; winback is a setting of the jobs dormant, not of this one"
typo "a setting no group has" 'jobs: { birthdays: { colour = "red"; }; };' "jobs.birthdays.colour: unknown setting"
assert_not_contains "$T_OUT" "did you mean" "typo: no suggestion when nothing is close"
typo "a setting in the wrong case" 'jobs: { birthdays: { Schedule = "0 * * * *"; }; };' "jobs.birthdays.Schedule: unknown setting; did you mean 'schedule'?"
typo "a misspelt job setting" 'jobs: { dormant: { dormant_day = { A = 1; }; }; };' "jobs.dormant.dormant_day: unknown setting; did you mean 'dormant_days'?"
typo "an e-mail setting in a job" 'jobs: { birthdays: { smtp_url = "smtp://x"; }; };' \
    "jobs.birthdays.smtp_url: unknown setting; smtp_url is a setting of email, not of this group"
typo "an sms setting under outbox" 'outbox: { max_segments = 3; };' "outbox.max_segments: unknown setting; max_segments is a setting of sms, not of this group"
typo "a holiday's misspelt member" 'jobs: { holidays: { dates = ( { name = "x"; date = "2027-01-01"; tempalte = "x"; } ); }; };' \
    "jobs.holidays.dates[0].tempalte: unknown setting 'tempalte'"
typo "a ladder level's misspelt member" 'jobs: { receivables: { levels = ( { days = 1; template = "dunning_friendly"; audiance = "rep"; } ); }; };' \
    "jobs.receivables.levels[0].audiance: unknown setting 'audiance'"
# README: a malformed ladder level is a configuration error, not a run
# failing every hour.
typo "a ladder level with an unknown audience" 'jobs: { receivables: { levels = ( { days = 1; template = "dunning_friendly"; }, { days = 30; audience = "boss"; template = "dunning_manager"; } ); }; };' \
    "jobs.receivables.levels[1].audience: audience must be"
typo "two ladder levels alike" 'jobs: { receivables: { levels = ( { days = 1; template = "dunning_friendly"; }, { days = 1; template = "dunning_firm"; } ); }; };' \
    "jobs.receivables.levels[1].days: days = 1 on email to the customer is already levels[0]"
assert_eq "" "$(grep -n "malformed level fails the job's run" "$T_ROOT/README.md")" "README: a malformed level is not said to fail the run"
# The same job twice is libconfig's own error, still with the line.
printf '%s\n%s\n' "$base" 'jobs: { birthdays: { }; birthdays: { }; };' >"$CONF"
assert_exit 78 "the same job twice" -- "$RAPPORTD" -n --config "$CONF"
assert_contains "$T_OUT" "$CONF:5: duplicate setting name" "the same job twice: named with file and line"

# ---- the digest's thresholds ----------------------------------------------
# The digest takes each threshold it does not set from the job that owns it
# (config.c share_digest_settings; test_jobs checks it with lookahead_days):
# no page may tell the administrator to copy one by hand.
for f in README.md daemon/rapport.conf.5 templates/README.md; do
    assert_eq "" "$(grep -n -i -e 'keep it equal to the digest' -e 'change them there too' "$T_ROOT/$f")" \
        "$f: no advice to copy a threshold the digest already takes from its job"
done

t_summary
