#!/usr/bin/env bash
# email.quiet_hours: an e-mail due inside the recipient's quiet hours (in the
# recipient's own zone) waits for their end; none are set by default.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"
rapport_db
smtp_start
D=$(date -u -d tomorrow +%F)
EMAIL_EXTRA='quiet_hours = "22:00-07:00";' rapport_config "$T_TMP/q.conf" 'birthdays: { enabled = false; };'
"$RAPPORTCTL" --config "$T_TMP/q.conf" migrate >/dev/null
psql -XAtq -v ON_ERROR_STOP=1 <<SQL
INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES (1, 'R', 'r@example.com', 'Asia/Shanghai', 'en', 8, true);
INSERT INTO rapport.outbox (job, channel, audience, rep_id, recipient, template, locale, time_zone, context, dedupe_key, not_before, next_attempt_at)
VALUES ('q', 'email', 'rep', 1, 'r@example.com', 'birthday', 'en', 'Asia/Shanghai', '{"customer":{"name":"Q"}}', 'q:1',
        '${D}T14:00:00Z', '${D}T14:00:00Z');
SQL
# 15:00Z is 23:00 in Shanghai: inside 22:00-07:00.
assert_exit 0 "run at 23:00 local" -- "$RAPPORTD" --config "$T_TMP/q.conf" --once --now ${D}T15:00:00Z
assert_eq 0 "$(mail_count)" "nothing sent inside quiet hours"
assert_eq "$D 23:00:00+00" "$(psql_val "SELECT next_attempt_at FROM rapport.outbox WHERE dedupe_key = 'q:1'")" "deferred to 07:00 local"
assert_exit 0 "run at 07:30 local" -- "$RAPPORTD" --config "$T_TMP/q.conf" --once --now ${D}T23:30:00Z
wait_for_mail 1 10 || true
assert_eq 1 "$(mail_count)" "sent once quiet hours end"
# Without the setting e-mail has no quiet hours.
rapport_config "$T_TMP/n.conf" 'birthdays: { enabled = false; };'
psql -XAtq -c "INSERT INTO rapport.outbox (job, channel, audience, rep_id, recipient, template, locale, time_zone, context, dedupe_key, not_before, next_attempt_at)
VALUES ('q', 'email', 'rep', 1, 'r@example.com', 'birthday', 'en', 'Asia/Shanghai', '{\"customer\":{\"name\":\"Q\"}}', 'q:2', now(), now())"
assert_exit 0 "run without email quiet hours" -- "$RAPPORTD" --config "$T_TMP/n.conf" --once
wait_for_mail 2 10 || true
assert_eq 2 "$(mail_count)" "e-mail has no quiet hours by default"

# A message whose sender crashed mid-send (lease expired) is due again and
# must wait out quiet hours too, not go straight into a new attempt.
stale=$(psql_val "INSERT INTO rapport.outbox (job, channel, audience, rep_id, recipient, template, locale, time_zone, context,
        dedupe_key, not_before, next_attempt_at, state, attempts, lease_token, lease_until, leased_by)
    VALUES ('q', 'email', 'rep', 1, 'r@example.com', 'birthday', 'en', 'Asia/Shanghai', '{\"customer\":{\"name\":\"Q\"}}',
        'q:3', '${D}T14:00:00Z', '${D}T14:00:00Z', 'sending', 1, gen_random_uuid(), now() - interval '1 minute', 'crashed:1')
    RETURNING lease_token")
assert_exit 0 "run at 23:30 local, a lease expired" -- "$RAPPORTD" --config "$T_TMP/q.conf" --once --now ${D}T15:30:00Z
assert_eq 2 "$(mail_count)" "expired lease inside quiet hours: not sent"
assert_eq "queued:1::$D 23:00:00+00" "$(psql_val "SELECT state || ':' || attempts || ':' || coalesce(lease_token::text, '') || ':' || next_attempt_at FROM rapport.outbox WHERE dedupe_key = 'q:3'")" \
    "expired lease: back in the queue, token cleared, deferred to 07:00 local"
assert_eq "expired" "$(psql_val "SELECT string_agg(event, ',') FROM rapport.outbox_events e JOIN rapport.outbox o ON o.id = e.outbox_id WHERE o.dedupe_key = 'q:3'")" "expired lease: history says so"
assert_eq 0 "$(psql_val "WITH u AS (UPDATE rapport.outbox SET state = 'sent' WHERE dedupe_key = 'q:3' AND lease_token = '$stale' AND state = 'sending' RETURNING 1) SELECT count(*) FROM u")" \
    "expired lease: the crashed worker's token records nothing"
assert_exit 0 "run at 07:30 local" -- "$RAPPORTD" --config "$T_TMP/q.conf" --once --now ${D}T23:30:00Z
wait_for_mail 3 10 || true
assert_eq "3:sent:2" "$(mail_count):$(psql_val "SELECT state || ':' || attempts FROM rapport.outbox WHERE dedupe_key = 'q:3'")" "expired lease: sent once quiet hours end"

# A backlog several claims deep inside quiet hours: each claim looks at its
# own size of due rows, and passes repeat until nothing more is deferred,
# so not one of them goes out before the window ends.
EMAIL_EXTRA='quiet_hours = "22:00-07:00";' OUTBOX_EXTRA='batch = 5;' rapport_config "$T_TMP/b.conf" 'birthdays: { enabled = false; };'
psql -XAtq -c "INSERT INTO rapport.outbox (job, channel, audience, rep_id, recipient, template, locale, time_zone, context, dedupe_key, not_before, next_attempt_at)
SELECT 'q', 'email', 'rep', 1, 'r' || g || '@example.com', 'birthday', 'en', 'Asia/Shanghai', '{\"customer\":{\"name\":\"Q\"}}', 'qb:' || g,
       '${D}T14:00:00Z', '${D}T14:00:00Z'::timestamptz - make_interval(secs => g) FROM generate_series(1, 23) g"
assert_exit 0 "backlog of 23 at 23:00 local, claims of 5" -- "$RAPPORTD" --config "$T_TMP/b.conf" --once --now ${D}T15:00:00Z
assert_eq 3 "$(mail_count)" "backlog inside quiet hours: nothing sent"
assert_eq "23|$D 23:00:00+00" "$(psql_val "SELECT count(*) || '|' || min(next_attempt_at) FROM rapport.outbox WHERE dedupe_key LIKE 'qb:%' AND state = 'queued' AND next_attempt_at = '$D 23:00:00+00'")" \
    "backlog: every one deferred to 07:00 local"
assert_exit 0 "backlog at 07:30 local" -- "$RAPPORTD" --config "$T_TMP/b.conf" --once --now ${D}T23:30:00Z
wait_for_mail 26 10 || true
assert_eq 26 "$(mail_count)" "backlog: all sent once quiet hours end"
# Two instances: the deferral pass looks at the first rows due without
# locking them, and when another instance holds those, the claim goes on to
# rows the pass never saw.  The claim tests quiet hours again on each row it
# takes.  Here a session holds five London rows (15:00 local, due first),
# as another instance's claim would; the Shanghai row behind them is at
# 23:00 local.
EMAIL_EXTRA='quiet_hours = "22:00-07:00";' OUTBOX_EXTRA='batch = 1;' rapport_config "$T_TMP/race.conf" 'birthdays: { enabled = false; };'
psql -XAtq -v ON_ERROR_STOP=1 <<SQL
DELETE FROM rapport.outbox WHERE state = 'queued';
INSERT INTO rapport.outbox (job, channel, audience, rep_id, recipient, template, locale, time_zone, context, dedupe_key, not_before, next_attempt_at)
SELECT 'q', 'email', 'rep', 1, 'london' || g || '@example.com', 'birthday', 'en', 'Europe/London', '{"customer":{"name":"L"}}', 'ql:' || g,
       '${D}T14:00:00Z', '${D}T14:00:00Z'::timestamptz - make_interval(secs => g) FROM generate_series(1, 5) g;
INSERT INTO rapport.outbox (job, channel, audience, rep_id, recipient, template, locale, time_zone, context, dedupe_key, not_before, next_attempt_at)
VALUES ('q', 'email', 'rep', 1, 'shanghai@example.com', 'birthday', 'en', 'Asia/Shanghai', '{"customer":{"name":"S"}}', 'qr:1', '${D}T14:00:00Z', '${D}T14:00:00Z');
SQL
before=$(mail_count)
coproc LOCKER { psql -XAtq 2>&1; }
echo "BEGIN; WITH l AS (SELECT id FROM rapport.outbox WHERE dedupe_key LIKE 'ql:%' FOR UPDATE) SELECT count(*) FROM l;" >&"${LOCKER[1]}"
read -r -t 10 locked <&"${LOCKER[0]}" || locked=
assert_eq 5 "$locked" "another session holds the first rows due"
assert_exit 0 "run at 23:00 Shanghai while the first rows are held" -- timeout 60 "$RAPPORTD" --config "$T_TMP/race.conf" --once --now ${D}T15:00:00Z
assert_eq "queued:$before" "$(psql_val "SELECT state FROM rapport.outbox WHERE dedupe_key = 'qr:1'"):$(mail_count)" \
    "a row the deferral pass did not see is still not sent inside quiet hours"
echo "ROLLBACK;" >&"${LOCKER[1]}"
exec {LOCKER[1]}>&-
wait "$LOCKER_PID" 2>/dev/null || true
assert_exit 0 "the next run, rows free" -- "$RAPPORTD" --config "$T_TMP/race.conf" --once --now ${D}T15:00:00Z
assert_eq "queued:$D 23:00:00+00" "$(psql_val "SELECT state || ':' || next_attempt_at FROM rapport.outbox WHERE dedupe_key = 'qr:1'")" \
    "... and the next pass defers it to 07:00 local"

t_summary
