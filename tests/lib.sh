# shellcheck shell=bash
# Building blocks for rapport's integration tests; every tests/integration/*.sh
# sources this file (after `set -euo pipefail` if it wants it).
#
# Design: each script gets one private temp dir ($T_TMP) holding everything
# it starts — PostgreSQL data dir, Maildir, request logs, pid files, server
# logs — so teardown is "stop what is in there, rm -rf it". Teardown runs
# from an EXIT trap (INT/TERM/HUP turn into exit). Because a trap cannot run
# on SIGKILL, a watchdog process in its own session waits for this shell to
# die and then reaps whatever is left. Start your own background processes
# (the daemon under test) with t_spawn so both paths stop them too.
#
# Servers report readiness themselves (pg_ctl -w; the sinks write
# "ready PORT" to a fifo after binding), so nothing sleeps a fixed time.
# Sinks bind port 0 and report the port they got, which avoids the
# probe-then-bind race; PostgreSQL needs free_port beforehand.
#
# Conventions:
#   - Assertions never fail the script; they count. End with t_summary,
#     which prints exactly "N passed, M failed" and exits 1 if M > 0.
#     A script that exits before t_summary gets one extra failure and the
#     summary line is printed anyway.
#   - Do not call pg_start/smtp_start/sms_start/t_spawn inside $(...) or a
#     ( subshell ): their state lives in shell variables.
#   - Do not replace the EXIT/INT/TERM traps; register extra teardown with
#     t_on_cleanup 'command'.
#
# Environment exported:
#   pg_start:   PGHOST PGPORT PGUSER PGDATABASE PG_CONNINFO PG_BINDIR PG_DATA PG_LOG
#   smtp_start: SMTP_HOST SMTP_PORT SMTP_MAILDIR SMTP_EVENTS
#   sms_start:  SMS_PORT SMS_URL SMS_LOG SMS_SCRIPT
#   always:     T_TMP (private temp dir), T_ROOT (repo root), T_LIB_DIR (tests/)

# shellcheck disable=SC2034  # T_* variables are read by the test scripts
[[ -z ${_T_LIB_LOADED:-} ]] || return 0
_T_LIB_LOADED=1

T_PY=/usr/bin/python3   # Debian's python: a pyenv python3 cannot see python3-aiosmtpd
T_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
T_ROOT=$(dirname "$T_LIB_DIR")
T_PASS=0
T_FAIL=0
T_OUT=
T_SPAWN_PID=
T_STOP_RC=
_T_SUMMARY_DONE=
_T_LAST_ERR=
_T_OWNER=$BASHPID
_T_CLEANUP_HOOKS=()
declare -A _T_PIDS=()
export T_ROOT T_LIB_DIR

T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/rapport-test.XXXXXX")
# postgres (when we are root) must traverse into its data dir below.
chmod 711 "$T_TMP"
mkdir "$T_TMP/pids"
export T_TMP

_t_err() { printf '%s\n' "$*" >&2; }

# ---------------------------------------------------------------- processes

# True while PID exists and is not a zombie (kill -0 succeeds on zombies,
# and our own exited children stay zombies until waited for).
_t_alive() {
    local stat
    { read -r stat </proc/"$1"/stat; } 2>/dev/null || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# Stop PID: SIGNAL (default TERM), up to TIMEOUT seconds, then SIGKILL.
# Sets T_STOP_RC to its exit status when it is our child.
_t_stop_pid() {
    local pid=$1 sig=${2:-TERM} timeout=${3:-10}
    T_STOP_RC=
    kill -s "$sig" "$pid" 2>/dev/null || true
    if ! wait_until "! _t_alive $pid" "$timeout" 2>/dev/null; then
        kill -s KILL "$pid" 2>/dev/null || true
        wait_until "! _t_alive $pid" 5 2>/dev/null || true
    fi
    T_STOP_RC=0
    # shellcheck disable=SC2034  # result for the caller
    wait "$pid" 2>/dev/null || T_STOP_RC=$?
}

# t_spawn NAME CMD... — run CMD in the background, output to $T_TMP/NAME.log,
# stopped automatically at exit. Sets T_SPAWN_PID. It stays a job of the
# script (so t_stop can report its exit status): a plain `wait` waits for it.
t_spawn() {
    local name=$1
    shift
    "$@" >>"$T_TMP/$name.log" 2>&1 </dev/null &
    T_SPAWN_PID=$!
    _T_PIDS[$name]=$T_SPAWN_PID
    echo "$T_SPAWN_PID" >"$T_TMP/pids/$name.pid"
    echo "$name" >>"$T_TMP/.spawned"
}

# t_stop NAME [SIGNAL [TIMEOUT]] — stop a t_spawn'ed process; its exit
# status lands in T_STOP_RC (143 for an unhandled SIGTERM).
t_stop() {
    local name=$1 pid=${_T_PIDS[$1]:-}
    [[ -n $pid ]] || return 0
    _t_stop_pid "$pid" "${2:-TERM}" "${3:-10}"
    unset "_T_PIDS[$name]"
    rm -f "$T_TMP/pids/$name.pid"
}

# t_log NAME — path of a t_spawn'ed (or sink) process's output.
t_log() { printf '%s\n' "$T_TMP/$1.log"; }

# _t_launch NAME CMD... — start a sink that takes --ready-file and writes
# "ready PORT" there once listening; sets _T_LAUNCH_PORT.
_t_launch() {
    local name=$1 fifo line chunk fd pid tries
    shift
    fifo="$T_TMP/$name.ready"
    rm -f "$fifo"
    mkfifo "$fifo"
    # Opened read-write so neither side blocks in open(); the sink's write
    # lands in the pipe buffer even if we are not reading yet.
    exec {fd}<>"$fifo"
    "$@" --ready-file "$fifo" >>"$T_TMP/$name.log" 2>&1 </dev/null {fd}>&- &
    pid=$!
    # Infrastructure, not the test's own job: a plain `wait` or
    # `jobs -p` in a test must not see it.
    disown "$pid"
    _T_PIDS[$name]=$pid
    echo "$pid" >"$T_TMP/pids/$name.pid"
    line=
    # Short read timeouts only so a sink that died on startup is noticed
    # at once instead of after the whole 20 s budget. A timeout can strike
    # mid-line; read then keeps the partial input, so accumulate.
    for ((tries = 0; tries < 100; tries++)); do
        chunk=
        if read -r -t 0.2 -u "$fd" chunk; then
            line+=$chunk
            break
        fi
        line+=$chunk
        _t_alive "$pid" || break
    done
    exec {fd}<&-
    rm -f "$fifo"
    if [[ $line != "ready "* ]]; then
        _t_err "$name: failed to start; log:"
        cat "$T_TMP/$name.log" >&2 || true
        t_stop "$name" KILL 2
        return 1
    fi
    _T_LAUNCH_PORT=${line#ready }
}

# ------------------------------------------------------------------ waiting

_t_now_us() { local t=${EPOCHREALTIME//[.,]/}; printf '%s' "$t"; }

# wait_until CMD [TIMEOUT_S=10] — eval CMD until it succeeds or the deadline
# passes (then returns 1). inotifywait is not installed and most conditions
# (row counts, process states) have no event to wait on, so this polls every
# 50 ms; the deadline keeps a broken test from hanging.
wait_until() {
    local cmd=$1 timeout=${2:-10} whole frac deadline
    whole=${timeout%%.*}
    frac=0
    [[ $timeout == *.* ]] && frac=${timeout#*.}
    frac=${frac}000000
    deadline=$(($(_t_now_us) + ${whole:-0} * 1000000 + 10#${frac:0:6}))
    while :; do
        if eval "$cmd"; then return 0; fi
        if (($(_t_now_us) >= deadline)); then
            _t_err "wait_until: timed out after ${timeout}s: $cmd"
            return 1
        fi
        # Polling with a deadline: what tests wait for (a row's state, a file
        # in a Maildir, a log line) has no file descriptor to wait on here
        # (inotify-tools is not installed, PostgreSQL state is not a file).
        sleep 0.05
    done
}

# wait_for_file PATH [TIMEOUT_S=10]
wait_for_file() { wait_until "[[ -e $(printf '%q' "$1") ]]" "${2:-10}"; }

# --------------------------------------------------------------- assertions

t_pass() {
    T_PASS=$((T_PASS + 1))
    printf 'ok - %s\n' "$1"
}

t_fail() {
    T_FAIL=$((T_FAIL + 1))
    printf 'FAIL - %s: %s\n' "$1" "${2:-}"
}

assert_eq() {
    if [[ "$1" == "$2" ]]; then
        t_pass "$3"
    else
        t_fail "$3" "expected [$1], got [$2]"
    fi
}

assert_contains() {
    if [[ "$1" == *"$2"* ]]; then
        t_pass "$3"
    else
        t_fail "$3" "[$2] not found in [${1:0:2000}]"
    fi
}

assert_not_contains() {
    if [[ "$1" != *"$2"* ]]; then
        t_pass "$3"
    else
        t_fail "$3" "[$2] found in [${1:0:2000}]"
    fi
}

# A test that calls a command that does not exist (a misspelt helper)
# would otherwise go on, its check silently missing: count it as a failure,
# in a file, because the call may happen in a subshell ($(...)).
command_not_found_handle() {
    printf 'FAIL - command not found: %s\n' "$1" >&2
    [[ -n ${T_TMP:-} && -d ${T_TMP:-} ]] && echo "$1" >>"$T_TMP/.commands-not-found"
    return 127
}

# assert_exit CODE NAME -- CMD... — run CMD (errexit off inside it), check its
# exit status; its stdout+stderr are left in T_OUT.
assert_exit() {
    local want=$1 name=$2 rc=0
    shift 2
    [[ ${1:-} == -- ]] && shift
    "$@" >"$T_TMP/assert_exit.out" 2>&1 || rc=$?
    T_OUT=$(<"$T_TMP/assert_exit.out")
    if [[ $rc == "$want" ]]; then
        t_pass "$name"
    else
        t_fail "$name" "exit status $rc, expected $want; output: ${T_OUT:0:2000}"
    fi
}

t_summary() {
    _T_SUMMARY_DONE=1
    # Background processes (t_spawn) report sanitizer findings only in their
    # logs (under make check-asan): each log with one is a failure.
    local f
    for f in $(sort -u "${T_TMP:-/nonexistent}/.spawned" 2>/dev/null); do
        f=$T_TMP/$f.log
        if [[ -f $f ]] && grep -qE 'ERROR: (Address|Leak|Undefined|Thread)Sanitizer|runtime error:' "$f"; then
            T_FAIL=$((T_FAIL + 1))
            printf 'FAIL - sanitizer report in %s:\n' "${f##*/}"
            grep -m 5 -E 'Sanitizer|runtime error:|^    #' "$f" | sed 's/^/    /'
        fi
    done
    if [[ -s ${T_TMP:-/nonexistent}/.commands-not-found ]]; then
        T_FAIL=$((T_FAIL + $(wc -l <"$T_TMP/.commands-not-found")))
        printf 'FAIL - commands not found: %s\n' "$(sort -u "$T_TMP/.commands-not-found" | tr '\n' ' ')"
    fi
    printf '%d passed, %d failed\n' "$T_PASS" "$T_FAIL"
    if ((T_FAIL > 0)); then exit 1; fi
    exit 0
}

# --------------------------------------------------------------- postgresql

# A port below the kernel's ephemeral range (32768-60999 by default), so
# that no client's outgoing connection takes it between this probe and the
# server's bind, chosen at random so that scripts running side by side
# (tests/run.sh runs clock-bound ones beside the others) rarely meet.
free_port() {
    "$T_PY" -c 'import random, socket
for _ in range(200):
    p = random.randint(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break'
}

_t_pg_bindir() {
    local d
    if command -v pg_config >/dev/null 2>&1 && d=$(pg_config --bindir 2>/dev/null) &&
        [[ -x $d/initdb && -x $d/pg_ctl ]]; then
        printf '%s\n' "$d"
        return 0
    fi
    d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    [[ -x $d/initdb ]] || return 1
    printf '%s\n' "$d"
}

# Server binaries refuse to run as root: run them as postgres then, from a
# directory postgres can read.
_t_as_pg() {
    if ((EUID == 0)); then
        (cd "$_T_PG_DIR" && runuser -u postgres -- "$@")
    else
        (cd "$_T_PG_DIR" && "$@")
    fi
}

_t_pg_ctl_start() {
    if ! _t_as_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 -s start \
        >"$_T_PG_DIR/pg_ctl.out" 2>&1; then
        _t_err "pg_ctl start failed:"
        cat "$_T_PG_DIR/pg_ctl.out" >&2 || true
        tail -n 30 "$PG_LOG" >&2 || true
        return 1
    fi
}

# pg_start [EXTRA_CONF_LINE...] — throwaway cluster with database "rapport".
# Extra arguments are appended to postgresql.conf (e.g. "max_connections = 20").
pg_start() {
    if [[ -n ${_T_PG_DIR:-} ]]; then
        _t_err "pg_start: already started"
        return 1
    fi
    local bindir locale_opts
    bindir=$(_t_pg_bindir) || {
        _t_err "pg_start: no PostgreSQL server binaries found"
        return 1
    }
    _T_PG_DIR=$(mktemp -d "$T_TMP/pg.XXXXXX")
    ((EUID != 0)) || chown postgres: "$_T_PG_DIR"
    PGPORT=$(free_port)
    PG_BINDIR=$bindir
    PG_DATA=$_T_PG_DIR/data
    PG_LOG=$_T_PG_DIR/server.log
    export PG_BINDIR PG_DATA PG_LOG

    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
        locale_opts=(--locale=C.UTF-8)
    else
        locale_opts=(--no-locale)
    fi
    if ! _t_as_pg "$bindir/initdb" -D "$PG_DATA" --no-sync --auth=trust -U postgres \
        --encoding=UTF8 "${locale_opts[@]}" >"$_T_PG_DIR/initdb.log" 2>&1; then
        _t_err "pg_start: initdb failed:"
        cat "$_T_PG_DIR/initdb.log" >&2
        return 1
    fi
    # Durability against power loss is pointless for a cluster that is
    # deleted at exit: fsync off. Commits stay synchronous, though: each is
    # in the kernel before the client hears of it, so a crash of the server
    # alone (pg_stop immediate) loses nothing a client was told was
    # committed, as with a real server; synchronous_commit = off lost the
    # last few hundred ms of them, and a daemon that had recorded a message
    # sent found it back in the queue and sent it again.
    # timezone is pinned so results never depend on the host's zone.
    {
        printf '%s\n' \
            "listen_addresses = '127.0.0.1'" \
            "port = $PGPORT" \
            "unix_socket_directories = '$_T_PG_DIR'" \
            "fsync = off" \
            "full_page_writes = off" \
            "timezone = 'UTC'" \
            "lc_messages = 'C'"
        if (($# > 0)); then printf '%s\n' "$@"; fi
    } >>"$PG_DATA/postgresql.conf"
    # The port was found free before initdb, seconds ago: a script starting
    # beside this one (run.sh runs the clock-bound ones in parallel) may
    # have drawn the same one and bound it first.  Then draw another (the
    # last port line in postgresql.conf wins).
    local tries=1
    until _t_pg_ctl_start; do
        if ((tries++ >= 3)) || ! grep -q 'Address already in use' "$PG_LOG"; then return 1; fi
        PGPORT=$(free_port)
        printf 'port = %s\n' "$PGPORT" >>"$PG_DATA/postgresql.conf"
    done

    export PGHOST=127.0.0.1 PGPORT PGUSER=postgres PGDATABASE=rapport
    export PG_CONNINFO="host=127.0.0.1 port=$PGPORT user=postgres dbname=rapport"
    if ! "$PG_BINDIR/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres rapport \
        >"$_T_PG_DIR/createdb.log" 2>&1; then
        _t_err "pg_start: createdb failed:"
        cat "$_T_PG_DIR/createdb.log" >&2
        return 1
    fi
}

# pg_stop [fast|immediate|smart] — take the server down (data dir and port
# are kept for pg_restart_server). immediate simulates a crash.
pg_stop() {
    [[ -n ${_T_PG_DIR:-} ]] || return 0
    _t_as_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m "${1:-fast}" -w -t 60 -s stop
}

pg_restart_server() {
    if [[ -z ${_T_PG_DIR:-} ]]; then
        _t_err "pg_restart_server: pg_start was not called"
        return 1
    fi
    _t_pg_ctl_start
}

_t_pg_destroy() {
    [[ -n ${_T_PG_DIR:-} ]] || return 0
    local pid
    if [[ -f $PG_DATA/postmaster.pid ]]; then
        _t_as_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m immediate -w -t 20 -s stop >/dev/null 2>&1 || true
        if [[ -f $PG_DATA/postmaster.pid ]]; then
            read -r pid <"$PG_DATA/postmaster.pid" || true
            if [[ -n ${pid:-} ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
        fi
    fi
    _T_PG_DIR=
}

# psql_val "SQL" [psql options...] — print the (unaligned, tuples-only)
# result; fails on any SQL error.
psql_val() {
    local sql=$1
    shift
    "${PG_BINDIR:+$PG_BINDIR/}psql" -XAtq -v ON_ERROR_STOP=1 "$@" -c "$sql"
}

# ------------------------------------------------------------------ smtp sink

_T_SMTP_ARGS=()

_t_smtp_launch() {
    _t_launch smtp "$T_PY" "$T_LIB_DIR/sinks/smtp_sink.py" --port "$1" \
        --maildir "$SMTP_MAILDIR" --events "$SMTP_EVENTS" "${_T_SMTP_ARGS[@]}" || return 1
    SMTP_PORT=$_T_LAUNCH_PORT
    export SMTP_HOST=127.0.0.1 SMTP_PORT SMTP_MAILDIR SMTP_EVENTS
}

# smtp_start [--fail-rcpt ADDR]... [--tempfail-first N] [--delay SECONDS]
smtp_start() {
    if [[ -n ${_T_PIDS[smtp]:-} ]]; then
        _t_err "smtp_start: already started"
        return 1
    fi
    local dir
    dir=$(mktemp -d "$T_TMP/smtp.XXXXXX")
    SMTP_MAILDIR=$dir/Maildir
    SMTP_EVENTS=$dir/events.jsonl
    : >"$SMTP_EVENTS"
    _T_SMTP_ARGS=("$@")
    _t_smtp_launch 0
}

smtp_stop() { t_stop smtp; }

# smtp_restart [--no-faults | sink options...] — same port and Maildir; the
# fault options of the previous start are kept unless new ones are given.
smtp_restart() {
    if [[ -z ${SMTP_PORT:-} ]]; then
        _t_err "smtp_restart: smtp_start was not called"
        return 1
    fi
    smtp_stop
    if [[ ${1:-} == --no-faults ]]; then
        _T_SMTP_ARGS=()
    elif (($# > 0)); then
        _T_SMTP_ARGS=("$@")
    fi
    _t_smtp_launch "$SMTP_PORT"
}

mail_count() {
    local n=0 f
    for f in "$SMTP_MAILDIR"/new/* "$SMTP_MAILDIR"/cur/*; do
        if [[ -f $f ]]; then n=$((n + 1)); fi
    done
    printf '%d\n' "$n"
}

# mail_json      — JSON array of all delivered messages, in delivery order
# mail_json N    — JSON object of message N (1-based; -1 = last)
# Fields: see tests/sinks/mailread.py (subject, from, to, envelope_from,
# envelope_to, header_names, headers, raw_headers, text, html, defects, ...).
mail_json() { "$T_PY" "$T_LIB_DIR/sinks/mailread.py" "$SMTP_MAILDIR" "$@"; }

_t_mail_at_least() { (($(mail_count) >= $1)); }

# wait_for_mail N [TIMEOUT_S=10] — until at least N messages were delivered.
wait_for_mail() { wait_until "_t_mail_at_least $1" "${2:-10}"; }

# ------------------------------------------------------------------ http sink

_t_sms_launch() {
    _t_launch sms "$T_PY" "$T_LIB_DIR/sinks/http_sink.py" --port "$1" \
        --log "$SMS_LOG" --script "$SMS_SCRIPT" || return 1
    SMS_PORT=$_T_LAUNCH_PORT
    SMS_URL=http://127.0.0.1:$SMS_PORT
    export SMS_PORT SMS_URL SMS_LOG SMS_SCRIPT
}

# sms_start — HTTP sink for the SMS provider. Responses follow $SMS_SCRIPT
# (see tests/sinks/http_sink.py; set it with sms_script), each request is a
# JSON line in $SMS_LOG (header names lower-cased, "form"/"json" parsed).
sms_start() {
    if [[ -n ${_T_PIDS[sms]:-} ]]; then
        _t_err "sms_start: already started"
        return 1
    fi
    local dir
    dir=$(mktemp -d "$T_TMP/sms.XXXXXX")
    SMS_LOG=$dir/requests.jsonl
    SMS_SCRIPT=$dir/script
    : >"$SMS_SCRIPT"
    _t_sms_launch 0
}

sms_stop() { t_stop sms; }

sms_restart() {
    if [[ -z ${SMS_PORT:-} ]]; then
        _t_err "sms_restart: sms_start was not called"
        return 1
    fi
    sms_stop
    _t_sms_launch "$SMS_PORT"
}

# sms_script LINE... — replace the remaining script, e.g.
#   sms_script 500 '429 Retry-After=2' 200 hang
sms_script() {
    if (($# > 0)); then printf '%s\n' "$@" >"$SMS_SCRIPT.new"; else : >"$SMS_SCRIPT.new"; fi
    mv -f "$SMS_SCRIPT.new" "$SMS_SCRIPT"
}

sms_count() {
    local n=0 line
    while IFS= read -r line; do n=$((n + 1)); done <"$SMS_LOG"
    printf '%d\n' "$n"
}

# sms_json — JSON array of all logged requests; sms_json N — request N (1-based)
sms_json() {
    if (($# > 0)); then
        jq -s ".[$(($1 > 0 ? $1 - 1 : $1))]" "$SMS_LOG"
    else
        jq -s . "$SMS_LOG"
    fi
}

_t_sms_at_least() { (($(sms_count) >= $1)); }

# wait_for_sms N [TIMEOUT_S=10] — until at least N requests were received.
wait_for_sms() { wait_until "_t_sms_at_least $1" "${2:-10}"; }

# ------------------------------------------------------------------ teardown

# t_on_cleanup 'CMD' — run CMD (eval'd) at exit, before the servers stop,
# in reverse order of registration.
t_on_cleanup() { _T_CLEANUP_HOOKS+=("$*"); }

_t_cleanup() {
    local i name
    for ((i = ${#_T_CLEANUP_HOOKS[@]} - 1; i >= 0; i--)); do
        eval "${_T_CLEANUP_HOOKS[i]}" || true
    done
    for name in "${!_T_PIDS[@]}"; do
        t_stop "$name" TERM 5 || true
    done
    _t_pg_destroy || true
    rm -rf "$T_TMP"
}

_t_on_exit() {
    local rc=$?
    [[ $BASHPID == "$_T_OWNER" ]] || return 0
    set +eu
    trap - EXIT INT TERM HUP
    if [[ -z $_T_SUMMARY_DONE ]]; then
        t_fail "${0##*/}" "exited with status $rc before t_summary${_T_LAST_ERR:+ (last failed command: $_T_LAST_ERR)}"
        printf '%d passed, %d failed\n' "$T_PASS" "$T_FAIL"
        ((rc != 0)) || rc=1
    fi
    _t_cleanup
    exit "$rc"
}

trap _t_on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap '_T_LAST_ERR="${BASH_SOURCE[0]##*/}:$LINENO: $BASH_COMMAND"' ERR

# Watchdog for what no trap can handle (SIGKILL of this shell): a separate
# session (so a process-group kill, as `timeout` sends, misses it) that waits
# on a pidfd for this shell to exit, then stops whatever the pid files and
# data dirs under $T_TMP say is still running. After a normal exit the trap
# has already removed $T_TMP and it has nothing to do.
setsid "$T_PY" -c '
import glob, os, select, shutil, signal, sys, time
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
owner, tmp = int(sys.argv[1]), sys.argv[2]
def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False
def wait_exit(pid, timeout=None):
    try:
        select.select([os.pidfd_open(pid)], [], [], timeout)
    except OSError:  # no pidfd (kernel < 5.3, or gone): poll with the same deadline
        deadline = None if timeout is None else time.monotonic() + timeout
        while alive(pid) and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.1)
wait_exit(owner)
if not os.path.isdir(tmp):
    sys.exit(0)
def first_int(path):
    try:
        with open(path) as f:
            return int(f.readline())
    except (OSError, ValueError):
        return None
for f in glob.glob(os.path.join(tmp, "pids", "*.pid")):
    pid = first_int(f)
    if pid:
        try: os.kill(pid, signal.SIGKILL)
        except OSError: pass
for f in glob.glob(os.path.join(tmp, "pg.*", "data", "postmaster.pid")):
    pid = first_int(f)
    if not pid:
        continue
    try: os.kill(pid, signal.SIGQUIT)  # PostgreSQL immediate shutdown
    except OSError: continue
    wait_exit(pid, 10)
    try: os.kill(pid, signal.SIGKILL)
    except OSError: pass
shutil.rmtree(tmp, ignore_errors=True)
' "$_T_OWNER" "$T_TMP" </dev/null >/dev/null 2>&1 &
disown
