#include "preview.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <strings.h>

#include "channel.h"
#include "config.h"
#include "log.h"
#include "mime.h"
#include "outbox.h"
#include "sms_text.h"
#include "templates.h"

static int base64_value(char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* The text of a "=?UTF-8?B?…?=" encoded-word starting at p (the only kind
 * mime.c writes), into out; its length, or 0 when p holds none. */
static size_t decode_encoded_word(const char *p, const char *end, struct buf *out) {
        static const char prefix[] = "=?UTF-8?B?";
        size_t plen = sizeof prefix - 1;
        if ((size_t)(end - p) < plen + 2 || strncasecmp(p, prefix, plen) != 0)
                return 0;
        const char *text = p + plen, *q = text;
        while (q + 1 < end && !(q[0] == '?' && q[1] == '='))
                q++;
        if (q + 1 >= end)
                return 0;
        uint32_t acc = 0;
        int bits = 0;
        char bytes[3];
        for (const char *c = text; c < q && *c != '='; c++) {
                int v = base64_value(*c);
                if (v < 0)
                        return 0;
                acc = acc << 6 | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        bytes[0] = (char)(acc >> bits & 0xFF);
                        if (buf_append(out, bytes, 1) < 0)
                                return 0;
                }
        }
        return (size_t)(q + 2 - p);
}

/* A header value as a mail reader shows it: encoded-words decoded, and the
 * blanks between two of them dropped (RFC 2047 section 6.2). */
static int decode_header_value(const char *v, const char *end, struct buf *out) {
        bool after_word = false;
        int r;
        for (const char *p = v; p < end;) {
                const char *blank = p;
                while (p < end && (*p == ' ' || *p == '\t'))
                        p++;
                _cleanup_buf_ struct buf word = {0};
                size_t n = p < end ? decode_encoded_word(p, end, &word) : 0;
                if (n > 0) {
                        if (!after_word && (r = buf_append(out, blank, (size_t)(p - blank))) < 0)
                                return r;
                        if (word.len && (r = buf_append(out, word.data, word.len)) < 0)
                                return r;
                        p += n;
                        after_word = true;
                        continue;
                }
                const char *next = p;
                while (next < end && *next != ' ' && *next != '\t')
                        next++;
                if ((r = buf_append(out, blank, (size_t)(next - blank))) < 0)
                        return r;
                p = next;
                after_word = false;
        }
        return 0;
}

/* The header block of a built message, unfolded and decoded, one field a
 * line. */
static int print_header_block(FILE *out, const char *msg, size_t len) {
        const char *end = msg + len, *p = msg;
        while (p < end) {
                const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
                if (!eol || eol == p)
                        break; /* the empty line before the body */
                /* A field runs on over lines that start with a blank. */
                _cleanup_buf_ struct buf field = {0};
                for (;;) {
                        int r = buf_append(&field, p, (size_t)(eol - p));
                        if (r < 0)
                                return r;
                        p = eol + 2;
                        if (p >= end || (*p != ' ' && *p != '\t'))
                                break;
                        eol = memmem(p, (size_t)(end - p), "\r\n", 2);
                        if (!eol)
                                eol = end;
                }
                const char *colon = field.data ? strchr(field.data, ':') : NULL;
                if (!colon)
                        continue;
                _cleanup_buf_ struct buf value = {0};
                int r = decode_header_value(colon + 1, field.data + field.len, &value);
                if (r < 0)
                        return r;
                /* Decoded, a Subject or To can hold the CRM's controls. */
                fprintf(out, "%.*s:", (int)(colon - field.data), field.data);
                fput_display(value.data ? value.data : "", false, out);
                fputc('\n', out);
        }
        return 0;
}

/* The headers the dispatcher would send, made by the code that sends them
 * (channel_email.c and mime.c, on a transfer that is never started), shown
 * decoded. */
static int print_email_headers(FILE *out, const struct rapport_config *c, const struct outbox_msg *m,
                               const struct rendered *r, int64_t now, char *why, size_t whylen) {
        CURL *easy = curl_easy_init();
        if (!easy) {
                snprintf(why, whylen, "out of memory");
                return -ENOMEM;
        }
        struct transfer_io io = {.retry_after = -1};
        int ret = email_setup(c, m, r, (time_t)now, easy, &io, why, whylen);
        curl_easy_cleanup(easy);
        if (ret >= 0) {
                ret = print_header_block(out, io.payload.data, io.payload.len);
                if (ret < 0)
                        snprintf(why, whylen, "%s", strerror(-ret));
        } else if (!why[0])
                snprintf(why, whylen, "%s", strerror(-ret));
        transfer_io_clear(&io);
        return ret;
}

int preview_print(FILE *out, PGresult *rows, const struct rapport_config *c, const struct template_set *t,
                  int64_t now, bool show_recipients) {
        int bad = 0;
        int n = PQntuples(rows);
        for (int i = 0; i < n; i++) {
                const char *channel = PQgetvalue(rows, i, 1);
                const char *recipient = PQgetvalue(rows, i, 3);
                const char *tname = PQgetvalue(rows, i, 5), *locale = PQgetvalue(rows, i, 6);
                char masked[128], name[256];
                log_mask_address(recipient, masked, sizeof masked);
                /* The name and locale are CRM data: a CR, LF or ESC in them
                 * must not break the line (or fake another one) in what the
                 * administrator reads, nor drive the terminal.  A long name
                 * is cut between characters. */
                size_t cut = strlen(PQgetvalue(rows, i, 4));
                if (cut >= sizeof name)
                        cut = utf8_char_start(PQgetvalue(rows, i, 4), sizeof name - 1);
                snprintf(name, sizeof name, "%.*s", (int)cut, PQgetvalue(rows, i, 4));
                fprintf(out, "=== %s to ", channel);
                fput_display(name, false, out);
                fputs(" <", out);
                fput_display(show_recipients ? recipient : masked, false, out);
                fprintf(out, "> (%s, template %s, locale ", PQgetvalue(rows, i, 2), tname);
                fput_display(locale, false, out);
                fprintf(out, ", not before %s)\n", PQgetvalue(rows, i, 8));
                const struct message_template *tpl = template_find(t, tname, channel, locale, c->locale);
                if (!tpl) {
                        fprintf(out, "!!! no template %s.%s for locale ", tname, channel);
                        fput_display(locale, false, out);
                        fputs("\n\n", out);
                        bad++;
                        continue;
                }
                /* A recipient whose language has no template gets the
                 * default locale's: say so, or a Chinese customer's English
                 * greeting looks like a wrong locale in the CRM. */
                if (!template_find(t, tname, channel, locale, NULL)) {
                        fprintf(out, "note: no %s.%s template for locale ", tname, channel);
                        fput_display(locale, false, out);
                        fprintf(out, " or its language: the default locale's %s is used\n", tpl->path);
                }
                const char *token = PQgetisnull(rows, i, 11) ? NULL : PQgetvalue(rows, i, 11);
                json_object *ctx = message_context(c, PQgetvalue(rows, i, 7), strtoll(PQgetvalue(rows, i, 0), NULL, 10),
                                                   token, PQgetvalue(rows, i, 10)[0] == 't');
                struct rendered r;
                int rr = ctx ? template_render(t, tpl, ctx, &r) : -ENOMEM;
                json_object_put(ctx);
                if (rr < 0) {
                        fprintf(out, "!!! cannot render %s: %s\n\n", tpl->path, strerror(-rr));
                        bad++;
                        continue;
                }
                if (streq(channel, "email")) {
                        /* The address is checked as sent; the masked form
                         * stands in for it in what is shown. */
                        struct outbox_msg m = {
                                .id = strtoll(PQgetvalue(rows, i, 0), NULL, 10),
                                .channel = PQgetvalue(rows, i, 1),
                                .recipient = email_address_valid(recipient) && !show_recipients ? masked
                                                                                                 : PQgetvalue(rows, i, 3),
                                .recipient_name = PQgetvalue(rows, i, 4),
                                .marketing = PQgetvalue(rows, i, 10)[0] == 't',
                                .unsubscribe_token = (char *)token, /* read only here */
                        };
                        char why[512] = "";
                        if (print_email_headers(out, c, &m, &r, now, why, sizeof why) < 0) {
                                fprintf(out, "!!! cannot build the message: %s\n\n", why);
                                rendered_clear(&r);
                                bad++;
                                continue;
                        }
                } else {
                        fputs("To: ", out);
                        fput_display(show_recipients ? recipient : masked, false, out);
                        fputc('\n', out);
                        if (r.subject) {
                                fputs("Subject: ", out);
                                fput_display(r.subject, false, out);
                                fputc('\n', out);
                        }
                }
                /* The texts as lines, a CRM name's ESC or other control
                 * shown as a space (display_char()). */
                fputc('\n', out);
                fput_display(r.text ? r.text : "", true, out);
                if (r.text && r.text[0] && r.text[strlen(r.text) - 1] != '\n')
                        fputc('\n', out);
                if (r.html) {
                        fputs("--- html ---\n", out);
                        fput_display(r.html, true, out);
                        if (r.html[0] && r.html[strlen(r.html) - 1] != '\n')
                                fputc('\n', out);
                }
                if (streq(channel, "sms")) {
                        struct sms_segments seg;
                        if (sms_count_segments(r.text ? r.text : "", &seg) == 0) {
                                fprintf(out, "--- %zu %s unit(s), %zu segment(s)\n", seg.units, seg.ucs2 ? "UCS-2" : "GSM-7", seg.segments);
                                /* The dispatcher refuses it (channel_sms.c): a preview that
                                 * only warned would promise a message that fails. */
                                if ((int)seg.segments > c->sms.max_segments) {
                                        fprintf(out, "!!! this SMS needs %zu segments, more than sms.max_segments = %d:"
                                                     " it would fail, not be sent\n", seg.segments, c->sms.max_segments);
                                        bad++;
                                } else if (seg.segments > 1)
                                        fprintf(out, "warning: this SMS needs %zu segments (more than one)\n", seg.segments);
                        }
                }
                fputc('\n', out);
                rendered_clear(&r);
        }
        return bad;
}
