#!/usr/bin/env bash
# `rapportctl next` against a public cron implementation, croniter (Debian's
# python3-croniter): a few hundred random expressions over every form issue
# 3 names, in zones without DST, five fire times each, must agree exactly,
# the day-of-month / day-of-week rule included.  DST is covered by
# test_next.sh and the unit tests, against tzdata's transitions.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

export RAPPORT_CONFIG=$T_TMP/absent.conf
ref=$T_LIB_DIR/reference/cron_croniter.py

if ! "$T_PY" -c 'import croniter' 2>/dev/null; then
    t_fail "python3-croniter is installed (make deps)"
    t_summary
fi

# Seed fixed: a failure reproduces with the same command.
"$T_PY" "$ref" "$RAPPORTCTL" 400 20261130 >"$T_TMP/ref.out" 2>&1
last=$(tail -n 1 "$T_TMP/ref.out")
read -r _ compared _ skipped _ mismatches <<<"$last"
if [[ ${compared:-} =~ ^[0-9]+$ ]] && ((compared >= 300)); then
    t_pass "compared $compared expressions with croniter"
else
    t_fail "the comparison ran (last line: $last)"
fi
assert_eq "0" "${mismatches:-none}" "rapportctl next agrees with croniter: $(grep -c '^mismatch' "$T_TMP/ref.out") mismatch(es)$(grep -m3 -A2 '^mismatch' "$T_TMP/ref.out" | sed 's/^/ | /' | tr '\n' ' ')"

# The day rule, as issue 3 states it: both fields restricted, either
# matches -- "restricted" by what the field selects, not by its spelling.
assert_exit 0 "a star with a step restricts: '0 0 */2 * 1'" -- "$RAPPORTCTL" next '0 0 */2 * 1' --tz UTC --from 2027-01-01T00:00:00Z --count 4
assert_eq "2027-01-03T00:00:00+00:00
2027-01-04T00:00:00+00:00
2027-01-05T00:00:00+00:00
2027-01-07T00:00:00+00:00" "$T_OUT" "'*/2' day-of-month with Monday: odd days, and Mondays"
assert_exit 0 "an all-days field does not restrict: '0 0 13 * 0-6'" -- "$RAPPORTCTL" next '0 0 13 * 0-6' --tz UTC --from 2027-01-01T00:00:00Z --count 2
assert_eq "2027-01-13T00:00:00+00:00
2027-02-13T00:00:00+00:00" "$T_OUT" "'13 * 0-6': the 13th only (0-6 is every day)"
t_summary
