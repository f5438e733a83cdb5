#!/usr/bin/env bash
# SIGHUP reloads the templates: a broken one keeps the whole old set (the
# log names the file, line and column of every problem), and the messages
# sent after it still use the old words; a fixed set is taken at the next
# reload.  Templates are parsed at load, never read again at send time.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
smtp_start
mkdir -p "$T_TMP/tpl"
cp "$T_ROOT"/templates/*.mustache "$T_TMP/tpl/"
TPL=$T_TMP/tpl/birthday.email.en.mustache
set_subject() { sed -i "1s/.*/Subject: $1/" "$TPL"; }
set_subject 'OLD {{customer.name}}'
printf 'OLD SIGNATURE' >"$T_TMP/tpl/signature.mustache"
sed -i '3s/^/{{> signature}} /' "$TPL"
TEMPLATES_DIR=$T_TMP/tpl rapport_config "$T_TMP/c.conf" 'birthdays: { enabled = false; };'
"$RAPPORTCTL" --config "$T_TMP/c.conf" migrate >/dev/null
psql -XAtq -v ON_ERROR_STOP=1 -c "INSERT INTO crm.customers (id, name, tier, email, time_zone, locale, consent_email, active)
  VALUES (1, 'Customer', 'B', 'customer@example.com', 'UTC', 'en', true, true)"

# One birthday e-mail to the customer, due now.
send_one() { # send_one N — queue it, wait until the sink has N mails
    psql -XAtq -v ON_ERROR_STOP=1 -c "
      INSERT INTO rapport.outbox (job, channel, audience, customer_id, recipient, recipient_name, template, locale, time_zone,
                                  context, dedupe_key, not_before, next_attempt_at)
      VALUES ('birthdays', 'email', 'customer', 1, 'customer@example.com', 'Customer $1', 'birthday', 'en', 'UTC',
              jsonb_build_object('customer', jsonb_build_object('name', 'Customer $1')), 'reload:$1', now(), now())"
    wait_for_mail "$1" 20 || t_fail "message $1 sent" "$(psql_val "SELECT state, last_error FROM rapport.outbox WHERE dedupe_key = 'reload:$1'")"
}
subject_of() { mail_json "$1" | "$T_PY" -c 'import json, sys; print(json.load(sys.stdin)["subject"])'; }
text_of() { mail_json "$1" | "$T_PY" -c 'import json, sys; print(json.load(sys.stdin)["text"])'; }

t_spawn d "$RAPPORTD" --config "$T_TMP/c.conf" -v
wait_until "grep -q 'Connected to the database' $(t_log d)" 20 || t_fail "daemon connected" "$(cat "$(t_log d)")"
send_one 1
assert_eq "OLD Customer 1" "$(subject_of 1)" "the loaded template's subject"

# Broken in two files: the message template and a partial it includes.
set_subject 'NEW {{#customer.name}}'
printf 'NEW {{/nothing}}' >"$T_TMP/tpl/signature.mustache"
kill -HUP "${_T_PIDS[d]}"
wait_until "grep -q 'Reload failed' $(t_log d)" 10 || t_fail "reload with a broken template: refused" "$(cat "$(t_log d)")"
log=$(cat "$(t_log d)")
assert_contains "$log" "$TPL:1:14: unclosed section 'customer.name'" "the log names the broken template's file, line and column"
assert_contains "$log" "$T_TMP/tpl/signature.mustache:1:5: closing tag 'nothing' without an open section" \
    "... and every other problem, in the partial too"
assert_contains "$log" "Reload failed: keeping the previous configuration and templates" "the log says the old set stays"
send_one 2
assert_eq "OLD Customer 2" "$(subject_of 2)" "after a failed reload the old template is used"
assert_contains "$(text_of 2)" "OLD SIGNATURE" "... and the old partial, though its file changed"
[[ -n ${_T_PIDS[d]:-} ]] && kill -0 "${_T_PIDS[d]}" 2>/dev/null && t_pass "the daemon runs on" || t_fail "the daemon runs on" "$log"

# Fixed: the next reload takes the new set.
set_subject 'NEW {{customer.name}}'
printf 'NEW SIGNATURE' >"$T_TMP/tpl/signature.mustache"
kill -HUP "${_T_PIDS[d]}"
wait_until "grep -q 'Configuration reloaded' $(t_log d)" 10 || t_fail "reload with the fixed templates" "$(cat "$(t_log d)")"
send_one 3
assert_eq "NEW Customer 3" "$(subject_of 3)" "a good reload takes the new template"
assert_contains "$(text_of 3)" "NEW SIGNATURE" "... and the new partial"

t_summary
