# shellcheck shell=bash
# Helpers of the reference-model tests (test_plan_reference*.sh,
# test_digest_reference.sh), sourced after tests/lib.sh and tests/rapport.sh.
# A scenario directory, as the models' `gen` writes it, holds data.sql,
# jobs.conf and default_tz.

# load DIR — an empty CRM and rapport state, the scenario's rows, and its
# configuration in DIR/rapport.conf.
load() {
    psql -XAtq -v ON_ERROR_STOP=1 \
        -c "TRUNCATE crm.interactions, crm.invoices, crm.complaints, crm.customers, crm.reps,
                     rapport.outbox, rapport.job_runs, rapport.skipped, rapport.suppression, rapport.dunning_items CASCADE" \
        -f "$1/data.sql" >/dev/null
    rapport_config "$1/rapport.conf" "$(cat "$1/jobs.conf")"
    sed -i "s|^time_zone = .*|time_zone = \"$(cat "$1/default_tz")\";|" "$1/rapport.conf"
}

# run_jobs CONF NOW — plan each job of the JOBS array at NOW; prints
# nothing, returns non-zero (and says why) if one fails.
run_jobs() {
    local job out
    for job in "${JOBS[@]}"; do
        if ! out=$("$RAPPORTCTL" --config "$1" run "$job" --now "$2" 2>&1); then
            printf '%s at %s: %s\n' "$job" "$2" "$out"
            return 1
        fi
    done
}

# outbox [EXTRA] — "job|key|recipient|not_before[EXTRA]" of every row, sorted;
# then the outbox (and what runs recorded) is emptied for the next first run.
outbox() {
    psql -XAtq -v ON_ERROR_STOP=1 \
        -c "SELECT o.job || '|' || o.dedupe_key || '|' || o.recipient || '|'
                   || to_char(o.not_before AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') ${1:-}
            FROM rapport.outbox o LEFT JOIN rapport.job_runs r ON r.id = o.run_id" \
        -c "TRUNCATE rapport.outbox, rapport.job_runs, rapport.skipped, rapport.dunning_items CASCADE" | LC_ALL=C sort
}

# same NAME EXPECTED GOT — assert_eq, with a diff of the lines on failure.
same() {
    if [[ $2 == "$3" ]]; then
        t_pass "$1"
    else
        t_fail "$1" "$(diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") | grep '^[<>]' |
            sed 's/^</    expected only:/; s/^>/    planned only: /' | head -20 | sed '1s/^/\n/')"
    fi
}
