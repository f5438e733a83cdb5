#!/usr/bin/env bash
# Scheduling: each occurrence of a job is planned exactly once, however many
# instances race for it; missed occurrences are handled by the catch_up
# policy inside catch_up_window; an instance killed mid-run leaves its
# occurrence to the others; `rapportctl status` reports it all.
#
# Time is driven with `rapportd --once --now T` so nothing waits for the
# wall clock, except the last part, which runs three real daemons across a
# few minute boundaries (about three minutes).
# run.sh: clock-bound
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
smtp_start

# The job's zone is not the config's: every-minute occurrences are the same
# instants anywhere, but status must show the job's own zone.
JOB_TZ=Asia/Kolkata
# job_conf FILE CATCH_UP WINDOW [MAX [INSTANCE]]
job_conf() {
    rapport_config "$1" "birthdays: { schedule = \"* * * * *\"; time_zone = \"$JOB_TZ\"; send_at = \"09:00\";
      channels = [ \"email\" ]; max_lateness = \"1d\"; effective_from = \"2020-01-01\";
      catch_up = \"$2\"; catch_up_window = \"$3\"; catch_up_max = ${4:-100}; };"
    if [[ -n ${5:-} ]]; then printf 'instance = "%s";\n' "$5" >>"$1"; fi
}
CONF=$T_TMP/all.conf
job_conf "$CONF" all 1h
assert_exit 0 "migrate" -- "$RAPPORTCTL" --config "$CONF" migrate

psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, phone, time_zone, locale, digest_hour, manager_id, active) VALUES
 (1, 'Alice Smith', 'alice@example.com', NULL, 'UTC', 'en', 8, NULL, true);
INSERT INTO crm.customers (id, name, tier, email, phone, birthday, time_zone, locale, rep_id, consent_email, consent_sms, active) VALUES
 (1, 'Ann One',   'A', 'ann@example.com',   NULL, '1980-06-15', 'UTC', 'en', 1, true, false, true),
 (2, 'Bob Two',   'B', 'bob@example.com',   NULL, '1975-06-15', 'UTC', 'en', 1, true, false, true),
 (3, 'Cy Three',  'C', 'cy@example.com',    NULL, '1990-06-15', 'UTC', 'en', 1, true, false, true),
 (4, 'Di Four',   'C', 'di@example.com',    NULL, '1990-01-20', 'UTC', 'en', 1, true, false, true),
 (5, 'Ed Five',   'C', 'ed@example.com',    NULL, NULL,         'UTC', 'en', 1, true, false, true);
SQL

iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
sqlt() { printf "to_timestamp(%d)" "$1"; }
# runs A B [STATUS] — occurrences recorded in (A, B] (epoch seconds)
runs() {
    psql_val "SELECT count(*) FROM rapport.job_runs WHERE job = 'birthdays' AND NOT manual
              AND scheduled_for > $(sqlt "$1") AND scheduled_for <= $(sqlt "$2") ${3:+AND status = '$3'}"
}
# once CONF EPOCH — one rapportd --once at that instant; log in once.log
once() { "$RAPPORTD" --config "$1" --once --now "$(iso "$2")" >>"$T_TMP/once.log" 2>&1; }
# race3 CONF EPOCH — three instances started together for the same instant;
# returns how many of them exited non-zero.
race3() {
    local i pids=() bad=0 t
    t=$(iso "$2")
    for i in 1 2 3; do
        "$RAPPORTD" --config "$1" --once --now "$t" >>"$T_TMP/race$i.log" 2>&1 &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || bad=$((bad + 1)); done
    return "$bad"
}
# history_from EPOCH — forget all runs; the last occurrence handled was EPOCH.
history_from() {
    psql_val "DELETE FROM rapport.job_runs;
              INSERT INTO rapport.job_runs (job, scheduled_for, status, instance, started_at, finished_at, planned, skipped)
              VALUES ('birthdays', $(sqlt "$1"), 'ok', 'seed', now(), now(), 0, 0)" >/dev/null
}

# session_open NAME SQL — a psql session kept open (fed through a fifo)
# that has run SQL: it holds whatever locks SQL took until
# session_close NAME [SQL] runs SQL and ends it.
declare -A session_fd=() session_pid=()
session_open() {
    local fd
    mkfifo "$T_TMP/$1.fifo"
    psql -XAtq -v ON_ERROR_STOP=1 <"$T_TMP/$1.fifo" >"$T_TMP/$1.out" 2>&1 &
    session_pid[$1]=$!
    exec {fd}>"$T_TMP/$1.fifo"
    session_fd[$1]=$fd
    echo "$2 SELECT 'session-ready';" >&"$fd"
    wait_until "grep -q session-ready '$T_TMP/$1.out'" 10
}
session_close() {
    local fd=${session_fd[$1]}
    [[ -n ${2:-} ]] && echo "$2" >&"$fd"
    exec {fd}>&-
    wait "${session_pid[$1]}" || true
}

# ---------------------------------------------------------------- exactly once
# Birthdays of customers 1-3 are due (09:00 UTC) from the first minute on.
T0=$(date -u -d 2027-06-15T10:00:00Z +%s)
fails=0
for m in 0 1 2 3 4 5 6 7 8 9; do
    race3 "$CONF" $((T0 + 60 * m)) || fails=$((fails + $?))
done
assert_eq 0 "$fails" "30 concurrent --once runs (3 per minute, 10 minutes) all exit 0"
T9=$((T0 + 540))
assert_eq 10 "$(runs $((T0 - 1)) "$T9" ok)" "one ok run per minute T0..T0+9"
assert_eq 10 "$(psql_val "SELECT count(DISTINCT scheduled_for) FROM rapport.job_runs WHERE scheduled_for BETWEEN $(sqlt "$T0") AND $(sqlt "$T9")")" \
    "ten distinct minutes"
assert_eq 0 "$(psql_val "SELECT count(*) FROM rapport.job_runs WHERE status <> 'ok' AND scheduled_for >= $(sqlt "$T0")")" \
    "no failed, skipped or unfinished run"
assert_eq 0 "$(psql_val "SELECT count(*) FROM rapport.job_runs WHERE extract(second FROM scheduled_for) <> 0")" \
    "occurrences are whole minutes"
assert_eq 0 "$(psql_val "SELECT count(*) FROM rapport.job_runs WHERE scheduled_for >= $(sqlt "$T0") AND (instance IS NULL OR finished_at IS NULL OR started_at IS NULL OR planned IS NULL)")" \
    "each run records instance, start, end and rows"
# A brand-new job has missed nothing: its first start runs the current
# occurrence, not a window's worth of history.
assert_eq 0 "$(runs 0 $((T0 - 1)))" "first start of a new job does not back-fill the catch-up window"
assert_eq 3 "$(psql_val "SELECT sum(planned) FROM rapport.job_runs")" "3 messages planned in total, by one run"
assert_eq "3|3|3" "$(psql_val "SELECT count(*), count(DISTINCT customer_id), count(DISTINCT dedupe_key) FROM rapport.outbox")" \
    "outbox: one row per due customer"
assert_eq "1,2,3" "$(psql_val "SELECT string_agg(customer_id::text, ',' ORDER BY customer_id) FROM rapport.outbox")" \
    "outbox: exactly the customers whose birthday is due"
wait_for_mail 3 10 || true
assert_eq 3 "$(mail_count)" "three e-mails delivered"
assert_eq "ann@example.com bob@example.com cy@example.com" \
    "$(mail_json | "$T_PY" -c 'import json,sys; print(" ".join(sorted(t for m in json.load(sys.stdin) for t in m["envelope_to"])))')" \
    "each due customer received exactly one e-mail"
assert_eq 3 "$(psql_val "SELECT count(*) FROM rapport.outbox WHERE state = 'sent'")" "all three recorded sent"

# ------------------------------------------------------------------- catch-up
# Down for 30 minutes, then three instances start at once: catch_up = all
# runs each missed occurrence once, oldest first.
T39=$((T9 + 1800))
race3 "$CONF" "$T39"
assert_eq 0 "$?" "catch-up: three instances exit 0"
assert_eq 30 "$(runs "$T9" "$T39")" "catch-up all: 30 occurrences recorded"
assert_eq 30 "$(runs "$T9" "$T39" ok)" "catch-up all: all 30 ran ok"
before=$(psql_val "SELECT count(*), max(id) FROM rapport.job_runs")
once "$CONF" "$T39"
assert_eq "$before" "$(psql_val "SELECT count(*), max(id) FROM rapport.job_runs")" "running again at the same instant re-runs nothing"
once "$CONF" $((T39 - 600))
assert_eq "$before" "$(psql_val "SELECT count(*), max(id) FROM rapport.job_runs")" "an instant before the last run re-runs nothing"
once "$CONF" $((T39 + 30))
assert_eq "$before" "$(psql_val "SELECT count(*), max(id) FROM rapport.job_runs")" "30 s later (same minute) re-runs nothing"
assert_eq 3 "$(mail_count)" "catch-up sends nothing twice"
assert_eq 3 "$(psql_val "SELECT count(*) FROM rapport.outbox")" "catch-up plans nothing twice"

# Each policy from the same history: last handled S0, now S0 + 30 min.
S0=$(date -u -d 2027-06-15T12:00:00Z +%s)
S30=$((S0 + 1800))
# policy NAME CATCH_UP WINDOW MAX -> sets OK, SKIPPED, TOTAL
policy() {
    local f=$T_TMP/$1.conf
    job_conf "$f" "$2" "$3" "$4"
    history_from "$S0"
    once "$f" "$S30"
    assert_eq 0 "$?" "$1: exit 0"
    TOTAL=$(runs "$S0" "$S30")
    OK=$(runs "$S0" "$S30" ok)
    SKIPPED=$(runs "$S0" "$S30" skipped)
    once "$f" "$S30"
    assert_eq "$TOTAL" "$(runs "$S0" "$S30")" "$1: running again at the same instant adds nothing"
    assert_eq "$OK" "$(runs "$S0" "$S30" ok)" "$1: and re-runs nothing"
}
latest_ok() { psql_val "SELECT status FROM rapport.job_runs WHERE scheduled_for = $(sqlt "$S30")"; }

policy latest latest 1h 100
assert_eq "30 1 29" "$TOTAL $OK $SKIPPED" "catch_up = latest: 30 recorded, 1 ran, 29 skipped"
assert_eq ok "$(latest_ok)" "catch_up = latest: the most recent one ran"
assert_eq 0 "$(psql_val "SELECT count(*) FROM rapport.job_runs WHERE status = 'skipped' AND coalesce(error, '') = ''")" \
    "skipped occurrences carry a reason"

policy none none 1h 100
assert_eq "30 1 29" "$TOTAL $OK $SKIPPED" "catch_up = none: 30 recorded, the current one ran, 29 skipped"
assert_eq ok "$(latest_ok)" "catch_up = none: the current occurrence (exactly now) ran"

policy window-all all 10m 100
assert_eq "30 11 19" "$TOTAL $OK $SKIPPED" "window 10m, all: 19 older than the window skipped, 11 ran"
assert_eq "$(iso $((S0 + 1140)))|$(iso $((S0 + 1200)))" \
    "$(psql_val "SELECT to_char(max(scheduled_for) FILTER (WHERE status = 'skipped'), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || '|' ||
                        to_char(min(scheduled_for) FILTER (WHERE status = 'ok'), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
                 FROM rapport.job_runs WHERE scheduled_for > $(sqlt "$S0")")" \
    "window 10m: the window starts exactly 10 minutes back"
assert_eq 0 "$(psql_val "SELECT count(*) FROM (SELECT started_at, lag(started_at) OVER (ORDER BY scheduled_for) AS prev
                          FROM rapport.job_runs WHERE status = 'ok' AND scheduled_for > $(sqlt "$S0")) x WHERE prev > started_at")" \
    "catch_up = all runs oldest first"

policy window-latest latest 10m 100
assert_eq "30 1 29" "$TOTAL $OK $SKIPPED" "window 10m, latest: 1 ran, 29 skipped"
assert_eq 19 "$(psql_val "SELECT count(*) FROM rapport.job_runs WHERE status = 'skipped' AND error ILIKE '%window%'")" \
    "window 10m, latest: the 19 outside the window say so"

policy max-5 all 1h 5
assert_eq "30 5 25" "$TOTAL $OK $SKIPPED" "catch_up_max = 5: the newest 5 ran, 25 skipped"
assert_eq "$(iso $((S0 + 1560)))" \
    "$(psql_val "SELECT to_char(min(scheduled_for), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM rapport.job_runs WHERE status = 'ok' AND scheduled_for > $(sqlt "$S0")")" \
    "catch_up_max = 5: from S0+26 min"

# The window also bounds a long outage: a day down, window 1h.
job_conf "$T_TMP/day.conf" all 1h 100
history_from "$S0"
once "$T_TMP/day.conf" $((S0 + 86400))
assert_eq 61 "$(runs $((S0 + 86400 - 3601)) $((S0 + 86400)) ok)" "a day down, window 1h: the last hour's 61 occurrences ran"
assert_eq 0 "$(psql_val "SELECT count(*) FROM rapport.job_runs WHERE status = 'ok' AND scheduled_for > $(sqlt "$S0") AND scheduled_for < $(sqlt $((S0 + 86400 - 3600)))")" \
    "a day down: nothing older than the window ran"
assert_eq "1440|1379" "$(psql_val "SELECT count(*), count(*) FILTER (WHERE status = 'skipped' AND error ILIKE '%window%')
                                   FROM rapport.job_runs WHERE scheduled_for > $(sqlt "$S0")")" \
    "a day down: every other occurrence of the day is recorded skipped (none silently lost)"

# ------------------------------------------------- killed mid-run, exactly once
# Customer 6's birthday is due at TK.  A table lock holds instance A inside
# its planning transaction (its claim of TK not yet committed); instance B
# queues behind that claim.  Killing A rolls its claim back and B plans TK.
psql_val "INSERT INTO crm.customers (id, name, tier, email, birthday, time_zone, locale, rep_id, consent_email, active)
          VALUES (6, 'Fay Six', 'A', 'fay@example.com', '1985-06-16', 'UTC', 'en', 1, true, true)" >/dev/null
TK=$(date -u -d 2027-06-16T10:00:00Z +%s)
history_from $((TK - 60))
session_open lock "BEGIN; LOCK TABLE rapport.outbox IN EXCLUSIVE MODE;"
waiting() { psql_val "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'rapportd --once%' AND wait_event_type = 'Lock'"; }
"$RAPPORTD" --config "$CONF" --once --now "$(iso "$TK")" >"$T_TMP/kill-a.log" 2>&1 &
pid_a=$!
wait_until '[[ $(waiting) == 1 ]]' 20
assert_eq 0 "$(psql_val "SELECT count(*) FROM rapport.job_runs WHERE scheduled_for = $(sqlt "$TK")")" \
    "A's claim is still uncommitted: it is mid-run"
"$RAPPORTD" --config "$CONF" --once --now "$(iso "$TK")" >"$T_TMP/kill-b.log" 2>&1 &
pid_b=$!
wait_until '[[ $(waiting) == 2 ]]' 20
assert_eq 2 "$(waiting)" "A and B both blocked on the occurrence"
kill -KILL "$pid_a"
rc_a=0
{ wait "$pid_a"; } 2>/dev/null || rc_a=$?
assert_eq 137 "$rc_a" "A killed mid-run"
session_close lock "COMMIT;"
rc_b=0
wait "$pid_b" || rc_b=$?
assert_eq 0 "$rc_b" "B exits 0 after A died"
assert_eq "ok|1" "$(psql_val "SELECT status, planned FROM rapport.job_runs WHERE scheduled_for = $(sqlt "$TK")")" \
    "the occurrence ran once, planning the due greeting"
assert_eq "1|1" "$(psql_val "SELECT count(*), count(*) FILTER (WHERE o.run_id = r.id) FROM rapport.outbox o
                              JOIN rapport.job_runs r ON r.scheduled_for = $(sqlt "$TK") WHERE o.customer_id = 6")" \
    "one outbox row for customer 6, from B's run"
wait_for_mail 4 10 || true
assert_eq 4 "$(mail_count)" "customer 6 greeted once"
if [[ $(mail_count) != 4 ]]; then sed 's/^/    kill-b: /' "$T_TMP/kill-b.log"; fi

# ------------------------------------------------------------------- status
# next run: the next wall-clock minute; n0/n1 bracket the text status and
# n1/n2 the JSON one, as a minute may turn during either call.
n0=$("$RAPPORTCTL" next --tz "$JOB_TZ" '* * * * *')
assert_exit 0 "status" -- "$RAPPORTCTL" --config "$CONF" status
line=$(printf '%s\n' "$T_OUT" | grep -E '^birthdays ' || true)
assert_contains "$line" "* * * * *" "status: schedule"
assert_contains "$line" "$JOB_TZ" "status: job's zone"
assert_contains "$line" "2027-06-16T15:30:00+05:30" "status: last run, in the job's zone"
assert_contains "$line" " ok " "status: last run's status"
n1=$("$RAPPORTCTL" next --tz "$JOB_TZ" '* * * * *')
assert_exit 0 "status --json" -- "$RAPPORTCTL" --config "$CONF" status --json
n2=$("$RAPPORTCTL" next --tz "$JOB_TZ" '* * * * *')
json=$T_OUT
field() { "$T_PY" -c 'import json,sys; j=[x for x in json.loads(sys.argv[1])["jobs"] if x["job"]=="birthdays"][0]; print(j[sys.argv[2]])' "$json" "$1" 2>&1; }
assert_eq "* * * * *" "$(field schedule)" "status --json: schedule"
assert_eq "$JOB_TZ" "$(field time_zone)" "status --json: time_zone"
assert_eq "2027-06-16T15:30:00+05:30" "$(field last_run)" "status --json: last_run"
assert_eq ok "$(field last_status)" "status --json: last_status"
assert_eq 1 "$(field last_planned)" "status --json: last_planned (rows)"
next=$(field next_run)
if [[ $next == "$n1" || $next == "$n2" ]]; then t_pass "status --json: next_run"; else t_fail "status --json: next_run" "[$next], expected [$n1] or [$n2]"; fi
if [[ $line == *"$n0"* || $line == *"$n1"* ]]; then t_pass "status: next run"; else t_fail "status: next run" "[$line], expected [$n0] or [$n1]"; fi

# ------------------------------------------- a manual run beside an occurrence
# `rapportctl run` at the very instant of an occurrence: the manual run is a
# log entry, the occurrence still has its own claim and runs; a second
# manual run in the same second plans as well.
TM=$(date -u -d 2027-06-16T11:00:00Z +%s)
history_from $((TM - 60))
assert_exit 0 "manual run at an occurrence's instant" -- "$RAPPORTCTL" --config "$CONF" run birthdays --now "$(iso "$TM")"
once "$CONF" "$TM"
assert_eq "ok|manual ok|occurrence" "$(psql_val "SELECT string_agg(status || '|' || CASE WHEN manual THEN 'manual' ELSE 'occurrence' END, ' ' ORDER BY manual DESC)
                                   FROM rapport.job_runs WHERE scheduled_for = $(sqlt "$TM")")" \
    "manual run and scheduled occurrence both recorded, both ok"
assert_exit 0 "a second manual run in the same second" -- "$RAPPORTCTL" --config "$CONF" run birthdays --now "$(iso "$TM")"
assert_eq 2 "$(psql_val "SELECT count(*) FROM rapport.job_runs WHERE scheduled_for = $(sqlt "$TM") AND manual AND status = 'ok'")" \
    "the second manual run is recorded too"

# ------------------------------------------------------------- three daemons
# Real time now.  History says the last occurrence handled is the current
# minute; three daemons share the job from here on.
base=$(($(date +%s) / 60 * 60))
history_from "$base"
daemons=(daemon-a daemon-b daemon-c)
for dn in "${daemons[@]}"; do
    job_conf "$T_TMP/$dn.conf" latest 1h 100 "$dn"
    t_spawn "$dn" "$RAPPORTD" --config "$T_TMP/$dn.conf"
done
for dn in "${daemons[@]}"; do
    wait_until "grep -q 'Connected to the database' '$(t_log "$dn")'" 20
done
after_base() { psql_val "SELECT count(*) FROM rapport.job_runs WHERE scheduled_for > $(sqlt "$base") AND NOT manual $1"; }
if wait_until '(( $(after_base "") >= 1 ))' 90; then
    t_pass "daemons: a minute occurrence planned"
else
    t_fail "daemons: a minute occurrence planned" "$(psql_val "SELECT scheduled_for, status, instance FROM rapport.job_runs ORDER BY 1")"
fi
# A reload in between neither re-runs nor loses an occurrence.
kill -HUP "${_T_PIDS[daemon-b]}"
wait_until "grep -q 'Configuration reloaded' '$(t_log daemon-b)'" 10
assert_contains "$(cat "$(t_log daemon-b)")" "Configuration reloaded" "daemons: daemon-b reloaded (SIGHUP)"

# Another instance is planning the next occurrence (its advisory lock is
# held here): the daemons neither wait on it nor give it up; once it is
# released they plan it.
busy=$(( $(psql_val "SELECT extract(epoch FROM max(scheduled_for))::bigint FROM rapport.job_runs WHERE NOT manual") + 60 ))
session_open busy "SELECT pg_advisory_lock(hashtext('rapport occurrence birthdays'), $((busy / 60)));"
busy_logged() { cat "$(t_log daemon-a)" "$(t_log daemon-b)" "$(t_log daemon-c)" | grep -c 'being planned by another instance' || true; }
if wait_until '(( $(busy_logged) >= 3 ))' 90; then
    t_pass "daemons: the busy occurrence is left to its planner, and looked at again"
else
    t_fail "daemons: the busy occurrence is left to its planner, and looked at again" "$(busy_logged) log line(s)"
fi
assert_eq 0 "$(psql_val "SELECT count(*) FROM rapport.job_runs WHERE scheduled_for = $(sqlt "$busy")")" \
    "daemons: nobody claimed the busy occurrence meanwhile"
assert_eq 0 "$(psql_val "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'rapportd%' AND wait_event_type = 'Lock'")" \
    "daemons: no daemon waits on a lock"
session_close busy "SELECT pg_advisory_unlock_all();"
if wait_until "[[ \$(psql_val \"SELECT status FROM rapport.job_runs WHERE scheduled_for = $(sqlt "$busy")\") == ok ]]" 20; then
    t_pass "daemons: released, the occurrence is planned within seconds"
else
    t_fail "daemons: released, the occurrence is planned within seconds" "$(psql_val "SELECT scheduled_for, status, instance FROM rapport.job_runs ORDER BY 1")"
fi

got=$(after_base "")
assert_eq "$got" "$(after_base "AND status = 'ok' AND instance IN ('daemon-a', 'daemon-b', 'daemon-c')")" \
    "daemons: each occurrence ran ok, by one of the three"
assert_eq "$got" "$(psql_val "SELECT (extract(epoch FROM max(scheduled_for) - $(sqlt "$base")) / 60)::int FROM rapport.job_runs WHERE NOT manual")" \
    "daemons: no minute lost"

# Kill the instance that planned the last occurrence; the others carry on.
last=$(psql_val "SELECT extract(epoch FROM max(scheduled_for))::bigint FROM rapport.job_runs WHERE NOT manual")
winner=$(psql_val "SELECT instance FROM rapport.job_runs WHERE scheduled_for = $(sqlt "$last") AND NOT manual")
t_stop "$winner" KILL
assert_eq 137 "$T_STOP_RC" "daemons: $winner killed with SIGKILL"
next_occ=$((last + 60))
survivors=()
for dn in "${daemons[@]}"; do [[ $dn == "$winner" ]] || survivors+=("$dn"); done
if wait_until "[[ -n \$(psql_val \"SELECT 1 FROM rapport.job_runs WHERE scheduled_for = $(sqlt "$next_occ")\") ]]" 75; then
    t_pass "daemons: the next occurrence was planned after the kill"
else
    t_fail "daemons: the next occurrence was planned after the kill" "$(tail -n 20 "$(t_log "${survivors[0]}")")"
fi
ran_by=$(psql_val "SELECT status || '|' || instance FROM rapport.job_runs WHERE scheduled_for = $(sqlt "$next_occ")")
if [[ $ran_by == "ok|${survivors[0]}" || $ran_by == "ok|${survivors[1]}" ]]; then
    t_pass "daemons: a survivor ran it"
else
    t_fail "daemons: a survivor ran it" "$ran_by"
fi
for dn in "${survivors[@]}"; do
    t_stop "$dn" TERM 15
    assert_eq 0 "$T_STOP_RC" "daemons: SIGTERM stops $dn with status 0"
done
assert_eq 0 "$(cat "$(t_log daemon-a)" "$(t_log daemon-b)" "$(t_log daemon-c)" | grep -ci 'planning failed\|error' || true)" "daemons: no errors logged"
t_summary
