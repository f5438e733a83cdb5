/* libFuzzer target: smtp_build_message and mime_encode_header_text
 * (daemon/mime.h).
 *
 * Input: FROM_NAME \0 FROM_ADDR \0 TO_NAME \0 TO_ADDR \0 SUBJECT \0 TEXT \0
 * HTML \0 MESSAGE_ID \0 EXTRA_NAME \0 EXTRA_VALUE \0 DATE — every field a
 * database row or a rendered template could supply.  An empty MESSAGE_ID
 * means "generate one", an empty EXTRA_NAME means no extra header.
 *
 * A built message must be what mime.c promises whatever the input: 7-bit,
 * CRLF only (no bare CR or LF), lines ≤ 998 octets, and a header section
 * holding exactly the headers rapport writes, each once — no injected
 * header, whatever CR/LF the fields carried. */
#include <errno.h>
#include <strings.h>

#include "fuzz.h"
#include "mime.h"

enum { F_FROM_NAME, F_FROM_ADDR, F_TO_NAME, F_TO_ADDR, F_SUBJECT, F_TEXT, F_HTML, F_MSGID, F_XNAME, F_XVALUE, F_DATE, N_F };

static const char *const fixed_headers[] = {"From", "To", "Subject", "Date", "Message-ID", "MIME-Version",
                                            "Content-Type", "Content-Transfer-Encoding"};

static void check_message(const struct buf *b, const char *extra_name, const char *message_id, bool alternative) {
        FUZZ_ASSERT(b->len >= 2 && b->data[b->len - 2] == '\r' && b->data[b->len - 1] == '\n',
                    "message does not end with CRLF");
        size_t counts[ELEMENTSOF(fixed_headers) + 1] = {0};
        bool in_headers = true, seen_any = false;
        size_t line_start = 0;
        for (size_t i = 0; i < b->len; i++) {
                unsigned char ch = (unsigned char)b->data[i];
                FUZZ_ASSERT(ch != 0 && ch < 0x80, "byte 0x%02x at %zu: not 7-bit text", ch, i);
                if (ch == '\r')
                        FUZZ_ASSERT(i + 1 < b->len && b->data[i + 1] == '\n', "bare CR at %zu", i);
                if (ch != '\n')
                        continue;
                FUZZ_ASSERT(i > 0 && b->data[i - 1] == '\r', "bare LF at %zu", i);
                const char *line = b->data + line_start;
                size_t len = i - 1 - line_start;
                FUZZ_ASSERT(len <= 998, "line of %zu octets at %zu", len, line_start);
                if (in_headers) {
                        if (len == 0) {
                                in_headers = false;
                        } else if (line[0] == ' ' || line[0] == '\t') {
                                FUZZ_ASSERT(seen_any, "message starts with a continuation line");
                        } else {
                                const char *colon = memchr(line, ':', len);
                                FUZZ_ASSERT(colon, "header line without a colon: %.*s", (int)len, line);
                                size_t nlen = (size_t)(colon - line);
                                size_t k;
                                for (k = 0; k < ELEMENTSOF(fixed_headers); k++)
                                        if (strlen(fixed_headers[k]) == nlen && strncasecmp(line, fixed_headers[k], nlen) == 0)
                                                break;
                                if (k == ELEMENTSOF(fixed_headers))
                                        FUZZ_ASSERT(extra_name && strlen(extra_name) == nlen &&
                                                            strncasecmp(line, extra_name, nlen) == 0,
                                                    "unexpected header: %.*s", (int)len, line);
                                counts[k]++;
                                seen_any = true;
                        }
                }
                line_start = i + 1;
        }
        FUZZ_ASSERT(!in_headers, "no blank line after the headers");
        for (size_t k = 0; k < 6; k++)
                FUZZ_ASSERT(counts[k] == 1, "header %s appears %zu times", fixed_headers[k], counts[k]);
        /* Top level: one Content-Type; text-only also one encoding. */
        FUZZ_ASSERT(counts[6] == 1 && counts[7] == (alternative ? 0u : 1u),
                    "Content-Type x%zu, Content-Transfer-Encoding x%zu", counts[6], counts[7]);
        FUZZ_ASSERT(counts[ELEMENTSOF(fixed_headers)] == (extra_name ? 1u : 0u), "extra header appears %zu times",
                    counts[ELEMENTSOF(fixed_headers)]);
        if (message_id) {
                char *want = NULL;
                FUZZ_ASSERT(asprintf(&want, "\r\nMessage-ID: %s\r\n", message_id) > 0, "out of memory");
                FUZZ_ASSERT(memmem(b->data, b->len, want, strlen(want)), "Message-ID header is not %s", message_id);
                free(want);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct fuzz_fields ff;
        if (size > 256 * 1024 || fuzz_split(data, size, N_F, &ff) < 0)
                return 0;
        const char *f[N_F];
        for (size_t i = 0; i < N_F; i++)
                f[i] = i < ff.n ? ff.f[i] : "";

        struct mail_header extra = {f[F_XNAME], f[F_XVALUE]};
        struct mail_message m = {
                .from_name = f[F_FROM_NAME],
                .from_addr = f[F_FROM_ADDR],
                .to_name = f[F_TO_NAME],
                .to_addr = f[F_TO_ADDR],
                .subject = f[F_SUBJECT],
                .text = f[F_TEXT],
                .html = f[F_HTML],
                .date = strtoll(f[F_DATE], NULL, 10),
                .message_id = *f[F_MSGID] ? f[F_MSGID] : NULL,
                .extra = *f[F_XNAME] ? &extra : NULL,
                .n_extra = *f[F_XNAME] ? 1 : 0,
        };
        struct buf out = {0};
        char *mid = NULL;
        int r = smtp_build_message(&m, &out, &mid);
        if (r < 0) {
                FUZZ_ASSERT(r == -EINVAL || r == -EILSEQ || r == -ERANGE || r == -ENOMEM,
                            "smtp_build_message returned %d", r);
                FUZZ_ASSERT(out.len == 0, "output written on error");
                FUZZ_ASSERT(!mid, "message id returned on error");
        } else {
                FUZZ_ASSERT(r == 0 && mid && mid[0] == '<' && mid[strlen(mid) - 1] == '>', "bad Message-ID return");
                if (m.message_id)
                        FUZZ_ASSERT(strcmp(mid, m.message_id) == 0, "Message-ID changed");
                FUZZ_ASSERT(email_address_valid(m.from_addr) && email_address_valid(m.to_addr),
                            "built a message with an invalid address");
                check_message(&out, m.n_extra ? m.extra[0].name : NULL, mid, m.html && *m.html);
        }
        free(mid);
        buf_free(&out);

        /* The header encoder alone, with the subject under a fixed name. */
        struct buf h = {0};
        r = mime_encode_header_text(f[F_SUBJECT], "Subject", &h);
        if (r == 0) {
                FUZZ_ASSERT(h.len >= 11 && memcmp(h.data, "Subject: ", 9) == 0 &&
                                    memcmp(h.data + h.len - 2, "\r\n", 2) == 0,
                            "encoded header malformed");
                for (size_t i = 0; i + 2 < h.len; i++)
                        if (h.data[i] == '\n')
                                FUZZ_ASSERT(h.data[i + 1] == ' ' || h.data[i + 1] == '\t',
                                            "encoded header breaks into a new header at %zu", i);
        } else {
                FUZZ_ASSERT(r == -EILSEQ || r == -ENOMEM, "mime_encode_header_text returned %d", r);
        }
        buf_free(&h);
        fuzz_fields_free(&ff);
        return 0;
}
