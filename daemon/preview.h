#pragma once
/* Printing what a job would send, for --dry-run and `rapportctl preview`:
 * the complete rendered messages, never queued.  An e-mail's headers are
 * built by the e-mail channel itself (email_setup, as the dispatcher sends
 * it) and shown decoded; bodies are shown as rendered text. */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct rapport_config;
struct template_set;

/* rows: columns id, channel, audience, recipient, recipient_name, template,
 * locale, context, not_before, dedupe_key, marketing (as planner.c selects).
 * now: the run's instant (epoch seconds), the e-mails' Date.  Returns the
 * number of messages that could not be rendered. */
int preview_print(FILE *out, PGresult *rows, const struct rapport_config *c, const struct template_set *t,
                  int64_t now, bool show_recipients);
