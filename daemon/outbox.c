#include "outbox.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "../jobs/jobs.h"
#include "db.h"
#include "log.h"

void outbox_msg_clear(struct outbox_msg *m) {
        free(m->job), free(m->channel), free(m->audience);
        free(m->recipient), free(m->recipient_name);
        free(m->template_name), free(m->locale), free(m->time_zone);
        free(m->context), free(m->dedupe_key), free(m->token), free(m->cancel_reason);
        free(m->retry_reason), free(m->unsubscribe_token);
        *m = (struct outbox_msg){0};
}

void outbox_msgs_free(struct outbox_msg *msgs, size_t n) {
        for (size_t i = 0; msgs && i < n; i++)
                outbox_msg_clear(&msgs[i]);
        free(msgs);
}

/* Whether local time T (a time) falls in quiet hours from QS to QE
 * (intervals after local midnight; the window may wrap midnight): one
 * test for the deferral pass and the claim, which must agree. */
#define IN_QUIET_HOURS(T, QS, QE)                                                                                  \
        "((" QS " > " QE " AND (" T " >= '00:00'::time + " QS " OR " T " < '00:00'::time + " QE ")) OR"          \
        " (" QS " < " QE " AND " T " >= '00:00'::time + " QS " AND " T " < '00:00'::time + " QE "))"

/* Messages due inside the recipient's quiet hours for their channel wait
 * for the end: push next_attempt_at to the end of the quiet window in the
 * recipient's own zone.
 *
 * A message whose lease expired (its sender died) is due again, and must
 * wait out quiet hours like any other: so on a channel with quiet hours
 * this statement also takes the expired leases back into the queue —
 * deferred when inside the window — and the claim that follows takes
 * queued rows only.  The lease token is cleared, so the stale worker, if
 * it still runs, stays fenced off; the attempt it made stays counted.
 * Only the first $5 due rows, in the claim's order, are looked at: the
 * caller repeats it until a pass defers nothing, so the rows the claim
 * then takes have all been looked at, and a claim costs its own size, not
 * the size of the backlog (each of 100,000 queued SMS looked at again on
 * every claim of 100 was ~15 ms a claim at 20,000).
 * The window ends when the recipient's wall clock leaves it, which is
 * also when the claim's own test stops finding the row quiet: when the end
 * (say 01:30) is a time the clocks skip (01:00 GMT -> 02:00 BST), that is
 * the instant of the jump, not PostgreSQL's reading of the skipped time
 * with the old offset (01:30Z, 02:30 BST: half an hour after quiet hours
 * ended, and past the expires_at of a message due by then).  The jump is
 * found to the minute between the two readings of the end (tz transitions
 * fall on whole minutes); an end that occurs twice (the clocks go back) is
 * its second occurrence, the quiet window being in force again in between.
 * $1 the run's clock (NULL: the database's), $2/$3 quiet start and end
 * (minutes after local midnight), $4 the channel, $5 the claim's size. */
static const char defer_quiet_sql[] =
        "WITH expired AS (\n"
        "  SELECT id FROM rapport.outbox\n"
        "  WHERE state = 'sending' AND lease_until < now() AND channel = $4\n"
        "  FOR UPDATE SKIP LOCKED\n"
        "), q AS (\n"
        "  SELECT o.id, o.time_zone, (coalesce($1::timestamptz, now()) AT TIME ZONE o.time_zone) AS lt, false AS expired\n"
        "  FROM rapport.outbox o\n"
        "  WHERE o.id IN (SELECT d.id FROM rapport.outbox d\n"
        "                 WHERE d.state = 'queued' AND d.channel = $4\n"
        "                   AND d.next_attempt_at <= coalesce($1::timestamptz, now())\n"
        "                   AND d.not_before <= coalesce($1::timestamptz, now())\n"
        "                 ORDER BY d.next_attempt_at, d.id LIMIT $5::int)\n"
        "    AND EXISTS (SELECT 1 FROM rapport.time_zones z WHERE z.name = o.time_zone)\n"
        "  UNION ALL\n"
        "  SELECT o.id, o.time_zone, (coalesce($1::timestamptz, now()) AT TIME ZONE o.time_zone), true\n"
        "  FROM rapport.outbox o JOIN expired e ON e.id = o.id\n"
        "  WHERE EXISTS (SELECT 1 FROM rapport.time_zones z WHERE z.name = o.time_zone)\n"
        "), t AS (\n"
        "  SELECT id, time_zone, expired, lt, lt::time AS t, make_interval(mins => $2::int) AS qs, make_interval(mins => $3::int) AS qe FROM q\n"
        "), l AS (\n"
        "  SELECT id, expired, time_zone,\n"
        "    " IN_QUIET_HOURS("t.t", "t.qs", "t.qe") " AS quiet,\n"
        "    (t.lt::date + t.qe + CASE WHEN t.qs > t.qe AND t.t >= '00:00'::time + t.qs THEN interval '1 day' ELSE interval '0' END) AS le\n"
        "  FROM t\n"
        "), u AS (\n"
        "  SELECT id, expired, time_zone, quiet, le, le AT TIME ZONE time_zone AS ue FROM l\n"
        "), w AS (\n"
        "  SELECT id, expired, quiet,\n"
        "    CASE WHEN (ue AT TIME ZONE time_zone) = le THEN ue\n"
        "      ELSE (SELECT min(s) FROM generate_series(ue - ((ue AT TIME ZONE time_zone) - le), ue, interval '1 minute') s\n"
        "            WHERE (s AT TIME ZONE time_zone) >= le) END AS quiet_end\n"
        "  FROM u\n"
        "), requeued AS (\n"
        "  UPDATE rapport.outbox o SET state = 'queued', lease_token = NULL, lease_until = NULL, updated_at = now(),\n"
        "         next_attempt_at = CASE WHEN w.quiet THEN w.quiet_end ELSE o.next_attempt_at END\n"
        "  FROM expired e LEFT JOIN w ON w.id = e.id\n"
        "  WHERE o.id = e.id\n"
        "  RETURNING o.id, o.leased_by\n"
        "), history AS (\n"
        "  INSERT INTO rapport.outbox_events (outbox_id, event, detail)\n"
        "  SELECT id, 'expired', 'lease of ' || coalesce(leased_by, 'an unknown instance') || ' expired: back in the queue'\n"
        "  FROM requeued\n"
        ")\n"
        "UPDATE rapport.outbox o SET next_attempt_at = w.quiet_end, updated_at = now()\n"
        "FROM w WHERE o.id = w.id AND NOT w.expired AND w.quiet";

/* The claim.  Prepared once per connection and run with a generic plan,
 * so it is written for one: the channel is a plain equality (an index
 * condition on outbox_due_by_channel, not "$5 IS NULL OR …", which a
 * generic plan cannot use), and the rows are updated through their primary
 * key (= ANY(ARRAY(…))) rather than a join the planner may turn into a scan
 * of the whole outbox.  The limit and the channel are behind sub-selects
 * (still index conditions) so that a custom plan cannot look cheaper than
 * the generic one and PostgreSQL settles on the generic plan instead of
 * planning every claim again.  Due rows are queued and expired ones are
 * sending: the two sets never overlap.  Expired rows are taken only when
 * $6 is true, i.e. on a channel without quiet hours; otherwise the
 * deferral above has already put them back in the queue.  A message's age
 * (for outbox.max_age) runs from not_before on the claim's clock: both are
 * in --now's timeline when one is given, and a message planned ahead of
 * its send time does not age while it waits for it.  $7/$8 are the quiet
 * hours (minutes; NULL: none), tested again here on every row taken: the
 * deferral pass looks at the first rows due without locking them, so when
 * another instance holds those, this claim skips to rows it never looked
 * at.  A row inside quiet hours stays queued for the next pass to defer. */
#define CLAIM_SQL(CHANNEL_COND)                                                                                   \
        "WITH due AS (\n"                                                                                         \
        "  SELECT id FROM rapport.outbox\n"                                                                       \
        "  WHERE state = 'queued' " CHANNEL_COND " AND next_attempt_at <= coalesce($1::timestamptz, now())\n"    \
        "    AND not_before <= coalesce($1::timestamptz, now())\n"                                                \
        "    AND NOT coalesce(CASE WHEN (SELECT $7::int) IS NOT NULL\n"                                           \
        "                           AND EXISTS (SELECT 1 FROM rapport.time_zones z WHERE z.name = time_zone)\n"     \
        "      THEN (SELECT " IN_QUIET_HOURS("q.t", "q.qs", "q.qe") "\n"                                           \
        "            FROM (SELECT (coalesce($1::timestamptz, now()) AT TIME ZONE time_zone)::time AS t,\n"          \
        "                         make_interval(mins => $7::int) AS qs, make_interval(mins => $8::int) AS qe) q)\n" \
        "    END, false)\n"                                                                                        \
        "  ORDER BY next_attempt_at, id LIMIT (SELECT $2::int) FOR UPDATE SKIP LOCKED\n"                                        \
        "), expired AS (\n"                                                                                       \
        "  SELECT id, leased_by FROM rapport.outbox\n"                                                            \
        "  WHERE state = 'sending' AND lease_until < now() " CHANNEL_COND " AND (SELECT $6::bool)\n"              \
        "  ORDER BY lease_until LIMIT (SELECT $2::int) FOR UPDATE SKIP LOCKED\n"                                                \
        "), claimed AS (\n"                                                                                       \
        "  UPDATE rapport.outbox o SET state = 'sending', attempts = o.attempts + 1,\n"                           \
        "         lease_token = gen_random_uuid(), lease_until = now() + make_interval(secs => $3::int),\n"       \
        "         leased_by = $4, updated_at = now()\n"                                                           \
        "  WHERE o.id = ANY (ARRAY(SELECT id FROM due UNION ALL SELECT id FROM expired))\n"                       \
        "  RETURNING o.id, o.job, o.channel, o.audience, o.recipient, o.recipient_name, o.template, o.locale,\n"  \
        "            o.time_zone, o.context, o.dedupe_key, o.lease_token, o.marketing, o.attempts,\n"             \
        "            o.not_before, o.expires_at, o.customer_id, o.rep_id, o.unsubscribe_token\n"                                       \
        "), history AS (\n"                                                                                       \
        "  INSERT INTO rapport.outbox_events (outbox_id, event, detail)\n"                                        \
        "  SELECT id, 'expired', 'lease of ' || coalesce(leased_by, 'an unknown instance') || ' expired: claimed again'\n" \
        "  FROM expired\n"                                                                                        \
        ")\n"                                                                                                     \
        "SELECT c.id, c.job, c.channel, c.audience, c.recipient, c.recipient_name, c.template, c.locale,\n"       \
        "       c.time_zone, c.context::text, c.dedupe_key, c.lease_token::text, c.marketing, c.attempts,\n"      \
        "       extract(epoch FROM coalesce($1::timestamptz, now()) - c.not_before)::bigint,\n"                   \
        "       CASE\n"                                                                                           \
        "         WHEN c.expires_at IS NOT NULL AND c.expires_at < coalesce($1::timestamptz, now())\n"            \
        "           THEN 'too late: past the job''s max_lateness'\n"                                              \
        "         WHEN EXISTS (SELECT 1 FROM rapport.suppression s WHERE s.address = lower(c.recipient))\n"       \
        "           THEN 'recipient address is suppressed'\n"                                                     \
        "         WHEN c.audience = 'customer' AND NOT coalesce(cu.active, false)\n"                              \
        "           THEN 'customer inactive or deleted'\n"                                                        \
        "         WHEN c.audience = 'customer' AND c.marketing AND c.channel = 'email' AND NOT coalesce(cu.consent_email, false)\n" \
        "           THEN 'customer withdrew e-mail consent'\n"                                                    \
        "         WHEN c.audience = 'customer' AND c.marketing AND c.channel = 'sms' AND NOT coalesce(cu.consent_sms, false)\n" \
        "           THEN 'customer withdrew SMS consent'\n"                                                       \
        "         WHEN c.audience IN ('rep', 'manager') AND NOT coalesce(r.active, false)\n"                      \
        "           THEN 'rep inactive or deleted'\n"                                                             \
        /* The one the jobs would choose now: the customer's rep, or, for  \
         * a rep's message when that rep is inactive, the rep's manager      \
         * standing in; for a manager's, the rep's manager. */               \
        "         WHEN c.audience IN ('rep', 'manager') AND c.customer_id IS NOT NULL AND cu.id IS NOT NULL\n"     \
        "              AND c.rep_id IS DISTINCT FROM CASE WHEN c.audience = 'rep' AND cr.active THEN cr.id\n"    \
        "                                                 ELSE cr.manager_id END\n"                               \
        "           THEN '" JOB_REASSIGNED_REASON "'\n"                                                          \
        "       END,\n"                                                                                           \
        "       c.unsubscribe_token::text\n"                                                                      \
        "FROM claimed c\n"                                                                                        \
        /* Index lookups per claimed row, whatever the size of the CRM                                       \
         * (OFFSET 0 keeps the planner from turning them into joins). */                                      \
        "LEFT JOIN LATERAL (SELECT id, active, consent_email, consent_sms, rep_id FROM crm.customers\n"          \
        "                   WHERE id = c.customer_id OFFSET 0) cu ON true\n"                                     \
        "LEFT JOIN LATERAL (SELECT active FROM crm.reps WHERE id = c.rep_id OFFSET 0) r ON true\n"               \
        "LEFT JOIN LATERAL (SELECT id, active, manager_id FROM crm.reps\n"                                      \
        "                   WHERE id = cu.rep_id AND c.audience <> 'customer' OFFSET 0) cr ON true\n"           \
        "ORDER BY c.id"

static const struct db_stmt claim_channel_stmt = {
        "rapport_claim_channel", CLAIM_SQL("AND channel = (SELECT $5::text)"), 8,
};

static char *dupval(PGresult *res, int row, int col) {
        return PQgetisnull(res, row, col) ? NULL : strdup(PQgetvalue(res, row, col));
}

int outbox_claim(PGconn *conn, const struct outbox_claim_opts *o, struct outbox_msg **ret, size_t *n) {
        *ret = NULL;
        *n = 0;
        char qs[16], qe[16], limit[16], lease[32];
        int r;
        bool quiet = o->quiet_start != o->quiet_end;
        snprintf(limit, sizeof limit, "%d", o->limit);
        if (quiet) {
                snprintf(qs, sizeof qs, "%d", o->quiet_start);
                snprintf(qe, sizeof qe, "%d", o->quiet_end);
                const char *p[] = {o->now, qs, qe, o->channel, limit};
                /* Until a pass defers nothing: at night a backlog is moved
                 * out of the way a claim's size at a time, each row once. */
                for (long deferred = 1; deferred > 0;) {
                        _cleanup_(PQclearp) PGresult *dr = NULL;
                        r = db_exec(conn, "Deferring messages inside quiet hours", defer_quiet_sql, 5, p, &dr);
                        if (r < 0)
                                return r;
                        deferred = atol(PQcmdTuples(dr));
                }
        }
        snprintf(lease, sizeof lease, "%" PRId64, o->lease);
        const char *p[] = {o->now, limit, lease, o->instance, o->channel, quiet ? "false" : "true",
                           quiet ? qs : NULL, quiet ? qe : NULL};
        _cleanup_(PQclearp) PGresult *res = NULL;
        r = db_exec_prepared(conn, "Claiming due messages", &claim_channel_stmt, p, &res);
        if (r < 0)
                return r;
        size_t rows = (size_t)PQntuples(res);
        if (rows == 0)
                return 0;
        struct outbox_msg *m = calloc(rows, sizeof *m);
        if (!m)
                return -ENOMEM;
        for (size_t i = 0; i < rows; i++) {
                int row = (int)i;
                m[i].id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
                m[i].job = dupval(res, row, 1);
                m[i].channel = dupval(res, row, 2);
                m[i].audience = dupval(res, row, 3);
                m[i].recipient = dupval(res, row, 4);
                m[i].recipient_name = dupval(res, row, 5);
                m[i].template_name = dupval(res, row, 6);
                m[i].locale = dupval(res, row, 7);
                m[i].time_zone = dupval(res, row, 8);
                m[i].context = dupval(res, row, 9);
                m[i].dedupe_key = dupval(res, row, 10);
                m[i].token = dupval(res, row, 11);
                m[i].marketing = PQgetvalue(res, row, 12)[0] == 't';
                m[i].attempts = atoi(PQgetvalue(res, row, 13));
                m[i].age = strtoll(PQgetvalue(res, row, 14), NULL, 10);
                m[i].cancel_reason = dupval(res, row, 15);
                m[i].unsubscribe_token = dupval(res, row, 16);
        }
        *ret = m;
        *n = rows;
        return 0;
}

/* One statement per outcome: fenced update plus its history event.
 * $1 id, $2 lease token, $3 and $4 the update's own, $5 the event's detail. */
#define RECORD_SQL(UPDATE, EVENT)                                                                         \
        "WITH u AS (" UPDATE " WHERE id = $1::bigint AND lease_token = $2::uuid AND state = 'sending' RETURNING id)\n" \
        "INSERT INTO rapport.outbox_events (outbox_id, event, detail)\n"                                  \
        "SELECT id, '" EVENT "', $5::text FROM u RETURNING outbox_id"

static const struct db_stmt sent_stmt = {
        "rapport_mark_sent",
        RECORD_SQL("UPDATE rapport.outbox SET state = 'sent', provider_id = $3::text, rendered = $4::text, sent_at = now(),"
                   " lease_token = NULL, lease_until = NULL, last_error = NULL, updated_at = now()",
                   "sent"),
        5,
};
/* Relative to the run's clock ($3 is "now|seconds|epoch|max_age|uncounted": --now,
 * or the database's clock when empty), so a run at --now finds its own
 * retry due at --now plus the delay, in the past as in the future; a
 * gateway's Retry-After date (the epoch, when not empty) is an instant of
 * its own.  Never later than the message's max_age after its send time:
 * a gateway asking for a day, a year or the year 9999 would otherwise
 * leave the message queued, neither sent nor failed, long after it is too
 * old to send; its last try is then, and it fails as too old if that
 * fails too. */
static const struct db_stmt retry_stmt = {
        "rapport_mark_retry",
        RECORD_SQL("UPDATE rapport.outbox SET state = 'queued', next_attempt_at = least(greatest("
                   " coalesce(nullif(split_part($3::text, '|', 1), '')::timestamptz, now())"
                   " + make_interval(secs => split_part($3::text, '|', 2)::bigint),"
                   " coalesce(to_timestamp(nullif(split_part($3::text, '|', 3), '')::double precision), '-infinity')),"
                   " not_before + make_interval(secs => split_part($3::text, '|', 4)::bigint)),"
                   " attempts = attempts - split_part($3::text, '|', 5)::int,"
                   " last_error = $4::text, lease_token = NULL, lease_until = NULL, updated_at = now()",
                   "retry"),
        5,
};
static const struct db_stmt failed_stmt = {
        "rapport_mark_failed",
        RECORD_SQL("UPDATE rapport.outbox SET state = 'failed', last_error = $4::text, lease_token = NULL, lease_until = NULL,"
                   " updated_at = now(), rendered = coalesce($3::text, rendered)",
                   "failed"),
        5,
};
/* A message to a rep or manager cancelled because the recipient has left
 * since planning, or because the customer has another rep or manager now
 * (JOB_REASSIGNED_REASON: the claim's check, or a job's build), sets its
 * dedupe key aside, so that the next run plans it again for whoever has
 * the customer or stands in now (a complaint's manager for an inactive
 * rep) while it is still due, instead of never; a dunning message also
 * gives its invoices back: their ledger rows (rapport.dunning_items) go.
 * So does a message cancelled because the CRM moved the date it was
 * planned for (a birthday corrected, an invoice's term extended): the key
 * names the year or the level, and the corrected date must be planned
 * under it when it comes.
 * Any other reason keeps them: a paid invoice is not chased again anyway,
 * and an administrator's cancel must stay a cancel. */
#define CANCEL_RELEASES_KEY                                                                                \
        "($5::text IN ('rep inactive or deleted', '" JOB_REASSIGNED_REASON "', '" JOB_BIRTHDAY_MOVED_REASON "', '" \
        JOB_DUE_DATE_MOVED_REASON "'))"
#define CANCEL_FREES_LEDGER "(o.job = 'receivables' AND " CANCEL_RELEASES_KEY ")"
static const struct db_stmt cancelled_stmt = {
        "rapport_mark_cancelled",
        "WITH u AS (UPDATE rapport.outbox o SET state = 'cancelled', last_error = $4::text, lease_token = NULL, lease_until = NULL,"
        " updated_at = now(), provider_id = coalesce($3::text, provider_id),"
        " dedupe_key = CASE WHEN " CANCEL_RELEASES_KEY " THEN o.dedupe_key || ':released:' || o.id ELSE o.dedupe_key END"
        " WHERE o.id = $1::bigint AND o.lease_token = $2::uuid AND o.state = 'sending'"
        " RETURNING o.id, o.channel, o.audience, o.context, " CANCEL_FREES_LEDGER " AS frees),\n"
        "freed AS (DELETE FROM rapport.dunning_items d USING u, jsonb_each_text(u.context->'invoice_levels') AS l(invoice, days)\n"
        "  WHERE u.frees AND d.invoice_id = l.invoice::bigint AND d.level_days = l.days::int AND d.channel = u.channel\n"
        "    AND d.audience = u.audience)\n"
        "INSERT INTO rapport.outbox_events (outbox_id, event, detail)\n"
        "SELECT id, 'cancelled', $5::text FROM u RETURNING outbox_id",
        5,
};
static const struct db_stmt released_stmt = {
        "rapport_release",
        RECORD_SQL("UPDATE rapport.outbox SET state = 'queued', attempts = greatest(attempts - 1, 0),"
                   " lease_token = NULL, lease_until = NULL, updated_at = now(),"
                   " provider_id = coalesce($3::text, provider_id), last_error = coalesce($4::text, last_error)",
                   "released"),
        5,
};

static int record(PGconn *conn, const struct outbox_msg *m, const char *what, const struct db_stmt *stmt,
                  const char *event, const char *detail, const char *p3, const char *p4) {
        char id[32];
        snprintf(id, sizeof id, "%" PRId64, m->id);
        const char *p[] = {id, m->token, p3, p4, detail};
        _cleanup_(PQclearp) PGresult *res = NULL;
        struct log_ctx ctx = {m->job, m->id, m->channel};
        PGresult *tmp = NULL;
        int r = db_exec_prepared(conn, what, stmt, p, &tmp);
        res = tmp;
        if (r < 0)
                return r;
        if (PQntuples(res) == 0) {
                log_full(LOG_WARNING, 0, &ctx, "Lease lost before recording '%s': another attempt owns this message now", event);
                return 0;
        }
        return 1;
}

/* The journal's line for each message recorded sent (rapportd -v). */
static void log_sent(const struct outbox_msg *m) {
        struct log_ctx ctx = {m->job, m->id, m->channel};
        log_full(LOG_DEBUG, 0, &ctx, "Sent (attempt %d)", m->attempts);
}

int outbox_mark_sent(PGconn *conn, const struct outbox_msg *m, const char *provider_id, const char *rendered) {
        int r = record(conn, m, "Recording a sent message", &sent_stmt, "sent", provider_id, provider_id, rendered);
        if (r > 0)
                log_sent(m);
        return r;
}

/* One element of a PostgreSQL array literal: quoted, \ and " escaped. */
static void array_elem(struct buf *b, const char *v) {
        if (b->len > 1)
                buf_puts(b, ",");
        if (!v) {
                buf_puts(b, "NULL");
                return;
        }
        buf_puts(b, "\"");
        for (const char *p = v; *p; p++) {
                if (*p == '"' || *p == '\\')
                        buf_append(b, "\\", 1);
                buf_append(b, p, 1);
        }
        buf_puts(b, "\"");
}

/* The fencing join goes through the primary key whatever the statistics
 * say (a generic plan must not hash the whole outbox for a few rows), and
 * its state test is a parameter of the plan, not the constant 'sending':
 * with the constant, PostgreSQL reads every row being sent through
 * outbox_leases (whose predicate the constant matches) and compares each
 * with every row of the batch, a cost of leased rows × batch that grew to
 * seconds a statement while batches were recorded during a busy send.
 * The arrays are hidden from the planner behind sub-selects: a custom plan
 * that sees their length always looks cheaper than the generic one, and
 * PostgreSQL would then plan anew at every call (most of the statement's
 * cost when it records one or two rows). */
static const struct db_stmt sent_many_stmt = {
        "rapport_mark_sent_many",
        "WITH v AS (SELECT * FROM unnest((SELECT $1::bigint[]), (SELECT $2::uuid[]), (SELECT $3::text[]), (SELECT $4::text[]))"
        "             AS v(id, token, provider_id, rendered)),"
        " u AS (UPDATE rapport.outbox o SET state = 'sent', provider_id = v.provider_id,"
        "        rendered = v.rendered, sent_at = now(), lease_token = NULL, lease_until = NULL,"
        "        last_error = NULL, updated_at = now()"
        "       FROM v WHERE o.id = v.id AND o.lease_token = v.token AND o.state = (SELECT 'sending'::text)"
        "       RETURNING o.id, v.provider_id)"
        " INSERT INTO rapport.outbox_events (outbox_id, event, detail)"
        " SELECT id, 'sent', provider_id FROM u RETURNING outbox_id",
        4,
};

long outbox_mark_sent_many(PGconn *conn, const struct outbox_sent *sent, size_t n) {
        if (n == 0)
                return 0;
        if (n == 1) /* the plain statement: no arrays to build, parse and unnest */
                return outbox_mark_sent(conn, sent[0].msg, sent[0].provider_id, sent[0].rendered);
        _cleanup_buf_ struct buf ids = {0}, tokens = {0}, providers = {0}, rendered = {0};
        /* Sized once: doubling from small would leave the texts' buffer up
         * to twice their size (quotes in HTML are escaped, hence the
         * eighth). */
        size_t text_len = 0;
        for (size_t i = 0; i < n; i++)
                text_len += sent[i].rendered ? strlen(sent[i].rendered) : 0;
        buf_reserve(&rendered, text_len + text_len / 8 + 3 * n + 2);
        buf_puts(&ids, "{"), buf_puts(&tokens, "{"), buf_puts(&providers, "{"), buf_puts(&rendered, "{");
        for (size_t i = 0; i < n; i++) {
                char id[32];
                snprintf(id, sizeof id, "%" PRId64, sent[i].msg->id);
                array_elem(&ids, id);
                array_elem(&tokens, sent[i].msg->token);
                array_elem(&providers, sent[i].provider_id);
                array_elem(&rendered, sent[i].rendered);
        }
        buf_puts(&ids, "}"), buf_puts(&tokens, "}"), buf_puts(&providers, "}"), buf_puts(&rendered, "}");
        if (!ids.data || !tokens.data || !providers.data || !rendered.data)
                return -ENOMEM;
        const char *p[] = {ids.data, tokens.data, providers.data, rendered.data};
        _cleanup_(PQclearp) PGresult *res = NULL;
        int r = db_exec_prepared(conn, "Recording sent messages", &sent_many_stmt, p, &res);
        if (r < 0)
                return r;
        long recorded = PQntuples(res);
        if ((size_t)recorded == n && !log_would(LOG_DEBUG))
                return recorded;
        for (size_t i = 0; i < n; i++) {
                /* Each message's own journal entry, as the single path
                 * writes it: sent (at debug level), or its lease lost. */
                bool found = false;
                for (long k = 0; k < recorded && !found; k++)
                        found = strtoll(PQgetvalue(res, (int)k, 0), NULL, 10) == sent[i].msg->id;
                struct log_ctx ctx = {sent[i].msg->job, sent[i].msg->id, sent[i].msg->channel};
                if (found)
                        log_sent(sent[i].msg);
                else
                        log_full(LOG_WARNING, 0, &ctx, "Lease lost before recording 'sent': another attempt owns this message now");
        }
        return recorded;
}

int outbox_mark_retry(PGconn *conn, const struct outbox_msg *m, const char *now, int64_t delay_s, int64_t retry_at,
                      int64_t max_age_s, bool uncounted, const char *error) {
        _cleanup_free_ char *delay = NULL;
        char at[32] = "";
        if (retry_at > 0)
                snprintf(at, sizeof at, "%" PRId64, retry_at);
        if (asprintf(&delay, "%s|%" PRId64 "|%s|%" PRId64 "|%d", now ? now : "", delay_s, at, max_age_s, uncounted ? 1 : 0) < 0)
                return -ENOMEM;
        return record(conn, m, "Scheduling a retry", &retry_stmt, "retry", error, delay, error);
}

int outbox_mark_failed(PGconn *conn, const struct outbox_msg *m, const char *error, const char *rendered) {
        return record(conn, m, "Recording a failed message", &failed_stmt, "failed", error, rendered, error);
}

int outbox_mark_cancelled(PGconn *conn, const struct outbox_msg *m, const char *reason) {
        return record(conn, m, "Cancelling a message", &cancelled_stmt, "cancelled", reason, NULL, reason);
}

int outbox_release(PGconn *conn, const struct outbox_msg *m, const char *why) {
        return record(conn, m, "Releasing a message", &released_stmt, "released", why, NULL, NULL);
}

int outbox_suppress(PGconn *conn, const char *address, const char *channel, const char *reason) {
        const char *p[] = {address, channel, reason};
        return db_exec(conn, "Suppressing an address",
                       "INSERT INTO rapport.suppression (address, channel, reason) VALUES (lower($1), $2, $3)"
                       " ON CONFLICT (address) DO NOTHING",
                       3, p, NULL);
}

int outbox_next_due(PGconn *conn, const char *now, int64_t *seconds) {
        const char *p[] = {now};
        _cleanup_(PQclearp) PGresult *res = NULL;
        /* NULL (nothing queued, nothing leased) must stay NULL: greatest()
         * would turn it into 0, "due now", and the caller would spin.
         * next_attempt_at alone says when a queued row is due: every write
         * keeps it at or after not_before (planning sets both, a retry
         * takes the later), which lets this read the claim's index. */
        int r = db_exec(conn, "Finding the next due message",
                        "SELECT CASE WHEN t IS NULL THEN NULL"
                        " ELSE ceil(greatest(0, extract(epoch FROM t - coalesce($1::timestamptz, now()))))::bigint END"
                        " FROM (SELECT least("
                        "  (SELECT min(next_attempt_at) FROM rapport.outbox WHERE state = 'queued' AND channel = 'email'),"
                        "  (SELECT min(next_attempt_at) FROM rapport.outbox WHERE state = 'queued' AND channel = 'sms'),"
                        "  (SELECT min(lease_until) FROM rapport.outbox WHERE state = 'sending')) AS t) x",
                        1, p, &res);
        if (r < 0)
                return r;
        *seconds = PQntuples(res) == 0 || PQgetisnull(res, 0, 0) ? -1 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        return 0;
}

int outbox_prune(PGconn *conn, int retention_days, int batch, bool side_tables, long *deleted) {
        char days[16], lim[16];
        snprintf(days, sizeof days, "%d", retention_days);
        snprintf(lim, sizeof lim, "%d", batch);
        const char *p[] = {days, lim};
        _cleanup_(PQclearp) PGresult *res = NULL;
        /* Small batches keep each transaction short; the index on the
         * age (finished rows only, migration 0010) makes finding them
         * cheap. */
        int r = db_exec(conn, "Pruning old messages",
                        "WITH old AS (SELECT id FROM rapport.outbox"
                        "  WHERE state IN ('sent', 'failed', 'cancelled')"
                        "    AND least(created_at, updated_at, sent_at) < now() - make_interval(days => $1::int)"
                        "  ORDER BY least(created_at, updated_at, sent_at) LIMIT $2::int FOR UPDATE SKIP LOCKED)"
                        " DELETE FROM rapport.outbox o USING old WHERE o.id = old.id",
                        2, p, &res);
        if (r < 0)
                return r;
        *deleted = atol(PQcmdTuples(res));
        if (*deleted < batch && side_tables) {
                /* The queue is clean: trim the side tables too, keeping each
                 * job's latest scheduled run (catch-up needs it; a manual
                 * run is no occurrence). */
                (void)db_exec(conn, "Pruning old skip records",
                              "DELETE FROM rapport.skipped WHERE day < current_date - $1::int AND $2::int > 0", 2, p, NULL);
                (void)db_exec(conn, "Pruning old job runs",
                              "DELETE FROM rapport.job_runs j WHERE scheduled_for < now() - make_interval(days => $1::int)"
                              " AND $2::int > 0 AND scheduled_for < (SELECT max(scheduled_for) FROM rapport.job_runs k WHERE k.job = j.job AND NOT k.manual)",
                              2, p, NULL);
        }
        return 0;
}
