#!/usr/bin/env bash
# `make demo`: the main job on demo data, end to end, on throwaway servers.
# Starts a private PostgreSQL cluster and an SMTP sink (both removed at the
# end), loads the CRM reference schema and a few thousand generated
# customers, migrates, checks, runs `rapportd --once`, and shows the
# birthday greetings that arrived in the sink.
#   DEMO_CUSTOMERS=N   how many customers to generate (default 3000)
#   DEMO_KEEP=DIR      copy the delivered Maildir to DIR before tearing down
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/tests/lib.sh"
source "$root/tests/rapport.sh"
customers=${DEMO_CUSTOMERS:-3000}
today=$(date -u +%F)
# 15:00 UTC is between 09:00 and midnight local in Shanghai, Berlin, UTC and
# New York alike, so every demo zone's birthday greetings are due.
now="${today}T15:00:00Z"
step() { printf '\n== %s\n' "$*"; }
t0=$(date +%s)

step "Starting a throwaway PostgreSQL and an SMTP sink"
rapport_db
smtp_start
echo "PostgreSQL on 127.0.0.1:$PGPORT, SMTP sink on 127.0.0.1:$SMTP_PORT (Maildir $SMTP_MAILDIR)"

step "Generating $customers demo customers (today = $today)"
psql -XAq -v ON_ERROR_STOP=1 -v customers="$customers" -v today="'$today'" -f "$root/etc/demo.sql" | tail -n 12

CONF=$T_TMP/rapport.conf
rapport_config "$CONF" 'birthdays: { schedule = "0 * * * *"; send_at = "09:00"; channels = [ "email" ]; max_lateness = "1d"; };'
step "rapportctl migrate"
"$RAPPORTCTL" --config "$CONF" migrate || exit 1
step "rapportctl check"
"$RAPPORTCTL" --config "$CONF" check || exit 1

step "rapportd --once --now $now"
start=$(date +%s.%N)
"$RAPPORTD" --config "$CONF" --once --now "$now" || exit 1
end=$(date +%s.%N)
n=$(mail_count)
printf 'rapportd planned and sent in %.2f s\n' "$(echo "$end - $start" | bc 2>/dev/null || python3 -c "print($end-$start)")"

step "Delivered to the demo SMTP sink: $n birthday greeting(s)"
mail_json | /usr/bin/python3 -c '
import json, sys
msgs = json.load(sys.stdin)
for m in msgs[:12]:
    print("  %-28s %s" % (", ".join(m["envelope_to"]), m["subject"]))
if len(msgs) > 12:
    print("  … and %d more" % (len(msgs) - 12))
zh = next((m for m in msgs if any("\u4e00" <= ch <= "\u9fff" for ch in m["subject"])), None)
if zh:
    print("\n-- one of them, as the customer reads it --")
    print("From:    " + zh["from"])
    print("To:      " + zh["to"])
    print("Subject: " + zh["subject"] + "\n")
    print(zh["text"])
'

step "Running it again delivers nothing new"
"$RAPPORTD" --config "$CONF" --once --now "$now" 2>/dev/null
echo "messages in the sink: $(mail_count) (was $n)"

step "rapportctl status --now $now"
"$RAPPORTCTL" --config "$CONF" status --now "$now"

if [[ -n ${DEMO_KEEP:-} ]]; then
        mkdir -p "$DEMO_KEEP" && cp -r "$SMTP_MAILDIR"/. "$DEMO_KEEP"/
        echo "Maildir copied to $DEMO_KEEP"
fi
printf '\nDemo finished in %d s; the throwaway servers are being removed.\n' "$(( $(date +%s) - t0 ))"
_T_SUMMARY_DONE=1
[[ $n -gt 0 ]]
