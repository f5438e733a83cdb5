/* Template files: layout, escaping per part, locale fallback, partials. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "templates.h"
#include "util.h"

static char dir[256];

static void write_file(const char *name, const char *content) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(content, f);
        fclose(f);
}

static int setup(void **state) {
        (void)state;
        snprintf(dir, sizeof dir, "/tmp/rapport-tpl-XXXXXX");
        assert_non_null(mkdtemp(dir));
        write_file("greet.email.zh-CN.mustache",
                   "Subject: 你好，{{name}} <{{co}}>\n\n{{name}}，您好！<{{co}}>\n{{> footer}}\n--- html ---\n<p>{{name}} &lt;{{co}}&gt;</p>\n");
        write_file("greet.email.en.mustache", "Subject: Hello {{name}}\n\nDear {{name}},\n");
        write_file("greet.sms.zh.mustache", "{{name}}，生日快乐！\n\n");
        write_file("greet.sms.zh-Hant.mustache", "{{name}}，生日快樂！\n");
        write_file("footer.mustache", "-- The team\n");
        write_file("footer.zh-CN.mustache", "—— 客户服务部\n");
        return 0;
}

static int teardown(void **state) {
        (void)state;
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        return system(cmd);
}

static void test_email_layout_and_escaping(void **state) {
        (void)state;
        _cleanup_(template_set_freep) struct template_set *s = NULL;
        int nerr = -1;
        assert_int_equal(template_set_load(dir, &s, &nerr), 0);
        assert_int_equal(nerr, 0);
        const struct message_template *t = template_find(s, "greet", "email", "zh-CN", "en");
        assert_non_null(t);
        assert_string_equal(t->locale, "zh-CN");
        /* A CRM writing the POSIX form zh_CN gets the same template, not the default. */
        assert_ptr_equal(template_find(s, "greet", "email", "zh_CN", "en"), t);
        assert_ptr_equal(template_find(s, "greet", "email", "ZH_cn", "en"), t);
        /* ... and so does the full POSIX name, codeset and modifier included. */
        assert_ptr_equal(template_find(s, "greet", "email", "zh_CN.UTF-8", "en"), t);
        assert_ptr_equal(template_find(s, "greet", "email", "zh_CN.GB18030@stroke", "en"), t);
        json_object *ctx = json_tokener_parse("{\"name\":\"王伟\",\"co\":\"A&B\"}");
        struct rendered r;
        assert_int_equal(template_render(s, t, ctx, &r), 0);
        assert_string_equal(r.subject, "你好，王伟 <A&B>");              /* subjects: no escaping */
        assert_string_equal(r.text, "王伟，您好！<A&B>\n—— 客户服务部\n"); /* text: no escaping, localized partial */
        assert_string_equal(r.html, "<p>王伟 &lt;A&amp;B&gt;</p>\n");   /* html: escaped */
        rendered_clear(&r);
        json_object_put(ctx);
}

static void test_locale_fallback(void **state) {
        (void)state;
        _cleanup_(template_set_freep) struct template_set *s = NULL;
        int nerr;
        assert_int_equal(template_set_load(dir, &s, &nerr), 0);
        /* exact */
        assert_string_equal(template_find(s, "greet", "email", "en", "zh-CN")->locale, "en");
        /* zh-TW -> zh (language) for SMS */
        assert_string_equal(template_find(s, "greet", "sms", "zh-TW", "en")->locale, "zh");
        /* fr -> default locale en */
        assert_string_equal(template_find(s, "greet", "email", "fr", "en")->locale, "en");
        /* zh-Hant-TW -> zh-Hant before zh (RFC 4647 lookup: one subtag at a time) */
        assert_string_equal(template_find(s, "greet", "sms", "zh-Hant-TW", "en")->locale, "zh-Hant");
        assert_string_equal(template_find(s, "greet", "sms", "zh_Hant_HK", "en")->locale, "zh-Hant");
        /* zh_TW.UTF-8 -> zh, as zh-TW does */
        assert_string_equal(template_find(s, "greet", "sms", "zh_TW.UTF-8", "en")->locale, "zh");
        /* a locale that is only a codeset is no locale: the default's */
        assert_string_equal(template_find(s, "greet", "email", ".UTF-8", "en")->locale, "en");
        /* en-GB -> en */
        assert_string_equal(template_find(s, "greet", "email", "en-GB", "zh-CN")->locale, "en");
        /* nothing for this channel at all */
        assert_null(template_find(s, "greet", "sms", "en", "en"));
        assert_null(template_find(s, "nosuch", "email", "en", "en"));
}

static void test_sms_and_subject_flattening(void **state) {
        (void)state;
        _cleanup_(template_set_freep) struct template_set *s = NULL;
        int nerr;
        assert_int_equal(template_set_load(dir, &s, &nerr), 0);
        json_object *ctx = json_tokener_parse("{\"name\":\"Evil\\r\\nBcc: x@example.com\"}");
        struct rendered r;
        const struct message_template *sms = template_find(s, "greet", "sms", "zh-CN", "en");
        assert_int_equal(template_render(s, sms, ctx, &r), 0);
        assert_null(r.subject);
        /* trailing newlines dropped, the CR of a CRLF too (as the gateway gets it) */
        assert_string_equal(r.text, "Evil\nBcc: x@example.com，生日快乐！");
        rendered_clear(&r);
        const struct message_template *en = template_find(s, "greet", "email", "en", "en");
        assert_int_equal(template_render(s, en, ctx, &r), 0);
        assert_string_equal(r.subject, "Hello Evil  Bcc: x@example.com"); /* one line, always */
        assert_null(r.html);
        rendered_clear(&r);
        json_object_put(ctx);
}

/* Bytes from a database that does not check encodings, and names of any
 * length: the output is UTF-8 and the subject one readable line. */
static void test_malformed_utf8_and_long_subject(void **state) {
        (void)state;
        _cleanup_(template_set_freep) struct template_set *s = NULL;
        int nerr;
        assert_int_equal(template_set_load(dir, &s, &nerr), 0);
        json_object *ctx = json_object_new_object();
        json_object_object_add(ctx, "name", json_object_new_string("A\xff\xc3\x28" "B\xe2\x82"));
        const struct message_template *en = template_find(s, "greet", "email", "en", "en");
        struct rendered r;
        assert_int_equal(template_render(s, en, ctx, &r), 0);
        assert_string_equal(r.subject, "Hello A\xEF\xBF\xBD\xEF\xBF\xBD(B\xEF\xBF\xBD\xEF\xBF\xBD");
        assert_string_equal(r.text, "Dear A\xEF\xBF\xBD\xEF\xBF\xBD(B\xEF\xBF\xBD\xEF\xBF\xBD,\n");
        rendered_clear(&r);

        char long_name[4000];
        for (size_t i = 0; i + 3 < sizeof long_name; i += 3)
                memcpy(long_name + i, "\xE5\x90\x8D", 3); /* 名 */
        long_name[sizeof long_name - 1 - (sizeof long_name - 1) % 3] = '\0';
        json_object_object_add(ctx, "name", json_object_new_string(long_name));
        assert_int_equal(template_render(s, en, ctx, &r), 0);
        size_t chars = 0;
        for (const unsigned char *p = (const unsigned char *)r.subject; *p; p++)
                chars += (*p & 0xC0) != 0x80;
        assert_int_equal(chars, 251); /* 250 and the ellipsis */
        assert_string_equal(r.subject + strlen(r.subject) - 3, "\xE2\x80\xA6");
        assert_true(strlen(r.text) > 3000); /* the body is never cut */
        rendered_clear(&r);
        json_object_put(ctx);

        char ascii[16] = "abcdefghij";
        assert_int_equal(utf8_shorten(ascii, 10), 0);
        assert_int_equal(utf8_shorten(ascii, 9), 10);
        assert_string_equal(ascii, "abcdefg\xE2\x80\xA6"); /* room for the 3-byte ellipsis */

        /* "a张b": a cut never splits 张 (bytes 1-3). */
        const char *mixed = "a\xE5\xBC\xA0" "b";
        static const size_t start[] = {0, 1, 1, 1, 4};
        for (size_t i = 0; i < ELEMENTSOF(start); i++)
                assert_int_equal(utf8_char_start(mixed, i), start[i]);
}

/* utf8_valid_prefix() spells out per lead byte what utf8_decode() accepts;
 * compared on every pair of leading bytes followed by bytes of each kind. */
static void test_utf8_valid_prefix(void **state) {
        (void)state;
        static const unsigned char tails[] = {0x41, 0x80, 0xBF, 0xC3};
        for (unsigned b0 = 0; b0 < 256; b0++)
                for (unsigned b1 = 0; b1 < 256; b1++)
                        for (unsigned t = 0; t < 16; t++) {
                                unsigned char s[4] = {(unsigned char)b0, (unsigned char)b1, tails[t % 4], tails[t / 4]};
                                for (size_t len = 1; len <= 4; len++) {
                                        /* The reference: decode characters until one fails. */
                                        size_t want = 0, n;
                                        uint32_t cp;
                                        while (want < len && (n = utf8_decode(s + want, len - want, &cp)) > 0)
                                                want += n;
                                        size_t got = utf8_valid_prefix((const char *)s, len);
                                        if (got != want)
                                                print_message("%02x %02x %02x %02x len %zu: %zu, want %zu\n", s[0], s[1],
                                                              s[2], s[3], len, got, want);
                                        assert_int_equal(got, want);
                                }
                        }
        /* The eight-bytes-at-a-time path, and a stop right after it. */
        assert_int_equal(utf8_valid_prefix("abcdefgh\xE4\xB8\xADijklmnop", 19), 19);
        assert_int_equal(utf8_valid_prefix("abcdefghijklmnop\xFF", 17), 16);
}

static void test_broken_template_rejects_the_whole_set(void **state) {
        (void)state;
        /* A reload that meets a broken file fails as a whole: the caller keeps the old set. */
        _cleanup_(template_set_freep) struct template_set *old = NULL;
        int nerr;
        assert_int_equal(template_set_load(dir, &old, &nerr), 0);
        write_file("bad.email.en.mustache", "Subject: x\n\n{{#open}}\n");
        write_file("nosubject.email.en.mustache", "just text\n");
        struct template_set *s = NULL;
        assert_int_equal(template_set_load(dir, &s, &nerr), -EINVAL);
        assert_null(s);
        assert_int_equal(nerr, 2); /* every problem counted, not just the first */
        assert_non_null(template_find(old, "greet", "email", "en", "en"));
        char path[512];
        snprintf(path, sizeof path, "%s/bad.email.en.mustache", dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/nosubject.email.en.mustache", dir);
        unlink(path);
}

/* What the template code logs while fn runs (it logs to stderr here). */
static char *captured_stderr(void (*fn)(void *), void *arg) {
        char path[512];
        snprintf(path, sizeof path, "%s/stderr.log", dir);
        fflush(stderr);
        int saved = dup(STDERR_FILENO);
        FILE *f = fopen(path, "w+");
        assert_non_null(f);
        dup2(fileno(f), STDERR_FILENO);
        fn(arg);
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        fclose(f);
        char *text = NULL;
        size_t len;
        assert_int_equal(read_file(path, &text, &len), 0);
        unlink(path);
        return text;
}

static void remove_file(const char *name) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        unlink(path);
}

struct load_result {
        int r, nerr;
};

static void load_all(void *arg) {
        struct load_result *lr = arg;
        struct template_set *s = NULL;
        lr->r = template_set_load(dir, &s, &lr->nerr);
        template_set_free(s);
}

/* A set holding FILE with CONTENT fails to load with exactly one problem,
 * logged with the text WANT (its position included). */
static void assert_one_load_error(const char *file, const char *content, const char *want) {
        write_file(file, content);
        struct load_result lr;
        _cleanup_free_ char *log = captured_stderr(load_all, &lr);
        assert_int_equal(lr.r, -EINVAL);
        assert_int_equal(lr.nerr, 1);
        if (!strstr(log, want))
                fail_msg("want \"%s\" in log: %s", want, log);
        remove_file(file);
}

/* Two files for one template or partial, their locales spelled apart
 * (zh_cn is zh-CN): which words went out would be the directory's order,
 * and an edited copy could be the one ignored. */
static void test_twin_files_are_problems(void **state) {
        (void)state;
        assert_one_load_error("greet.email.zh_cn.mustache", "Subject: copy\n\ncopy\n",
                              "greet.email.zh_cn.mustache: the same template as ");
        assert_one_load_error("footer.ZH_CN.mustache", "copy\n", ": the same partial as ");
        /* Other channels, locales and names are not twins. */
        write_file("greet.sms.zh-CN.mustache", "{{name}}\n");
        write_file("footer.zh-TW.mustache", "tw\n");
        write_file("greeting.email.zh-CN.mustache", "Subject: s\n\nt\n");
        _cleanup_(template_set_freep) struct template_set *s = NULL;
        int nerr = -1;
        assert_int_equal(template_set_load(dir, &s, &nerr), 0);
        assert_int_equal(nerr, 0);
        remove_file("greet.sms.zh-CN.mustache");
        remove_file("footer.zh-TW.mustache");
        remove_file("greeting.email.zh-CN.mustache");
}

/* Every problem of a file is reported at its position in the file: the
 * subject's columns count from the start of its line, the HTML part's lines
 * from the top of the file. */
static void test_error_positions_are_file_positions(void **state) {
        (void)state;
        write_file("pos.email.en.mustache", "Subject: Hi {{#a}}\n\ntext {{/b}}\n--- html ---\n<p>{{#c}}</p>\n");
        write_file("tab.email.en.mustache", "subject:\t {{/x}}\r\n\r\nok\r\n  {{/y}}\r\n");
        struct load_result lr;
        _cleanup_free_ char *log = captured_stderr(load_all, &lr);
        assert_int_equal(lr.r, -EINVAL);
        assert_int_equal(lr.nerr, 5); /* each part's error, not each file's first */
        if (!strstr(log, "pos.email.en.mustache:1:13: unclosed section 'a' opened at line 1 column 13") ||
            !strstr(log, "pos.email.en.mustache:3:6: closing tag 'b' without an open section") ||
            !strstr(log, "pos.email.en.mustache:5:4: unclosed section 'c' opened at line 5 column 4") ||
            !strstr(log, "tab.email.en.mustache:1:11: closing tag 'x'") ||
            !strstr(log, "tab.email.en.mustache:4:3: closing tag 'y'"))
                fail_msg("log: %s", log);
        remove_file("pos.email.en.mustache");
        remove_file("tab.email.en.mustache");
}

static void test_second_subject_line(void **state) {
        (void)state;
        assert_one_load_error("twice.email.en.mustache", "Subject: one\nSubject: two\n\ntext\n",
                              "twice.email.en.mustache:2:1: a second \"Subject:\" line");
}

/* `rapportctl check` goes on past a broken file: the rest of the set is
 * there to check the jobs against, and the broken one is not "missing". */
static void test_load_all_keeps_going(void **state) {
        (void)state;
        write_file("aaa.email.en.mustache", "Subject: x\n\n{{#open}}\n");
        write_file("zzz.sms.en.mustache", "{{/close}}\n");
        struct template_set *s = NULL;
        int nerr = 0;
        assert_int_equal(template_set_load_all(dir, &s, &nerr), 0);
        assert_int_equal(nerr, 2);
        assert_non_null(s);
        assert_non_null(template_find(s, "greet", "email", "en", "en"));
        assert_null(template_find(s, "aaa", "email", "en", "en"));
        assert_true(template_broken(s, "aaa", "email", "en-GB", "en"));
        assert_true(template_broken(s, "zzz", "sms", "en", "zh-CN"));
        assert_false(template_broken(s, "aaa", "sms", "en", "en"));
        assert_false(template_broken(s, "nosuch", "email", "en", "en"));
        template_set_free(s);
        remove_file("aaa.email.en.mustache");
        remove_file("zzz.sms.en.mustache");
}

/* The file as the daemon renders its parts, with the file's own bytes
 * around them: only the HTML part escaped, the subject left as written. */
static void test_render_email_file(void **state) {
        (void)state;
        const char *src = "Subject:  {{name}} & co\r\n\r\n{{#items}}\n- {{.}}\n{{/items}}\n--- html ---\r\n<p>{{name}}</p>\n";
        json_object *ctx = json_tokener_parse("{\"name\":\"<王 & 李>\",\"items\":[\"a<b\"]}");
        _cleanup_buf_ struct buf out = {0};
        assert_int_equal(template_render_email_file("x.email.en.mustache", src, strlen(src), ctx, NULL, NULL, &out), 0);
        assert_string_equal(out.data, "Subject:  <王 & 李> & co\r\n\r\n- a<b\n--- html ---\r\n<p>&lt;王 &amp; 李&gt;</p>\n");
        /* Without an HTML part: the whole file, unescaped. */
        const char *plain = "Subject: {{name}}\n\n{{name}}";
        buf_free(&out);
        assert_int_equal(template_render_email_file("x.email.en.mustache", plain, strlen(plain), ctx, NULL, NULL, &out), 0);
        assert_string_equal(out.data, "Subject: <王 & 李>\n\n<王 & 李>");
        /* A byte-order mark is not rendered (as in a whole-file render). */
        const char *bom = "\xEF\xBB\xBFSubject: {{name}}\r\n\r\n{{name}}\r\n";
        buf_free(&out);
        assert_int_equal(template_render_email_file("x.email.en.mustache", bom, strlen(bom), ctx, NULL, NULL, &out), 0);
        assert_string_equal(out.data, "Subject: <王 & 李>\r\n\r\n<王 & 李>\r\n");
        json_object_put(ctx);

        assert_string_equal(template_file_channel("/a/b.c/birthday.email.zh-CN.mustache"), "email");
        assert_string_equal(template_file_channel("birthday.sms.en.mustache"), "sms");
        assert_null(template_file_channel("/x/birthday.email.en.mustache/footer.mustache"));
        assert_null(template_file_channel("footer.zh-CN.mustache"));
        assert_null(template_file_channel("page.html"));
}

/* An SMS renders as the gateway gets it (channel_sms.c cleans it the same
 * way), so that preview and check count what is sent: an editor's tab a
 * space (GSM-7 has no tab: counted as is, the text would be UCS-2), CRLF
 * line ends LF, a control character from the data a space. */
static void test_sms_rendered_as_sent(void **state) {
        (void)state;
        write_file("tabbed.sms.en.mustache", "Hi {{name}}!\tThanks.\r\n- us\r\n");
        _cleanup_(template_set_freep) struct template_set *s = NULL;
        int nerr = -1;
        assert_int_equal(template_set_load(dir, &s, &nerr), 0);
        json_object *ctx = json_tokener_parse("{\"name\":\"A\\u001bnn\"}");
        struct rendered r;
        assert_int_equal(template_render(s, template_find(s, "tabbed", "sms", "en", "en"), ctx, &r), 0);
        assert_string_equal(r.text, "Hi A nn! Thanks.\n- us");
        rendered_clear(&r);
        json_object_put(ctx);
        remove_file("tabbed.sms.en.mustache");
}

/* A file saved with a UTF-8 byte-order mark (Notepad does) reads as the
 * same file without: no "unknown header line", no U+FEFF in an SMS (which
 * would make it UCS-2) or where a partial is included; positions as an
 * editor shows them. */
static void test_byte_order_mark(void **state) {
        (void)state;
        write_file("bom.email.en.mustache", "\xEF\xBB\xBFSubject: Hi {{name}}\r\n\r\nDear {{name}},\r\n{{> bomfoot}}\r\n");
        write_file("bom.sms.en.mustache", "\xEF\xBB\xBFHi {{name}}\n");
        write_file("bomfoot.mustache", "\xEF\xBB\xBF-- us\n");
        _cleanup_(template_set_freep) struct template_set *s = NULL;
        int nerr = -1;
        assert_int_equal(template_set_load(dir, &s, &nerr), 0);
        assert_int_equal(nerr, 0);
        json_object *ctx = json_tokener_parse("{\"name\":\"Ann\"}");
        struct rendered r;
        assert_int_equal(template_render(s, template_find(s, "bom", "email", "en", "en"), ctx, &r), 0);
        assert_string_equal(r.subject, "Hi Ann");
        assert_string_equal(r.text, "Dear Ann,\r\n-- us\n");
        rendered_clear(&r);
        assert_int_equal(template_render(s, template_find(s, "bom", "sms", "en", "en"), ctx, &r), 0);
        assert_string_equal(r.text, "Hi Ann");
        rendered_clear(&r);
        json_object_put(ctx);

        /* Only at the start: elsewhere it is the text's own character. */
        const char *mid = "Subject: x\n\n\xEF\xBB\xBFtext\n";
        struct email_layout l;
        assert_int_equal(template_email_layout("mid.email.en.mustache", mid, strlen(mid), &l), 0);
        assert_int_equal(l.text_len, strlen("\xEF\xBB\xBFtext\n"));

        write_file("bom.email.en.mustache", "\xEF\xBB\xBFSubject: Hi {{#a}}\n\nok\n");
        write_file("bom.sms.en.mustache", "\xEF\xBB\xBF{{/b}}\n");
        struct load_result lr;
        _cleanup_free_ char *log = captured_stderr(load_all, &lr);
        assert_int_equal(lr.r, -EINVAL);
        assert_int_equal(lr.nerr, 2);
        if (!strstr(log, "bom.email.en.mustache:1:13: unclosed section 'a'") ||
            !strstr(log, "bom.sms.en.mustache:1:1: closing tag 'b'"))
                fail_msg("log: %s", log);
        remove_file("bom.email.en.mustache");
        remove_file("bom.sms.en.mustache");
        remove_file("bomfoot.mustache");
}

struct layout_call {
        const char *src;
        int r;
        struct email_layout l;
};

static void call_layout(void *arg) {
        struct layout_call *c = arg;
        c->r = template_email_layout("sep.email.en.mustache", c->src, strlen(c->src), &c->l);
}

/* The separator line as editors and hands write it: blanks after it (a
 * CR) and the case of "html" do not matter; another spelling of it is an
 * error at its place, never text that would send the HTML as plain text;
 * a line that only contains it is text. */
static void test_html_separator(void **state) {
        (void)state;
        static const char *const accepted[] = {
                "--- html --- \t\n", "--- html ---\r\n", "--- HTML ---\n", "--- Html ---  \r\n", "--- html ---",
        };
        for (size_t i = 0; i < ELEMENTSOF(accepted); i++) {
                _cleanup_free_ char *src = NULL;
                bool eol = strchr(accepted[i], '\n') != NULL; /* else the file ends there */
                assert_true(asprintf(&src, "Subject: s\n\ntext\n%s%s", accepted[i], eol ? "<p>x</p>\n" : "") > 0);
                struct email_layout l;
                assert_int_equal(template_email_layout("sep.email.en.mustache", src, strlen(src), &l), 0);
                assert_true(l.has_html);
                assert_int_equal(l.text_len, strlen("text\n"));
                assert_int_equal(l.html_line, eol ? 5 : 4);
                assert_int_equal(l.html_len, eol ? strlen("<p>x</p>\n") : 0);
        }

        static const struct {
                const char *line;
                int column;
        } near_misses[] = {
                {"---html---", 4},  {"---HTML---\r", 4},   {"---  html ---", 5}, {"--- html---", 9},
                {"--- html  --- ", 10}, {"---\thtml ---", 4}, {"--- html\t---", 9}, {"---   HTML   ---\t", 5},
        };
        for (size_t i = 0; i < ELEMENTSOF(near_misses); i++) {
                _cleanup_free_ char *src = NULL, *want = NULL;
                assert_true(asprintf(&src, "Subject: s\n\ntext\nmore\n%s\n<p>x</p>\n", near_misses[i].line) > 0);
                assert_true(asprintf(&want, "sep.email.en.mustache:5:%d: almost the HTML separator", near_misses[i].column) > 0);
                struct layout_call c = {.src = src};
                _cleanup_free_ char *log = captured_stderr(call_layout, &c);
                assert_int_equal(c.r, -EINVAL);
                if (!strstr(log, want))
                        fail_msg("%s: log: %s", near_misses[i].line, log);
        }

        static const char *const text[] = {
                " --- html ---", "--- html --- x", "--- xhtml ---", "--- html5 ---", "---- html ----",
                "-- html --",    "--- htm ---",     "--- html ---- ", "---",           "--- ---",
        };
        for (size_t i = 0; i < ELEMENTSOF(text); i++) {
                _cleanup_free_ char *src = NULL;
                assert_true(asprintf(&src, "Subject: s\n\n%s\n", text[i]) > 0);
                struct email_layout l;
                assert_int_equal(template_email_layout("sep.email.en.mustache", src, strlen(src), &l), 0);
                assert_false(l.has_html);
                assert_int_equal(l.text_len, strlen(text[i]) + 1);
        }

        /* Past the separator the HTML part is the author's, whatever it holds. */
        const char *after = "Subject: s\n\ntext\n--- html ---\n<p>x</p>\n---html---\n";
        struct email_layout l;
        assert_int_equal(template_email_layout("sep.email.en.mustache", after, strlen(after), &l), 0);
        assert_true(l.has_html);

        /* Loading such a file: one problem, the file not loaded. */
        assert_one_load_error("sep.email.en.mustache", "Subject: s\n\ntext\n---html---\n<p>x</p>\n",
                              "sep.email.en.mustache:4:4: almost the HTML separator");
}

static void test_missing_directory(void **state) {
        (void)state;
        struct template_set *s = NULL;
        int nerr = 0;
        assert_true(template_set_load("/nonexistent/templates", &s, &nerr) < 0);
        assert_int_equal(nerr, 1);
}

static void test_default_templates_parse(void **state) {
        (void)state;
        _cleanup_(template_set_freep) struct template_set *s = NULL;
        int nerr = -1;
        assert_int_equal(template_set_load(RAPPORT_SOURCE_DIR "/templates", &s, &nerr), 0);
        assert_non_null(template_find(s, "birthday", "email", "zh-CN", "en"));
        assert_non_null(template_find(s, "birthday", "email", "en", "zh-CN"));
        assert_non_null(template_find(s, "birthday", "sms", "zh-CN", "en"));
        assert_non_null(template_find(s, "birthday", "sms", "en", "en"));
        /* A receivables level may name any of these, for any audience, on
         * either channel: each must exist in both shipped locales. */
        static const char *const dunning[] = {"dunning_courtesy", "dunning_friendly", "dunning_firm", "dunning_rep_call",
                                              "dunning_manager"};
        static const char *const channels[] = {"email", "sms"}, *const locales[] = {"zh-CN", "en"};
        for (size_t i = 0; i < ELEMENTSOF(dunning); i++)
                for (size_t c = 0; c < ELEMENTSOF(channels); c++)
                        for (size_t l = 0; l < ELEMENTSOF(locales); l++) {
                                const struct message_template *t = template_find(s, dunning[i], channels[c], locales[l], "none");
                                if (!t)
                                        fail_msg("no %s.%s.%s.mustache", dunning[i], channels[c], locales[l]);
                                assert_string_equal(t->locale, locales[l]);
                        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_email_layout_and_escaping),
                cmocka_unit_test(test_locale_fallback),
                cmocka_unit_test(test_twin_files_are_problems),
                cmocka_unit_test(test_sms_and_subject_flattening),
                cmocka_unit_test(test_malformed_utf8_and_long_subject),
                cmocka_unit_test(test_utf8_valid_prefix),
                cmocka_unit_test(test_broken_template_rejects_the_whole_set),
                cmocka_unit_test(test_missing_directory),
                cmocka_unit_test(test_error_positions_are_file_positions),
                cmocka_unit_test(test_second_subject_line),
                cmocka_unit_test(test_load_all_keeps_going),
                cmocka_unit_test(test_render_email_file),
                cmocka_unit_test(test_byte_order_mark),
                cmocka_unit_test(test_sms_rendered_as_sent),
                cmocka_unit_test(test_html_separator),
                cmocka_unit_test(test_default_templates_parse),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
