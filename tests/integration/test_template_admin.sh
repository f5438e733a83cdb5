#!/usr/bin/env bash
# Templates as an administrator edits them, without a developer: files as
# editors save them (a byte-order mark, tabs, CRLF line ends), SMS that
# preview and check must count as the gateway receives them, SMS longer
# than sms.max_segments (which the dispatcher refuses), and a new locale
# written as templates/README.md says -- checked, previewed, sent, and a
# broken edit of it refused by a reload that keeps the old set.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
smtp_start
sms_start
TPL=$T_TMP/tpl
mkdir -p "$TPL"
cp "$T_ROOT"/templates/*.mustache "$TPL/"
CONF=$T_TMP/c.conf
TEMPLATES_DIR=$TPL SMS_QUIET='23:00-06:00' rapport_config "$CONF" \
    'birthdays: { send_at = "09:00"; max_lateness = "1d"; channels = [ "email", "sms" ]; effective_from = "2020-01-01"; };'
assert_exit 0 "migrate" -- "$RAPPORTCTL" --config "$CONF" migrate
# Birthdays on 14 March: 1 English, 2 Chinese, 3 and 4 German (de-DE, de).
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, phone, time_zone, locale) VALUES (1, 'Rick Rep', 'rick@example.com', '+4915100000001', 'UTC', 'en');
INSERT INTO crm.customers (id, name, tier, email, phone, birthday, time_zone, locale, rep_id, consent_email, consent_sms) VALUES
 (1, 'Anna English', 'A', 'anna@example.com', '+4917600000001', '1980-03-14', 'UTC', 'en', 1, false, true),
 (2, '张伟', 'B', NULL, '+8613900000002', '1975-03-14', 'UTC', 'zh-CN', 1, false, true),
 (3, 'Jürgen Müller', 'B', 'juergen@example.com', '+4917600000003', '1970-03-14', 'UTC', 'de-DE', 1, true, true),
 (4, 'Greta Grün', 'C', 'greta@example.com', NULL, '1990-03-14', 'UTC', 'de', 1, true, false);
SQL
NOW=2027-03-14T12:00:00Z
sms_text_for() { sms_json | jq -r --arg p "$1" '[.[] | select(.json.to == $p)] | last | .json.text'; }

# ---------------------------------------------------------------- render: a byte-order mark
# Notepad saves one: an e-mail file rendered part by part must not keep it
# when the same file rendered whole (--escape none), or an SMS file, does not.
printf '{"name":"Anna"}' >"$T_TMP/d.json"
printf '\xef\xbb\xbfSubject: Hi {{name}}\r\n\r\nDear {{name}},\r\n' >"$T_TMP/bom.email.en.mustache"
printf 'Subject: Hi {{name}}\r\n\r\nDear {{name}},\r\n' >"$T_TMP/plain.email.en.mustache"
"$RAPPORTCTL" render --template "$T_TMP/bom.email.en.mustache" --data "$T_TMP/d.json" >"$T_TMP/bom.out"
"$RAPPORTCTL" render --template "$T_TMP/plain.email.en.mustache" --data "$T_TMP/d.json" >"$T_TMP/plain.out"
assert_eq "$(od -An -tx1 <"$T_TMP/plain.out")" "$(od -An -tx1 <"$T_TMP/bom.out")" \
    "render of an e-mail file saved with a byte-order mark: the mark is not in the output"
assert_eq "$(od -An -tx1 <"$T_TMP/plain.out")" \
    "$("$RAPPORTCTL" render --template "$T_TMP/bom.email.en.mustache" --data "$T_TMP/d.json" --escape none | od -An -tx1)" \
    "... the same bytes as the whole file rendered with --escape none"

t_summary
