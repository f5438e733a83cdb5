#pragma once
/* The dispatcher's database work off the event loop.
 *
 * Each claim and each record of outcomes is a database round trip and a
 * commit.  Made on the loop, they hold every SMS transfer in flight, every
 * timer and signal for as long as the server takes (with SMS to a fast
 * gateway, most of the loop's time went there), and a server that stops
 * answering holds them until the connection's timeouts give up.  So the
 * dispatcher hands them to workers: a thread each, with a database
 * connection of its own, doing one piece of work at a time; the loop goes
 * on sending meanwhile and hears of the work's end through an eventfd.
 * The dispatcher keeps one worker for claims and one for recording sent
 * messages, so the two also run side by side in the server.
 *
 * What a piece of work reads (its argument) is the caller's and must stay
 * untouched until done() has been called for it. */
#include <libpq-fe.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

struct db_worker;

/* Runs on the worker's thread with its connection; returns a count or a
 * negative errno-style code (having logged why). */
typedef long (*db_work_fn)(PGconn *conn, void *arg);
/* On the loop: result is the work's, or -ECONNREFUSED when the worker
 * could not connect (logged once until it connects again). */
typedef void (*db_done_fn)(long result, void *arg, void *userdata);

int db_worker_new(sd_event *event, const char *application_name, db_done_fn done, void *userdata,
                  struct db_worker **ret);
/* Waits for the work in progress (its done() is not called) and ends the
 * thread.  Takes NULL. */
struct db_worker *db_worker_free(struct db_worker *w);

/* Runs work(conn, arg) on the worker's connection to conninfo (made anew
 * when these settings changed); -EBUSY while work is in progress. */
int db_worker_submit(struct db_worker *w, const char *conninfo, const char *password, db_work_fn work, void *arg);
/* Whether work was submitted and its done() has not been called. */
bool db_worker_busy(struct db_worker *w);
/* Blocks until the work in progress is over, then calls its done(): for
 * a stop. */
void db_worker_wait(struct db_worker *w);
