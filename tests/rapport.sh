# shellcheck shell=bash
# rapport-specific test helpers, sourced after tests/lib.sh.
# RAPPORT_BIN selects other builds of the programs (make check-asan).
RAPPORTD=${RAPPORT_BIN:-$T_ROOT}/rapportd
RAPPORTCTL=${RAPPORT_BIN:-$T_ROOT}/rapportctl

# rapport_db — start PostgreSQL, load the reference crm schema, migrate.
rapport_db() {
    pg_start
    psql -XAtq -v ON_ERROR_STOP=1 -f "$T_ROOT/etc/crm.sql" >/dev/null
}

# rapport_config FILE [EXTRA_JOBS_BLOCK] — a config pointing at the test
# servers (whichever were started) and the repo's templates.
rapport_config() {
    local file=$1 jobs=${2:-}
    if [[ -z $jobs ]]; then
        jobs='birthdays: { schedule = "0 * * * *"; send_at = "09:00"; channels = [ "email" ]; max_lateness = "1d"; effective_from = "2020-01-01"; };'
    fi
    cat >"$file" <<CONF
time_zone = "UTC";
locale = "en";
database: { conninfo = "$PG_CONNINFO"; };
templates: { dir = "${TEMPLATES_DIR:-$T_ROOT/templates}"; };
email: {
  smtp_url = "smtp://127.0.0.1:${SMTP_PORT:-9}";
  from = "Acme Customer Care <care@example.com>";
  tls = "none";
  unsubscribe_mailto = "unsubscribe@example.com";
  unsubscribe_url = "https://example.com/unsubscribe";
  connections = 4;
  ${EMAIL_EXTRA:-}
};
sms: {
  gateway_url = "${SMS_URL:-http://127.0.0.1:9/}";
  format = "${SMS_FORMAT:-json}";
  from = "+15550000000";
  quiet_hours = "${SMS_QUIET-21:00-08:00}";
  ${SMS_EXTRA:-}
};
outbox: { lease = "${LEASE:-5m}"; retry = [ 1, 1, 1 ]; max_attempts = 4; ${OUTBOX_EXTRA:-} };
jobs: { $jobs };
CONF
}

# ---- scenario helpers: run the daemon at a pinned time and see who got what.
run() { # run NAME CONF NOW — one `rapportd --once --now NOW`, exit 0 expected
    assert_exit 0 "$1" -- "$RAPPORTD" --config "$2" --once --now "$3"
}
MARK=0
mark() { MARK=$(mail_count); }
SMS_MARK=0
sms_mark() { SMS_MARK=$(sms_count); }
# who_since — "recipient|subject" of every mail since the last mark, sorted.
who_since() {
    mail_json | "$T_PY" -c '
import json, sys
m = json.load(sys.stdin)[int(sys.argv[1]):]
print("\n".join(sorted(",".join(x["envelope_to"]) + "|" + (x["subject"] or "") for x in m)))' "$MARK"
}
# mail_to ADDR FIELD — FIELD (text, html, subject, list_unsubscribe) of the
# last mail to ADDR since the mark.
mail_to() {
    mail_json | "$T_PY" -c '
import json, sys
m = json.load(sys.stdin)[int(sys.argv[1]):]
x = [x for x in m if sys.argv[2] in x["envelope_to"]]
print((x[-1][sys.argv[3]] or "") if x else "NO MAIL")' "$MARK" "$1" "$2"
}
# sms_since — "to|text" of every SMS since the last sms_mark, sorted.
sms_since() {
    if [[ ! -s $SMS_LOG ]]; then return 0; fi
    jq -rs --argjson n "$SMS_MARK" '.[$n:] | map((.json.to // .form.To) + "|" + (.json.body // .json.text // .form.Body)) | sort | .[]' "$SMS_LOG"
}
settle() { # wait until nothing is left in flight
    wait_until "[[ \$(psql_val \"SELECT count(*) FROM rapport.outbox WHERE state = 'sending'\") == 0 ]]" 10 || true
}
