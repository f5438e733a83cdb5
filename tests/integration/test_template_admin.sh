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

# ---------------------------------------------------------------- e-mail parts left blank
# An editor's "Subject:" with nothing after it, or a file with only the
# HTML part: check warns, with the place, instead of passing silently.
cp "$TPL/birthday.email.en.mustache" "$T_TMP/birthday.email.en.saved"
printf 'Subject: \r\n\r\n--- html ---\r\n<p>Happy birthday, {{customer.name}}!</p>\r\n' >"$TPL/birthday.email.en.mustache"
printf 'Subject: Hi {{name}}\n' >"$TPL/other.email.en.mustache"
assert_exit 0 "check with blank e-mail parts (warnings only)" -- "$RAPPORTCTL" --config "$CONF" check --now "$NOW"
assert_contains "$T_OUT" "warning: $TPL/birthday.email.en.mustache:1:10: the subject is empty" "check: an empty subject, with its place"
assert_contains "$T_OUT" "warning: $TPL/birthday.email.en.mustache:3:1: no plain-text part (only blank lines before the HTML part)" \
    "check: an HTML part alone, with its place"
assert_contains "$T_OUT" "warning: $TPL/other.email.en.mustache:2:1: no plain-text part (only blank lines)" "check: a subject alone"
mv "$T_TMP/birthday.email.en.saved" "$TPL/birthday.email.en.mustache"
rm "$TPL/other.email.en.mustache"
assert_exit 0 "check of the default templates" -- "$RAPPORTCTL" --config "$CONF" check --now "$NOW"
assert_not_contains "$T_OUT" "subject is empty" "the default templates: no empty subject"
assert_not_contains "$T_OUT" "no plain-text part" "the default templates: every one has its text"

# ---------------------------------------------------------------- SMS counted as sent
# A tab and CRLF line ends from the editor: the gateway gets a space and a
# LF (channel_sms.c cleans the text), all GSM-7 in one segment; preview and
# check must count that, not 135 UCS-2 units in 3 segments.
printf 'Happy birthday, {{customer.name}}!\tThank you for being with us - wishing you a wonderful year.\r\n- {{sender}}. Reply STOP to opt out.\r\n' \
    >"$TPL/birthday.sms.en.mustache"
assert_exit 0 "preview of an SMS with a tab and CRLF" -- "$RAPPORTCTL" --config "$CONF" preview birthdays --customer 1 --channel sms --now "$NOW"
preview_text=$(sed -n '/^To: /,/^--- /p' <<<"$T_OUT" | sed '1,2d;$d')
assert_eq "$(printf 'Happy birthday, Anna English! Thank you for being with us - wishing you a wonderful year.\n- Acme Customer Care. Reply STOP to opt out.')" \
    "$preview_text" "preview shows the SMS as the gateway gets it (tab a space, no CR)"
assert_contains "$T_OUT" "--- 134 GSM-7 unit(s), 1 segment(s)" "preview counts it as sent: GSM-7, one segment"
assert_not_contains "$T_OUT" "warning:" "... and does not warn of segments it will not take"
assert_exit 0 "check with that SMS" -- "$RAPPORTCTL" --config "$CONF" check --now "$NOW"
assert_not_contains "$T_OUT" "birthday.sms.en.mustache: its fixed text alone" "check: the fixed text fits one segment as sent"

# ---------------------------------------------------------------- SMS over sms.max_segments
# The dispatcher refuses an SMS of more than sms.max_segments (3): preview
# and check must say it fails, not merely that it is long.
printf '{{customer.name}}，%s\n' "$(printf '祝您生日快乐，万事如意！%.0s' {1..23})" >"$TPL/birthday.sms.zh-CN.mustache"
assert_exit 65 "preview of an SMS over sms.max_segments exits 65" -- \
    "$RAPPORTCTL" --config "$CONF" preview birthdays --customer 2 --channel sms --now "$NOW"
assert_contains "$T_OUT" "!!! this SMS needs 5 segments, more than sms.max_segments = 3: it would fail, not be sent" \
    "preview says the SMS would fail"
assert_exit 78 "check with an SMS template over sms.max_segments fails" -- "$RAPPORTCTL" --config "$CONF" check --now "$NOW"
assert_contains "$T_OUT" "$TPL/birthday.sms.zh-CN.mustache: its fixed text alone (every name empty) needs 5 SMS segments, more than sms.max_segments = 3: every message from it would fail, not be sent" \
    "check names the template that no message can be sent with"
assert_contains "$T_OUT" "warning: job birthdays: 1 of the 3 SMS it would send at --now need more than sms.max_segments = 3 segments: they would fail, not be sent" \
    "check says how many SMS due would fail"

# ---------------------------------------------------------------- a new locale, as the guide says
# birthday.{email,sms}.de.mustache: de-DE falls back to de; check knows the
# locale is served; preview and the real send use it.
cat >"$TPL/birthday.email.de.mustache" <<'EOF'
Subject: Alles Gute zum Geburtstag, {{customer.name}}!

Liebe(r) {{customer.name}},

das ganze Team von {{sender}} wünscht Ihnen alles Gute zum Geburtstag.
{{#unsubscribe_url}}

Abmelden: {{unsubscribe_url}}
{{/unsubscribe_url}}
EOF
printf '{{sender}}: Alles Gute zum Geburtstag, {{customer.name}}! Antworten Sie STOP zum Abmelden.\n' >"$TPL/birthday.sms.de.mustache"
cp "$T_ROOT/templates/birthday.sms.zh-CN.mustache" "$TPL/"
assert_exit 0 "check with the new de locale" -- "$RAPPORTCTL" --config "$CONF" check --now "$NOW"
assert_not_contains "$T_OUT" 'locale "de' "check: the de and de-DE customers are served by the new files"
assert_exit 0 "preview for a de-DE customer" -- "$RAPPORTCTL" --config "$CONF" preview birthdays --customer 3 --now "$NOW"
assert_contains "$T_OUT" "Subject: Alles Gute zum Geburtstag, Jürgen Müller!" "preview: de-DE gets the de e-mail"
assert_contains "$T_OUT" "Acme Customer Care: Alles Gute zum Geburtstag, Jürgen Müller! Antworten Sie STOP zum Abmelden." \
    "preview: de-DE gets the de SMS"
assert_not_contains "$T_OUT" "note: no birthday" "preview: no fallback note"

assert_exit 0 "send" -- "$RAPPORTD" --config "$CONF" --once --now "$NOW"
wait_for_mail 2 10 || t_fail "two greetings mailed" "$(mail_count)"
wait_for_sms 3 10 || t_fail "three greetings texted" "$(sms_count)"
subjects=$(mail_json | "$T_PY" -c 'import json, sys; print("\n".join(sorted(",".join(m["envelope_to"]) + "|" + m["subject"] for m in json.load(sys.stdin))))')
assert_eq "$(printf 'greta@example.com|Alles Gute zum Geburtstag, Greta Grün!\njuergen@example.com|Alles Gute zum Geburtstag, Jürgen Müller!')" \
    "$subjects" "sent: both German customers greeted in German"
assert_eq "Acme Customer Care: Alles Gute zum Geburtstag, Jürgen Müller! Antworten Sie STOP zum Abmelden." \
    "$(sms_text_for +4917600000003)" "sent: the German SMS"
assert_eq "$preview_text" "$(sms_text_for +4917600000001)" "sent: the English SMS exactly as preview showed it"

# A broken edit of the new locale: check names its place; a reload keeps
# the old set, whose German words still go out.
t_spawn d "$RAPPORTD" --config "$CONF" -v
wait_until "grep -q 'Connected to the database' $(t_log d)" 20 || t_fail "daemon connected" "$(cat "$(t_log d)")"
sed -i '1s/.*/Subject: NEU {{#customer.name}}/' "$TPL/birthday.email.de.mustache"
assert_exit 78 "check with a broken de template" -- "$RAPPORTCTL" --config "$CONF" check
assert_contains "$T_OUT" "$TPL/birthday.email.de.mustache:1:14: unclosed section 'customer.name'" "check: file, line and column"
kill -HUP "${_T_PIDS[d]}"
wait_until "grep -q 'Reload failed' $(t_log d)" 10 || t_fail "reload with a broken de template: refused" "$(cat "$(t_log d)")"
assert_contains "$(cat "$(t_log d)")" "$TPL/birthday.email.de.mustache:1:14: unclosed section 'customer.name'" "reload: the log names the place"
psql -XAtq -v ON_ERROR_STOP=1 -c "
  INSERT INTO rapport.outbox (job, channel, audience, customer_id, recipient, recipient_name, template, locale, time_zone,
                              context, dedupe_key, not_before, next_attempt_at)
  VALUES ('birthdays', 'email', 'customer', 4, 'greta@example.com', 'Greta', 'birthday', 'de', 'UTC',
          jsonb_build_object('customer', jsonb_build_object('name', 'Greta')), 'admin:reload', now(), now())"
wait_for_mail 3 20 || t_fail "message after the refused reload sent" "$(psql_val "SELECT state, last_error FROM rapport.outbox WHERE dedupe_key = 'admin:reload'")"
assert_eq "Alles Gute zum Geburtstag, Greta!" "$(mail_json 3 | "$T_PY" -c 'import json, sys; print(json.load(sys.stdin)["subject"])')" \
    "after the refused reload the old German template is used"

t_summary
