#!/usr/bin/env bash
# A reload that raises email.connections must not queue SMTP transfers
# behind the worker threads started with the old value: a claimed message
# waiting there outlives its lease, is claimed again and goes out twice
# (no crash, no database outage: outside the at-least-once window of
# rapportd(8)).
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
smtp_start --delay 3
N=8
LEASE=10s EMAIL_EXTRA='timeout = "8s";' rapport_config "$T_TMP/a.conf" 'birthdays: { enabled = false; };'
sed -i 's/connections = 4;/connections = 1;/' "$T_TMP/a.conf"
"$RAPPORTCTL" --config "$T_TMP/a.conf" migrate >/dev/null
psql -XAtq -c "INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES (1, 'Rep', 'rep@example.com', 'UTC', 'en', 8, true)"

t_spawn a "$RAPPORTD" --config "$T_TMP/a.conf" -v
wait_until "grep -q 'Connected to the database' $(t_log a)" 20 || t_fail "a: connected" "$(cat "$(t_log a)")"
sed -i 's/connections = 1;/connections = 6;/' "$T_TMP/a.conf"
kill -HUP "${_T_PIDS[a]}"
wait_until "grep -q 'Configuration reloaded' $(t_log a)" 10 || t_fail "a: reloaded" "$(cat "$(t_log a)")"

psql -XAtq -v ON_ERROR_STOP=1 -c "
  INSERT INTO rapport.outbox (job, channel, audience, rep_id, recipient, recipient_name, template, locale, time_zone,
                              context, dedupe_key, not_before, next_attempt_at)
  SELECT 'fault', 'email', 'rep', 1, 'conn-' || i || '@example.com', 'R ' || i, 'birthday', 'en', 'UTC',
         jsonb_build_object('customer', jsonb_build_object('name', 'R ' || i)), 'conn:' || i, now(), now()
  FROM generate_series(1, $N) AS i"
# A second instance, configured alike from the start, shares the queue.
cp "$T_TMP/a.conf" "$T_TMP/b.conf"
t_spawn b "$RAPPORTD" --config "$T_TMP/b.conf" -v

wait_until "[[ \$(psql_val \"SELECT count(*) FROM rapport.outbox WHERE state = 'sent'\") == $N ]]" 120 ||
    t_fail "all sent" "$(psql_val "SELECT state, count(*) FROM rapport.outbox GROUP BY 1")"
# A second copy would be a transfer still waiting in the pool's queue after
# its row was reclaimed and sent.  t_stop waits for each daemon to exit,
# and a daemon exits only once its transfers have ended: after both, no
# copy can still arrive.
t_stop a; t_stop b
total=$(mail_count)
distinct=$(find "$SMTP_MAILDIR/new" -type f -print0 | xargs -0 grep -h -m1 '^X-Envelope-To:' | sort -u | wc -l)
echo "delivered $total mails for $distinct distinct recipients of $N"
assert_eq "$N" "$distinct" "every message delivered"
assert_eq "$N" "$total" "no message delivered twice after a reload raised email.connections"
assert_eq 0 "$(psql_val "SELECT count(*) FROM rapport.outbox_events WHERE event = 'expired'")" "no lease expired while its message waited for a connection"

# A SIGHUP while the daemon is still loading its configuration is served
# as a reload once the loop runs; it does not end the daemon.  The load is
# held open deterministically: database.password_file is a FIFO, and
# reading it waits until this script writes the password.
mkfifo "$T_TMP/pw.fifo"
sed "s|^database: {|database: { password_file = \"$T_TMP/pw.fifo\";|" "$T_TMP/a.conf" >"$T_TMP/h.conf"
t_spawn h "$RAPPORTD" --config "$T_TMP/h.conf" -v
pid_h=${_T_PIDS[h]}
hup_blocked() { local m; m=$(awk '/^SigBlk:/ {print $2}' "/proc/$pid_h/status" 2>/dev/null) && ((0x${m:-0} & 1)); }
wait_until hup_blocked 10 || t_fail "SIGHUP blocked before the configuration is read" "$(grep Sig "/proc/$pid_h/status" 2>/dev/null)"
kill -HUP "$pid_h"
# The password, for as many reads as the start and the reload make (a
# reader that closes before the writer is done must not kill the loop).
t_spawn pw bash -c 'trap "" PIPE; while :; do printf "x\n" >"$1" 2>/dev/null; done' pw "$T_TMP/pw.fifo"
wait_until "grep -q 'Configuration reloaded' $(t_log h)" 20 || t_fail "early SIGHUP: reloaded" "$(cat "$(t_log h)")"
assert_eq 0 "$(kill -0 "$pid_h" 2>/dev/null; echo $?)" "a SIGHUP during start-up is a reload, not the end of the daemon"
t_stop h
t_stop pw

# Started without e-mail (no email.smtp_url), then a reload that sets it:
# the first e-mail claimed afterwards must go out, not crash the daemon.
sms_start
sms_conf() {
    cat >"$T_TMP/c.conf" <<CONF
time_zone = "UTC";
locale = "en";
database: { conninfo = "$PG_CONNINFO"; };
templates: { dir = "$T_ROOT/templates"; };
$1
sms: { gateway_url = "$SMS_URL"; format = "json"; from = "+15550000000"; quiet_hours = ""; };
jobs: { birthdays: { schedule = "0 * * * *"; channels = [ $2 ]; effective_from = "2020-01-01"; }; };
CONF
}
sms_conf "" '"sms"'
t_spawn c "$RAPPORTD" --config "$T_TMP/c.conf"
wait_until "grep -q 'Connected to the database' $(t_log c)" 20 || t_fail "c: connected" "$(cat "$(t_log c)")"
sms_conf "email: { smtp_url = \"smtp://127.0.0.1:$SMTP_PORT\"; from = \"care@example.com\"; tls = \"none\"; };" '"email", "sms"'
kill -HUP "${_T_PIDS[c]}"
wait_until "grep -q 'Configuration reloaded' $(t_log c)" 10 || t_fail "c: reloaded" "$(cat "$(t_log c)")"
before=$(mail_count)
psql -XAtq -v ON_ERROR_STOP=1 -c "
  INSERT INTO rapport.outbox (job, channel, audience, rep_id, recipient, recipient_name, template, locale, time_zone,
                              context, dedupe_key, not_before, next_attempt_at)
  VALUES ('fault', 'email', 'rep', 1, 'late-smtp@example.com', 'L', 'birthday', 'en', 'UTC',
          '{\"customer\": {\"name\": \"L\"}}', 'late-smtp:1', now(), now());
  NOTIFY rapport_outbox"
wait_until "[[ \$(psql_val \"SELECT state FROM rapport.outbox WHERE dedupe_key = 'late-smtp:1'\") == sent ]]" 20 ||
    t_fail "e-mail configured by a reload is sent" "$(psql_val "SELECT state, last_error FROM rapport.outbox WHERE dedupe_key = 'late-smtp:1'"); $(tail -3 "$(t_log c)")"
t_stop c
assert_eq 0 "$T_STOP_RC" "reload that adds email.smtp_url: still running, clean stop"
assert_eq $((before + 1)) "$(mail_count)" "reload that adds email.smtp_url: the e-mail delivered once"

# A reload to email.tls = "required": the session opened in clear text
# under tls = "none" must not carry the next message.  The sink offers
# STARTTLS with a certificate from a private CA, named in email.ca_file.
pki=$T_TMP/pki
mkdir -p "$pki"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Rapport Test CA" \
    -keyout "$pki/ca.key" -out "$pki/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$pki/srv.key" -out "$pki/srv.csr" 2>/dev/null
openssl x509 -req -in "$pki/srv.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
    -extfile <(printf 'subjectAltName=IP:127.0.0.1\n') -out "$pki/srv.pem" 2>/dev/null
smtp_restart --tls-cert "$pki/srv.pem" --tls-key "$pki/srv.key"
sms_conf "email: { smtp_url = \"smtp://127.0.0.1:$SMTP_PORT\"; from = \"care@example.com\"; tls = \"none\"; connections = 1; };" '"email"'
t_spawn t "$RAPPORTD" --config "$T_TMP/c.conf"
wait_until "grep -q 'Connected to the database' $(t_log t)" 20 || t_fail "t: connected" "$(cat "$(t_log t)")"
tls_send() { # tls_send KEY — queue one e-mail, wait until it is sent
    psql -XAtq -v ON_ERROR_STOP=1 -c "
      INSERT INTO rapport.outbox (job, channel, audience, rep_id, recipient, recipient_name, template, locale, time_zone,
                                  context, dedupe_key, not_before, next_attempt_at)
      VALUES ('fault', 'email', 'rep', 1, '$1@example.com', 'T', 'birthday', 'en', 'UTC',
              '{\"customer\": {\"name\": \"T\"}}', '$1', now(), now());
      NOTIFY rapport_outbox"
    wait_until "[[ \$(psql_val \"SELECT state FROM rapport.outbox WHERE dedupe_key = '$1'\") == sent ]]" 20 ||
        t_fail "$1 sent" "$(psql_val "SELECT state, last_error FROM rapport.outbox WHERE dedupe_key = '$1'")"
}
over_tls() { jq -rs --arg r "$1@example.com" '[.[] | select(.event == "data" and .rcpt_to == [$r])][0].tls' "$SMTP_EVENTS"; }
tls_send clear-before
sms_conf "email: { smtp_url = \"smtp://127.0.0.1:$SMTP_PORT\"; from = \"care@example.com\"; tls = \"required\"; ca_file = \"$pki/ca.pem\"; connections = 1; };" '"email"'
kill -HUP "${_T_PIDS[t]}"
wait_until "grep -q 'Configuration reloaded' $(t_log t)" 10 || t_fail "t: reloaded" "$(cat "$(t_log t)")"
tls_send tls-after
t_stop t
assert_eq "false:true" "$(over_tls clear-before):$(over_tls tls-after)" \
    "reload to tls = required: the next message goes over a new TLS session, not the one opened in clear text"

t_summary
