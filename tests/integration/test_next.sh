#!/usr/bin/env bash
# `rapportctl next 'CRON' --tz ZONE [--from ISO8601] [--count N]`: the exact
# fire times the scheduler would use, across DST gaps and repeated hours,
# odd offsets (+05:30, Lord Howe's 30-minute DST), leap days and macros;
# strictly-after semantics; errors that name the field.  No servers needed:
# `next` reads neither the configuration nor the database.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

# Point at a config that does not exist: `next` must not need one.
export RAPPORT_CONFIG=$T_TMP/absent.conf

# expect NAME EXPECTED-LINES EXPR ARGS... — exit 0 and exact output.  The
# options go before the expression here so that the semantics are checked
# independently of argument order, which has its own assertions below.
expect() {
    local name=$1 want=$2 expr=$3
    shift 3
    assert_exit 0 "$name: exit 0" -- "$RAPPORTCTL" next "$@" "$expr"
    assert_eq "$want" "$T_OUT" "$name: output"
}

# The documented order: expression first, options after it.
ny_spring="2027-03-14T03:00:00-04:00
2027-03-15T02:30:00-04:00
2027-03-16T02:30:00-04:00"
assert_exit 0 "documented order (EXPR --tz --from --count): exit 0" -- \
    "$RAPPORTCTL" next '30 2 * * *' --tz America/New_York --from 2027-03-13T12:00:00-05:00 --count 3
assert_eq "$ny_spring" "$T_OUT" "documented order: output"
assert_exit 65 "documented order, bad expression: exit 65" -- "$RAPPORTCTL" next '0 0 32 * *' --tz UTC
assert_contains "$T_OUT" "day-of-month 32 out of range 1-31" "documented order, bad expression: field named"

expect "NY spring forward: 02:30 fires at 03:00 EDT" "$ny_spring" \
    '30 2 * * *' --tz America/New_York --from 2027-03-13T12:00:00-05:00 --count 3

# Several times inside the gap collapse into one firing at 03:00, and
# 03:00 itself is the same instant: still one.
expect "NY gap: several times collapse" \
"2027-03-14T01:45:00-05:00
2027-03-14T03:00:00-04:00
2027-03-14T03:15:00-04:00" \
    '*/15 1-3 14 3 *' --tz America/New_York --from 2027-03-14T01:30:00-05:00 --count 3

# Fall back: 01:30 occurs twice on 2027-11-07 and fires only at the first.
expect "NY fall back: once, at -04:00" \
"2027-11-07T01:30:00-04:00
2027-11-08T01:30:00-05:00
2027-11-09T01:30:00-05:00" \
    '30 1 * * *' --tz America/New_York --from 2027-11-06T12:00:00-04:00 --count 3
expect "NY fall back: from the first 01:30, the second is not a fire time" \
    "2027-11-08T01:30:00-05:00" \
    '30 1 * * *' --tz America/New_York --from 2027-11-07T01:30:00-04:00
expect "NY fall back: from inside the repeated hour" \
    "2027-11-08T01:30:00-05:00" \
    '30 1 * * *' --tz America/New_York --from 2027-11-07T01:10:00-05:00
expect "NY fall back: hourly does not repeat 01:00" \
"2027-11-07T01:00:00-04:00
2027-11-07T02:00:00-05:00
2027-11-07T03:00:00-05:00" \
    '0 * * * *' --tz America/New_York --from 2027-11-07T00:00:00-04:00 --count 3

expect "Shanghai weekdays skip the weekend" \
"2027-01-01T09:00:00+08:00
2027-01-04T09:00:00+08:00
2027-01-05T09:00:00+08:00" \
    '0 9 * * mon-fri' --tz Asia/Shanghai --from 2027-01-01T00:00:00+08:00 --count 3
expect "--from without an offset is read in --tz" "2027-03-14T09:00:00+05:30" \
    '0 9 * * *' --tz Asia/Kolkata --from 2027-03-14T05:00:00
expect "Shanghai weekdays: --from given in UTC" \
    "2027-01-04T09:00:00+08:00" \
    '0 9 * * MON-FRI' --tz Asia/Shanghai --from 2027-01-01T01:00:00Z

expect "Kolkata half-hour offset: local midnight" \
"2027-01-02T00:00:00+05:30
2027-01-03T00:00:00+05:30" \
    '0 0 * * *' --tz Asia/Kolkata --from 2027-01-01T00:00:00Z --count 2
expect "Kolkata: 09:15 local is 03:45 UTC" \
    "2027-01-01T09:15:00+05:30" \
    '15 9 * * *' --tz Asia/Kolkata --from 2027-01-01T03:44:59Z

# Lord Howe: +10:30 standard, +11:00 summer, a 30-minute DST shift.
# Spring forward 2027-10-03 02:00 -> 02:30: 02:15 does not exist.
expect "Lord Howe spring forward: 02:15 fires at 02:30" \
"2027-10-03T02:30:00+11:00
2027-10-04T02:15:00+11:00" \
    '15 2 * * *' --tz Australia/Lord_Howe --from 2027-10-02T12:00:00+10:30 --count 2
expect "Lord Howe spring forward: 02:30 exists" \
"2027-10-03T02:30:00+11:00
2027-10-04T02:30:00+11:00" \
    '30 2 * * *' --tz Australia/Lord_Howe --from 2027-10-02T12:00:00+10:30 --count 2
# Fall back 2027-04-04 02:00 -> 01:30: 01:30-02:00 occurs twice.
expect "Lord Howe fall back: 01:45 once, at +11:00" \
"2027-04-04T01:45:00+11:00
2027-04-05T01:45:00+10:30" \
    '45 1 * * *' --tz Australia/Lord_Howe --from 2027-04-03T12:00:00+11:00 --count 2

expect "@yearly" \
"2028-01-01T00:00:00+00:00
2029-01-01T00:00:00+00:00" \
    '@yearly' --tz UTC --from 2027-06-01T00:00:00Z --count 2
expect "@yearly in a zone" \
    "2028-01-01T00:00:00+08:00" \
    '@yearly' --tz Asia/Shanghai --from 2027-06-01T00:00:00Z
expect "Feb 29 only in leap years (2100 is not one)" \
"2028-02-29T00:00:00+00:00
2032-02-29T00:00:00+00:00" \
    '0 0 29 2 *' --tz UTC --from 2027-01-01T00:00:00Z --count 2
expect "Feb 29 across 2100" \
    "2104-02-29T00:00:00+00:00" \
    '0 0 29 2 *' --tz UTC --from 2096-03-01T00:00:00Z
expect "Vixie rule: day-of-month OR day-of-week" \
"2027-01-01T00:00:00+00:00
2027-01-04T00:00:00+00:00
2027-01-11T00:00:00+00:00
2027-01-13T00:00:00+00:00" \
    '0 0 1,13 * mon' --tz UTC --from 2026-12-31T12:00:00Z --count 4

# Strictly after: --from exactly on a fire time excludes it.
expect "strictly after --from" \
"2027-03-15T02:30:00-04:00
2027-03-16T02:30:00-04:00" \
    '30 2 * * *' --tz America/New_York --from 2027-03-14T03:00:00-04:00 --count 2
expect "strictly after: one second before includes it" \
    "2027-03-14T03:00:00-04:00" \
    '30 2 * * *' --tz America/New_York --from 2027-03-14T02:59:59-04:00
expect "--count defaults to 1" \
    "2027-01-01T00:01:00+00:00" \
    '* * * * *' --tz UTC --from 2027-01-01T00:00:00Z

# Default --from is now.
before=$(date +%s)
assert_exit 0 "default --from: exit 0" -- "$RAPPORTCTL" next '* * * * *' --tz UTC
after=$(date +%s)
got=$(date -d "$T_OUT" +%s 2>/dev/null || echo 0)
if ((got > before && got <= after + 60 && got % 60 == 0)); then
    t_pass "default --from is now"
else
    t_fail "default --from is now" "got [$T_OUT] ($got), now was $before..$after"
fi
assert_exit 0 "default --from, hourly in Kolkata" -- "$RAPPORTCTL" next '0 * * * *' --tz Asia/Kolkata
got=$(date -d "$T_OUT" +%s 2>/dev/null || echo 0)
now=$(date +%s)
if ((got > before && got <= now + 3600 && got % 1800 == 0)) && [[ $T_OUT == *:00:00+05:30 ]]; then
    t_pass "default --from: next Kolkata hour"
else
    t_fail "default --from: next Kolkata hour" "got [$T_OUT]"
fi

# Errors: non-zero, one clear line naming the field.
bad() { # NAME EXPECTED-TEXT ARGS...
    local name=$1 text=$2 rc=0
    shift 2
    "$RAPPORTCTL" next "${@:2}" "$1" >"$T_TMP/bad.out" 2>&1 || rc=$?
    T_OUT=$(<"$T_TMP/bad.out")
    if ((rc != 0)); then t_pass "$name: non-zero exit"; else t_fail "$name: non-zero exit" "exit 0: $T_OUT"; fi
    assert_contains "$T_OUT" "$text" "$name: message"
}
bad "day-of-month 32" "day-of-month 32 out of range 1-31" '0 0 32 * *' --tz UTC
bad "minute 60" "minute 60 out of range 0-59" '60 * * * *' --tz UTC
bad "hour 24" "hour 24 out of range 0-23" '0 24 * * *' --tz UTC
bad "month 13" "month 13 out of range 1-12" '0 0 1 13 *' --tz UTC
bad "day-of-week 8" "day-of-week 8 out of range 0-7" '0 0 * * 8' --tz UTC
bad "unknown name" "minute" 'x * * * *' --tz UTC
bad "four fields" "5 fields" '* * * *' --tz UTC
bad "never fires" "never fires" '0 0 30 2 *' --tz UTC
bad "never fires (Nov 31)" "never fires" '0 0 31 11 *' --tz UTC
bad "unknown zone" "Mars/Olympus" '* * * * *' --tz Mars/Olympus
bad "bad --from" "--from" '* * * * *' --tz UTC --from yesterday
bad "bad --from month" "--from" '* * * * *' --tz UTC --from 2027-13-01T00:00:00Z
bad "bad --count" "--count" '* * * * *' --tz UTC --count 0
assert_exit 64 "no expression: EX_USAGE" -- "$RAPPORTCTL" next --tz UTC
assert_contains "$T_OUT" "expression" "no expression: message"
assert_exit 65 "bad expression: EX_DATAERR" -- "$RAPPORTCTL" next --tz UTC '0 0 32 * *'
assert_eq 1 "$(printf '%s\n' "$T_OUT" | grep -c .)" "bad expression: one line"

assert_exit 0 "--help" -- "$RAPPORTCTL" next --help
assert_contains "$T_OUT" "--from" "--help mentions --from"
assert_contains "$T_OUT" "strictly after" "--help states strictly-after semantics"
t_summary
