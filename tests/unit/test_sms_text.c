#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <json-c/json.h>

#include "sms_text.h"
#include "util.h"

static void test_number_valid(void **state) {
        (void)state;
        static const char *const good[] = {
                "+8613800138000", "+14155552671", "+12345678", "+123456789012345", "+442071838750",
                "+6834001", /* Niue: the shortest numbers in service, 7 digits */
        };
        static const char *const bad[] = {
                "",        "+",          "8613800138000", "+0123456789",       "+123456",
                "+1234567890123456",     "+1 415 555 2671", "+1-415-555-2671", "+86138001380a0",
                "+8613800138000\n",      "++8613800138000", "＋8613800138000",
                " +8613800138000",
        };
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (!sms_number_valid(good[i]))
                        fail_msg("rejected %s", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (sms_number_valid(bad[i]))
                        fail_msg("accepted %s", bad[i]);
        assert_false(sms_number_valid(NULL));
}

static char *repeat(const char *unit, size_t n) {
        struct buf b = {0};
        assert_int_equal(buf_append(&b, "", 0), 0);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(buf_puts(&b, unit), 0);
        return buf_steal(&b);
}

static void assert_segments(const char *text, bool ucs2, size_t units, size_t segments) {
        struct sms_segments s;
        assert_int_equal(sms_count_segments(text, &s), 0);
        if (s.ucs2 != ucs2 || s.units != units || s.segments != segments)
                fail_msg("\"%.40s\": got ucs2=%d units=%zu segments=%zu, want %d/%zu/%zu", text, s.ucs2,
                         s.units, s.segments, ucs2, units, segments);
}

static void assert_repeat_segments(const char *unit, size_t n, bool ucs2, size_t units,
                                   size_t segments) {
        _cleanup_free_ char *text = repeat(unit, n);
        assert_segments(text, ucs2, units, segments);
}

static void test_text_clean(void **state) {
        (void)state;
        char a[] = "Hi \033[31mAnn\033[0m,\r\nbye\x01\x7f.\tok\n";
        sms_text_clean(a);
        assert_string_equal(a, "Hi  [31mAnn [0m,\nbye  . ok\n");
        char b[] = "李娜，生日快乐！\r";
        sms_text_clean(b);
        assert_string_equal(b, "李娜，生日快乐！ ");
        char c[] = "";
        sms_text_clean(c);
        assert_string_equal(c, "");
        sms_text_clean(NULL);
}

static void test_segments_gsm7(void **state) {
        (void)state;
        assert_segments("", false, 0, 1);
        assert_repeat_segments("a", 160, false, 160, 1);
        assert_repeat_segments("a", 161, false, 161, 2);
        assert_repeat_segments("a", 306, false, 306, 2);
        assert_repeat_segments("a", 307, false, 307, 3);
        assert_repeat_segments("€", 1, false, 2, 1);
        assert_repeat_segments("€", 80, false, 160, 1);
        /* 76 two-septet characters fill a 153-septet part. */
        assert_repeat_segments("€", 81, false, 162, 2);
        assert_repeat_segments("{", 153, false, 306, 3);

        /* The whole GSM 03.38 default alphabet (all but ESC) and the
         * extension table stay GSM-7. */
        assert_segments("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
                        "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà",
                        false, 127, 1);
        assert_segments("\f^{}\\[~]|€", false, 20, 1);

        /* An escape pair is never split: 152 + 2 does not fit in 153. */
        _cleanup_free_ char *a152 = repeat("a", 152);
        _cleanup_buf_ struct buf t = {0};
        assert_int_equal(buf_printf(&t, "%s€%s", a152, a152), 0);
        assert_segments(t.data, false, 306, 3);
}

static void test_segments_ucs2(void **state) {
        (void)state;
        assert_repeat_segments("汉", 70, true, 70, 1);
        assert_repeat_segments("汉", 71, true, 71, 2);
        assert_repeat_segments("汉", 134, true, 134, 2);
        assert_repeat_segments("汉", 135, true, 135, 3);
        assert_segments("Hello 王先生", true, 9, 1);
        /* One non-GSM character makes everything UTF-16. */
        _cleanup_free_ char *a159 = repeat("a", 159);
        _cleanup_buf_ struct buf t = {0};
        assert_int_equal(buf_printf(&t, "%s`", a159), 0);
        assert_segments(t.data, true, 160, 3);
        assert_segments("ç", true, 1, 1); /* only capital Ç is in GSM 03.38 */
        assert_segments("€ 汉", true, 3, 1);

        /* Emoji outside the BMP take a surrogate pair. */
        assert_segments("😀", true, 2, 1);
        assert_repeat_segments("😀", 35, true, 70, 1);
        assert_repeat_segments("😀", 36, true, 72, 2);
        /* A surrogate pair is never split: 66 + 2 does not fit in 67. */
        _cleanup_free_ char *h66 = repeat("汉", 66);
        _cleanup_buf_ struct buf e = {0};
        assert_int_equal(buf_printf(&e, "%s😀%s", h66, h66), 0);
        assert_segments(e.data, true, 134, 3);
}

static void test_segments_invalid(void **state) {
        (void)state;
        static const char *const bad[] = {
                "\xff", "abc\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                "\x80", "\xe6\xb1", "ok \xe6\xb1x",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct sms_segments s = {.units = 99};
                assert_int_equal(sms_count_segments(bad[i], &s), -EILSEQ);
                assert_int_equal(s.units, 99);
        }
        struct sms_segments s;
        assert_int_equal(sms_count_segments(NULL, &s), -EINVAL);
}

static void test_build_twilio(void **state) {
        (void)state;
        _cleanup_buf_ struct buf out = {0};
        const char *ct = NULL;
        assert_int_equal(sms_build_request(SMS_FORMAT_TWILIO, "+15005550006", "+8613800138000",
                                           "你好 & a+b=c ~-._\n?%", "outbox-42", &out, &ct),
                         0);
        assert_string_equal(ct, "application/x-www-form-urlencoded");
        assert_string_equal(out.data, "To=%2B8613800138000&From=%2B15005550006"
                                      "&Body=%E4%BD%A0%E5%A5%BD%20%26%20a%2Bb%3Dc%20~-._%0A%3F%25");

        buf_free(&out);
        assert_int_equal(sms_build_request(SMS_FORMAT_TWILIO, "Rapport", "+14155552671", "Hi", NULL,
                                           &out, &ct),
                         0);
        assert_string_equal(out.data, "To=%2B14155552671&From=Rapport&Body=Hi");
}

static void test_build_json(void **state) {
        (void)state;
        _cleanup_buf_ struct buf out = {0};
        const char *ct = NULL;
        const char *body = "He said \"hi\"\nline2 \\ / 中文\t😀";
        assert_int_equal(sms_build_request(SMS_FORMAT_JSON, "Rapport", "+8613800138000", body,
                                           "outbox-42", &out, &ct),
                         0);
        assert_string_equal(ct, "application/json");
        assert_string_equal(out.data, "{\"to\":\"+8613800138000\",\"from\":\"Rapport\","
                                      "\"text\":\"He said \\\"hi\\\"\\nline2 \\\\ / 中文\\t😀\","
                                      "\"idempotency_key\":\"outbox-42\"}");
        json_object *parsed = json_tokener_parse(out.data);
        json_object *text = NULL;
        assert_true(json_object_object_get_ex(parsed, "text", &text));
        assert_string_equal(json_object_get_string(text), body);
        json_object_put(parsed);

        buf_free(&out);
        assert_int_equal(sms_build_request(SMS_FORMAT_JSON, "+15005550006", "+14155552671", "x", NULL,
                                           &out, &ct),
                         0);
        assert_string_equal(out.data, "{\"to\":\"+14155552671\",\"from\":\"+15005550006\",\"text\":\"x\"}");
}

static void test_build_rejects(void **state) {
        (void)state;
        _cleanup_buf_ struct buf out = {0};
        assert_int_equal(buf_puts(&out, "keep"), 0);
        const char *ct = NULL;
        assert_int_equal(sms_build_request(SMS_FORMAT_TWILIO, "+15005550006", "13800138000", "x", NULL,
                                           &out, &ct),
                         -EINVAL);
        assert_int_equal(sms_build_request(SMS_FORMAT_JSON, "+15005550006", "+8613800138000&x=1", "x",
                                           NULL, &out, &ct),
                         -EINVAL);
        assert_int_equal(sms_build_request(SMS_FORMAT_JSON, "", "+8613800138000", "x", NULL, &out, &ct),
                         -EINVAL);
        assert_int_equal(sms_build_request(SMS_FORMAT_JSON, "R", "+8613800138000", "", NULL, &out, &ct),
                         -EINVAL);
        assert_int_equal(sms_build_request(SMS_FORMAT_JSON, "R", "+8613800138000", NULL, NULL, &out, &ct),
                         -EINVAL);
        assert_int_equal(sms_build_request((enum sms_format)7, "R", "+8613800138000", "x", NULL, &out, &ct),
                         -EINVAL);
        assert_int_equal(sms_build_request(SMS_FORMAT_JSON, "R", "+8613800138000", "bad \xff", NULL,
                                           &out, &ct),
                         -EILSEQ);
        assert_int_equal(sms_build_request(SMS_FORMAT_TWILIO, "R", "+8613800138000", "bad \xc0\x80",
                                           NULL, &out, &ct),
                         -EILSEQ);
        assert_null(ct);
        assert_string_equal(out.data, "keep");
}

/* What a reply parser returned for body, against what was expected. */
static void check_parsed(const char *body, int r, char *id, int expected_r, const char *expected_id) {
        if (r != expected_r)
                fail_msg("%s: got %d, want %d", body, r, expected_r);
        if (expected_id)
                assert_string_equal(id, expected_id);
        else
                assert_null(id);
        free(id);
}

static void assert_response(enum sms_format fmt, const char *body, int expected_r, const char *expected_id) {
        char *id = NULL;
        int r = sms_parse_response(fmt, body, strlen(body), &id);
        check_parsed(body, r, id, expected_r, expected_id);
}

static void test_parse_response(void **state) {
        (void)state;
        assert_response(SMS_FORMAT_TWILIO,
                        "{\"sid\":\"SM1234567890abcdef\",\"status\":\"queued\",\"body\":\"你好\"}\n", 0,
                        "SM1234567890abcdef");
        assert_response(SMS_FORMAT_TWILIO, "{\"code\":21211,\"message\":\"Invalid 'To' Phone Number\"}",
                        -ENOENT, NULL);
        assert_response(SMS_FORMAT_TWILIO, "{\"sid\":null}", -ENOENT, NULL);
        assert_response(SMS_FORMAT_TWILIO, "{\"sid\":\"\"}", -ENOENT, NULL);
        assert_response(SMS_FORMAT_TWILIO, "{\"sid\":true}", -EBADMSG, NULL);
        assert_response(SMS_FORMAT_TWILIO, "{\"sid\":{\"x\":1}}", -EBADMSG, NULL);
        assert_response(SMS_FORMAT_TWILIO, "{\"id\":\"not-twilio\"}", -ENOENT, NULL);
        assert_response(SMS_FORMAT_TWILIO, "<html>502 Bad Gateway</html>", -EBADMSG, NULL);
        assert_response(SMS_FORMAT_TWILIO, "{\"sid\":\"SM1\"", -EBADMSG, NULL);
        assert_response(SMS_FORMAT_TWILIO, "{\"sid\":\"SM1\"} trailing", -EBADMSG, NULL);
        assert_response(SMS_FORMAT_TWILIO, "[{\"sid\":\"SM1\"}]", -EBADMSG, NULL);
        assert_response(SMS_FORMAT_TWILIO, "\"SM1\"", -EBADMSG, NULL);
        assert_response(SMS_FORMAT_TWILIO, "", -EBADMSG, NULL);

        assert_response(SMS_FORMAT_JSON, "{\"id\":\"abc-1\"}", 0, "abc-1");
        assert_response(SMS_FORMAT_JSON, "  {\"message_id\":\"m-1\"}  \r\n", 0, "m-1");
        assert_response(SMS_FORMAT_JSON, "{\"id\":null,\"message_id\":\"m-2\"}", 0, "m-2");
        assert_response(SMS_FORMAT_JSON, "{\"id\":\"first\",\"message_id\":\"second\"}", 0, "first");
        assert_response(SMS_FORMAT_JSON, "{\"id\":12345678901}", 0, "12345678901");
        assert_response(SMS_FORMAT_JSON, "{\"id\":1.5}", -EBADMSG, NULL);
        assert_response(SMS_FORMAT_JSON, "{\"data\":{\"id\":\"nested\"}}", -ENOENT, NULL);
        assert_response(SMS_FORMAT_JSON, "{}", -ENOENT, NULL);
        assert_response(SMS_FORMAT_JSON, "nope", -EBADMSG, NULL);

        /* Only len bytes are read; the body need not be NUL-terminated. */
        const char *longer = "{\"id\":\"x1\"}GARBAGE";
        char *id = NULL;
        assert_int_equal(sms_parse_response(SMS_FORMAT_JSON, longer, 11, &id), 0);
        assert_string_equal(id, "x1");
        free(id);
        id = NULL;
        char with_nul[] = "{\"id\":\"x1\"}\0";
        assert_int_equal(sms_parse_response(SMS_FORMAT_JSON, with_nul, sizeof with_nul - 1, &id), -EBADMSG);
        assert_null(id);
        assert_int_equal(sms_parse_response(SMS_FORMAT_JSON, NULL, 0, &id), -EBADMSG);
}

static void test_build_json_fields(void **state) {
        (void)state;
        _cleanup_buf_ struct buf out = {0};
        const char *ct = NULL;
        const struct sms_json_fields vonage = {"msisdn", "sender", "message", "client_ref"};
        assert_int_equal(sms_build_json_request(&vonage, "Acme", "+8613800138000", "a \"b\"\n中", "k:1", &out, &ct), 0);
        assert_string_equal(ct, "application/json");
        assert_string_equal(out.data, "{\"msisdn\":\"+8613800138000\",\"sender\":\"Acme\","
                                      "\"message\":\"a \\\"b\\\"\\n中\",\"client_ref\":\"k:1\"}");

        /* A name is encoded like a value: it cannot break out of its string. */
        buf_free(&out);
        const struct sms_json_fields odd = {"to\"x", "from", "text", ""};
        assert_int_equal(sms_build_json_request(&odd, "A", "+8613800138000", "x", "k:1", &out, &ct), 0);
        assert_string_equal(out.data, "{\"to\\\"x\":\"+8613800138000\",\"from\":\"A\",\"text\":\"x\"}");

        /* The defaults are today's shape. */
        buf_free(&out);
        assert_int_equal(sms_build_json_request(&sms_json_default_fields, "R", "+14155552671", "x", NULL, &out, &ct), 0);
        assert_string_equal(out.data, "{\"to\":\"+14155552671\",\"from\":\"R\",\"text\":\"x\"}");
        /* No sms.from: the provider's account decides the sender; no empty member. */
        buf_free(&out);
        assert_int_equal(sms_build_json_request(&sms_json_default_fields, "", "+14155552671", "x", NULL, &out, &ct), 0);
        assert_string_equal(out.data, "{\"to\":\"+14155552671\",\"text\":\"x\"}");

        /* Empty, missing or clashing names would lose a field: refused. */
        buf_free(&out);
        assert_int_equal(buf_puts(&out, "keep"), 0);
        const struct sms_json_fields bad[] = {
                {"", "from", "text", NULL},         {"to", NULL, "text", NULL},      {"to", "to", "text", NULL},
                {"to", "from", "to", NULL},         {"to", "from", "text", "text"}, {"t\xff", "from", "text", NULL},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (sms_build_json_request(&bad[i], "R", "+14155552671", "x", "k", &out, &ct) != -EINVAL)
                        fail_msg("fields #%zu accepted", i);
        assert_int_equal(sms_build_json_request(NULL, "R", "+14155552671", "x", "k", &out, &ct), -EINVAL);
        assert_int_equal(sms_build_json_request(&vonage, "R", "+14155552671", "bad \xff", "k", &out, &ct), -EILSEQ);
        assert_string_equal(out.data, "keep");
}

static void assert_path_response(const char *const *paths, const char *body, int expected_r, const char *expected_id) {
        char *id = NULL;
        int r = sms_parse_response_paths(paths, body, strlen(body), &id);
        check_parsed(body, r, id, expected_r, expected_id);
}

static void test_parse_response_paths(void **state) {
        (void)state;
        const char *const vonage[] = {"messages.0.message-id", "id", NULL};
        assert_path_response(vonage, "{\"message-count\":\"1\",\"messages\":[{\"message-id\":\"V1\",\"status\":\"0\"}]}", 0,
                             "V1");
        assert_path_response(vonage, "{\"messages\":[],\"id\":\"fallback\"}", 0, "fallback");
        assert_path_response(vonage, "{\"messages\":{\"0\":{\"message-id\":\"obj\"}}}", 0, "obj");
        assert_path_response(vonage, "{\"messages\":[{\"message-id\":true}]}", -EBADMSG, NULL);
        assert_path_response(vonage, "{\"messages\":\"none\"}", -ENOENT, NULL);
        assert_path_response(vonage, "{\"messages\":[null]}", -ENOENT, NULL);
        const char *const nested[] = {"data.id", NULL};
        assert_path_response(nested, "{\"data\":{\"id\":42}}", 0, "42");
        assert_path_response(nested, "{\"data\":null}", -ENOENT, NULL);
        assert_path_response(nested, "{\"data\":{\"id\":\"\"}}", -ENOENT, NULL);
        const char *const top[] = {"0.id", NULL};
        assert_path_response(top, "[{\"id\":\"a1\"}]", 0, "a1");
        assert_path_response(top, "[]", -ENOENT, NULL);
        assert_path_response(top, "[{\"id\":\"a1\"}] x", -EBADMSG, NULL);
        const char *const none[] = {NULL};
        char *id = NULL;
        assert_int_equal(sms_parse_response_paths(none, "{}", 2, &id), -EINVAL);
        assert_int_equal(sms_parse_response_paths(NULL, "{}", 2, &id), -EINVAL);
        assert_null(id);

        assert_true(sms_reply_path_valid("id"));
        assert_true(sms_reply_path_valid("messages.0.message-id"));
        assert_false(sms_reply_path_valid(""));
        assert_false(sms_reply_path_valid(NULL));
        assert_false(sms_reply_path_valid(".id"));
        assert_false(sms_reply_path_valid("id."));
        assert_false(sms_reply_path_valid("data..id"));
        assert_false(sms_reply_path_valid("bad\xff"));
        char longname[300];
        memset(longname, 'a', sizeof longname - 1);
        longname[sizeof longname - 1] = '\0';
        assert_false(sms_reply_path_valid(longname));
}

/* A bare gateway_url gets Twilio's Messages resource for the account; one
 * with a path, query or fragment is a relay's own address, kept as is. */
static void test_twilio_url(void **state) {
        (void)state;
        static const struct {
                const char *in, *sid, *want;
        } cases[] = {
                {"https://api.twilio.com", "AC123", "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"},
                {"https://api.twilio.com/", "AC123", "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"},
                {"http://127.0.0.1:8080", "AC 1/2", "http://127.0.0.1:8080/2010-04-01/Accounts/AC%201%2F2/Messages.json"},
                {"https://api.twilio.com/2010-04-01/Accounts/AC9/Messages.json", "AC123",
                 "https://api.twilio.com/2010-04-01/Accounts/AC9/Messages.json"},
                {"http://relay.example/sms", "AC1", "http://relay.example/sms"},
                {"http://relay.example?key=1", "AC1", "http://relay.example?key=1"},
                {"http://relay.example//", "AC1", "http://relay.example//"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                char *url = NULL;
                assert_int_equal(sms_twilio_url(cases[i].in, cases[i].sid, &url), 0);
                assert_string_equal(url, cases[i].want);
                free(url);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_number_valid),
                cmocka_unit_test(test_text_clean),
                cmocka_unit_test(test_segments_gsm7),
                cmocka_unit_test(test_segments_ucs2),
                cmocka_unit_test(test_segments_invalid),
                cmocka_unit_test(test_build_twilio),
                cmocka_unit_test(test_build_json),
                cmocka_unit_test(test_build_rejects),
                cmocka_unit_test(test_parse_response),
                cmocka_unit_test(test_build_json_fields),
                cmocka_unit_test(test_parse_response_paths),
                cmocka_unit_test(test_twilio_url),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
