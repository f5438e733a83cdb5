/* RFC 5322 / MIME message construction for the e-mail channel. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct mail_header {
        const char *name;
        const char *value;
};

struct mail_message {
        const char *from_name, *from_addr; /* display name may be NULL/"" */
        const char *to_name, *to_addr;
        const char *subject;               /* UTF-8, anything (controls become spaces) */
        const char *text;                  /* UTF-8 plain-text body, required */
        const char *html;                  /* UTF-8 HTML body; NULL or "" = text only */
        int64_t date;                      /* unix seconds, rendered in UTC */
        const char *message_id;            /* "<left@right>" or NULL to generate */
        const struct mail_header *extra;   /* e.g. List-Unsubscribe */
        size_t n_extra;
};

/* Appends the complete message (headers, blank line, body; every line CRLF
 * terminated, ≤ 998 octets) to out.  On error out is left untouched.
 * *message_id_ret (if non-NULL) receives the Message-ID including the angle
 * brackets; caller frees.
 * Errors: -EINVAL (bad/missing address, message_id, extra header name, an
 * extra header that duplicates one we generate, NULL subject/text),
 * -EILSEQ (invalid UTF-8), -ERANGE (date), -ENOMEM, or getrandom's error. */
int smtp_build_message(const struct mail_message *m, struct buf *out, char **message_id_ret);

/* Pragmatic addr-spec check: ASCII dot-atom local part, LDH domain. */
bool email_address_valid(const char *addr);

/* Appends a whole unstructured header field "Header-Name: value\r\n".
 * Controls in value become spaces; printable ASCII is folded at whitespace,
 * anything else becomes RFC 2047 B encoded-words (UTF-8) on lines ≤ 76.
 * Errors: -EINVAL (invalid header name), -EILSEQ (invalid UTF-8), -ENOMEM. */
int mime_encode_header_text(const char *utf8, const char *header_name, struct buf *out);
