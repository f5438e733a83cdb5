#pragma once
/* The dispatcher: claims due outbox rows, renders them, and sends them
 * through libcurl's multi interface on the daemon's event loop — many
 * transfers at once, within each channel's connection limit and rate —
 * then records each outcome.  It never blocks on the network. */
#include <libpq-fe.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "util.h"

struct rapport_config;
struct template_set;

/* Owned by the caller and read on every pump, so a reload (new config,
 * new templates, new connection) takes effect for the next claim. */
struct dispatch_env {
        PGconn *conn;
        const struct rapport_config *cfg;
        const struct template_set *templates;
        const char *now; /* --now override or NULL */
};

struct dispatch_stats {
        unsigned long sent, retried, failed, cancelled, released;
};

struct dispatcher;
typedef void (*dispatch_idle_fn)(struct dispatcher *d, void *userdata);

/* Claims and the recording of sent messages run on threads with
 * connections of their own (db_worker.h), whose application_name is
 * worker_name followed by " claimer" and " recorder"; with worker_name
 * NULL they run on env->conn. */
int dispatcher_new(sd_event *e, struct dispatch_env *env, const char *worker_name, struct dispatcher **ret);
struct dispatcher *dispatcher_free(struct dispatcher *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct dispatcher *, dispatcher_free);

/* After a reload: the SMTP pool and connection caches follow the new
 * email.smtp_url and connections. */
int dispatcher_reconfigure(struct dispatcher *d);
/* Claim and start whatever is due now.  Called on start, on NOTIFY, on the
 * wake-up timer and after every completion. */
void dispatcher_kick(struct dispatcher *d);
/* In --once mode: call idle() when nothing is in flight and nothing more
 * is due now (future not_before / retries are left for the daemon). */
void dispatcher_set_idle(struct dispatcher *d, dispatch_idle_fn idle, void *userdata);
/* Graceful stop: no new claims; in-flight transfers get `grace_usec` to
 * finish, then the rest are aborted and released to the queue. */
void dispatcher_stop(struct dispatcher *d, uint64_t grace_usec);
unsigned dispatcher_in_flight(const struct dispatcher *d);
/* Whether freeing the dispatcher needs the database: outcomes held but not
 * recorded, or claimed rows it would give back to the queue. */
bool dispatcher_needs_database(const struct dispatcher *d);
const struct dispatch_stats *dispatcher_stats(const struct dispatcher *d);
