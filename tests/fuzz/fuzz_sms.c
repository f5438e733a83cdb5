/* libFuzzer target: sms_count_segments, sms_build_request and
 * sms_parse_response (daemon/sms_text.h).
 *
 * Input: BODY \0 TO \0 FROM \0 IDEMPOTENCY_KEY \0 PROVIDER_REPLY.  Checks
 * beyond "no crash": segment counts agree with the unit count, and each
 * request body decodes (JSON by json-c, form by a decoder here) back to
 * exactly the fields it was built from — nothing lost, nothing added. */
#include <errno.h>

#include <json-c/json.h>

#include "fuzz.h"
#include "sms_text.h"

enum { F_BODY, F_TO, F_FROM, F_KEY, F_REPLY, N_F };

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* Decodes application/x-www-form-urlencoded into a JSON object; a key that
 * appears twice or a malformed escape is a failed property. */
static json_object *form_decode(const char *s, size_t len) {
        json_object *obj = json_object_new_object();
        size_t i = 0;
        while (i <= len) {
                size_t end = i;
                while (end < len && s[end] != '&')
                        end++;
                const char *eq = memchr(s + i, '=', end - i);
                FUZZ_ASSERT(eq, "form field without '=': %.*s", (int)(end - i), s + i);
                char *val = malloc(end - i + 1), *v = val;
                for (const char *p = eq + 1; p < s + end; p++) {
                        if (*p == '+') {
                                *v++ = ' ';
                        } else if (*p == '%') {
                                FUZZ_ASSERT(p + 2 < s + end, "truncated escape in form body");
                                int hi = hexval(p[1]), lo = hexval(p[2]);
                                FUZZ_ASSERT(hi >= 0 && lo >= 0, "bad escape in form body");
                                *v++ = (char)(hi * 16 + lo);
                                p += 2;
                        } else {
                                FUZZ_ASSERT((unsigned char)*p > ' ' && (unsigned char)*p < 0x7f && !strchr("&=?#", *p),
                                            "unescaped byte 0x%02x in form body", (unsigned char)*p);
                                *v++ = *p;
                        }
                }
                *v = '\0';
                char *key = strndup(s + i, (size_t)(eq - (s + i)));
                FUZZ_ASSERT(!json_object_object_get_ex(obj, key, NULL), "form key %s twice", key);
                json_object_object_add(obj, key, json_object_new_string(val));
                free(key);
                free(val);
                i = end + 1;
        }
        return obj;
}

static void expect_field(json_object *obj, const char *key, const char *want) {
        json_object *v = NULL;
        FUZZ_ASSERT(json_object_object_get_ex(obj, key, &v) && json_object_is_type(v, json_type_string),
                    "field %s missing", key);
        FUZZ_ASSERT(strcmp(json_object_get_string(v), want) == 0 &&
                            (size_t)json_object_get_string_len(v) == strlen(want),
                    "field %s does not round-trip", key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct fuzz_fields ff;
        if (size > 64 * 1024 || fuzz_split(data, size, N_F, &ff) < 0)
                return 0;
        const char *f[N_F];
        for (size_t i = 0; i < N_F; i++)
                f[i] = i < ff.n ? ff.f[i] : "";

        struct sms_segments seg;
        int r = sms_count_segments(f[F_BODY], &seg);
        if (r == 0) {
                size_t single = seg.ucs2 ? 70 : 160, multi = seg.ucs2 ? 67 : 153;
                FUZZ_ASSERT(seg.segments >= 1, "zero segments");
                if (seg.units <= single)
                        FUZZ_ASSERT(seg.segments == 1, "%zu units but %zu segments", seg.units, seg.segments);
                else
                        /* Not splitting a pair or an escape wastes at most one unit a segment. */
                        FUZZ_ASSERT(seg.segments >= (seg.units + multi - 1) / multi &&
                                            seg.segments <= (seg.units + multi - 2) / (multi - 1),
                                    "%zu units (%s) in %zu segments", seg.units, seg.ucs2 ? "UCS-2" : "GSM-7",
                                    seg.segments);
                FUZZ_ASSERT(seg.units <= 2 * strlen(f[F_BODY]), "more units than bytes allow");
        } else {
                FUZZ_ASSERT(r == -EILSEQ, "sms_count_segments returned %d", r);
        }

        for (int fmt = SMS_FORMAT_TWILIO; fmt <= SMS_FORMAT_JSON; fmt++) {
                const char *key = *f[F_KEY] ? f[F_KEY] : NULL;
                struct buf out = {0};
                const char *ct = NULL;
                r = sms_build_request((enum sms_format)fmt, f[F_FROM], f[F_TO], f[F_BODY], key, &out, &ct);
                if (r < 0) {
                        FUZZ_ASSERT(r == -EINVAL || r == -EILSEQ || r == -ENOMEM, "sms_build_request returned %d", r);
                        FUZZ_ASSERT(out.len == 0, "output written on error");
                        continue;
                }
                FUZZ_ASSERT(sms_number_valid(f[F_TO]), "request built for an invalid number");
                FUZZ_ASSERT(ct && out.data, "no content type or body");
                json_object *obj = NULL;
                if (fmt == SMS_FORMAT_JSON) {
                        FUZZ_ASSERT(strcmp(ct, "application/json") == 0, "content type %s", ct);
                        json_tokener *tok = json_tokener_new();
                        obj = json_tokener_parse_ex(tok, out.data, (int)out.len);
                        FUZZ_ASSERT(obj && json_tokener_get_error(tok) == json_tokener_success &&
                                            json_tokener_get_parse_end(tok) == out.len,
                                    "JSON request does not parse: %.*s", (int)out.len, out.data);
                        json_tokener_free(tok);
                        FUZZ_ASSERT(json_object_object_length(obj) == (key ? 4 : 3), "JSON request has %d fields",
                                    json_object_object_length(obj));
                        if (key)
                                expect_field(obj, "idempotency_key", key);
                } else {
                        FUZZ_ASSERT(strcmp(ct, "application/x-www-form-urlencoded") == 0, "content type %s", ct);
                        obj = form_decode(out.data, out.len);
                        FUZZ_ASSERT(json_object_object_length(obj) == 3, "form request has %d fields",
                                    json_object_object_length(obj));
                }
                expect_field(obj, fmt == SMS_FORMAT_JSON ? "to" : "To", f[F_TO]);
                expect_field(obj, fmt == SMS_FORMAT_JSON ? "from" : "From", f[F_FROM]);
                expect_field(obj, fmt == SMS_FORMAT_JSON ? "text" : "Body", f[F_BODY]);
                json_object_put(obj);
                buf_free(&out);
        }

        for (int fmt = SMS_FORMAT_TWILIO; fmt <= SMS_FORMAT_JSON; fmt++) {
                char *id = NULL;
                r = sms_parse_response((enum sms_format)fmt, f[F_REPLY], ff.n > F_REPLY ? ff.len[F_REPLY] : 0, &id);
                if (r == 0)
                        FUZZ_ASSERT(id && *id, "empty provider id");
                else
                        FUZZ_ASSERT(r == -ENOENT || r == -EBADMSG || r == -ENOMEM, "sms_parse_response returned %d", r);
                free(id);
        }
        fuzz_fields_free(&ff);
        return 0;
}
