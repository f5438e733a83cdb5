#!/usr/bin/env bash
# SMS delivery end to end against real PostgreSQL and the HTTP sink
# (tests/sinks/http_sink.py) standing in for the gateway: both request
# formats as the sink received them, idempotency keys stable across
# retries, 500 / 429 Retry-After / 400 / hanging gateways, numbers checked
# at planning, quiet hours in the recipient's zone, UCS-2 text, segment
# limits, consent and suppression.
#
# Rows are mostly inserted straight into rapport.outbox for exact set-ups;
# the Chinese greeting and the invalid number go through the birthdays job.
# Each case has its own --now slot on the next UTC day (retries are
# scheduled from --now, the run's clock).
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
sms_start
# max_age spelled out: its built-in default is checked in test_delivery.sh.
export OUTBOX_EXTRA='max_age = "3d";'
SMS_JOBS='birthdays: { schedule = "0 * * * *"; send_at = "09:00"; channels = [ "sms" ]; max_lateness = "1d"; effective_from = "2020-01-01"; };'
JSON_CONF=$T_TMP/json.conf
SMS_FORMAT=json rapport_config "$JSON_CONF" "$SMS_JOBS"
printf 'tw-s3cret-t0ken\n' >"$T_TMP/sms-token"
TWILIO_CONF=$T_TMP/twilio.conf
SMS_FORMAT=twilio SMS_EXTRA="username = \"AC0123\"; token_file = \"$T_TMP/sms-token\";" rapport_config "$TWILIO_CONF" "$SMS_JOBS"
HANG_CONF=$T_TMP/hang.conf
SMS_FORMAT=json SMS_EXTRA='timeout = 2;' rapport_config "$HANG_CONF" "$SMS_JOBS"
assert_exit 0 "migrate" -- "$RAPPORTCTL" --config "$JSON_CONF" migrate

DAY=$(date -u -d tomorrow +%F)
DAY2=$(date -u -d "$DAY + 1 day" +%F)
at() { printf '%sT%sZ\n' "$DAY" "$1"; }
md=$(date -u -d "$DAY" +%m-%d)

psql -XAtq -v ON_ERROR_STOP=1 <<SQL
INSERT INTO crm.reps (id, name, email, time_zone, locale) VALUES (1, 'Alice Rep', 'alice@example.com', 'UTC', 'en');
INSERT INTO crm.customers (id, name, phone, birthday, time_zone, locale, rep_id, consent_email, consent_sms, active) VALUES
 (1, 'Generic', '+12125550100', NULL, 'UTC', 'en', 1, false, true, true),
 (2, '张伟', '+8613900000001', '1980-$md', 'Asia/Shanghai', 'zh-CN', 1, false, true, true),
 (3, 'Bad Number', '12345', '1984-$md', 'Asia/Shanghai', 'en', 1, false, true, true),
 (4, 'Letters', '+86 139 abc', '1988-$md', 'Asia/Shanghai', 'en', 1, false, true, true),
 (5, 'Withdraws', '+12125550105', NULL, 'UTC', 'en', 1, false, true, true);
SQL

# enqueue KEY PHONE NAME — print the new row's id.  Optional: E_LOC (en),
# E_TZ (UTC), E_NB (not_before, 09:00), E_CUST (1), E_MKT (true).
enqueue() {
    psql -XAtq -v ON_ERROR_STOP=1 -v key="$1" -v rcpt="$2" -v name="$3" \
        -v loc="${E_LOC:-en}" -v tz="${E_TZ:-UTC}" -v nb="${E_NB:-$(at 09:00:00)}" \
        -v cust="${E_CUST:-1}" -v mkt="${E_MKT:-true}" <<'SQL'
INSERT INTO rapport.outbox (job, channel, audience, recipient, recipient_name, customer_id, template, locale,
                            time_zone, context, marketing, dedupe_key, not_before, next_attempt_at)
VALUES ('birthdays', 'sms', 'customer', :'rcpt', :'name', :'cust', 'birthday', :'loc', :'tz',
        jsonb_build_object('customer', jsonb_build_object('name', :'name')), :'mkt', :'key', :'nb', :'nb')
RETURNING id;
SQL
}

# once NAME CONF ISO — one `rapportd --once` run; its output in T_OUT.
once() { assert_exit 0 "$1" -- "$RAPPORTD" --config "$2" --once --now "$3"; }
row() { psql_val "SELECT $2 FROM rapport.outbox WHERE id = $1"; }
# req N JQ — a field of logged request N (1-based; -1 = last).
req() { sms_json "$1" | jq -r "$2"; }
# reqs_for PHONE JQ — JQ applied to the array of requests addressed to PHONE (either format).
reqs_for() { sms_json | jq -r --arg p "$1" "[.[] | select(.json.to == \$p or .form.To == \$p)] | $2"; }

EN_TEXT() { printf 'Happy birthday, %s! Thank you for being with us - wishing you a wonderful year. - Acme Customer Care. Reply STOP to opt out.' "$1"; }

# ---------------------------------------------------------------- planning: numbers, Chinese body
once "run: plan and send at 10:00 Shanghai" "$JSON_CONF" "$(at 02:00:00)"
wait_for_sms 1 10 || true
assert_eq "invalid phone number:3,invalid phone number:4" \
    "$(psql_val "SELECT string_agg(reason || ':' || customer_id, ',' ORDER BY customer_id) FROM rapport.skipped")" \
    "invalid numbers skipped at planning with the reason"
assert_eq "0" "$(psql_val "SELECT count(*) FROM rapport.outbox WHERE customer_id IN (3, 4)")" "nothing queued for invalid numbers"
assert_eq "t|t|f|f|f" "$(psql_val "SELECT rapport.phone_ok('+6834001'), rapport.phone_ok('+123456789012345'),
                                         rapport.phone_ok('+123456'), rapport.phone_ok('+1234567890123456'), rapport.phone_ok('+0834001')" -F '|')" \
    "planning's E.164 check: 7 to 15 digits (Niue's 7 included), no leading 0"
assert_eq "1" "$(sms_count)" "one SMS sent"
assert_eq "【Acme Customer Care】张伟，祝您生日快乐，万事如意！感谢您一直以来的支持。回复TD退订" "$(req 1 .json.text)" "Chinese SMS text arrives intact"
assert_eq "+8613900000001" "$(req 1 .json.to)" "json: to"
assert_eq "sent:birthday:sms:2:$(date -u -d "$DAY" +%Y)" "$(psql_val "SELECT state || ':' || dedupe_key FROM rapport.outbox WHERE customer_id = 2")" "planned greeting recorded sent"
assert_eq "$(req 1 .json.text)" "$(psql_val "SELECT rendered FROM rapport.outbox WHERE customer_id = 2")" "sent text kept for audit"

# ---------------------------------------------------------------- json format
id_j=$(E_NB=$(at 10:00:00) enqueue json:1 +12125550111 'John Doe')
once "run: json format" "$JSON_CONF" "$(at 10:00:00)"
wait_for_sms 2 10 || true
assert_eq "POST" "$(req 2 .method)" "json: POST"
assert_eq "application/json" "$(req 2 '.headers["content-type"]')" "json: Content-Type"
assert_eq "+12125550111|+15550000000|$(EN_TEXT 'John Doe')" "$(req 2 '[.json.to, .json.from, .json.text] | join("|")')" "json: to/from/text as the gateway received them"
assert_eq "json:1" "$(req 2 '.headers["idempotency-key"]')" "json: Idempotency-Key header is the dedupe key"
assert_eq "null" "$(req 2 '.headers["i-twilio-idempotency-token"]')" "json: no Twilio header"
assert_eq "sent:1:2" "$(row "$id_j" "state || ':' || attempts || ':' || provider_id")" "json: sent, gateway id stored"

# ---------------------------------------------------------------- json format, a provider's own names
# sms.json_fields renames the request's members, sms.json_reply_id says
# where the reply keeps the message id (here Vonage's shape).
FIELDS_CONF=$T_TMP/fields.conf
SMS_FORMAT=json SMS_EXTRA='json_fields = { to = "msisdn"; from = "sender"; text = "message"; idempotency_key = "client_ref"; }; json_reply_id = [ "messages.0.message-id", "id" ];' \
    rapport_config "$FIELDS_CONF" "$SMS_JOBS"
id_f=$(E_NB=$(at 10:15:00) enqueue fields:1 +12125550112 'Quote "Q" \ Back')
sms_script '200 body={"message-count":"1","messages":[{"to":"12125550112","message-id":"VON-77","status":"0"}]}'
once "run: renamed json fields" "$FIELDS_CONF" "$(at 10:15:00)"
assert_eq "msisdn,sender,message,client_ref" "$(req -1 '.json | keys_unsorted | join(",")')" "json_fields: the members as configured, nothing else"
assert_eq "+12125550112|+15550000000|$(EN_TEXT 'Quote "Q" \ Back')|fields:1" "$(req -1 '[.json.msisdn, .json.sender, .json.message, .json.client_ref] | join("|")')" "json_fields: values arrive intact (JSON-encoded)"
assert_eq "fields:1" "$(req -1 '.headers["idempotency-key"]')" "json_fields: Idempotency-Key header still sent"
assert_eq "sent:VON-77" "$(row "$id_f" "state || ':' || provider_id")" "json_reply_id: the id read from messages.0.message-id"
FIELDS2_CONF=$T_TMP/fields2.conf
SMS_FORMAT=json SMS_EXTRA='json_fields = { idempotency_key = ""; }; json_reply_id = "data.id";' rapport_config "$FIELDS2_CONF" "$SMS_JOBS"
id_f2=$(E_NB=$(at 10:20:00) enqueue fields:2 +12125550113 'Keyless')
sms_script '200 body={"data":{"id":12345,"status":"accepted"}}'
once "run: no key in the body, nested reply id" "$FIELDS2_CONF" "$(at 10:20:00)"
assert_eq "to,from,text" "$(req -1 '.json | keys_unsorted | join(",")')" "json_fields.idempotency_key = \"\": the key is left out of the body"
assert_eq "fields:2" "$(req -1 '.headers["idempotency-key"]')" "json_fields.idempotency_key = \"\": still in the header"
assert_eq "sent:12345" "$(row "$id_f2" "state || ':' || provider_id")" "json_reply_id as a string: the id read from data.id"

# Bad settings are refused at load time with file, line and setting.
bad_sms() { # NAME FORMAT SMS_EXTRA EXPECTED
    local f=$T_TMP/bad-sms-$RANDOM.conf line
    SMS_FORMAT=$2 SMS_EXTRA=$3 rapport_config "$f" "$SMS_JOBS"
    line=$(grep -n 'json_' "$f" | head -n 1 | cut -d: -f1)
    assert_exit 78 "$1: exit 78" -- "$RAPPORTD" --config "$f" -n
    assert_contains "$T_OUT" "${f##*/}:$line: $4" "$1: file, line, setting and reason"
}
bad_sms "empty field name" json 'json_fields = { to = ""; };' "sms.json_fields.to: must not be empty"
bad_sms "clashing field names" json 'json_fields = { text = "to"; };' 'sms.json_fields.text: "to" is already the name of json_fields.to'
bad_sms "unknown field" json 'json_fields = { body = "x"; };' "sms.json_fields.body: unknown setting"
bad_sms "field name not a string" json 'json_fields = { to = 1; };' "sms.json_fields.to: expected a string"
bad_sms "bad reply path" json 'json_reply_id = [ "id", "data..id" ];' 'sms.json_reply_id[1]: expected a member name or a dotted path'
bad_sms "reply id of the wrong type" json 'json_reply_id = 5;' "sms.json_reply_id: expected a member name or path"
bad_sms "json settings with twilio" twilio 'json_reply_id = "id"; username = "AC1"; token_file = "'"$T_TMP/sms-token"'";' 'sms.json_reply_id: only used with format = "json"'
# Twilio needs the account SID, the auth token and a sender: without one,
# the configuration is refused (not every SMS failing at send time).
mkdir -p "$T_TMP/tw" && f=$T_TMP/tw/twilio-incomplete.conf # away from $T_TMP/sms-token, which a config beside it would find
SMS_FORMAT=twilio SMS_EXTRA='' rapport_config "$f" "$SMS_JOBS"
assert_exit 78 "twilio without username and token: exit 78" -- "$RAPPORTD" --config "$f" -n
assert_contains "$T_OUT" 'sms.format = "twilio" needs sms.username (the account SID)' "... the missing account SID named"
assert_contains "$T_OUT" 'sms.format = "twilio" needs the auth token' "... the missing token named"
sed -i '/^  from = "+15550000000";/d' "$f"
assert_exit 78 "twilio without a sender: exit 78" -- "$RAPPORTD" --config "$f" -n
assert_contains "$T_OUT" 'sms.format = "twilio" needs sms.from' "... the missing sender named"

# ---------------------------------------------------------------- twilio format
id_t=$(E_NB=$(at 10:30:00) enqueue twilio:1 +12125550122 'Jane Roe & Co=1')
once "run: twilio format" "$TWILIO_CONF" "$(at 10:30:00)"
wait_for_sms 5 10 || true
assert_eq "application/x-www-form-urlencoded" "$(req 5 '.headers["content-type"]')" "twilio: form-encoded"
assert_eq "To,From,Body" "$(req 5 '[.form_list[][0]] | join(",")')" "twilio: exactly To, From, Body"
assert_eq "+12125550122|+15550000000|$(EN_TEXT 'Jane Roe & Co=1')" "$(req 5 '[.form.To, .form.From, .form.Body] | join("|")')" "twilio: fields decoded intact (& and = encoded)"
# Twilio's own API reads no idempotency key, but gateways that speak its API
# may: the key goes in both header names, never in the form.
assert_eq "twilio:1:twilio:1" "$(req 5 '[.headers["i-twilio-idempotency-token"], .headers["idempotency-key"]] | map(tostring) | join(":")')" "twilio: the dedupe key as Idempotency-Key and I-Twilio-Idempotency-Token"
assert_eq "AC0123:tw-s3cret-t0ken" "$(req 5 '.auth_user + ":" + .auth_pass')" "twilio: Basic auth from username and token_file"
assert_eq "sent:SM3" "$(row "$id_t" "state || ':' || provider_id")" "twilio: the message sid is stored as provider id"
# gateway_url is the bare sink (scheme and host): Twilio's Messages resource
# for the account is appended, as Twilio's client libraries build it.
assert_eq "POST /2010-04-01/Accounts/AC0123/Messages.json" "$(req 5 '.method + " " + .path')" "twilio: a bare gateway_url gets /2010-04-01/Accounts/SID/Messages.json"
# One with a path (a relay speaking Twilio's API, or the full resource) is
# used as written.
sed "s|gateway_url = \"[^\"]*\"|gateway_url = \"$SMS_URL/relay/sms?x=1\"|" "$TWILIO_CONF" >"$T_TMP/twilio-path.conf"
id_tp=$(E_NB=$(at 10:35:00) enqueue twilio-path:1 +12125550123 'Path Test')
once "run: twilio format, gateway_url with a path" "$T_TMP/twilio-path.conf" "$(at 10:35:00)"
assert_eq "sent:/relay/sms?x=1" "$(row "$id_tp" state):$(reqs_for +12125550123 '.[0].path')" "twilio: a gateway_url with a path is used as written"
if [[ $T_OUT != *tw-s3cret-t0ken* ]]; then t_pass "token never printed"; else t_fail "token never printed" "$T_OUT"; fi

# ---------------------------------------------------------------- control characters
# A CRM name with an escape sequence and a bell: no handset shows them and
# some gateways refuse them; they reach the gateway (and the audit copy) as
# spaces, the rest of the text intact.
id_cc=$(E_NB=$(at 10:40:00) enqueue ctrl:1 +13105550101 $'Esc\e[31mRed\a')
once "run: a name with control characters" "$JSON_CONF" "$(at 10:40:00)"
assert_eq "$(EN_TEXT 'Esc [31mRed ')" "$(reqs_for +13105550101 '.[0].json.text')" "control characters sent as spaces"
assert_eq "sent" "$(row "$id_cc" state)" "the message went"
assert_eq "$(EN_TEXT 'Esc [31mRed ')" "$(row "$id_cc" rendered)" "the audit copy is what was sent"

# ---------------------------------------------------------------- 500, 429 Retry-After, 200
id_r=$(E_NB=$(at 11:00:00) enqueue retry:1 +12125550133 'Retry Me')
sms_script 500 '429 Retry-After=120' 200
once "run: 500" "$JSON_CONF" "$(at 11:00:00)"
assert_eq "queued:1" "$(row "$id_r" "state || ':' || attempts")" "500: queued for retry"
assert_contains "$(row "$id_r" last_error)" "gateway HTTP 500" "500: last_error"
assert_eq "$DAY 11:00:01+00" "$(row "$id_r" next_attempt_at)" "500: retried on the backoff schedule (1 s)"
once "run: 429" "$JSON_CONF" "$(at 11:01:00)"
assert_eq "queued:1" "$(row "$id_r" "state || ':' || attempts")" "429: queued for retry, the attempt not counted (throttling)"
assert_contains "$(row "$id_r" last_error)" "gateway HTTP 429" "429: last_error"
assert_eq "$DAY 11:03:00+00" "$(row "$id_r" next_attempt_at)" "429: next attempt exactly Retry-After (120 s) later"
n=$(sms_count)
once "run: before Retry-After has passed" "$JSON_CONF" "$(at 11:02:59)"
assert_eq "$n:queued:1" "$(sms_count):$(row "$id_r" "state || ':' || attempts")" "nothing sent before Retry-After"
once "run: 200" "$JSON_CONF" "$(at 11:03:00)"
assert_eq "sent:2" "$(row "$id_r" "state || ':' || attempts")" "third request sent (the 429 not counted as an attempt)"
assert_eq "500,429,200" "$(reqs_for +12125550133 'map(.reply | tostring) | join(",")')" "gateway saw 500, 429, 200 — one success"
assert_eq "retry:1" "$(reqs_for +12125550133 'map(.headers["idempotency-key"]) | unique | join(",")')" "same Idempotency-Key on every attempt"
assert_eq "1" "$(reqs_for +12125550133 'map(.body) | unique | length')" "identical request body on every attempt"

# ---------------------------------------------------------------- 429 with Retry-After as an HTTP-date
# An instant on the gateway's clock, compared with the run's (--now here,
# the database's otherwise), never with this host's.
id_rd=$(E_NB=$(at 11:30:00) enqueue retry:2 +12125550134 'Retry Date')
sms_script "429 Retry-After=$(TZ=GMT LC_ALL=C date -d "$(at 11:35:00)" '+%a,%%20%d%%20%b%%20%Y%%20%H:%M:%S%%20GMT')"
once "run: 429 with an HTTP-date" "$JSON_CONF" "$(at 11:30:00)"
assert_eq "queued:0:$DAY 11:35:00+00" "$(row "$id_rd" "state || ':' || attempts || ':' || next_attempt_at")" "429 HTTP-date: next attempt at that instant (not counted)"
psql_val "UPDATE rapport.outbox SET state = 'cancelled' WHERE id = $id_rd" >/dev/null
id_rh=$(E_NB=$(at 11:40:00) enqueue retry:3 +12125550135 'Retry Huge')
sms_script '503 Retry-After=99999999999999'
once "run: 503 with an absurd Retry-After" "$JSON_CONF" "$(at 11:40:00)"
assert_eq "queued:1" "$(row "$id_rh" "state || ':' || attempts")" "absurd Retry-After: recorded as a retry (capped), not left leased"
psql_val "UPDATE rapport.outbox SET state = 'cancelled' WHERE id = $id_rh" >/dev/null

# ---------------------------------------------------------------- 400
id_400=$(E_NB=$(at 12:00:00) enqueue bad:1 +12125550144 'Rejected')
# Twilio's real answer quotes the number: it must reach neither last_error
# nor the journal in full.
sms_script '400 body={"code":21211,"message":"The To number +12125550144 is not a valid phone number. 号码无效"}'
once "run: 400" "$JSON_CONF" "$(at 12:00:00)"
assert_eq "failed:1" "$(row "$id_400" "state || ':' || attempts")" "400: failed at once"
assert_contains "$(row "$id_400" last_error)" "gateway HTTP 400" "400: reason has the status"
assert_contains "$(row "$id_400" last_error)" "The To number +121****44 is not a valid phone number. 号码无效" \
    "400: reason keeps the gateway's explanation, the number in it masked"
assert_not_contains "$(row "$id_400" last_error)$T_OUT" "2125550144" "400: the full number is in neither last_error nor the log"
once "run: after 400" "$JSON_CONF" "$(at 12:10:00)"
assert_eq "1" "$(reqs_for +12125550144 length)" "400: never retried"

# ---------------------------------------------------------------- max_age on the run's clock
# A message ages from its send time (not_before) on the run's clock, so a
# test pinned years ahead of the real one (its rows created now) still has
# its temporary failures retried; one due longer than max_age (3d here)
# before the failure is given up.
FAR=$(($(date -u +%Y) + 3))-06-01
id_far=$(E_NB=${FAR}T09:00:00Z enqueue far:1 +12125550191 'Far Ahead')
id_old=$(E_NB=$(date -u -d "$FAR - 4 days" +%F)T09:00:00Z enqueue far:2 +12125550192 'Long Due')
sms_script 500 500
once "run: 500, --now years ahead" "$JSON_CONF" "${FAR}T09:00:00Z"
assert_eq "queued:1" "$(row "$id_far" "state || ':' || attempts")" "--now years ahead of the clock: a fresh message's 500 is retried, not too old"
assert_eq "failed:1" "$(row "$id_old" "state || ':' || attempts")" "due 4 days before the failure, max_age 3d: failed"
assert_contains "$(row "$id_old" last_error)" "too old to send (last error: gateway HTTP 500" "too old: the reason names both"
once "run: 200, --now years ahead" "$JSON_CONF" "${FAR}T09:05:00Z"
assert_eq "sent:2" "$(row "$id_far" "state || ':' || attempts")" "--now years ahead: the retry goes"
# And behind it: a run pinned in the past schedules its retry on its own
# clock too, so the next run at a later --now sends it.
PAST=$(($(date -u +%Y) - 2))-03-14
id_past=$(E_NB=${PAST}T09:00:00Z enqueue past:1 +12125550193 'Long Ago')
sms_script 500
once "run: 500, --now years behind" "$JSON_CONF" "${PAST}T09:00:00Z"
assert_eq "queued:1:${PAST} 09:00:01+00" "$(row "$id_past" "state || ':' || attempts || ':' || next_attempt_at")" \
    "--now years behind the clock: the retry is due a backoff step after --now"
once "run: 200, --now years behind" "$JSON_CONF" "${PAST}T09:05:00Z"
assert_eq "sent:2" "$(row "$id_past" "state || ':' || attempts")" "--now years behind: the retry goes"

# ---------------------------------------------------------------- twilio retry keeps its token
id_t2=$(E_NB=$(at 12:30:00) enqueue twilio:2 +12125550155 'Twice Tried')
sms_script 503
once "run: twilio 503" "$TWILIO_CONF" "$(at 12:30:00)"
assert_eq "queued:1" "$(row "$id_t2" "state || ':' || attempts")" "twilio 503: queued for retry"
once "run: twilio 200" "$TWILIO_CONF" "$(at 12:31:00)"
assert_eq "sent:2" "$(row "$id_t2" "state || ':' || attempts")" "twilio retry: sent"
assert_eq "2:1" "$(reqs_for +12125550155 '(length | tostring) + ":" + (map(.body) | unique | length | tostring)')" "twilio retry: the same request again, after a 503"

# ---------------------------------------------------------------- gateway hangs
id_h=$(E_NB=$(at 13:00:00) enqueue hang:1 +12125550166 'Hung Up')
sms_script hang
start=$(date +%s)
once "run: gateway hangs" "$HANG_CONF" "$(at 13:00:00)"
took=$(($(date +%s) - start))
if ((took >= 2 && took <= 10)); then t_pass "hang: gave up after sms.timeout (${took}s)"; else t_fail "hang: gave up after sms.timeout" "took ${took}s"; fi
assert_eq "queued:1" "$(row "$id_h" "state || ':' || attempts")" "hang: queued for retry"
assert_contains "$(row "$id_h" last_error)" "Timeout" "hang: last_error says timeout"
once "run: gateway answers" "$HANG_CONF" "$(at 13:01:00)"
assert_eq "sent:2" "$(row "$id_h" "state || ':' || attempts")" "after the hang: sent"
assert_eq "2:hang:1" "$(reqs_for +12125550166 '(length | tostring) + ":" + (map(.headers["idempotency-key"]) | unique | join(","))')" "hang then 200, same Idempotency-Key"

# ---------------------------------------------------------------- graceful stop with a request in flight
# SIGTERM while the gateway hangs (sms.timeout is 30 s here): the transfer
# gets the 10 s grace period, then the message goes back to the queue.
id_g=$(E_NB=$(at 13:30:00) enqueue grace:1 +12125550167 'Graceful')
sms_script hang
t_spawn graceful "$RAPPORTD" --config "$JSON_CONF" --once --now "$(at 13:30:00)"
if wait_until "(( \$(reqs_for +12125550167 length) == 1 ))" 10; then
    start=$(date +%s)
    t_stop graceful TERM 15
    took=$(($(date +%s) - start))
    if [[ $T_STOP_RC == 0 ]] && ((took >= 9 && took <= 13)); then
        t_pass "SIGTERM with a request in flight: exit 0 after the grace period (${took}s)"
    else
        t_fail "SIGTERM with a request in flight: exit 0 after the 10 s grace period" "exit status $T_STOP_RC after ${took}s"
    fi
    assert_contains "$(cat "$(t_log graceful)")" "released to the queue" "graceful stop: says it released the message"
    assert_eq "queued:0:released" "$(row "$id_g" "state || ':' || attempts")$(psql_val "SELECT ':' || event FROM rapport.outbox_events WHERE outbox_id = $id_g ORDER BY id DESC LIMIT 1")" "graceful stop: back in the queue, attempt not counted"
else
    t_fail "graceful stop: request reached the gateway" "no request logged"
    t_stop graceful KILL
fi
psql_val "UPDATE rapport.outbox SET lease_until = now() - interval '1 second' WHERE id = $id_g AND state = 'sending'" >/dev/null
once "run: after the graceful stop" "$JSON_CONF" "$(at 13:31:00)"
assert_eq "sent:2:grace:1" "$(row "$id_g" state):$(reqs_for +12125550167 '(length | tostring) + ":" + (map(.headers["idempotency-key"]) | unique | join(","))')" "released message sent later with the same Idempotency-Key"

# ---------------------------------------------------------------- segments
long_name=$(printf '长%.0s' $(seq 1 250))
two_seg_name=$(printf '王%.0s' $(seq 1 60))
id_long=$(E_NB=$(at 14:00:00) E_LOC=zh-CN enqueue seg:1 +8613900000011 "$long_name")
id_two=$(E_NB=$(at 14:00:00) E_LOC=zh-CN enqueue seg:2 +8613900000012 "$two_seg_name")
id_gsm=$(E_NB=$(at 14:00:00) enqueue seg:3 +12125550177 "$(printf 'x%.0s' $(seq 1 500))")
once "run: segments" "$JSON_CONF" "$(at 14:00:00)"
long_len=$(printf '%s' "【Acme Customer Care】${long_name}，祝您生日快乐，万事如意！感谢您一直以来的支持。回复TD退订" | python3 -c 'import sys; print(len(sys.stdin.read()))')
long_segs=$(((long_len + 66) / 67))
assert_eq "failed:message needs $long_segs segments, more than sms.max_segments = 3" "$(row "$id_long" "state || ':' || last_error")" "UCS-2 body over max_segments: failed with the reason"
assert_eq "failed" "$(row "$id_gsm" state)" "GSM-7 body over max_segments: failed"
assert_contains "$(row "$id_gsm" last_error)" "more than sms.max_segments = 3" "GSM-7 body: reason"
assert_eq "0" "$(reqs_for +8613900000011 length)$(reqs_for +12125550177 length | tr -d 0)" "over-long messages never reach the gateway"
assert_eq "sent" "$(row "$id_two" state)" "two-segment UCS-2 message sent"
assert_eq "【Acme Customer Care】${two_seg_name}，祝您生日快乐，万事如意！感谢您一直以来的支持。回复TD退订" "$(reqs_for +8613900000012 '.[0].json.text')" "two-segment Chinese text intact"

# ---------------------------------------------------------------- consent and suppression
id_c=$(E_NB=$(at 14:30:00) E_CUST=5 enqueue consent:1 +12125550105 'Withdraws')
id_s=$(E_NB=$(at 14:30:00) enqueue supp:1 +12125550188 'Opted Out')
psql_val "UPDATE crm.customers SET consent_sms = false WHERE id = 5" >/dev/null
assert_exit 0 "rapportctl suppress a number" -- "$RAPPORTCTL" --config "$JSON_CONF" suppress +12125550188
assert_contains "$T_OUT" "suppressed (sms)" "suppress: SMS channel recognised"
once "run: consent and suppression" "$JSON_CONF" "$(at 14:30:00)"
assert_eq "cancelled:customer withdrew SMS consent" "$(row "$id_c" "state || ':' || last_error")" "SMS consent withdrawn after planning: cancelled"
assert_eq "cancelled:recipient address is suppressed" "$(row "$id_s" "state || ':' || last_error")" "suppressed number: cancelled"
assert_eq "00" "$(reqs_for +12125550105 length)$(reqs_for +12125550188 length)" "neither reached the gateway"

# ---------------------------------------------------------------- quiet hours (21:00-08:00 recipient-local)
# 15:00 UTC is 23:00 in Shanghai (quiet) and 10:00 in New York (not quiet).
id_q=$(E_NB=$(at 15:00:00) E_TZ=Asia/Shanghai E_LOC=zh-CN enqueue quiet:1 +8613900000021 '李娜')
id_ny=$(E_NB=$(at 15:00:00) E_TZ=America/New_York enqueue quiet:2 +12125550199 'New Yorker')
once "run: 23:00 in Shanghai" "$JSON_CONF" "$(at 15:00:00)"
assert_eq "queued:0" "$(row "$id_q" "state || ':' || attempts")" "quiet hours: the Shanghai SMS waits"
assert_eq "${DAY2} 00:00:00+00" "$(row "$id_q" next_attempt_at)" "quiet hours: next_attempt_at moved to 08:00 Shanghai"
assert_eq "0" "$(reqs_for +8613900000021 length)" "quiet hours: nothing reached the gateway"
assert_eq "sent" "$(row "$id_ny" state)" "same instant, 10:00 in New York: sent"
once "run: 07:59 in Shanghai" "$JSON_CONF" "$(at 23:59:00)"
assert_eq "0:queued:0" "$(reqs_for +8613900000021 length):$(row "$id_q" state):$(row "$id_q" attempts)" "07:59 local: still waiting"
once "run: 08:30 in Shanghai" "$JSON_CONF" "${DAY2}T00:30:00Z"
assert_eq "sent:1" "$(row "$id_q" "state || ':' || attempts")" "after 08:00 local: sent"
assert_eq "【Acme Customer Care】李娜，祝您生日快乐，万事如意！感谢您一直以来的支持。回复TD退订" "$(reqs_for +8613900000021 '.[0].json.text')" "deferred Chinese SMS arrives intact"

# A sender that died mid-send leaves its lease to expire; the message is
# then due again, and quiet hours hold for it as for any other.
id_qc=$(E_NB=$(at 15:00:00) E_TZ=Asia/Shanghai E_LOC=zh-CN enqueue quiet:3 +8613900000022 '王芳')
stale=$(psql_val "UPDATE rapport.outbox SET state = 'sending', attempts = 1, lease_token = gen_random_uuid(),
                  lease_until = now() - interval '1 minute', leased_by = 'crashed-host:1' WHERE id = $id_qc RETURNING lease_token")
once "run: 00:00 in Shanghai, a lease expired" "$JSON_CONF" "$(at 16:00:00)"
assert_eq "0" "$(reqs_for +8613900000022 length)" "expired lease inside quiet hours: nothing reached the gateway"
assert_eq "queued:1:${DAY2} 00:00:00+00:" "$(row "$id_qc" "state || ':' || attempts || ':' || next_attempt_at || ':' || coalesce(lease_token::text, '')")" \
    "expired lease: back in the queue until 08:00 Shanghai, token cleared"
assert_eq "0" "$(psql_val "WITH u AS (UPDATE rapport.outbox SET state = 'sent' WHERE id = $id_qc AND lease_token = '$stale' AND state = 'sending' RETURNING 1) SELECT count(*) FROM u")" \
    "expired lease: the crashed sender's token can record nothing"
once "run: 08:40 in Shanghai" "$JSON_CONF" "${DAY2}T00:40:00Z"
assert_eq "sent:2:1" "$(row "$id_qc" "state || ':' || attempts"):$(reqs_for +8613900000022 length)" "expired lease: sent once, after quiet hours"

# Quiet hours whose end the clocks skip: London's 23:00-01:30 on the night
# of 2026-03-29, when 01:00 GMT becomes 02:00 BST.  The window ends when the
# clocks jump (01:00Z: the wall clock reads 02:00, past 01:30), not at 01:30
# "read with the old offset" (01:30Z, half an hour after quiet hours ended).
# Found by tests/integration/test_send_reference.sh (seed 19).
SMS_QUIET='23:00-01:30' rapport_config "$T_TMP/gap.conf" 'birthdays: { enabled = false; };'
id_gap=$(E_NB=2026-03-28T23:30:00Z E_TZ=Europe/London enqueue quiet:gap +12125550120 'Gap')
once "run: 00:30 in London, the night the clocks go forward" "$T_TMP/gap.conf" 2026-03-29T00:30:00Z
assert_eq "queued:2026-03-29 01:00:00+00" "$(row "$id_gap" "state || ':' || next_attempt_at")" \
    "quiet end in a DST gap: deferred to the jump (02:00 BST), not to 02:30 BST"
once "run: 02:00 BST, quiet hours over" "$T_TMP/gap.conf" 2026-03-29T01:00:00Z
assert_eq "sent:1" "$(row "$id_gap" state):$(reqs_for +12125550120 length)" "sent as the window ends"

# ---------------------------------------------------------------- staging
# sms.redirect_to: the text goes to the test phone unchanged; the intended
# number is still checked (an invalid one is not sent anywhere).
SMS_QUIET='' SMS_EXTRA='redirect_to = "+15550009999";' rapport_config "$T_TMP/redirect.conf" 'birthdays: { enabled = false; };'
id_rd=$(E_NB=2026-03-30T09:00:00Z enqueue redirect:1 +12125550130 'Red Irect')
id_rd_bad=$(E_NB=2026-03-30T09:00:00Z enqueue redirect:2 '+0012' 'Bad Number')
once "run: redirected" "$T_TMP/redirect.conf" 2026-03-30T09:05:00Z
assert_eq "0|1" "$(reqs_for +12125550130 length)|$(reqs_for +15550009999 length)" "sms.redirect_to: sent to the test phone, not the customer"
assert_eq "$(EN_TEXT 'Red Irect')" "$(sms_json | jq -r '[.[] | select(.json.to == "+15550009999")][0].json.text')" "... the text unchanged"
assert_eq "sent|failed" "$(row "$id_rd" state)|$(row "$id_rd_bad" state)" "... and an invalid intended number is still refused"
assert_contains "$(SMS_EXTRA='redirect_to = "12345";' rapport_config "$T_TMP/redirect-bad.conf" 'birthdays: { enabled = false; };'; "$RAPPORTCTL" --config "$T_TMP/redirect-bad.conf" check 2>&1)" \
    'redirect_to: "12345" is not a phone number in E.164 form' "sms.redirect_to must be E.164"
assert_contains "$(EMAIL_EXTRA='redirect_to = "staging@example.com";' rapport_config "$T_TMP/redirect-mail.conf" 'birthdays: { enabled = false; };'; "$RAPPORTCTL" --config "$T_TMP/redirect-mail.conf" check 2>&1)" \
    "email.redirect_to is set but sms.redirect_to is not: SMS still go to the real numbers" "e-mail redirected without SMS: warned"

# ---------------------------------------------------------------- connections are reused
# Twelve SMS at once through sms.connections (4 by default): four
# connections at most, each carrying several requests (HTTP keep-alive).
for n in $(seq 10 21); do E_NB=2026-03-31T09:00:00Z enqueue "reuse:$n" "+121255502$n" 'Re Use' >/dev/null; done
once "run: twelve SMS" "$T_TMP/redirect.conf" 2026-03-31T09:00:00Z
assert_eq "12" "$(reqs_for +15550009999 'map(select(.json.idempotency_key | startswith("reuse:"))) | length')" "twelve SMS sent"
n_conns=$(reqs_for +15550009999 'map(select(.json.idempotency_key | startswith("reuse:")) | .peer_port) | unique | length')
if ((n_conns >= 1 && n_conns <= 4)); then
    t_pass "twelve SMS over at most sms.connections (4) connections ($n_conns)"
else t_fail "twelve SMS over at most sms.connections (4) connections" "$n_conns connections"; fi

# ---------------------------------------------------------------- a dedupe key with CRM junk
# A dedupe key carries CRM data (an invoice number): with a CR/LF or
# Chinese in it, the header is still there, percent-encoded, and adds no
# header of its own; the JSON body has the key as it is.
SMS_QUIET='' rapport_config "$T_TMP/key.conf" 'birthdays: { enabled = false; };'
id_k=$(E_NB=2026-03-30T09:00:00Z enqueue $'dunning:INV\r\nX-Evil: 1:发票%:0:sms' +12125550198 'Key Junk')
once "run: a dedupe key with CR/LF and non-ASCII" "$T_TMP/key.conf" 2026-03-30T09:05:00Z
assert_eq "dunning:INV%0D%0AX-Evil: 1:%E5%8F%91%E7%A5%A8%25:0:sms" "$(reqs_for +12125550198 '.[0].headers["idempotency-key"]')" \
    "a key with CR/LF, non-ASCII and %: Idempotency-Key percent-encoded, not left out"
assert_eq "null" "$(reqs_for +12125550198 '.[0].headers["x-evil"]')" "a CR/LF in the key adds no header"
assert_eq $'dunning:INV\r\nX-Evil: 1:发票%:0:sms' "$(reqs_for +12125550198 '.[0].json.idempotency_key')" "the JSON body carries the key as it is"
assert_eq "sent" "$(row "$id_k" state)" "the message with that key is sent"

# ---------------------------------------------------------------- nothing doubled
assert_eq "0" "$(sms_json | jq '[.[] | select(.reply == 200 or .reply == "default") | (.headers["idempotency-key"] // (.form.To + "|" + .form.Body))] | group_by(.) | map(select(length > 1)) | length')" "no message accepted twice by the gateway"
assert_eq "0" "$(psql_val "SELECT count(*) FROM rapport.outbox WHERE state IN ('queued', 'sending')")" "nothing left in the queue"
t_summary
