#!/usr/bin/env bash
# The whole test suite: cmocka unit tests (plain and under ASan+UBSan), then
# every tests/integration/*.sh against real PostgreSQL, SMTP and HTTP
# servers the scripts start themselves.  The last line is "N passed, M
# failed"; the exit status is non-zero if anything failed.
#   tests/run.sh [PATTERN]   only integration scripts whose name matches
set -u
cd "$(dirname "$0")/.."
pattern=${1:-}
passed=0
failed=0
failures=()
logdir=$(mktemp -d "${TMPDIR:-/tmp}/rapport-check.XXXXXX")

count_cmocka() { # $1 name, $2 log
        local p f
        # a file may run several cmocka groups: sum them all
        p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$2" | awk '{s+=$1} END {if (NR) print s}')
        f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$2" | awk '{s+=$1} END {if (NR) print s}')
        passed=$((passed + ${p:-0}))
        if [[ -n $f && $f != 0 ]] || [[ -z $p && -z $f ]]; then
                failed=$((failed + ${f:-1}))
                failures+=("$1")
                sed 's/^/    /' "$2" | grep -E 'FAIL|ERROR|error|Sanitizer|runtime error' | head -20
        fi
}

if [[ -z $pattern ]]; then
        for kind in unit unit-san; do
                for t in build/$kind/test_*; do
                        [[ -x $t ]] || continue
                        name="$kind/$(basename "$t")"
                        log="$logdir/${kind}_$(basename "$t").log"
                        start=$(date +%s)
                        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
                                "$t" >"$log" 2>&1
                        rc=$?
                        if [[ $rc != 0 ]] && ! grep -q '^\[  FAILED  \]' "$log"; then
                                # crashed or a sanitizer fired: count it as one failure
                                echo "$log" >/dev/null
                                grep -q '^\[  PASSED  \]' "$log" && sed -i '/^\[  PASSED  \]/d' "$log"
                                echo "[  FAILED  ] 1 test(s), exit status $rc" >>"$log"
                        fi
                        count_cmocka "$name" "$log"
                        printf '%-40s %s passed, %s failed (%ss)\n' "$name" \
                                "$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')" \
                                "$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')" \
                                "$(( $(date +%s) - start ))"
                done
        done
fi

# tally NAME LOG RC SECONDS — count one integration script's results.
tally() {
        local name=$1 log=$2 rc=$3 secs=$4 line p f
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
        p=${line%% passed*}
        f=${line#*passed, }
        f=${f%% failed*}
        if [[ -z $line ]]; then p=0; f=1; fi
        if [[ $rc != 0 && ${f:-0} == 0 ]]; then f=1; fi
        passed=$((passed + p))
        failed=$((failed + f))
        printf '%-40s %s (%ss)\n' "integration/$name" "${line:-no summary (exit $rc)}" "$secs"
        if [[ $f != 0 ]]; then
                failures+=("integration/$name")
                grep -E '^(FAIL|not ok)' "$log" | head -30 | sed 's/^/    /'
                echo "    (full log: $log)"
        fi
}

# Scripts marked "run.sh: clock-bound" spend their time waiting for the
# wall clock (real minute boundaries), not computing: they run in the
# background beside the others instead of adding minutes to the total.
scripts=() clocked=()
for s in tests/integration/*.sh; do
        [[ -n $pattern && $s != *$pattern* ]] && continue
        if grep -q '^# run.sh: clock-bound' "$s"; then clocked+=("$s"); else scripts+=("$s"); fi
done
declare -A bg_pid=() bg_start=()
for s in "${clocked[@]}"; do
        name=$(basename "$s" .sh)
        bg_start[$name]=$(date +%s)
        bash "$s" >"$logdir/$name.log" 2>&1 &
        bg_pid[$name]=$!
done
for s in "${scripts[@]}"; do
        name=$(basename "$s" .sh)
        log="$logdir/$name.log"
        start=$(date +%s)
        bash "$s" >"$log" 2>&1
        tally "$name" "$log" $? "$(( $(date +%s) - start ))"
done
for s in "${clocked[@]}"; do
        name=$(basename "$s" .sh)
        wait "${bg_pid[$name]}"
        tally "$name" "$logdir/$name.log" $? "$(( $(date +%s) - bg_start[$name] ))"
done

if ((${#failures[@]})); then
        echo "failed: ${failures[*]}"
else
        rm -rf "$logdir"
fi
echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
