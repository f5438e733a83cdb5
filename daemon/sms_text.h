/* SMS helpers: number validation, segment counting, provider requests. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* E.164 with leading '+': ^\+[1-9][0-9]{7,14}$ */
bool sms_number_valid(const char *e164);

struct sms_segments {
        bool ucs2;       /* some character is outside GSM 03.38 (+ extension table) */
        size_t units;    /* GSM-7 septets, or UTF-16 code units when ucs2 */
        size_t segments; /* messages billed; ≥ 1 even for an empty text */
};

/* Single message up to 160 septets / 70 units; beyond that segments carry
 * 153 / 67 and, as carriers do, an extension character (2 septets) or a
 * surrogate pair is never split across two segments.  -EILSEQ for invalid
 * UTF-8, -EINVAL for NULL. */
int sms_count_segments(const char *utf8, struct sms_segments *ret);

enum sms_format {
        SMS_FORMAT_TWILIO, /* form-encoded To/From/Body; reply JSON "sid" */
        SMS_FORMAT_JSON,   /* {"to","from","text","idempotency_key"}; reply "id"/"message_id" */
};

/* Appends the request body to out_body; *content_type_ret points to a
 * static string.  to must pass sms_number_valid; from must be non-empty
 * (a number or sender id); body non-empty valid UTF-8.  Twilio takes the
 * idempotency key as a header (I-Twilio-Idempotency-Token), so it is not
 * put into the Twilio body; for JSON it is included when non-NULL.
 * Errors: -EINVAL, -EILSEQ, -ENOMEM.  out_body is untouched on error. */
int sms_build_request(enum sms_format fmt, const char *from, const char *to, const char *body,
                      const char *idempotency_key, struct buf *out_body,
                      const char **content_type_ret);

/* Extracts the provider's message id from its JSON reply (a string or an
 * integer).  0 and a strdup'd id; -ENOENT if absent, null or ""; -EBADMSG
 * if the body is not exactly one JSON object or the id has another type. */
int sms_parse_response(enum sms_format fmt, const char *body, size_t len, char **provider_id_ret);
