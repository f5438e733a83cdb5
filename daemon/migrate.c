/* Migrations: numbered SQL files compiled into the binary, applied in one
 * transaction under an advisory lock so two `rapportctl migrate` at once
 * serialise instead of colliding; the second finds nothing to do. */
#include <errno.h>
#include <stdio.h>

#include "db.h"
#include "log.h"
#include "migrations.h"

#define MIGRATION_LOCK "7470617070726f72" /* arbitrary, constant */

static int want_count(void) {
        int n = 0;
        while (migrations[n].name)
                n++;
        return n;
}

int db_check_migrated(PGconn *conn, int *have, int *want) {
        *want = want_count();
        *have = 0;
        _cleanup_(PQclearp) PGresult *res = NULL;
        int r = db_exec(conn, "Reading schema version",
                        "SELECT to_regclass('rapport.schema_migrations') IS NOT NULL", 0, NULL, &res);
        if (r < 0)
                return r;
        if (PQgetvalue(res, 0, 0)[0] != 't')
                return -ESTALE;
        PQclear(TAKE_PTR(res));
        r = db_exec(conn, "Reading schema version", "SELECT count(*) FROM rapport.schema_migrations", 0, NULL, &res);
        if (r < 0)
                return r;
        *have = atoi(PQgetvalue(res, 0, 0));
        return *have >= *want ? 0 : -ESTALE;
}

int db_refresh_time_zones(PGconn *conn) {
        return db_exec(conn, "Refreshing the list of time zones",
                       "WITH cur AS MATERIALIZED (SELECT DISTINCT name FROM pg_timezone_names),"
                       " gone AS (DELETE FROM rapport.time_zones t WHERE NOT EXISTS (SELECT 1 FROM cur WHERE cur.name = t.name))"
                       " INSERT INTO rapport.time_zones (name) SELECT name FROM cur ON CONFLICT DO NOTHING",
                       0, NULL, NULL);
}

int db_migrate(PGconn *conn, int *applied) {
        *applied = 0;
        int r = db_exec(conn, "Starting migration", "BEGIN", 0, NULL, NULL);
        if (r < 0)
                return r;
        r = db_exec(conn, "Taking the migration lock", "SELECT pg_advisory_xact_lock(x'" MIGRATION_LOCK "'::bigint)", 0, NULL, NULL);
        if (r >= 0)
                r = db_exec(conn, "Creating schema rapport", "CREATE SCHEMA IF NOT EXISTS rapport", 0, NULL, NULL);
        if (r >= 0)
                r = db_exec(conn, "Creating rapport.schema_migrations",
                            "CREATE TABLE IF NOT EXISTS rapport.schema_migrations ("
                            " version text PRIMARY KEY,"
                            " applied_at timestamptz NOT NULL DEFAULT now())",
                            0, NULL, NULL);
        for (int i = 0; r >= 0 && migrations[i].name; i++) {
                _cleanup_(PQclearp) PGresult *res = NULL;
                const char *p[] = {migrations[i].name};
                r = db_exec(conn, "Reading applied migrations",
                            "SELECT 1 FROM rapport.schema_migrations WHERE version = $1", 1, p, &res);
                if (r < 0 || PQntuples(res) > 0)
                        continue;
                /* Simple query protocol: a migration may hold many statements. */
                PGresult *m = PQexec(conn, migrations[i].sql);
                if (PQresultStatus(m) != PGRES_COMMAND_OK && PQresultStatus(m) != PGRES_TUPLES_OK) {
                        log_error("Migration %s failed: %s", migrations[i].name, PQresultErrorMessage(m));
                        r = -EIO;
                } else
                        r = db_exec(conn, "Recording migration",
                                    "INSERT INTO rapport.schema_migrations (version) VALUES ($1)", 1, p, NULL);
                PQclear(m);
                if (r >= 0) {
                        log_info("Applied migration %s", migrations[i].name);
                        (*applied)++;
                }
        }
        if (r < 0) {
                PQclear(PQexec(conn, "ROLLBACK"));
                *applied = 0;
                return r;
        }
        r = db_refresh_time_zones(conn);
        if (r < 0) {
                PQclear(PQexec(conn, "ROLLBACK"));
                *applied = 0;
                return r;
        }
        return db_exec(conn, "Committing migrations", "COMMIT", 0, NULL, NULL);
}
