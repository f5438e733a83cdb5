#!/usr/bin/env bash
# rapportctl render / preview / check from the administrator's side.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"
D=$T_TMP/r
mkdir -p "$D/partials"
printf 'Hi {{name}}!\n{{> foot}}' >"$D/a.mustache"
printf '  -- {{team}} &\n' >"$D/partials/foot.mustache"
printf '{"name":"<王>","team":"A&B","items":[1,2,3]}' >"$D/d.json"

"$RAPPORTCTL" render --template "$D/a.mustache" --data "$D/d.json" --partials "$D/partials" >"$D/out1"
assert_eq "$(printf 'Hi <王>!\n  -- A&B &\n' | od -An -tx1)" "$(od -An -tx1 <"$D/out1")" "render is byte-exact, text not escaped"
"$RAPPORTCTL" render --template "$D/a.mustache" --data "$D/d.json" --partials "$D/partials" --escape html >"$D/out2"
assert_eq "$(printf 'Hi &lt;王&gt;!\n  -- A&amp;B &\n')" "$(cat "$D/out2")" "--escape html escapes values, not template text"
printf '<p>{{name}}</p>' >"$D/b.html.mustache"
"$RAPPORTCTL" render --template "$D/b.html.mustache" --data "$D/d.json" >"$D/out3"
assert_eq "<p>&lt;王&gt;</p>" "$(cat "$D/out3")" "HTML files escape by default"
assert_eq "$(printf '<p>&lt;王&gt;</p>' | wc -c)" "$(wc -c <"$D/out3")" "nothing appended"
printf '{{#items}}{{.}},{{/items}}\n' >"$D/c.mustache"
"$RAPPORTCTL" render "$D/c.mustache" --data "$D/d.json" >"$D/out4"
assert_eq "1,2,3," "$(cat "$D/out4")" "positional template, implicit iterator"

printf 'line one\n  {{#open}}\n' >"$D/bad.mustache"
assert_exit 65 "parse error exits 65" -- "$RAPPORTCTL" render --template "$D/bad.mustache" --data "$D/d.json"
assert_contains "$T_OUT" "bad.mustache:2:3: unclosed section 'open'" "parse error names file, line and column"
printf '%s' '{{=<% %>=}}<%#a%>x<%/b%>' >"$D/bad2.mustache"
assert_exit 65 "mismatched close" -- "$RAPPORTCTL" render --template "$D/bad2.mustache" --data "$D/d.json"
assert_contains "$T_OUT" "bad2.mustache:1:" "mismatched close: position"
printf '{"name": ' >"$D/broken.json"
assert_exit 65 "invalid JSON exits 65" -- "$RAPPORTCTL" render --template "$D/a.mustache" --data "$D/broken.json"
assert_exit 66 "missing template exits 66" -- "$RAPPORTCTL" render --template "$D/none.mustache" --data "$D/d.json"
assert_exit 64 "missing --data is a usage error" -- "$RAPPORTCTL" render --template "$D/a.mustache"
assert_exit 64 "bad --escape" -- "$RAPPORTCTL" render --template "$D/a.mustache" --data "$D/d.json" --escape xml
assert_exit 0 "render --help" -- "$RAPPORTCTL" render --help
assert_contains "$T_OUT" "Usage: rapportctl render" "help text"

# A whole e-mail template: subject and text unescaped, the HTML part
# escaped, the file's own bytes (CRLF, blank line, separator) kept.
printf 'Subject: Hi {{name}} & co\r\n\r\nDear {{name}},\n{{#items}}\n- {{.}}\n{{/items}}\n--- html ---\n<p>{{name}} {{> foot}}</p>\n' \
    >"$D/greet.email.en.mustache"
"$RAPPORTCTL" render --template "$D/greet.email.en.mustache" --data "$D/d.json" --partials "$D/partials" >"$D/mail"
assert_eq "$(printf 'Subject: Hi <王> & co\r\n\r\nDear <王>,\n- 1\n- 2\n- 3\n--- html ---\n<p>&lt;王&gt;   -- A&amp;B &\n</p>\n' | od -An -tx1)" \
    "$(od -An -tx1 <"$D/mail")" "e-mail template: only the HTML part escaped, layout byte-exact"
"$RAPPORTCTL" render --template "$D/greet.email.en.mustache" --data "$D/d.json" --partials "$D/partials" --escape none >"$D/mail-none"
assert_eq "$(sed -n '1,7p' "$D/mail-none" | od -An -tx1)" "$(sed -n '1,7p' "$D/mail" | od -An -tx1)" \
    "e-mail template: the same bytes as --escape none up to the HTML part"
assert_eq "<p><王>   -- A&B &" "$(sed -n 8p "$D/mail-none")" "--escape none applies to the whole file"
"$RAPPORTCTL" render --template "$D/greet.email.en.mustache" --data "$D/d.json" --partials "$D/partials" --escape html >"$D/mail-html"
assert_eq "Subject: Hi &lt;王&gt; & co" "$(head -1 "$D/mail-html" | tr -d '\r')" "--escape html applies to the whole file"
printf 'Subject: Hi {{#a}}\n\ntext {{/b}}\n--- html ---\n<p>{{#c}}</p>\n' >"$D/bad.email.en.mustache"
assert_exit 65 "e-mail template with errors exits 65" -- "$RAPPORTCTL" render --template "$D/bad.email.en.mustache" --data "$D/d.json"
assert_contains "$T_OUT" "bad.email.en.mustache:1:13: unclosed section 'a'" "subject error: the column in the file"
assert_contains "$T_OUT" "bad.email.en.mustache:3:6: closing tag 'b'" "text error reported too"
assert_contains "$T_OUT" "bad.email.en.mustache:5:4: unclosed section 'c'" "HTML error reported too, at its line in the file"
# Several problems in one part: all of them, each at its place, in one run.
printf 'Dear {{name}},\n{{#a}}x{{/b}}\n{{bad name}} {{=<%% =}}\n' >"$D/many.mustache"
assert_exit 65 "several problems in one template" -- "$RAPPORTCTL" render --template "$D/many.mustache" --data "$D/d.json"
assert_contains "$T_OUT" "many.mustache:2:8: closing tag 'b' does not match open section 'a'" "first problem of the part"
assert_contains "$T_OUT" "many.mustache:3:1: invalid tag name 'bad name'" "a later problem in the same part"
assert_contains "$T_OUT" "many.mustache:3:14: invalid set-delimiter tag" "and the one after it"
assert_contains "$T_OUT" "many.mustache:2:1: unclosed section 'a'" "sections left open, at the end"
assert_eq 4 "$(grep -c 'many.mustache:' <<<"$T_OUT")" "each problem once"
# HTML by the file's own name only.
printf '<b>{{name}}</b>' >"$D/page.html"
assert_eq "<b>&lt;王&gt;</b>" "$("$RAPPORTCTL" render --template "$D/page.html" --data "$D/d.json")" "*.html escapes by default"
mkdir -p "$D/site.html.d"
printf '<b>{{name}}</b>' >"$D/site.html.d/note.mustache"
assert_eq "<b><王></b>" "$("$RAPPORTCTL" render --template "$D/site.html.d/note.mustache" --data "$D/d.json")" \
    "a directory named *.html.* does not make a file HTML"

# check reports every broken template, not just the first.
rapport_db
mkdir -p "$T_TMP/tpl"
cp "$T_ROOT"/templates/*.mustache "$T_TMP/tpl/"
printf 'Subject: x\n\n{{#a}}\n' >"$T_TMP/tpl/one.email.en.mustache"
printf 'Subject: y\n\n{{/b}}\n' >"$T_TMP/tpl/two.email.en.mustache"
TEMPLATES_DIR=$T_TMP/tpl rapport_config "$T_TMP/c.conf"
"$RAPPORTCTL" --config "$T_TMP/c.conf" migrate >/dev/null
assert_exit 78 "check fails on broken templates" -- "$RAPPORTCTL" --config "$T_TMP/c.conf" check
assert_contains "$T_OUT" "one.email.en.mustache:3:1:" "first broken template reported"
assert_contains "$T_OUT" "two.email.en.mustache:3:1:" "second broken template reported too"
assert_contains "$T_OUT" "2 problem(s) found" "check counts them"
# Past broken templates, the jobs are still checked against the rest; a
# broken file is not reported missing as well; every part of a file is
# checked, positions in the file.
mv "$T_TMP/tpl/birthday.email.en.mustache" "$T_TMP/birthday.email.en.mustache"
printf 'Subject: Hi {{#a}}\n\nok\n--- html ---\n<p>{{/b}}</p>\n' >"$T_TMP/tpl/three.email.en.mustache"
assert_exit 78 "check with broken and missing templates" -- "$RAPPORTCTL" --config "$T_TMP/c.conf" check
assert_contains "$T_OUT" "three.email.en.mustache:1:13: unclosed section 'a'" "subject error at its column in the file"
assert_contains "$T_OUT" "three.email.en.mustache:5:4: closing tag 'b'" "HTML error in the same file reported too"
assert_contains "$T_OUT" "job birthdays sends email but there is no template birthday.email.en.mustache" \
    "missing template reported despite broken ones"
assert_contains "$T_OUT" "5 problem(s) found" "every problem counted"
assert_contains "$T_OUT" "database: OK" "the database is checked too"
printf 'Subject: x\n\n{{#a}}\n' >"$T_TMP/tpl/birthday.email.en.mustache"
assert_exit 78 "check with the job's template broken" -- "$RAPPORTCTL" --config "$T_TMP/c.conf" check
[[ $T_OUT != *"no template birthday.email.en.mustache"* ]] && t_pass "a broken template is not also called missing" ||
    t_fail "a broken template is not also called missing" "$T_OUT"
assert_contains "$T_OUT" "5 problem(s) found" "broken job template counted once"
# One file with three problems in its text: three problems, each reported.
printf 'Subject: x\n\n{{#a}}{{/b}}\n{{ }}\n' >"$T_TMP/tpl/birthday.email.en.mustache"
assert_exit 78 "check with three problems in one template part" -- "$RAPPORTCTL" --config "$T_TMP/c.conf" check
assert_contains "$T_OUT" "birthday.email.en.mustache:3:7: closing tag 'b' does not match open section 'a'" "check: first problem"
assert_contains "$T_OUT" "birthday.email.en.mustache:4:1: empty tag name" "check: the next problem in the same part"
assert_contains "$T_OUT" "birthday.email.en.mustache:3:1: unclosed section 'a'" "check: the section left open"
assert_contains "$T_OUT" "7 problem(s) found" "each problem counted"
printf 'Subject: x\n\n{{#a}}\n' >"$T_TMP/tpl/birthday.email.en.mustache"

# An invalid configuration: the templates are still checked.
sed 's/tls = "none";/tls = "sometimes";/' "$T_TMP/c.conf" >"$T_TMP/badconf.conf"
assert_exit 78 "check with an invalid configuration" -- "$RAPPORTCTL" --config "$T_TMP/badconf.conf" check
assert_contains "$T_OUT" "email.tls: expected one of" "configuration error reported"
assert_contains "$T_OUT" "one.email.en.mustache:3:1:" "templates checked despite the configuration error"
assert_contains "$T_OUT" "three.email.en.mustache:1:13:" "every broken template listed"
assert_contains "$T_OUT" "6 problem(s) found" "configuration error and templates counted"
# The database unreachable: the rest still checked, counted, then 69 if
# that is all, 78 when there is more.
sed "s/port=$PGPORT/port=1/" "$T_TMP/c.conf" >"$T_TMP/down.conf"
assert_exit 78 "check with broken templates and the database down" -- "$RAPPORTCTL" --config "$T_TMP/down.conf" check
assert_contains "$T_OUT" "database: unreachable" "database problem reported"
assert_contains "$T_OUT" "two.email.en.mustache:3:1:" "templates reported with the database down"
assert_contains "$T_OUT" "6 problem(s) found" "the database counted too"
rm "$T_TMP"/tpl/one.* "$T_TMP"/tpl/two.* "$T_TMP"/tpl/three.* "$T_TMP/tpl/birthday.email.en.mustache"
# A template the configuration needs, missing: a configuration error for
# the daemon as well (exit 78 from -n and at start), not a retry per message.
assert_exit 78 "rapportd -n with a job's template missing" -- "$RAPPORTD" --config "$T_TMP/c.conf" -n
assert_contains "$T_OUT" "job birthdays sends email but there is no template birthday.email.en.mustache" \
    "rapportd -n names the missing template"
assert_not_contains "$T_OUT" "configuration OK" "rapportd -n does not call it OK"
assert_exit 78 "rapportd --once refuses to start without it" -- "$RAPPORTD" --config "$T_TMP/c.conf" --once
mv "$T_TMP/birthday.email.en.mustache" "$T_TMP/tpl/birthday.email.en.mustache"
assert_exit 0 "rapportd -n with every template there" -- "$RAPPORTD" --config "$T_TMP/c.conf" -n
assert_contains "$T_OUT" "configuration OK" "rapportd -n: configuration OK"
assert_exit 69 "check with only the database down" -- "$RAPPORTCTL" --config "$T_TMP/down.conf" check
assert_contains "$T_OUT" "1 problem(s) found" "count line with the database down"

# preview: complete messages for one customer, nothing queued or sent.
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES (1, '李娜', 'li.na@example.cn', 'Asia/Shanghai', 'zh-CN', 8, true);
INSERT INTO crm.customers (id, name, tier, email, phone, birthday, time_zone, locale, rep_id, consent_email, consent_sms, active) VALUES
 (1, '王芳', 'A', 'wang.fang@example.cn', '+8613900000002', '1985-03-14', 'Asia/Shanghai', 'zh-CN', 1, true, true, true),
 (2, 'Mary Major', 'B', 'mary@example.com', '+12125550199', '1985-03-14', 'America/New_York', 'en', 1, true, true, true);
SQL
assert_exit 0 "preview" -- "$RAPPORTCTL" --config "$T_TMP/c.conf" preview birthdays --customer 1 --now 2027-03-14T10:00:00+08:00
assert_contains "$T_OUT" "Subject: 生日快乐，王芳！" "preview shows the subject"
assert_contains "$T_OUT" "To: 王芳 <wa***@example.cn>" "preview masks the recipient"
assert_contains "$T_OUT" "--- html ---" "preview shows the HTML part"
assert_contains "$T_OUT" "1 message(s) would be queued" "only the asked-for customer"
[[ $T_OUT != *"Mary Major"* ]] && t_pass "other customers not shown" || t_fail "other customers not shown" "$T_OUT"
# The headers the dispatcher sends, decoded for reading.
assert_contains "$T_OUT" "From: Acme Customer Care <care@example.com>" "preview: From"
assert_contains "$T_OUT" "Date: Sun, 14 Mar 2027 02:00:00 +0000" "preview: Date is the --now instant"
assert_contains "$T_OUT" "Message-ID: <" "preview: Message-ID"
assert_contains "$T_OUT" "MIME-Version: 1.0" "preview: MIME-Version"
assert_contains "$T_OUT" "List-Unsubscribe: <mailto:unsubscribe@example.com?subject=unsubscribe>, <https://example.com/unsubscribe?id=" \
    "preview: List-Unsubscribe, mailto and https"
assert_contains "$T_OUT" "List-Unsubscribe-Post: List-Unsubscribe=One-Click" "preview: one-click unsubscribe of a marketing message"
assert_contains "$T_OUT" "<p>王芳，您好：</p>" "preview: the HTML body decoded"
assert_contains "$T_OUT" "如不希望再收到此类问候，请点击：https://example.com/unsubscribe?id=" \
    "preview: the body's unsubscribe link is the recipient's own, as sent (?id=)"
EMAIL_EXTRA='redirect_to = "qa@example.com";' TEMPLATES_DIR=$T_TMP/tpl rapport_config "$T_TMP/redirect.conf"
assert_exit 0 "preview with email.redirect_to" -- "$RAPPORTCTL" --config "$T_TMP/redirect.conf" preview birthdays --customer 1 --now 2027-03-14T10:00:00+08:00
assert_contains "$T_OUT" "To: 王芳 <qa@example.com>" "preview: redirected To"
assert_contains "$T_OUT" "X-Rapport-Original-To: wa***@example.cn" "preview: the redirect header, masked"
assert_exit 64 "preview with both --customer and --rep" -- "$RAPPORTCTL" --config "$T_TMP/c.conf" preview birthdays --customer 1 --rep 1
assert_contains "$T_OUT" "--customer and --rep exclude each other" "preview: says why"
assert_exit 65 "preview for a customer the CRM does not have" -- "$RAPPORTCTL" --config "$T_TMP/c.conf" preview birthdays --customer 99999 --now 2027-03-14T10:00:00+08:00
assert_contains "$T_OUT" "no customer with id 99999 in the CRM" "... says so, rather than showing the whole job's counts"
assert_exit 65 "preview for a rep the CRM does not have" -- "$RAPPORTCTL" --config "$T_TMP/c.conf" preview birthdays --rep 99999 --now 2027-03-14T10:00:00+08:00
# A locale with no template of its own (nor one for its language) gets the
# default locale's, and preview says which file that is.
psql_val "UPDATE crm.customers SET locale = 'zh-TW' WHERE id = 1" >/dev/null
assert_exit 0 "preview in a locale without templates" -- "$RAPPORTCTL" --config "$T_TMP/c.conf" preview birthdays --customer 1 --now 2027-03-14T10:00:00+08:00
assert_contains "$T_OUT" "note: no birthday.email template for locale zh-TW or its language: the default locale's $T_TMP/tpl/birthday.email.en.mustache is used" \
    "preview names the default locale's template a fallback uses"
assert_contains "$T_OUT" "Subject: Happy birthday" "... and renders it"
psql_val "UPDATE crm.customers SET locale = 'zh-CN' WHERE id = 1" >/dev/null
assert_exit 0 "preview in a locale with templates" -- "$RAPPORTCTL" --config "$T_TMP/c.conf" preview birthdays --customer 1 --now 2027-03-14T10:00:00+08:00
assert_not_contains "$T_OUT" "note: no birthday" "no note when the locale has its template"
assert_eq 0 "$(psql_val 'SELECT count(*) FROM rapport.outbox')" "preview queues nothing"
# Output the disk does not take is an error, not a preview cut short with exit 0.
assert_exit 74 "preview to a full disk" -- sh -c '"$0" --config "$1" preview birthdays --customer 1 --now 2027-03-14T10:00:00+08:00 >/dev/full' \
    "$RAPPORTCTL" "$T_TMP/c.conf"
assert_contains "$T_OUT" "rapportctl: cannot write to standard output: No space left on device" "preview to a full disk: says why"
assert_exit 74 "render to a full disk" -- sh -c '"$0" render --template "$1" --data "$2" >/dev/full' "$RAPPORTCTL" "$D/a.mustache" "$D/d.json"
assert_contains "$T_OUT" "rapportctl: cannot write to standard output: No space left on device" "render to a full disk: says why"
assert_exit 74 "status to a full disk" -- sh -c '"$0" --config "$1" status >/dev/full' "$RAPPORTCTL" "$T_TMP/c.conf"
assert_eq 0 "$(psql_val 'SELECT count(*) FROM rapport.job_runs')" "preview records no run"
# check warns when an SMS it would send now needs more than one segment.
# The customers above (birthdays on 14 March, SMS consent) would be due too
# when the real date, today + 180 days or today + 4 years is 14 March:
# "1 of the 1 SMS" is about customer 3 alone.
psql_val "UPDATE crm.customers SET active = false WHERE id IN (1, 2)" >/dev/null
today=$(date -u +%F)
# Born in a leap year, and "the next birthday" 4 years on: both dates exist
# when today is 29 February (1990-02-29 was refused, and a year on is 1 March).
psql -XAtq -c "INSERT INTO crm.customers (id, name, tier, phone, birthday, time_zone, locale, rep_id, consent_email, consent_sms, active)
  VALUES (3, '长名字的客户', 'C', '+8613900000003', '1988-${today:5:5}', 'UTC', 'zh-CN', 1, false, true, true)"
printf '{{customer.name}}，%s\n' "$(printf '祝您生日快乐%.0s' {1..12})" >"$T_TMP/tpl/birthday.sms.zh-CN.mustache"
# max_lateness 2d: the greeting due at 00:00 of $today is still due if UTC
# midnight passes before check runs (with 1d it would be just too late).
TEMPLATES_DIR=$T_TMP/tpl rapport_config "$T_TMP/sms.conf" 'birthdays: { send_at = "00:00"; max_lateness = "2d"; channels = [ "email", "sms" ]; };'
assert_exit 0 "check passes with a long SMS" -- "$RAPPORTCTL" --config "$T_TMP/sms.conf" check
assert_contains "$T_OUT" "warning: job birthdays: 1 of the 1 SMS it would send now need more than one segment (up to 2)" "check warns about multi-segment SMS"
assert_contains "$T_OUT" "warning: $T_TMP/tpl/birthday.sms.zh-CN.mustache: its fixed text alone (every name empty) needs 2 SMS segments: 73 UCS-2 unit(s), one segment holds 70" \
    "check warns about an SMS template longer than a segment whatever the data"
# Whatever is due: the template alone is judged on a day with no birthday,
# and --now picks the day the data is judged on.
off_day=$(date -u -d "$today + 180 days" +%F)
assert_exit 0 "check --now on a day nothing is due" -- "$RAPPORTCTL" --config "$T_TMP/sms.conf" check --now "${off_day}T12:00:00Z"
assert_contains "$T_OUT" "its fixed text alone (every name empty) needs 2 SMS segments" "check --now, nothing due: the template warning stays"
assert_not_contains "$T_OUT" "warning: job birthdays" "check --now, nothing due: no message to warn about"
next_bday=$(date -u -d "$today + 4 years" +%F)
assert_exit 0 "check --now on the next birthday" -- "$RAPPORTCTL" --config "$T_TMP/sms.conf" check --now "${next_bday}T12:00:00Z"
assert_contains "$T_OUT" "warning: job birthdays: 1 of the 1 SMS it would send at --now need more than one segment (up to 2)" "check --now judges the SMS due then"
# Judged as sent: with the configured sender's 【signature】, which the
# dispatcher adds (60 characters alone fit one segment, 80 do not).
printf '{{#sender}}【{{sender}}】{{/sender}}%s\n' "$(printf '祝您生日快乐%.0s' {1..10})" >"$T_TMP/tpl/birthday.sms.zh-CN.mustache"
assert_exit 0 "check --now: an SMS that its signature makes long" -- "$RAPPORTCTL" --config "$T_TMP/sms.conf" check --now "${next_bday}T12:00:00Z"
assert_contains "$T_OUT" "warning: job birthdays: 1 of the 1 SMS it would send at --now need more than one segment (up to 2)" \
    "check counts the sender's signature in the SMS due"
assert_contains "$T_OUT" "birthday.sms.zh-CN.mustache: its fixed text alone (every name empty) needs 2 SMS segments: 80 UCS-2 unit(s)" \
    "check counts the sender's signature in the fixed text"
# The receivables ladder sends SMS on its levels' channels (the job has none
# of its own): those are judged too.
psql -XAtq -c "INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on)
  VALUES (3, 'INV-SMS-LONG-0000000001', 1234567.89, 'CNY', date '$today' - 45, date '$today' - 15)"
TEMPLATES_DIR=$T_TMP/tpl rapport_config "$T_TMP/rcv.conf" 'receivables: { send_at = "00:00"; max_lateness = "2d";
  levels = ( { days = 15; audience = "customer"; channels = [ "sms" ]; template = "dunning_firm"; } ); };'
assert_exit 0 "check with the ladder's SMS" -- "$RAPPORTCTL" --config "$T_TMP/rcv.conf" check --now "${today}T12:00:00Z"
assert_contains "$T_OUT" "warning: job receivables: 1 of the 1 SMS it would send at --now need more than one segment (up to 2)" \
    "check warns about a long SMS of the receivables ladder"
psql_val "DELETE FROM crm.invoices WHERE number = 'INV-SMS-LONG-0000000001'" >/dev/null
# A partial that is not there renders as nothing (the spec): check warns,
# naming the template and the partial, so a typo does not drop a footer
# unseen; partials that are there, included ones too, and cycles are fine.
mkdir -p "$T_TMP/ptpl"
cp "$T_ROOT"/templates/*.mustache "$T_TMP/ptpl/"
printf 'Hi {{customer.name}} {{> footer}}\n' >"$T_TMP/ptpl/birthday.sms.en.mustache"
printf '{{customer.name}}，生日快乐 {{> footer}}\n' >"$T_TMP/ptpl/birthday.sms.zh-CN.mustache"
printf 'Bye {{> signature}}' >"$T_TMP/ptpl/footer.mustache"
printf 'Acme {{> footer}}' >"$T_TMP/ptpl/signature.zh.mustache"
printf 'Acme' >"$T_TMP/ptpl/signature.mustache"
printf 'Subject: x\n\n{{#a}}{{> footr}}{{/a}}\n--- html ---\n<p>{{> footer}}</p>\n' >"$T_TMP/ptpl/birthday.email.en.mustache"
TEMPLATES_DIR=$T_TMP/ptpl rapport_config "$T_TMP/p.conf" 'birthdays: { channels = [ "email", "sms" ]; };'
assert_exit 0 "check with a missing partial: a warning, not a problem" -- "$RAPPORTCTL" --config "$T_TMP/p.conf" check
assert_contains "$T_OUT" "warning: $T_TMP/ptpl/birthday.email.en.mustache: {{> footr}} names no partial in $T_TMP/ptpl" \
    "check names the template and the missing partial"
assert_eq 1 "$(grep -c 'names no partial' <<<"$T_OUT")" "partials that exist (nested, cyclic, per locale) draw no warning"
rm "$T_TMP/ptpl/signature.mustache"
assert_exit 0 "check with a partial missing inside a partial" -- "$RAPPORTCTL" --config "$T_TMP/p.conf" check
assert_contains "$T_OUT" "warning: $T_TMP/ptpl/birthday.sms.en.mustache: {{> signature}} names no partial" \
    "a partial missing for the template's locale, inside another partial, is found"
assert_not_contains "$T_OUT" "birthday.sms.zh-CN.mustache: {{> signature}}" "... but not where the locale has one"
assert_exit 64 "check --now with a bad instant" -- "$RAPPORTCTL" --config "$T_TMP/sms.conf" check --now yesterday
assert_contains "$T_OUT" "--now: cannot parse 'yesterday'" "check --now: says why"
assert_exit 64 "check with a stray argument" -- "$RAPPORTCTL" --config "$T_TMP/sms.conf" check birthdays
assert_eq 0 "$(psql_val 'SELECT count(*) FROM rapport.outbox')" "check queues nothing"
assert_exit 64 "preview of an unknown job" -- "$RAPPORTCTL" --config "$T_TMP/c.conf" preview nosuchjob

# ---- the shipped SMS: marketing ones (greetings, win-back, surveys) carry
# an opt-out note; dunning is transactional and does not.
for f in "$T_ROOT"/templates/{birthday,holiday,mid_autumn,spring_festival,winback,complaint_survey}.sms.*.mustache; do
    assert_contains "$(cat "$f")" "$([[ $f == *.zh-CN.* ]] && echo '回复TD退订' || echo 'STOP to opt out')" "opt-out note in $(basename "$f")"
done

# ---- the data file: any one JSON value, as a spec runner writes it (no
# final newline); nothing after it; not empty.
printf '"{{.}} miles an hour!"' >"$D/mph.mustache"
for v in 85 -3 1.5 true null '"fast"'; do
    printf '%s' "$v" >"$D/scalar.json"
    "$RAPPORTCTL" render --template "$D/mph.mustache" --data "$D/scalar.json" --escape html >"$D/scalar.out" 2>&1
    want=$v
    [[ $v == null ]] && want=
    [[ $v == '"fast"' ]] && want=fast
    assert_eq "\"$want miles an hour!\"" "$(cat "$D/scalar.out")" "data file holding only $v, no final newline"
done
printf '{"a":1} junk' >"$D/junk.json"
assert_exit 65 "data: something after the JSON value is an error" -- "$RAPPORTCTL" render --template "$D/mph.mustache" --data "$D/junk.json"
assert_contains "$T_OUT" "junk.json:1:9: invalid JSON: more after the first value" "... saying so, and where"
printf '{"a":1}\n{"b":2}\n' >"$D/two.json"
assert_exit 65 "data: two JSON documents are an error" -- "$RAPPORTCTL" render --template "$D/mph.mustache" --data "$D/two.json"
assert_contains "$T_OUT" "two.json:2:1: invalid JSON: more after the first value" "... naming the line and column"
printf ' \n' >"$D/empty.json"
assert_exit 65 "data: an empty file is an error" -- "$RAPPORTCTL" render --template "$D/mph.mustache" --data "$D/empty.json"
assert_contains "$T_OUT" "no JSON value in the file" "... saying what is missing"
# A partial that does not parse fails the render, as the template would.
mkdir -p "$D/badp"
printf 'x{{> bad}}y' >"$D/usesbad.mustache"
printf 'line\n {{#q}}' >"$D/badp/bad.mustache"
assert_exit 65 "a partial with a parse error fails the render" -- \
    "$RAPPORTCTL" render --template "$D/usesbad.mustache" --data "$D/d.json" --partials "$D/badp"
assert_contains "$T_OUT" "bad.mustache:2:2: unclosed section 'q'" "... naming the partial's file, line and column"
assert_eq "" "$("$RAPPORTCTL" render --template "$D/usesbad.mustache" --data "$D/d.json" --partials "$D/badp" 2>/dev/null)" "... and printing nothing"
# ---- the data file is strict JSON (RFC 8259): what json-c alone would take
# (trailing commas, single quotes, NaN, comments, leading zeros, raw control
# characters) is an error naming line and column; so is a number json-c
# would change (an integer past 64 bits saturates, 1e400 is infinite).
printf '{{a}}|{{b}}' >"$D/ab.mustache"
strict_bad() { # $1 JSON text, $2 file:line:column message expected, $3 what
    printf '%s' "$1" >"$D/strict.json"
    assert_exit 65 "strict JSON: $3 is an error" -- "$RAPPORTCTL" render --template "$D/ab.mustache" --data "$D/strict.json"
    assert_contains "$T_OUT" "strict.json:$2" "strict JSON: $3: where and why"
}
strict_bad '{"a":1,}' "1:8: invalid JSON: unexpected character" "a trailing comma in an object"
strict_bad $'[1,\n 2,\n]' "3:1: invalid JSON: unexpected character" "a trailing comma in a list"
strict_bad "{'a':'x'}" "1:2: invalid JSON: a string in single quotes" "single quotes"
strict_bad '{"a":NaN}' "1:6: invalid JSON: 'NaN' is not a JSON value (JSON has no NaN or Infinity)" "NaN"
strict_bad '{"a":Infinity}' "1:6: invalid JSON: 'Infinity' is not a JSON value" "Infinity"
strict_bad '{"a":-Infinity}' "1:6: invalid JSON: '-Infinity' is not a JSON value" "-Infinity"
strict_bad '/* c */ {"a":1}' "1:1: invalid JSON: a comment (JSON has none)" "a comment before the value"
strict_bad $'{"a":1} // c' "1:9: invalid JSON: more after the first value" "a comment after the value"
strict_bad $'{"a":1,\n // c\n "b":2}' "2:2: invalid JSON: a comment (JSON has none)" "a comment inside"
strict_bad '{"a":01}' "1:6: invalid JSON: invalid number '01'" "a leading zero"
strict_bad '{"a":1.}' "1:6: invalid JSON: invalid number '1.'" "a number ending in a point"
strict_bad $'{"a":"x\ty"}' "1:8: invalid JSON: control character U+0009 in a string" "a raw TAB in a string"
strict_bad $'{"a":"x\ny"}' "1:8: invalid JSON: control character U+000A in a string" "a raw line feed in a string"
strict_bad $'{"a":"\xff"}' "1:7: invalid JSON: invalid utf-8 string" "bytes that are not UTF-8"
strict_bad $'{"a":"王",\n "b":123456789012345678901234567890}' "2:6: invalid JSON: number out of range: 123456789012345678901234567890" \
    "an integer past 64 bits (json-c would saturate it)"
strict_bad '[-9223372036854775809]' "1:2: invalid JSON: number out of range" "an integer below -2^63"
strict_bad '{"a":1e400}' "1:6: invalid JSON: number out of range: 1e400" "a number past a double (infinite)"
strict_bad '{"a":-1e400}' "1:6: invalid JSON: number out of range" "a negative number past a double"
strict_bad '{"a":1} {"b":2}' "1:9: invalid JSON: more after the first value" "a second value"
strict_bad '{"a":tru}' "1:6: invalid JSON: 'tru' is not a JSON value" "a misspelt literal"
# What is JSON still renders, at the edges of what json-c holds.
printf '{"a":-9223372036854775808,"b":18446744073709551615}' >"$D/edge.json"
assert_eq "-9223372036854775808|18446744073709551615" \
    "$("$RAPPORTCTL" render --template "$D/ab.mustache" --data "$D/edge.json" 2>&1)" "strict JSON: 64-bit extremes render exactly"
printf '{"a":1.5e3,"b":-0}' >"$D/edge.json"
assert_exit 0 "strict JSON: exponents and -0" -- "$RAPPORTCTL" render --template "$D/ab.mustache" --data "$D/edge.json"
printf '\n {"a": "王芳，您好", "b": "\\u4e2d\\u6587 \\ud83d\\ude00 \\"q\\"\\t."}\n' >"$D/zh.json"
assert_eq $'王芳，您好|中文 😀 "q"\t.' "$("$RAPPORTCTL" render --template "$D/ab.mustache" --data "$D/zh.json" 2>&1)" \
    "strict JSON: UTF-8, Chinese and \\u escapes (a surrogate pair too) render"
printf '\xef\xbb\xbf{"a":"王","b":1}' >"$D/bom.json"
assert_eq "王|1" "$("$RAPPORTCTL" render --template "$D/ab.mustache" --data "$D/bom.json" 2>&1)" \
    "strict JSON: a UTF-8 byte order mark is ignored (RFC 8259 allows it)"

# ---- partials per locale, as the daemon finds them for the template's
# locale: NAME.LOCALE.mustache, NAME.LANGUAGE.mustache, NAME.mustache.
L=$D/locales
mkdir -p "$L/other"
printf 'Subject: s\n\nbody\n{{> footer}}\n' >"$L/greet.email.zh-CN.mustache"
printf 'ZH-CN FOOTER\n' >"$L/footer.zh-CN.mustache"
printf 'GENERIC FOOTER\n' >"$L/footer.mustache"
printf '{}' >"$L/d.json"
assert_eq "$(printf 'Subject: s\n\nbody\nZH-CN FOOTER')" "$("$RAPPORTCTL" render --template "$L/greet.email.zh-CN.mustache" --data "$L/d.json")" \
    "partials: the template's locale first (footer.zh-CN.mustache)"
cp "$L/greet.email.zh-CN.mustache" "$L/greet.email.en.mustache"
assert_contains "$("$RAPPORTCTL" render --template "$L/greet.email.en.mustache" --data "$L/d.json")" "GENERIC FOOTER" \
    "partials: a locale with none of its own gets NAME.mustache"
cp "$L/greet.email.zh-CN.mustache" "$L/greet.email.zh-TW.mustache"
assert_contains "$("$RAPPORTCTL" render --template "$L/greet.email.zh-TW.mustache" --data "$L/d.json")" "GENERIC FOOTER" \
    "partials: zh-TW does not take zh-CN's"
printf 'ZH FOOTER\n' >"$L/footer.zh.mustache"
assert_contains "$("$RAPPORTCTL" render --template "$L/greet.email.zh-TW.mustache" --data "$L/d.json")" "ZH FOOTER" \
    "partials: zh-TW falls back to the language (footer.zh.mustache)"
cp "$L/greet.email.zh-CN.mustache" "$L/greet.email.zh_cn.mustache"
assert_contains "$("$RAPPORTCTL" render --template "$L/greet.email.zh_cn.mustache" --data "$L/d.json")" "ZH-CN FOOTER" \
    "partials: zh_cn is zh-CN, as in the daemon"
printf '{{> footer}}' >"$L/plain.mustache"
assert_eq "GENERIC FOOTER" "$("$RAPPORTCTL" render --template "$L/plain.mustache" --data "$L/d.json")" \
    "partials: a file with no locale in its name gets NAME.mustache"
printf '<p>{{> footer}}</p>' >"$L/page.html.mustache"
printf 'HTML FOOTER' >"$L/footer.html.mustache"
assert_eq "<p>GENERIC FOOTER
</p>" "$("$RAPPORTCTL" render --template "$L/page.html.mustache" --data "$L/d.json")" "partials: .html in a name is no locale"
# A partial rendered by itself: its own locale, for the partials it includes.
printf 'sig: {{> sig}}' >"$L/other/note.zh-CN.mustache"
printf 'ZH-CN SIG' >"$L/other/sig.zh-CN.mustache"
printf 'SIG' >"$L/other/sig.mustache"
assert_eq "sig: ZH-CN SIG" "$("$RAPPORTCTL" render --template "$L/other/note.zh-CN.mustache" --data "$L/d.json")" \
    "partials: a partial NAME.LOCALE.mustache renders with its locale's partials"
assert_eq "Subject: s
$(printf '\nbody\nZH-CN FOOTER')" "$("$RAPPORTCTL" render --template "$L/greet.email.zh-CN.mustache" --data "$L/d.json" --partials "$L")" \
    "partials: --partials DIR, the same lookup"
printf 'sig: {{> sig}}' >"$L/other/note.sms.zh-TW.mustache"
assert_eq "sig: SIG" "$("$RAPPORTCTL" render --template "$L/other/note.sms.zh-TW.mustache" --data "$L/d.json")" \
    "partials: no default locale (render has no configuration): NAME.mustache"
printf 'BARE' >"$L/other/bare"
printf '[{{> bare}}]' >"$L/other/usebare.en.mustache"
assert_eq "[BARE]" "$("$RAPPORTCTL" render --template "$L/other/usebare.en.mustache" --data "$L/d.json")" \
    "partials: a file called just NAME, last"
printf '[{{> nothing}}{{> other}}]' >"$L/none.mustache"
assert_eq "[]" "$("$RAPPORTCTL" render --template "$L/none.mustache" --data "$L/d.json")" \
    "partials: none there (or a directory of that name) renders as nothing"

printf '\xef\xbb\xbf[{{> bomfoot}}]' >"$L/other/bom.sms.en.mustache"
printf '\xef\xbb\xbfFOOT' >"$L/other/bomfoot.mustache"
assert_eq "[FOOT]" "$("$RAPPORTCTL" render --template "$L/other/bom.sms.en.mustache" --data "$L/d.json")" \
    "partials: a byte order mark is not rendered, in a template or a partial (as the daemon reads them)"

# ---- --partials and --template must name what they say.
assert_exit 66 "--partials naming nothing exits 66" -- \
    "$RAPPORTCTL" render --template "$L/plain.mustache" --data "$L/d.json" --partials "$L/nosuchdir"
assert_contains "$T_OUT" "partials directory $L/nosuchdir: No such file or directory" "... saying so"
assert_exit 66 "--partials naming a file exits 66" -- \
    "$RAPPORTCTL" render --template "$L/plain.mustache" --data "$L/d.json" --partials "$L/d.json"
assert_contains "$T_OUT" "partials directory $L/d.json: Not a directory" "... saying so"
assert_exit 66 "--partials is checked even when no partial is used" -- \
    "$RAPPORTCTL" render --template "$D/ab.mustache" --data "$L/d.json" --partials "$L/nosuchdir"
assert_exit 66 "--template naming a directory exits 66" -- "$RAPPORTCTL" render --template "$L/other" --data "$L/d.json"
assert_contains "$T_OUT" "$L/other: Is a directory" "... saying so, not Input/output error"
assert_not_contains "$T_OUT" "Input/output error" "... and no I/O error"
assert_exit 66 "--data naming a directory exits 66" -- "$RAPPORTCTL" render --template "$L/plain.mustache" --data "$L"
assert_contains "$T_OUT" "$L: Is a directory" "... saying so"
t_summary
