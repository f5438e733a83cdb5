#include "db.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"

/* What the server says outside a statement's result (a WARNING, or the
 * FATAL notice of a server shutting down that precedes the lost
 * connection) goes to the log like everything else, not raw to stderr
 * (libpq's default). */
static void db_notice(void *userdata, const char *message) {
        (void)userdata;
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", message);
        msg[strcspn(msg, "\n")] = '\0';
        static const char *const serious[] = {"WARNING", "ERROR", "FATAL", "PANIC"};
        int prio = LOG_NOTICE;
        for (size_t i = 0; i < ELEMENTSOF(serious); i++)
                if (strncmp(msg, serious[i], strlen(serious[i])) == 0)
                        prio = LOG_WARNING;
        log_full(prio, 0, NULL, "Database server: %s", msg);
}

int db_connect(const struct rapport_config *c, const char *application_name, bool quiet, PGconn **ret) {
        return db_connect_to(c->conninfo, c->db_password, application_name, quiet, ret);
}

int db_connect_to(const char *conninfo, const char *password, const char *application_name, bool quiet, PGconn **ret) {
        /* Order matters: with expand_dbname, later keywords override earlier
         * ones, so our defaults go before the administrator's conninfo and
         * the secret file after it. */
        const char *keys[11], *vals[11];
        int n = 0;
        keys[n] = "connect_timeout", vals[n++] = "5";
        /* Every statement blocks the event loop until its answer, and the
         * server's statement_timeout cannot end a wait for a server that is
         * gone (a partition, a host that lost power): the kernel would
         * retransmit for a quarter of an hour meanwhile, the daemon deaf to
         * SIGTERM.  Unacknowledged data for 30 s, or a silent peer missing
         * three keepalives after 30 s idle, drops the connection instead;
         * the dispatcher then keeps outcomes and reconnects.  TCP only: a
         * Unix socket ignores them. */
        keys[n] = "keepalives", vals[n++] = "1";
        keys[n] = "keepalives_idle", vals[n++] = "30";
        keys[n] = "keepalives_interval", vals[n++] = "10";
        keys[n] = "keepalives_count", vals[n++] = "3";
        keys[n] = "tcp_user_timeout", vals[n++] = "30000";
        keys[n] = "application_name", vals[n++] = application_name;
        keys[n] = "dbname", vals[n++] = conninfo;
        if (password)
                keys[n] = "password", vals[n++] = password;
        keys[n] = NULL, vals[n] = NULL;

        _cleanup_(PQfinishp) PGconn *conn = PQconnectdbParams(keys, vals, 1);
        if (!conn)
                return log_error_errno(-ENOMEM, "Cannot allocate database connection");
        if (PQstatus(conn) != CONNECTION_OK) {
                if (!quiet) {
                        char msg[512];
                        snprintf(msg, sizeof msg, "%s", PQerrorMessage(conn));
                        msg[strcspn(msg, "\n")] = '\0';
                        log_error("Cannot connect to the database: %s", msg);
                }
                return -ECONNREFUSED;
        }
        /* Simple query protocol: several statements in one round trip.
         * JIT off: planning statements are short and index-driven, and
         * compiling them costs more than it saves (birthdays at 100k
         * customers: 1.27 s with JIT, 0.30 s without). */
        PQsetNoticeProcessor(conn, db_notice, NULL);
        PGresult *r = PQexec(conn, "SET statement_timeout = '60s'; SET lock_timeout = '30s'; SET client_min_messages = warning; SET jit = off; SET TIME ZONE 'UTC'");
        PQclear(r);
        *ret = TAKE_PTR(conn);
        return 0;
}

static int fail(PGconn *conn, PGresult *res, const char *what);
static bool result_ok(PGresult *res);

/* A statement's result to the caller (or cleared if it wants none), or
 * its failure logged once. */
static int hand_over(PGconn *conn, PGresult *res, const char *what, PGresult **ret) {
        if (!result_ok(res))
                return fail(conn, res, what);
        if (ret)
                *ret = res;
        else
                PQclear(res);
        return 0;
}

int db_exec_typed(PGconn *conn, const char *what, const char *sql, int n, const Oid *types, const char *const *params,
                  PGresult **ret) {
        return hand_over(conn, PQexecParams(conn, sql, n, types, params, NULL, NULL, 0), what, ret);
}

int db_exec(PGconn *conn, const char *what, const char *sql, int n, const char *const *params, PGresult **ret) {
        return db_exec_typed(conn, what, sql, n, NULL, params, ret);
}

static int fail(PGconn *conn, PGresult *res, const char *what) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        msg[strcspn(msg, "\n")] = '\0';
        log_error("%s: %s", what, msg);
        PQclear(res);
        return -EIO;
}

static bool result_ok(PGresult *res) {
        ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

static bool result_sqlstate(PGresult *res, const char *state) {
        const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        return s && streq(s, state);
}

/* Which statements each connection has prepared.  A connection is known by
 * its handle and its server process: a reconnect gets a new backend (and
 * usually a new handle), and its statements are prepared again.  Should the
 * bookkeeping ever be wrong — the server forgot them (DISCARD ALL, a pooler)
 * or already has them — the server's answer corrects it (26000, 42P05).
 * Per thread, since connections are used by one thread at a time: the
 * dispatcher's by the loop, the recorder's by its thread, the planner's by
 * each pass's thread in turn
 * (which uses no prepared statement: one prepared again inside a
 * transaction would abort it on 42P05). */
#define DB_CONNS_MAX 4
#define DB_STMTS_MAX 32
static _Thread_local struct db_prepared {
        PGconn *conn;
        int pid;
        unsigned n;
        const struct db_stmt *stmts[DB_STMTS_MAX];
        unsigned long used;
} prepared[DB_CONNS_MAX];
static _Thread_local unsigned long prepared_clock;

static struct db_prepared *prepared_for(PGconn *conn) {
        int pid = PQbackendPID(conn);
        struct db_prepared *slot = &prepared[0];
        for (size_t i = 0; i < DB_CONNS_MAX; i++) {
                if (prepared[i].conn == conn && prepared[i].pid == pid) {
                        slot = &prepared[i];
                        slot->used = ++prepared_clock;
                        return slot;
                }
                if (prepared[i].used < slot->used)
                        slot = &prepared[i];
        }
        /* New (or reconnected) connection: take the least recently used
         * slot; forgetting another connection's statements only costs it a
         * "duplicate statement" answer later. */
        *slot = (struct db_prepared){.conn = conn, .pid = pid, .used = ++prepared_clock};
        return slot;
}

static bool prepared_has(const struct db_prepared *p, const struct db_stmt *s) {
        for (unsigned i = 0; i < p->n; i++)
                if (p->stmts[i] == s)
                        return true;
        return false;
}

static int prepare(PGconn *conn, struct db_prepared *p, const struct db_stmt *s, const char *what) {
        PGresult *res = PQprepare(conn, s->name, s->sql, s->n_params, NULL);
        if (!result_ok(res) && !result_sqlstate(res, "42P05")) /* duplicate_prepared_statement */
                return fail(conn, res, what);
        PQclear(res);
        if (p->n < DB_STMTS_MAX)
                p->stmts[p->n++] = s;
        return 0;
}

int db_exec_prepared(PGconn *conn, const char *what, const struct db_stmt *s, const char *const *params, PGresult **ret) {
        struct db_prepared *p = prepared_for(conn);
        int r;
        if (!prepared_has(p, s) && (r = prepare(conn, p, s, what)) < 0)
                return r;
        PGresult *res = PQexecPrepared(conn, s->name, s->n_params, params, NULL, NULL, 0);
        if (!result_ok(res) && result_sqlstate(res, "26000")) { /* invalid_sql_statement_name */
                PQclear(res);
                p->n = 0;
                if ((r = prepare(conn, p, s, what)) < 0)
                        return r;
                res = PQexecPrepared(conn, s->name, s->n_params, params, NULL, NULL, 0);
        }
        return hand_over(conn, res, what, ret);
}

bool db_broken(PGconn *conn) { return !conn || PQstatus(conn) != CONNECTION_OK; }
