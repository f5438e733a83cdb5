#!/bin/sh
# Create the reference CRM schema (idempotent) and fill it with demo data.
#   etc/demo-data.sh [CUSTOMERS [YYYY-MM-DD]]
# Connects like psql does (PGHOST, PGPORT, PGDATABASE, PGUSER, ...).
# Replaces all rows in schema crm; see etc/demo.sql for the data's rules.
set -eu

here=$(dirname "$0")
customers=${1:-3000}
today=${2:-current_date}

case $customers in
    ''|*[!0-9]*) echo "demo-data.sh: CUSTOMERS must be a positive integer, got '$customers'" >&2; exit 64 ;;
esac
case $today in
    current_date|[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]) ;;
    *) echo "demo-data.sh: date must be YYYY-MM-DD, got '$today'" >&2; exit 64 ;;
esac

# "already exists" notices from a re-run are expected, not news.
PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
export PGOPTIONS

psql -X -q -v ON_ERROR_STOP=1 -f "$here/crm.sql"
psql -X -q -v ON_ERROR_STOP=1 -v customers="$customers" -v today="$today" -f "$here/demo.sql"
