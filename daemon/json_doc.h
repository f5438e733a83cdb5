/* One JSON document read strictly (RFC 8259), for data an administrator
 * writes by hand (`rapportctl render --data`): json-c's own parser, even
 * in its strict mode, takes NaN, Infinity, "1.", "00", control characters
 * inside strings, and numbers it cannot hold (an integer past 64 bits
 * becomes 18446744073709551615, 1e400 infinity), so what it accepts is
 * checked again here, and every problem is named by line and column. */
#pragma once

#include <stddef.h>

#include <json-c/json.h>

struct json_doc_error {
        int line, column; /* 1-based, the column in characters; 0 when the problem has no place */
        char message[160];
};

/* Parses text[0..len) as exactly one JSON value of any type (an object, a
 * list, a string, a bare number, true, false or null, as the Mustache
 * spec's tests use), with white space around it and nothing else; a UTF-8
 * byte-order mark first is skipped.  text[len] must be '\0', as
 * read_file() leaves it: a bare number or literal ends there.  0 and *ret
 * (the caller's); -EINVAL with *err describing the first problem; -ENOMEM. */
int json_doc_parse(const char *text, size_t len, json_object **ret, struct json_doc_error *err);
