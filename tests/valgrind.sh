#!/usr/bin/env bash
# `make check-valgrind`: the integration tests once with rapportd and
# rapportctl under valgrind's memcheck (the -O2 -g build, not a sanitizer
# build), then a summary of what memcheck found: invalid reads and writes,
# uses of uninitialised values, and definite leaks.  Slow (each program
# runs 20-50 times slower), so not part of `make check`; test failures that
# come only from that slowness are reported but do not decide the result.
#   tests/valgrind.sh [TEST_PATTERN]     (default: every integration test)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
command -v valgrind >/dev/null || { echo "valgrind: not installed (apt-get install valgrind)" >&2; exit 69; }
dir=$root/build/valgrind
rm -rf "$dir"
mkdir -p "$dir/logs" "$dir/bin"
chmod 1777 "$dir/logs" # some tests run rapportd as nobody
# Copies: a rebuild while the (long) run goes on must not change the programs.
cp "$root/rapportd" "$root/rapportctl" "$dir/bin/" || exit 1
for p in rapportd rapportctl; do
    cat >"$dir/$p" <<WRAP
#!/bin/sh
exec valgrind -q --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \\
    --suppressions=$root/tests/valgrind.supp --log-file=$dir/logs/$p.%p.log $dir/bin/$p "\$@"
WRAP
    chmod +x "$dir/$p"
done

RAPPORT_BIN=$dir bash "$root/tests/run.sh" "${1:-integration}" | tee "$dir/tests.out"

# Each log holds only what memcheck reported (-q): empty means clean.
runs=$(find "$dir/logs" -name '*.log' | wc -l)
dirty=$(find "$dir/logs" -name '*.log' -size +0 | sort)
leaks=$(cat /dev/null $dirty | grep -c 'definitely lost in')
invalid=$(cat /dev/null $dirty | grep -c -E '^==[0-9]+== (Invalid|Conditional jump|Use of uninitialised|Syscall param|Mismatched|Source and destination)')
printf 'valgrind: %d program run(s), %d with reports: %d definite leak(s), %d memory error(s)\n' \
    "$runs" "$(printf '%s' "$dirty" | grep -c .)" "$leaks" "$invalid"
for f in $dirty; do
    echo "== $f"
    head -n 40 "$f"
done
((leaks == 0 && invalid == 0))
