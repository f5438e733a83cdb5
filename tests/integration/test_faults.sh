#!/usr/bin/env bash
# The fault suite, small: 1,000 messages a scenario and 5-second outages,
# so `make check` proves nothing is lost or doubled under kill -9, three
# instances, a PostgreSQL restart, a database down at start, an SMTP outage
# or slow server, a broken reload, a failing SMS gateway, a stale worker,
# host clocks 5 minutes off and unreadable or truncated files at reload.
# `make faults` runs it at full size.
FAULT_N=${FAULT_N:-1000} FAULT_DOWN=${FAULT_DOWN:-5} exec bash "$(dirname "$0")/../faults/faults.sh"
