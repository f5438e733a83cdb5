/* Strict JSON documents: json-c's strict tokener, then a scan of the
 * tokens it accepted for what it lets through (json_doc.h). */
#include "json_doc.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* Line and column of byte off, the column in characters as template
 * errors count them, so that both read the same in an editor. */
static void text_position(const char *text, size_t off, int *line, int *column) {
        *line = 1, *column = 1;
        for (size_t i = 0; i < off; i++) {
                if (text[i] == '\n')
                        (*line)++, *column = 1;
                else if (((unsigned char)text[i] & 0xC0) != 0x80)
                        (*column)++;
        }
}

static bool is_json_digit(char c) { return c >= '0' && c <= '9'; }

/* RFC 8259's number, all of s: json-c's strict mode still takes "1.",
 * "00" (as 0) and "-01" (as -1). */
static bool is_json_number(const char *s, size_t n) {
        size_t i = s[0] == '-';
        if (i >= n || !is_json_digit(s[i]))
                return false;
        if (s[i++] != '0')
                while (i < n && is_json_digit(s[i]))
                        i++;
        if (i < n && s[i] == '.') {
                if (++i >= n || !is_json_digit(s[i]))
                        return false;
                while (i < n && is_json_digit(s[i]))
                        i++;
        }
        if (i < n && (s[i] == 'e' || s[i] == 'E')) {
                i += i + 1 < n && (s[i + 1] == '+' || s[i + 1] == '-');
                if (++i >= n || !is_json_digit(s[i]))
                        return false;
                while (i < n && is_json_digit(s[i]))
                        i++;
        }
        return i == n;
}

/* Whether a valid JSON number keeps its value in json-c: an integer past
 * 64 bits is saturated (123456789012345678901234567890 would render as
 * 18446744073709551615) and a number past a double's range becomes
 * infinite.  A number that only underflows is rounded, as 0.1 is. */
static bool json_number_fits(const char *s, size_t n) {
        if (memchr(s, '.', n) || memchr(s, 'e', n) || memchr(s, 'E', n))
                return !isinf(strtod(s, NULL));
        /* No leading zeros (is_json_number): the digit count and then the
         * digits compare as the values do. */
        const char *limit = s[0] == '-' ? "9223372036854775808" : "18446744073709551615";
        const char *digits = s + (s[0] == '-');
        size_t k = n - (size_t)(digits - s), lk = strlen(limit);
        return k < lk || (k == lk && memcmp(digits, limit, k) <= 0);
}

/* What json-c's strict mode lets through that JSON is not, or that it
 * would not keep as written: NaN and Infinity, strings in single quotes,
 * comments, control characters or ill-formed UTF-8 in a string, numbers
 * outside JSON's grammar or out of range.  Looks at the tokens that start before limit: json-c took the
 * text up to there for JSON, so this reading of it (inside a string or
 * not) is json-c's.  Returns the offset of the first problem, with its
 * description in why, or SIZE_MAX when there is none. */
static size_t json_strict_problem(const char *text, size_t len, size_t limit, char *why, size_t why_len) {
        for (size_t i = 0; i < limit && i < len; i++) {
                char c = text[i];
                if (c == '"') {
                        for (i++; i < len && text[i] != '"'; i++) {
                                if (text[i] == '\\')
                                        i++;
                                else if ((unsigned char)text[i] < 0x20) {
                                        snprintf(why, why_len,
                                                 "control character U+%04X in a string (write it escaped, as \\n, \\t or \\u%04X)",
                                                 (unsigned)text[i], (unsigned)text[i]);
                                        return i;
                                } else if ((unsigned char)text[i] >= 0x80) {
                                        /* json-c's UTF-8 check counts bytes only: it takes
                                         * overlong forms, surrogates and values past U+10FFFF. */
                                        uint32_t cp;
                                        size_t k = utf8_decode((const unsigned char *)text + i, len - i, &cp);
                                        if (k == 0) {
                                                snprintf(why, why_len, "invalid utf-8 string (not UTF-8 from byte 0x%02X)",
                                                         (unsigned char)text[i]);
                                                return i;
                                        }
                                        i += k - 1;
                                }
                        }
                        continue;
                }
                if (c == '\'') {
                        snprintf(why, why_len, "a string in single quotes (JSON's are in double quotes)");
                        return i;
                }
                if (c == '/') {
                        snprintf(why, why_len, "a comment (JSON has none)");
                        return i;
                }
                if (!is_json_digit(c) && c != '-' && !isalpha((unsigned char)c))
                        continue;
                size_t n = strspn(text + i, "+-.0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
                int shown = n > 40 ? 40 : (int)n;
                const char *more = n > 40 ? "…" : "";
                /* A word: true, false, null, or what json-c reads as NaN or
                 * (-)Infinity. */
                const char *w = text + i + (c == '-');
                size_t wn = n - (size_t)(w - (text + i));
                if (isalpha((unsigned char)*w)) {
                        bool literal = c != '-' && ((n == 4 && (memcmp(w, "true", 4) == 0 || memcmp(w, "null", 4) == 0)) ||
                                                    (n == 5 && memcmp(w, "false", 5) == 0));
                        bool not_a_number = (wn == 3 && strncasecmp(w, "nan", 3) == 0) ||
                                            (wn == 8 && strncasecmp(w, "infinity", 8) == 0);
                        if (!literal) {
                                snprintf(why, why_len, "'%.*s%s' is not a JSON value%s", shown, text + i, more,
                                         not_a_number ? " (JSON has no NaN or Infinity)" : "");
                                return i;
                        }
                } else if (!is_json_number(text + i, n)) {
                        snprintf(why, why_len, "invalid number '%.*s%s'", shown, text + i, more);
                        return i;
                } else if (!json_number_fits(text + i, n)) {
                        snprintf(why, why_len,
                                 "number out of range: %.*s%s (a 64-bit integer or a double; write it as a string)",
                                 shown, text + i, more);
                        return i;
                }
                i += n - 1;
        }
        return SIZE_MAX;
}

int json_doc_parse(const char *text, size_t len, json_object **ret, struct json_doc_error *err) {
        *err = (struct json_doc_error){0};
        /* Positions are counted after the mark, as editors show them. */
        size_t bom = utf8_bom_len(text, len);
        text += bom, len -= bom;
        const char *end = text + len, *p = text + strspn(text, " \t\r\n");
        if (p >= end) {
                snprintf(err->message, sizeof err->message, "no JSON value in the file (an empty context is {})");
                return -EINVAL;
        }
        if (len > INT_MAX - 1) {
                snprintf(err->message, sizeof err->message, "too large for a JSON document (%zu bytes)", len);
                return -EINVAL;
        }
        json_tokener *tok = json_tokener_new_ex(1000);
        if (!tok)
                return -ENOMEM;
        /* Trailing text is allowed here only to be reported below with a
         * better word than json-c's "unexpected character". */
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS | JSON_TOKENER_VALIDATE_UTF8);
        /* len + 1: the terminating NUL ends a bare number or literal, which
         * json-c otherwise keeps waiting to continue. */
        json_object *v = json_tokener_parse_ex(tok, text, (int)len + 1);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        size_t stop = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        stop = stop < len ? stop : len;
        /* The first problem in the text, whoever finds it; at a token
         * json-c stopped at, this word on it rather than json-c's
         * "unexpected character". */
        bool failed = jerr != json_tokener_success;
        size_t at = json_strict_problem(text, len, stop + failed, err->message, sizeof err->message);
        if (failed && (at == SIZE_MAX || at > stop)) {
                at = stop;
                snprintf(err->message, sizeof err->message, "%s", json_tokener_error_desc(jerr));
        }
        if (at == SIZE_MAX) {
                size_t rest = stop + strspn(text + stop, " \t\r\n");
                if (rest < len) {
                        at = rest;
                        snprintf(err->message, sizeof err->message, "more after the first value");
                }
        }
        if (at != SIZE_MAX) {
                text_position(text, at, &err->line, &err->column);
                json_object_put(v);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}
