#!/usr/bin/env bash
# Birthdays by e-mail, end to end: plan -> claim -> render -> MIME -> SMTP,
# read back from a real SMTP server and parsed by Python's email package.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
smtp_start
CONF=$T_TMP/rapport.conf
rapport_config "$CONF"
assert_exit 0 "migrate" -- "$RAPPORTCTL" --config "$CONF" migrate

psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, phone, time_zone, locale, digest_hour, manager_id, active) VALUES
 (1, '王经理', 'wang.manager@example.cn', '+8613800000001', 'Asia/Shanghai', 'zh-CN', 8, NULL, true),
 (2, 'Alice Smith', 'alice@example.com', '+12125550100', 'America/New_York', 'en', 8, 1, true),
 (3, 'Gone Rep', 'gone@example.com', NULL, 'UTC', 'en', 8, 1, false);
INSERT INTO crm.customers (id, name, tier, email, phone, birthday, time_zone, locale, rep_id, consent_email, consent_sms, active) VALUES
 (1, '张伟', 'A', 'zhang.wei@example.cn', '+8613900000001', '1980-11-23', 'Asia/Shanghai', 'zh-CN', 1, true, true, true),
 (2, 'John Doe', 'B', 'john.doe@example.com', NULL, '1975-11-23', 'Europe/Berlin', 'en', 2, true, false, true),
 (3, 'No Consent', 'C', 'noconsent@example.com', NULL, '1990-11-23', 'UTC', 'en', 2, false, false, true),
 (4, 'Injected', 'C', E'evil@example.com\r\nBcc: victim@example.com', NULL, '1990-11-23', 'UTC', 'en', 2, true, false, true),
 (5, 'No At', 'C', 'no-at-sign.example.com', NULL, '1990-11-23', 'UTC', 'en', 2, true, false, true),
 (6, 'Martian', 'C', 'martian@example.com', NULL, '1990-11-23', 'Mars/Olympus', 'en', 2, true, false, true),
 (7, 'No Birthday', 'C', 'nobday@example.com', NULL, NULL, 'UTC', 'en', 2, true, false, true),
 (8, 'Leap Day', 'B', 'leap@example.com', NULL, '1988-02-29', 'UTC', 'en', 2, true, false, true),
 (9, 'Early Bird', 'C', 'early@example.com', NULL, '1970-11-23', 'America/New_York', 'en', 2, true, false, true),
 (10, 'Inactive', 'C', 'inactive@example.com', NULL, '1970-11-23', 'UTC', 'en', 2, true, false, false),
 (11, E'Evil\r\nBcc: victim@example.com', 'C', 'evilname@example.com', NULL, '1985-11-23', 'UTC', NULL, 3, true, false, true),
 (12, 'Suppressed', 'C', 'Suppressed@Example.com', NULL, '1985-11-23', 'UTC', 'en', 2, true, false, true);
INSERT INTO rapport.suppression (address, channel, reason) VALUES ('suppressed@example.com', 'email', 'test');
SQL

# 12:00 UTC: Shanghai 20:00, Berlin 13:00, UTC 12:00 are past 09:00 local; New York is at 07:00.
assert_exit 0 "rapportd --once sends what is due" -- "$RAPPORTD" --config "$CONF" --once --now 2026-11-23T12:00:00Z
wait_for_mail 3 10 || true
assert_eq 3 "$(mail_count)" "three greetings delivered"

mails=$(mail_json)
check() { /usr/bin/python3 -c "import json,sys; m=json.loads(sys.argv[1]); $2" "$mails"; }
assert_eq "生日快乐，张伟！" "$(check '' 'print(next(x["subject"] for x in m if "zhang.wei@example.cn" in x["envelope_to"]))')" "Chinese subject decoded"
assert_eq "Happy birthday, John Doe!" "$(check '' 'print(next(x["subject"] for x in m if "john.doe@example.com" in x["envelope_to"]))')" "English subject"
assert_contains "$(check '' 'print(next(x["text"] for x in m if "zhang.wei@example.cn" in x["envelope_to"]))')" "张伟，您好" "Chinese body"
assert_contains "$(check '' 'print(next(x["html"] or "" for x in m if "zhang.wei@example.cn" in x["envelope_to"]))')" "<table" "HTML part"
# --now covers sending too: the Date header is the run's instant.
assert_eq "Mon, 23 Nov 2026 12:00:00 +0000" \
    "$(check '' 'print(next(v for x in m if "zhang.wei@example.cn" in x["envelope_to"] for k, v in x["headers"] if k == "Date"))')" \
    "Date header: the --now instant"
assert_contains "$(check '' 'print(next(x["from"] for x in m))')" "care@example.com" "From header"
assert_contains "$(check '' 'print(next((x["list_unsubscribe"] or "") for x in m))')" "https://example.com/unsubscribe" "List-Unsubscribe on greetings"
assert_eq "0" "$(check '' 'print(sum(1 for x in m for h in x["header_names"] if h.lower() in ("bcc","x-evil")))')" "no injected header in any message"
assert_eq "1" "$(check '' 'print(next(sum(1 for h in x["header_names"] if h.lower()=="subject") for x in m if "evilname@example.com" in x["envelope_to"]))')" "CRLF in a name: exactly one Subject"
assert_eq "" "$(check '' 'print(",".join(t for x in m for t in x["envelope_to"] if t not in ("zhang.wei@example.cn","john.doe@example.com","evilname@example.com")))')" "nobody else received mail"

assert_eq "queued" "$(psql_val "SELECT state FROM rapport.outbox WHERE customer_id = 9")" "New York greeting waits for 09:00 local"
assert_eq "2026-11-23 14:00:00+00" "$(psql_val "SELECT not_before FROM rapport.outbox WHERE customer_id = 9")" "not_before is 09:00 in the customer's zone"
assert_eq "invalid e-mail address:2,unknown time zone:1" \
  "$(psql_val "SELECT string_agg(reason || ':' || n, ',' ORDER BY reason) FROM (SELECT reason, count(*) n FROM rapport.skipped GROUP BY 1) x")" \
  "bad rows skipped with reasons"
# The run's own record counts everyone due it passed over, and why: the
# bad rows, and the greetings that could go nowhere (no consent, a
# suppressed address); only bad rows are listed as data to fix.
assert_eq '5|{"no e-mail consent": 1, "unknown time zone": 1, "address suppressed": 1, "invalid e-mail address": 2}' \
  "$(psql_val "SELECT skipped || '|' || skip_reasons FROM rapport.job_runs WHERE job = 'birthdays' AND status = 'ok' ORDER BY id LIMIT 1")" \
  "the run records what it skipped and why: bad data, no consent, suppressed"
assert_eq "0" "$(psql_val "SELECT count(*) FROM rapport.outbox WHERE customer_id IN (3,4,5,6,7,8,10,12)")" "no consent / bad / inactive / suppressed: nothing planned"
assert_eq "3" "$(psql_val "SELECT count(*) FROM rapport.outbox WHERE state = 'sent' AND provider_id LIKE '<%>' AND rendered LIKE 'Subject:%'")" "sent rows keep provider id and rendered text"

# Running again sends nothing new.
assert_exit 0 "second run" -- "$RAPPORTD" --config "$CONF" --once --now 2026-11-23T12:00:00Z
assert_eq 3 "$(mail_count)" "second run delivers nothing"
assert_exit 0 "later run in the same hour" -- "$RAPPORTD" --config "$CONF" --once --now 2026-11-23T12:40:00Z
assert_eq 3 "$(mail_count)" "re-planning is harmless"

# 15:00 UTC: New York is at 10:00, its greeting goes out.
assert_exit 0 "afternoon run" -- "$RAPPORTD" --config "$CONF" --once --now 2026-11-23T15:00:00Z
wait_for_mail 4 10 || true
assert_eq 4 "$(mail_count)" "New York greeting delivered at its local morning"
assert_eq "sent" "$(psql_val "SELECT state FROM rapport.outbox WHERE customer_id = 9")" "and recorded sent"

# Feb 29 in a common year: greeted on Feb 28 (default policy).
assert_exit 0 "feb 28 run" -- "$RAPPORTD" --config "$CONF" --once --now 2027-02-28T12:00:00Z
wait_for_mail 5 10 || true
assert_eq 5 "$(mail_count)" "Feb 29 birthday greeted on Feb 28 in 2027"
assert_eq "birthday:email:8:2027" "$(psql_val "SELECT dedupe_key FROM rapport.outbox WHERE customer_id = 8")" "dedupe key per year"
assert_exit 0 "mar 1 run" -- "$RAPPORTD" --config "$CONF" --once --now 2027-03-01T12:00:00Z
assert_eq 5 "$(mail_count)" "not greeted again on Mar 1"

# The other feb29 policies, in a common year not yet greeted (2031), and a
# leap year: dry runs show who would be greeted that day.  The digest of the
# customer's rep lists the birthday on the day the policy greets it.
bd_to() { # bd_to CONF NOW -> recipients the birthdays job would greet
    "$RAPPORTCTL" --config "$1" run birthdays --dry-run --now "$2" 2>&1 | sed -n 's/^=== email to .*<\(.*\)>.*/\1/p' | sort | tr '\n' ' '
}
for policy in mar1 skip; do
    rapport_config "$T_TMP/feb29-$policy.conf" "birthdays: { send_at = \"09:00\"; channels = [ \"email\" ]; feb29 = \"$policy\"; effective_from = \"2020-01-01\"; };
      digest: { effective_from = \"2020-01-01\"; send_empty = true; };"
done
assert_not_contains "$(bd_to "$T_TMP/feb29-mar1.conf" 2031-02-28T12:00:00Z)" "le***@example.com" "feb29 = mar1: not greeted on Feb 28 in a common year"
assert_contains "$(bd_to "$T_TMP/feb29-mar1.conf" 2031-03-01T12:00:00Z)" "le***@example.com" "feb29 = mar1: greeted on Mar 1"
assert_not_contains "$(bd_to "$T_TMP/feb29-skip.conf" 2031-02-28T12:00:00Z)$(bd_to "$T_TMP/feb29-skip.conf" 2031-03-01T12:00:00Z)" \
    "le***@example.com" "feb29 = skip: not greeted at all in a common year"
assert_contains "$(bd_to "$T_TMP/feb29-skip.conf" 2032-02-29T12:00:00Z)" "le***@example.com" "feb29 = skip: greeted on Feb 29 in a leap year"
assert_not_contains "$(bd_to "$CONF" 2028-02-28T12:00:00Z)" "le***@example.com" "leap year: not greeted on Feb 28 (default policy)"
assert_contains "$(bd_to "$CONF" 2028-02-29T12:00:00Z)" "le***@example.com" "leap year: greeted on Feb 29"
# Alice (New York, 08:00) gets her digest at 13:00Z; Leap Day is hers.
out=$("$RAPPORTCTL" --config "$T_TMP/feb29-mar1.conf" preview digest --rep 2 --now 2031-02-27T13:30:00Z 2>&1)
assert_contains "$out" "Leap Day [B]: 2031-03-01, in 2 days" "digest follows feb29 = mar1: the birthday is on Mar 1"
out=$("$RAPPORTCTL" --config "$T_TMP/feb29-skip.conf" preview digest --rep 2 --now 2031-02-27T13:30:00Z 2>&1)
assert_not_contains "$out" "Leap Day [B]: 2031-" "digest follows feb29 = skip: no birthday in a common year"

# A run whose --now is earlier than every occurrence recorded (a test
# taking dates out of order) runs what is due on its own clock: the
# occurrences after it do not hide it.  (One recorded already, even as
# missed, stays settled: exactly once.)
psql_val "INSERT INTO crm.customers (id, name, tier, email, birthday, time_zone, locale, rep_id, consent_email, active)
          VALUES (13, 'June Bug', 'C', 'june@example.com', '1990-06-15', 'UTC', 'en', 2, true, true),
                 (14, 'June Typo', 'C', 'june-at-example.com', '1990-06-15', 'UTC', 'en', 2, true, true)" >/dev/null
before=$(mail_count)
assert_exit 0 "run at an instant before the recorded occurrences" -- "$RAPPORTD" --config "$CONF" --once --now 2026-06-15T12:00:00Z
assert_contains "$T_OUT" "Ran occurrence 2026-06-15T12:00:00" "out of order: the occurrence due at --now runs"
wait_for_mail $((before + 1)) 10 || true
assert_eq "1:sent" "$(($(mail_count) - before)):$(psql_val "SELECT state FROM rapport.outbox WHERE customer_id = 13")" "out of order: the greeting due then is sent"
# That run's records are kept, though its dates are months behind the real
# clock (past outbox.retention_days = 90): retention judges only what the
# database stamped, when --now is given.
assert_eq "invalid e-mail address" "$(psql_val "SELECT reason FROM rapport.skipped WHERE customer_id = 14")" "a run pinned months back keeps its skip record"
assert_eq "ok" "$(psql_val "SELECT status FROM rapport.job_runs WHERE job = 'birthdays' AND scheduled_for = '2026-06-15T12:00:00Z'")" "a run pinned months back keeps its run record"
assert_eq "ok" "$(psql_val "SELECT string_agg(DISTINCT status, ',') FROM rapport.job_runs WHERE job = 'birthdays' AND status <> 'skipped'")" "job runs recorded ok"
t_summary
