/* One logging path for both programs.  Under systemd (JOURNAL_STREAM names
 * our stderr) lines go to the journal via sd_journal_send so JOB, OUTBOX_ID
 * and CHANNEL become searchable fields; elsewhere they go to stderr with the
 * same fields appended in brackets, which is what an administrator running
 * rapportctl by hand wants to read. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
/* No CODE_FILE/CODE_LINE: they would name log_full() for every line. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "util.h"

static const char *log_ident = "rapport";
static int log_max_prio = LOG_INFO;
static bool log_to_journal;

static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        if (!e)
                return false;
        unsigned long long dev, ino;
        if (sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        struct stat st;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return st.st_dev == dev && st.st_ino == ino;
}

void log_setup(const char *ident, int max_priority) {
        log_ident = ident;
        log_max_prio = max_priority;
        log_to_journal = stderr_is_journal();
}

void log_set_max_priority(int prio) { log_max_prio = prio; }

bool log_would(int prio) { return prio <= log_max_prio; }

_printf_(3, 4) static struct iovec journal_field(char *buf, size_t size, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int len = vsnprintf(buf, size, fmt, ap);
        va_end(ap);
        return (struct iovec){buf, len < 0 ? 0 : (size_t)len < size ? (size_t)len : size - 1};
}

int log_full(int prio, int err, const struct log_ctx *ctx, const char *fmt, ...) {
        int r = err < 0 ? err : -err;
        if (prio > log_max_prio)
                return r;

        int saved = errno;
        char msg[2048];
        va_list ap;
        va_start(ap, fmt);
        errno = -r;
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        errno = saved;

        /* Only the fields a line has: an empty JOB= on every line would
         * make `journalctl -F JOB` list "" and clutter -o verbose. */
        if (log_to_journal) {
                char message[sizeof msg + 8], priority[16], ident[64], errno_field[32], job[128],
                        channel[64], outbox_id[40];
                struct iovec iov[7];
                size_t n = 0;
                iov[n++] = journal_field(message, sizeof message, "MESSAGE=%s", msg);
                iov[n++] = journal_field(priority, sizeof priority, "PRIORITY=%i", prio);
                iov[n++] = journal_field(ident, sizeof ident, "SYSLOG_IDENTIFIER=%s", log_ident);
                if (r)
                        iov[n++] = journal_field(errno_field, sizeof errno_field, "ERRNO=%i", -r);
                if (ctx && ctx->job)
                        iov[n++] = journal_field(job, sizeof job, "JOB=%s", ctx->job);
                if (ctx && ctx->channel)
                        iov[n++] = journal_field(channel, sizeof channel, "CHANNEL=%s", ctx->channel);
                if (ctx && ctx->outbox_id > 0)
                        iov[n++] = journal_field(outbox_id, sizeof outbox_id, "OUTBOX_ID=%lld",
                                                 (long long)ctx->outbox_id);
                /* The journal socket gone (journald restarting): stderr is
                 * the journal's stream too, so the line is not lost. */
                if (sd_journal_sendv(iov, (int)n) >= 0) {
                        errno = saved;
                        return r;
                }
        }
        {
                struct buf b = {0};
                buf_printf(&b, "%s: %s", log_ident, msg);
                if (ctx && ctx->job)
                        buf_printf(&b, " [job=%s]", ctx->job);
                if (ctx && ctx->outbox_id > 0)
                        buf_printf(&b, " [outbox_id=%lld]", (long long)ctx->outbox_id);
                if (ctx && ctx->channel)
                        buf_printf(&b, " [channel=%s]", ctx->channel);
                fprintf(stderr, "%s\n", b.data ? b.data : msg);
                buf_free(&b);
        }
        return r;
}

/* The bytes of the first chars characters of s[0..len) (UTF-8: a
 * character starts at each byte that is not a continuation byte). */
static size_t first_chars(const char *s, size_t len, size_t chars) {
        size_t i = 0;
        for (size_t c = 0; i < len && c < chars; c++)
                do
                        i++;
                while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80);
        return i;
}

static size_t count_chars(const char *s, size_t len) {
        size_t c = 0;
        for (size_t i = 0; i < len; i++)
                c += ((unsigned char)s[i] & 0xC0) != 0x80;
        return c;
}

void log_mask_address(const char *addr, char *out, size_t outlen) {
        if (!addr || !*addr) {
                snprintf(out, outlen, "(none)");
                return;
        }
        /* Counted in characters, not bytes: cut inside a character, a
         * Chinese local part would leave invalid UTF-8 in the journal (a
         * blob to journalctl) and in rapportctl's output. */
        const char *at = strchr(addr, '@');
        size_t n = strlen(addr);
        if (at) {
                /* Two characters of a long local part, one of a short one:
                 * never most of it. */
                size_t local = count_chars(addr, (size_t)(at - addr));
                size_t keep = first_chars(addr, (size_t)(at - addr), local >= 4 ? 2 : local >= 2 ? 1 : 0);
                snprintf(out, outlen, "%.*s***%s", (int)keep, addr, at);
        } else if (count_chars(addr, n) > 6) {
                size_t tail = n;
                for (int c = 0; c < 2 && tail > 0; c++)
                        tail = utf8_char_start(addr, tail - 1);
                snprintf(out, outlen, "%.*s****%s", (int)first_chars(addr, n, 4), addr, addr + tail);
        } else {
                snprintf(out, outlen, "****");
        }
        /* Whatever it was, no control character reaches a log line. */
        for (char *p = out; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = '?';
}

/* A word that holds a phone number: seven digits or more, with at most a
 * leading '+' and separators among them. */
static bool looks_like_number(const char *w, size_t n) {
        size_t digits = 0;
        for (size_t i = 0; i < n; i++) {
                if (w[i] >= '0' && w[i] <= '9')
                        digits++;
                else if (!(w[i] == '+' && i == 0) && w[i] != '-' && w[i] != '.')
                        return false;
        }
        return digits >= 7;
}

void log_mask_text(const char *text, char *out, size_t outlen) {
        static const char delims[] = " \t\r\n<>()[]{},;:\"'=&/\\";
        size_t o = 0;
        if (outlen == 0)
                return;
        for (const char *p = text ? text : ""; *p && o + 1 < outlen;) {
                size_t run = strcspn(p, delims);
                if (run == 0) {
                        out[o++] = *p++;
                        continue;
                }
                char word[256], masked[256];
                snprintf(word, sizeof word, "%.*s", (int)(run < sizeof word ? run : sizeof word - 1), p);
                const char *w = word;
                if (strchr(word, '@') || looks_like_number(word, strlen(word))) {
                        log_mask_address(word, masked, sizeof masked);
                        w = masked;
                }
                for (; *w && o + 1 < outlen; w++)
                        out[o++] = *w;
                p += run;
        }
        out[o] = '\0';
        for (char *q = out; *q; q++)
                if ((unsigned char)*q < 0x20 || *q == 0x7f)
                        *q = ' ';
        /* A server's bytes need not be UTF-8 (nor whole, where a reply was
         * cut short), and last_error is text in a UTF-8 database. */
        for (size_t i = 0; i < o;) {
                i += utf8_valid_prefix(out + i, o - i);
                if (i < o)
                        out[i++] = '?';
        }
}
