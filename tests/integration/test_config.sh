#!/usr/bin/env bash
# Bad input at the edges: configuration errors name file, line and setting
# and exit 78; a missing template fails `rapportctl check`; migrations are
# idempotent and safe to run concurrently; an unreachable database gives
# one clear line and exit 69; the daemon waits for a database that is down.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
CONF=$T_TMP/rapport.conf
rapport_config "$CONF"

assert_exit 0 "-n accepts the test config" -- "$RAPPORTD" --config "$CONF" -n
assert_contains "$T_OUT" "configuration OK" "-n prints configuration OK"
sed "s|/usr/local/share/rapport/templates|$T_ROOT/templates|" "$T_ROOT/etc/rapport.conf" >"$T_TMP/sample.conf"
assert_exit 0 "the sample config is valid" -- "$RAPPORTD" --config "$T_TMP/sample.conf" -n
# So is README's "essentials" block (with its templates, and the SMS token
# beside it, as the credential would give it).
mkdir -p "$T_TMP/readme"
awk '/The essentials:/ { s = 1; next } s && /^```/ { if (s++ == 2) exit; next } s == 2' "$T_ROOT/README.md" |
    sed "s|/usr/local/share/rapport/templates|$T_ROOT/templates|" >"$T_TMP/readme/rapport.conf"
printf 'tok\n' >"$T_TMP/readme/sms-token"
assert_exit 0 "README's essentials block is a valid configuration" -- env -u CREDENTIALS_DIRECTORY "$RAPPORTD" --config "$T_TMP/readme/rapport.conf" -n

bad() { # NAME SED-EXPRESSION EXPECTED-TEXT
    local f=$T_TMP/bad-$RANDOM.conf
    sed "$2" "$CONF" >"$f"
    assert_exit 78 "$1: exit 78" -- "$RAPPORTD" --config "$f" -n
    assert_contains "$T_OUT" "$3" "$1: message"
    assert_exit 78 "$1: rapportctl check exits 78" -- "$RAPPORTCTL" --config "$f" check
}
line=$(grep -n '^email:' "$CONF" | cut -d: -f1)
bad "syntax error" 's/^locale = "en";/locale = ;/' ".conf:2: syntax error"
bad "unknown key" "s/^  tls = \"none\";/  tls = \"none\"; smtp_urll = \"x\";/" ".conf:$((line + 3)): email.smtp_urll: unknown setting"
# libconfig 1.5 reads an integer too big for 32 bits as its low 32 bits
# (4294967300 as 4): refused, with the setting named; the L suffix is the
# way to write a 64-bit one, and strings, names and floats are no integers.
bad "integer past 32 bits" 's/connections = 4;/connections = 4294967300;/' \
    "email.connections: 4294967300 does not fit a 32-bit integer"
bad "hexadecimal past 32 bits" 's/connections = 4;/connections = 0x100000004;/' \
    "email.connections: 0x100000004 does not fit a 32-bit integer"
bad "64-bit integer out of range" 's/connections = 4;/connections = 4294967300L;/' \
    "email.connections: 4294967300 out of range 1-256"
f=$T_TMP/bigstrings.conf
sed 's/^locale = "en";/locale = "en"; # 99999999999 in a comment\n\/* 88888888888 *\/ instance = "x99999999999";/' "$CONF" >"$f"
assert_exit 0 "long digit runs in comments, strings and names are no integers" -- "$RAPPORTD" --config "$f" -n
bad "wrong type" 's/connections = 4;/connections = "four";/' "email.connections: expected an integer"
bad "bad value" 's/tls = "none";/tls = "sometimes";/' 'email.tls: expected one of "required", "opportunistic", "none"'
bad "bad cron" 's/schedule = "0 \* \* \* \*"/schedule = "0 0 32 * *"/' "jobs.birthdays.schedule: day-of-month 32 out of range 1-31"
bad "never-firing cron" 's/schedule = "0 \* \* \* \*"/schedule = "0 0 30 2 *"/' "never fires"
bad "unknown time zone" 's/^time_zone = "UTC";/time_zone = "Mars\/Olympus";/' 'time_zone: unknown time zone "Mars/Olympus"'
# An unknown default zone is one error at its own line, not one more at
# every job that inherits it (pointing at a line without a time_zone).
f=$T_TMP/badzone.conf
sed 's/^time_zone = "UTC";/time_zone = "Asia\/Shangai";/' "$CONF" >"$f"
assert_exit 78 "unknown default zone: exit 78" -- "$RAPPORTD" --config "$f" -n
assert_contains "$T_OUT" "1 error in configuration" "unknown default zone: reported once"
assert_not_contains "$T_OUT" "jobs.birthdays: unknown time zone" "... not again at the job that inherits it"
bad "unknown job time zone" 's/send_at = "09:00"/send_at = "09:00"; time_zone = "Europe\/Berln"/' \
    'jobs.birthdays.time_zone: unknown time zone "Europe/Berln"'
bad "unknown channel" 's/channels = \[ "email" \]/channels = [ "e-mail" ]/' \
    'jobs.birthdays.channels[0]: "e-mail" is not one of "email", "sms"'
bad "unknown job" 's/birthdays: {/birthdayz: {/' "jobs.birthdayz: unknown job"
bad "bad send_at" 's/send_at = "09:00"/send_at = "9 o clock"/' 'jobs.birthdays.send_at: expected a time of day'
bad "impossible effective_from" 's/effective_from = "2020-01-01"/effective_from = "2027-02-30"/' \
    'jobs.birthdays.effective_from: "2027-02-30" is not a real date "YYYY-MM-DD"'
# A relative file setting starts from the configuration's directory, not
# from the current one: the service runs from /, so a path that `rapportd -n`
# accepts in /etc/rapport must name the same file there.
mkdir -p "$T_TMP/reldir/tpl"
cp -r "$T_ROOT/templates/." "$T_TMP/reldir/tpl/"
printf 'smtp-secret\n' >"$T_TMP/reldir/smtp.pw"
sed -e "s|dir = \"[^\"]*\"|dir = \"tpl\"|" -e 's|^  tls = "none";|  tls = "none"; password_file = "smtp.pw";|' \
    "$CONF" >"$T_TMP/reldir/rapport.conf"
assert_exit 0 "relative templates.dir and password_file: valid from another directory" -- \
    bash -c "cd / && '$RAPPORTD' --config '$T_TMP/reldir/rapport.conf' -n"
# (The database is not migrated yet here: check says so, exit 69.)
out=$(cd / && "$RAPPORTCTL" --config "$T_TMP/reldir/rapport.conf" check 2>&1)
assert_contains "$out" "templates: $T_TMP/reldir/tpl OK" "... and rapportctl check finds the templates there"
rm "$T_TMP/reldir/smtp.pw"
assert_exit 78 "relative password_file: read beside the configuration" -- bash -c "cd / && '$RAPPORTD' --config '$T_TMP/reldir/rapport.conf' -n"
assert_contains "$T_OUT" "cannot read secret file $T_TMP/reldir/smtp.pw" "... the message names the file it looked for"
# A configuration that does not load at all: check still reads its
# templates.dir from the file's directory, not from the current one.
sed 's/^time_zone = "UTC";/time_zone = "Mars\/Olympus";/' "$T_TMP/reldir/rapport.conf" >"$T_TMP/reldir/broken.conf"
out=$(cd / && "$RAPPORTCTL" --config "$T_TMP/reldir/broken.conf" check 2>&1)
assert_contains "$out" "templates: $T_TMP/reldir/tpl OK" "a broken configuration: check still finds the relative templates.dir"
bad "unreadable ca_file" 's|^  tls = "none";|  tls = "none"; ca_file = "/nonexistent/ca.pem";|' \
    'email.ca_file: cannot read /nonexistent/ca.pem: No such file or directory'
bad "unreadable secret" 's|^  tls = "none";|  tls = "none"; password_file = "/nonexistent/pw";|' "cannot read secret file /nonexistent/pw"
bad "unreadable secret: the setting named" 's|^  tls = "none";|  tls = "none"; password_file = "/nonexistent/pw";|' "email.password_file: cannot read secret file"
bad "bad locale" 's/^locale = "en";/locale = "xx-!!";/' 'conf:2: locale: "xx-!!" is not a language tag'
bad "empty locale" 's/^locale = "en";/locale = "";/' 'locale: "" is not a language tag'
bad "conninfo libpq cannot read" "s|conninfo = \"|conninfo = \"bogus_option=1 |" \
    'database.conninfo: not a valid libpq connection string: invalid connection option "bogus_option"'
sed "s|conninfo = \"|conninfo = \"password=Leaky123 |" "$CONF" >"$T_TMP/pw.conf"
assert_exit 0 "a password in conninfo still works" -- "$RAPPORTD" --config "$T_TMP/pw.conf" -n
assert_contains "$T_OUT" "database.conninfo: holds a password; move it to database.password_file or the credential db-password" \
    "... with a warning saying where it belongs"
assert_not_contains "$T_OUT" "Leaky123" "... and the password itself is not repeated"
bad "empty template name" 's/birthdays: {/birthdays: { template = "";/' \
    'jobs.birthdays.template: must name a template (default "birthday")'
# The structured job settings are checked when the file is read, not when
# the job first runs (it would fail every hour instead).
bad "response_hours: unknown severity" "s/birthdays: {/complaints: { response_hours = { urgent = 2; }; }; birthdays: {/" \
    "jobs.complaints.response_hours.urgent: unknown setting 'urgent' in response_hours (known: critical, high, normal, low)"
bad "response_hours: not a duration" "s/birthdays: {/complaints: { response_hours = { low = \"a week\"; }; }; birthdays: {/" \
    'jobs.complaints.response_hours.low: expected hours (a number) or a duration such as "90m", "4h" or "7d"'
bad "response_hours: negative" "s/birthdays: {/complaints: { response_hours = { high = -5; }; }; birthdays: {/" \
    "jobs.complaints.response_hours.high: expected more than 0 hours"
bad "ladder: bad audience" "s/birthdays: {/receivables: { levels = ( { days = 1; audience = \"boss\"; template = \"dunning_friendly\"; } ); }; birthdays: {/" \
    'jobs.receivables.levels[0].audience: audience must be "customer", "rep" or "manager"'
bad "ladder: no days" "s/birthdays: {/receivables: { levels = ( { channel = \"sms\"; template = \"dunning_firm\"; } ); }; birthdays: {/" \
    "jobs.receivables.levels[0]: days (past the due date; negative: before it) must be an integer"
bad "ladder: bad channel" "s/birthdays: {/receivables: { levels = ( { days = 15; channels = [\"email\", \"fax\"]; template = \"dunning_firm\"; } ); }; birthdays: {/" \
    'jobs.receivables.levels[0].channels[1]: expected one of ["email", "sms"]'
bad "holidays: impossible date" "s/birthdays: {/holidays: { dates = ( { name = \"X\"; date = \"2026-13-45\"; } ); }; birthdays: {/" \
    'jobs.holidays.dates[0].date: date must be a real date "YYYY-MM-DD"'
bad "holidays: no name" "s/birthdays: {/holidays: { dates = ( { date = \"2027-02-06\"; } ); }; birthdays: {/" \
    "jobs.holidays.dates[0]: name must be a non-empty string"
bad "holidays: unknown tier" "s/birthdays: {/holidays: { dates = ( { name = \"X\"; date = \"2027-02-06\"; tiers = [\"D\"]; } ); }; birthdays: {/" \
    'jobs.holidays.dates[0].tiers[0]: expected one of ["A", "B", "C"]'
# Outside the unit (no $CREDENTIALS_DIRECTORY) a secret without a *_file
# setting is the file named like its credential beside the configuration,
# as rapport.conf(5) and rapportctl(8) say: twilio needs the token, so -n
# shows whether it was found.
mkdir -p "$T_TMP/beside"
SMS_FORMAT=twilio SMS_EXTRA='username = "AC1";' rapport_config "$T_TMP/beside/rapport.conf"
assert_exit 78 "no sms-token beside the configuration: twilio refused" -- env -u CREDENTIALS_DIRECTORY "$RAPPORTD" --config "$T_TMP/beside/rapport.conf" -n
printf 'tok\n' >"$T_TMP/beside/sms-token"
assert_exit 0 "sms-token beside the configuration is read" -- env -u CREDENTIALS_DIRECTORY "$RAPPORTD" --config "$T_TMP/beside/rapport.conf" -n
env -u CREDENTIALS_DIRECTORY "$RAPPORTCTL" --config "$T_TMP/beside/rapport.conf" check >"$T_TMP/beside/check.out" 2>&1
assert_contains "$(cat "$T_TMP/beside/check.out")" "configuration: $T_TMP/beside/rapport.conf OK" "... by rapportctl too"
# A required setting whose group is absent has no line: the file is
# named as a whole, not as "file:0: (top level)".
sed '/^database:/d' "$CONF" >"$T_TMP/nodb.conf"
assert_exit 78 "no database group: exit 78" -- "$RAPPORTD" --config "$T_TMP/nodb.conf" -n
assert_contains "$T_OUT" "nodb.conf: database.conninfo is required" "no database group: the setting named"
assert_not_contains "$T_OUT" ":0:" "... with no line 0"
# @include "name" is relative to the main file's directory, as libconfig
# is told to read it, whatever the current directory (the service's is /).
mkdir -p "$T_TMP/incdir"
grep -v '^locale' "$CONF" >"$T_TMP/incdir/main.conf"
printf '@include "locale.conf"\n' >>"$T_TMP/incdir/main.conf"
printf 'locale = "zh-CN";\n' >"$T_TMP/incdir/locale.conf"
assert_exit 0 "@include of a relative name, from another directory" -- bash -c "cd / && '$RAPPORTD' --config '$T_TMP/incdir/main.conf' -n"
printf 'locale = "xx-!!";\n' >"$T_TMP/incdir/locale.conf"
assert_exit 78 "... and it is that file which is read" -- bash -c "cd / && '$RAPPORTD' --config '$T_TMP/incdir/main.conf' -n"
assert_contains "$T_OUT" 'locale.conf:1: locale: "xx-!!" is not a language tag' "... its errors name it"
# An absolute @include names that file, as it did before includes became
# relative to the main file's directory (libconfig 1.5's include_dir would
# prefix it: "/dir//dir/locale.conf", "cannot open include file").
printf 'locale = "zh-CN";\n' >"$T_TMP/incdir/locale.conf"
grep -v '^locale' "$CONF" >"$T_TMP/incdir/abs.conf"
printf '@include "%s"\n' "$T_TMP/incdir/locale.conf" >>"$T_TMP/incdir/abs.conf"
assert_exit 0 "@include of an absolute name" -- bash -c "cd / && '$RAPPORTD' --config '$T_TMP/incdir/abs.conf' -n"
assert_exit 0 "... and with the main file named relatively" -- bash -c "cd '$T_TMP' && '$RAPPORTD' --config incdir/abs.conf -n"
printf '@include "/etc"\n' >"$T_TMP/inc.conf"
assert_exit 78 "@include of a directory is refused, not fatal" -- "$RAPPORTD" --config "$T_TMP/inc.conf" -n
assert_contains "$T_OUT" 'inc.conf:1: @include "/etc": not a readable regular file' "@include: file and line"
# libconfig reads on past a NUL byte (and exits on an @include of a
# directory behind it): such a file is refused as a whole.
printf '# a\0b\n@include "/etc"\n' >"$T_TMP/nul.conf"
assert_exit 78 "a NUL byte in the file is refused, not fatal" -- "$RAPPORTD" --config "$T_TMP/nul.conf" -n
assert_contains "$T_OUT" 'nul.conf:1: contains a NUL byte' "NUL byte: file and line"
assert_exit 78 "missing file: exit 78" -- "$RAPPORTD" --config "$T_TMP/nope.conf" -n
assert_contains "$T_OUT" "nope.conf: cannot read configuration" "missing file: message"

# Several errors are all reported, not just the first.
sed -e 's/connections = 4;/connections = "four";/' -e 's/tls = "none";/tls = "sometimes";/' "$CONF" >"$T_TMP/two.conf"
assert_exit 78 "two errors" -- "$RAPPORTD" --config "$T_TMP/two.conf" -n
assert_contains "$T_OUT" "2 errors in configuration" "both errors reported"

# A user name without a password would have every message refused (535)
# and retried: refused at load instead, found in the credential too.
sed "s|^  tls = \"none\";|  tls = \"none\"; username = \"u\";|" "$CONF" >"$T_TMP/user-only.conf"
assert_exit 78 "email.username without a password: exit 78" -- env -u CREDENTIALS_DIRECTORY "$RAPPORTD" --config "$T_TMP/user-only.conf" -n
assert_contains "$T_OUT" "email.username: given, but no password: set email.password_file or the credential smtp-password" \
    "email.username without a password: says where the password goes"
mkdir -p "$T_TMP/creds" && echo "cred-pw" >"$T_TMP/creds/smtp-password"
assert_exit 0 "email.username with the credential smtp-password: accepted" -- \
    env CREDENTIALS_DIRECTORY="$T_TMP/creds" "$RAPPORTD" --config "$T_TMP/user-only.conf" -n
assert_contains "$T_OUT" 'email.tls = "none" with email.username: the SMTP password goes in clear text' \
    "a password with tls = none: warned that it may go in clear text"
sed 's|^  tls = "none";|  tls = "required"; username = "u";|' "$CONF" >"$T_TMP/user-tls.conf"
assert_exit 0 "email.username with tls = required: accepted" -- \
    env CREDENTIALS_DIRECTORY="$T_TMP/creds" "$RAPPORTD" --config "$T_TMP/user-tls.conf" -n
assert_not_contains "$T_OUT" "clear text" "... without the clear-text warning"

# The secret itself never appears in output.
echo "s3cret-Pa55" >"$T_TMP/pw"
sed "s|^  tls = \"none\";|  tls = \"none\"; password_file = \"$T_TMP/pw\"; username = \"u\";|" "$CONF" >"$T_TMP/secret.conf"
assert_exit 0 "password_file accepted" -- "$RAPPORTD" --config "$T_TMP/secret.conf" -n
assert_exit 0 "migrate" -- "$RAPPORTCTL" --config "$CONF" migrate
out=$("$RAPPORTCTL" --config "$T_TMP/secret.conf" check 2>&1; "$RAPPORTD" --config "$T_TMP/secret.conf" --once --now 2026-01-01T00:00:00Z 2>&1)
[[ $out != *s3cret* ]] && t_pass "secret never printed" || t_fail "secret never printed" "$out"

# Templates: a broken one is reported with file:line:column; a missing one fails check.
mkdir -p "$T_TMP/tpl"
cp "$T_ROOT"/templates/*.mustache "$T_TMP/tpl/"
TEMPLATES_DIR=$T_TMP/tpl rapport_config "$T_TMP/tpl.conf"
assert_exit 0 "check passes with the default templates" -- "$RAPPORTCTL" --config "$T_TMP/tpl.conf" check
printf 'Subject: hi\n\nline two\n{{#open}}\nnever closed\n' >"$T_TMP/tpl/birthday.email.en.mustache"
assert_exit 78 "broken template: check fails" -- "$RAPPORTCTL" --config "$T_TMP/tpl.conf" check
assert_contains "$T_OUT" "birthday.email.en.mustache:4:1: unclosed section 'open'" "broken template: file, line and column"
assert_exit 78 "broken template: rapportd refuses to start" -- "$RAPPORTD" --config "$T_TMP/tpl.conf" -n
rm "$T_TMP/tpl/birthday.email.en.mustache" "$T_TMP"/tpl/birthday.email.zh-CN.mustache
assert_exit 78 "missing template: check fails" -- "$RAPPORTCTL" --config "$T_TMP/tpl.conf" check
assert_contains "$T_OUT" "no template birthday.email.en.mustache" "missing template named"

# Migrations: twice is a no-op; concurrent runs serialise on the advisory lock.
assert_exit 0 "migrate again" -- "$RAPPORTCTL" --config "$CONF" migrate
assert_contains "$T_OUT" "up to date" "second migrate is a no-op"
psql -XAtq -c "DROP SCHEMA rapport CASCADE"
for i in 1 2 3; do "$RAPPORTCTL" --config "$CONF" migrate >"$T_TMP/mig$i.log" 2>&1 & done
rcs=0; for job in $(jobs -p); do wait "$job" || rcs=$((rcs + 1)); done
assert_eq 0 "$rcs" "three concurrent migrates all succeed"
nmig=$(ls "$T_ROOT"/etc/migrations/*.sql | wc -l)
assert_eq "$nmig" "$(psql_val "SELECT count(*) FROM rapport.schema_migrations")" "each migration recorded once"
assert_eq 1 "$(cat "$T_TMP"/mig*.log | grep -c "applied $nmig migration")" "exactly one of them applied them"

# Database unreachable: one clear line, exit 69.
sed "s/port=$PGPORT/port=1/" "$CONF" >"$T_TMP/down.conf"
assert_exit 69 "rapportctl status: database unreachable" -- "$RAPPORTCTL" --config "$T_TMP/down.conf" status
assert_eq 1 "$(printf '%s\n' "$T_OUT" | grep -c .)" "one line of error"
assert_contains "$T_OUT" "Cannot connect to the database" "says what is wrong"

# The daemon waits for a database that is down at start, then carries on.
pg_stop
t_spawn rapportd "$RAPPORTD" --config "$CONF"
wait_until "grep -q 'Cannot connect to the database' '$(t_log rapportd)'" 10 && t_pass "daemon logs the unreachable database" || t_fail "daemon logs the unreachable database" "$(cat "$(t_log rapportd)")"
kill -0 "$T_SPAWN_PID" 2>/dev/null && t_pass "daemon keeps running without a database" || t_fail "daemon keeps running without a database" "exited"
pg_restart_server
wait_until "grep -q 'Connected to the database' '$(t_log rapportd)'" 20 && t_pass "daemon connects once the database is back" || t_fail "daemon connects once the database is back" "$(cat "$(t_log rapportd)")"
t_stop rapportd TERM 15
assert_eq 0 "$T_STOP_RC" "daemon stops cleanly on SIGTERM"
t_summary
