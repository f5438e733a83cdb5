/* Small helpers shared by every module: systemd-style scope cleanup.
 *
 * rapport cleans up with _cleanup_ attributes everywhere (never goto out):
 * a variable declared with _cleanup_free_ is freed when it leaves scope, and
 * TAKE_PTR() hands ownership to the caller explicitly.  Destructors accept
 * NULL so every early return is safe. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Return the pointer and leave NULL behind, so the cleanup does nothing. */
#define TAKE_PTR(p)                                                            \
        ({                                                                     \
                __typeof__(p) _p_ = (p);                                       \
                (p) = NULL;                                                    \
                _p_;                                                           \
        })

static inline void freep(void *p) { free(*(void **)p); }
#define _cleanup_free_ _cleanup_(freep)

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

/* Declare foo_unrefp()/foo_freep() for a type whose destructor takes NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                \
        static inline void func##p(type *p) {                                  \
                if (*p)                                                        \
                        func(*p);                                              \
        }

static inline int streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}
#define streq(a, b) (strcmp((a), (b)) == 0)

/* Dynamic byte buffer: the one growable string type in the project. */
struct buf {
        char *data;
        size_t len, cap;
};
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const char *s, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) _printf_(2, 3);
void buf_free(struct buf *b);
/* Hand the NUL-terminated contents to the caller; the buffer is left empty. */
char *buf_steal(struct buf *b);
static inline void buf_freep(struct buf *b) { buf_free(b); }
#define _cleanup_buf_ _cleanup_(buf_freep)

/* NULL-terminated lists of heap strings.  strv_free() takes NULL;
 * strv_copy() returns 0 (*ret NULL for a NULL list) or -ENOMEM. */
void strv_free(char **v);
/* Whether s (NULL: never) is one of the NULL-terminated list v. */
bool strv_contains(const char *const *v, const char *s);
int strv_copy(char *const *v, char ***ret);

/* Read a whole file; returns 0 or -errno. *out is NUL-terminated. */
int read_file(const char *path, char **out, size_t *len);

/* Decodes one well-formed UTF-8 character at s (no overlongs, surrogates or
 * values past U+10FFFF) into *cp; returns its length, or 0 if malformed. */
size_t utf8_decode(const unsigned char *s, size_t left, uint32_t *cp);
/* Whether s is entirely well-formed UTF-8. */
bool utf8_valid(const char *s);
/* Length of the well-formed UTF-8 prefix of s[0..len). */
size_t utf8_valid_prefix(const char *s, size_t len);
/* Replaces malformed UTF-8 in the heap string *s with U+FFFD; returns the
 * number of replacements or -ENOMEM. */
int utf8_repair(char **s);
/* Appends s[0..len) to b with malformed UTF-8 replaced as utf8_repair()
 * replaces it in a text that goes on after s.  Unless final, a sequence
 * that the end of s cuts short and that what follows could still complete
 * is appended unjudged: *unjudged is its length (else 0), and the caller
 * passes those bytes again ahead of what follows.  Adds the replacements
 * to *replaced; returns 0 or -ENOMEM. */
int utf8_repair_append(struct buf *b, const char *s, size_t len, bool final, size_t *replaced,
                       size_t *unjudged);
/* Shortens well-formed UTF-8 to max_chars characters ending in U+2026;
 * returns the original length in characters, or 0 if it fitted. */
size_t utf8_shorten(char *s, size_t max_chars);
/* The start of the UTF-8 character that byte i of s belongs to (i itself
 * when a character starts there): where to cut s so that no character is
 * split.  The character before a boundary i > 0 starts at
 * utf8_char_start(s, i - 1). */
size_t utf8_char_start(const char *s, size_t i);
/* CRM text shown on a terminal (rapportctl's tables, preview, show) must
 * not break its line or drive the terminal.  display_char() reads one
 * character of s: *out gets what to write instead (*len bytes, *cp its
 * code point) and it returns the bytes of s it used.  C0 and C1 controls
 * (CR, LF, ESC; U+0085 is a line break to some terminals, U+009B starts an
 * escape sequence), DEL, the line and paragraph separators and the
 * bidirectional embeddings, overrides and isolates (which reorder the rest
 * of a line) become a space; bytes that are not UTF-8, U+FFFD.  With
 * keep_lines (a message's text, shown as lines), LF and TAB stay and the
 * CR of a CR LF is dropped. */
size_t display_char(const char *s, bool keep_lines, char out[4], size_t *len, uint32_t *cp);
/* Writes s to f through display_char(). */
void fput_display(const char *s, bool keep_lines, FILE *f);
/* The length of a UTF-8 byte-order mark opening s[0..len), 0 or 3.  Editors
 * that save one (Notepad) show nothing of it, yet in a template it would
 * make the first line an unknown header or go out in an SMS (as U+FEFF,
 * making the whole text UCS-2); RFC 8259 lets a JSON reader ignore it. */
static inline size_t utf8_bom_len(const char *s, size_t len) {
        return len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

/* What was wrong with the option getopt_long just refused ('?', opterr
 * off), in words: "option '--tz' needs a value", "option '--once' takes no
 * value", "unknown option '-x'".  shortopts as given to getopt_long. */
void getopt_error(char *msg, size_t size, const char *shortopts, int argc, char **argv);

/* An eventfd the loop watches: how a thread tells the loop it is done
 * (eventfd_write(*ret_fd, 1)).  The source owns the descriptor.  Logs and
 * returns a negative errno-style code on failure, leaving nothing behind;
 * what names the thread in the messages and is the source's description. */
int eventfd_source_new(sd_event *event, const char *what, sd_event_io_handler_t handler, void *userdata,
                       sd_event_source **ret, int *ret_fd);

/* CLOCK_MONOTONIC in microseconds: sd-event's monotonic clock, read off
 * the loop (a thread; a notification that must carry the instant). */
static inline uint64_t monotonic_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}
