/* json_doc_parse(): RFC 8259 strictly, whatever json-c's own parser would
 * let through, and every problem at its line and column. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "json_doc.h"
#include "util.h"

static json_object *parse_ok(const char *text) {
        json_object *v = NULL;
        struct json_doc_error err;
        int r = json_doc_parse(text, strlen(text), &v, &err);
        if (r != 0)
                fail_msg("%s: %d:%d: %s", text, err.line, err.column, err.message);
        return v;
}

static void test_accepts_json(void **state) {
        (void)state;
        json_object *v = parse_ok("\xEF\xBB\xBF {\"a\": [1, -0.5e+3, true, false, null, \"\\u4e2d\\t\xe6\x96\x87\"]}\n");
        json_object *a = json_object_object_get(v, "a");
        assert_int_equal(json_object_array_length(a), 6);
        assert_string_equal(json_object_get_string(json_object_array_get_idx(a, 5)), "中\t文");
        json_object_put(v);
        /* Any value at the top, as the spec's tests render against 85. */
        v = parse_ok("85");
        assert_int_equal(json_object_get_int64(v), 85);
        json_object_put(v);
        v = parse_ok("\"a string\"");
        assert_string_equal(json_object_get_string(v), "a string");
        json_object_put(v);
        /* The extremes json-c holds exactly. */
        v = parse_ok("[18446744073709551615, -9223372036854775808, 1.7976931348623157e308]");
        assert_true(json_object_get_uint64(json_object_array_get_idx(v, 0)) == UINT64_MAX);
        assert_true(json_object_get_int64(json_object_array_get_idx(v, 1)) == INT64_MIN);
        json_object_put(v);
}

static void test_rejects_at_position(void **state) {
        (void)state;
        static const struct {
                const char *text;
                int line, column;
                const char *message;
        } cases[] = {
                {"{\"a\":1,}", 1, 8, "unexpected character"},
                {"{'a':'x'}", 1, 2, "a string in single quotes"},
                {"{\"a\":NaN}", 1, 6, "'NaN' is not a JSON value (JSON has no NaN or Infinity)"},
                {"{\"a\":\n  -Infinity}", 2, 3, "'-Infinity' is not a JSON value"},
                {"/* c */ {\"a\":2}", 1, 1, "a comment (JSON has none)"},
                {"{\"a\":01}", 1, 6, "invalid number '01'"},
                {"{\"a\":1.}", 1, 6, "invalid number '1.'"},
                {"{\"a\":\"x\ty\"}", 1, 8, "control character U+0009 in a string"},
                {"{\"中\":123456789012345678901234567890}", 1, 6, "number out of range: 123456789012345678901234567890"},
                {"[18446744073709551616]", 1, 2, "number out of range"},
                {"[-9223372036854775809]", 1, 2, "number out of range"},
                {"[1e400]", 1, 2, "number out of range: 1e400"},
                {"{\"a\":1}\n{\"b\":2}", 2, 1, "more after the first value"},
                {" \n\t", 0, 0, "no JSON value in the file"},
                {"[\"\xff\"]", 1, 3, ""},
                /* json-c's own UTF-8 check counts bytes: an overlong form,
                 * a surrogate and a value past U+10FFFF pass it. */
                {"[\"a\xc0\x80\"]", 1, 4, "invalid utf-8"},
                {"[\"\xed\xa0\x80\"]", 1, 3, "invalid utf-8"},
                {"[\"\xf4\x90\x80\x80\"]", 1, 3, "invalid utf-8"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                json_object *v = NULL;
                struct json_doc_error err;
                assert_int_equal(json_doc_parse(cases[i].text, strlen(cases[i].text), &v, &err), -EINVAL);
                assert_null(v);
                if (err.line != cases[i].line || err.column != cases[i].column || !strstr(err.message, cases[i].message))
                        fail_msg("%s: got %d:%d: %s; want %d:%d: %s", cases[i].text, err.line, err.column, err.message,
                                 cases[i].line, cases[i].column, cases[i].message);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_accepts_json),
                cmocka_unit_test(test_rejects_at_position),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
