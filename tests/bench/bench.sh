#!/usr/bin/env bash
# `make bench`: rapport's figures, measured on this machine in one run, as
# one table (also results/bench.csv and results/bench.json).
#
# Every server is private and on loopback: a throwaway PostgreSQL
# (tests/lib.sh), Postfix's smtp-sink as the SMTP server and smtp-source as
# its ceiling, nginx returning a fixed 200 JSON as the SMS gateway and wrk
# as its ceiling.  Comparisons are measured in the same run and given as
# ratios next to the figures; targets come from the issues (≤ 1 µs per
# cron_next, ≥ 50,000 digest renders/s, ≥ 20× the curl-per-message
# baseline, ≥ 50% of the sink's ceiling, plans ≤ 1 s at 1M customers,
# ≤ 16 MB RSS with 100,000 queued, idle wake-ups: only the watchdog).
#
# Environment:
#   BENCH_QUICK=1        skip 1M customers; 10,000 end to end; shorter runs
#   BENCH_E2E=N          end-to-end greetings (default 100000, quick 10000)
#   BENCH_IDLE_SECONDS   idle measurement window (default 60, quick 20)
#   BENCH_ONLY="micro plan dispatch e2e idle"   run only these parts
#   BENCH_RESULTS=DIR    where the CSV/JSON go (default results/)
#   BENCH_WRAP="CMD ..." run each dispatch run's rapportd under CMD, e.g. a
#                        profiler: BENCH_WRAP="perf record -g --" (its
#                        figures then include the profiler's cost)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=tests/lib.sh
source "$root/tests/lib.sh"
# shellcheck source=tests/rapport.sh
source "$root/tests/rapport.sh"
# shellcheck source=tests/bench/deps.sh
source "$here/deps.sh"
_T_SUMMARY_DONE=1 # lib.sh's exit trap: this is not a pass/fail test script

quick=${BENCH_QUICK:-}
[[ $quick == 0 ]] && quick=
only=${BENCH_ONLY:-micro plan dispatch e2e idle}
results=${BENCH_RESULTS:-$root/results}
e2e_n=${BENCH_E2E:-$([[ -n $quick ]] && echo 10000 || echo 100000)}
idle_s=${BENCH_IDLE_SECONDS:-$([[ -n $quick ]] && echo 20 || echo 60)}
disp_n=$([[ -n $quick ]] && echo 5000 || echo 20000)     # messages per dispatch run
curl_n=$([[ -n $quick ]] && echo 300 || echo 1000)       # curl-per-message baseline
src_n=$([[ -n $quick ]] && echo 20000 || echo 100000)    # smtp-source messages
wrk_s=$([[ -n $quick ]] && echo 3 || echo 8)             # wrk seconds
sizes=(100000)
[[ -z $quick ]] && sizes+=(1000000)

ROWS=$T_TMP/rows.tsv
: >"$ROWS"
wants() { [[ " $only " == *" $1 "* ]]; }
say() { printf '%s\n' "$*" >&2; }
now_s() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# row SECTION NAME VALUE UNIT [TARGET [NOTE]] — TARGET is ">=N" or "<=N".
row() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-}" "${6:-}" >>"$ROWS"
    say "  $2: $3 $4${6:+  ($6)}"
}

bench_deps || exit 1
for tool in smtp-sink smtp-source nginx wrk; do
    command -v "$tool" >/dev/null 2>&1 || [[ -x /usr/sbin/$tool ]] || { say "bench: $tool missing"; exit 1; }
done
export PATH=$PATH:/usr/sbin
for f in "$RAPPORTD" "$RAPPORTCTL" "$root/build/bench/bench_micro"; do
    [[ -x $f ]] || { say "bench: $f not built (run: make bench)"; exit 1; }
done

today=$(date -u +%F)
# 15:00 UTC is past 09:00 local in every demo zone (Shanghai .. New York):
# every birthday greeting of the day is due, as in `make demo`.
now_iso="${today}T15:00:00Z"
eml=$T_TMP/birthday.eml
"$root/build/bench/bench_micro" "$root/templates" eml >"$eml" || { say "bench: cannot build the sample e-mail"; exit 1; }

# ------------------------------------------------------------------ servers
smtp_port=
sink_log=$T_TMP/smtp-sink.log
start_smtp_sink() {
    smtp_port=$(free_port)
    # As root, smtp-sink must drop privileges to some user; as anyone
    # else it cannot (initgroups fails) and need not.
    local user=()
    ((EUID == 0)) && user=(-u nobody)
    t_spawn smtp-sink smtp-sink -c "${user[@]}" "127.0.0.1:$smtp_port" 1000
    wait_until "exec 3<>/dev/tcp/127.0.0.1/$smtp_port" 10 2>/dev/null && exec 3>&- 3<&-
}
# The sink's -c counter line is rewritten with CR; the last number is the
# number of messages (DATA commands) it accepted so far.
sink_count() { tr '\r' '\n' <"$(t_log smtp-sink)" | grep -oE '[0-9]+' | tail -n 1; }

sms_port=
start_nginx() {
    sms_port=$(free_port)
    local prefix=$T_TMP/nginx
    mkdir -p "$prefix"
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@PORT@|$sms_port|g" "$here/nginx.conf.in" >"$prefix/nginx.conf"
    t_spawn nginx nginx -p "$prefix" -c "$prefix/nginx.conf"
    wait_until "curl -sf -o /dev/null -X POST -d x http://127.0.0.1:$sms_port/" 10 || { cat "$prefix/error.log" >&2; return 1; }
}

explain=()
[[ -n ${BENCH_EXPLAIN:-} ]] && explain=("session_preload_libraries = 'auto_explain'" "auto_explain.log_min_duration = '200ms'"
    "auto_explain.log_analyze = on" "auto_explain.log_buffers = on" "auto_explain.log_nested_statements = on")
pg_start "${explain[@]}" "shared_buffers = '1GB'" "work_mem = '64MB'" "maintenance_work_mem = '512MB'" \
    "max_wal_size = '8GB'" "checkpoint_timeout = '30min'" "autovacuum = off" \
    "max_parallel_workers_per_gather = 2" >/dev/null || exit 1
psql -XAtq -v ON_ERROR_STOP=1 -f "$root/etc/crm.sql" >/dev/null 2>&1 || { say "bench: crm.sql failed"; exit 1; }

# bench_config FILE JOBS_BLOCK [EMAIL_CONNS [SMS_CONNS [BATCH]]]
bench_config() {
    local file=$1 jobs=$2 ec=${3:-4} sc=${4:-4} batch=${5:-100}
    cat >"$file" <<CONF
time_zone = "Asia/Shanghai";
locale = "zh-CN";
instance = "bench";
database: { conninfo = "$PG_CONNINFO"; };
templates: { dir = "$root/templates"; };
email: {
  smtp_url = "smtp://127.0.0.1:${smtp_port:-9}";
  from = "Acme 客户关怀 <care@example.com>";
  tls = "none";
  unsubscribe_mailto = "unsubscribe@example.com";
  unsubscribe_url = "https://example.com/unsubscribe";
  connections = $ec;
  rate = 0;
};
sms: {
  gateway_url = "http://127.0.0.1:${sms_port:-9}/";
  format = "json";
  from = "+15550000000";
  quiet_hours = "";
  connections = $sc;
  rate = 0;
};
outbox: { lease = "5m"; batch = $batch; retry = [ 60 ]; max_attempts = 3; };
jobs: { $jobs };
CONF
}
CONF=$T_TMP/rapport.conf
bench_config "$CONF" 'birthdays: { enabled = false; };'
"$RAPPORTCTL" --config "$CONF" migrate >/dev/null || { say "bench: migrate failed"; exit 1; }

# Other work on the machine skews every figure: the load is recorded.
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
meta_cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
meta_pg=$(psql_val 'SHOW server_version')
say "bench: $(nproc) CPU(s) ($meta_cpu), PostgreSQL $meta_pg, $(uname -r)${quick:+, QUICK}"

# -------------------------------------------------------------------- micro
if wants micro; then
    say "== micro-benchmarks (cron_next, templates, MIME)"
    while IFS=$'\t' read -r name value unit note; do
        target=
        case $name in
            "cron_next worst" | "cron_next mean of typical") target="<=1000" ;;
            "render shipped digest"*) target=">=50000" ;;
            *"heap growth") target="<=0" ;;
        esac
        row micro "$name" "$value" "$unit" "$target" "$note"
    done < <("$root/build/bench/bench_micro" "$root/templates")
fi

# ----------------------------------------------------------------- planning
# The demo generator's data at each size; every built-in job planned once
# with `rapportctl run --now`, timed by the database (job_runs started_at ..
# finished_at: the claim, the plan statement and its inserts).
jobs_list=$(grep -hoP '^\s+\.name\s*=\s*"\K[a-z_0-9]+' "$root"/jobs/*.c | sort -u)
load_demo() {
    local n=$1 t0
    t0=$(now_s)
    PGOPTIONS="-c client_min_messages=warning" psql -XAq -v ON_ERROR_STOP=1 -v customers="$n" \
        -v today="'$today'" -f "$root/etc/demo.sql" >/dev/null || return 1
    # VACUUM as well: a live CRM's pages have their hint bits and
    # visibility map set; a fresh bulk load would charge that to the first
    # job that reads them.
    psql_val "VACUUM (ANALYZE)" >/dev/null
    say "  (demo data: $n customers loaded, vacuumed and analyzed in $(elapsed "$t0" "$(now_s)") s)"
}
# Everything rapport keeps except the schema version and the zone list:
# outbox, runs, and
# whatever per-job state the jobs record (e.g. dunning levels already sent),
# so each run plans from scratch.
reset_queue() {
    local tables
    tables=$(psql_val "SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') FROM pg_tables
                       WHERE schemaname = 'rapport' AND tablename NOT IN ('schema_migrations', 'time_zones')")
    psql_val "TRUNCATE $tables" >/dev/null
    # TRUNCATE keeps the old statistics (and ANALYZE of an empty table does
    # not replace them; autovacuum is off here for steady timings): forget
    # them, as on a fresh install, or the next part's claim statement is
    # planned for the previous part's rows (e.g. all 'sms') and each claim
    # costs ~5x more.
    psql_val "DELETE FROM pg_statistic WHERE starelid = 'rapport.outbox'::regclass" >/dev/null
}
declare -A plan_ms=() plan_rows=()
if wants plan; then
    say "== planning time per job (demo data; jobs: $(echo $jobs_list))"
    for n in "${sizes[@]}"; do
        load_demo "$n" || { say "bench: demo data at $n failed"; exit 1; }
        reset_queue
        label=$( ((n >= 1000000)) && echo "$((n / 1000000))M" || echo "$((n / 1000))k")
        for job in $jobs_list; do
            jconf=$T_TMP/plan-$job.conf
            bench_config "$jconf" "$job: { effective_from = \"2020-01-01\"; };"
            # Three runs, the median reported; then one with PostgreSQL's JIT
            # off, to show what JIT compilation costs these statements.
            times=() counts=() err=
            for opt in "" "" "" "-c jit=off"; do
                reset_queue
                if ! out=$(PGOPTIONS="$opt" "$RAPPORTCTL" --config "$jconf" run "$job" --now "$now_iso" 2>&1); then
                    err=$(printf '%s' "$out" | head -n 1)
                    break
                fi
                read -r ms planned < <(psql_val "SELECT round(extract(epoch FROM finished_at - started_at) * 1000, 1), planned
                    FROM rapport.job_runs WHERE job = '$job' ORDER BY id DESC LIMIT 1" -F ' ')
                times+=("$ms")
                counts+=("$planned")
            done
            if [[ -n $err ]]; then
                row plan "plan $job @ $label customers" "error" "" "<=1000" "$err"
                continue
            fi
            med=$(printf '%s\n' "${times[@]:0:3}" | sort -g | sed -n 2p)
            plan_ms[$job@$n]=$med
            plan_rows[$job@$n]=${counts[0]}
            same=$(printf '%s\n' "${counts[@]}" | sort -u | wc -l)
            row plan "plan $job @ $label customers" "$med" "ms" "<=1000" "${counts[0]} message(s) planned$( ((same > 1)) && echo " (runs planned ${counts[*]})"); median of 3 (${times[0]}, ${times[1]}, ${times[2]} ms)"
            row plan "plan $job @ $label customers, jit=off" "${times[3]}" "ms" "" "same statement with PostgreSQL JIT disabled (PGOPTIONS=-c jit=off)"
        done
        # The daemon plans on a connection it keeps: time each job again on
        # one connection, four dry runs, the first (a new session touching
        # every page for the first time) apart from the rest.
        for job in $jobs_list; do
            reset_queue
            while IFS=$'\t' read -r name value unit note; do
                [[ $name == *"warm connection" ]] || continue
                row plan "${name/plan $job, warm connection/plan $job @ $label customers, warm connection}" "$value" "$unit" "<=1000" "$note"
            done < <("$root/build/bench/bench_micro" plan "$T_TMP/plan-$job.conf" "$job" "$now_iso" 4 2>/dev/null)
        done
        # The run above is the morning's first: every rep's digest hour has
        # come (demo reps have hours 7-9 in four zones).  Once the job runs
        # every few minutes, a run plans only the reps whose hour just came:
        # 13:55Z plans everyone due by then (untimed), 14:05Z then plans the
        # New York reps whose 09:00 has just come.
        if grep -qx digest <<<"$jobs_list"; then
            # Planning a digest only picks the reps; its content is built
            # when it is sent.  A dry run plans, builds and renders them all:
            # the work the dispatcher spreads over its claims.
            reset_queue
            dconf=$T_TMP/plan-digest.conf
            t0=$(now_s)
            if out=$("$RAPPORTCTL" --config "$dconf" run digest --dry-run --now "$now_iso" 2>/dev/null | tail -n 1); then
                t1=$(now_s)
                k=$(grep -oE '^run digest: [0-9]+' <<<"$out" | grep -oE '[0-9]+$')
                ms=$(calc '%.0f' "($t1 - $t0) * 1000")
                row plan "digests built at send time @ $label customers" "$(calc '%.2f' "$ms / (${k:-0} > 0 ? $k : 1)")" "ms/digest" "" "${k:-0} digest(s) planned, built and rendered in $ms ms (rapportctl run digest --dry-run); the dispatcher builds each claimed batch in one query"
            fi
            reset_queue
            if "$RAPPORTCTL" --config "$dconf" run digest --now "${today}T13:55:00Z" >/dev/null 2>&1 &&
                "$RAPPORTCTL" --config "$dconf" run digest --now "${today}T14:05:00Z" >/dev/null 2>&1; then
                read -r ms planned < <(psql_val "SELECT round(extract(epoch FROM finished_at - started_at) * 1000, 1), planned
                    FROM rapport.job_runs WHERE job = 'digest' ORDER BY id DESC LIMIT 1" -F ' ')
                row plan "plan digest @ $label customers, steady state" "$ms" "ms" "<=1000" "$planned digest(s): the reps whose hour came since the previous run (New York, 09:00); the rest had theirs"
            fi
        fi
    done
    if [[ -z $quick ]]; then
        for job in $jobs_list; do
            a=${plan_ms[$job@100000]:-} b=${plan_ms[$job@1000000]:-}
            if [[ -n $a && -n $b ]]; then
                row plan "plan $job: 1M / 100k" "$(calc '%.1f' "$b / ($a > 0 ? $a : 0.001)")" "×" "" "10× the customers; ≈ 10 means it scans them all, ≈ 1 that it follows what is due"
                # The demo data has ~10x the due rows at 1M, so compare the
                # time per planned row: the cost where the due rows are equal.
                ra=${plan_rows[$job@100000]:-0} rb=${plan_rows[$job@1000000]:-0}
                if ((ra > 0 && rb > 0)); then
                    row plan "plan $job: 1M / 100k per planned row" "$(calc '%.2f' "($b / $rb) / ($a / $ra)")" "×" "<=1.5" "$(calc '%.3f' "$a / $ra") ms/row @ 100k ($ra rows), $(calc '%.3f' "$b / $rb") ms/row @ 1M ($rb rows)"
                fi
            fi
        done
    fi
fi

# ----------------------------------------------------------------- dispatch
# Outbox rows inserted directly (a birthday greeting each, zh-CN and en
# alternating, to customers 1-3 who consented), then `rapportd --once`
# drains them; messages/second = sent / wall time of that process.
fill_outbox() {
    local ch=$1 n=$2 tag=$3
    psql_val "
    INSERT INTO rapport.outbox (job, channel, audience, recipient, recipient_name, customer_id, template, locale,
                                time_zone, context, marketing, dedupe_key, not_before, next_attempt_at, expires_at)
    SELECT 'birthdays', '$ch', 'customer',
           CASE WHEN '$ch' = 'email' THEN 'bench' || g || '@example.com' ELSE '+86138' || lpad(g::text, 8, '0') END,
           CASE WHEN g % 2 = 0 THEN '李娜' ELSE 'Anna Smith' END, 1 + g % 3, 'birthday',
           CASE WHEN g % 2 = 0 THEN 'zh-CN' ELSE 'en' END, 'Asia/Shanghai',
           jsonb_build_object('customer', jsonb_build_object('id', 1 + g % 3, 'name', CASE WHEN g % 2 = 0 THEN '李娜' ELSE 'Anna Smith' END,
                                                             'tier', 'A', 'key_account', true),
                              'rep', jsonb_build_object('name', '王伟', 'email', 'wang@example.cn', 'phone', '+8613800000000'),
                              'birthday', '$today', 'month', 3, 'day', 14, 'year', 2027),
           true, 'bench:$tag:' || g, now() - interval '1 minute', now() - interval '1 minute', now() + interval '1 day'
    FROM generate_series(1, $n) g" >/dev/null
    psql_val "ANALYZE rapport.outbox" >/dev/null
}

# dispatch_run CH CONNS N → sets d_rate d_sent d_secs
dispatch_run() {
    local ch=$1 conns=$2 n=$3 conf=$T_TMP/dispatch.conf t0 t1
    reset_queue
    fill_outbox "$ch" "$n" "$ch$conns"
    if [[ $ch == email ]]; then
        bench_config "$conf" 'birthdays: { enabled = false; };' "$conns" 1
    else
        bench_config "$conf" 'birthdays: { enabled = false; };' 1 "$conns"
    fi
    t0=$(now_s)
    timeout -k 5 $((120 + n / 20)) ${BENCH_WRAP:-} "$RAPPORTD" --config "$conf" --once >"$T_TMP/dispatch-$ch-$conns.log" 2>&1
    local rc=$?
    ((rc == 124 || rc == 137)) && say "  (rapportd --once did not finish in time: killed)"
    t1=$(now_s)
    d_secs=$(elapsed "$t0" "$t1")
    d_sent=$(psql_val "SELECT count(*) FROM rapport.outbox WHERE state = 'sent'")
    d_rate=$(calc '%.0f' "$d_sent / $d_secs")
    local other
    other=$(psql_val "SELECT string_agg(state || '=' || n, ' ') FROM (SELECT state, count(*) n FROM rapport.outbox WHERE state <> 'sent' GROUP BY 1) s")
    [[ -n $other ]] && say "  (rapportd left: $other; see $T_TMP/dispatch-$ch-$conns.log)"
}

# curl_baseline_email N → rate; one curl process per message, in sequence:
# what a cron script calling curl would do.
curl_baseline_email() {
    local n=$1 i t0 t1
    t0=$(now_s)
    for ((i = 1; i <= n; i++)); do
        curl -sS --url "smtp://127.0.0.1:$smtp_port" --mail-from care@example.com \
            --mail-rcpt "base$i@example.com" -T "$eml" || return 1
    done
    t1=$(now_s)
    calc '%.0f' "$n / $(elapsed "$t0" "$t1")"
}
curl_baseline_sms() {
    local n=$1 i t0 t1
    t0=$(now_s)
    for ((i = 1; i <= n; i++)); do
        curl -sS -o /dev/null -X POST -H 'Content-Type: application/json' \
            --data-binary '{"to":"+8613800000000","from":"+15550000000","text":"李娜，生日快乐！","idempotency_key":"b'"$i"'"}' \
            "http://127.0.0.1:$sms_port/" || return 1
    done
    t1=$(now_s)
    calc '%.0f' "$n / $(elapsed "$t0" "$t1")"
}
# smtp_source_rate SESSIONS N — the sink's ceiling with Postfix's own
# pipelining test client, same message, connections kept open.
smtp_source_rate() {
    local s=$1 n=$2 t0 t1
    t0=$(now_s)
    smtp-source -s "$s" -m "$n" -d -f care@example.com -t sink@example.com -F "$eml" "127.0.0.1:$smtp_port" \
        >/dev/null 2>&1 || return 1
    t1=$(now_s)
    calc '%.0f' "$n / $(elapsed "$t0" "$t1")"
}
wrk_rate() {
    local c=$1 threads=$(($1 < 2 ? 1 : 2))
    wrk -t"$threads" -c"$c" -d"${wrk_s}s" -s "$here/wrk_post.lua" "http://127.0.0.1:$sms_port/" 2>/dev/null |
        awk '/^Requests\/sec/ { printf "%.0f", $2 }'
}

if wants dispatch; then
    # The rows go to demo customers 1-3: they must exist and be active.
    if (($(psql_val "SELECT count(*) FROM crm.customers WHERE id <= 3 AND active") < 3)); then
        load_demo 1000 || exit 1
    fi
    start_smtp_sink || { say "bench: smtp-sink did not start"; exit 1; }
    start_nginx || { say "bench: nginx did not start"; exit 1; }
    say "== e-mail dispatch to smtp-sink on 127.0.0.1:$smtp_port ($disp_n messages a run, $(wc -c <"$eml") bytes each)"
    base=$(curl_baseline_email "$curl_n") || base=
    row email "e-mail: one curl process per message" "${base:-error}" "msg/s" "" "$curl_n messages in sequence"
    for c in 1 4 16; do
        src=$(smtp_source_rate "$c" "$src_n") || src=
        row email "e-mail: smtp-source ceiling, $c session(s)" "${src:-error}" "msg/s" "" "$src_n messages, connections kept open"
        before=$(sink_count)
        dispatch_run email "$c" "$disp_n"
        after=$(sink_count)
        row email "e-mail: rapportd, $c connection(s)" "$d_rate" "msg/s" "" "$d_sent/$disp_n sent in ${d_secs} s; sink counted $((${after:-0} - ${before:-0}))"
        [[ -n $base ]] && row email "e-mail $c conn: rapportd / curl per message" "$(calc '%.1f' "$d_rate / $base")" "×" ">=20"
        [[ -n $src ]] && row email "e-mail $c conn: rapportd / smtp-source ceiling" "$(calc '%.2f' "$d_rate / $src")" "×" ">=0.5"
    done

    say "== SMS dispatch to nginx on 127.0.0.1:$sms_port ($disp_n messages a run)"
    base=$(curl_baseline_sms "$curl_n") || base=
    row sms "SMS: one curl process per message" "${base:-error}" "msg/s" "" "$curl_n requests in sequence"
    for c in 1 4 16; do
        ceil=$(wrk_rate "$c")
        row sms "SMS: wrk ceiling, $c connection(s)" "${ceil:-error}" "req/s" "" "${wrk_s} s, keep-alive"
        dispatch_run sms "$c" "$disp_n"
        row sms "SMS: rapportd, $c connection(s)" "$d_rate" "msg/s" "" "$d_sent/$disp_n sent in ${d_secs} s"
        [[ -n $base ]] && row sms "SMS $c conn: rapportd / curl per message" "$(calc '%.1f' "$d_rate / $base")" "×" ">=20"
        [[ -n $ceil ]] && row sms "SMS $c conn: rapportd / wrk ceiling" "$(calc '%.2f' "$d_rate / $ceil")" "×" ">=0.5"
    done
fi

# --------------------------------------------------------------- end to end
# N customers whose birthday is today (consenting, valid addresses); one
# `rapportd --once` plans the birthdays job and delivers every greeting.
# Its peak RSS is the "N queued" memory figure.
if wants e2e; then
    [[ -n $smtp_port ]] || start_smtp_sink || exit 1
    say "== end to end: $e2e_n birthday greetings, plan to all delivered"
    load_demo "$e2e_n" || exit 1
    # Leap years only (1972 + 4k), so today's month/day exists even on Feb 29.
    psql_val "UPDATE crm.customers SET birthday = make_date(1972 + 4 * (id % 8)::int, extract(month FROM date '$today')::int,
                                                           extract(day FROM date '$today')::int),
                     active = true, consent_email = true,
                     email = coalesce(email, 'customer' || id || '@example.com')" >/dev/null
    psql_val "ANALYZE crm.customers" >/dev/null
    reset_queue
    econf=$T_TMP/e2e.conf
    bench_config "$econf" 'birthdays: { schedule = "0 * * * *"; send_at = "09:00"; channels = [ "email" ]; max_lateness = "1d"; effective_from = "2020-01-01"; };' 16 1 100
    before=$(sink_count)
    t0=$(now_s)
    /usr/bin/time -f '%e %M %U %S' -o "$T_TMP/e2e.time" timeout -k 5 $((300 + e2e_n / 20)) "$RAPPORTD" --config "$econf" --once --now "$now_iso" \
        >"$T_TMP/e2e.log" 2>&1 &
    e2e_pid=$!
    # Private (anonymous) and file-backed (shared libraries) resident memory,
    # sampled: GNU time's figure is their sum at the peak.
    max_anon=0 max_file=0 rpid=
    while _t_alive "$e2e_pid"; do
        [[ -n $rpid ]] || rpid=$(pgrep -n -x rapportd -P "$(pgrep -n -x timeout -P "$e2e_pid" 2>/dev/null || echo 0)" 2>/dev/null)
        if [[ -n $rpid ]]; then
            read -r a f < <(awk '/^RssAnon/ { a = $2 } /^RssFile/ { f = $2 } END { print a + 0, f + 0 }' /proc/"$rpid"/status 2>/dev/null)
            ((${a:-0} > max_anon)) && max_anon=$a
            ((${f:-0} > max_file)) && max_file=$f
        fi
        sleep 0.2 # a sampling interval: no event reports resident memory
    done
    wait "$e2e_pid"
    t1=$(now_s)
    after=$(sink_count)
    secs=$(elapsed "$t0" "$t1")
    read -r _ maxrss usr sys <"$T_TMP/e2e.time"
    sent=$(psql_val "SELECT count(*) FROM rapport.outbox WHERE state = 'sent'")
    planned=$(psql_val "SELECT coalesce(sum(planned), 0) FROM rapport.job_runs WHERE job = 'birthdays'")
    plan_s=$(psql_val "SELECT round(extract(epoch FROM max(finished_at) - min(started_at))::numeric, 2) FROM rapport.job_runs WHERE job = 'birthdays'")
    row e2e "end to end: $e2e_n birthday greetings" "$secs" "s" "" "planned $planned (plan ${plan_s} s), sent $sent, sink counted $((${after:-0} - ${before:-0})); 16 connections"
    row e2e "end to end: throughput" "$(calc '%.0f' "$sent / $secs")" "msg/s" "" "sent / wall time, planning included"
    row e2e "end to end: delivered" "$sent" "messages" ">=$e2e_n" "state = sent in the outbox"
    row e2e "end to end: rapportd CPU" "$(calc '%.1f' "$usr + $sys")" "s" "" "user $usr + system $sys"
    row memory "peak RSS of rapportd, $e2e_n queued" "$(calc '%.1f' "$maxrss / 1024")" "MB" "<=16" "GNU time maximum resident set size, whole run"
    row memory "  of which private (RssAnon), peak" "$(calc '%.1f' "$max_anon / 1024")" "MB" "" "heap and stacks, sampled every 0.2 s"
    row memory "  of which file-backed (RssFile), peak" "$(calc '%.1f' "$max_file / 1024")" "MB" "" "shared libraries' pages (libcurl, OpenSSL, libpq, libsystemd, glibc), shared with other processes"
fi

# --------------------------------------------------------------------- idle
# rapportd as a daemon with nothing due for the whole window: CPU time from
# /proc/PID/stat, wake-ups as the scheduler's count of times it ran
# (/proc/PID/schedstat, all threads), and epoll waits as strace counts them.
if wants idle; then
    say "== idle: rapportd with nothing due, ${idle_s} s"
    reset_queue
    iconf=$T_TMP/idle.conf
    bench_config "$iconf" 'birthdays: { schedule = "0 0 1 1 *"; catch_up = "none"; effective_from = "2020-01-01"; };' 4 4
    t_spawn idle-rapportd "$RAPPORTD" --config "$iconf"
    ipid=$T_SPAWN_PID
    wait_until "grep -q 'Connected to the database' '$(t_log idle-rapportd)'" 15 || say "  (rapportd did not report a connection; log $(t_log idle-rapportd))"
    # The first retention prune runs 60-120 s after start, then hourly: in
    # a full run wait for it, so the window shows the steady state.
    if [[ -z $quick ]]; then
        prune_seen() {
            (($(psql_val "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rapportd'
                          AND query LIKE 'DELETE FROM rapport.job_runs%'") > 0))
        }
        wait_until prune_seen 150 2>/dev/null ||
            say "  (no retention prune seen within 150 s; measuring anyway)"
    fi
    # The window must start quiet: wait (polling, with a deadline) until
    # rapportd's session has finished the prune's queries.
    rapportd_idle() {
        (($(psql_val "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rapportd'
                      AND state <> 'idle'") == 0))
    }
    wait_until rapportd_idle 30 2>/dev/null || say "  (rapportd still busy after 30 s; measuring anyway)"
    oncpu() { local sum=0 f x y z; for f in /proc/"$ipid"/task/*/schedstat; do read -r x y z <"$f"; sum=$((sum + x)); done; echo "$sum"; }
    runs() { local sum=0 f x y z; for f in /proc/"$ipid"/task/*/schedstat; do read -r x y z <"$f"; sum=$((sum + z)); done; echo "$sum"; }
    csw() { awk '/^voluntary_ctxt_switches/ { v = $2 } /^nonvoluntary_ctxt_switches/ { n = $2 } END { print v + n }' /proc/"$ipid"/status; }
    # Counters first, untraced (a tracer's stops would count as switches);
    # then strace alone for a second window to count the epoll waits.
    tk0=$(oncpu) r0=$(runs) c0=$(csw)
    sleep "$idle_s" # the measurement window itself: idle is measured over time
    tk1=$(oncpu) r1=$(runs) c1=$(csw)
    cpu_ms=$(calc '%.2f' "($tk1 - $tk0) / 1e6")
    row idle "idle CPU over ${idle_s} s" "$cpu_ms" "ms" "" "$(calc '%.4f' "($tk1 - $tk0) / 1e7 / $idle_s")% of one core (time on CPU, schedstat)"
    row idle "idle wake-ups per minute" "$(calc '%.0f' "($r1 - $r0) * 60 / $idle_s")" "/min" "<=4" "times scheduled in (schedstat), all threads; target: the watchdog alone (WatchdogSec=30s → 4/min; none here, outside systemd)$([[ -n $quick ]] && echo "; quick: the start-up retention prune (60-120 s after start) may fall in a window")"
    row idle "idle context switches per minute" "$(calc '%.0f' "($c1 - $c0) * 60 / $idle_s")" "/min" "" "/proc/PID/status"
    strace_s=$((idle_s < 20 ? idle_s : 20))
    strace_out=$T_TMP/idle.strace
    : >"$strace_out"
    timeout -s INT "$strace_s" strace -c -f -e trace=epoll_wait,epoll_pwait,epoll_pwait2,sendto \
        -p "$ipid" -o "$strace_out" >/dev/null 2>&1
    # strace -c writes nothing at all when no traced call happened.
    if command -v strace >/dev/null 2>&1; then
        ep=$(awk '$NF ~ /^epoll/ { n += $4 } END { print n + 0 }' "$strace_out")
        sq=$(awk '$NF == "sendto" { n += $4 } END { print n + 0 }' "$strace_out")
        row idle "idle epoll waits per minute" "$(calc '%.0f' "$ep * 60 / $strace_s")" "/min" "" "strace -c over ${strace_s} s"
        row idle "idle sends (database queries) per minute" "$(calc '%.0f' "$sq * 60 / $strace_s")" "/min" "<=0" "sendto calls: rapportd's only peers while idle are PostgreSQL (and systemd)"
    fi
    t_stop idle-rapportd
fi

# ------------------------------------------------------------------ report
mkdir -p "$results"
if [[ -n ${BENCH_EXPLAIN:-} ]]; then
    cp "$PG_LOG" "$results/bench-postgresql.log"
    say "bench: plans of statements over 200 ms are in $results/bench-postgresql.log"
fi
python3 "$here/report.py" "$ROWS" "$results" \
    "cpu=$meta_cpu" "cpus=$(nproc)" "postgresql=$meta_pg" "kernel=$(uname -r)" \
    "quick=${quick:+1}" "load-at-start=$load_start" "load-at-end=$(cut -d' ' -f1-3 /proc/loadavg)" "date=$(date -u +%FT%TZ)" "commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo none)"
