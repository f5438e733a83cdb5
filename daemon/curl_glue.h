#pragma once
/* libcurl's multi interface driven by sd-event: curl tells us which sockets
 * and which timeout it wants watched (CURLMOPT_SOCKETFUNCTION /
 * TIMERFUNCTION); we tell it what happened with curl_multi_socket_action.
 * Nothing here blocks. */
#include <curl/curl.h>
#include <systemd/sd-event.h>

#include "util.h"

struct curl_glue;
/* Called once per finished transfer with curl's result; the glue has
 * already removed the handle from the multi, the callback owns it. */
typedef void (*curl_glue_done_fn)(struct curl_glue *g, CURL *easy, CURLcode result, void *userdata);

int curl_glue_new(sd_event *event, curl_glue_done_fn done, struct curl_glue **ret);
struct curl_glue *curl_glue_free(struct curl_glue *g);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_glue *, curl_glue_free);

/* Start a transfer; userdata comes back in the done callback. */
int curl_glue_add(struct curl_glue *g, CURL *easy, void *userdata);
/* Let curl act now on transfers just added (connect, write the request)
 * instead of on the next turn of the loop: for a caller about to block
 * on something else, such as a database round trip. */
void curl_glue_kick(struct curl_glue *g);
/* Abort a transfer that has not finished (no callback is made). */
void curl_glue_remove(struct curl_glue *g, CURL *easy);
unsigned curl_glue_running(const struct curl_glue *g);
void curl_glue_set_max_connections(struct curl_glue *g, long n);
