#!/usr/bin/env bash
# rapportctl's output as scripts and administrators read it, whatever the
# CRM holds: --json is valid JSON in valid UTF-8 and gives the values back;
# tables keep one line per row, line up by the columns a terminal shows
# (a Chinese name takes two a character) and never cut a character in
# half; output to a full disk or a closed pipe says so in the exit status.
# CRM text comes from a UTF8 database and from a SQL_ASCII one (as some old
# CRMs are), the only kind that can hold bytes that are not UTF-8.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
"$PG_BINDIR/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres -E SQL_ASCII -T template0 --locale=C legacy ||
    t_fail "createdb SQL_ASCII" "failed"
psql -XAtq -v ON_ERROR_STOP=1 -d legacy -f "$T_ROOT/etc/crm.sql" >/dev/null 2>&1
CONF=$T_TMP/utf8.conf
rapport_config "$CONF"
PG_CONNINFO="${PG_CONNINFO/dbname=rapport/dbname=legacy}" rapport_config "$T_TMP/legacy.conf"
assert_exit 0 "migrate (UTF8 database)" -- "$RAPPORTCTL" --config "$CONF" migrate
assert_exit 0 "migrate (SQL_ASCII database)" -- "$RAPPORTCTL" --config "$T_TMP/legacy.conf" migrate

# The rows: customers with awkward names and locales, planned by the real
# planner, then each message given the name as its error text (as an error
# quoting CRM data would be) and a history line, a failed run and a
# disable reason quoting it too.
cat >"$T_TMP/rows.py" <<'PY'
import sys
legacy = sys.argv[1] == "legacy"
names = [
    b"Junk \x01\x02\x1b[31mRED\x1b[0m\x7f\r\nforged line\tTab",
    "\u0085NEL \u009b31mCSI \u2028sep \u202eRTL override".encode(),
    "Emoji \U0001F382\U0001F600 Cake".encode(),
    "欧阳娜娜".encode(),
    ("张伟" * 40).encode(),  # 80 wide characters: cut at a table's 60 columns
    "Ame\u0301lie".encode(),
    b"L" * 100000,
]
if legacy:
    names += [b"Bad \xff\xfe\xc3\x28 UTF-8 \xe2\x82", b"Fran\xe7ois M\xfcller"]
def lit(b):
    return "E'" + "".join("\\x%02x" % c if c < 0x20 or c >= 0x7f or c in b"'\\" else chr(c) for c in b) + "'"
for i, n in enumerate(names, 1):
    # The locale too (a CRM's free-text field): the queue shows it before
    # its attempts column.
    print(f"INSERT INTO crm.customers (id, name, tier, email, birthday, time_zone, locale, consent_email, active)"
          f" VALUES ({i}, {lit(n)}, 'A', 'c{i}@example.com', '1980-11-23', 'UTC', {lit(n[:90])}, true, true);")
print("INSERT INTO crm.customers (id, name, tier, email, birthday, time_zone, locale, consent_email, active)"
      f" VALUES (99, 'Locale', 'A', 'c99@example.com', '1980-01-01', 'UTC', {lit(names[0][:20])}, true, true);")
PY
seed() { # seed DBNAME legacy|utf8 CONF
    /usr/bin/python3 "$T_TMP/rows.py" "$2" | psql -XAtq -v ON_ERROR_STOP=1 -d "$1" >/dev/null
    assert_exit 0 "$2: plan the greetings" -- "$RAPPORTCTL" --config "$3" run birthdays --now 2026-11-23T12:00:00Z
    psql -XAtq -v ON_ERROR_STOP=1 -d "$1" >/dev/null <<'SQL'
UPDATE rapport.outbox SET state = 'failed', last_error = recipient_name, rendered = 'Dear ' || recipient_name || E',\nbye', updated_at = now();
INSERT INTO rapport.outbox_events (outbox_id, event, detail) SELECT id, 'failed', recipient_name FROM rapport.outbox;
INSERT INTO rapport.job_runs (job, scheduled_for, status, planned, skipped, error, started_at, finished_at)
  SELECT 'birthdays', '2026-11-23 13:00Z', 'failed', 0, 0, string_agg(left(name, 200), ' | ' ORDER BY id), now(), now()
  FROM crm.customers;
INSERT INTO rapport.job_disabled (job, disabled_by, reason) SELECT 'birthdays', 'admin', name FROM crm.customers WHERE id = 1;
SQL
}
seed rapport utf8 "$CONF"
seed legacy legacy "$T_TMP/legacy.conf"

# --- 1. --json: strict JSON, strict UTF-8, every command with JSON output.
cat >"$T_TMP/jcheck.py" <<'PY'
import json, sys
data = sys.stdin.buffer.read()
try:
    json.loads(data.decode("utf-8", "strict"))
    print("ok")
except Exception as e:
    print("bad:", str(e)[:200])
PY
for db in utf8 legacy; do
    conf=$T_TMP/$db.conf
    ids=$(psql_val "SELECT string_agg(id::text, ' ' ORDER BY id) FROM rapport.outbox" -d "$([[ $db == utf8 ]] && echo rapport || echo legacy)")
    for args in "status" "queue" "queue --show-recipients" "run birthdays --now 2026-11-23T12:00:00Z" $(for i in $ids; do echo "show@$i"; done); do
        args=${args//@/ }
        # shellcheck disable=SC2086
        out=$("$RAPPORTCTL" --config "$conf" $args --json 2>/dev/null | /usr/bin/python3 "$T_TMP/jcheck.py")
        assert_eq ok "$out" "$db: $args --json is JSON in UTF-8"
    done
    # show --show-recipients too (the context unmasked).
    out=$("$RAPPORTCTL" --config "$conf" show "${ids%% *}" --show-recipients --json | /usr/bin/python3 "$T_TMP/jcheck.py")
    assert_eq ok "$out" "$db: show --show-recipients --json is JSON in UTF-8"
done

# The values come back as the database holds them (UTF8 database): the
# queue's names, errors and the message's context, compared with what
# PostgreSQL itself gives as JSON.
psql_val "SELECT json_agg(json_build_object('id', id, 'recipient_name', recipient_name, 'last_error', last_error, 'context', context) ORDER BY id) FROM rapport.outbox" \
    >"$T_TMP/db.json"
"$RAPPORTCTL" --config "$CONF" queue --show-recipients --json >"$T_TMP/queue.json"
for i in $(psql_val "SELECT id FROM rapport.outbox ORDER BY id"); do
    "$RAPPORTCTL" --config "$CONF" show "$i" --show-recipients --json >"$T_TMP/show.$i.json"
done
assert_eq "same" "$(/usr/bin/python3 - "$T_TMP" <<'PY'
import json, sys
d = sys.argv[1]
db = {r["id"]: r for r in json.load(open(d + "/db.json", encoding="utf-8"))}
q = {r["id"]: r for r in json.load(open(d + "/queue.json", encoding="utf-8"))}
bad = [i for i in db if q[i]["last_error"] != db[i]["last_error"]]
for i in db:
    s = json.load(open(f"{d}/show.{i}.json", encoding="utf-8"))
    if s["recipient_name"] != db[i]["recipient_name"] or s["context"] != db[i]["context"] or \
       s["history"][-1]["detail"] != db[i]["recipient_name"]:
        bad.append(i)
print("same" if not bad and len(q) == len(db) else "differ: %s" % bad)
PY
)" "utf8: --json gives back names, errors, contexts and history as stored"

# SQL_ASCII: a byte that is not UTF-8 is U+FFFD, the valid text around it kept.
"$RAPPORTCTL" --config "$T_TMP/legacy.conf" queue --json >"$T_TMP/legacy.json"
assert_eq "Bad \ufffd\ufffd\ufffd( UTF-8 \ufffd\ufffd|Fran\ufffdois M\ufffdller|欧阳娜娜" "$(/usr/bin/python3 - "$T_TMP/legacy.json" <<'PY'
import json, sys
q = json.load(open(sys.argv[1], encoding="utf-8"))
names = [r["last_error"] for r in q]
print("|".join(n.encode("unicode_escape").decode() if "\ufffd" in n else n
               for n in sorted(n for n in names if n.startswith(("Bad", "Fran", "欧")))))
PY
)" "legacy: bytes that are not UTF-8 are U+FFFD in --json, valid text kept"

# Addresses in a context are masked by whole characters: a Chinese local
# part keeps one or two characters, not a byte or two of one (the same
# masking writes the journal, where a cut character makes a binary blob).
id=$(psql_val "SELECT id FROM rapport.outbox WHERE customer_id = 4")
psql -XAtq -v ON_ERROR_STOP=1 -c "UPDATE rapport.outbox SET context = jsonb_build_object('customer',
  jsonb_build_object('email', '欧阳娜娜@example.cn', 'phone', '+86 １３８ ０００ ００００'),
  'rep', jsonb_build_object('email', '张伟明@example.cn')) WHERE id = $id"
assert_eq "欧阳***@example.cn|+86 ****００|张***@example.cn" "$("$RAPPORTCTL" --config "$CONF" show "$id" --json |
    /usr/bin/python3 -c 'import json,sys; c=json.load(sys.stdin)["context"]; print(c["customer"]["email"], c["customer"]["phone"], c["rep"]["email"], sep="|")')" \
    "show --json: a context's Chinese addresses masked by whole characters"

# --- 2. Tables: one line a row, aligned by display columns, whole characters.
cat >"$T_TMP/table.py" <<'PY'
import sys, unicodedata
data = sys.stdin.buffer.read()
try:
    text = data.decode("utf-8", "strict")
except UnicodeDecodeError as e:
    print("not UTF-8:", e); sys.exit()
def cols(s):
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
lines = text.rstrip("\n").split("\n")
bad = [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f
       or c in "\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"]
if bad:
    print("control characters:", [hex(ord(c)) for c in set(bad)]); sys.exit()
# Where the column named by argv[1] starts, in display columns, on every line.
col = sys.argv[1]
at = cols(lines[0][:lines[0].index(col)])
# Each row's value there: the text up to that display column.
def value_at(line):
    n = 0
    for i, c in enumerate(line):
        if n == at:
            return line[i:]
        n += cols(c)
    return None
starts = [value_at(l) for l in lines[1:]]
misaligned = [l[:40] for l, v in zip(lines[1:], starts) if v is None or not v.startswith(sys.argv[2])]
print("%d lines, misaligned: %s" % (len(lines), misaligned))
PY
for db in utf8 legacy; do
    n=$(psql_val "SELECT count(*) FROM rapport.outbox" -d "$([[ $db == utf8 ]] && echo rapport || echo legacy)")
    # The column after the locales (CRM text, cut at 60 columns) starts
    # where its header does on every line: attempts, 0 for each.
    out=$("$RAPPORTCTL" --config "$T_TMP/$db.conf" queue --show-recipients | /usr/bin/python3 "$T_TMP/table.py" attempts 0)
    assert_eq "$((n + 1)) lines, misaligned: []" "$out" "$db: queue: a line a message, columns aligned, no control characters"
    # status: its sections' tables, and its lines quoting CRM text.
    "$RAPPORTCTL" --config "$T_TMP/$db.conf" status >"$T_TMP/status.$db" 2>&1
    assert_eq ok "$(/usr/bin/python3 -c 'import sys; open(sys.argv[1], encoding="utf-8").read(); print("ok")' "$T_TMP/status.$db" 2>&1 | tail -1)" \
        "$db: status is UTF-8"
    assert_eq 1 "$(grep -c '^  last error: ' "$T_TMP/status.$db")" "$db: status: a CR/LF in a run's error stays on its line"
    assert_eq 0 "$(grep -c '^forged line' "$T_TMP/status.$db")" "$db: status: no line forged by CRM text"
    assert_eq 0 "$(grep -c $'\e' "$T_TMP/status.$db")" "$db: status: no escape sequence reaches the terminal"
    id=$(psql_val "SELECT min(id) FROM rapport.outbox" -d "$([[ $db == utf8 ]] && echo rapport || echo legacy)")
    "$RAPPORTCTL" --config "$T_TMP/$db.conf" show "$id" | sed -n '/^HISTORY/,/^$/p' | sed '1d;/^$/d' >"$T_TMP/hist.$db"
    assert_contains "$(/usr/bin/python3 "$T_TMP/table.py" detail '' <"$T_TMP/hist.$db")" "misaligned: []" "$db: show: history table aligned"
done
# The message texts (preview's, and show's RENDERED) are shown as lines,
# as sent, but a CRM name's ESC, C1 controls or bidi override do not reach
# the terminal, and the one-line summary of each message stays one line.
for db in utf8 legacy; do
    # Next year's greetings: this year's are planned already (a message is
    # planned once), and preview shows what is still to plan.
    "$RAPPORTCTL" --config "$T_TMP/$db.conf" preview birthdays --now 2027-11-23T12:00:00Z >"$T_TMP/preview.$db" 2>"$T_TMP/preview.$db.err"
    n=$(grep -c '^=== ' "$T_TMP/preview.$db")
    assert_eq "$(psql_val "SELECT count(*) FROM rapport.outbox" -d "$([[ $db == utf8 ]] && echo rapport || echo legacy)")" "$n" \
        "$db: preview: a message for each customer"
    assert_eq "$(grep -c '^note: no ' "$T_TMP/preview.$db")" "$(grep -c '^note: no .* is used$' "$T_TMP/preview.$db")" \
        "$db: preview: a CRM locale with CR/LF stays on its note line"
    assert_eq "$n" "$(grep -c '^=== .*, not before [0-9-]* [0-9:+]*)$' "$T_TMP/preview.$db")" \
        "$db: preview: every message's summary is one whole line"
    assert_contains "$(cat "$T_TMP/preview.$db")" "Dear Junk    [31mRED [0m 
forged line	Tab," "$db: preview: the text keeps its line breaks and tabs, ESC shown as a space"
    id=$(psql_val "SELECT id FROM rapport.outbox WHERE customer_id = 1" -d "$([[ $db == utf8 ]] && echo rapport || echo legacy)")
    "$RAPPORTCTL" --config "$T_TMP/$db.conf" show "$id" >"$T_TMP/show.$db" 2>&1
    assert_contains "$(sed -n '/^RENDERED/,$p' "$T_TMP/show.$db")" "Dear Junk    [31mRED [0m " "$db: show: the text's ESC shown as a space"
    for f in preview show; do
        assert_eq ok "$(/usr/bin/python3 - "$T_TMP/$f.$db" <<'PY'
import sys
t = open(sys.argv[1], "rb").read().decode("utf-8", "strict")
bad = [hex(ord(c)) for c in t if (ord(c) < 0x20 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f or c in "\u2028\u2029\u202e"]
print("ok" if not bad else "controls: %s" % sorted(set(bad)))
PY
)" "$db: $f: UTF-8, no control character but line breaks and tabs"
    done
done

# A table cut at 60 columns keeps 30 wide characters, not 20 (60 bytes).
assert_contains "$("$RAPPORTCTL" --config "$CONF" queue)" "$(printf '张伟%.0s' {1..15})  " "queue: a name of wide characters is cut at 60 columns"

# --- 3. Pipes and full disks: the exit status says the output is incomplete.
assert_exit 74 "queue --json to a full disk" -- sh -c '"$0" --config "$1" queue --json >/dev/full' "$RAPPORTCTL" "$CONF"
assert_contains "$T_OUT" "cannot write to standard output" "full disk: said on stderr"
assert_exit 74 "--help to a full disk" -- sh -c '"$0" --help >/dev/full' "$RAPPORTCTL"
assert_exit 74 "--version to a closed standard output" -- sh -c '"$0" --version >&-' "$RAPPORTCTL"
# A reader that stops early: rapportctl dies of SIGPIPE as any filter does
# (so `| head` ends it at once), nothing on stderr.
"$RAPPORTCTL" next '* * * * *' --count 100000 2>"$T_TMP/pipe.err" | head -1 >/dev/null
assert_eq "141" "${PIPESTATUS[0]}" "next | head -1: ended by SIGPIPE"
assert_eq "" "$(cat "$T_TMP/pipe.err")" "next | head -1: nothing on stderr"

# --- 5. A schema newer than this rapportctl (a later release migrated it):
# said on stderr, not an error, and stdout stays what scripts parse.
psql -XAtq -v ON_ERROR_STOP=1 -c "INSERT INTO rapport.schema_migrations (version) VALUES ('9999_from_a_later_release')"
assert_exit 0 "status against a newer schema" -- "$RAPPORTCTL" --config "$CONF" status
assert_contains "$T_OUT" "newer than this rapportctl knows" "newer schema: status warns"
assert_eq ok "$("$RAPPORTCTL" --config "$CONF" queue --json 2>/dev/null | /usr/bin/python3 "$T_TMP/jcheck.py")" \
    "newer schema: the warning is not in --json output"
assert_exit 0 "migrate against a newer schema" -- "$RAPPORTCTL" --config "$CONF" migrate
assert_contains "$T_OUT" "newer than this rapportctl knows" "newer schema: migrate says so, not 'up to date'"
"$RAPPORTCTL" --config "$CONF" check >"$T_TMP/check.out" 2>&1
assert_contains "$(grep '^database:' "$T_TMP/check.out")" "newer than this rapportctl knows" "newer schema: check's database line says so"
assert_exit 0 "rapportd --once --dry-run against a newer schema" -- "$RAPPORTD" --config "$CONF" --once --dry-run
assert_contains "$T_OUT" "newer than this rapportd knows" "newer schema: the daemon warns too"
psql -XAtq -v ON_ERROR_STOP=1 -c "DELETE FROM rapport.schema_migrations WHERE version = '9999_from_a_later_release'"

# --- 4. A large queue: --json is written a row at a time, not built whole.
# Memory figures mean nothing under ASan or valgrind (make check-asan,
# check-valgrind set RAPPORT_BIN), which also make 100,000 rows slow.
if [[ -z ${RAPPORT_BIN:-} ]]; then
    psql -XAtq -v ON_ERROR_STOP=1 -c "INSERT INTO rapport.outbox (job, channel, audience, recipient, recipient_name, template,
      locale, time_zone, context, dedupe_key, state, not_before, next_attempt_at, last_error)
      SELECT 'birthdays', 'email', 'customer', 'user' || g || '@example.com', 'Name ' || g, 'birthday', 'en', 'UTC', '{}',
             'big' || g, 'queued', now(), now(), 'error ' || g FROM generate_series(1, 100000) g"
    # Peak RSS in KB, by getrusage (no dependency on GNU time).
    /usr/bin/python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], "wb"), check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' \
        "$T_TMP/big.json" "$RAPPORTCTL" --config "$CONF" queue --limit 1000000 --json >"$T_TMP/rss"
    assert_eq "$(psql_val "SELECT count(*) FROM rapport.outbox")" "$(/usr/bin/python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1], encoding="utf-8"))))' "$T_TMP/big.json")" \
        "queue --json: 100,000 rows and more, one JSON list"
    rss=$(cat "$T_TMP/rss")
    # The result itself takes ~35 MB; a whole json-c tree of it took 270 MB.
    if ((rss < 150000)); then t_pass "queue --json of 100,000 rows: peak RSS ${rss} KB"; else
        t_fail "queue --json of 100,000 rows: memory" "peak RSS ${rss} KB"; fi
fi
t_summary
