#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"

int buf_reserve(struct buf *b, size_t extra) {
        if (extra > SIZE_MAX - b->len - 1)
                return -ENOMEM;
        size_t need = b->len + extra + 1;
        if (need <= b->cap)
                return 0;
        /* Doubling keeps appends amortized O(1); a reservation larger than
         * that gets exactly what it asked for (a renderer reserves its
         * output's expected size once: a power of two above it would waste
         * up to half). */
        size_t cap = b->cap > SIZE_MAX / 2 ? SIZE_MAX : b->cap * 2;
        if (cap < 64)
                cap = 64;
        if (cap < need)
                cap = need;
        char *p = realloc(b->data, cap);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->cap = cap;
        return 0;
}

int buf_append(struct buf *b, const char *s, size_t n) {
        int r = buf_reserve(b, n);
        if (r < 0)
                return r;
        if (n)
                memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

int buf_puts(struct buf *b, const char *s) { return buf_append(b, s, strlen(s)); }

int buf_printf(struct buf *b, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        int r = buf_reserve(b, (size_t)n);
        if (r < 0)
                return r;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        b->len += (size_t)n;
        return 0;
}

void buf_free(struct buf *b) {
        free(b->data);
        *b = (struct buf){0};
}

char *buf_steal(struct buf *b) {
        if (!b->data) {
                if (buf_reserve(b, 0) < 0)
                        return NULL;
                b->data[0] = '\0';
        }
        char *p = b->data;
        *b = (struct buf){0};
        return p;
}

void strv_free(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

int strv_copy(char *const *v, char ***ret) {
        *ret = NULL;
        if (!v)
                return 0;
        size_t n = 0;
        while (v[n])
                n++;
        char **copy = calloc(n + 1, sizeof *copy);
        if (!copy)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!(copy[i] = strdup(v[i]))) {
                        strv_free(copy);
                        return -ENOMEM;
                }
        *ret = copy;
        return 0;
}

bool strv_contains(const char *const *v, const char *s) {
        for (; s && v && *v; v++)
                if (streq(*v, s))
                        return true;
        return false;
}

int read_file(const char *path, char **out, size_t *len) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        _cleanup_buf_ struct buf b = {0};
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
                int r = buf_append(&b, chunk, n);
                if (r < 0)
                        return r;
        }
        if (ferror(f))
                return -EIO;
        if (len)
                *len = b.len;
        *out = buf_steal(&b);
        return *out ? 0 : -ENOMEM;
}

/* What utf8_decode() accepts, spelled out per lead byte (the bounds on the
 * second byte exclude overlongs, surrogates and values past U+10FFFF):
 * every value a render emits is checked, so this is a hot loop.  Most text
 * is ASCII (markup, names, numbers): eight bytes at a time. */
size_t utf8_valid_prefix(const char *str, size_t len) {
        const unsigned char *s = (const unsigned char *)str;
        size_t i = 0;
        while (i < len) {
                unsigned c = s[i];
                if (c < 0x80) {
                        uint64_t v;
                        if (i + 8 <= len && (memcpy(&v, s + i, 8), (v & UINT64_C(0x8080808080808080)) == 0))
                                i += 8;
                        else
                                i++;
                        continue;
                }
                size_t left = len - i;
                if (c >= 0xC2 && c <= 0xDF) {
                        if (left < 2 || (s[i + 1] & 0xC0) != 0x80)
                                break;
                        i += 2;
                } else if (c >= 0xE0 && c <= 0xEF) {
                        unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
                        if (left < 3 || s[i + 1] < lo || s[i + 1] > hi || (s[i + 2] & 0xC0) != 0x80)
                                break;
                        i += 3;
                } else if (c >= 0xF0 && c <= 0xF4) {
                        unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
                        if (left < 4 || s[i + 1] < lo || s[i + 1] > hi || (s[i + 2] & 0xC0) != 0x80 ||
                            (s[i + 3] & 0xC0) != 0x80)
                                break;
                        i += 4;
                } else
                        break;
        }
        return i;
}

bool utf8_valid(const char *s) {
        size_t len = strlen(s);
        return utf8_valid_prefix(s, len) == len;
}

/* Replaces every malformed UTF-8 sequence in *s (one byte at a time, as
 * decoders conventionally do) with U+FFFD.  Returns how many it replaced,
 * or -ENOMEM (then *s is unchanged). */
int utf8_repair(char **s) {
        size_t len = strlen(*s);
        if (utf8_valid_prefix(*s, len) == len)
                return 0;
        _cleanup_buf_ struct buf b = {0};
        size_t replaced = 0, unjudged;
        if (utf8_repair_append(&b, *s, len, true, &replaced, &unjudged) < 0)
                return -ENOMEM;
        char *fixed = buf_steal(&b);
        if (!fixed)
                return -ENOMEM;
        free(*s);
        *s = fixed;
        return replaced > INT_MAX ? INT_MAX : (int)replaced;
}

/* Whether the malformed sequence at s is only cut short by the end of the
 * text: a lead byte followed by fewer continuation bytes than it needs, so
 * that more text could still make it well-formed (or prove it overlong). */
static bool utf8_cut_short(const unsigned char *s, size_t left) {
        size_t n = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
        if (left >= n)
                return false;
        for (size_t i = 1; i < left; i++)
                if ((s[i] & 0xC0) != 0x80)
                        return false;
        return true;
}

/* utf8_repair() a piece at a time, for text produced in pieces (a rendering
 * of template text and values): the verdict on a byte depends on the three
 * bytes after it at most, so only a sequence at the very end of a piece can
 * need the next piece's bytes. */
int utf8_repair_append(struct buf *b, const char *s, size_t len, bool final, size_t *replaced,
                       size_t *unjudged) {
        size_t i = 0;
        *unjudged = 0;
        for (;;) {
                size_t n = utf8_valid_prefix(s + i, len - i);
                if (buf_append(b, s + i, n) < 0)
                        return -ENOMEM;
                i += n;
                if (i == len)
                        return 0;
                if (!final && utf8_cut_short((const unsigned char *)s + i, len - i)) {
                        *unjudged = len - i;
                        return buf_append(b, s + i, len - i);
                }
                if (buf_append(b, "\xEF\xBF\xBD", 3) < 0)
                        return -ENOMEM;
                (*replaced)++;
                i++;
        }
}

/* Cuts well-formed UTF-8 text longer than max_chars characters at a
 * character boundary and ends it with U+2026; returns the characters it
 * had before (so the caller can say what it did), or 0 if it fitted. */
size_t utf8_shorten(char *s, size_t max_chars) {
        size_t len = strlen(s), i = 0, chars = 0, n;
        uint32_t cp;
        while (i < len && chars < max_chars && (n = utf8_decode((const unsigned char *)s + i, len - i, &cp)) > 0)
                i += n, chars++;
        if (i >= len)
                return 0;
        size_t total = chars;
        for (size_t j = i; j < len && (n = utf8_decode((const unsigned char *)s + j, len - j, &cp)) > 0; total++)
                j += n;
        /* The ellipsis takes 3 bytes where the cut-off text took fewer. */
        while (i > 0 && len - i < 3)
                i = utf8_char_start(s, i - 1);
        memcpy(s + i, "\xE2\x80\xA6", 4);
        return total;
}

size_t utf8_char_start(const char *s, size_t i) {
        while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
                i--;
        return i;
}

static bool char_moves_text(uint32_t cp) {
        return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
               (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

size_t display_char(const char *s, bool keep_lines, char out[4], size_t *len, uint32_t *cp) {
        size_t n = utf8_decode((const unsigned char *)s, strnlen(s, 4), cp);
        if (n == 0) {
                memcpy(out, "\xEF\xBF\xBD", 3);
                *len = 3, *cp = 0xFFFD;
                return 1;
        }
        if (keep_lines && (*cp == '\n' || *cp == '\t' || (*cp == '\r' && s[1] == '\n'))) {
                *len = *cp != '\r';
                out[0] = (char)*cp;
                return n;
        }
        if (char_moves_text(*cp)) {
                out[0] = ' ';
                *len = 1, *cp = ' ';
                return n;
        }
        memcpy(out, s, n);
        *len = n;
        return n;
}

void fput_display(const char *s, bool keep_lines, FILE *f) {
        char c[4];
        size_t len;
        uint32_t cp;
        while (*s) {
                /* Printable ASCII goes out in runs; the rest a character
                 * at a time. */
                const char *p = s;
                while ((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f)
                        p++;
                fwrite(s, 1, (size_t)(p - s), f);
                s = p;
                if (*s) {
                        s += display_char(s, keep_lines, c, &len, &cp);
                        fwrite(c, 1, len, f);
                }
        }
}

/* Decodes one well-formed UTF-8 character (no overlongs, surrogates or
 * values past U+10FFFF); returns its length or 0. */
size_t utf8_decode(const unsigned char *s, size_t left, uint32_t *cp_ret) {
        if (left == 0)
                return 0;
        unsigned char c = s[0];
        if (c < 0x80) {
                *cp_ret = c;
                return 1;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
                n = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
                n = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
                n = 4, cp = c & 0x07, min = 0x10000;
        } else
                return 0;
        if (left < n)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        *cp_ret = cp;
        return n;
}

void getopt_error(char *msg, size_t size, const char *shortopts, int argc, char **argv) {
        /* optopt: 0 for an unknown long option, the character of an unknown
         * short one, or the code of a known one that lacks its value. */
        const char *arg = optind - 1 < argc ? argv[optind - 1] : "";
        bool is_long = strncmp(arg, "--", 2) == 0;
        if (optopt && is_long && strchr(arg, '='))
                snprintf(msg, size, "option '%.*s' takes no value", (int)strcspn(arg, "="), arg);
        else if (optopt && is_long)
                snprintf(msg, size, "option '%s' needs a value", arg);
        else if (optopt)
                /* A short one (maybe inside a group, -xy, when arg is still
                 * the element before it): optopt names it. */
                snprintf(msg, size, optopt != ':' && strchr(shortopts, optopt) ? "option '-%c' needs a value"
                                                                               : "unknown option '-%c'",
                         optopt);
        else
                snprintf(msg, size, "unknown option '%s'", arg);
}

int eventfd_source_new(sd_event *event, const char *what, sd_event_io_handler_t handler, void *userdata,
                       sd_event_source **ret, int *ret_fd) {
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0)
                return log_error_errno(-errno, "Cannot create the %s's eventfd: %m", what);
        int r = sd_event_add_io(event, ret, fd, EPOLLIN, handler, userdata);
        if (r < 0) {
                close(fd);
                return log_error_errno(r, "Cannot watch the %s's eventfd: %m", what);
        }
        sd_event_source_set_io_fd_own(*ret, true);
        sd_event_source_set_description(*ret, what);
        *ret_fd = fd;
        return 0;
}
