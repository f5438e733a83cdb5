/* Prints the receivables job's build statement (the message as the
 * dispatcher builds it at send time), for test_plan_reference_more.sh to
 * run through psql: the outbox keeps only the planned skeleton. */
#include <stdio.h>
#include "../../jobs/receivables.c"

int main(void) {
        (void)receivables_settings;
        (void)plan_sql;
        (void)still_due_sql;
        fputs(build_sql, stdout);
        return 0;
}
