/* Messages are checked by a real MIME parser: Python's email package with
 * policy.default, run as a child process, reports what a mail client would
 * see (headers, decoded parts, defects) as JSON.  Display names are read a
 * second way too, as older code reads them: compat32's getaddresses() and
 * decode_header(), which disagree with policy.default about the space
 * between two encoded-words. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <sys/wait.h>

#include "mime.h"
#include "util.h"

static const char parser_script[] =
        "import sys, json, re, base64, email, email.policy, email.utils, email.header\n"
        "from email.headerregistry import Address\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "msg = email.message_from_bytes(data, policy=email.policy.default)\n"
        "out = {'headers': [], 'defects': [repr(d) for d in msg.defects], 'parts': [],\n"
        "       'bad_words': [], 'content_type': msg.get_content_type()}\n"
        "for k, v in msg.items():\n"
        "    out['headers'].append([k, str(v)])\n"
        "    out['defects'] += [repr(d) for d in getattr(v, 'defects', ())]\n"
        "def addrs(h):\n"
        "    v = msg[h]\n"
        "    return None if v is None else [[a.display_name, a.addr_spec] for a in v.addresses]\n"
        "out['subject'] = None if msg['subject'] is None else str(msg['subject'])\n"
        "out['from'] = addrs('from')\n"
        "out['to'] = addrs('to')\n"
        "old = email.message_from_bytes(data, policy=email.policy.compat32)\n"
        "def compat(h):\n"
        "    v = old.get_all(h)\n"
        "    if v is None: return None\n"
        "    return [[str(email.header.make_header(email.header.decode_header(n))), a]\n"
        "            for n, a in email.utils.getaddresses(v)]\n"
        "out['from_compat32'] = compat('from')\n"
        "out['to_compat32'] = compat('to')\n"
        "def shown(h, names):\n"
        "    if msg[h] is None or not names: return None\n"
        "    return [str(msg[h]), ', '.join(str(Address(display_name=n, addr_spec=a)) for n, a in names)]\n"
        "out['from_shown'] = shown('from', out['from_compat32'])\n"
        "out['to_shown'] = shown('to', out['to_compat32'])\n"
        "out['long_words'] = []\n"
        "for k, raw in msg.raw_items():\n"
        "    address = k.lower() in ('from', 'to')\n"
        "    # Side by side, encoded-words in a phrase read differently in the two parsers.\n"
        "    if address and re.search(r'\\?=\\s+=\\?', raw): out['bad_words'].append(raw)\n"
        "    for w in re.findall(r'=\\?[^?]*\\?[bB]\\?[^?]*\\?=', raw):\n"
        "        try:\n"
        "            base64.b64decode(w[10:-2], validate=True).decode('utf-8')\n"
        "            ok = len(w) <= 75 or address\n"
        "        except Exception:\n"
        "            ok = False\n"
        "        if not ok: out['bad_words'].append(w)\n"
        "        if len(w) > 75: out['long_words'].append(w)\n"
        "for part in msg.walk():\n"
        "    out['defects'] += [repr(d) for d in part.defects]\n"
        "    if part.is_multipart(): continue\n"
        "    out['parts'].append({'content_type': part.get_content_type(),\n"
        "                         'charset': part.get_content_charset(),\n"
        "                         'content': part.get_content()})\n"
        "print(json.dumps(out))\n";

/* Runs the parser on msg; returns its JSON report. */
static json_object *parse_with_python(const char *msg, size_t len) {
        char path[] = "/tmp/test_mime_XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, msg, len), (ssize_t)len);
        close(fd);

        int pipefd[2];
        assert_int_equal(pipe(pipefd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                dup2(pipefd[1], STDOUT_FILENO);
                close(pipefd[0]);
                close(pipefd[1]);
                execl("/usr/bin/python3", "python3", "-c", parser_script, path, (char *)NULL);
                _exit(127);
        }
        close(pipefd[1]);
        _cleanup_buf_ struct buf b = {0};
        char chunk[4096];
        ssize_t n;
        while ((n = read(pipefd[0], chunk, sizeof chunk)) > 0)
                assert_int_equal(buf_append(&b, chunk, (size_t)n), 0);
        close(pipefd[0]);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        unlink(path);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_non_null(b.data);
        json_object *j = json_tokener_parse(b.data);
        assert_non_null(j);
        return j;
}

static json_object *get(json_object *o, const char *key) {
        json_object *v = NULL;
        assert_true(json_object_object_get_ex(o, key, &v));
        return v;
}

static const char *get_str(json_object *o, const char *key) {
        return json_object_get_string(get(o, key));
}

static size_t count_headers(json_object *report, const char *name) {
        json_object *headers = get(report, "headers");
        size_t n = 0;
        for (size_t i = 0; i < json_object_array_length(headers); i++) {
                json_object *h = json_object_array_get_idx(headers, i);
                if (strcasecmp(json_object_get_string(json_object_array_get_idx(h, 0)), name) == 0)
                        n++;
        }
        return n;
}

/* Every line CRLF-terminated, no stray CR or LF, none over max_header
 * octets in the header section or 998 anywhere. */
static void assert_lines_valid(const struct buf *b, size_t max_header) {
        assert_true(b->len >= 2);
        assert_memory_equal(b->data + b->len - 2, "\r\n", 2);
        bool in_header = true;
        size_t start = 0;
        for (size_t i = 0; i < b->len; i++) {
                if (b->data[i] == '\r') {
                        assert_true(i + 1 < b->len && b->data[i + 1] == '\n');
                        size_t line = i - start;
                        assert_true(line <= 998);
                        if (in_header) {
                                if (line > max_header)
                                        fail_msg("header line of %zu octets: %.*s", line, (int)line,
                                                 b->data + start);
                                if (line == 0)
                                        in_header = false;
                        }
                        i++;
                        start = i + 1;
                } else {
                        assert_true(b->data[i] != '\n');
                        assert_true(b->data[i] != '\0');
                }
        }
        assert_false(in_header);
}

static void assert_no_defects(json_object *report) {
        json_object *defects = get(report, "defects");
        if (json_object_array_length(defects) != 0)
                fail_msg("defects: %s", json_object_to_json_string(defects));
        assert_int_equal(json_object_array_length(get(report, "bad_words")), 0);
}

/* The text as it should come out of the parser: every newline CRLF. */
static char *crlf(const char *s) {
        struct buf b = {0};
        assert_int_equal(buf_append(&b, "", 0), 0); /* NUL-terminated even when empty */
        for (; *s; s++) {
                if (*s == '\r' || *s == '\n') {
                        assert_int_equal(buf_puts(&b, "\r\n"), 0);
                        if (s[0] == '\r' && s[1] == '\n')
                                s++;
                } else
                        assert_int_equal(buf_append(&b, s, 1), 0);
        }
        return buf_steal(&b);
}

static json_object *build_and_parse(const struct mail_message *m, struct buf *out, size_t max_header) {
        assert_int_equal(smtp_build_message(m, out, NULL), 0);
        assert_lines_valid(out, max_header);
        json_object *report = parse_with_python(out->data, out->len);
        assert_no_defects(report);
        return report;
}

static const char *addr_field(json_object *report, const char *header, size_t field) {
        json_object *list = get(report, header);
        assert_int_equal(json_object_array_length(list), 1);
        return json_object_get_string(
                json_object_array_get_idx(json_object_array_get_idx(list, 0), field));
}

static struct mail_message basic_message(void) {
        return (struct mail_message){
                .from_name = "Rapport",
                .from_addr = "noreply@example.com",
                .to_name = "Customer",
                .to_addr = "customer@example.org",
                .subject = "Hello",
                .text = "Hello.\n",
                .date = 1700000000,
        };
}

/* Both parsers give back exactly expected as the display name of header
 * ("from" or "to"), and policy.default's rendering of the field is the
 * canonical one for that name. */
static void assert_display_name(json_object *report, const char *header, const char *expected) {
        assert_string_equal(addr_field(report, header, 0), expected);
        char key[32];
        snprintf(key, sizeof key, "%s_compat32", header);
        json_object *old = get(report, key);
        assert_int_equal(json_object_array_length(old), 1);
        assert_string_equal(json_object_get_string(json_object_array_get_idx(json_object_array_get_idx(old, 0), 0)),
                            expected);
        snprintf(key, sizeof key, "%s_shown", header);
        json_object *shown = get(report, key);
        assert_string_equal(json_object_get_string(json_object_array_get_idx(shown, 0)),
                            json_object_get_string(json_object_array_get_idx(shown, 1)));
}

/* The raw field "Name: ...\r\n" (with its continuation lines) in msg. */
static char *raw_field(const char *msg, const char *name) {
        _cleanup_free_ char *start_s = NULL;
        assert_true(asprintf(&start_s, "%s:", name) > 0);
        const char *p = msg;
        while (strncmp(p, start_s, strlen(start_s)) != 0) {
                p = strstr(p, "\r\n");
                assert_non_null(p);
                p += 2;
                assert_true(*p && strncmp(p, "\r\n", 2) != 0);
        }
        const char *end = p;
        do
                end = strstr(end, "\r\n") + 2;
        while (*end == ' ' || *end == '\t');
        return strndup(p, (size_t)(end - p));
}

static size_t count_str(const char *s, const char *needle) {
        size_t n = 0;
        for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

/* Builds a message with name as From and To display names, every header
 * line within max_header, and checks what both parsers read. */
static void check_display_name(const char *name, const char *expected, size_t max_header) {
        struct mail_message m = basic_message();
        m.from_name = name;
        m.to_name = name;
        _cleanup_buf_ struct buf out = {0};
        json_object *report = build_and_parse(&m, &out, max_header);
        assert_display_name(report, "from", expected);
        assert_display_name(report, "to", expected);
        assert_string_equal(addr_field(report, "to", 1), m.to_addr);
        assert_int_equal(count_headers(report, "To"), 1);
        json_object_put(report);
}

static void test_chinese_subject_and_names_round_trip(void **state) {
        (void)state;
        struct mail_message m = basic_message();
        m.from_name = "张三（销售部）";
        m.to_name = "王先生";
        m.subject = "生日快乐，王先生！";
        m.text = "王先生：\n\n祝您生日快乐！\n张三\n";
        _cleanup_buf_ struct buf out = {0};
        json_object *report = build_and_parse(&m, &out, 76);

        assert_non_null(strstr(out.data, "Subject: =?UTF-8?B?"));
        assert_string_equal(get_str(report, "subject"), m.subject);
        assert_string_equal(addr_field(report, "from", 0), m.from_name);
        assert_string_equal(addr_field(report, "from", 1), m.from_addr);
        assert_string_equal(addr_field(report, "to", 0), m.to_name);
        assert_string_equal(addr_field(report, "to", 1), m.to_addr);
        assert_string_equal(get_str(report, "content_type"), "text/plain");
        json_object *parts = get(report, "parts");
        assert_int_equal(json_object_array_length(parts), 1);
        json_object *part = json_object_array_get_idx(parts, 0);
        assert_string_equal(get_str(part, "charset"), "utf-8");
        _cleanup_free_ char *expected = crlf(m.text);
        assert_string_equal(get_str(part, "content"), expected);
        json_object_put(report);
}

static void test_long_chinese_subject_folds(void **state) {
        (void)state;
        static const char *const pieces[] = {"客", "户", "关", "系", "维", "护", "提", "醒", "😀", "A"};
        _cleanup_buf_ struct buf subject = {0};
        for (size_t i = 0; i < 200; i++)
                assert_int_equal(buf_puts(&subject, pieces[i % ELEMENTSOF(pieces)]), 0);
        struct mail_message m = basic_message();
        m.subject = subject.data;
        _cleanup_buf_ struct buf out = {0};
        json_object *report = build_and_parse(&m, &out, 76);
        assert_string_equal(get_str(report, "subject"), subject.data);
        assert_int_equal(count_headers(report, "Subject"), 1);
        /* Folded: the Subject field spans several lines. */
        const char *s = strstr(out.data, "Subject: ");
        assert_non_null(s);
        assert_non_null(strstr(s, "?=\r\n =?UTF-8?B?"));
        json_object_put(report);
}

static void test_long_ascii_subject_folds_at_spaces(void **state) {
        (void)state;
        _cleanup_buf_ struct buf subject = {0};
        for (size_t i = 0; i < 40; i++)
                assert_int_equal(buf_printf(&subject, "word%zu  ", i), 0);
        assert_int_equal(buf_puts(&subject, "end"), 0);
        struct mail_message m = basic_message();
        m.subject = subject.data;
        _cleanup_buf_ struct buf out = {0};
        json_object *report = build_and_parse(&m, &out, 78);
        assert_string_equal(get_str(report, "subject"), subject.data);
        assert_null(strstr(out.data, "=?UTF-8?"));
        json_object_put(report);
}

/* The subject survives the wire intact, every line within max_line. */
static void check_subject_round_trip(const char *subject, size_t max_line) {
        struct mail_message m = basic_message();
        m.subject = subject;
        _cleanup_buf_ struct buf out = {0};
        json_object *report = build_and_parse(&m, &out, max_line);
        assert_string_equal(get_str(report, "subject"), subject);
        json_object_put(report);
}

static void test_unbreakable_ascii_subject_is_encoded(void **state) {
        (void)state;
        char subject[1501];
        memset(subject, 'x', 1500);
        subject[1500] = '\0';
        check_subject_round_trip(subject, 76);
}

/* A run with no space to fold at that would not fit in 78 even on a line
 * of its own (a long order number, a URL) is encoded: encoded-words fold
 * anywhere, so every header line stays within RFC 5322's 78. */
static void test_long_unbroken_ascii_run_stays_within_78(void **state) {
        (void)state;
        char subject[220];
        memcpy(subject, "Order ", 6);
        memset(subject + 6, 'S', 200);
        subject[206] = '\0';
        check_subject_round_trip(subject, 78);
}

static void test_encoded_word_lookalike_is_preserved(void **state) {
        (void)state;
        struct mail_message m = basic_message();
        m.subject = "literal =?UTF-8?B?5L2g5aW9?= stays";
        m.from_name = "=?UTF-8?B?5L2g5aW9?=";
        _cleanup_buf_ struct buf out = {0};
        json_object *report = build_and_parse(&m, &out, 76);
        assert_string_equal(get_str(report, "subject"), m.subject);
        assert_string_equal(addr_field(report, "from", 0), m.from_name);
        json_object_put(report);
}

static void test_header_injection_is_inert(void **state) {
        (void)state;
        struct mail_header extra[] = {
                {"X-Rapport-Id", "42\r\nBcc: other@example.com"},
        };
        struct mail_message m = basic_message();
        m.subject = "Hi\r\nBcc: victim@example.com";
        m.to_name = "Bob\nX-Evil: 1";
        m.from_name = "Sales\r\n\r\nInjected body";
        m.extra = extra;
        m.n_extra = ELEMENTSOF(extra);
        _cleanup_buf_ struct buf out = {0};
        json_object *report = build_and_parse(&m, &out, 78);

        assert_int_equal(count_headers(report, "Bcc"), 0);
        assert_int_equal(count_headers(report, "X-Evil"), 0);
        assert_int_equal(count_headers(report, "Subject"), 1);
        assert_int_equal(count_headers(report, "To"), 1);
        assert_int_equal(count_headers(report, "X-Rapport-Id"), 1);
        assert_string_equal(get_str(report, "subject"), "Hi  Bcc: victim@example.com");
        assert_string_equal(addr_field(report, "to", 0), "Bob X-Evil: 1");
        assert_string_equal(addr_field(report, "to", 1), "customer@example.org");
        assert_string_equal(addr_field(report, "from", 0), "Sales    Injected body");
        _cleanup_free_ char *expected = crlf(m.text);
        assert_string_equal(get_str(json_object_array_get_idx(get(report, "parts"), 0), "content"),
                            expected);
        json_object_put(report);
}

static void test_ascii_display_names(void **state) {
        (void)state;
        static const char *const names[] = {
                "John Smith", "Smith, John \"JJ\"", "back\\slash", " leading", "a.b", "O'Neil",
        };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                struct mail_message m = basic_message();
                m.from_name = names[i];
                _cleanup_buf_ struct buf out = {0};
                json_object *report = build_and_parse(&m, &out, 78);
                const char *got = addr_field(report, "from", 0);
                /* The parser trims a phrase's leading whitespace only when
                 * it is not quoted; we quote, so all names survive. */
                assert_string_equal(got, names[i]);
                json_object_put(report);
        }
        struct mail_message m = basic_message();
        m.from_name = "John Smith";
        m.to_name = NULL;
        _cleanup_buf_ struct buf out = {0};
        assert_int_equal(smtp_build_message(&m, &out, NULL), 0);
        assert_non_null(strstr(out.data, "From: John Smith <noreply@example.com>\r\n"));
        assert_non_null(strstr(out.data, "\r\nTo: customer@example.org\r\n"));
}

static void test_body_round_trips(void **state) {
        (void)state;
        _cleanup_buf_ struct buf text = {0};
        static const char pattern[] = "ab c d=";
        for (size_t i = 0; i < 2000; i++)
                assert_int_equal(buf_append(&text, &pattern[i % 7], 1), 0);
        assert_int_equal(buf_puts(&text, "\n.\n.leading dot\n..two\nFrom the desk\nFrom \n"
                                         "trailing spaces   \ntrailing tab\t\n= x == y =\n"
                                         "\n\nbare CR\rCRLF\r\n中文行，汉字在这里。\n"),
                         0);
        for (size_t i = 0; i < 2000; i++)
                assert_int_equal(buf_puts(&text, i % 100 == 99 ? " " : "汉"), 0);
        assert_int_equal(buf_puts(&text, "\n   \nends without newline  "), 0);

        struct mail_message m = basic_message();
        m.text = text.data;
        _cleanup_buf_ struct buf out = {0};
        json_object *report = build_and_parse(&m, &out, 78);
        _cleanup_free_ char *expected = crlf(text.data);
        assert_string_equal(get_str(json_object_array_get_idx(get(report, "parts"), 0), "content"),
                            expected);
        /* QP lines are at most 76 octets, and no body line starts with '.'
         * or "From " whatever the SMTP or mbox software does with it. */
        const char *body = strstr(out.data, "\r\n\r\n") + 4;
        for (const char *line = body; *line;) {
                const char *end = strstr(line, "\r\n");
                assert_non_null(end);
                assert_true(end - line <= 76);
                assert_true(line[0] != '.');
                assert_true(strncmp(line, "From ", 5) != 0);
                line = end + 2;
        }
        json_object_put(report);
}

/* The quoted-printable encoder writes into reserved room with a table;
 * this is the straightforward byte-at-a-time version it replaced, kept
 * as the reference the fast one must match byte for byte. */
static void reference_qp(struct buf *out, const char *s) {
        static const char hex[] = "0123456789ABCDEF";
        while (*s) {
                size_t line_len = strcspn(s, "\r\n"), col = 0;
                for (size_t i = 0; i < line_len; i++) {
                        unsigned char c = (unsigned char)s[i];
                        bool last = i + 1 == line_len, literal;
                        size_t width;
                        for (;;) {
                                literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last);
                                if (col == 0 && (c == '.' || (c == 'F' && line_len - i >= 5 && memcmp(s + i, "From ", 5) == 0)))
                                        literal = false;
                                width = literal ? 1 : 3;
                                if (col + width <= 75 || (last && col + width <= 76))
                                        break;
                                assert_int_equal(buf_puts(out, "=\r\n"), 0);
                                col = 0;
                        }
                        if (literal)
                                assert_int_equal(buf_append(out, (const char *)&c, 1), 0);
                        else
                                assert_int_equal(buf_printf(out, "=%c%c", hex[c >> 4], hex[c & 0xF]), 0);
                        col += width;
                }
                s += line_len;
                if (*s == '\r' || *s == '\n') {
                        s += (s[0] == '\r' && s[1] == '\n') ? 2 : 1;
                        assert_int_equal(buf_puts(out, "\r\n"), 0);
                } else if (line_len > 0)
                        assert_int_equal(buf_puts(out, "=\r\n"), 0); /* the builder's closing soft break */
        }
}

static void test_quoted_printable_matches_reference(void **state) {
        (void)state;
        static const char *const pieces[] = {"a", "Z", " ", "\t", ".", "F", "From ", "=", "\r", "\n", "\r\n",
                                             "汉", "é", "~", "!", "  ", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"};
        uint32_t seed = 12345;
        for (int round = 0; round < 400; round++) {
                _cleanup_buf_ struct buf text = {0}, expected = {0}, out = {0};
                size_t n = (size_t)(round % 7 == 0 ? 400 : round % 50);
                for (size_t i = 0; i < n; i++) {
                        seed = seed * 1103515245u + 12345u;
                        assert_int_equal(buf_puts(&text, pieces[(seed >> 16) % ELEMENTSOF(pieces)]), 0);
                }
                struct mail_message m = basic_message();
                m.text = text.data ? text.data : "";
                m.message_id = "<fixed@example.com>";
                assert_int_equal(smtp_build_message(&m, &out, NULL), 0);
                const char *body = strstr(out.data, "\r\n\r\n");
                assert_non_null(body);
                body += 4;
                reference_qp(&expected, m.text);
                assert_string_equal(body, expected.data ? expected.data : "");
        }
}

static void test_empty_and_newline_only_bodies(void **state) {
        (void)state;
        static const char *const texts[] = {"", "\n", "x", "\r\n\r\n"};
        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                struct mail_message m = basic_message();
                m.text = texts[i];
                _cleanup_buf_ struct buf out = {0};
                json_object *report = build_and_parse(&m, &out, 78);
                _cleanup_free_ char *expected = crlf(texts[i]);
                assert_string_equal(
                        get_str(json_object_array_get_idx(get(report, "parts"), 0), "content"),
                        expected);
                json_object_put(report);
        }
}

static void test_multipart_alternative(void **state) {
        (void)state;
        struct mail_message m = basic_message();
        m.subject = "您的发票 INV-881 已逾期";
        m.text = "尊敬的客户：\n发票 INV-881 已逾期。\n--\nRapport";
        m.html = "<!doctype html>\n<p style=\"color:red\">尊敬的客户：</p>\n<p>a=b</p>\n";
        _cleanup_buf_ struct buf out = {0};
        json_object *report = build_and_parse(&m, &out, 78);
        assert_string_equal(get_str(report, "content_type"), "multipart/alternative");
        json_object *parts = get(report, "parts");
        assert_int_equal(json_object_array_length(parts), 2);
        json_object *text = json_object_array_get_idx(parts, 0), *html = json_object_array_get_idx(parts, 1);
        assert_string_equal(get_str(text, "content_type"), "text/plain");
        assert_string_equal(get_str(html, "content_type"), "text/html");
        assert_string_equal(get_str(text, "charset"), "utf-8");
        assert_string_equal(get_str(html, "charset"), "utf-8");
        _cleanup_free_ char *expected_text = crlf(m.text), *expected_html = crlf(m.html);
        assert_string_equal(get_str(text, "content"), expected_text);
        assert_string_equal(get_str(html, "content"), expected_html);
        assert_string_equal(get_str(report, "subject"), m.subject);
        json_object_put(report);

        /* A fresh random boundary per message. */
        _cleanup_buf_ struct buf again = {0};
        assert_int_equal(smtp_build_message(&m, &again, NULL), 0);
        const char *b1 = strstr(out.data, "boundary=\""), *b2 = strstr(again.data, "boundary=\"");
        assert_non_null(b1);
        assert_non_null(b2);
        assert_memory_not_equal(b1, b2, 40);
}

static void test_headers_date_message_id(void **state) {
        (void)state;
        struct mail_header extra[] = {
                {"List-Unsubscribe", "<https://crm.example.com/u?t=abc&c=42>, <mailto:unsub@example.com?subject=u>"},
                {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
                {"X-Rapport-Id", "outbox-12345"},
                {"X-Original-To", "王先生 <wang@example.cn>"},
        };
        struct mail_message m = basic_message();
        m.extra = extra;
        m.n_extra = ELEMENTSOF(extra);
        m.date = 0;
        _cleanup_buf_ struct buf out = {0};
        _cleanup_free_ char *id = NULL;
        assert_int_equal(smtp_build_message(&m, &out, &id), 0);
        assert_lines_valid(&out, 78);
        assert_non_null(strstr(out.data, "\r\nDate: Thu, 01 Jan 1970 00:00:00 +0000\r\n"));
        assert_non_null(strstr(out.data, "\r\nList-Unsubscribe: <https://crm.example.com/u?t=abc&c=42>,\r\n"
                                         " <mailto:unsub@example.com?subject=u>\r\n"));
        assert_non_null(strstr(out.data, "\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
        assert_non_null(strstr(out.data, "\r\nX-Rapport-Id: outbox-12345\r\n"));
        assert_non_null(strstr(out.data, "\r\nMIME-Version: 1.0\r\n"));

        /* Generated id: 32 hex digits at the sender's domain. */
        assert_non_null(id);
        assert_int_equal(strlen(id), strlen("<@example.com>") + 32);
        assert_int_equal(id[0], '<');
        assert_int_equal(strspn(id + 1, "0123456789abcdef"), 32);
        assert_string_equal(id + 33, "@example.com>");
        _cleanup_free_ char *header = NULL;
        assert_true(asprintf(&header, "\r\nMessage-ID: %s\r\n", id) > 0);
        assert_non_null(strstr(out.data, header));

        json_object *report = parse_with_python(out.data, out.len);
        assert_no_defects(report);
        json_object *headers = get(report, "headers");
        json_object *orig = NULL;
        for (size_t i = 0; i < json_object_array_length(headers); i++) {
                json_object *h = json_object_array_get_idx(headers, i);
                if (streq(json_object_get_string(json_object_array_get_idx(h, 0)), "X-Original-To"))
                        orig = json_object_array_get_idx(h, 1);
        }
        assert_non_null(orig);
        assert_string_equal(json_object_get_string(orig), "王先生 <wang@example.cn>");
        json_object_put(report);

        _cleanup_free_ char *id2 = NULL;
        _cleanup_buf_ struct buf out2 = {0};
        m.date = 1700000000;
        assert_int_equal(smtp_build_message(&m, &out2, &id2), 0);
        assert_string_not_equal(id, id2);
        assert_non_null(strstr(out2.data, "\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));

        _cleanup_free_ char *id3 = NULL;
        _cleanup_buf_ struct buf out3 = {0};
        m.message_id = "<dunning.INV-881.2@crm.example.com>";
        assert_int_equal(smtp_build_message(&m, &out3, &id3), 0);
        assert_string_equal(id3, m.message_id);
        assert_non_null(strstr(out3.data, "\r\nMessage-ID: <dunning.INV-881.2@crm.example.com>\r\n"));
}

static void test_build_rejects_bad_input(void **state) {
        (void)state;
        _cleanup_buf_ struct buf out = {0};
        assert_int_equal(buf_puts(&out, "keep"), 0);
        struct mail_message m;

        m = basic_message();
        m.to_addr = "victim@example.com\r\nBcc: x@example.com";
        assert_int_equal(smtp_build_message(&m, &out, NULL), -EINVAL);
        m = basic_message();
        m.from_addr = "no-at-sign";
        assert_int_equal(smtp_build_message(&m, &out, NULL), -EINVAL);
        m = basic_message();
        m.text = NULL;
        assert_int_equal(smtp_build_message(&m, &out, NULL), -EINVAL);
        m = basic_message();
        m.subject = NULL;
        assert_int_equal(smtp_build_message(&m, &out, NULL), -EINVAL);

        static const char *const bad_ids[] = {"no-brackets@x", "<no-at>", "<a b@x>", "<a@x>\r\nBcc: y",
                                              "<@x>", "<a@>", "<a@b@c>"};
        for (size_t i = 0; i < ELEMENTSOF(bad_ids); i++) {
                m = basic_message();
                m.message_id = bad_ids[i];
                assert_int_equal(smtp_build_message(&m, &out, NULL), -EINVAL);
        }

        static const char *const bad_names[] = {"", "Bad Name", "X:Y", "X-\xe4\xb8\xad", "Subject",
                                                "bcc-not-reserved-but-this-is:", "content-type", "FROM",
                                                "Message-Id"};
        for (size_t i = 0; i < ELEMENTSOF(bad_names); i++) {
                struct mail_header h = {bad_names[i], "v"};
                m = basic_message();
                m.extra = &h;
                m.n_extra = 1;
                assert_int_equal(smtp_build_message(&m, &out, NULL), -EINVAL);
        }
        struct mail_header null_value = {"X-Null", NULL};
        m = basic_message();
        m.extra = &null_value;
        m.n_extra = 1;
        assert_int_equal(smtp_build_message(&m, &out, NULL), -EINVAL);

        m = basic_message();
        m.subject = "bad \xff utf-8";
        assert_int_equal(smtp_build_message(&m, &out, NULL), -EILSEQ);
        m = basic_message();
        m.text = "overlong \xc0\xaf";
        assert_int_equal(smtp_build_message(&m, &out, NULL), -EILSEQ);
        m = basic_message();
        m.html = "surrogate \xed\xa0\x80";
        assert_int_equal(smtp_build_message(&m, &out, NULL), -EILSEQ);
        m = basic_message();
        m.date = -1;
        assert_int_equal(smtp_build_message(&m, &out, NULL), -ERANGE);

        assert_int_equal(out.len, 4);
        assert_string_equal(out.data, "keep");
}

/* Display names come straight from the CRM: malformed UTF-8 is replaced
 * (U+FFFD) and an absurd length cut, never a failed message. */
static void test_display_name_from_the_crm(void **state) {
        (void)state;
        _cleanup_buf_ struct buf out = {0};
        struct mail_message m = basic_message();
        m.to_name = "truncated \xe7\x8e";
        assert_int_equal(smtp_build_message(&m, &out, NULL), 0);
        assert_non_null(strstr(out.data, "To: =?UTF-8?"));
        buf_free(&out);

        char name[5000];
        memset(name, 'x', sizeof name - 1);
        name[sizeof name - 1] = '\0';
        m.to_name = name;
        assert_int_equal(smtp_build_message(&m, &out, NULL), 0);
        const char *to = strstr(out.data, "\r\nTo: ");
        assert_non_null(to);
        const char *end = strstr(to + 2, "\r\nSubject: ");
        assert_non_null(end);
        assert_true(end - to < 400); /* 100 characters and the ellipsis, one encoded-word */
        buf_free(&out);

        _cleanup_free_ char *expected = strndup(name, 100);
        assert_non_null(expected);
        _cleanup_free_ char *with_ellipsis = NULL;
        assert_true(asprintf(&with_ellipsis, "%s…", expected) > 0);
        check_display_name(name, with_ellipsis, 998);
}

/* Every kind of display name comes back exactly from both parsers. */
static void test_display_names_both_parsers(void **state) {
        (void)state;
        static const char *const exact[] = {
                /* ASCII: atoms or quoted-strings, at any length up to the cap. */
                "John Smith",
                "Jonathan Alexander Maximilian Worthington-Smythe III, Esq. (Head of Global Procurement)",
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", /* 62 */
                "Smith, John \"JJ\" (Sales)", "back\\slash \"quoted\" \\\"", "a,b;c:d<e>@f[g].h", "(paren)",
                "=?", "?=", "a=?b", "=?x", "x?=", "O'Neil", "\"\"", "\\",
                /* ASCII white space is kept, in a quoted-string. */
                "a  b   c", " leading", "trailing ", "  both  ", "\ttab", "a\tb", "x  y  z  w  v  u  t  s  r  q  p  o  n  m  l  k  j  i",
                /* Encoded: look-alikes of encoded-words, and all that is not ASCII. */
                "=?UTF-8?B?5L2g5aW9?=", "literal =?UTF-8?B?5L2g5aW9?= stays", "=?utf-8?q?x?= John",
                "北京市朝阳区某某科技发展有限公司", "北京市朝阳区某某科技发展有限公司北京", "王", "张三（销售部）",
                "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀"
                "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀", /* 60 */
                "🎂😀 Cake", "👍🏽 🇨🇳 👨‍👩‍👧", "Zhang San 张三", "张三 Zhang San", "张三 (Sales, Beijing) 李四 \"Li\" Ltd.",
                "Beijing Chaoyang Technology Development Company Limited 北京市朝阳区某某科技发展有限公司",
                "Zoe\xcc\x88 Ame\xcc\x81lie Nguye\xcc\x82\xcc\x83n", "مريم \u202e RTL", "שלום עולם", "Здравствуйте Иван Иванович",
                "全角\u3000スペース", "\u3000lead", "nbsp\u00a0inside", "e\xcc\x81 \\ \"q\" =?",
        };
        for (size_t i = 0; i < ELEMENTSOF(exact); i++)
                check_display_name(exact[i], exact[i], 998);

        /* Inside an encoded-word policy.default reads a run of white space
         * (and Unicode spaces right after it) as one space: such names are
         * written the way it reads them, so compat32 agrees. */
        static const char *const normalized[][2] = {
                {"张三  李四", "张三 李四"},
                {" 张三 ", "张三"},
                {"张三\t李四", "张三 李四"},
                {"张三 \u3000李四", "张三 李四"},
                {"张三\u3000 李四", "张三\u3000 李四"},
                {"x \u00a0\u2003y é", "x y é"},
                {"=?x?=  y", "=?x?= y"},
                {"Zhang  San\t张三 ", "Zhang San 张三"},
        };
        for (size_t i = 0; i < ELEMENTSOF(normalized); i++)
                check_display_name(normalized[i][0], normalized[i][1], 998);
}

/* Chinese names of 1 to 200 characters: exact up to the cap, then cut
 * with an ellipsis; both parsers agree at every length. */
static void test_cjk_names_of_every_length(void **state) {
        (void)state;
        static const char *const pool[] = {"北", "京", "市", "朝", "阳", "区", "某", "科", "技", "发", "展", "有", "限", "公", "司"};
        _cleanup_buf_ struct buf name = {0}, expected = {0};
        assert_int_equal(buf_puts(&name, ""), 0);
        for (size_t n = 1; n <= 200; n++) {
                assert_int_equal(buf_puts(&name, pool[(n * 7) % ELEMENTSOF(pool)]), 0);
                buf_free(&expected);
                assert_int_equal(buf_append(&expected, name.data, n <= 100 ? name.len : 300), 0);
                if (n > 100)
                        assert_int_equal(buf_puts(&expected, "…"), 0);
                /* One encoded-word up to 15 characters (75 columns), then one
                 * longer word on a line of its own: ≤ 78 up to 16. */
                check_display_name(name.data, expected.data, n <= 16 ? 78 : 998);
        }
}

/* Written forms: ASCII names never encoded, folded between quoted-strings
 * at single spaces; text to encode is one encoded-word between plain
 * words, never several side by side. */
static void test_display_name_forms(void **state) {
        (void)state;
        struct mail_message m = basic_message();
        m.to_name = "Jonathan Alexander Maximilian Worthington-Smythe III, Esq. (Head of Global Procurement)";
        _cleanup_buf_ struct buf out = {0};
        assert_int_equal(smtp_build_message(&m, &out, NULL), 0);
        assert_lines_valid(&out, 78);
        _cleanup_free_ char *to = raw_field(out.data, "To");
        assert_string_equal(to, "To: \"Jonathan Alexander Maximilian Worthington-Smythe III, Esq. (Head of\"\r\n"
                                " \"Global Procurement)\" <customer@example.org>\r\n");
        buf_free(&out);

        /* Atoms fold like any words. */
        m.to_name = "Aaaaaaaaaa Bbbbbbbbbb Cccccccccc Dddddddddd Eeeeeeeeee Ffffffffff Gggggggggg Hhhhhhhhhh";
        assert_int_equal(smtp_build_message(&m, &out, NULL), 0);
        free(to);
        to = raw_field(out.data, "To");
        assert_string_equal(to, "To: Aaaaaaaaaa Bbbbbbbbbb Cccccccccc Dddddddddd Eeeeeeeeee Ffffffffff\r\n"
                                " Gggggggggg Hhhhhhhhhh <customer@example.org>\r\n");
        buf_free(&out);

        /* 16 characters, 48 bytes: one encoded-word of 76 columns, folded
         * after the field name so the line stays within 78. */
        m.to_name = "北京市朝阳区某某科技发展有限公司";
        assert_int_equal(smtp_build_message(&m, &out, NULL), 0);
        assert_lines_valid(&out, 78);
        free(to);
        to = raw_field(out.data, "To");
        assert_string_equal(to, "To:\r\n =?UTF-8?B?5YyX5Lqs5biC5pyd6Ziz5Yy65p+Q5p+Q56eR5oqA5Y+R5bGV5pyJ6ZmQ5YWs5Y+4?=\r\n"
                                " <customer@example.org>\r\n");
        buf_free(&out);

        /* Plain words stay plain around the one encoded-word. */
        m.to_name = "Beijing Chaoyang Technology Development Company Limited 北京市朝阳区某某科技发展有限公司 Branch";
        assert_int_equal(smtp_build_message(&m, &out, NULL), 0);
        assert_lines_valid(&out, 78);
        free(to);
        to = raw_field(out.data, "To");
        assert_int_equal(count_str(to, "=?UTF-8?B?"), 1);
        assert_int_equal(strncmp(to, "To: Beijing Chaoyang Technology Development Company Limited\r\n =?UTF-8?B?", 71), 0);
        assert_non_null(strstr(to, "?=\r\n Branch <customer@example.org>\r\n"));
        buf_free(&out);

        /* Emoji, 60 of them: one word of 332 columns, on the header line. */
        _cleanup_buf_ struct buf emoji = {0};
        for (size_t i = 0; i < 60; i++)
                assert_int_equal(buf_puts(&emoji, "😀"), 0);
        m.to_name = emoji.data;
        assert_int_equal(smtp_build_message(&m, &out, NULL), 0);
        assert_lines_valid(&out, 998);
        free(to);
        to = raw_field(out.data, "To");
        assert_int_equal(count_str(to, "=?UTF-8?B?"), 1);
        assert_int_equal(strncmp(to, "To: =?UTF-8?B?", 14), 0);
        assert_int_equal(strcspn(to, "\r"), 4 + 12 + 320);
        buf_free(&out);

        /* A short name to encode is one word of RFC 2047's size, as ever. */
        m.to_name = "张三 Zhang";
        assert_int_equal(smtp_build_message(&m, &out, NULL), 0);
        free(to);
        to = raw_field(out.data, "To");
        assert_string_equal(to, "To: =?UTF-8?B?5byg5LiJIFpoYW5n?= <customer@example.org>\r\n");
}

static void test_email_address_valid(void **state) {
        (void)state;
        static const char *const good[] = {
                "a@b.co", "first.last+tag@example.com", "user@localhost", "x_y-z@sub.example-host.cn",
                "o'neil@example.ie", "1@2.3",
        };
        static const char *const bad[] = {
                "", "plain", "@example.com", "user@", "a@@b.com", "a@b@c.com", "a b@example.com",
                "a@exa mple.com", "a\r\n@example.com", "a@example.com\r\nBcc: x@y.z", "a@example.com\n",
                "\ta@example.com", "<a@example.com>", "a(b)@example.com", "a,b@example.com",
                "a;b@example.com", "a:b@example.com", "\"a\"@example.com", "a[b]@example.com",
                "a\\b@example.com", "用户@example.com", "user@例子.中国", ".a@example.com", "a.@example.com",
                "a..b@example.com", "a@.example.com", "a@example..com", "a@example.com.", "a@-example.com",
                "a@example-.com", "a@exa_mple.com", "a@\x01.com",
        };
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (!email_address_valid(good[i]))
                        fail_msg("rejected %s", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (email_address_valid(bad[i]))
                        fail_msg("accepted %s", bad[i]);
        assert_false(email_address_valid(NULL));

        char longaddr[300];
        memset(longaddr, 'a', sizeof longaddr);
        memcpy(longaddr + 60, "@", 1);
        memcpy(longaddr + 250, ".com", 5); /* 254 octets */
        for (size_t i = 111; i < 250; i += 50)
                longaddr[i] = '.';
        assert_true(email_address_valid(longaddr));
        memcpy(longaddr + 250, "a.com", 6); /* 255 */
        assert_false(email_address_valid(longaddr));
}

/* List-Unsubscribe is structured (RFC 2369): a long link stays a link,
 * folded at whitespace, never an encoded-word (mail providers look for
 * "<https://" in the raw field for one-click unsubscribe). */
static void test_list_unsubscribe_never_encoded(void **state) {
        (void)state;
        _cleanup_buf_ struct buf b = {0};
        const char *v = "<mailto:unsubscribe@example.com?subject=unsubscribe>, "
                        "<https://crm.example-shop.com/newsletter/unsubscribe?list=customers&token=abcdef0123456789&id=123456>";
        assert_int_equal(mime_encode_header_text(v, "List-Unsubscribe", &b), 0);
        assert_null(strstr(b.data, "=?"));
        assert_non_null(strstr(b.data, "\r\n <https://crm.example-shop.com/newsletter/unsubscribe?list=customers&token=abcdef0123456789&id=123456>\r\n"));
        assert_int_equal(strncmp(b.data, "List-Unsubscribe: <mailto:unsubscribe@example.com?subject=unsubscribe>,\r\n", 73), 0);
        buf_free(&b);
        /* An unstructured field with the same run is still encoded (it may be). */
        assert_int_equal(mime_encode_header_text(v, "X-Test", &b), 0);
        assert_non_null(strstr(b.data, "=?UTF-8?"));
}

static void test_encode_header_text(void **state) {
        (void)state;
        _cleanup_buf_ struct buf b = {0};
        assert_int_equal(mime_encode_header_text("hello world", "X-Test", &b), 0);
        assert_string_equal(b.data, "X-Test: hello world\r\n");
        buf_free(&b);
        assert_int_equal(mime_encode_header_text("a\r\nb\tc\x7f", "X-Test", &b), 0);
        assert_string_equal(b.data, "X-Test: a  b\tc \r\n");
        buf_free(&b);
        /* "中文" is E4 B8 AD E6 96 87. */
        assert_int_equal(mime_encode_header_text("中文", "Subject", &b), 0);
        assert_string_equal(b.data, "Subject: =?UTF-8?B?5Lit5paH?=\r\n");
        buf_free(&b);

        assert_int_equal(mime_encode_header_text("x", "Bad Name", &b), -EINVAL);
        assert_int_equal(mime_encode_header_text("x", "", &b), -EINVAL);
        assert_int_equal(mime_encode_header_text(NULL, "X", &b), -EINVAL);
        assert_int_equal(mime_encode_header_text("\xe4\xb8", "X", &b), -EILSEQ);
        assert_null(b.data);

        /* Words never split a character: 3-byte characters across many
         * words each decode on their own (checked by the parser script). */
        _cleanup_buf_ struct buf v = {0};
        for (size_t i = 0; i < 100; i++)
                assert_int_equal(buf_puts(&v, i % 3 ? "汉" : "€x"), 0);
        _cleanup_buf_ struct buf msg = {0};
        assert_int_equal(mime_encode_header_text(v.data, "X-A-Rather-Long-Header-Name-For-Folding", &msg), 0);
        assert_int_equal(buf_puts(&msg, "\r\nbody\r\n"), 0);
        assert_lines_valid(&msg, 76);
        json_object *report = parse_with_python(msg.data, msg.len);
        assert_no_defects(report);
        json_object *h = json_object_array_get_idx(get(report, "headers"), 0);
        assert_string_equal(json_object_get_string(json_object_array_get_idx(h, 1)), v.data);
        json_object_put(report);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_chinese_subject_and_names_round_trip),
                cmocka_unit_test(test_long_chinese_subject_folds),
                cmocka_unit_test(test_long_ascii_subject_folds_at_spaces),
                cmocka_unit_test(test_unbreakable_ascii_subject_is_encoded),
                cmocka_unit_test(test_long_unbroken_ascii_run_stays_within_78),
                cmocka_unit_test(test_encoded_word_lookalike_is_preserved),
                cmocka_unit_test(test_header_injection_is_inert),
                cmocka_unit_test(test_ascii_display_names),
                cmocka_unit_test(test_body_round_trips),
                cmocka_unit_test(test_quoted_printable_matches_reference),
                cmocka_unit_test(test_empty_and_newline_only_bodies),
                cmocka_unit_test(test_multipart_alternative),
                cmocka_unit_test(test_headers_date_message_id),
                cmocka_unit_test(test_build_rejects_bad_input),
                cmocka_unit_test(test_display_name_from_the_crm),
                cmocka_unit_test(test_display_names_both_parsers),
                cmocka_unit_test(test_cjk_names_of_every_length),
                cmocka_unit_test(test_display_name_forms),
                cmocka_unit_test(test_email_address_valid),
                cmocka_unit_test(test_encode_header_text),
                cmocka_unit_test(test_list_unsubscribe_never_encoded),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
