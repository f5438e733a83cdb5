/* SMS text helpers.
 *
 * Segment counting follows what carriers bill, not just the arithmetic: a
 * text stays GSM-7 only if every character is in the GSM 03.38 default
 * alphabet or its extension table (escape + char, two septets); anything
 * else makes the whole message UCS-2 (UTF-16 code units).  Concatenated
 * segments lose room to the UDH (153 septets / 67 units) and never split an
 * escape pair or a surrogate pair, so the fill is greedy per character.
 * Request bodies are built by encoders (percent-encoding, json-c) rather
 * than string pasting, so message text can never alter their structure. */
#include "sms_text.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdint.h>

#define GSM_SINGLE_MAX 160
#define GSM_PART_MAX 153
#define UCS2_SINGLE_MAX 70
#define UCS2_PART_MAX 67

bool sms_number_valid(const char *e164) {
        if (!e164 || e164[0] != '+' || e164[1] < '1' || e164[1] > '9')
                return false;
        size_t digits = strspn(e164 + 1, "0123456789");
        /* 7 to 15 digits: the shortest numbers in service (Niue, Tokelau,
         * Saint Helena) are a 3-digit country code and 4 digits. */
        return e164[1 + digits] == '\0' && digits >= 7 && digits <= 15;
}

/* Septets a character takes in GSM 03.38 (default alphabet 1, extension
 * table 2), or 0 if it has no GSM-7 encoding. */
static unsigned gsm7_septets(uint32_t cp) {
        static const uint16_t basic_non_ascii[] = {
                0x00A1, 0x00A3, 0x00A4, 0x00A5, 0x00A7, 0x00BF, 0x00C4, 0x00C5, 0x00C6, 0x00C7,
                0x00C9, 0x00D1, 0x00D6, 0x00D8, 0x00DC, 0x00DF, 0x00E0, 0x00E4, 0x00E5, 0x00E6,
                0x00E8, 0x00E9, 0x00EC, 0x00F1, 0x00F2, 0x00F6, 0x00F8, 0x00F9, 0x00FC, 0x0393,
                0x0394, 0x0398, 0x039B, 0x039E, 0x03A0, 0x03A3, 0x03A6, 0x03A8, 0x03A9,
        };
        if (cp == '\n' || cp == '\r')
                return 1;
        if (cp == '\f' || cp == 0x20AC)
                return 2;
        if (cp >= 0x20 && cp < 0x7F) {
                if (cp == '`')
                        return 0;
                return strchr("[\\]^{|}~", (int)cp) ? 2 : 1;
        }
        for (size_t i = 0; i < ELEMENTSOF(basic_non_ascii); i++)
                if (basic_non_ascii[i] == cp)
                        return 1;
        return 0;
}

void sms_text_clean(char *text) {
        char *w = text;
        for (const char *p = text; p && *p; p++) {
                unsigned char ch = (unsigned char)*p;
                if (ch == '\r' && p[1] == '\n')
                        continue;
                *w++ = ch == '\n' || (ch >= 0x20 && ch != 0x7f) ? (char)ch : ' ';
        }
        if (w)
                *w = '\0';
}

int sms_count_segments(const char *utf8, struct sms_segments *ret) {
        if (!utf8 || !ret)
                return -EINVAL;
        const unsigned char *s = (const unsigned char *)utf8;
        size_t len = strlen(utf8);
        uint32_t cp;

        bool ucs2 = false;
        for (size_t i = 0, n; i < len; i += n) {
                if ((n = utf8_decode(s + i, len - i, &cp)) == 0)
                        return -EILSEQ;
                if (gsm7_septets(cp) == 0)
                        ucs2 = true;
        }

        size_t single_max = ucs2 ? UCS2_SINGLE_MAX : GSM_SINGLE_MAX;
        size_t part_max = ucs2 ? UCS2_PART_MAX : GSM_PART_MAX;
        size_t units = 0, segments = 1, in_segment = 0;
        for (size_t i = 0, n; i < len; i += n) {
                n = utf8_decode(s + i, len - i, &cp);
                size_t w = ucs2 ? (cp > 0xFFFF ? 2 : 1) : gsm7_septets(cp);
                units += w;
                if (in_segment + w > part_max) {
                        segments++;
                        in_segment = 0;
                }
                in_segment += w;
        }
        if (units <= single_max)
                segments = 1;

        *ret = (struct sms_segments){.ucs2 = ucs2, .units = units, .segments = segments};
        return 0;
}

/* application/x-www-form-urlencoded value: RFC 3986 unreserved characters
 * stay, every other octet becomes %XX (space too, which Twilio accepts). */
static int append_form_value(struct buf *out, const char *s) {
        static const char hex[] = "0123456789ABCDEF";
        int r = 0;
        for (const unsigned char *p = (const unsigned char *)s; *p && r >= 0; p++) {
                if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                    strchr("-._~", *p))
                        r = buf_append(out, (const char *)p, 1);
                else
                        r = buf_printf(out, "%%%c%c", hex[*p >> 4], hex[*p & 0xF]);
        }
        return r;
}

int sms_twilio_url(const char *gateway_url, const char *account_sid, char **ret) {
        const char *host = strstr(gateway_url, "://");
        host = host ? host + 3 : gateway_url;
        size_t host_len = strcspn(host, "/?#");
        if (host[host_len] != '\0' && !streq(host + host_len, "/")) {
                *ret = strdup(gateway_url);
                return *ret ? 0 : -ENOMEM;
        }
        _cleanup_buf_ struct buf url = {0};
        int r = buf_append(&url, gateway_url, (size_t)(host + host_len - gateway_url));
        if (r >= 0)
                r = buf_puts(&url, "/2010-04-01/Accounts/");
        if (r >= 0)
                r = append_form_value(&url, account_sid ? account_sid : "");
        if (r >= 0)
                r = buf_puts(&url, "/Messages.json");
        if (r < 0)
                return -ENOMEM;
        *ret = buf_steal(&url);
        return *ret ? 0 : -ENOMEM;
}

static void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

static int json_add_string(json_object *obj, const char *key, const char *value) {
        json_object *v = json_object_new_string(value);
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(obj, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

int sms_build_request(enum sms_format fmt, const char *from, const char *to, const char *body,
                      const char *idempotency_key, struct buf *out_body,
                      const char **content_type_ret) {
        int r;
        if (!from || !*from || !body || !*body || !out_body || !content_type_ret ||
            !sms_number_valid(to))
                return -EINVAL;
        if (!utf8_valid(from) || !utf8_valid(body) || (idempotency_key && !utf8_valid(idempotency_key)))
                return -EILSEQ;

        _cleanup_buf_ struct buf b = {0};
        const char *content_type;
        switch (fmt) {
        case SMS_FORMAT_TWILIO:
                content_type = "application/x-www-form-urlencoded";
                if ((r = buf_puts(&b, "To=")) < 0 || (r = append_form_value(&b, to)) < 0 ||
                    (r = buf_puts(&b, "&From=")) < 0 || (r = append_form_value(&b, from)) < 0 ||
                    (r = buf_puts(&b, "&Body=")) < 0 || (r = append_form_value(&b, body)) < 0)
                        return r;
                break;
        case SMS_FORMAT_JSON:
                return sms_build_json_request(&sms_json_default_fields, from, to, body, idempotency_key, out_body,
                                              content_type_ret);
        default:
                return -EINVAL;
        }

        if ((r = buf_append(out_body, b.data, b.len)) < 0)
                return r;
        *content_type_ret = content_type;
        return 0;
}

const struct sms_json_fields sms_json_default_fields = {
        .to = "to", .from = "from", .text = "text", .idempotency_key = "idempotency_key",
};

static bool field_name_ok(const char *name) {
        return name && *name && utf8_valid(name);
}

int sms_build_json_request(const struct sms_json_fields *fields, const char *from, const char *to,
                           const char *body, const char *idempotency_key, struct buf *out_body,
                           const char **content_type_ret) {
        int r;
        if (!fields || !from || !body || !*body || !out_body || !content_type_ret || !sms_number_valid(to))
                return -EINVAL;
        /* json-c keeps one member per name: a clash would silently drop a
         * field (the number, say), so it is refused rather than sent. */
        const char *key_name = fields->idempotency_key && *fields->idempotency_key ? fields->idempotency_key : NULL;
        if (!field_name_ok(fields->to) || !field_name_ok(fields->from) || !field_name_ok(fields->text) ||
            (key_name && !utf8_valid(key_name)) || streq(fields->to, fields->from) || streq(fields->to, fields->text) ||
            streq(fields->from, fields->text) ||
            (key_name && (streq(key_name, fields->to) || streq(key_name, fields->from) || streq(key_name, fields->text))))
                return -EINVAL;
        if (!utf8_valid(from) || !utf8_valid(body) || (idempotency_key && !utf8_valid(idempotency_key)))
                return -EILSEQ;

        _cleanup_json_ json_object *obj = json_object_new_object();
        if (!obj)
                return -ENOMEM;
        /* No sender configured: the provider's account decides it, and the
         * member is left out rather than sent empty. */
        if ((r = json_add_string(obj, fields->to, to)) < 0 || (*from && (r = json_add_string(obj, fields->from, from)) < 0) ||
            (r = json_add_string(obj, fields->text, body)) < 0 ||
            (key_name && idempotency_key && (r = json_add_string(obj, key_name, idempotency_key)) < 0))
                return r;
        const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!s)
                return -ENOMEM;
        if ((r = buf_puts(out_body, s)) < 0)
                return r;
        *content_type_ret = "application/json";
        return 0;
}

static void json_tokener_freep(json_tokener **t) {
        if (*t)
                json_tokener_free(*t);
}

/* 0 with *found set, -ENOENT if the value is null or empty, -EBADMSG for
 * a value that cannot be an id. */
static int id_value(json_object *v, json_object **found) {
        if (!v)
                return -ENOENT;
        switch (json_object_get_type(v)) {
        case json_type_string:
                if (json_object_get_string_len(v) == 0)
                        return -ENOENT;
                break;
        case json_type_int:
                break;
        default:
                return -EBADMSG;
        }
        *found = v;
        return 0;
}

/* Longest component of a reply path; sms_reply_path_valid enforces it. */
#define PATH_COMPONENT_MAX 255

bool sms_reply_path_valid(const char *path) {
        if (!path || !*path || !utf8_valid(path))
                return false;
        for (const char *p = path;;) {
                size_t n = strcspn(p, ".");
                if (n == 0 || n > PATH_COMPONENT_MAX)
                        return false;
                if (!p[n])
                        return true;
                p += n + 1;
        }
}

/* Walks path from root: members of objects, digit-only components as
 * indexes of arrays.  Anything that does not lead on is "absent". */
static int id_at_path(json_object *root, const char *path, json_object **found) {
        json_object *cur = root;
        for (const char *p = path;;) {
                size_t n = strcspn(p, ".");
                char comp[PATH_COMPONENT_MAX + 1];
                if (n == 0 || n > PATH_COMPONENT_MAX || !cur)
                        return -ENOENT;
                memcpy(comp, p, n);
                comp[n] = '\0';
                json_object *next = NULL;
                if (json_object_is_type(cur, json_type_object)) {
                        if (!json_object_object_get_ex(cur, comp, &next))
                                return -ENOENT;
                } else if (json_object_is_type(cur, json_type_array) && n <= 9 && strspn(comp, "0123456789") == n) {
                        size_t idx = strtoul(comp, NULL, 10);
                        if (idx >= json_object_array_length(cur))
                                return -ENOENT;
                        next = json_object_array_get_idx(cur, idx);
                } else
                        return -ENOENT;
                if (!p[n])
                        return id_value(next, found);
                cur = next;
                p += n + 1;
        }
}

/* array_root: whether the reply may be a JSON array (a configured path
 * can index it); the built-in shapes always answer with an object. */
static int parse_reply(const char *const *paths, bool array_root, const char *body, size_t len,
                       char **provider_id_ret) {
        if (!provider_id_ret || !paths || !paths[0])
                return -EINVAL;
        if (!body || len == 0 || len >= INT_MAX)
                return -EBADMSG;

        _cleanup_(json_tokener_freep) json_tokener *tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        _cleanup_json_ json_object *root = json_tokener_parse_ex(tok, body, (int)len);
        if (!root || json_tokener_get_error(tok) != json_tokener_success ||
            !(json_object_is_type(root, json_type_object) || (array_root && json_object_is_type(root, json_type_array))))
                return -EBADMSG;
        for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
                if (!strchr(" \t\r\n", body[i]) || body[i] == '\0')
                        return -EBADMSG;

        json_object *id = NULL;
        int r = -ENOENT;
        for (size_t i = 0; paths[i] && r == -ENOENT; i++)
                r = id_at_path(root, paths[i], &id);
        if (r < 0)
                return r;
        char *dup = strdup(json_object_get_string(id));
        if (!dup)
                return -ENOMEM;
        *provider_id_ret = dup;
        return 0;
}

int sms_parse_response(enum sms_format fmt, const char *body, size_t len, char **provider_id_ret) {
        static const char *const twilio[] = {"sid", NULL};
        static const char *const json[] = {"id", "message_id", NULL};
        if (fmt != SMS_FORMAT_TWILIO && fmt != SMS_FORMAT_JSON)
                return -EINVAL;
        return parse_reply(fmt == SMS_FORMAT_TWILIO ? twilio : json, false, body, len, provider_id_ret);
}

int sms_parse_response_paths(const char *const *paths, const char *body, size_t len, char **provider_id_ret) {
        return parse_reply(paths, true, body, len, provider_id_ret);
}
