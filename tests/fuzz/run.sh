#!/usr/bin/env bash
# Runs each libFuzzer target for FUZZ_SECONDS (default 60) on its checked-in
# regression corpus (tests/fuzz/corpus/TARGET, read only) plus a scratch
# corpus under build/fuzz/work/TARGET that keeps what the fuzzer learns
# between runs.  FUZZ_SECONDS=0 only replays the corpus: a quick regression
# test.  A crash, leak, timeout or sanitizer report fails the run and leaves
# the input in tests/fuzz/crashes/TARGET-… (reproduce with
# `build/fuzz/fuzz_TARGET FILE`).  FUZZ_MERGE=1 afterwards merges the new
# coverage, minimised, into the checked-in corpus.
#   tests/fuzz/run.sh [TARGET...]      (default: every build/fuzz/fuzz_*)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
seconds=${FUZZ_SECONDS:-60}
fuzzdir=build/fuzz
crashes=tests/fuzz/crashes
mkdir -p "$crashes"

targets=("$@")
if ((${#targets[@]} == 0)); then
    for b in "$fuzzdir"/fuzz_*; do
        [[ -x $b ]] && targets+=("${b##*/fuzz_}")
    done
fi
((${#targets[@]} > 0)) || { echo "fuzz: no targets built under $fuzzdir" >&2; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Per-target options: input size caps and noise control.
opts_for() {
    case $1 in
        cron)     echo "-max_len=512" ;;
        config)   echo "-max_len=8192 -close_fd_mask=2" ;;
        json)     echo "-max_len=8192" ;;
        mustache) echo "-max_len=8192" ;;
        mime)     echo "-max_len=8192" ;;
        sms)      echo "-max_len=2048" ;;
        tz)       echo "-max_len=8192" ;;
        *)        echo "" ;;
    esac
}

failed=()
summary=()
for t in "${targets[@]}"; do
    bin=$fuzzdir/fuzz_$t
    seeds=tests/fuzz/corpus/$t
    work=$fuzzdir/work/$t
    log=$fuzzdir/$t.log
    [[ -x $bin ]] || { echo "fuzz: $bin not built" >&2; failed+=("$t"); continue; }
    mkdir -p "$work" "$seeds"
    dict=()
    [[ -f tests/fuzz/$t.dict ]] && dict=(-dict="tests/fuzz/$t.dict")
    # shellcheck disable=SC2046  # word splitting of the option list is wanted
    args=($(opts_for "$t") "${dict[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
          -artifact_prefix="$crashes/$t-")
    if ((seconds > 0)); then
        args+=(-max_total_time="$seconds")
        echo "== fuzz $t for ${seconds}s ($(find "$seeds" -type f | wc -l) seed(s))"
    else
        args+=(-runs=0)
        echo "== fuzz $t: replaying $(find "$seeds" -type f | wc -l) seed(s)"
    fi
    rc=0
    "$bin" "${args[@]}" "$work" "$seeds" >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n1)
    if ((rc != 0)) || grep -qE '^(==[0-9]+==ERROR|SUMMARY: (Address|Undefined|Leak)Sanitizer|.*runtime error:)' "$log"; then
        echo "FAIL fuzz $t (exit $rc); log $log; last lines:"
        grep -E 'ERROR|SUMMARY|runtime error|FUZZ_ASSERT|Test unit written|#[0-9]+ 0x' "$log" | head -n 40
        failed+=("$t")
        summary+=("$t: FAIL")
    else
        echo "ok   fuzz $t: ${execs:-?} executions, ${cov:-cov: ?}"
        summary+=("$t: ok, ${execs:-?} execs, ${cov:-?}")
        if [[ ${FUZZ_MERGE:-} == 1 ]] && ((seconds > 0)); then
            # shellcheck disable=SC2046
            "$bin" -merge=1 $(opts_for "$t") "$seeds" "$work" >"$fuzzdir/$t.merge.log" 2>&1 &&
                echo "     merged into $seeds: $(find "$seeds" -type f | wc -l) file(s)"
        fi
    fi
done
printf '%s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
    echo "fuzz: FAILED: ${failed[*]} (reproducers under $crashes/)"
    exit 1
fi
echo "fuzz: all ${#targets[@]} target(s) clean"
