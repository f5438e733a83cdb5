#!/usr/bin/env bash
# The daemon's TCP connection to PostgreSQL carries keepalives (30 s idle)
# and a TCP user timeout by default, so a database server that vanishes
# without a word (a partition, a host that lost power) is noticed in about a
# minute rather than after the kernel's quarter of an hour of retransmits,
# during which the event loop, blocked in the statement, would not even hear
# SIGTERM.  A keepalive setting in the administrator's conninfo wins.
# Read from the kernel: /proc/net/tcp's timer column of rapportd's own
# sockets (2 = keepalive armed, with the time left in 1/100 s).
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
rapport_config "$T_TMP/c.conf" 'birthdays: { enabled = false; };'
"$RAPPORTCTL" --config "$T_TMP/c.conf" migrate >/dev/null

# db_socket_timers PID — "TIMER WHEN" (hex, as the kernel prints them) for
# each of PID's TCP sockets connected to the test server's port.
db_socket_timers() {
    local pid=$1 port inodes
    port=$(printf '%04X' "$PGPORT")
    inodes=$(find "/proc/$pid/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null | tr -dc '0-9\n')
    [[ -n $inodes ]] || return 0
    awk -v port=":$port" -v inodes="$inodes" '
        BEGIN { n = split(inodes, a, "\n"); for (i = 1; i <= n; i++) if (a[i] != "") want[a[i]] = 1 }
        NR > 1 && substr($3, length($3) - 4) == port && ($10 in want) { split($6, t, ":"); print t[1], t[2] }
    ' /proc/net/tcp
}
# keepalive_when PID — centiseconds until the keepalive probe of PID's idle
# database connection, once one shows (empty if none does within 10 s).
keepalive_when() {
    local timers= when
    # Read the snapshot the wait accepted (see the second daemon below).
    wait_until "timers=\$(db_socket_timers $1); grep -q '^02 ' <<<\"\$timers\"" 10 || return 0
    when=$(awk '$1 == "02" { print $2; exit }' <<<"$timers")
    echo $((16#$when))
}

t_spawn daemon "$RAPPORTD" --config "$T_TMP/c.conf"
pid=$T_SPAWN_PID
# The assertion reads the snapshot the wait accepted, as below: a second
# read of /proc/net/tcp (read in chunks while sockets come and go) says
# nothing the first did not.
timers=
wait_until "timers=\$(db_socket_timers $pid); [[ -n \$timers ]]" 10
assert_contains "$timers" " " "rapportd holds a TCP connection to the database"
when=$(keepalive_when "$pid")
if [[ -n $when ]] && ((when <= 3000)); then
    t_pass "keepalive armed on the database connection, first probe within 30 s (${when} cs)"
else
    t_fail "keepalive armed on the database connection, first probe within 30 s" "timer: '${when:-none}'; sockets: $(db_socket_timers "$pid")"
fi
t_stop daemon
assert_eq 0 "$T_STOP_RC" "daemon stops cleanly on SIGTERM"

# The administrator's conninfo overrides the default.
sed -i "s|conninfo = \"$PG_CONNINFO\"|conninfo = \"$PG_CONNINFO keepalives=0\"|" "$T_TMP/c.conf"
assert_contains "$(cat "$T_TMP/c.conf")" "keepalives=0" "config edited"
t_spawn daemon2 "$RAPPORTD" --config "$T_TMP/c.conf"
pid=$T_SPAWN_PID
# With keepalives on, an idle socket always shows its keepalive timer (02);
# with them off it shows none (00) once nothing is in flight.  The assertion
# reads the very snapshot the wait accepted: a second read may catch a query
# in flight (01, the retransmit timer) and say nothing about keepalives.
timers=
wait_until "timers=\$(db_socket_timers $pid); grep -q '^00 ' <<<\"\$timers\"" 10
assert_contains "$timers" "00 " "rapportd holds an idle TCP connection with no timer armed (keepalives=0 in conninfo wins)"
assert_not_contains "$timers" "02 " "keepalives=0 in conninfo wins: no keepalive timer"
t_stop daemon2

t_summary
