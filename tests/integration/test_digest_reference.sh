#!/usr/bin/env bash
# Differential test of the digest (jobs/digest.c: whose digest is due, and
# the context built at send time) against a reference model written from
# the documented rules (tests/reference/digest_reference.py, stdlib
# Python).  Each seed makes a small CRM: five reps (rep 1 manages 2, the
# inactive 3 and sometimes 4; 5 sometimes names itself its manager) and 30
# customers in zones from Etc/GMT+12 to Kiritimati, Kathmandu, Chatham,
# Lord Howe and zones changing DST around the scenario, digest hours at
# 00, 23 and in DST gaps, birthdays around the day and on Feb 29 (each
# feb29 policy), interactions, invoices and creation dates on local dates
# either side of each threshold, invoices in EUR/USD/JPY/BHD/CNY (some
# paid, zero or negative), complaints of each severity around their
# deadlines; the thresholds set on the digest or inherited from the other
# jobs.  At instants around reps' digest hours (to the second, either side,
# the lateness running out) and local midnights, `rapportctl run digest
# --dry-run` builds the digests through a template that writes each fact of
# the context one line an item; the set of digests, their not_before, and
# every section's items, order and facts must be the model's.
# A failure prints the seed: `python3 tests/reference/digest_reference.py
# gen SEED DIR` writes that scenario, `... expect DIR/ds.json NOW` the
# model's digests.  DIGEST_REF_SEEDS overrides the seed list.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"
source "$T_LIB_DIR/reference/scenario.sh"

REF=$T_LIB_DIR/reference/digest_reference.py
SEEDS=${DIGEST_REF_SEEDS:-$(seq 1 40)}
export PGOPTIONS='-c client_min_messages=warning'

rapport_db
rapport_config "$T_TMP/migrate.conf"
"$RAPPORTCTL" --config "$T_TMP/migrate.conf" migrate >/dev/null

# The shipped templates, with the digest's English one replaced by a dump
# of its context.
export TEMPLATES_DIR=$T_TMP/templates
cp -r "$T_ROOT/templates" "$TEMPLATES_DIR"
"$T_PY" "$REF" template >"$TEMPLATES_DIR/digest.email.en.mustache"

runs=0 digests=0 lines=0
for seed in $SEEDS; do
    dir=$T_TMP/s$seed
    mkdir -p "$dir"
    "$T_PY" "$REF" gen "$seed" "$dir"
    load "$dir"
    while read -r now; do
        if ! "$RAPPORTCTL" --config "$dir/rapport.conf" run digest --dry-run --show-recipients --now "$now" \
            >"$dir/got" 2>"$dir/err"; then
            t_fail "seed $seed, --now $now: the dry run" "$(head -5 "$dir/err")"
            continue
        fi
        if out=$("$T_PY" "$REF" compare "$dir/ds.json" "$now" "$dir/got"); then
            t_pass "seed $seed, --now $now: ${out#\# }, as the rules say"
        else
            t_fail "seed $seed, --now $now: the built digests differ from the model's" "$(tail -n +2 <<<"$out" | head -40)"
        fi
        runs=$((runs + 1))
        read -r n m < <(sed -n '1s/^# \([0-9]*\) digest(s), \([0-9]*\) line(s)/\1 \2/p' <<<"$out")
        digests=$((digests + ${n:-0})) lines=$((lines + ${m:-0}))
    done <"$dir/nows"
done
echo "# $runs dry runs, $digests digests, $lines lines"
assert_eq 1 "$((digests >= runs && lines >= 10 * digests))" "the scenarios build digests, with items in them"

t_summary
