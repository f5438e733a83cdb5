#!/usr/bin/env bash
# Hostile CRM rows: CR/LF, NUL-free binary junk, a 1 MB name, invalid UTF-8,
# emoji, right-to-left text, bogus time zones, addresses and dates.  Each
# row gives a clean skip (with its reason) or a safe message, and each
# message read back by Python's email parser has exactly the headers rapport
# writes, nothing more.  Invalid UTF-8 cannot be stored in a UTF8 database,
# so this CRM lives in a SQL_ASCII one, as some old CRMs do.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

pg_start
"$PG_BINDIR/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres -E SQL_ASCII -T template0 --locale=C hostile ||
    t_fail "createdb SQL_ASCII" "failed"
export PGDATABASE=hostile
PG_CONNINFO="host=127.0.0.1 port=$PGPORT user=postgres dbname=hostile"
psql -XAtq -v ON_ERROR_STOP=1 -f "$T_ROOT/etc/crm.sql" >/dev/null
smtp_start
CONF=$T_TMP/rapport.conf
rapport_config "$CONF" 'birthdays: { schedule = "0 * * * *"; send_at = "09:00"; channels = [ "email" ]; max_lateness = "1d"; effective_from = "2020-01-01"; };'
assert_exit 0 "migrate (SQL_ASCII database)" -- "$RAPPORTCTL" --config "$CONF" migrate

# 100 customers' worth of odd rows; all have their birthday on 2026-11-23.
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES
 (1, E'Rep\r\nX-Rep: injected', 'rep@example.com', 'UTC', 'en', 8, true),
 (2, 'No Mail Rep', NULL, 'UTC', 'en', 8, true),
 (3, 'Posix Zone Rep', 'rep3@example.com', 'UTC+3', 'en', 8, true);
INSERT INTO crm.customers (id, name, tier, email, birthday, time_zone, locale, rep_id, consent_email, active) VALUES
 (1, E'Line\r\nBcc: victim@example.com', 'A', 'crlf@example.com', '1980-11-23', 'UTC', 'en', 1, true, true),
 (2, E'Bare\nLF: header\rCR', 'A', 'lf@example.com', '1980-11-23', 'UTC', 'en', 1, true, true),
 (3, E'Junk \x01\x02\x03\x07\x08\x0b\x0c\x1b[31m\x7f end', 'B', 'junk@example.com', '1980-11-23', 'UTC', 'en', 1, true, true),
 (4, repeat('Long', 262144), 'B', 'long@example.com', '1980-11-23', 'UTC', 'en', 1, true, true),
 (5, E'Bad \xff\xfe\xc3\x28 UTF-8 \xe2\x82', 'B', 'badutf8@example.com', '1980-11-23', 'UTC', 'en', 1, true, true),
 (6, E'Emoji \xf0\x9f\x8e\x82\xf0\x9f\x98\x80 Cake', 'C', 'emoji@example.com', '1980-11-23', 'UTC', 'en', 1, true, true),
 (7, E'\xd9\x85\xd8\xb1\xd9\x8a\xd9\x85 \xe2\x80\xae RTL', 'C', 'rtl@example.com', '1980-11-23', 'UTC', 'en', 1, true, true),
 (8, 'Bogus Zone', 'C', 'zone@example.com', '1980-11-23', '../../etc/passwd', 'en', 1, true, true),
 (9, 'Empty Zone', 'C', 'zone2@example.com', '1980-11-23', '', 'en', 1, true, true),
 (10, 'Bad Locale', 'C', 'locale@example.com', '1980-11-23', 'UTC', E'en\r\nX-Locale: 1', 1, true, true),
 (11, 'Bad Address', 'C', E'bad\xff@example.com', '1980-11-23', 'UTC', 'en', 1, true, true),
 (12, 'Two Addresses', 'C', 'a@example.com, b@example.com', '1980-11-23', 'UTC', 'en', 1, true, true),
 (13, 'Ancient', 'C', 'ancient@example.com', '0001-11-23', 'UTC', 'en', 1, true, true),
 (14, 'Future', 'C', 'future@example.com', '2990-11-23', 'UTC', 'en', 1, true, true),
 (15, 'Phone Junk', 'C', 'phonejunk@example.com', '1980-11-23', 'UTC', 'en', 1, true, true),
 (16, '', 'C', 'noname@example.com', '1980-11-23', 'UTC', 'en', 1, true, true),
 (17, '{{customer.email}} {{> x}} {{=<% %>=}}', 'C', 'mustache@example.com', '1980-11-23', 'UTC', 'en', 1, true, true),
 (18, 'Posix Locale', 'C', 'posix@example.com', '1980-11-23', 'UTC', 'zh_CN.UTF-8', 1, true, true);
SQL

# The administrator's preview shows the same rows on lines CRM text cannot
# break: each message's summary line stays one line.
"$RAPPORTCTL" --config "$CONF" preview birthdays --customer 1 --now 2026-11-23T12:00:00Z >"$T_TMP/preview.out" 2>&1
assert_contains "$(grep '^=== ' "$T_TMP/preview.out")" "=== email to Line  Bcc: victim@example.com <cr***@example.com>" \
    "preview: a CR/LF in the name stays on the summary line"
assert_eq "1" "$(grep -c '^=== ' "$T_TMP/preview.out")" "preview: one summary line for the one message"
assert_exit 0 "rapportd --once over hostile rows" -- "$RAPPORTD" --config "$CONF" --once --now 2026-11-23T12:00:00Z
out=$T_OUT
planned=$(psql_val "SELECT count(*) FROM rapport.outbox")
sent=$(psql_val "SELECT count(*) FROM rapport.outbox WHERE state = 'sent'")
skipped=$(psql_val "SELECT count(*) FROM rapport.skipped")
echo "hostile: planned=$planned sent=$sent skipped=$skipped"
assert_eq 18 "$((planned + skipped))" "every row is either planned or skipped with a reason"
assert_eq "$planned" "$sent" "every planned message is sent (none failed, none stuck)"
assert_eq "$sent" "$(mail_count)" "the SMTP server received each sent message"
assert_eq 0 "$(psql_val "SELECT count(*) FROM rapport.skipped WHERE coalesce(reason, '') = ''")" "each skip has a reason"

# What is skipped, and why.
skip_reason() { psql_val "SELECT reason FROM rapport.skipped WHERE customer_id = $1"; }
assert_eq "unknown time zone" "$(skip_reason 8)" "a path as time zone: skipped"
assert_contains "$(skip_reason 11)$(skip_reason 12)" "invalid e-mail address" "malformed addresses: skipped"

# What the administrator reads back about those rows: a CR/LF in a name
# (or a locale) does not break show's "name value" lines or queue's table.
id1=$(psql_val "SELECT id FROM rapport.outbox WHERE customer_id = 1")
assert_contains "$("$RAPPORTCTL" --config "$CONF" show "$id1" | grep '^recipient_name ')" "Line  Bcc: victim@example.com" \
    "show: a CR/LF in the name stays on the recipient_name line"
assert_eq "" "$("$RAPPORTCTL" --config "$CONF" show "$id1" | sed -n '1,/^$/p' | grep -v '^$' | grep -v '^[a-z_]* ')" \
    "show: every line before the history is a field"
assert_eq "$((planned + 1))" "$("$RAPPORTCTL" --config "$CONF" queue --limit 100 | wc -l)" "queue: one line per message, CR/LF in CRM data or not"

# Reps are CRM rows too: a rep without an e-mail address is skipped as
# having none (not as having a bad one, which sends the administrator
# looking for a typo), a POSIX-style zone such as UTC+3 as unknown.
rapport_config "$T_TMP/digest.conf" 'digest: { schedule = "*/15 * * * *"; effective_from = "2020-01-01"; };'
"$RAPPORTCTL" --config "$T_TMP/digest.conf" run digest --dry-run --now 2026-11-23T12:00:00Z >"$T_TMP/digest.out" 2>&1
assert_contains "$(cat "$T_TMP/digest.out")" '"rep has no e-mail address": 1' "digest: a rep with a NULL e-mail is skipped as having none"
assert_contains "$(cat "$T_TMP/digest.out")" '"rep has an unknown time zone": 1' "digest: a rep in zone UTC+3 is skipped as in an unknown zone"

[[ -z ${HOSTILE_KEEP:-} ]] || { rm -rf "$HOSTILE_KEEP"; cp -r "$SMTP_MAILDIR" "$HOSTILE_KEEP"; }
mail_json >"$T_TMP/mails.json" # megabytes: too big for an argument
py() { /usr/bin/python3 -c "import json,sys; m=json.load(open(sys.argv[1])); $1" "$T_TMP/mails.json"; }
# Exactly the headers rapport writes for a marketing e-mail, in every message.
expected='From,To,Subject,Date,Message-ID,X-Rapport-Id,List-Unsubscribe,List-Unsubscribe-Post,MIME-Version,Content-Type'
assert_eq "$expected" "$(py 'print(sorted(set(",".join(x["header_names"]) for x in m), key=len)[0] if m else "")')" "header set of the messages"
assert_eq 1 "$(py 'print(len(set(",".join(x["header_names"]) for x in m)))')" "every message has that same header set"
assert_eq "" "$(py 'print(";".join(str(x["envelope_to"]) + ":" + ",".join(x["defects"]) for x in m if x["defects"]))')" "no parser defects"
assert_eq 0 "$(py 'print(sum(1 for x in m if len(x["envelope_to"]) != 1))')" "each message has exactly one envelope recipient"
assert_eq 0 "$(py 'print(sum(1 for x in m for l in x["raw"].split("\r\n") if len(l) > 998))')" "no line longer than 998 octets"
assert_eq 0 "$(py 'print(sum(1 for x in m if any(b > 127 for b in x["raw"].encode("utf-8", "surrogateescape"))))')" "every message is 7-bit on the wire"
to_of() { py "print(next((x[\"$2\"] or \"\") for x in m if \"$1\" in x[\"envelope_to\"]))"; }
assert_contains "$(to_of crlf@example.com subject)" "Bcc: victim@example.com" "CR/LF in a name stays inside the Subject text"
assert_contains "$(to_of emoji@example.com subject)" "🎂😀" "emoji survive in the subject"
assert_contains "$(to_of rtl@example.com text)" "مريم" "right-to-left text survives in the body"
assert_contains "$(to_of badutf8@example.com subject)" "UTF-8" "invalid UTF-8: the message still goes"
assert_eq 0 "$(to_of badutf8@example.com text | grep -c $'\xff')" "invalid UTF-8 bytes do not reach the mail"
assert_contains "$(to_of mustache@example.com text)" "{{customer.email}}" "Mustache in data is text, not template"
assert_contains "$(to_of posix@example.com subject)" "生日快乐" "a POSIX locale (zh_CN.UTF-8) gets the zh-CN template, not the default's"
assert_contains "$(to_of badutf8@example.com subject)" "�" "invalid UTF-8 becomes U+FFFD"
assert_contains "$(to_of long@example.com subject)" "…" "a 1 MB name: the subject is shortened, with an ellipsis"
assert_eq 251 "$(py 'print(next(len(x["subject"]) for x in m if "long@example.com" in x["envelope_to"]))')" "a 1 MB name: subject of 250 characters and the ellipsis"
assert_contains "$out" "rendered subject of" "the shortened subject is logged"
assert_contains "$out" "malformed UTF-8 sequence(s) in the data replaced" "the replaced bytes are logged"
long_len=$(py 'print(next(len(x["text"]) for x in m if "long@example.com" in x["envelope_to"]))' 2>/dev/null || echo 0)
if ((long_len >= 1048576)); then t_pass "a 1 MB name arrives whole in the body ($long_len chars)"; else
    t_fail "1 MB name" "body is $long_len chars (skipped rows: $(skip_reason 4))"; fi
[[ -n ${HOSTILE_VERBOSE:-} ]] && printf '%s\n' "$out" | cut -c1-300
t_summary
