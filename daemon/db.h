#pragma once
/* PostgreSQL access shared by rapportd and rapportctl.  Queries are
 * set-based statements with a statement_timeout, run synchronously: the
 * dispatcher's claims are short; planning, which takes long, and the
 * recording of sent messages, which comes often, run on threads of their
 * own in rapportd (plan_worker.h, db_worker.h).  A connection belongs
 * to one thread. */
#include <libpq-fe.h>
#include <stdbool.h>

#include "util.h"

struct rapport_config;

DEFINE_TRIVIAL_CLEANUP_FUNC(PGresult *, PQclear);
DEFINE_TRIVIAL_CLEANUP_FUNC(PGconn *, PQfinish);

/* Connect with the config's conninfo and password; logs once on failure
 * (unless quiet) and returns -ECONNREFUSED. */
int db_connect(const struct rapport_config *c, const char *application_name, bool quiet, PGconn **ret);
/* db_connect() with the settings given apart: for a thread that must not
 * read a configuration a reload may free meanwhile. */
int db_connect_to(const char *conninfo, const char *password, const char *application_name, bool quiet, PGconn **ret);

/* Run a parameterised statement; NULL entries in params are SQL NULL.
 * On error logs "what: message" and returns -EIO; *ret may be NULL when
 * the caller does not need the result. */
int db_exec(PGconn *conn, const char *what, const char *sql, int n, const char *const *params, PGresult **ret);
/* As db_exec, with the parameters' types given (pg_type OIDs; 0 leaves
 * one to the server): a parameter the statement does not mention is
 * then no error. */
int db_exec_typed(PGconn *conn, const char *what, const char *sql, int n, const Oid *types, const char *const *params,
                  PGresult **ret);

/* A statement prepared once per connection (PQprepare) and then executed
 * by name: the hot dispatcher statements skip parsing and, after a few
 * runs, planning.  `name` must be unique in the program; a reconnected or
 * reset session prepares again by itself. */
struct db_stmt {
        const char *name;
        const char *sql;
        int n_params;
};
/* As db_exec, for a prepared statement. */
int db_exec_prepared(PGconn *conn, const char *what, const struct db_stmt *s, const char *const *params, PGresult **ret);

/* True when the connection is gone (the daemon then reconnects). */
bool db_broken(PGconn *conn);

/* Apply every missing migration (etc/migrations, compiled in) in one
 * transaction under an advisory lock.  *applied receives how many ran. */
int db_migrate(PGconn *conn, int *applied);
/* Copy PostgreSQL's zone names (pg_timezone_names, slow to query) into
 * rapport.time_zones, which the jobs check recipients' zones against. */
int db_refresh_time_zones(PGconn *conn);
/* 0 when the schema is at the latest version, -ESTALE when behind. */
int db_check_migrated(PGconn *conn, int *have, int *want);
