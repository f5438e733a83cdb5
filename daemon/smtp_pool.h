#pragma once
/* SMTP transfers on worker threads.
 *
 * libcurl (7.88, Debian 12) finishes an SMTP transfer — waiting for the
 * server's reply to the end of DATA — in a blocking loop even under the
 * multi interface (curl/curl#8555): one slow mail server would stall the
 * whole event loop.  So e-mail goes through a small pool of threads, one
 * per configured connection, each running curl_easy_perform; handles
 * share one connection cache (CURLSH), so connections are still reused
 * across messages.  Completions come back to the event loop through an
 * eventfd; all database work stays on the loop's thread. */
#include <curl/curl.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "util.h"

struct smtp_pool;
typedef void (*smtp_pool_done_fn)(CURL *easy, CURLcode result, void *job, void *userdata);

int smtp_pool_new(sd_event *e, unsigned workers, smtp_pool_done_fn done, void *userdata, struct smtp_pool **ret);
/* Joins the workers; aborts transfers still running. Takes NULL. */
struct smtp_pool *smtp_pool_free(struct smtp_pool *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct smtp_pool *, smtp_pool_free);

/* Queue a prepared handle; `job` comes back in the done callback. */
int smtp_pool_submit(struct smtp_pool *p, CURL *easy, void *job);
/* Abort and join the workers: afterwards no handle is in use, and the
 * caller may clean up its handles before smtp_pool_free (which frees the
 * shared connection cache and needs them gone). */
void smtp_pool_join(struct smtp_pool *p);
/* Hand the transfers finished so far to the done callback now, without
 * waiting for the loop to read the eventfd. */
void smtp_pool_collect(struct smtp_pool *p);
/* Make every running and queued transfer end soon (CURLE_ABORTED_BY_CALLBACK). */
void smtp_pool_abort(struct smtp_pool *p);
/* Take back the transfers no worker has started: each comes back through
 * `fn`, oldest first, its handle the caller's again. */
typedef void (*smtp_pool_unqueued_fn)(CURL *easy, void *job, void *userdata);
void smtp_pool_unqueue(struct smtp_pool *p, smtp_pool_unqueued_fn fn, void *userdata);
/* Worker threads running (0 for NULL): a transfer beyond these waits in
 * the queue while its lease runs. */
unsigned smtp_pool_workers(const struct smtp_pool *p);
/* After a reload: no transfer started from now on reuses a connection
 * opened before (with the old settings: email.tls, the CA, the server). */
void smtp_pool_renew(struct smtp_pool *p);
/* Start workers until there are `workers` of them; never stops any. */
int smtp_pool_grow(struct smtp_pool *p, unsigned workers);
