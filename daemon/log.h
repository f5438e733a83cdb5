#pragma once
/* Logging: to the journal with structured fields when systemd started us,
 * to stderr otherwise.  Fields JOB, OUTBOX_ID and CHANNEL identify what a
 * line is about; recipients' addresses and phone numbers are never logged,
 * only masked forms (log_mask_address). */
#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

#include "util.h"

struct log_ctx {
        const char *job;
        int64_t outbox_id;
        const char *channel;
};

void log_setup(const char *ident, int max_priority);
void log_set_max_priority(int prio);
/* Returns -abs(err) (or 0 when err is 0) so callers can `return log_…(r, …)`.
 * errno is set to abs(err) while formatting, so "%m" describes err. */
int log_full(int prio, int err, const struct log_ctx *ctx, const char *fmt, ...) _printf_(4, 5);

#define log_error_errno(r, ...) log_full(LOG_ERR, (r), NULL, __VA_ARGS__)
#define log_warning_errno(r, ...) log_full(LOG_WARNING, (r), NULL, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, 0, NULL, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, 0, NULL, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, 0, NULL, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, 0, NULL, __VA_ARGS__)
#define log_debug(...) log_full(LOG_DEBUG, 0, NULL, __VA_ARGS__)

/* "wa***@example.com", "+86138****21": enough for an operator to tell
 * messages apart, not enough to leak customer data into logs. */
void log_mask_address(const char *addr, char *out, size_t outlen);
/* Whether a message of this priority would be written at all. */
bool log_would(int prio);
/* Free text from a server (an SMTP reply, an SMS gateway's error) with
 * every e-mail address and phone number in it masked as above, and no
 * control character: fit for the journal and rapport.outbox.last_error. */
void log_mask_text(const char *text, char *out, size_t outlen);
