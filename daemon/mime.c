/* MIME message construction for libcurl's SMTP upload.
 *
 * Everything that came from outside (database rows, rendered templates) is
 * first made inert — control characters become spaces — and only then
 * encoded, so no input can produce a line break of its own: the only CRLFs
 * in the output are the ones written here.  Non-ASCII header text becomes
 * RFC 2047 "B" encoded-words (B has no context-dependent rules, unlike Q
 * whose allowed characters differ between phrases and unstructured text).
 * Bodies are quoted-printable: readable for Latin text, 7-bit clean, and
 * since QP output can never contain "=_" the multipart boundary starts with
 * it and cannot collide with a body. */
#include "mime.h"

#include <ctype.h>
#include <errno.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

/* RFC 2047 caps lines holding encoded-words at 76; RFC 2045 does the same
 * for QP; RFC 5322 recommends 78 and requires 998. */
#define ENCODED_LINE_MAX 76
#define ENCODED_WORD_MAX 75 /* RFC 2047 2 */
#define SOFT_LINE_MAX 78
#define HARD_LINE_MAX 998 /* RFC 5322 2.1.1 */
#define HEADER_NAME_MAX 76
#define ENCODED_WORD_PREFIX "=?UTF-8?B?"
#define ENCODED_WORD_SUFFIX "?="
#define ENCODED_WORD_OVERHEAD (sizeof ENCODED_WORD_PREFIX - 1 + sizeof ENCODED_WORD_SUFFIX - 1)

/* Length of the well-formed UTF-8 sequence at s, or 0. */
static size_t utf8_seq_len(const unsigned char *s, size_t left) {
        uint32_t cp;
        return utf8_decode(s, left, &cp);
}

static bool is_wsp(char c) { return c == ' ' || c == '\t'; }

/* Copy of s in which nothing can end or start a header line. */
static char *header_value_inert(const char *s) {
        char *v = strdup(s);
        if (!v)
                return NULL;
        for (unsigned char *p = (unsigned char *)v; *p; p++)
                if ((*p < 0x20 && *p != '\t') || *p == 0x7F)
                        *p = ' ';
        return v;
}

static bool is_printable_ascii(const char *s) {
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                if (!(*p == '\t' || (*p >= 0x20 && *p < 0x7F)))
                        return false;
        return true;
}

/* Literal text that looks like an encoded-word would be decoded by the
 * reader, so such text is encoded itself to survive unchanged. */
static bool needs_encoding(const char *s) {
        if (!is_printable_ascii(s))
                return true;
        const char *open = strstr(s, "=?");
        return open && strstr(open + 2, "?=");
}

static bool header_name_valid(const char *name) {
        if (!name || !*name || strlen(name) > HEADER_NAME_MAX)
                return false;
        for (const unsigned char *p = (const unsigned char *)name; *p; p++)
                if (*p <= 0x20 || *p >= 0x7F || *p == ':')
                        return false;
        return true;
}

static int append_base64(struct buf *out, const unsigned char *s, size_t n) {
        static const char alphabet[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        int r = buf_reserve(out, (n + 2) / 3 * 4);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t)s[i] << 16;
                if (i + 1 < n)
                        v |= (uint32_t)s[i + 1] << 8;
                if (i + 2 < n)
                        v |= s[i + 2];
                char q[4] = {
                        alphabet[v >> 18 & 0x3F],
                        alphabet[v >> 12 & 0x3F],
                        i + 1 < n ? alphabet[v >> 6 & 0x3F] : '=',
                        i + 2 < n ? alphabet[v & 0x3F] : '=',
                };
                r = buf_append(out, q, sizeof q);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Appends s as encoded-words separated by folding whitespace, each line
 * ≤ 76 and each word whole UTF-8 characters.  *col is the length of the
 * current line so far and is kept up to date. */
static int append_encoded_words(struct buf *out, const char *s, size_t *col) {
        const unsigned char *u = (const unsigned char *)s;
        size_t len = strlen(s), pos = 0;
        bool need_space = false;
        int r;

        while (pos < len) {
                size_t used = *col + (need_space ? 1 : 0) + ENCODED_WORD_OVERHEAD;
                size_t room = used < ENCODED_LINE_MAX ? ENCODED_LINE_MAX - used : 0;
                size_t max_bytes = room / 4 * 3, take = 0;
                while (pos + take < len) {
                        size_t n = utf8_seq_len(u + pos + take, len - pos - take);
                        if (n == 0)
                                return -EILSEQ;
                        if (take + n > max_bytes)
                                break;
                        take += n;
                }
                if (take == 0) {
                        /* A fresh continuation line holds 45 bytes, more
                         * than any character, so this cannot loop. */
                        if (*col <= 1)
                                return -EINVAL;
                        r = buf_puts(out, "\r\n ");
                        if (r < 0)
                                return r;
                        *col = 1;
                        need_space = false;
                        continue;
                }
                if (need_space && (r = buf_puts(out, " ")) < 0)
                        return r;
                if ((r = buf_puts(out, ENCODED_WORD_PREFIX)) < 0 ||
                    (r = append_base64(out, u + pos, take)) < 0 ||
                    (r = buf_puts(out, ENCODED_WORD_SUFFIX)) < 0)
                        return r;
                *col += (need_space ? 1 : 0) + ENCODED_WORD_OVERHEAD + (take + 2) / 3 * 4;
                pos += take;
                need_space = true;
        }
        return 0;
}

/* Appends printable ASCII, folding before whitespace so lines stay ≤ 78.
 * -E2BIG when a run without whitespace cannot fit in run_max even on a
 * line of its own: 78 for unstructured text, which the caller then encodes
 * (encoded-words fold anywhere); 998, the hard limit, for a structured
 * field, which must not be encoded. */
static int append_folded_ascii(struct buf *out, const char *s, size_t *col, size_t run_max) {
        size_t len = strlen(s), start = 0;
        bool line_has_text = false;
        int r;

        for (size_t i = 1; i <= len; i++) {
                /* Fold only before a whitespace run that follows text and is
                 * followed by text: a folded line must not be blank. */
                bool fold_point = i == len;
                if (!fold_point && is_wsp(s[i]) && !is_wsp(s[i - 1])) {
                        size_t j = i;
                        while (j < len && is_wsp(s[j]))
                                j++;
                        fold_point = j < len;
                }
                if (!fold_point)
                        continue;
                size_t seg = i - start;
                if (line_has_text && *col + seg > SOFT_LINE_MAX) {
                        if ((r = buf_puts(out, "\r\n")) < 0)
                                return r;
                        *col = 0;
                }
                if (*col + seg > run_max)
                        return -E2BIG;
                if ((r = buf_append(out, s + start, seg)) < 0)
                        return r;
                *col += seg;
                line_has_text = true;
                start = i;
        }
        return 0;
}

/* List-Unsubscribe and List-Unsubscribe-Post (RFC 2369, 8058) are
 * structured: RFC 2047 forbids encoded-words there, and mail providers look
 * for "<https://" in the raw field, so a long link (a token in its query)
 * must stay as it is, on a line of its own if need be. */
static bool header_structured(const char *name) {
        return strncasecmp(name, "List-", 5) == 0;
}

/* Appends already inert, valid UTF-8 text: plain if it can be, else encoded. */
static int append_header_text(struct buf *out, const char *v, size_t *col, bool structured) {
        if (!needs_encoding(v)) {
                size_t mark = out->len, mark_col = *col;
                int r = append_folded_ascii(out, v, col, structured ? HARD_LINE_MAX : SOFT_LINE_MAX);
                if (r != -E2BIG)
                        return r;
                out->len = mark;
                out->data[mark] = '\0';
                *col = mark_col;
        }
        return append_encoded_words(out, v, col);
}

int mime_encode_header_text(const char *utf8, const char *header_name, struct buf *out) {
        if (!utf8 || !out || !header_name_valid(header_name))
                return -EINVAL;
        _cleanup_free_ char *v = header_value_inert(utf8);
        if (!v)
                return -ENOMEM;
        if (!utf8_valid(v))
                return -EILSEQ;

        _cleanup_buf_ struct buf b = {0};
        int r = buf_printf(&b, "%s: ", header_name);
        if (r < 0)
                return r;
        size_t col = b.len;
        if ((r = append_header_text(&b, v, &col, header_structured(header_name))) < 0 || (r = buf_puts(&b, "\r\n")) < 0)
                return r;
        return buf_append(out, b.data, b.len);
}

bool email_address_valid(const char *addr) {
        if (!addr)
                return false;
        size_t len = strlen(addr);
        if (len < 3 || len > 254)
                return false;
        const char *at = strchr(addr, '@');
        if (!at || strchr(at + 1, '@'))
                return false;
        size_t local_len = (size_t)(at - addr);
        if (local_len == 0 || local_len > 64)
                return false;

        /* Local part: a dot-atom of printable ASCII without specials. */
        for (size_t i = 0; i < local_len; i++) {
                unsigned char c = (unsigned char)addr[i];
                if (c <= 0x20 || c >= 0x7F || strchr("<>(),;:\\\"[]@", c))
                        return false;
                if (c == '.' && (i == 0 || i + 1 == local_len || addr[i + 1] == '.'))
                        return false;
        }

        /* Domain: LDH labels; a single label ("localhost") is allowed. */
        const char *d = at + 1;
        if (!*d)
                return false;
        size_t label = 0;
        for (const char *p = d;; p++) {
                if (*p == '.' || *p == '\0') {
                        if (label == 0 || label > 63 || p[-1] == '-')
                                return false;
                        if (*p == '\0')
                                break;
                        label = 0;
                        continue;
                }
                unsigned char c = (unsigned char)*p;
                if (!(c < 0x80 && (isalnum(c) || c == '-')))
                        return false;
                if (label == 0 && c == '-')
                        return false;
                label++;
        }
        return true;
}

static bool is_atext(char c) {
        unsigned char u = (unsigned char)c;
        return u < 0x80 && (isalnum(u) || (u && strchr("!#$%&'*+-/=?^_`{|}~", u)));
}

/* Longer display names are cut (with an ellipsis): no one's name is longer,
 * and mail clients show far less. */
#define DISPLAY_NAME_MAX_CHARS 100

/* Display names.
 *
 * Readers disagree about the white space between two encoded-words in a
 * phrase: RFC 2047 and Python's compat32 decoder drop it, Python's
 * policy.default parser reads it as a space, so no split of a name into
 * adjacent encoded-words comes back the same from both.  A display name
 * therefore never has two encoded-words side by side: text that must be
 * encoded is one encoded-word from one plain word to the next, even past
 * RFC 2047's 75 characters (readers take long words; they do not agree on
 * the split ones), and plain ASCII words between such runs stay atoms or
 * quoted-strings.
 *
 * Folding happens only at a single space of the name, between atoms or
 * quoted-strings, where every reader unfolds it to that space again;
 * never inside a quoted-string, where compat32's parser ends the string at
 * the CR.
 *
 * White space survives exactly only in a quoted-string, so an ASCII name
 * keeps its doubled, leading and trailing spaces and its tabs.  Inside an
 * encoded-word policy.default reads each run of spaces and tabs (and of
 * Unicode spaces right after one) as one space, so a name that has to be
 * encoded first has such runs made single spaces and its ends trimmed:
 * every reader then sees that same name. */

/* One part of a display name, written as an atom, a quoted-string or an
 * encoded-word.  Parts are separated by exactly one space in the name. */
struct name_part {
        size_t start, len;
        bool encoded;
};

/* The longest name encodes to one word of this many columns; even after
 * "From: " it stays within the hard line limit. */
#define DISPLAY_NAME_MAX_BYTES (DISPLAY_NAME_MAX_CHARS * 4 + 3) /* + U+2026 */
_Static_assert(sizeof "From: " - 1 + ENCODED_WORD_OVERHEAD + (DISPLAY_NAME_MAX_BYTES + 2) / 3 * 4 <= HARD_LINE_MAX,
              "a display name's encoded-word must fit on a line");

static size_t encoded_word_width(size_t n) {
        return ENCODED_WORD_OVERHEAD + (n + 2) / 3 * 4;
}

/* Whether s[0..n) can go as it is: atext words separated by single spaces. */
static bool is_atoms(const char *s, size_t n) {
        if (n == 0 || is_wsp(s[0]) || is_wsp(s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_atext(s[i]) && !(s[i] == ' ' && s[i + 1] != ' '))
                        return false;
        return true;
}

static size_t plain_width(const char *s, size_t n) {
        if (is_atoms(s, n))
                return n;
        size_t w = n + 2;
        for (size_t i = 0; i < n; i++)
                w += s[i] == '"' || s[i] == '\\';
        return w;
}

static size_t part_width(const char *v, const struct name_part *first, const struct name_part *last) {
        size_t n = last->start + last->len - first->start;
        return first->encoded ? encoded_word_width(n) : plain_width(v + first->start, n);
}

static int append_name_part(struct buf *out, const char *s, size_t n, bool encoded) {
        int r;
        if (encoded) {
                if ((r = buf_puts(out, ENCODED_WORD_PREFIX)) < 0 ||
                    (r = append_base64(out, (const unsigned char *)s, n)) < 0)
                        return r;
                return buf_puts(out, ENCODED_WORD_SUFFIX);
        }
        if (is_atoms(s, n))
                return buf_append(out, s, n);
        if ((r = buf_puts(out, "\"")) < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (((s[i] == '"' || s[i] == '\\') && (r = buf_puts(out, "\\")) < 0) ||
                    (r = buf_append(out, s + i, 1)) < 0)
                        return r;
        return buf_puts(out, "\"");
}

/* A word that a reader would take for (part of) an encoded-word, or that
 * is not ASCII, is encoded; the rest of the name can stay plain. */
static bool word_needs_encoding(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c >= 0x7F || c < 0x20)
                        return true;
                if (i + 1 < n && ((s[i] == '=' && s[i + 1] == '?') || (s[i] == '?' && s[i + 1] == '=')))
                        return true;
        }
        return false;
}

/* The characters besides ASCII ones that Python's str.isspace() knows. */
static bool is_unicode_space(uint32_t cp) {
        return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
               cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Length of the white space at s[0..left) that policy.default reads as one
 * space inside an encoded-word: a run that starts with a space or tab goes
 * on over Unicode spaces too (it strips str.isspace() characters there),
 * though a Unicode space that does not follow one stays text. */
static size_t space_run_len(const char *s, size_t left) {
        size_t n = 0;
        while (n < left) {
                uint32_t cp;
                size_t k;
                if (is_wsp(s[n]))
                        n++;
                else if (n > 0 && (k = utf8_decode((const unsigned char *)s + n, left - n, &cp)) > 0 &&
                         is_unicode_space(cp))
                        n += k;
                else
                        break;
        }
        return n;
}

/* Makes each such run one space and drops it at both ends. */
static void collapse_whitespace(char *s) {
        size_t len = strlen(s), o = 0;
        for (size_t i = 0; i < len;) {
                size_t run = space_run_len(s + i, len - i);
                if (run == 0) {
                        s[o++] = s[i++];
                        continue;
                }
                i += run;
                if (o > 0 && i < len)
                        s[o++] = ' ';
        }
        s[o] = '\0';
}

/* Splits v (not blank) into parts; returns how many.  parts has room for
 * one part per byte. */
static size_t split_display_name(char *v, struct name_part *parts) {
        size_t n = 0, len;
        if (!needs_encoding(v)) {
                /* Exactly as it is: parts end at single spaces between text. */
                len = strlen(v);
                size_t start = 0;
                for (size_t i = 1; i + 1 < len; i++)
                        if (v[i] == ' ' && !is_wsp(v[i - 1]) && !is_wsp(v[i + 1])) {
                                parts[n++] = (struct name_part){start, i - start, false};
                                start = i + 1;
                        }
                parts[n++] = (struct name_part){start, len - start, false};
                return n;
        }
        collapse_whitespace(v);
        len = strlen(v);
        /* A name that fits one encoded-word of RFC 2047's size is one. */
        if (encoded_word_width(len) <= ENCODED_WORD_MAX) {
                parts[0] = (struct name_part){0, len, true};
                return 1;
        }
        /* Words, and a run of words to encode is one part. */
        for (size_t start = 0; start < len;) {
                size_t wlen = strcspn(v + start, " ");
                bool enc = word_needs_encoding(v + start, wlen);
                if (n > 0 && enc && parts[n - 1].encoded)
                        parts[n - 1].len = start + wlen - parts[n - 1].start;
                else
                        parts[n++] = (struct name_part){start, wlen, enc};
                start += wlen + 1;
        }
        return n;
}

/* "From: Name <addr>": the display name as atoms, quoted-strings and
 * encoded-words (see "Display names" above), folded to lines ≤ 78 where a
 * single space allows. */
static int append_address_header(struct buf *out, const char *header, const char *name,
                                 const char *addr) {
        _cleanup_free_ char *v = header_value_inert(name ? name : "");
        /* A display name comes from the CRM as it is: any bytes, any size. */
        if (!v || utf8_repair(&v) < 0)
                return -ENOMEM;
        utf8_shorten(v, DISPLAY_NAME_MAX_CHARS);
        size_t vlen = strlen(v);
        if (strspn(v, " \t") == vlen)
                return buf_printf(out, "%s: %s\r\n", header, addr);

        _cleanup_free_ struct name_part *parts = calloc(vlen, sizeof *parts);
        if (!parts)
                return -ENOMEM;
        size_t n_parts = split_display_name(v, parts);

        int r = buf_printf(out, "%s:", header);
        if (r < 0)
                return r;
        size_t col = strlen(header) + 1;
        bool line_has_name = false;
        for (size_t i = 0; i < n_parts;) {
                size_t j = i + 1, w = part_width(v, &parts[i], &parts[i]);
                /* Fold before a part that overflows the line, unless only
                 * the field name would be left on it for nothing gained. */
                bool fold = col + 1 + w > SOFT_LINE_MAX && (line_has_name || 1 + w <= SOFT_LINE_MAX);
                if (fold)
                        col = 0;
                /* Plain parts share a quoted-string while the line has room. */
                while (!parts[i].encoded && j < n_parts && !parts[j].encoded &&
                       col + 1 + part_width(v, &parts[i], &parts[j]) <= SOFT_LINE_MAX)
                        j++;
                w = part_width(v, &parts[i], &parts[j - 1]);
                size_t start = parts[i].start, len = parts[j - 1].start + parts[j - 1].len - start;
                if ((r = buf_puts(out, fold ? "\r\n " : " ")) < 0 ||
                    (r = append_name_part(out, v + start, len, parts[i].encoded)) < 0)
                        return r;
                col += 1 + w;
                line_has_name = true;
                i = j;
        }
        if (col + strlen(addr) + 3 > SOFT_LINE_MAX)
                return buf_printf(out, "\r\n <%s>\r\n", addr);
        return buf_printf(out, " <%s>\r\n", addr);
}

static int append_date(struct buf *out, int64_t date) {
        static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        /* RFC 5322 wants a four-digit year ≥ 1900; keep to 1970..9999. */
        if (date < 0 || date > INT64_C(253402300799))
                return -ERANGE;
        time_t t = (time_t)date;
        struct tm tm;
        if (!gmtime_r(&t, &tm))
                return -ERANGE;
        return buf_printf(out, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday],
                          tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                          tm.tm_sec);
}

/* Random bytes for Message-IDs and boundaries, drawn from the kernel a
 * block at a time rather than with one getrandom() per use. */
static int random_bytes(unsigned char *dst, size_t n) {
        static _Thread_local unsigned char pool[256];
        static _Thread_local size_t avail;
        while (n > 0) {
                if (avail == 0) {
                        ssize_t k = getrandom(pool, sizeof pool, 0);
                        if (k < 0) {
                                if (errno == EINTR)
                                        continue;
                                return -errno;
                        }
                        avail = (size_t)k;
                        continue;
                }
                size_t take = n < avail ? n : avail;
                /* Consume from the end and wipe what was handed out. */
                memcpy(dst, pool + avail - take, take);
                memset(pool + avail - take, 0, take);
                avail -= take;
                dst += take;
                n -= take;
        }
        return 0;
}

static int random_hex(char *dst, size_t n_bytes) {
        unsigned char raw[32];
        if (n_bytes > sizeof raw)
                return -EINVAL;
        int r = random_bytes(raw, n_bytes);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_bytes; i++) {
                dst[2 * i] = "0123456789abcdef"[raw[i] >> 4];
                dst[2 * i + 1] = "0123456789abcdef"[raw[i] & 0xF];
        }
        dst[2 * n_bytes] = '\0';
        return 0;
}

/* msg-id = "<" dot-atom-text "@" dot-atom-text ">" */
static bool message_id_valid(const char *id) {
        size_t len = strlen(id);
        if (len < 5 || len > 250 || id[0] != '<' || id[len - 1] != '>')
                return false;
        const char *at = memchr(id, '@', len);
        if (!at || at == id + 1 || at == id + len - 2)
                return false;
        for (size_t i = 1; i + 1 < len; i++) {
                if (id + i == at)
                        continue;
                if (!(is_atext(id[i]) || id[i] == '.'))
                        return false;
                if (id[i] == '.' && (id[i - 1] == '.' || id[i - 1] == '<' || id[i - 1] == '@' ||
                                     id[i + 1] == '.' || id[i + 1] == '>' || id[i + 1] == '@'))
                        return false;
        }
        return true;
}

/* Headers this module writes itself; a second copy would confuse readers. */
static bool header_name_reserved(const char *name) {
        static const char *const reserved[] = {"From", "To", "Subject", "Date", "Message-ID",
                                               "MIME-Version"};
        for (size_t i = 0; i < ELEMENTSOF(reserved); i++)
                if (strcasecmp(name, reserved[i]) == 0)
                        return true;
        return strncasecmp(name, "Content-", 8) == 0;
}

/* Bytes a QP encoder may write as themselves: printable ASCII but '=';
 * space and tab too (2), except at the end of a line. */
static const unsigned char qp_class[256] = {
        ['\t'] = 2, [' '] = 2,
#define R4(c) [c] = 1, [c + 1] = 1, [c + 2] = 1, [c + 3] = 1
#define R16(c) R4(c), R4(c + 4), R4(c + 8), R4(c + 12)
        [33] = 1, [34] = 1, [35] = 1, R4(36), R4(40), R4(44), R4(48), R4(52), R4(56), [60] = 1, /* '=' is 61 */
        [62] = 1, [63] = 1, R16(64), R16(80), R16(96), R4(112), R4(116), R4(120), [124] = 1, [125] = 1, [126] = 1,
#undef R16
#undef R4
};

/* Appends QP (RFC 2045 6.7) of s.  \r\n, \r and \n all end a line and
 * become CRLF.  A '.' or "From " starting an output line is escaped too, so
 * neither SMTP dot-stuffing nor mbox "From " quoting can alter the text.
 * *ends_with_break tells whether the output ends in CRLF.
 *
 * The output is written straight into room reserved once: every input byte
 * becomes at most 3 bytes (a line break 2), and a soft break (3 bytes)
 * follows at least 73 output bytes, i.e. at least 24 input bytes — under
 * 4 bytes per input byte in all. */
static int append_quoted_printable(struct buf *out, const char *s, bool *ends_with_break) {
        static const char hex[] = "0123456789ABCDEF";
        size_t len = strlen(s);
        *ends_with_break = false;
        if (len > (SIZE_MAX - 16) / 4)
                return -ENOMEM;
        int r = buf_reserve(out, len * 4 + 16);
        if (r < 0)
                return r;
        char *o = out->data + out->len;

        const char *p = s, *end = s + len;
        while (p < end) {
                size_t line_len = strcspn(p, "\r\n");
                size_t col = 0;
                for (size_t i = 0; i < line_len; i++) {
                        unsigned char c = (unsigned char)p[i];
                        bool last = i + 1 == line_len;
                        bool literal;
                        size_t width;
                        for (;;) {
                                literal = qp_class[c] == 1 || (qp_class[c] == 2 && !last);
                                if (col == 0 && (c == '.' || (c == 'F' && line_len - i >= 5 &&
                                                              memcmp(p + i, "From ", 5) == 0)))
                                        literal = false;
                                width = literal ? 1 : 3;
                                /* Room for the '=' of a soft break, unless
                                 * this is the line's last character. */
                                if (col + width <= ENCODED_LINE_MAX - 1 ||
                                    (last && col + width <= ENCODED_LINE_MAX))
                                        break;
                                memcpy(o, "=\r\n", 3);
                                o += 3;
                                col = 0;
                        }
                        if (literal)
                                *o++ = (char)c;
                        else {
                                o[0] = '=';
                                o[1] = hex[c >> 4];
                                o[2] = hex[c & 0xF];
                                o += 3;
                        }
                        col += width;
                }
                p += line_len;
                *ends_with_break = false;
                if (p < end) {
                        p += (p[0] == '\r' && p[1] == '\n') ? 2 : 1;
                        memcpy(o, "\r\n", 2);
                        o += 2;
                        *ends_with_break = true;
                }
        }
        out->len = (size_t)(o - out->data);
        out->data[out->len] = '\0';
        return 0;
}

static int append_text_part_headers(struct buf *out, const char *subtype) {
        return buf_printf(out,
                          "Content-Type: text/%s; charset=UTF-8\r\n"
                          "Content-Transfer-Encoding: quoted-printable\r\n",
                          subtype);
}

int smtp_build_message(const struct mail_message *m, struct buf *out, char **message_id_ret) {
        int r;
        if (!m || !out || !m->subject || !m->text)
                return -EINVAL;
        if (!email_address_valid(m->from_addr) || !email_address_valid(m->to_addr))
                return -EINVAL;
        if (m->n_extra > 0 && !m->extra)
                return -EINVAL;
        for (size_t i = 0; i < m->n_extra; i++)
                if (!header_name_valid(m->extra[i].name) || header_name_reserved(m->extra[i].name) ||
                    !m->extra[i].value)
                        return -EINVAL;
        if (!utf8_valid(m->text))
                return -EILSEQ;
        bool alternative = m->html && *m->html;
        if (alternative && !utf8_valid(m->html))
                return -EILSEQ;

        _cleanup_free_ char *message_id = NULL;
        if (m->message_id) {
                if (!message_id_valid(m->message_id))
                        return -EINVAL;
                message_id = strdup(m->message_id);
        } else {
                char hex[33];
                if ((r = random_hex(hex, 16)) < 0)
                        return r;
                if (asprintf(&message_id, "<%s@%s>", hex, strchr(m->from_addr, '@') + 1) < 0)
                        message_id = NULL;
        }
        if (!message_id)
                return -ENOMEM;

        _cleanup_buf_ struct buf b = {0};
        if ((r = append_address_header(&b, "From", m->from_name, m->from_addr)) < 0 ||
            (r = append_address_header(&b, "To", m->to_name, m->to_addr)) < 0 ||
            (r = mime_encode_header_text(m->subject, "Subject", &b)) < 0 ||
            (r = append_date(&b, m->date)) < 0 ||
            (r = buf_printf(&b, "Message-ID: %s\r\n", message_id)) < 0)
                return r;
        for (size_t i = 0; i < m->n_extra; i++)
                if ((r = mime_encode_header_text(m->extra[i].value, m->extra[i].name, &b)) < 0)
                        return r;
        if ((r = buf_puts(&b, "MIME-Version: 1.0\r\n")) < 0)
                return r;

        bool ends_with_break;
        if (!alternative) {
                if ((r = append_text_part_headers(&b, "plain")) < 0 || (r = buf_puts(&b, "\r\n")) < 0 ||
                    (r = append_quoted_printable(&b, m->text, &ends_with_break)) < 0)
                        return r;
                /* A soft break ends the last line without adding a newline
                 * the text did not have. */
                if (*m->text && !ends_with_break && (r = buf_puts(&b, "=\r\n")) < 0)
                        return r;
        } else {
                char boundary[64] = "=_rapport_";
                if ((r = random_hex(boundary + strlen(boundary), 16)) < 0)
                        return r;
                if ((r = buf_printf(&b,
                                    "Content-Type: multipart/alternative;\r\n"
                                    " boundary=\"%s\"\r\n"
                                    "\r\n",
                                    boundary)) < 0)
                        return r;
                const char *subtypes[2] = {"plain", "html"};
                const char *bodies[2] = {m->text, m->html};
                for (size_t i = 0; i < 2; i++)
                        if ((r = buf_printf(&b, "--%s\r\n", boundary)) < 0 ||
                            (r = append_text_part_headers(&b, subtypes[i])) < 0 ||
                            (r = buf_puts(&b, "\r\n")) < 0 ||
                            (r = append_quoted_printable(&b, bodies[i], &ends_with_break)) < 0 ||
                            /* This CRLF belongs to the delimiter, not the body. */
                            (r = buf_puts(&b, "\r\n")) < 0)
                                return r;
                if ((r = buf_printf(&b, "--%s--\r\n", boundary)) < 0)
                        return r;
        }

        if ((r = buf_append(out, b.data, b.len)) < 0)
                return r;
        if (message_id_ret)
                *message_id_ret = TAKE_PTR(message_id);
        return 0;
}
