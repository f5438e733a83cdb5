#!/bin/bash
# Self-test of tests/lib.sh and the sinks: every building block the feature
# tests rely on is exercised against the real servers once.
set -euo pipefail
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

# ---- PostgreSQL
pg_start
assert_eq "2" "$(psql_val 'SELECT 1 + 1')" "pg: query through PG* environment"
assert_eq "UTF8" "$(psql_val 'SHOW server_encoding')" "pg: UTF8 cluster"
assert_eq "rapport" "$(psql "$PG_CONNINFO" -XAtqc 'SELECT current_database()')" "pg: PG_CONNINFO works"
assert_eq "off" "$(psql_val 'SHOW fsync')" "pg: fsync off"
assert_exit 1 "psql_val fails on SQL error" -- psql_val 'SELECT nope'
assert_contains "$T_OUT" "nope" "assert_exit captures output"
psql_val "CREATE TABLE t (v text); INSERT INTO t VALUES ('持久')"

pg_stop
assert_exit 2 "pg: down after pg_stop" -- psql_val 'SELECT 1'
pg_restart_server
assert_eq "持久" "$(psql_val 'SELECT v FROM t')" "pg: data survives restart on the same port"

# A crash (pg_stop immediate) keeps every commit a client was told about,
# also those made while the stop is under way: a daemon recording outcomes
# through the crash must find them all after it, as with a real server,
# or a fault test counts a message it recorded as sent twice.
psql_val "CREATE TABLE acked (n int)"
# One session, autocommit: "n" is printed once the INSERT of n returned.
for ((i = 1; i <= 300000; i++)); do printf 'INSERT INTO acked VALUES (%d);\n\\echo %d\n' "$i" "$i"; done |
    psql -XAtq -v ON_ERROR_STOP=1 >"$T_TMP/acked.out" 2>/dev/null &
acker=$!
# The crash must come in the middle of the stream, with commits acknowledged
# before it: wait until a thousand are (psql's output reaches the file in
# buffer-sized pieces, so this is "at least", which is all it needs).
wait_until "(( \$(wc -l <$T_TMP/acked.out) >= 1000 ))" 30 || true
pg_stop immediate
wait "$acker" || true
pg_restart_server
acked=$(tail -n 1 "$T_TMP/acked.out")
assert_eq "$acked" "$(psql_val "SELECT count(*) FROM acked WHERE n <= ${acked:-0}")" \
    "pg: every commit acknowledged before a crash survives it"

# ---- SMTP sink
smtp_start --fail-rcpt bounce@example.com
assert_eq "0" "$(mail_count)" "smtp: empty maildir"

send_mail() { # FROM TO SUBJECT
    "$T_PY" - "$SMTP_PORT" "$@" <<'EOF'
import smtplib, sys
from email.message import EmailMessage
port, sender, rcpt, subject = sys.argv[1:]
m = EmailMessage()
m["From"] = "Rapport <%s>" % sender
m["To"] = rcpt
m["Subject"] = subject
m["Message-ID"] = "<harness@rapport.test>"
m["List-Unsubscribe"] = "<https://rapport.test/u/1>"
m.set_content("你好，世界\n")
m.add_alternative("<p>你好</p>\n", subtype="html")
with smtplib.SMTP("127.0.0.1", int(port), timeout=10) as s:
    try:
        s.send_message(m, from_addr="bounces@rapport.test", to_addrs=[rcpt])
    except smtplib.SMTPRecipientsRefused as e:
        code = list(e.recipients.values())[0][0]
        print("refused", code)
        sys.exit(0)
print("sent")
EOF
}

assert_eq "sent" "$(send_mail noreply@rapport.test wang@example.com '生日快乐 — Happy birthday')" "smtp: send UTF-8 mail"
wait_for_mail 1 5
assert_eq "1" "$(mail_count)" "smtp: one message delivered"
msg=$(mail_json 1)
assert_eq "生日快乐 — Happy birthday" "$(jq -r .subject <<<"$msg")" "mail_json: RFC 2047 subject decoded"
assert_contains "$(jq -r '.raw_headers[] | select(.[0]=="Subject") | .[1]' <<<"$msg")" "=?utf-8?" "subject was RFC 2047 encoded on the wire"
assert_eq "bounces@rapport.test" "$(jq -r .envelope_from <<<"$msg")" "mail_json: envelope from"
assert_eq '["wang@example.com"]' "$(jq -c .envelope_to <<<"$msg")" "mail_json: envelope to"
assert_eq "<https://rapport.test/u/1>" "$(jq -r .list_unsubscribe <<<"$msg")" "mail_json: List-Unsubscribe"
assert_eq "From,To,Subject,Message-ID,List-Unsubscribe,MIME-Version,Content-Type" \
    "$(jq -r '.header_names | join(",")' <<<"$msg")" "mail_json: header names in order, no envelope headers"
assert_eq "你好，世界" "$(jq -r .text <<<"$msg" | head -n 1)" "mail_json: text part"
assert_eq "<p>你好</p>" "$(jq -r .html <<<"$msg" | head -n 1)" "mail_json: html part"
assert_eq "[]" "$(jq -c .defects <<<"$msg")" "mail_json: no parser defects"

assert_eq "refused 550" "$(send_mail noreply@rapport.test bounce@example.com 'x')" "smtp: --fail-rcpt answers 550"
assert_eq "1" "$(mail_count)" "smtp: bounced mail not stored"
assert_eq "550" "$(jq -rs 'map(select(.event=="rcpt" and .addr=="bounce@example.com"))[0].code' "$SMTP_EVENTS")" "smtp: events log records the 550"

old_port=$SMTP_PORT
smtp_restart --tempfail-first 1
assert_eq "$old_port" "$SMTP_PORT" "smtp_restart keeps the port"
assert_exit 1 "smtp: --tempfail-first answers 451" -- send_mail a@rapport.test b@example.com 'tempfail'
assert_contains "$T_OUT" "451" "smtp: 451 seen by the client"
assert_eq "sent" "$(send_mail a@rapport.test b@example.com 'second try')" "smtp: accepted after the tempfail"
wait_for_mail 2 5
assert_eq "second try" "$(mail_json -1 | jq -r .subject)" "smtp: maildir kept across restart, order kept"
assert_eq "1 2" "$(mail_json | jq -r 'map(.seq) | join(" ")')" "smtp: delivery sequence continues after restart"

# ---- HTTP (SMS) sink
sms_start
sms_script 500 '429 Retry-After=2' 200
post() { curl -s -o "$T_TMP/body" -D "$T_TMP/hdrs" -w '%{http_code}' -u 'AC123:secret' \
    --data-urlencode "To=+8613800138000" --data-urlencode "Body=$1" "$SMS_URL/2010-04-01/Accounts/AC123/Messages.json"; }
assert_eq "500" "$(post 'one')" "sms: scripted 500"
assert_eq "429" "$(post 'two')" "sms: scripted 429"
assert_contains "$(tr -d '\r' <"$T_TMP/hdrs")" "Retry-After: 2" "sms: Retry-After header sent"
assert_eq "200" "$(post 'three')" "sms: scripted 200"
assert_eq "200" "$(post '生日快乐')" "sms: default 200 once the script is used up"
assert_eq "SM2" "$(jq -r .sid "$T_TMP/body")" "sms: default body numbers accepted messages"
wait_for_sms 4 2
assert_eq "4" "$(sms_count)" "sms: four requests logged"
assert_eq "one|two|three|生日快乐" "$(jq -rs 'map(.form.Body) | join("|")' "$SMS_LOG")" "sms: form bodies logged"
req=$(sms_json 4)
assert_eq "+8613800138000" "$(jq -r .form.To <<<"$req")" "sms: form field decoded"
assert_eq "AC123" "$(jq -r .auth_user <<<"$req")" "sms: basic auth user logged"
assert_eq "POST /2010-04-01/Accounts/AC123/Messages.json" "$(jq -r '.method + " " + .path' <<<"$req")" "sms: method and path"
assert_eq "application/x-www-form-urlencoded" "$(jq -r '.headers["content-type"]' <<<"$req")" "sms: headers logged"

sms_script hang
assert_exit 28 "sms: hang makes the client time out" -- curl -s -m 1 -d x=1 "$SMS_URL/hang"
sms_script '503 body={"message":"busy"}'
assert_eq '{"message":"busy"}' "$(curl -s -H 'Content-Type: application/json' -d '{"a":1}' "$SMS_URL/j")" "sms: scripted body"
assert_eq "1" "$(sms_json -1 | jq -r .json.a)" "sms: JSON body parsed"

# ---- generic helpers
# shellcheck disable=SC2016  # expanded by the child shell
# The child's sleeps are the subject, not a wait: a file that appears a
# moment later (what wait_for_file must catch), then a process to stop.
t_spawn marker bash -c 'sleep 0.3; touch "$T_TMP/marker"; exec sleep 600'
if wait_for_file "$T_TMP/marker" 5; then t_pass "wait_for_file"; else t_fail "wait_for_file" "marker never appeared"; fi
if wait_until false 0.2 2>/dev/null; then t_fail "wait_until times out" "returned success"; else t_pass "wait_until times out"; fi
t_stop marker
assert_eq "143" "$T_STOP_RC" "t_stop reports the exit status"

# A background process's sanitizer report fails the script that spawned it
# (its log is read by t_summary, even after the process was stopped).
cat >"$T_TMP/inner.sh" <<INNER
source "$T_LIB_DIR/lib.sh"
t_spawn daemon bash -c 'echo "daemon.c:42:7: runtime error: signed integer overflow"'
wait
t_stop daemon
t_pass "inner check"
t_summary
INNER
assert_exit 1 "a sanitizer report in a spawned process's log fails the script" -- bash "$T_TMP/inner.sh"
assert_contains "$T_OUT" "FAIL - sanitizer report in daemon.log" "the report is named"
assert_contains "$T_OUT" "1 passed, 1 failed" "and counted"

t_summary
