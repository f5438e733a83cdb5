#pragma once
/* Recording sent messages off the event loop.
 *
 * Each outcome the dispatcher records is a database round trip and a
 * commit.  Made on the loop, it holds every SMS transfer in flight, every
 * timer and signal for as long as the server takes (with SMS to a fast
 * gateway, most of the loop's time went there), and a server that stops
 * answering holds them until the connection's timeouts give up.  So the
 * batches of sent messages are recorded by a thread of its own, on a
 * database connection of its own, one batch at a time; the loop goes on
 * sending and claiming meanwhile, and hears of the batch's end through an
 * eventfd.  Outcomes that come in while a batch is being recorded make up
 * the next one: the busier the queue, the bigger the batches.
 *
 * The messages of a batch are the caller's and must stay untouched until
 * done() has been called for it. */
#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

struct outbox_sent;
struct record_worker;

/* recorded: how many rows the batch marked sent (others had lost their
 * lease: logged), or a negative errno-style code when the batch could not
 * be recorded (logged) and its messages are still 'sending'. */
typedef void (*record_done_fn)(long recorded, void *userdata);

int record_worker_new(sd_event *event, const char *application_name, record_done_fn done, void *userdata,
                      struct record_worker **ret);
/* Waits for a batch being recorded (its done() is not called) and ends the
 * thread.  Takes NULL. */
struct record_worker *record_worker_free(struct record_worker *w);

/* Records sent[0..n) on the worker's connection to conninfo (made anew
 * when these settings changed); -EBUSY while a batch is in progress. */
int record_worker_submit(struct record_worker *w, const char *conninfo, const char *password,
                         const struct outbox_sent *sent, size_t n);
/* Whether a batch was submitted and its done() has not been called. */
bool record_worker_busy(struct record_worker *w);
/* Blocks until the batch in progress is recorded, then calls its done():
 * for a stop, which records what is left on the loop's own connection. */
void record_worker_wait(struct record_worker *w);
