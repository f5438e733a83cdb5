#!/usr/bin/env bash
# outbox.retention_days: finished messages (sent, failed, cancelled) older
# than that are deleted in small batches, their audit text with them, by
# `rapportd --once` as well as by the service; queued and younger ones stay;
# the record of skipped CRM rows and old job runs are trimmed too.  A
# message's age counts from when it was planned.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
OUTBOX_EXTRA='retention_days = 30;' rapport_config "$T_TMP/c.conf" 'birthdays: { enabled = false; };'
"$RAPPORTCTL" --config "$T_TMP/c.conf" migrate >/dev/null

# add STATE N AGE-SQL KEY-PREFIX [COLUMN] — N finished messages whose COLUMN
# (created_at unless given) lies AGE in the past; the rest as the database
# sets them.
add() {
    local col=${5:-created_at}
    psql -XAtq -v ON_ERROR_STOP=1 <<SQL
INSERT INTO rapport.outbox (job, channel, audience, recipient, template, locale, time_zone, context, dedupe_key,
                            not_before, next_attempt_at, state, rendered, $col)
SELECT 'birthdays', 'email', 'customer', 'r' || g || '@example.com', 'birthday', 'en', 'UTC', '{}',
       '$4:' || g, now() + interval '1 day', now() + interval '1 day', '$1',
       CASE WHEN '$1' = 'sent' THEN 'the text as sent' END, now() - interval '$3'
FROM generate_series(1, $2) g;
SQL
}
add sent 2500 '100 days' old-sent
add failed 5 '40 days' old-failed
add cancelled 5 '31 days' old-cancelled
add sent 5 '100 days' old-sent-at sent_at
add sent 5 '29 days' young-sent
add cancelled 5 '10 days' young-cancelled
add queued 5 '100 days' old-queued
psql_val "INSERT INTO rapport.skipped (job, customer_id, reason, day) VALUES
          ('birthdays', 1, 'invalid e-mail address', current_date - 40),
          ('birthdays', 2, 'invalid e-mail address', current_date - 5)" >/dev/null

assert_exit 0 "rapportd --once" -- "$RAPPORTD" --config "$T_TMP/c.conf" --once
assert_contains "$T_OUT" "Pruned 2515 message(s) older than 30 days" "--once prunes, in batches of 1,000, and says how many"
assert_eq "old-queued|5,young-cancelled|5,young-sent|5" \
    "$(psql_val "SELECT string_agg(k || '|' || n, ',' ORDER BY k) FROM (SELECT split_part(dedupe_key, ':', 1) AS k, count(*) AS n
                 FROM rapport.outbox GROUP BY 1) x")" \
    "finished messages older than 30 days are gone (by creation or sending time); younger and queued ones stay"
assert_eq "2" "$(psql_val "SELECT customer_id FROM rapport.skipped")" "skip records older than 30 days are trimmed too"
assert_exit 0 "rapportd --once again" -- "$RAPPORTD" --config "$T_TMP/c.conf" --once
assert_not_contains "$T_OUT" "Pruned" "nothing left to prune: nothing said"

t_summary
