#!/usr/bin/env bash
# rapportctl, command by command: --help, bad arguments (64), an unreachable
# database (69, one clear line), and the happy path against a real database.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"
rapport_db
smtp_start
CONF=$T_TMP/c.conf
rapport_config "$CONF"
sed "s/port=$PGPORT/port=1/" "$CONF" >"$T_TMP/down.conf"

# crm.sql, as an administrator runs it on a new database: not a word, not
# even a notice about an index of earlier versions it never had; on an old
# install it drops that index.
psql_val "CREATE DATABASE crm_fresh" >/dev/null
assert_exit 0 "crm.sql on a new database" -- psql -XAtq -v ON_ERROR_STOP=1 -d crm_fresh -f "$T_ROOT/etc/crm.sql"
assert_eq "" "$T_OUT" "crm.sql on a new database prints nothing"
psql -XAtq -d crm_fresh -c "CREATE INDEX customers_active_idx ON crm.customers (id)" >/dev/null
assert_exit 0 "crm.sql again over an old install" -- psql -XAtq -v ON_ERROR_STOP=1 -d crm_fresh -f "$T_ROOT/etc/crm.sql"
assert_eq "" "$(psql -XAtq -d crm_fresh -c "SELECT to_regclass('crm.customers_active_idx')")" "... drops the old customers_active_idx"
psql_val "DROP DATABASE crm_fresh" >/dev/null

for cmd in check migrate status queue show retry cancel suppress unsuppress run preview render next; do
    assert_exit 0 "$cmd --help" -- "$RAPPORTCTL" --config "$CONF" "$cmd" --help
    assert_contains "$T_OUT" "Usage: rapportctl $cmd" "$cmd --help: usage line"
done
assert_exit 0 "rapportctl --help" -- "$RAPPORTCTL" --help
# The command list names every option each command's own --help gives
# (the issues name render's --partials and --escape, preview's --channel
# and --now): an administrator reading only `rapportctl --help` misses none.
top_help=$T_OUT
for cmd in check migrate status queue show retry cancel suppress unsuppress run disable enable preview render next; do
    entry=$(awk -v c="$cmd" '$1 == c { p = 1; print; next } p && /^          / { print; next } { p = 0 }' <<<"$top_help")
    missing=
    for o in $("$RAPPORTCTL" "$cmd" --help | awk '/^Usage:/ { u = 1 } u && /^$/ { exit } u' | grep -oE -- '--[a-z-]+' | sort -u); do
        grep -q -- "$o" <<<"$entry" || missing+=" $o"
    done
    assert_eq "" "$missing" "rapportctl --help lists every option of $cmd"
done
assert_exit 64 "no command" -- "$RAPPORTCTL" --config "$CONF"
assert_exit 64 "unknown command" -- "$RAPPORTCTL" --config "$CONF" frobnicate
assert_contains "$T_OUT" "unknown command 'frobnicate'" "unknown command named"

# Commands that need the database: unreachable -> 69 and one line.
for args in "status" "queue" "show 1" "retry 1" "cancel 1" "suppress a@example.com" "unsuppress a@example.com" "run birthdays" "preview birthdays" "migrate"; do
    # shellcheck disable=SC2086
    assert_exit 69 "$args: database unreachable" -- "$RAPPORTCTL" --config "$T_TMP/down.conf" $args
    assert_eq 1 "$(printf '%s\n' "$T_OUT" | grep -c .)" "$args: one line of error"
done

# Bad arguments -> 64.
# An unknown option, or one without its value: one line naming it (not
# getopt's "queue: unrecognized option" and then "bad option").
assert_exit 64 "queue --bogus" -- "$RAPPORTCTL" --config "$CONF" queue --bogus
assert_eq "rapportctl queue: unknown option '--bogus'
Try 'rapportctl queue --help'." "$T_OUT" "unknown option: named, in one line"
assert_exit 64 "next --tz without a zone" -- "$RAPPORTCTL" next '0 9 * * *' --tz
assert_eq "rapportctl next: option '--tz' needs a value
Try 'rapportctl next --help'." "$T_OUT" "option without its value: named, in one line"
assert_exit 64 "run --dry-run=1" -- "$RAPPORTCTL" --config "$CONF" run birthdays --dry-run=1
assert_contains "$T_OUT" "rapportctl run: option '--dry-run' takes no value" "a flag given a value: said so"
# rapportd likewise, as "rapportd: ...", not as its argv[0] path.
assert_exit 64 "rapportd --bogus" -- "$RAPPORTD" --bogus
assert_eq "rapportd: unknown option '--bogus'
Try 'rapportd --help'." "$T_OUT" "rapportd: unknown option named"
assert_exit 64 "rapportd --now without a value" -- "$RAPPORTD" --once --now
assert_contains "$T_OUT" "rapportd: option '--now' needs a value" "rapportd: option without its value named"
assert_exit 64 "rapportd --once=1" -- "$RAPPORTD" --once=1
assert_contains "$T_OUT" "rapportd: option '--once' takes no value" "rapportd: a flag given a value: said so"
# A flag with a short name given a value, and short options: the one at
# fault, named as what it is (a known short option that needs its value
# is not "unknown"; in a group, -xy, the unknown letter, not a neighbour).
assert_exit 64 "rapportd --test-config=1" -- "$RAPPORTD" --test-config=1
assert_contains "$T_OUT" "rapportd: option '--test-config' takes no value" "rapportd: --test-config=1 takes no value (not \"unknown option '-n'\")"
assert_exit 64 "rapportd -vx" -- "$RAPPORTD" -vx
assert_contains "$T_OUT" "rapportd: unknown option '-x'" "rapportd: an unknown letter in a group"
# -n loads and exits: beside --once or --dry-run it would read as a run.
assert_exit 64 "rapportd -n --once" -- "$RAPPORTD" --config "$CONF" -n --once
assert_contains "$T_OUT" "rapportd: -n checks the configuration only; it cannot be combined with --once" "rapportd -n --once: said, not ignored"
assert_exit 64 "rapportd -n --dry-run" -- "$RAPPORTD" --config "$CONF" -n --dry-run
assert_exit 64 "next -n without a count" -- "$RAPPORTCTL" next '0 9 * * *' -n
assert_contains "$T_OUT" "rapportctl next: option '-n' needs a value" "rapportctl: a short option without its value is not unknown"
assert_exit 64 "next -xy" -- "$RAPPORTCTL" next -xy '0 9 * * *'
assert_contains "$T_OUT" "rapportctl next: unknown option '-x'" "rapportctl: an unknown letter in a group named (not the argument before it)"
assert_exit 0 "migrate" -- "$RAPPORTCTL" --config "$CONF" migrate
assert_exit 64 "show without id" -- "$RAPPORTCTL" --config "$CONF" show
assert_exit 64 "show with a bad id" -- "$RAPPORTCTL" --config "$CONF" show abc
assert_exit 64 "queue with a bad state" -- "$RAPPORTCTL" --config "$CONF" queue --state lost
assert_exit 64 "queue with a bad limit" -- "$RAPPORTCTL" --config "$CONF" queue --limit -3
assert_exit 64 "retry without argument" -- "$RAPPORTCTL" --config "$CONF" retry
assert_exit 64 "suppress a non-address" -- "$RAPPORTCTL" --config "$CONF" suppress not-a-number
assert_exit 64 "run an unknown job" -- "$RAPPORTCTL" --config "$CONF" run nosuchjob
assert_exit 64 "run with a bad --now" -- "$RAPPORTCTL" --config "$CONF" run birthdays --now yesterday-ish
assert_exit 64 "preview with a bad channel" -- "$RAPPORTCTL" --config "$CONF" preview birthdays --channel fax
# A job the configuration leaves out cannot be previewed: the message says
# how to try it with its defaults without the daemon running it.
assert_not_contains "$(cat "$CONF")" "dormant:" "the test configuration leaves dormant out"
assert_exit 78 "preview of a job not in the configuration" -- "$RAPPORTCTL" --config "$CONF" preview dormant
assert_contains "$T_OUT" "dormant: { enabled = false; };" "... names the line that lets it be tried"
# Bad arguments are usage errors (64) whatever else: extra arguments, ids
# that are not ids or out of range, a junk suppression, --json where there
# is none; and checked before the database is asked (down: still 64).
assert_exit 64 "check with an extra argument" -- "$RAPPORTCTL" --config "$CONF" check --bogus
# A --now that is no time is a usage error before anything is checked.
assert_exit 64 "check --now bad" -- "$RAPPORTCTL" --config "$CONF" check --now yesterday-ish
assert_not_contains "$T_OUT" "configuration:" "check --now bad: nothing checked first"
assert_exit 64 "status with an extra argument" -- "$RAPPORTCTL" --config "$CONF" status foo
assert_exit 64 "preview with a non-numeric customer" -- "$RAPPORTCTL" --config "$CONF" preview birthdays --customer abc
assert_exit 64 "queue --limit out of range" -- "$RAPPORTCTL" --config "$CONF" queue --limit 99999999999
assert_exit 64 "show with an id out of range" -- "$RAPPORTCTL" --config "$CONF" show 99999999999999999999
assert_exit 64 "suppress a display-name address" -- "$RAPPORTCTL" --config "$CONF" suppress 'Mary <mary@example.com>'
assert_exit 64 "suppress a lone @" -- "$RAPPORTCTL" --config "$CONF" suppress '@'
assert_exit 64 "unsuppress with an option" -- "$RAPPORTCTL" --config "$CONF" unsuppress --bogus
assert_exit 64 "--json on a command without JSON output" -- "$RAPPORTCTL" --config "$CONF" retry 1 --json
assert_contains "$T_OUT" "no JSON output" "--json refusal says why"
assert_exit 0 "next --json" -- "$RAPPORTCTL" --config "$CONF" next '0 9 * * 1' --tz Asia/Shanghai --from 2027-01-01T00:00:00Z --count 2 --json
assert_eq '2027-01-04T09:00:00+08:00 2027-01-11T09:00:00+08:00' "$(printf '%s' "$T_OUT" | jq -r 'join(" ")')" "next --json: a list of ISO 8601 times"
assert_exit 64 "run --dry-run --json" -- "$RAPPORTCTL" --config "$CONF" run birthdays --dry-run --json
assert_exit 64 "--config without a file" -- "$RAPPORTCTL" --config
assert_exit 64 "run an unknown job, database down" -- "$RAPPORTCTL" --config "$T_TMP/down.conf" run nosuchjob
assert_exit 64 "run with a bad --now, database down" -- "$RAPPORTCTL" --config "$T_TMP/down.conf" run birthdays --now garbage
assert_exit 64 "preview an unknown job, database down" -- "$RAPPORTCTL" --config "$T_TMP/down.conf" preview nosuchjob
assert_exit 78 "a job not configured" -- "$RAPPORTCTL" --config "$CONF" run digest

# Happy paths.
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES (1, '李娜', 'li.na@example.cn', 'UTC', 'zh-CN', 8, true);
INSERT INTO crm.customers (id, name, tier, email, birthday, time_zone, locale, rep_id, consent_email, consent_sms, active) VALUES
 (1, '王芳', 'A', 'wang.fang@example.cn', '1985-03-14', 'UTC', 'zh-CN', 1, true, false, true),
 (2, 'Mary Major', 'B', 'mary@example.com', '1985-03-14', 'UTC', 'en', 1, true, false, true),
 (3, 'No Consent', 'C', 'noconsent@example.com', '1985-03-14', 'UTC', 'en', 1, false, false, true),
 (4, 'No Address', 'C', NULL, '1985-03-14', 'UTC', 'en', 1, true, false, true);
SQL
assert_exit 0 "run --dry-run" -- "$RAPPORTCTL" --config "$CONF" run birthdays --dry-run --now 2027-03-14T10:00:00Z
assert_contains "$T_OUT" "2 message(s) would be queued" "dry run shows what would be queued"
assert_eq 0 "$(psql_val 'SELECT count(*) FROM rapport.outbox')" "dry run queues nothing"
assert_contains "$T_OUT" "Date: Sun, 14 Mar 2027 10:00:00 +0000" "dry run: the e-mails' Date is the --now instant"
assert_exit 0 "rapportd --once --dry-run" -- "$RAPPORTD" --config "$CONF" --once --dry-run --now 2027-03-14T10:00:00Z
assert_contains "$T_OUT" "Date: Sun, 14 Mar 2027 10:00:00 +0000" "rapportd --dry-run: the e-mails' Date is the --now instant"
assert_contains "$T_OUT" "Dry run done: 1 run(s) would queue 2 message(s); nothing was queued or sent" "rapportd --dry-run: a summary line"
assert_eq 0 "$(psql_val 'SELECT count(*) FROM rapport.outbox')" "rapportd --dry-run queues nothing"
# --dry-run alone is one pass too (rapportd(8): it implies --once), not a daemon.
assert_exit 0 "rapportd --dry-run without --once: one pass, exit 0" -- timeout 60 "$RAPPORTD" --config "$CONF" --dry-run --now 2027-03-14T10:00:00Z
assert_contains "$T_OUT" "Date: Sun, 14 Mar 2027 10:00:00 +0000" "rapportd --dry-run without --once: prints the messages"
# preview shows the headers the dispatcher really sends (compared with the
# message delivered below; ids, Date, Message-ID and boundary are per message).
assert_exit 0 "preview --show-recipients" -- "$RAPPORTCTL" --config "$CONF" preview birthdays --customer 1 --show-recipients --now 2027-03-14T10:00:00Z
preview_headers=$(printf '%s\n' "$T_OUT" | sed -n '/^=== email/,/^$/p' | sed '1d;$d' |
    sed -E -e 's/^(Date|Message-ID|X-Rapport-Id): .*/\1: */' -e 's/id=[0-9]+/id=N/' -e 's/token=[0-9a-f-]+/token=T/' -e 's/boundary="[^"]*"/boundary=B/')
assert_contains "$preview_headers" "List-Unsubscribe-Post: List-Unsubscribe=One-Click" "preview: headers found"
assert_exit 64 "preview --customer with --rep" -- "$RAPPORTCTL" --config "$CONF" preview birthdays --customer 1 --rep 1
assert_exit 0 "run" -- "$RAPPORTCTL" --config "$CONF" run birthdays --now 2027-03-14T10:00:00Z
assert_contains "$T_OUT" "planned 2 message(s)" "run plans"
assert_eq 2 "$(psql_val 'SELECT count(*) FROM rapport.outbox')" "run queued two"
# Once planned, a preview for that customer shows nothing, and says why.
assert_exit 0 "preview after the run" -- "$RAPPORTCTL" --config "$CONF" preview birthdays --customer 1 --now 2027-03-14T10:00:00Z
assert_contains "$T_OUT" "0 message(s) would be queued" "preview after the run: nothing new"
assert_contains "$T_OUT" "note: the outbox already holds 1 birthdays message(s) for customer 1 from the last 31 days (queued 1)" \
    "... and it says the message is planned already"
assert_exit 0 "run --json, again" -- "$RAPPORTCTL" --config "$CONF" run birthdays --now 2027-03-14T10:00:00Z --json
assert_eq "birthdays 0 object" "$(printf '%s' "$T_OUT" | jq -r '"\(.job) \(.planned) \(.skip_reasons | type)"')" \
    "run --json: the job, what it planned (nothing twice) and why it skipped, as an object"
assert_exit 0 "queue" -- "$RAPPORTCTL" --config "$CONF" queue
assert_contains "$T_OUT" "wa***@example.cn" "queue masks recipients"
assert_exit 0 "queue --show-recipients" -- "$RAPPORTCTL" --config "$CONF" queue --show-recipients
assert_contains "$T_OUT" "wang.fang@example.cn" "queue --show-recipients shows them"
assert_exit 0 "queue --json" -- "$RAPPORTCTL" --config "$CONF" queue --json
assert_eq 2 "$(printf '%s' "$T_OUT" | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "queue --json parses"
id=$(psql_val "SELECT id FROM rapport.outbox WHERE customer_id = 2")
assert_exit 0 "cancel" -- "$RAPPORTCTL" --config "$CONF" cancel "$id"
assert_eq cancelled "$(psql_val "SELECT state FROM rapport.outbox WHERE id = $id")" "cancelled"
assert_exit 65 "cancel twice: nothing to do" -- "$RAPPORTCTL" --config "$CONF" cancel "$id"
assert_eq 1 "$(psql_val "SELECT cancelled FROM rapport.job_runs WHERE id = (SELECT run_id FROM rapport.outbox WHERE id = $id)")" \
    "the cancellation counts against the run that planned it, once"
assert_exit 0 "retry" -- "$RAPPORTCTL" --config "$CONF" retry "$id"
assert_eq "queued:" "$(psql_val "SELECT state || ':' || coalesce(last_error, '') FROM rapport.outbox WHERE id = $id")" "requeued, its last error cleared"
assert_exit 0 "show" -- "$RAPPORTCTL" --config "$CONF" show "$id"
assert_contains "$T_OUT" "requeued" "show lists the history"
assert_contains "$T_OUT" "cancelled  rapportctl cancel" "... the cancellation included"
assert_contains "$T_OUT" "planned    by birthdays run" "show: the history starts with its planning"
assert_contains "$T_OUT" "not sent yet" "show: a queued message has no text yet, and says so"
assert_exit 0 "queue --json: numbers" -- "$RAPPORTCTL" --config "$CONF" queue --json
assert_eq "int int" "$(printf '%s' "$T_OUT" | /usr/bin/python3 -c 'import json,sys; m=json.load(sys.stdin)[0]; print(type(m["id"]).__name__, type(m["attempts"]).__name__)')" \
    "queue --json: id and attempts are numbers"
assert_contains "$T_OUT" "ma***@example.com" "show masks the recipient"
assert_exit 0 "show, for its context" -- "$RAPPORTCTL" --config "$CONF" show "$id"
assert_contains "$T_OUT" '"email":"li***@example.cn"' "show masks the addresses in the context too (the rep's)"
assert_eq "0" "$(grep -c 'li.na@example.cn' <<<"$T_OUT")" "... and shows none whole"
assert_exit 0 "show --show-recipients" -- "$RAPPORTCTL" --config "$CONF" show "$id" --show-recipients
assert_contains "$T_OUT" '"email":"li.na@example.cn"' "show --show-recipients: the context's addresses whole"
assert_exit 0 "show --json" -- "$RAPPORTCTL" --config "$CONF" show "$id" --json
assert_eq "$id" "$(printf '%s' "$T_OUT" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')" "show --json parses"
assert_exit 0 "suppress" -- "$RAPPORTCTL" --config "$CONF" suppress Mary@Example.com --reason "asked by phone"
assert_eq "mary@example.com|asked by phone" "$(psql_val "SELECT address || '|' || reason FROM rapport.suppression")" "suppression stored lower-case with its reason"
assert_exit 0 "send the queue" -- "$RAPPORTD" --config "$CONF" --once --now 2027-03-14T10:00:00Z
assert_eq "sent,cancelled" "$(psql_val "SELECT string_agg(state, ',' ORDER BY customer_id) FROM rapport.outbox")" "suppressed address cancelled at send time"
sent_headers=$(mail_json 1 | "$T_PY" -c '
import json, re, sys
m = json.load(sys.stdin)
for name, value in m["headers"]:
    value = re.sub(r"\s+", " ", value)
    if name in ("Date", "Message-ID", "X-Rapport-Id"):
        value = "*"
    value = re.sub(r"token=[0-9a-f-]+", "token=T", re.sub(r"id=[0-9]+", "id=N", value))
    value = re.sub(r"boundary=\"[^\"]*\"", "boundary=B", value)
    print(f"{name}: {value}")')
assert_eq "$sent_headers" "$preview_headers" "preview shows the headers that were sent"
assert_exit 0 "unsuppress" -- "$RAPPORTCTL" --config "$CONF" unsuppress mary@example.com
assert_eq 0 "$(psql_val 'SELECT count(*) FROM rapport.suppression')" "unsuppressed"
assert_exit 65 "unsuppress an address that is not suppressed" -- "$RAPPORTCTL" --config "$CONF" unsuppress mary@example.com
assert_contains "$T_OUT" "is not suppressed" "unsuppress says so"
# A message cancelled before its time and retried keeps its time: due at
# not_before, not now, and `rapportd --once` does not wait for it (it
# used to spin, claiming nothing, until killed).  On the real clock (the
# bug was a retry due at the database's now()), so here, after the pinned
# runs, where nothing else queued can come due and no job plans: the
# birthdays above fall due on the real clock every 14 March, and the
# requeued message of 2027-03-14 once that day has passed.
rapport_config "$T_TMP/nojobs.conf" 'birthdays: { enabled = false; };'
later=$(psql_val "INSERT INTO rapport.outbox (job, channel, audience, recipient, template, locale, time_zone, context, dedupe_key, not_before, next_attempt_at)
                  VALUES ('birthdays', 'email', 'customer', 'later@example.com', 'birthday', 'en', 'UTC', '{}', 'ctl:later',
                          now() + interval '2 days', now() + interval '2 days') RETURNING id")
assert_exit 0 "cancel a message planned for later" -- "$RAPPORTCTL" --config "$CONF" cancel "$later"
assert_exit 0 "retry it" -- "$RAPPORTCTL" --config "$CONF" retry "$later"
assert_eq "queued|t" "$(psql_val "SELECT state, next_attempt_at = not_before FROM rapport.outbox WHERE id = $later" -F '|')" \
    "retried before its time: due at its planned not_before"
assert_exit 0 "rapportd --once ends with a retried future message queued" -- timeout 60 "$RAPPORTD" --config "$T_TMP/nojobs.conf" --once
assert_eq "queued" "$(psql_val "SELECT state FROM rapport.outbox WHERE id = $later")" "... and leaves it for its time"
psql_val "DELETE FROM rapport.outbox WHERE id = $later" >/dev/null
assert_exit 0 "status --json" -- "$RAPPORTCTL" --config "$CONF" status --json
assert_eq "birthdays" "$(printf '%s' "$T_OUT" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["job"])')" "status --json parses"
assert_eq '2 {"no e-mail address":1,"no e-mail consent":1}' "$(printf '%s' "$T_OUT" | jq -c '.jobs[0] | "\(.last_skipped) \(.last_skip_reasons | tojson)"' -r)" \
    "status --json: the last run's skips with their reasons"
assert_exit 0 "status" -- "$RAPPORTCTL" --config "$CONF" status
assert_contains "$T_OUT" "  skipped in the last run: no e-mail address 1, no e-mail consent 1" "status says why the last run skipped customers"
psql_val "ALTER TABLE rapport.suppression RENAME TO suppression_gone" >/dev/null
assert_exit 70 "status with a part that cannot be read: EX_SOFTWARE" -- "$RAPPORTCTL" --config "$CONF" status
assert_contains "$T_OUT" "FAILURES IN THE LAST 24 HOURS" "status with a part that cannot be read: the rest is still shown"
assert_contains "$T_OUT" "suppression" "status with a part that cannot be read: the error says which"
psql_val "ALTER TABLE rapport.suppression_gone RENAME TO suppression" >/dev/null
# check prepares every statement a job runs: the digest reads birthdays
# only when it builds a message, at send time, and a CRM view without the
# column is found now, not at the first digest.
rapport_config "$T_TMP/digest.conf" 'digest: { };'
psql_val "ALTER TABLE crm.customers RENAME COLUMN birthday TO bday" >/dev/null
assert_exit 78 "check: a column missing for the digest's build" -- "$RAPPORTCTL" --config "$T_TMP/digest.conf" check
assert_contains "$T_OUT" "job digest: the SQL that builds its messages when sent does not run against this database" "... names the job and the statement"
assert_contains "$T_OUT" "birthday" "... and the missing column"
psql_val "ALTER TABLE crm.customers RENAME COLUMN bday TO birthday" >/dev/null
assert_exit 0 "check: the column back, all checks pass" -- "$RAPPORTCTL" --config "$T_TMP/digest.conf" check
# Locales in the CRM that no template serves, nor their language: check
# warns, with how many active people get the default locale's words;
# zh-CN and en (templates of their own), zh_CN (the same tag) and
# en-GB (its language) are served and not named.
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.customers (id, name, tier, email, time_zone, locale, rep_id, consent_email, consent_sms, active) VALUES
 (901, '赵敏', 'A', 'zhao@example.cn', 'UTC', 'zh', 1, true, false, true),
 (902, '钱多', 'B', 'qian@example.cn', 'UTC', 'zh', 1, true, false, true),
 (903, 'Jean', 'B', 'jean@example.fr', 'UTC', 'fr', 1, true, false, true),
 (904, 'Gone', 'B', 'gone@example.fr', 'UTC', 'de', 1, true, false, false),
 (905, '孙立', 'B', 'sun@example.cn', 'UTC', 'zh_CN', 1, true, false, true),
 (906, 'Ann', 'B', 'ann@example.co.uk', 'UTC', 'en-GB', 1, true, false, true),
 (907, 'Eve', 'B', 'eve@example.com', 'UTC', E'xx\nerror: forged', 1, true, false, true);
INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES (901, 'Jeanne', 'jeanne@example.fr', 'UTC', 'fr', 8, true);
SQL
assert_exit 0 "check with locales no template serves: still passes" -- "$RAPPORTCTL" --config "$CONF" check
assert_contains "$T_OUT" 'warning: locale "zh" (2 active customer(s), 0 active rep(s)): no template is written for it or its language, so they get the default locale'"'"'s (en)' \
    "check names a CRM locale without templates, with how many it concerns"
assert_contains "$T_OUT" 'warning: locale "fr" (1 active customer(s), 1 active rep(s))' "... counting customers and reps apart"
assert_not_contains "$T_OUT" 'locale "de"' "... only active ones"
assert_contains "$T_OUT" 'warning: locale "xx error: forged" (1 active customer(s)' "... a control byte in a CRM locale cannot start a line of its own"
assert_not_contains "$T_OUT" $'\nerror: forged' "... (no forged line)"
assert_not_contains "$T_OUT" 'locale "zh_CN"' "... not a locale with templates under another spelling"
assert_not_contains "$T_OUT" 'locale "en-GB"' "... nor one whose language has templates"
psql_val "DELETE FROM crm.customers WHERE id > 900; DELETE FROM crm.reps WHERE id = 901" >/dev/null
assert_exit 0 "retry --failed with nothing failed" -- "$RAPPORTCTL" --config "$CONF" retry --failed
assert_contains "$T_OUT" "requeued 0 failed message(s)" "retry --failed says how many"
t_summary
