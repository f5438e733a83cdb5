/* SMS helpers: number validation, segment counting, provider requests. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* E.164 with leading '+': ^\+[1-9][0-9]{6,14}$ (7 to 15 digits: see sms_text.c) */
bool sms_number_valid(const char *e164);

/* In place: control characters (C0 but line feed, and DEL), which no
 * handset shows and some gateways refuse, become spaces; a CR before a line
 * feed is dropped.  Data from the CRM (a name with an escape sequence)
 * reaches the text through templates. */
void sms_text_clean(char *text);

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
 * (a number or sender id); body non-empty valid UTF-8.  Twilio's Messages
 * API has no idempotency parameter, so the key is never put into the
 * Twilio body; for JSON it is included when non-NULL.
 * Errors: -EINVAL, -EILSEQ, -ENOMEM.  out_body is untouched on error. */
int sms_build_request(enum sms_format fmt, const char *from, const char *to, const char *body,
                      const char *idempotency_key, struct buf *out_body,
                      const char **content_type_ret);

/* The URL a Twilio-shaped request goes to.  A gateway_url that is only a
 * scheme and host (an optional trailing "/" aside: "https://api.twilio.com")
 * gets Twilio's Messages resource for the account appended,
 * /2010-04-01/Accounts/SID/Messages.json, as Twilio's client libraries
 * build it; one with a path (the full resource, or a relay's own) is used
 * as written.  Sets *ret to a new string: 0, or -ENOMEM. */
int sms_twilio_url(const char *gateway_url, const char *account_sid, char **ret);

/* The member names of a JSON request (sms.json_fields): a provider other
 * than the built-in shape names its fields differently.  to, from and text
 * must be non-empty and distinct; idempotency_key NULL or "" leaves the key
 * out of the body (it still goes in the Idempotency-Key header). */
struct sms_json_fields {
        const char *to, *from, *text, *idempotency_key;
};
extern const struct sms_json_fields sms_json_default_fields;

/* As sms_build_request for SMS_FORMAT_JSON, with the given member names.
 * Names and values are encoded by json-c, so neither can change the
 * body's structure.  An empty `from` leaves its member out (the provider's
 * account decides the sender).  -EINVAL also for missing, empty or
 * clashing names. */
int sms_build_json_request(const struct sms_json_fields *fields, const char *from, const char *to,
                           const char *body, const char *idempotency_key, struct buf *out_body,
                           const char **content_type_ret);

/* Extracts the provider's message id from its JSON reply (a string or an
 * integer).  0 and a strdup'd id; -ENOENT if absent, null or ""; -EBADMSG
 * if the body is not exactly one JSON object or the id has another type. */
int sms_parse_response(enum sms_format fmt, const char *body, size_t len, char **provider_id_ret);

/* As sms_parse_response, with the id looked up at each of the
 * NULL-terminated paths in turn (sms.json_reply_id) until one is present:
 * a path is member names joined by '.', and a component of digits only
 * indexes an array ("messages.0.message-id"), so the reply may also be
 * one JSON array.  A path that leads nowhere counts as absent (-ENOENT);
 * one that ends at a value which cannot be an id is -EBADMSG. */
int sms_parse_response_paths(const char *const *paths, const char *body, size_t len, char **provider_id_ret);

/* Whether path is usable by sms_parse_response_paths: non-empty, valid
 * UTF-8, no empty component (no leading, trailing or doubled '.') and
 * none longer than 255 bytes. */
bool sms_reply_path_valid(const char *path);
