#!/usr/bin/env bash
# A stop while the database is away and its outcomes are held: rapportd
# sent a message, lost the database before it could record it, and is
# told to stop while its reconnect back-off waits.  The server is back by
# then: before exiting, rapportd connects once more and records the
# message sent, rather than leaving it 'sending' for its lease to run out
# and send it again.  Rows it had claimed but not started are given back
# to the queue then too, not left for their leases to run out.  Against
# real PostgreSQL and a real (slow) SMTP server, read back from the
# Maildir.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
smtp_start --delay 2
psql -XAtq -c "INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES (1, 'Rep', 'rep@example.com', 'UTC', 'en', 8, true)"
CONF=$T_TMP/rapport.conf
LEASE=5m EMAIL_EXTRA='timeout = "10s";' rapport_config "$CONF" 'birthdays: { enabled = false; };'
sed -i 's/connections = 4;/connections = 1;/' "$CONF"
assert_exit 0 "migrate" -- "$RAPPORTCTL" --config "$CONF" migrate

state() { psql_val "SELECT state || ':' || attempts FROM rapport.outbox WHERE dedupe_key = 'stop:1'"; }
lost_db() { grep -c 'Cannot connect to the database' "$(t_log d)"; }

t_spawn d "$RAPPORTD" --config "$CONF" -v
wait_until "grep -q 'Connected to the database' $(t_log d)" 20 || t_fail "daemon connected" "$(cat "$(t_log d)")"
psql -XAtq -v ON_ERROR_STOP=1 -c "
  INSERT INTO rapport.outbox (job, channel, audience, rep_id, recipient, recipient_name, template, locale, time_zone,
                              context, dedupe_key, not_before, next_attempt_at)
  VALUES ('stop', 'email', 'rep', 1, 'held@example.com', 'Held', 'birthday', 'en', 'UTC',
          '{\"customer\": {\"name\": \"Held\"}}', 'stop:1', now(), now()); NOTIFY rapport_outbox"
if wait_until "[[ \$(state) == sending:1 ]]" 10; then
    # The server takes 2 s to accept it; the database goes first.
    pg_stop fast
    wait_for_mail 1 15 || t_fail "accepted by the server while the database is down" "$(mail_count) mail(s)"
    # The reconnect back-off doubles from 0.5 s: after four failed attempts
    # (about 7.5 s) the next one is 8 s away, time enough to restart the
    # server and stop the daemon before it reconnects by itself.
    wait_until "(( \$(lost_db) >= 4 ))" 30 || t_fail "the daemon tried to reconnect" "$(cat "$(t_log d)")"
    pg_restart_server
    t_stop d TERM 30
    assert_eq 0 "$T_STOP_RC" "daemon exits 0"
    assert_eq "sent:1" "$(state)" "the message sent while the database was away is recorded sent at exit"
    assert_contains "$(cat "$(t_log d)")" "Connected to the database again to record what was sent" \
        "the log says why it connected at exit"
    assert_not_contains "$(cat "$(t_log d)")" "outcome lost" "no outcome lost"
    assert_eq 1 "$(mail_count)" "delivered once"
else
    t_fail "message claimed" "state $(state)"
    t_stop d
fi

# ---------------------------------------------------------------- claimed rows waiting
# Four claimed at once on one connection: one goes out (perhaps a second
# behind it), the others wait for the connection when the database goes.
rows() { psql_val "SELECT count(*) FILTER (WHERE state = '$1') FROM rapport.outbox WHERE dedupe_key LIKE 'wait:%'"; }
t_spawn w "$RAPPORTD" --config "$CONF" -v
wait_until "grep -q 'Connected to the database' $(t_log w)" 20 || t_fail "daemon connected again" "$(cat "$(t_log w)")"
mark_mail=$(mail_count)
psql -XAtq -v ON_ERROR_STOP=1 -c "
  INSERT INTO rapport.outbox (job, channel, audience, rep_id, recipient, recipient_name, template, locale, time_zone,
                              context, dedupe_key, not_before, next_attempt_at)
  SELECT 'stop', 'email', 'rep', 1, 'wait' || g || '@example.com', 'Wait', 'birthday', 'en', 'UTC',
         '{\"customer\": {\"name\": \"Wait\"}}', 'wait:' || g, now(), now()
  FROM generate_series(1, 4) g; NOTIFY rapport_outbox"
if wait_until "[[ \$(rows sending) == 4 ]]" 10; then
    pg_stop fast
    wait_for_mail $((mark_mail + 1)) 15 || t_fail "waiting: the first accepted while the database is down" "$(mail_count) mail(s)"
    wait_until "(( \$(grep -c 'Cannot connect to the database' $(t_log w)) >= 4 ))" 30 ||
        t_fail "waiting: the daemon tried to reconnect" "$(cat "$(t_log w)")"
    pg_restart_server
    t_stop w TERM 30
    assert_eq 0 "$T_STOP_RC" "waiting: daemon exits 0"
    sent=$(rows sent)
    assert_eq "0" "$(rows sending)" "waiting: none left 'sending' (log: $(grep -v 'Sent (attempt' "$(t_log w)" | tr '\n' '|'))"
    assert_eq "$((mail_count_now = $(mail_count) - mark_mail))" "$sent" "waiting: what reached the server is recorded sent"
    assert_eq "4" "$((sent + $(rows queued)))" "waiting: the rest are back in the queue"
    assert_eq "$((4 - sent))" "$(psql_val "SELECT count(*) FROM rapport.outbox_events e JOIN rapport.outbox o ON o.id = e.outbox_id
            WHERE o.dedupe_key LIKE 'wait:%' AND e.event = 'released' AND e.detail = 'released at shutdown'")" \
        "waiting: each given back at shutdown, with its reason"
else
    t_fail "waiting: all four claimed" "$(rows sending) sending"
    t_stop w
fi

t_summary
