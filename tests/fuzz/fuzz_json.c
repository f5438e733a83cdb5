/* libFuzzer target: json_doc_parse (daemon/json_doc.h).
 *
 * Input: the document itself, given NUL-terminated as read_file() gives
 * rapportctl's --data file.  Checks beyond "no crash":
 *  - accepted: the value serialises (JSON_C_TO_STRING_PLAIN) to a text that
 *    json_doc_parse accepts again as an equal value, and serialises to the
 *    same text again (a fixed point);
 *  - accepted: json-c's own strict tokener (JSON_TOKENER_STRICT, the same
 *    nesting limit) accepts the same bytes, BOM aside, as an equal value:
 *    json_doc is stricter than json-c, never looser;
 *  - accepted exactly when a small RFC 8259 reader here (grammar, well-formed
 *    UTF-8 in strings, numbers json-c holds, nesting to 1000) finds no
 *    problem, and a rejection is placed at or before the first byte at
 *    which that reader finds the text can no longer be JSON;
 *  - rejected: line ≥ 1, column ≥ 1, the line within the input and the
 *    column within that line (one past its last character at most); line
 *    0 exactly when the input is only white space (and maybe a BOM). */
#include <errno.h>
#include <math.h>

#include <json-c/json.h>

#include "fuzz.h"
#include "json_doc.h"

#define MAX_DEPTH 1000 /* json_doc's nesting limit (json_tokener_new_ex(1000)) */

/* ---- an independent RFC 8259 reader -------------------------------------- */
struct rfc {
        const unsigned char *s;
        size_t n, i;
        size_t problem; /* first offset where the text stops being JSON, SIZE_MAX: none */
        int depth;
};

static bool fail(struct rfc *p, size_t at) {
        if (p->problem == SIZE_MAX)
                p->problem = at;
        return false;
}

static void ws(struct rfc *p) {
        while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\r' || p->s[p->i] == '\n'))
                p->i++;
}

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* One UTF-8 character (RFC 3629: no overlongs, surrogates or values past
 * U+10FFFF), failing at the first byte that cannot continue it. */
static bool utf8_char(struct rfc *p) {
        unsigned c = p->s[p->i];
        size_t len;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
                len = 2;
        else if (c >= 0xE0 && c <= 0xEF)
                len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        else if (c >= 0xF0 && c <= 0xF4)
                len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        else
                return fail(p, p->i);
        for (size_t k = 1; k < len; k++) {
                size_t at = p->i + k;
                if (at >= p->n)
                        return fail(p, p->n);
                if (p->s[at] < (k == 1 ? lo : 0x80) || p->s[at] > (k == 1 ? hi : 0xBF))
                        return fail(p, at);
        }
        p->i += len;
        return true;
}

static bool string(struct rfc *p) {
        p->i++;
        for (;;) {
                if (p->i >= p->n)
                        return fail(p, p->n);
                unsigned char c = p->s[p->i];
                if (c == '"') {
                        p->i++;
                        return true;
                }
                if (c < 0x20)
                        return fail(p, p->i);
                if (c >= 0x80) {
                        if (!utf8_char(p))
                                return false;
                        continue;
                }
                p->i++;
                if (c != '\\')
                        continue;
                if (p->i >= p->n)
                        return fail(p, p->n);
                c = p->s[p->i++];
                if (c == 'u') {
                        for (int k = 0; k < 4; k++, p->i++) {
                                if (p->i >= p->n)
                                        return fail(p, p->n);
                                if (!strchr("0123456789abcdefABCDEF", p->s[p->i]) || !p->s[p->i])
                                        return fail(p, p->i);
                        }
                } else if (!c || !strchr("\"\\/bfnrt", c)) {
                        return fail(p, p->i - 1);
                }
        }
}

static bool number(struct rfc *p) {
        size_t start = p->i;
        bool integer = true;
        if (p->s[p->i] == '-')
                p->i++;
        if (p->i >= p->n)
                return fail(p, p->n);
        if (p->s[p->i] == '0')
                p->i++;
        else if (is_digit(p->s[p->i]))
                while (p->i < p->n && is_digit(p->s[p->i]))
                        p->i++;
        else
                return fail(p, p->i);
        if (p->i < p->n && p->s[p->i] == '.') {
                integer = false;
                if (++p->i >= p->n || !is_digit(p->s[p->i]))
                        return fail(p, p->i < p->n ? p->i : p->n);
                while (p->i < p->n && is_digit(p->s[p->i]))
                        p->i++;
        }
        if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
                integer = false;
                p->i++;
                if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
                        p->i++;
                if (p->i >= p->n || !is_digit(p->s[p->i]))
                        return fail(p, p->i < p->n ? p->i : p->n);
                while (p->i < p->n && is_digit(p->s[p->i]))
                        p->i++;
        }
        /* What json-c holds: a 64-bit integer (signed or not) or a finite
         * double (an underflow rounds, as 0.1 does).  Out of range is a
         * problem at the number's end: the digits up to there were JSON. */
        char *tok = strndup((const char *)p->s + start, p->i - start);
        FUZZ_ASSERT(tok, "out of memory");
        errno = 0;
        bool fits;
        if (!integer)
                fits = !isinf(strtod(tok, NULL));
        else if (tok[0] == '-')
                fits = (strtoll(tok, NULL, 10), errno != ERANGE);
        else
                fits = (strtoull(tok, NULL, 10), errno != ERANGE);
        free(tok);
        return fits ? true : fail(p, p->i);
}

static bool value(struct rfc *p);

static bool container(struct rfc *p, char close) {
        if (++p->depth > MAX_DEPTH)
                return fail(p, p->i);
        p->i++;
        ws(p);
        if (p->i < p->n && p->s[p->i] == close) {
                p->i++;
                p->depth--;
                return true;
        }
        for (;;) {
                if (close == '}') {
                        if (p->i >= p->n || p->s[p->i] != '"')
                                return fail(p, p->i < p->n ? p->i : p->n);
                        if (!string(p))
                                return false;
                        ws(p);
                        if (p->i >= p->n || p->s[p->i] != ':')
                                return fail(p, p->i < p->n ? p->i : p->n);
                        p->i++;
                        ws(p);
                }
                if (!value(p))
                        return false;
                ws(p);
                if (p->i >= p->n)
                        return fail(p, p->n);
                if (p->s[p->i] == close) {
                        p->i++;
                        p->depth--;
                        return true;
                }
                if (p->s[p->i] != ',')
                        return fail(p, p->i);
                p->i++;
                ws(p);
        }
}

static bool value(struct rfc *p) {
        if (p->i >= p->n)
                return fail(p, p->n);
        switch (p->s[p->i]) {
        case '{': return container(p, '}');
        case '[': return container(p, ']');
        case '"': return string(p);
        case 't':
        case 'f':
        case 'n': {
                const char *w = p->s[p->i] == 't' ? "true" : p->s[p->i] == 'f' ? "false" : "null";
                for (; *w; w++, p->i++)
                        if (p->i >= p->n || p->s[p->i] != (unsigned char)*w)
                                return fail(p, p->i < p->n ? p->i : p->n);
                return true;
        }
        default:
                if (p->s[p->i] == '-' || is_digit(p->s[p->i]))
                        return number(p);
                return fail(p, p->i);
        }
}

/* The first problem's offset in s[0..n), SIZE_MAX for none. */
static size_t rfc8259_problem(const char *s, size_t n) {
        struct rfc p = {.s = (const unsigned char *)s, .n = n, .problem = SIZE_MAX};
        ws(&p);
        if (value(&p)) {
                ws(&p);
                if (p.i < n)
                        fail(&p, p.i);
        }
        return p.problem;
}

/* ---- helpers --------------------------------------------------------------- */
/* Line and column of offset off as json_doc.h defines them: lines split at
 * \n, columns count characters (bytes that are not UTF-8 continuations). */
static void position(const char *s, size_t off, int *line, int *column) {
        *line = 1, *column = 1;
        for (size_t i = 0; i < off; i++) {
                if (s[i] == '\n')
                        (*line)++, *column = 1;
                else if (((unsigned char)s[i] & 0xC0) != 0x80)
                        (*column)++;
        }
}

static bool json_c_strict(const char *s, size_t n, json_object **ret) {
        json_tokener *tok = json_tokener_new_ex(MAX_DEPTH);
        FUZZ_ASSERT(tok, "out of memory");
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        /* n + 1: the NUL ends a bare number, as json_tokener_parse()'s does. */
        json_object *v = json_tokener_parse_ex(tok, s, (int)n + 1);
        bool ok = json_tokener_get_error(tok) == json_tokener_success && json_tokener_get_parse_end(tok) >= n;
        json_tokener_free(tok);
        if (!ok)
                json_object_put(v);
        *ret = ok ? v : NULL;
        return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 64 * 1024)
                return 0;
        char *text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';
        size_t bom = size >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
        const char *body = text + bom;
        size_t blen = size - bom;

        json_object *v = NULL;
        struct json_doc_error err;
        int r = json_doc_parse(text, size, &v, &err);
        FUZZ_ASSERT(r == 0 || r == -EINVAL || r == -ENOMEM, "json_doc_parse returned %d", r);
        size_t problem = rfc8259_problem(body, blen);
        bool blank = strspn(body, " \t\r\n") == blen;

        if (r == 0) {
                FUZZ_ASSERT(problem == SIZE_MAX, "accepted, but not RFC 8259 JSON from offset %zu (byte 0x%02x)",
                            problem + bom, problem < blen ? (unsigned char)body[problem] : 0);

                /* json-c's strict mode takes it too, as the same value. */
                json_object *jc = NULL;
                FUZZ_ASSERT(json_c_strict(body, blen, &jc), "json-c's strict tokener rejects it");
                FUZZ_ASSERT(json_object_equal(v, jc), "json-c reads another value");
                json_object_put(jc);

                /* Round trip: serialised, read again, equal; then a fixed point. */
                const char *s1 = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
                FUZZ_ASSERT(s1, "no serialisation");
                json_object *v2 = NULL;
                struct json_doc_error err2;
                int r2 = json_doc_parse(s1, strlen(s1), &v2, &err2);
                FUZZ_ASSERT(r2 == 0 || r2 == -ENOMEM, "own serialisation rejected at %d:%d (%s): %s", err2.line,
                            err2.column, err2.message, s1);
                if (r2 == 0) {
                        FUZZ_ASSERT(json_object_equal(v, v2), "round trip changes the value: %s", s1);
                        const char *s2 = json_object_to_json_string_ext(v2, JSON_C_TO_STRING_PLAIN);
                        FUZZ_ASSERT(s2 && strcmp(s1, s2) == 0, "serialisation not a fixed point: %s then %s", s1,
                                    s2 ? s2 : "(null)");
                }
                json_object_put(v2);
                json_object_put(v);
        } else if (r == -EINVAL) {
                FUZZ_ASSERT(!v, "*ret set on error");
                FUZZ_ASSERT(memchr(err.message, '\0', sizeof err.message) && err.message[0], "empty error message");
                FUZZ_ASSERT(blank == (err.line == 0), "line %d for %s input (%s)", err.line,
                            blank ? "a blank" : "a non-blank", err.message);
                if (err.line == 0) {
                        FUZZ_ASSERT(err.column == 0, "column %d on line 0", err.column);
                } else {
                        FUZZ_ASSERT(problem != SIZE_MAX, "RFC 8259 JSON rejected at %d:%d: %s", err.line, err.column,
                                    err.message);
                        int lines = 1;
                        size_t line_start = 0;
                        for (size_t i = 0; i < blen; i++)
                                if (body[i] == '\n' && ++lines == err.line)
                                        line_start = i + 1;
                        FUZZ_ASSERT(err.line >= 1 && err.column >= 1 && err.line <= lines,
                                    "position %d:%d in an input of %d line(s)", err.line, err.column, lines);
                        int chars = 0;
                        for (size_t i = line_start; i < blen && body[i] != '\n'; i++)
                                chars += ((unsigned char)body[i] & 0xC0) != 0x80;
                        FUZZ_ASSERT(err.column <= chars + 1, "column %d on line %d of %d character(s)", err.column,
                                    err.line, chars);
                        /* Not after the first byte where the text stops being JSON. */
                        int pl, pc;
                        position(body, problem, &pl, &pc);
                        FUZZ_ASSERT(err.line < pl || (err.line == pl && err.column <= pc),
                                    "reported at %d:%d (%s), but the first problem is at %d:%d", err.line, err.column,
                                    err.message, pl, pc);
                }
        }
        free(text);
        return 0;
}
