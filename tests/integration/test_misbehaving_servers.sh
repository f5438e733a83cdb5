#!/usr/bin/env bash
# Delivery against servers that misbehave the way real providers do
# (tests/sinks/misbehaving.py, raw sockets): an SMTP server that never
# answers the end of DATA, or answers it after rapport gave up; SMS
# gateways that answer 2xx and then send a body too large, never finish
# it or drop the connection, that answer 408 or redirect, or name a
# Retry-After past the message's max_age.  For each: the row's state and
# reason, and that nothing was sent twice or lost.
#
# Rows are inserted straight into rapport.outbox; each case has its own
# --now slot on the next UTC day.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
export OUTBOX_EXTRA='max_age = "3d";'
rapport_config "$T_TMP/base.conf"
assert_exit 0 "migrate" -- "$RAPPORTCTL" --config "$T_TMP/base.conf" migrate

DAY=$(date -u -d tomorrow +%F)
at() { printf '%sT%sZ\n' "$DAY" "$1"; }

psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, time_zone, locale) VALUES (1, 'Alice Rep', 'alice@example.com', 'UTC', 'en');
INSERT INTO crm.customers (id, name, email, phone, time_zone, locale, rep_id, consent_email, consent_sms, active) VALUES
 (1, 'Generic', 'generic@example.com', '+12125550100', 'UTC', 'en', 1, true, true, true);
SQL

# enqueue CHANNEL KEY RECIPIENT NOT_BEFORE — print the new row's id.
enqueue() {
    psql -XAtq -v ON_ERROR_STOP=1 -v ch="$1" -v key="$2" -v rcpt="$3" -v nb="$4" <<'SQL'
INSERT INTO rapport.outbox (job, channel, audience, recipient, recipient_name, customer_id, template, locale,
                            time_zone, context, marketing, dedupe_key, not_before, next_attempt_at)
VALUES ('birthdays', :'ch', 'customer', :'rcpt', 'Generic', 1, 'birthday', 'en', 'UTC',
        jsonb_build_object('customer', jsonb_build_object('name', 'Generic')), true, :'key', :'nb', :'nb')
RETURNING id;
SQL
}
row() { psql_val "SELECT $2 FROM rapport.outbox WHERE id = $1"; }
once() { assert_exit 0 "$1" -- "$RAPPORTD" --config "$2" --once --now "$3"; }

# mb_start NAME smtp|http ARGS... — a misbehaving server; its port in
# MB_PORT, its events in $T_TMP/NAME.jsonl.
mb_start() {
    local name=$1
    shift
    _t_launch "$name" "$T_PY" "$T_LIB_DIR/sinks/misbehaving.py" "$@" --log "$T_TMP/$name.jsonl" || return 1
    MB_PORT=$_T_LAUNCH_PORT
}
# mb_count NAME EVENT — how many EVENT lines server NAME logged.
mb_count() { jq -s --arg e "$2" 'map(select(.event == $e)) | length' "$T_TMP/$1.jsonl"; }
# mb_rcpt NAME ADDR — how many messages server NAME took for ADDR.
mb_rcpt() { jq -s --arg a "$2" 'map(select(.event == "message" and (.rcpt | index($a)))) | length' "$T_TMP/$1.jsonl"; }
# email_conf FILE PORT EXTRA — a configuration sending e-mail to PORT.
email_conf() { SMTP_PORT=$2 EMAIL_EXTRA=$3 rapport_config "$1"; }

# ---------------------------------------------------------------- SMTP: no reply to the end of DATA
# email.timeout bounds every wait for this server, the QUIT at the end
# included: libcurl's own wait for a reply while closing a session is
# 120 s whatever the transfer's timeout, so after a server that took the
# message and never answered, rapportd --once (or a stop) took two
# minutes to exit with email.timeout = 2.  The reason says the message
# may have been delivered: a retry can deliver it twice.
mb_start silent smtp --mode dot-silent
email_conf "$T_TMP/silent.conf" "$MB_PORT" 'timeout = 2;'
id_silent=$(enqueue email silent:1 silent@example.com "$(at 09:00:00)")
start=$(date +%s)
once "run: no reply to the end of DATA" "$T_TMP/silent.conf" "$(at 09:00:00)"
took=$(($(date +%s) - start))
if ((took <= 8)); then t_pass "no reply to the dot: gave up after email.timeout (${took}s)"; else t_fail "no reply to the dot: gave up after email.timeout (2 s)" "took ${took}s"; fi
assert_eq "queued:1" "$(row "$id_silent" "state || ':' || attempts")" "no reply to the dot: queued for retry"
assert_eq "1" "$(mb_rcpt silent silent@example.com)" "no reply to the dot: the server has the message once"
assert_eq "SMTP at end of DATA: no reply to the message, the server may have delivered it (a retry can deliver it twice): Timeout was reached (server response timeout)" \
    "$(row "$id_silent" last_error)" "no reply to the dot: the reason says the message may have been delivered"
# Out of the way of the next cases, which run later on the same queue.
cancel() { psql_val "UPDATE rapport.outbox SET state = 'cancelled' WHERE id = $1" >/dev/null; }
cancel "$id_silent"

# The connection closed after the dot, without a reply: as ambiguous.
mb_start dotclose smtp --mode dot-close --times 1
email_conf "$T_TMP/dotclose.conf" "$MB_PORT" 'timeout = 2;'
id_dc=$(enqueue email dotclose:1 dotclose@example.com "$(at 09:05:00)")
once "run: connection closed after the dot" "$T_TMP/dotclose.conf" "$(at 09:05:00)"
assert_eq "queued:1" "$(row "$id_dc" "state || ':' || attempts")" "closed after the dot: queued for retry"
assert_contains "$(row "$id_dc" last_error)" "SMTP at end of DATA: no reply to the message, the server may have delivered it" \
    "closed after the dot: the reason says the message may have been delivered"
once "run: connection closed after the dot, the retry" "$T_TMP/dotclose.conf" "$(at 09:06:00)"
assert_eq "sent:2:2" "$(row "$id_dc" "state || ':' || attempts"):$(mb_rcpt dotclose dotclose@example.com)" \
    "closed after the dot: sent at the retry, the server has it twice (the window rapportd(8) documents)"

# ---------------------------------------------------------------- SMTP: a stop while the reply to the dot is awaited
# email.timeout is 30 s here: an SMS due meanwhile goes out at once (the
# e-mail waits on its own thread), and SIGTERM gives the e-mail the 10 s
# grace period, then releases it to the queue and exits.
mb_start gw http --mode ok
gw_port=$MB_PORT
mb_start stuck smtp --mode dot-silent
SMTP_PORT=$MB_PORT SMS_URL=http://127.0.0.1:$gw_port/sms SMS_QUIET='' EMAIL_EXTRA='timeout = 30;' rapport_config "$T_TMP/stuck.conf"
id_stuck=$(enqueue email stuck:1 stuck@example.com "$(at 09:07:00)")
id_sms_meanwhile=$(enqueue sms meanwhile:1 +12125550119 "$(at 09:07:00)")
t_spawn stuck-daemon "$RAPPORTD" --config "$T_TMP/stuck.conf" --once --now "$(at 09:07:00)"
wait_until "(( \$(mb_rcpt stuck stuck@example.com) == 1 ))" 10 || true
if wait_until "[[ \$(row $id_sms_meanwhile state) == sent ]]" 10; then
    t_pass "an SMS goes out while an e-mail waits for its reply"
else
    t_fail "an SMS goes out while an e-mail waits for its reply" "$(row "$id_sms_meanwhile" state)"
fi
start=$(date +%s)
t_stop stuck-daemon TERM 40
took=$(($(date +%s) - start))
if [[ $T_STOP_RC == 0 ]] && ((took <= 14)); then
    t_pass "SIGTERM while the reply to the dot is awaited: exit 0 after the grace period (${took}s)"
else
    t_fail "SIGTERM while the reply to the dot is awaited: exit 0 within the 10 s grace period" "exit status $T_STOP_RC after ${took}s"
fi
assert_eq "queued:0" "$(row "$id_stuck" "state || ':' || attempts")" "stop: the e-mail is back in the queue, the attempt not counted"
cancel "$id_stuck"

# ---------------------------------------------------------------- SMTP: a late reply is not taken for the next message's
# The reply to the first message's end of DATA comes after email.timeout:
# its session must not carry the next message, whose MAIL FROM would read
# that late "250" as its own answer and every later reply one step off.
mb_start late smtp --mode dot-late --late 4 --times 1
email_conf "$T_TMP/late.conf" "$MB_PORT" 'timeout = 2;'
sed -i 's/connections = 4;/connections = 1;/' "$T_TMP/late.conf"
id_late1=$(enqueue email late:1 late1@example.com "$(at 09:10:00)")
id_late2=$(enqueue email late:2 late2@example.com "$(at 09:10:01)")
id_late3=$(enqueue email late:3 late3@example.com "$(at 09:10:02)")
start=$(date +%s)
once "run: a reply after email.timeout" "$T_TMP/late.conf" "$(at 09:10:05)"
took=$(($(date +%s) - start))
# Which of the three went first is the dispatcher's choice: one timed out.
assert_eq "queued:1,sent:1,sent:1" \
    "$(psql_val "SELECT string_agg(state || ':' || attempts, ',' ORDER BY state, attempts) FROM rapport.outbox WHERE id IN ($id_late1, $id_late2, $id_late3)")" \
    "late reply: the message that timed out is queued for retry, the next ones go out on a new session at their first attempt"
assert_eq "1:1:1" "$(mb_rcpt late late1@example.com):$(mb_rcpt late late2@example.com):$(mb_rcpt late late3@example.com)" \
    "late reply: the server has each message once"
assert_eq "2" "$(mb_count late connect)" "late reply: a second session after the timeout, then reused"
if ((took <= 8)); then t_pass "late reply: no wait at exit for the abandoned session (${took}s)"; else t_fail "late reply: no wait at exit" "took ${took}s"; fi

# ---------------------------------------------------------------- SMS: a 2xx whose body breaks off
# The status line is the gateway's answer.  A body longer than the 1 MB
# rapport keeps, one that never ends, or a connection dropped inside it
# used to count as a temporary failure: the retry sent the SMS twice.
# sms_conf FILE PORT — a configuration sending SMS to PORT (2 s timeout).
sms_conf() { SMS_URL=http://127.0.0.1:$2/sms SMS_QUIET='' SMS_EXTRA='timeout = 2;' rapport_config "$1"; }
sms_case() { # NAME MODE SLOT [server options] — one SMS to a gateway in MODE, then a later run
    local name=$1 mode=$2 slot=$3
    shift 3
    mb_start "$name" http --mode "$mode" --times 1 "$@"
    sms_conf "$T_TMP/$name.conf" "$MB_PORT"
    SMS_ID=$(enqueue sms "$name:1" +12125550111 "$(at "$slot":00)")
    once "run: gateway $name" "$T_TMP/$name.conf" "$(at "$slot":00)"
    SMS_RUN=$T_OUT
    # A run a minute later: a message wrongly left for retry goes again now.
    once "run: gateway $name, a minute later" "$T_TMP/$name.conf" "$(at "$slot":59)"
}
sms_case big big 10:00 --size 5000000
assert_eq "sent:1:MB1" "$(row "$SMS_ID" "state || ':' || attempts || ':' || provider_id")" "2xx with a 5 MB body: sent, the id read from its start"
assert_eq "1" "$(mb_count big request)" "2xx with a 5 MB body: the gateway got one request"
assert_contains "$SMS_RUN" "reply was cut short (longer than 1 MB)" "2xx with a 5 MB body: the journal says so"
sms_case endless endless 10:10
assert_eq "sent:1" "$(row "$SMS_ID" "state || ':' || attempts")" "2xx whose body never ends: sent after sms.timeout"
assert_eq "1" "$(mb_count endless request)" "2xx whose body never ends: the gateway got one request"
assert_contains "$SMS_RUN" "(HTTP 200) but its reply was cut short (Timeout was reached)" "2xx whose body never ends: the journal says so"
sms_case dropped close-body 10:20
assert_eq "sent:1" "$(row "$SMS_ID" "state || ':' || attempts")" "2xx, connection dropped inside the body: sent"
assert_eq "1" "$(mb_count dropped request)" "2xx, connection dropped inside the body: the gateway got one request"
sms_case chunked chunked 10:30
assert_eq "sent:1:MB1:1" "$(row "$SMS_ID" "state || ':' || attempts || ':' || provider_id"):$(mb_count chunked request)" \
    "chunked reply, a chunk a segment: sent once, the id read from it"
sms_case http10 http10 10:40
assert_eq "sent:1:MB1:1" "$(row "$SMS_ID" "state || ':' || attempts || ':' || provider_id"):$(mb_count http10 request)" \
    "HTTP/1.0 reply ended by closing: sent once, the id read from it"

# ---------------------------------------------------------------- SMS: 408 and redirects are retried
# 408: the gateway gave up waiting for the request, nothing was sent (RFC
# 9110 lets the client repeat it).  A redirect is not followed (it would
# take the credentials and the message elsewhere) but says the configured
# address is stale: retried, the new address in the reason, so correcting
# sms.gateway_url loses nothing.  Both used to fail the message for good.
sms_case timeout408 status 11:00 --status 408
assert_eq "sent:2" "$(row "$SMS_ID" "state || ':' || attempts")" "408: retried, sent at the next attempt"
assert_eq "2" "$(mb_count timeout408 request)" "408: the gateway got the request twice (the first not taken)"
mb_start moved http --mode status --status 308 --header 'Location: https://sms.example.net/v2/send'
sms_conf "$T_TMP/moved.conf" "$MB_PORT"
id_moved=$(enqueue sms moved:1 +12125550112 "$(at 11:10:00)")
once "run: gateway redirects" "$T_TMP/moved.conf" "$(at 11:10:00)"
assert_eq "queued:1" "$(row "$id_moved" "state || ':' || attempts")" "308: queued for retry, not failed"
assert_eq "gateway HTTP 308: redirected to https://sms.example.net/v2/send, not followed (check sms.gateway_url)" \
    "$(row "$id_moved" last_error)" "308: the reason names where the gateway points"
assert_eq "1" "$(mb_count moved request)" "308: the redirect was not followed"

# ---------------------------------------------------------------- SMS: Retry-After past max_age
# max_age is 3 days here.  A gateway asking for a year (the longest delay
# rapport takes) or for a date in 9999 used to leave the message queued
# until then: neither sent nor failed, long after it was too old to send.
# Now its last try is when it becomes too old, and it fails then.
FAR_DATE='Fri, 31 Dec 9999 23:59:59 GMT'
for form in seconds date; do
    if [[ $form == seconds ]]; then ra='Retry-After: 31536000'; slot=12:00; else ra="Retry-After: $FAR_DATE"; slot=12:10; fi
    mb_start "ra$form" http --mode status --status 503 --header "$ra"
    sms_conf "$T_TMP/ra$form.conf" "$MB_PORT"
    id_ra=$(enqueue sms "ra$form:1" +12125550113 "$(at "$slot":00)")
    once "run: 503, $ra" "$T_TMP/ra$form.conf" "$(at "$slot":00)"
    last=$(date -u -d "$(at "$slot":00) + 3 days" '+%F %T+00')
    assert_eq "queued:1:$last" "$(row "$id_ra" "state || ':' || attempts || ':' || next_attempt_at")" \
        "Retry-After in $form past max_age: the next try when the message turns too old"
    # A second later, as a daemon running meanwhile would claim it.
    once "run: 503 again, max_age reached" "$T_TMP/ra$form.conf" "$(date -u -d "$(at "$slot":00) + 3 days + 1 second" +%FT%TZ)"
    assert_eq "failed:2" "$(row "$id_ra" "state || ':' || attempts")" "Retry-After in $form past max_age: failed at that try"
    assert_contains "$(row "$id_ra" last_error)" "too old to send (last error: gateway HTTP 503" "... as too old, with the gateway's answer"
done

# ---------------------------------------------------------------- SMS: throttled, 429 Retry-After: 1
# A gateway that throttles a burst: max_attempts is 4 here.  Each 429 used
# to count as an attempt, so the message failed as "too many attempts"
# within seconds though nothing was wrong with it.  Now it waits as asked
# (Retry-After: 0 taken as a second) until the gateway takes it.
mb_start throttle http --mode status --status 429 --header 'Retry-After: 0' --times 6
sms_conf "$T_TMP/throttle.conf" "$MB_PORT"
id_thr=$(enqueue sms throttle:1 +12125550114 "$(at 12:30:00)")
for s in 00 01 02 03 04 05; do
    once "run: 429 at 12:30:$s" "$T_TMP/throttle.conf" "$(at 12:30:"$s")"
done
assert_eq "queued:0:$DAY 12:30:06+00" "$(row "$id_thr" "state || ':' || attempts || ':' || next_attempt_at")" \
    "six 429s: still queued, no attempt counted, the next a second later (Retry-After: 0 is not at once)"
once "run: the gateway takes it" "$T_TMP/throttle.conf" "$(at 12:30:06)"
assert_eq "sent:1:7" "$(row "$id_thr" "state || ':' || attempts"):$(mb_count throttle request)" "throttled: sent at the seventh request"

# ---------------------------------------------------------------- SMTP: 552 to RCPT TO
# RFC 821 gave "too many recipients" the code 552; RFC 5321 (4.5.3.1.10)
# asks clients to take a 552 to RCPT as the temporary 452 it should have
# been.  It said nothing against the address: retried, not failed, and
# not suppressed.
mb_start rcpt552 smtp --mode rcpt-552 --times 1
email_conf "$T_TMP/rcpt552.conf" "$MB_PORT" 'timeout = 5;'
id_552=$(enqueue email rcpt552:1 full552@example.com "$(at 13:00:00)")
once "run: 552 to RCPT TO" "$T_TMP/rcpt552.conf" "$(at 13:00:00)"
assert_eq "queued:1" "$(row "$id_552" "state || ':' || attempts")" "552 to RCPT TO: queued for retry, as a 452"
assert_contains "$(row "$id_552" last_error)" "SMTP 552 at RCPT TO" "... the reason quotes the server"
assert_eq "0" "$(psql_val "SELECT count(*) FROM rapport.suppression WHERE address = 'full552@example.com'")" "... and the address is not suppressed"
once "run: 552 to RCPT TO, the retry" "$T_TMP/rcpt552.conf" "$(at 13:05:00)"
assert_eq "sent:1" "$(row "$id_552" "state"):$(mb_rcpt rcpt552 full552@example.com)" "... sent at the retry, once"

t_summary
