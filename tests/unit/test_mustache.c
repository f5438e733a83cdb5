/* Unit tests for daemon/mustache.c.
 *
 * The first part transcribes the test cases of the Mustache specification
 * (github.com/mustache/spec, specs/{interpolation,sections,inverted,comments,
 * partials,delimiters}.yml, v1.4 plus the "Leading Dot" case of a later
 * revision of interpolation.yml); each case runs as its own cmocka test.
 * Lambdas, dynamic names and inheritance are out of scope.  The rest covers
 * what rapport needs beyond the spec: UTF-8, escaping modes, error
 * positions, limits.  MUSTACHE_BENCH=1 also prints a render benchmark. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <time.h>

#include "mustache.h"

static void json_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_putp)

/* json_tokener_parse() stops at 32 levels; the nesting tests need more. */
static json_object *parse_json(const char *text) {
        json_tokener *tok = json_tokener_new_ex(1024);
        assert_non_null(tok);
        json_object *o = json_tokener_parse_ex(tok, text, (int)strlen(text) + 1);
        json_tokener_free(tok);
        return o;
}

struct spec_case {
        const char *suite;
        const char *name;
        const char *data; /* JSON */
        const char *template;
        const char *expected;
        const char *partials[4]; /* name, source, name, source */
};

static const struct spec_case spec_cases[] = {
        /* ---- interpolation.yml ---- */
        {"interpolation", "No Interpolation", "{}", "Hello from {Mustache}!\n", "Hello from {Mustache}!\n", {0}},
        {"interpolation", "Basic Interpolation", "{\"subject\":\"world\"}", "Hello, {{subject}}!\n", "Hello, world!\n", {0}},
        {"interpolation", "No Re-interpolation", "{\"template\":\"{{planet}}\",\"planet\":\"Earth\"}",
         "{{template}}: {{planet}}", "{{planet}}: Earth", {0}},
        {"interpolation", "HTML Escaping", "{\"forbidden\":\"& \\\" < >\"}",
         "These characters should be HTML escaped: {{forbidden}}\n",
         "These characters should be HTML escaped: &amp; &quot; &lt; &gt;\n", {0}},
        {"interpolation", "Triple Mustache", "{\"forbidden\":\"& \\\" < >\"}",
         "These characters should not be HTML escaped: {{{forbidden}}}\n",
         "These characters should not be HTML escaped: & \" < >\n", {0}},
        {"interpolation", "Ampersand", "{\"forbidden\":\"& \\\" < >\"}",
         "These characters should not be HTML escaped: {{&forbidden}}\n",
         "These characters should not be HTML escaped: & \" < >\n", {0}},
        {"interpolation", "Basic Integer Interpolation", "{\"mph\":85}", "\"{{mph}} miles an hour!\"", "\"85 miles an hour!\"", {0}},
        {"interpolation", "Triple Mustache Integer Interpolation", "{\"mph\":85}", "\"{{{mph}}} miles an hour!\"", "\"85 miles an hour!\"", {0}},
        {"interpolation", "Ampersand Integer Interpolation", "{\"mph\":85}", "\"{{&mph}} miles an hour!\"", "\"85 miles an hour!\"", {0}},
        {"interpolation", "Basic Decimal Interpolation", "{\"power\":1.210}", "\"{{power}} jiggawatts!\"", "\"1.21 jiggawatts!\"", {0}},
        {"interpolation", "Triple Mustache Decimal Interpolation", "{\"power\":1.210}", "\"{{{power}}} jiggawatts!\"", "\"1.21 jiggawatts!\"", {0}},
        {"interpolation", "Ampersand Decimal Interpolation", "{\"power\":1.210}", "\"{{&power}} jiggawatts!\"", "\"1.21 jiggawatts!\"", {0}},
        {"interpolation", "Basic Null Interpolation", "{\"cannot\":null}", "I ({{cannot}}) be seen!", "I () be seen!", {0}},
        {"interpolation", "Triple Mustache Null Interpolation", "{\"cannot\":null}", "I ({{{cannot}}}) be seen!", "I () be seen!", {0}},
        {"interpolation", "Ampersand Null Interpolation", "{\"cannot\":null}", "I ({{&cannot}}) be seen!", "I () be seen!", {0}},
        {"interpolation", "Basic Context Miss Interpolation", "{}", "I ({{cannot}}) be seen!", "I () be seen!", {0}},
        {"interpolation", "Triple Mustache Context Miss Interpolation", "{}", "I ({{{cannot}}}) be seen!", "I () be seen!", {0}},
        {"interpolation", "Ampersand Context Miss Interpolation", "{}", "I ({{&cannot}}) be seen!", "I () be seen!", {0}},
        {"interpolation", "Dotted Names - Basic Interpolation", "{\"person\":{\"name\":\"Joe\"}}",
         "\"{{person.name}}\" == \"{{#person}}{{name}}{{/person}}\"", "\"Joe\" == \"Joe\"", {0}},
        {"interpolation", "Dotted Names - Triple Mustache Interpolation", "{\"person\":{\"name\":\"Joe\"}}",
         "\"{{{person.name}}}\" == \"{{#person}}{{{name}}}{{/person}}\"", "\"Joe\" == \"Joe\"", {0}},
        {"interpolation", "Dotted Names - Ampersand Interpolation", "{\"person\":{\"name\":\"Joe\"}}",
         "\"{{&person.name}}\" == \"{{#person}}{{&name}}{{/person}}\"", "\"Joe\" == \"Joe\"", {0}},
        {"interpolation", "Dotted Names - Arbitrary Depth", "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"name\":\"Phil\"}}}}}}",
         "\"{{a.b.c.d.e.name}}\" == \"Phil\"", "\"Phil\" == \"Phil\"", {0}},
        {"interpolation", "Dotted Names - Broken Chains", "{\"a\":{}}", "\"{{a.b.c}}\" == \"\"", "\"\" == \"\"", {0}},
        {"interpolation", "Dotted Names - Broken Chain Resolution", "{\"a\":{\"b\":{}},\"c\":{\"name\":\"Jim\"}}",
         "\"{{a.b.c.name}}\" == \"\"", "\"\" == \"\"", {0}},
        {"interpolation", "Dotted Names - Initial Resolution",
         "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"name\":\"Phil\"}}}}},\"b\":{\"c\":{\"d\":{\"e\":{\"name\":\"Wrong\"}}}}}",
         "\"{{#a}}{{b.c.d.e.name}}{{/a}}\" == \"Phil\"", "\"Phil\" == \"Phil\"", {0}},
        {"interpolation", "Dotted Names - Context Precedence", "{\"a\":{\"b\":{}},\"b\":{\"c\":\"ERROR\"}}",
         "{{#a}}{{b.c}}{{/a}}", "", {0}},
        {"interpolation", "Dotted Names are never single keys", "{\"a.b\":\"c\"}", "{{a.b}}", "", {0}},
        {"interpolation", "Dotted Names - No Masking", "{\"a.b\":\"c\",\"a\":{\"b\":\"d\"}}", "{{a.b}}", "d", {0}},
        {"interpolation", "Dotted Names - Leading Dot", "{\"a\":{},\"b\":{\"name\":\"Name\"},\"name\":\"Fail\"}",
         "{{#a}}{{.name}}{{/a}}{{#b}}{{.name}}{{/b}}", "Name", {0}},
        {"interpolation", "Implicit Iterators - Basic Interpolation", "\"world\"", "Hello, {{.}}!\n", "Hello, world!\n", {0}},
        {"interpolation", "Implicit Iterators - HTML Escaping", "\"& \\\" < >\"",
         "These characters should be HTML escaped: {{.}}\n",
         "These characters should be HTML escaped: &amp; &quot; &lt; &gt;\n", {0}},
        {"interpolation", "Implicit Iterators - Triple Mustache", "\"& \\\" < >\"",
         "These characters should not be HTML escaped: {{{.}}}\n",
         "These characters should not be HTML escaped: & \" < >\n", {0}},
        {"interpolation", "Implicit Iterators - Ampersand", "\"& \\\" < >\"",
         "These characters should not be HTML escaped: {{&.}}\n",
         "These characters should not be HTML escaped: & \" < >\n", {0}},
        {"interpolation", "Implicit Iterators - Basic Integer Interpolation", "85", "\"{{.}} miles an hour!\"",
         "\"85 miles an hour!\"", {0}},
        {"interpolation", "Interpolation - Surrounding Whitespace", "{\"string\":\"---\"}", "| {{string}} |", "| --- |", {0}},
        {"interpolation", "Triple Mustache - Surrounding Whitespace", "{\"string\":\"---\"}", "| {{{string}}} |", "| --- |", {0}},
        {"interpolation", "Ampersand - Surrounding Whitespace", "{\"string\":\"---\"}", "| {{&string}} |", "| --- |", {0}},
        {"interpolation", "Interpolation - Standalone", "{\"string\":\"---\"}", "  {{string}}\n", "  ---\n", {0}},
        {"interpolation", "Triple Mustache - Standalone", "{\"string\":\"---\"}", "  {{{string}}}\n", "  ---\n", {0}},
        {"interpolation", "Ampersand - Standalone", "{\"string\":\"---\"}", "  {{&string}}\n", "  ---\n", {0}},
        {"interpolation", "Interpolation With Padding", "{\"string\":\"---\"}", "|{{ string }}|", "|---|", {0}},
        {"interpolation", "Triple Mustache With Padding", "{\"string\":\"---\"}", "|{{{ string }}}|", "|---|", {0}},
        {"interpolation", "Ampersand With Padding", "{\"string\":\"---\"}", "|{{& string }}|", "|---|", {0}},

        /* ---- sections.yml ---- */
        {"sections", "Truthy", "{\"boolean\":true}", "\"{{#boolean}}This should be rendered.{{/boolean}}\"",
         "\"This should be rendered.\"", {0}},
        {"sections", "Falsey", "{\"boolean\":false}", "\"{{#boolean}}This should not be rendered.{{/boolean}}\"", "\"\"", {0}},
        {"sections", "Null is falsey", "{\"null\":null}", "\"{{#null}}This should not be rendered.{{/null}}\"", "\"\"", {0}},
        {"sections", "Context", "{\"context\":{\"name\":\"Joe\"}}", "\"{{#context}}Hi {{name}}.{{/context}}\"", "\"Hi Joe.\"", {0}},
        {"sections", "Parent contexts", "{\"a\":\"foo\",\"b\":\"wrong\",\"sec\":{\"b\":\"bar\"},\"c\":{\"d\":\"baz\"}}",
         "\"{{#sec}}{{a}}, {{b}}, {{c.d}}{{/sec}}\"", "\"foo, bar, baz\"", {0}},
        {"sections", "Variable test", "{\"foo\":\"bar\"}", "\"{{#foo}}{{.}} is {{foo}}{{/foo}}\"", "\"bar is bar\"", {0}},
        {"sections", "List Contexts",
         "{\"tops\":[{\"tname\":{\"upper\":\"A\",\"lower\":\"a\"},\"middles\":[{\"mname\":\"1\",\"bottoms\":[{\"bname\":\"x\"},{\"bname\":\"y\"}]}]}]}",
         "{{#tops}}{{#middles}}{{tname.lower}}{{mname}}.{{#bottoms}}{{tname.upper}}{{mname}}{{bname}}.{{/bottoms}}{{/middles}}{{/tops}}",
         "a1.A1x.A1y.", {0}},
        {"sections", "Deeply Nested Contexts",
         "{\"a\":{\"one\":1},\"b\":{\"two\":2},\"c\":{\"three\":3,\"d\":{\"four\":4,\"five\":5}}}",
         "{{#a}}\n"
         "{{one}}\n"
         "{{#b}}\n"
         "{{one}}{{two}}{{one}}\n"
         "{{#c}}\n"
         "{{one}}{{two}}{{three}}{{two}}{{one}}\n"
         "{{#d}}\n"
         "{{one}}{{two}}{{three}}{{four}}{{three}}{{two}}{{one}}\n"
         "{{#five}}\n"
         "{{one}}{{two}}{{three}}{{four}}{{five}}{{four}}{{three}}{{two}}{{one}}\n"
         "{{one}}{{two}}{{three}}{{four}}{{.}}6{{.}}{{four}}{{three}}{{two}}{{one}}\n"
         "{{one}}{{two}}{{three}}{{four}}{{five}}{{four}}{{three}}{{two}}{{one}}\n"
         "{{/five}}\n"
         "{{one}}{{two}}{{three}}{{four}}{{three}}{{two}}{{one}}\n"
         "{{/d}}\n"
         "{{one}}{{two}}{{three}}{{two}}{{one}}\n"
         "{{/c}}\n"
         "{{one}}{{two}}{{one}}\n"
         "{{/b}}\n"
         "{{one}}\n"
         "{{/a}}\n",
         "1\n121\n12321\n1234321\n123454321\n12345654321\n123454321\n1234321\n12321\n121\n1\n", {0}},
        {"sections", "List", "{\"list\":[{\"item\":1},{\"item\":2},{\"item\":3}]}", "\"{{#list}}{{item}}{{/list}}\"", "\"123\"", {0}},
        {"sections", "Empty List", "{\"list\":[]}", "\"{{#list}}Yay lists!{{/list}}\"", "\"\"", {0}},
        {"sections", "Strings Not Lists", "{\"section\":\"123\"}", "\"{{#section}}foo{{/section}}\"", "\"foo\"", {0}},
        {"sections", "Doubled", "{\"bool\":true,\"two\":\"second\"}",
         "{{#bool}}\n* first\n{{/bool}}\n* {{two}}\n{{#bool}}\n* third\n{{/bool}}\n", "* first\n* second\n* third\n", {0}},
        {"sections", "Nested (Truthy)", "{\"bool\":true}", "| A {{#bool}}B {{#bool}}C{{/bool}} D{{/bool}} E |", "| A B C D E |", {0}},
        {"sections", "Nested (Falsey)", "{\"bool\":false}", "| A {{#bool}}B {{#bool}}C{{/bool}} D{{/bool}} E |", "| A  E |", {0}},
        {"sections", "Context Misses", "{}", "[{{#missing}}Found key 'missing'!{{/missing}}]", "[]", {0}},
        {"sections", "Implicit Iterator - String", "{\"list\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", "\"{{#list}}({{.}}){{/list}}\"",
         "\"(a)(b)(c)(d)(e)\"", {0}},
        {"sections", "Implicit Iterator - Integer", "{\"list\":[1,2,3,4,5]}", "\"{{#list}}({{.}}){{/list}}\"", "\"(1)(2)(3)(4)(5)\"", {0}},
        {"sections", "Implicit Iterator - Decimal", "{\"list\":[1.10,2.20,3.30,4.40,5.50]}", "\"{{#list}}({{.}}){{/list}}\"",
         "\"(1.1)(2.2)(3.3)(4.4)(5.5)\"", {0}},
        {"sections", "Implicit Iterator - Array", "{\"list\":[[1,2,3],[\"a\",\"b\",\"c\"]]}", "\"{{#list}}({{#.}}{{.}}{{/.}}){{/list}}\"",
         "\"(123)(abc)\"", {0}},
        {"sections", "Implicit Iterator - HTML Escaping", "{\"list\":[\"&\",\"\\\"\",\"<\",\">\"]}", "\"{{#list}}({{.}}){{/list}}\"",
         "\"(&amp;)(&quot;)(&lt;)(&gt;)\"", {0}},
        {"sections", "Implicit Iterator - Triple mustache", "{\"list\":[\"&\",\"\\\"\",\"<\",\">\"]}", "\"{{#list}}({{{.}}}){{/list}}\"",
         "\"(&)(\")(<)(>)\"", {0}},
        {"sections", "Implicit Iterator - Ampersand", "{\"list\":[\"&\",\"\\\"\",\"<\",\">\"]}", "\"{{#list}}({{&.}}){{/list}}\"",
         "\"(&)(\")(<)(>)\"", {0}},
        {"sections", "Implicit Iterator - Root-level", "[{\"value\":\"a\"},{\"value\":\"b\"}]", "\"{{#.}}({{value}}){{/.}}\"", "\"(a)(b)\"", {0}},
        {"sections", "Dotted Names - Truthy", "{\"a\":{\"b\":{\"c\":true}}}", "\"{{#a.b.c}}Here{{/a.b.c}}\" == \"Here\"",
         "\"Here\" == \"Here\"", {0}},
        {"sections", "Dotted Names - Falsey", "{\"a\":{\"b\":{\"c\":false}}}", "\"{{#a.b.c}}Here{{/a.b.c}}\" == \"\"", "\"\" == \"\"", {0}},
        {"sections", "Dotted Names - Broken Chains", "{\"a\":{}}", "\"{{#a.b.c}}Here{{/a.b.c}}\" == \"\"", "\"\" == \"\"", {0}},
        {"sections", "Surrounding Whitespace", "{\"boolean\":true}", " | {{#boolean}}\t|\t{{/boolean}} | \n", " | \t|\t | \n", {0}},
        {"sections", "Internal Whitespace", "{\"boolean\":true}", " | {{#boolean}} {{! Important Whitespace }}\n {{/boolean}} | \n",
         " |  \n  | \n", {0}},
        {"sections", "Indented Inline Sections", "{\"boolean\":true}", " {{#boolean}}YES{{/boolean}}\n {{#boolean}}GOOD{{/boolean}}\n",
         " YES\n GOOD\n", {0}},
        {"sections", "Standalone Lines", "{\"boolean\":true}", "| This Is\n{{#boolean}}\n|\n{{/boolean}}\n| A Line\n",
         "| This Is\n|\n| A Line\n", {0}},
        {"sections", "Indented Standalone Lines", "{\"boolean\":true}", "| This Is\n  {{#boolean}}\n|\n  {{/boolean}}\n| A Line\n",
         "| This Is\n|\n| A Line\n", {0}},
        {"sections", "Standalone Line Endings", "{\"boolean\":true}", "|\r\n{{#boolean}}\r\n{{/boolean}}\r\n|", "|\r\n|", {0}},
        {"sections", "Standalone Without Previous Line", "{\"boolean\":true}", "  {{#boolean}}\n#{{/boolean}}\n/", "#\n/", {0}},
        {"sections", "Standalone Without Newline", "{\"boolean\":true}", "#{{#boolean}}\n/\n  {{/boolean}}", "#\n/\n", {0}},
        {"sections", "Padding", "{\"boolean\":true}", "|{{# boolean }}={{/ boolean }}|", "|=|", {0}},

        /* ---- inverted.yml ---- */
        {"inverted", "Falsey", "{\"boolean\":false}", "\"{{^boolean}}This should be rendered.{{/boolean}}\"",
         "\"This should be rendered.\"", {0}},
        {"inverted", "Truthy", "{\"boolean\":true}", "\"{{^boolean}}This should not be rendered.{{/boolean}}\"", "\"\"", {0}},
        {"inverted", "Null is falsey", "{\"null\":null}", "\"{{^null}}This should be rendered.{{/null}}\"",
         "\"This should be rendered.\"", {0}},
        {"inverted", "Context", "{\"context\":{\"name\":\"Joe\"}}", "\"{{^context}}Hi {{name}}.{{/context}}\"", "\"\"", {0}},
        {"inverted", "List", "{\"list\":[{\"n\":1},{\"n\":2},{\"n\":3}]}", "\"{{^list}}{{n}}{{/list}}\"", "\"\"", {0}},
        {"inverted", "Empty List", "{\"list\":[]}", "\"{{^list}}Yay lists!{{/list}}\"", "\"Yay lists!\"", {0}},
        {"inverted", "Doubled", "{\"bool\":false,\"two\":\"second\"}",
         "{{^bool}}\n* first\n{{/bool}}\n* {{two}}\n{{^bool}}\n* third\n{{/bool}}\n", "* first\n* second\n* third\n", {0}},
        {"inverted", "Nested (Falsey)", "{\"bool\":false}", "| A {{^bool}}B {{^bool}}C{{/bool}} D{{/bool}} E |", "| A B C D E |", {0}},
        {"inverted", "Nested (Truthy)", "{\"bool\":true}", "| A {{^bool}}B {{^bool}}C{{/bool}} D{{/bool}} E |", "| A  E |", {0}},
        {"inverted", "Context Misses", "{}", "[{{^missing}}Cannot find key 'missing'!{{/missing}}]", "[Cannot find key 'missing'!]", {0}},
        {"inverted", "Dotted Names - Truthy", "{\"a\":{\"b\":{\"c\":true}}}", "\"{{^a.b.c}}Not Here{{/a.b.c}}\" == \"\"", "\"\" == \"\"", {0}},
        {"inverted", "Dotted Names - Falsey", "{\"a\":{\"b\":{\"c\":false}}}", "\"{{^a.b.c}}Not Here{{/a.b.c}}\" == \"Not Here\"",
         "\"Not Here\" == \"Not Here\"", {0}},
        {"inverted", "Dotted Names - Broken Chains", "{\"a\":{}}", "\"{{^a.b.c}}Not Here{{/a.b.c}}\" == \"Not Here\"",
         "\"Not Here\" == \"Not Here\"", {0}},
        {"inverted", "Surrounding Whitespace", "{\"boolean\":false}", " | {{^boolean}}\t|\t{{/boolean}} | \n", " | \t|\t | \n", {0}},
        {"inverted", "Internal Whitespace", "{\"boolean\":false}", " | {{^boolean}} {{! Important Whitespace }}\n {{/boolean}} | \n",
         " |  \n  | \n", {0}},
        {"inverted", "Indented Inline Sections", "{\"boolean\":false}", " {{^boolean}}NO{{/boolean}}\n {{^boolean}}WAY{{/boolean}}\n",
         " NO\n WAY\n", {0}},
        {"inverted", "Standalone Lines", "{\"boolean\":false}", "| This Is\n{{^boolean}}\n|\n{{/boolean}}\n| A Line\n",
         "| This Is\n|\n| A Line\n", {0}},
        {"inverted", "Standalone Indented Lines", "{\"boolean\":false}", "| This Is\n  {{^boolean}}\n|\n  {{/boolean}}\n| A Line\n",
         "| This Is\n|\n| A Line\n", {0}},
        {"inverted", "Standalone Line Endings", "{\"boolean\":false}", "|\r\n{{^boolean}}\r\n{{/boolean}}\r\n|", "|\r\n|", {0}},
        {"inverted", "Standalone Without Previous Line", "{\"boolean\":false}", "  {{^boolean}}\n^{{/boolean}}\n/", "^\n/", {0}},
        {"inverted", "Standalone Without Newline", "{\"boolean\":false}", "^{{^boolean}}\n/\n  {{/boolean}}", "^\n/\n", {0}},
        {"inverted", "Padding", "{\"boolean\":false}", "|{{^ boolean }}={{/ boolean }}|", "|=|", {0}},

        /* ---- comments.yml ---- */
        {"comments", "Inline", "{}", "12345{{! Comment Block! }}67890", "1234567890", {0}},
        {"comments", "Multiline", "{}", "12345{{!\n  This is a\n  multi-line comment...\n}}67890\n", "1234567890\n", {0}},
        {"comments", "Standalone", "{}", "Begin.\n{{! Comment Block! }}\nEnd.\n", "Begin.\nEnd.\n", {0}},
        {"comments", "Indented Standalone", "{}", "Begin.\n  {{! Indented Comment Block! }}\nEnd.\n", "Begin.\nEnd.\n", {0}},
        {"comments", "Standalone Line Endings", "{}", "|\r\n{{! Standalone Comment }}\r\n|", "|\r\n|", {0}},
        {"comments", "Standalone Without Previous Line", "{}", "  {{! I'm Still Standalone }}\n!", "!", {0}},
        {"comments", "Standalone Without Newline", "{}", "!\n  {{! I'm Still Standalone }}", "!\n", {0}},
        {"comments", "Multiline Standalone", "{}", "Begin.\n{{!\nSomething's going on here...\n}}\nEnd.\n", "Begin.\nEnd.\n", {0}},
        {"comments", "Indented Multiline Standalone", "{}", "Begin.\n  {{!\n    Something's going on here...\n  }}\nEnd.\n",
         "Begin.\nEnd.\n", {0}},
        {"comments", "Indented Inline", "{}", "  12 {{! 34 }}\n", "  12 \n", {0}},
        {"comments", "Surrounding Whitespace", "{}", "12345 {{! Comment Block! }} 67890", "12345  67890", {0}},
        {"comments", "Variable Name Collision", "{\"! comment\":1,\"! comment \":2,\"!comment\":3,\"comment\":4}",
         "comments never show: >{{! comment }}<", "comments never show: ><", {0}},

        /* ---- partials.yml ---- */
        {"partials", "Basic Behavior", "{}", "\"{{>text}}\"", "\"from partial\"", {"text", "from partial"}},
        {"partials", "Failed Lookup", "{}", "\"{{>text}}\"", "\"\"", {0}},
        {"partials", "Context", "{\"text\":\"content\"}", "\"{{>partial}}\"", "\"*content*\"", {"partial", "*{{text}}*"}},
        {"partials", "Recursion", "{\"content\":\"X\",\"nodes\":[{\"content\":\"Y\",\"nodes\":[]}]}", "{{>node}}", "X<Y<>>",
         {"node", "{{content}}<{{#nodes}}{{>node}}{{/nodes}}>"}},
        {"partials", "Nested", "{\"a\":\"hello\",\"b\":\"world\"}", "{{>outer}}", "*hello world!*",
         {"outer", "*{{a}} {{>inner}}*", "inner", "{{b}}!"}},
        {"partials", "Surrounding Whitespace", "{}", "| {{>partial}} |", "| \t|\t |", {"partial", "\t|\t"}},
        {"partials", "Inline Indentation", "{\"data\":\"|\"}", "  {{data}}  {{> partial}}\n", "  |  >\n>\n", {"partial", ">\n>"}},
        {"partials", "Standalone Line Endings", "{}", "|\r\n{{>partial}}\r\n|", "|\r\n>|", {"partial", ">"}},
        {"partials", "Standalone Without Previous Line", "{}", "  {{>partial}}\n>", "  >\n  >>", {"partial", ">\n>"}},
        {"partials", "Standalone Without Newline", "{}", ">\n  {{>partial}}", ">\n  >\n  >", {"partial", ">\n>"}},
        {"partials", "Standalone Indentation", "{\"content\":\"<\\n->\"}", "\\\n {{>partial}}\n/\n", "\\\n |\n <\n->\n |\n/\n",
         {"partial", "|\n{{{content}}}\n|\n"}},
        {"partials", "Padding Whitespace", "{\"boolean\":true}", "|{{> partial }}|", "|[]|", {"partial", "[]"}},

        /* ---- delimiters.yml ---- */
        {"delimiters", "Pair Behavior", "{\"text\":\"Hey!\"}", "{{=<% %>=}}(<%text%>)", "(Hey!)", {0}},
        {"delimiters", "Special Characters", "{\"text\":\"It worked!\"}", "({{=[ ]=}}[text])", "(It worked!)", {0}},
        {"delimiters", "Sections", "{\"section\":true,\"data\":\"I got interpolated.\"}",
         "[\n{{#section}}\n  {{data}}\n  |data|\n{{/section}}\n\n{{= | | =}}\n|#section|\n  {{data}}\n  |data|\n|/section|\n]\n",
         "[\n  I got interpolated.\n  |data|\n\n  {{data}}\n  I got interpolated.\n]\n", {0}},
        {"delimiters", "Inverted Sections", "{\"section\":false,\"data\":\"I got interpolated.\"}",
         "[\n{{^section}}\n  {{data}}\n  |data|\n{{/section}}\n\n{{= | | =}}\n|^section|\n  {{data}}\n  |data|\n|/section|\n]\n",
         "[\n  I got interpolated.\n  |data|\n\n  {{data}}\n  I got interpolated.\n]\n", {0}},
        {"delimiters", "Partial Inheritence", "{\"value\":\"yes\"}", "[ {{>include}} ]\n{{= | | =}}\n[ |>include| ]\n",
         "[ .yes. ]\n[ .yes. ]\n", {"include", ".{{value}}."}},
        {"delimiters", "Post-Partial Behavior", "{\"value\":\"yes\"}", "[ {{>include}} ]\n[ .{{value}}.  .|value|. ]\n",
         "[ .yes.  .yes. ]\n[ .yes.  .|value|. ]\n", {"include", ".{{value}}. {{= | | =}} .|value|."}},
        {"delimiters", "Surrounding Whitespace", "{}", "| {{=@ @=}} |", "|  |", {0}},
        {"delimiters", "Outlying Whitespace (Inline)", "{}", " | {{=@ @=}}\n", " | \n", {0}},
        {"delimiters", "Standalone Tag", "{}", "Begin.\n{{=@ @=}}\nEnd.\n", "Begin.\nEnd.\n", {0}},
        {"delimiters", "Indented Standalone Tag", "{}", "Begin.\n  {{=@ @=}}\nEnd.\n", "Begin.\nEnd.\n", {0}},
        {"delimiters", "Standalone Line Endings", "{}", "|\r\n{{= @ @ =}}\r\n|", "|\r\n|", {0}},
        {"delimiters", "Standalone Without Previous Line", "{}", "  {{=@ @=}}\n=", "=", {0}},
        {"delimiters", "Standalone Without Newline", "{}", "=\n  {{=@ @=}}", "=\n", {0}},
        {"delimiters", "Pair with Padding", "{}", "|{{= @   @ =}}|", "||", {0}},
};

/* ---- helpers ---- */

/* Partials by name, parsed on first use like a real template store would. */
struct partial_store {
        const char *const *sources; /* name, source, name, source, ..., NULL */
        size_t n;
        struct mustache *parsed[8];
        int parse_failures;
};

static const struct mustache *store_lookup(const char *name, void *userdata) {
        struct partial_store *s = userdata;
        for (size_t i = 0; i < s->n; i++) {
                if (!s->sources[2 * i] || strcmp(s->sources[2 * i], name) != 0)
                        continue;
                if (!s->parsed[i]) {
                        const char *src = s->sources[2 * i + 1];
                        struct mustache_error err;
                        if (mustache_parse(src, strlen(src), 1, &s->parsed[i], &err) < 0) {
                                s->parse_failures++;
                                return NULL;
                        }
                }
                return s->parsed[i];
        }
        return NULL;
}

static void store_done(struct partial_store *s) {
        for (size_t i = 0; i < ELEMENTSOF(s->parsed); i++)
                s->parsed[i] = mustache_free(s->parsed[i]);
}

/* Renders template with data (JSON) and partials (name, source, ...); returns
 * the output or NULL with *rc set when parse or render fails. */
static char *render_full(const char *template, const char *data, enum mustache_escape esc,
                         const char *const *partials, size_t n_partials, int *rc) {
        _cleanup_json_ json_object *ctx = parse_json(data);
        assert_true(ctx != NULL || strcmp(data, "null") == 0);
        _cleanup_(mustache_freep) struct mustache *tpl = NULL;
        struct mustache_error err = {0};
        int r = mustache_parse(template, strlen(template), 1, &tpl, &err);
        if (r < 0) {
                print_message("parse error %d:%d: %s\n", err.line, err.column, err.message);
                *rc = r;
                return NULL;
        }
        struct partial_store store = {.sources = partials, .n = n_partials};
        _cleanup_buf_ struct buf out = {0};
        r = mustache_render(tpl, ctx, esc, store_lookup, &store, &out);
        store_done(&store);
        assert_int_equal(store.parse_failures, 0);
        *rc = r;
        if (r < 0)
                return NULL;
        return buf_steal(&out);
}

static char *render(const char *template, const char *data) {
        int r;
        char *s = render_full(template, data, MUSTACHE_ESCAPE_HTML, NULL, 0, &r);
        assert_int_equal(r, 0);
        return s;
}

static void check(const char *template, const char *data, const char *expected) {
        _cleanup_free_ char *s = render(template, data);
        assert_string_equal(s, expected);
}

static int parse_err(const char *src, int first_line, struct mustache_error *err) {
        struct mustache *tpl = NULL;
        *err = (struct mustache_error){0};
        int r = mustache_parse(src, strlen(src), first_line, &tpl, err);
        if (r >= 0)
                mustache_free(tpl);
        else
                assert_null(tpl);
        return r;
}

static void check_error(const char *src, int first_line, int line, int column, const char *message) {
        struct mustache_error err;
        assert_int_equal(parse_err(src, first_line, &err), -EINVAL);
        if (err.line != line || err.column != column || !strstr(err.message, message))
                print_message("template %s: got %d:%d '%s'\n", src, err.line, err.column, err.message);
        assert_int_equal(err.line, line);
        assert_int_equal(err.column, column);
        assert_non_null(strstr(err.message, message));
}

/* ---- spec ---- */

static void test_spec_case(void **state) {
        const struct spec_case *c = *state;
        size_t n_partials = 0;
        while (n_partials < 2 && c->partials[2 * n_partials])
                n_partials++;
        int r;
        _cleanup_free_ char *out =
                render_full(c->template, c->data, MUSTACHE_ESCAPE_HTML, c->partials, n_partials, &r);
        assert_int_equal(r, 0);
        if (strcmp(out, c->expected) != 0)
                print_message("%s / %s\n  expected: [%s]\n  got:      [%s]\n", c->suite, c->name, c->expected, out);
        assert_string_equal(out, c->expected);
}

/* ---- beyond the spec ---- */

static void test_utf8_passthrough(void **state) {
        (void)state;
        const char *tpl = "尊敬的{{name}}：\n"
                          "{{#items}}\n"
                          "· {{customer}}（{{tier}}类）欠款 {{amount}} 元，{{{note}}}\n"
                          "{{/items}}\n"
                          "此致，{{rep}}\n";
        const char *data = "{\"name\":\"王小明\",\"rep\":\"李娜 <销售部>\","
                           "\"items\":[{\"customer\":\"上海远景贸易有限公司\",\"tier\":\"A\",\"amount\":12500.5,"
                           "\"note\":\"请尽快付款 😊\"},{\"customer\":\"北京\\\"大成\\\"\",\"tier\":\"B\",\"amount\":300,"
                           "\"note\":\"已逾期 30 天\"}]}";
        check(tpl, data,
              "尊敬的王小明：\n"
              "· 上海远景贸易有限公司（A类）欠款 12500.5 元，请尽快付款 😊\n"
              "· 北京&quot;大成&quot;（B类）欠款 300 元，已逾期 30 天\n"
              "此致，李娜 &lt;销售部&gt;\n");
        /* UTF-8 inside custom delimiters and names. */
        check("{{=【 】=}}【客户】:【#列表】【.】、【/列表】", "{\"客户\":\"张三\",\"列表\":[\"甲\",\"乙\"]}",
              "张三:甲、乙、");
}

/* mustache_render_utf8() must give what repairing the whole rendering
 * gave before it (utf8_repair() of mustache_render()'s output), byte for
 * byte and replacement for replacement, although it checks only values
 * and template text that is malformed.  Returns the replacements. */
static size_t check_utf8(const char *template, json_object *ctx, enum mustache_escape esc,
                         const char *const *partials, size_t n_partials) {
        _cleanup_(mustache_freep) struct mustache *tpl = NULL;
        assert_int_equal(mustache_parse(template, strlen(template), 1, &tpl, NULL), 0);
        struct partial_store store = {.sources = partials, .n = n_partials};
        _cleanup_buf_ struct buf raw = {0}, out = {0};
        assert_int_equal(mustache_render(tpl, ctx, esc, store_lookup, &store, &raw), 0);
        size_t replaced = 12345;
        assert_int_equal(mustache_render_utf8(tpl, ctx, esc, store_lookup, &store, &out, &replaced), 0);
        store_done(&store);
        _cleanup_free_ char *want = buf_steal(&raw);
        assert_non_null(want);
        int r = utf8_repair(&want);
        assert_true(r >= 0);
        if (strcmp(out.data, want) != 0 || replaced != (size_t)r)
                print_message("template [%s]: %zu replaced, want %d\n", template, replaced, r);
        assert_string_equal(out.data, want);
        assert_int_equal(out.len, strlen(want));
        assert_int_equal(replaced, r);
        assert_true(utf8_valid(out.data));
        return replaced;
}

static json_object *strings_ctx(const char *a, const char *b, const char *c) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "a", json_object_new_string(a));
        json_object_object_add(o, "b", json_object_new_string(b));
        json_object_object_add(o, "c", json_object_new_string(c));
        return o;
}

/* Malformed UTF-8 in data (and in template text) becomes U+FFFD as it is
 * emitted, exactly as if the whole output had been repaired afterwards:
 * a sequence cut short at the end of one value may be completed by the
 * next value, but never by template text or numbers. */
static void test_utf8_by_construction(void **state) {
        (void)state;
        static const struct {
                const char *tpl, *a, *b, *c;
                size_t replaced;
        } cases[] = {
                /* 中 split over two and three values: well-formed output. */
                {"{{a}}{{b}}", "\xE4\xB8", "\xAD", "", 0},
                {"{{a}}{{b}}{{c}}", "\xE4", "\xB8", "\xAD", 0},
                {"{{a}}{{#l}}{{b}}{{/l}}{{c}}", "\xF0\x9F", "\x98", "\x80", 0},
                /* ... but not when anything else comes between. */
                {"{{a}}x{{b}}", "\xE4\xB8", "\xAD", "", 3},
                {"{{a}}{{n}}{{b}}", "\xE4\xB8", "\xAD", "", 3},
                {"{{a}}<{{b}}", "\xE4\xB8", "\xAD", "", 3},
                /* Cut short at the end of the output, of a section. */
                {"{{a}}", "ok\xE4\xB8", "", "", 2},
                {"{{#l}}{{a}}{{/l}}", "\xF0\x9F\x98", "", "", 3},
                /* An empty value or a missing name adds no bytes. */
                {"{{a}}{{c}}{{nope}}{{b}}", "\xE2\x82", "\xAC", "", 0},
                /* Overlongs, surrogates, past U+10FFFF, bytes no sequence
                 * starts with, lone continuation bytes. */
                {"[{{a}}|{{b}}|{{c}}]", "\xC0\x80\xE0\x80\x80", "\xED\xA0\x80\xF4\x90\x80\x80", "\xF5\xFF\x80\xBF", 16},
                {"{{a}}{{b}}", "\xE0", "\x9F\xBF", "", 3},
                {"{{a}}{{b}}", "\xED", "\xBF\xBF", "", 3},
                {"{{a}}{{b}}", "\xC3", "\x28", "", 1},
                /* Malformed template text, alone and next to values. */
                {"\xE4{{a}}", "\xB8\xAD", "", "", 0},
                {"{{a}}\xAD x \xFF", "\xE4\xB8", "", "", 1},
                {"\xF0\x9F{{a}}\x80", "\x98", "", "", 0},
                {"\xC3 {{a}}", "\xA9", "", "", 2},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_json_ json_object *ctx = strings_ctx(cases[i].a, cases[i].b, cases[i].c);
                json_object_object_add(ctx, "n", json_object_new_int(7));
                json_object_object_add(ctx, "l", json_object_new_array());
                json_object_array_add(json_object_object_get(ctx, "l"), json_object_new_boolean(1));
                for (int esc = 0; esc < 2; esc++)
                        assert_int_equal(check_utf8(cases[i].tpl, ctx, (enum mustache_escape)esc, NULL, 0),
                                         cases[i].replaced);
        }

        /* Random values from hostile pieces, in templates where values
         * meet each other, template text (well-formed or not), numbers,
         * escapes, section ends, indented partials and the end. */
        static const char *const pieces[] = {
                "a", " ", "&", "<", "\"", "\n", "中", "é", "😀", "\xE4\xB8", "\xE4", "\xB8", "\xAD", "\xB8\xAD",
                "\xF0\x9F", "\xF0\x9F\x98", "\x98\x80", "\x80", "\xC0\x80", "\xC1\xBF", "\xE0\x80\x80",
                "\xE0\xA0\x80", "\xF0\x80\x80\x80", "\xF0\x90\x80\x80", "\xED\xA0\x80", "\xED\x9F\xBF",
                "\xF4\x8F\xBF\xBF", "\xF4\x90\x80\x80", "\xF5", "\xFE", "\xFF", "\xC3", "\xC3\x28", "\xE2\x82",
                "\xE2\x28\xA1", "12345678",
        };
        static const char *const templates[] = {
                "{{a}}{{b}}{{c}}",
                "{{{a}}}{{{b}}}|{{c}}\n",
                "<{{a}}>{{#l}}{{.}}{{/l}}{{b}}{{^l}}x{{/l}}{{c}}",
                "\xE4{{a}}\xB8{{b}}\xF0\x9F{{c}}\x98",
                "{{#l}}\n  {{a}}{{.}}\n{{/l}}{{n}}{{b}}\xC3",
                "  {{>p}}\n{{c}}",
        };
        static const char *const partials[] = {"p", "{{a}}\n{{b}}\xE2\x82\n\xAC{{c}}\n"};
        uint64_t rng = 0x9E3779B97F4A7C15ULL;
        size_t total = 0;
        for (int iter = 0; iter < 3000; iter++) {
                char v[3][32];
                for (int k = 0; k < 3; k++) {
                        size_t n = 0;
                        v[k][0] = '\0';
                        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                        for (uint64_t m = rng % 4, x = rng >> 8; m > 0; m--, x /= ELEMENTSOF(pieces)) {
                                const char *p = pieces[x % ELEMENTSOF(pieces)];
                                memcpy(v[k] + n, p, strlen(p) + 1);
                                n += strlen(p);
                        }
                }
                _cleanup_json_ json_object *ctx = strings_ctx(v[0], v[1], v[2]);
                json_object_object_add(ctx, "n", json_object_new_double(1.5));
                json_object *l = json_object_new_array();
                for (uint64_t m = rng % 3; m > 0; m--)
                        json_object_array_add(l, json_object_new_string(v[m % 3]));
                json_object_object_add(ctx, "l", l);
                const char *tpl = templates[iter % ELEMENTSOF(templates)];
                total += check_utf8(tpl, ctx, (enum mustache_escape)(iter / ELEMENTSOF(templates) % 2), partials, 1);
        }
        assert_true(total > 1000); /* the inputs were hostile enough */

        /* Well-formed data renders as mustache_render() renders it. */
        _cleanup_json_ json_object *ctx = strings_ctx("王伟 <A&B>", "😀 ok", "");
        assert_int_equal(check_utf8("{{a}}|{{{b}}}|{{c}}", ctx, MUSTACHE_ESCAPE_HTML, NULL, 0), 0);
}

static void test_escape_modes(void **state) {
        (void)state;
        const char *tpl = "{{v}}|{{{v}}}|{{& v}}";
        const char *data = "{\"v\":\"<a href=\\\"x?a=1&b=2\\\">it's</a>\"}";
        int r;
        _cleanup_free_ char *html = render_full(tpl, data, MUSTACHE_ESCAPE_HTML, NULL, 0, &r);
        assert_int_equal(r, 0);
        assert_string_equal(html, "&lt;a href=&quot;x?a=1&amp;b=2&quot;&gt;it's&lt;/a&gt;|"
                                  "<a href=\"x?a=1&b=2\">it's</a>|<a href=\"x?a=1&b=2\">it's</a>");
        _cleanup_free_ char *plain = render_full(tpl, data, MUSTACHE_ESCAPE_NONE, NULL, 0, &r);
        assert_int_equal(r, 0);
        assert_string_equal(plain, "<a href=\"x?a=1&b=2\">it's</a>|<a href=\"x?a=1&b=2\">it's</a>|"
                                   "<a href=\"x?a=1&b=2\">it's</a>");
        /* Template text itself is never escaped. */
        _cleanup_free_ char *text = render_full("<b>&amp;</b>", "{}", MUSTACHE_ESCAPE_HTML, NULL, 0, &r);
        assert_string_equal(text, "<b>&amp;</b>");
}

static void test_value_formatting(void **state) {
        (void)state;
        check("{{a}} {{b}} {{c}} {{d}} {{e}} {{f}} {{g}} {{h}}",
              "{\"a\":1.210,\"b\":0.1,\"c\":5.0,\"d\":-3,\"e\":18446744073709551615,"
              "\"f\":-9223372036854775808,\"g\":1e300,\"h\":2.5e-7}",
              "1.21 0.1 5 -3 18446744073709551615 -9223372036854775808 1e+300 2.5e-7");
        /* Other doubles as JavaScript's Number#toString spells them (what
         * mustache.js prints): positional up to 21 digits and down to
         * 10^-6, else the shortest mantissa with a bare exponent. */
        check("{{#v}}{{.}}|{{/v}}",
              "{\"v\":[1e16,1.5e-7,-0.0,123.4567,1e21,1e-6,1e-7,0.000123,1234567.891,1.7976931348623157e308,"
              "5e-324,-1e-7,1e15,4.35,-2.5e+22,1.5e20,0.1e-5]}",
              "10000000000000000|1.5e-7|0|123.4567|1e+21|0.000001|1e-7|0.000123|1234567.891|1.7976931348623157e+308|"
              "5e-324|-1e-7|1000000000000000|4.35|-2.5e+22|150000000000000000000|0.000001|");
        check("{{t}} {{f}} [{{n}}] [{{o}}] [{{l}}] [{{missing}}] [{{z}}]",
              "{\"t\":true,\"f\":false,\"n\":null,\"o\":{\"x\":1},\"l\":[1,2],\"z\":0}",
              "true false [] [] [] [] [0]");
        /* Doubles built in C (no source spelling to fall back on). */
        _cleanup_json_ json_object *ctx = json_object_new_object();
        json_object_object_add(ctx, "d", json_object_new_double(0.1 + 0.2));
        json_object_object_add(ctx, "e", json_object_new_double(100.0));
        _cleanup_(mustache_freep) struct mustache *tpl = NULL;
        assert_int_equal(mustache_parse("{{d}} {{e}}", 11, 1, &tpl, NULL), 0);
        _cleanup_buf_ struct buf out = {0};
        assert_int_equal(mustache_render(tpl, ctx, MUSTACHE_ESCAPE_NONE, NULL, NULL, &out), 0);
        assert_string_equal(out.data, "0.30000000000000004 100");
}

static void test_section_truthiness(void **state) {
        (void)state;
        const char *tpl = "{{#v}}Y{{/v}}{{^v}}N{{/v}}";
        check(tpl, "{\"v\":0}", "N");
        check(tpl, "{\"v\":0.0}", "N");
        check(tpl, "{\"v\":\"\"}", "N");
        check(tpl, "{\"v\":null}", "N");
        check(tpl, "{\"v\":false}", "N");
        check(tpl, "{\"v\":[]}", "N");
        check(tpl, "{}", "N");
        check(tpl, "{\"v\":1}", "Y");
        check(tpl, "{\"v\":-0.5}", "Y");
        check(tpl, "{\"v\":\"0\"}", "Y");
        check(tpl, "{\"v\":{}}", "Y");
        check(tpl, "{\"v\":[null]}", "Y");
        /* A truthy scalar is pushed: {{.}} is the value itself. */
        check("{{#n}}<{{.}}>{{/n}}", "{\"n\":42}", "<42>");
        /* A null key in an inner context hides the outer one. */
        check("{{#inner}}[{{x}}]{{/inner}}", "{\"x\":\"outer\",\"inner\":{\"x\":null}}", "[]");
        /* Lists of scalars mixed with objects. */
        check("{{#l}}({{.}}{{k}}){{/l}}", "{\"k\":\"!\",\"l\":[1,\"a\",{\"k\":\"?\"},true]}", "(1!)(a!)(?)(true!)");
}

/* Lookups are memoized per scope and name prefix, hinted by the position
 * where a key was last found, and hashed at parse time: none of it may
 * change what a name resolves to. */
static void test_lookup_cache(void **state) {
        (void)state;
        /* List items with other key orders, missing keys, null and
         * non-object values where an object was seen before. */
        check("{{#l}}[{{a.b}}|{{a.c}}|{{#a}}{{b}}{{/a}}|{{x}}|{{.x}}]{{/l}}",
              "{\"x\":\"O\",\"l\":[{\"a\":{\"b\":1,\"c\":2},\"x\":\"i\"},{\"x\":\"j\",\"a\":{\"c\":3}},"
              "{\"a\":null},{\"z\":1},{\"a\":{\"b\":{\"c\":5}}},{\"a\":\"s\"},{\"a\":{\"c\":6,\"b\":7},\"x\":\"k\"}]}",
              "[1|2|1|i|i][|3||j|j][|||O|][|||O|][|||O|][|||O|][7|6|7|k|k]");
        /* The same name in nested scopes, before and after them. */
        check("{{#o}}{{n}}{{#p}}{{n}}{{/p}}{{n}}{{/o}}", "{\"o\":{\"n\":1,\"p\":{\"n\":2}}}", "121");
        check("{{#o}}{{n}}{{#p}}{{n}}{{/p}}{{n}}{{/o}}", "{\"o\":{\"n\":1,\"p\":{\"m\":2}}}", "111");
        check("{{#l}}{{n}}{{#p}}{{n}}{{/p}}{{/l}}",
              "{\"n\":0,\"l\":[{\"p\":{\"n\":1}},{\"n\":2,\"p\":true},{\"p\":[{\"n\":3},{}]},{}]}", "01220300");
        /* Names an item lacks come from the scopes around the list, which
         * change from one outer item to the next. */
        check("{{#a}}{{#l}}{{k}}{{/l}}|{{/a}}",
              "{\"k\":0,\"a\":[{\"k\":1,\"l\":[{},{\"k\":2},{}]},{\"l\":[{},{}]},{\"k\":3,\"l\":[{}]},"
              "{\"k\":null,\"l\":[{},{\"k\":4}]}]}",
              "121|00|3|4|");
        /* A section on a name prefix, then the longer name inside and out. */
        check("{{c.e}}{{#c.e}}<{{c.e}}{{.}}>{{/c.e}}{{#c}}{{e}}{{/c}}{{c.p}}",
              "{\"c\":{\"e\":\"m\",\"p\":\"t\"}}", "m<mm>mt");
        /* Names longer than those kept inline, sharing prefixes. */
        check("{{a.b.c.d}}{{#a.b}}{{c.d}}{{#c}}{{d}}{{/c}}{{/a.b}}{{a.b.c.x}}{{.a.b.c.d}}",
              "{\"a\":{\"b\":{\"c\":{\"d\":\"D\",\"x\":\"X\"}}}}", "DDDXD");
        /* Anchored and plain names with the same keys are different names. */
        check("{{#i}}{{.k}}/{{k}};{{/i}}", "{\"k\":\"r\",\"i\":[{\"k\":1},{\"j\":2}]}", "1/1;/r;");
        /* A partial has its own names: the same ones in another order. */
        {
                const char *const partials[] = {"p", "{{z}}{{x.y}}{{a}}"};
                int r;
                _cleanup_free_ char *out =
                        render_full("{{#l}}{{a}}{{x.y}}-{{>p}};{{/l}}",
                                    "{\"z\":\"Z\",\"l\":[{\"a\":1,\"x\":{\"y\":2}},{\"x\":{\"y\":3},\"z\":4},{}]}",
                                    MUSTACHE_ESCAPE_NONE, partials, 1, &r);
                assert_int_equal(r, 0);
                assert_string_equal(out, "12-Z21;3-43;-Z;");
        }
        /* More distinct names than get a memo and a hint. */
        {
                _cleanup_buf_ struct buf tpl = {0}, data = {0}, want = {0};
                assert_int_equal(buf_puts(&data, "{\"l\":[{"), 0);
                for (int i = 0; i < 600; i++) {
                        assert_int_equal(buf_printf(&tpl, "{{#l}}{{k%d}}{{/l}}", i), 0);
                        assert_int_equal(buf_printf(&data, "%s\"k%d\":%d", i ? "," : "", i, i), 0);
                        assert_int_equal(buf_printf(&want, "%d", i), 0);
                }
                assert_int_equal(buf_puts(&data, "}]}"), 0);
                check(tpl.data, data.data, want.data);
        }
}

/* Objects whose tables hash keys with another function than the one the
 * template was parsed with still resolve (the hash is recomputed). */
static void test_lookup_other_hash(void **state) {
        (void)state;
        _cleanup_(mustache_freep) struct mustache *tpl = NULL;
        const char *src = "{{a}}{{#o}}{{b}}{{c.d}}{{/o}}";
        assert_int_equal(mustache_parse(src, strlen(src), 1, &tpl, NULL), 0);
        assert_int_equal(json_global_set_string_hash(JSON_C_STR_HASH_PERLLIKE), 0);
        json_object *ctx = parse_json("{\"a\":1,\"o\":{\"b\":2,\"c\":{\"d\":3}}}");
        assert_int_equal(json_global_set_string_hash(JSON_C_STR_HASH_DFLT), 0);
        assert_non_null(ctx);
        _cleanup_buf_ struct buf out = {0};
        assert_int_equal(mustache_render(tpl, ctx, MUSTACHE_ESCAPE_NONE, NULL, NULL, &out), 0);
        json_object_put(ctx);
        assert_string_equal(out.data, "123");
}

/* The output buffer is sized from the template's previous rendering: a
 * long rendering, then a short one, then one appended to existing text. */
static void test_render_sizes(void **state) {
        (void)state;
        _cleanup_(mustache_freep) struct mustache *tpl = NULL;
        const char *src = "{{#l}}{{.}}{{/l}}";
        assert_int_equal(mustache_parse(src, strlen(src), 1, &tpl, NULL), 0);
        _cleanup_json_ json_object *big = json_object_new_object(), *small = parse_json("{\"l\":[\"x\"]}");
        json_object *l = json_object_new_array();
        for (int i = 0; i < 5000; i++)
                json_object_array_add(l, json_object_new_string("0123456789"));
        json_object_object_add(big, "l", l);
        for (int k = 0; k < 2; k++) {
                _cleanup_buf_ struct buf a = {0}, b = {0}, c = {0};
                assert_int_equal(mustache_render(tpl, big, MUSTACHE_ESCAPE_HTML, NULL, NULL, &a), 0);
                assert_int_equal(a.len, 50000);
                assert_int_equal(strlen(a.data), 50000);
                /* Once the size is known, the buffer is that much and a
                 * sixteenth, not the next power of two. */
                if (k > 0)
                        assert_true(a.cap <= 50000 + 50000 / 16 + 64 + 1);
                assert_int_equal(mustache_render(tpl, small, MUSTACHE_ESCAPE_HTML, NULL, NULL, &b), 0);
                assert_string_equal(b.data, "x");
                assert_int_equal(buf_puts(&c, "head:"), 0);
                assert_int_equal(mustache_render(tpl, small, MUSTACHE_ESCAPE_HTML, NULL, NULL, &c), 0);
                assert_int_equal(mustache_render(tpl, big, MUSTACHE_ESCAPE_HTML, NULL, NULL, &c), 0);
                assert_int_equal(c.len, 5 + 1 + 50000);
                assert_memory_equal(c.data, "head:x0123456789", 16);
        }
}

static void test_render_appends(void **state) {
        (void)state;
        _cleanup_(mustache_freep) struct mustache *tpl = NULL;
        assert_int_equal(mustache_parse("[{{x}}]", 7, 1, &tpl, NULL), 0);
        _cleanup_json_ json_object *ctx = parse_json("{\"x\":\"y\"}");
        _cleanup_buf_ struct buf out = {0};
        assert_int_equal(buf_puts(&out, "head:"), 0);
        assert_int_equal(mustache_render(tpl, ctx, MUSTACHE_ESCAPE_HTML, NULL, NULL, &out), 0);
        assert_int_equal(mustache_render(tpl, ctx, MUSTACHE_ESCAPE_HTML, NULL, NULL, &out), 0);
        assert_string_equal(out.data, "head:[y][y]");
        /* A NULL context renders every name empty; mustache_free takes NULL. */
        struct buf empty = {0};
        assert_int_equal(mustache_render(tpl, NULL, MUSTACHE_ESCAPE_HTML, NULL, NULL, &empty), 0);
        assert_string_equal(empty.data, "[]");
        buf_free(&empty);
        assert_null(mustache_free(NULL));
        /* An empty template renders nothing. */
        _cleanup_(mustache_freep) struct mustache *none = NULL;
        assert_int_equal(mustache_parse("", 0, 1, &none, NULL), 0);
        struct buf o2 = {0};
        assert_int_equal(mustache_render(none, ctx, MUSTACHE_ESCAPE_HTML, NULL, NULL, &o2), 0);
        assert_int_equal(o2.len, 0);
        buf_free(&o2);
}

/* A template that starts mid-line in its file (an e-mail subject after
 * "Subject: "): positions on its first line are file columns, and so are
 * those quoted in the message; later lines start at column 1. */
static void test_parse_errors_at_column(void **state) {
        (void)state;
        struct mustache *tpl = NULL;
        struct mustache_error err;
        assert_int_equal(mustache_parse_at("Hi {{#a}}", 9, 1, 10, &tpl, &err), -EINVAL);
        assert_null(tpl);
        assert_int_equal(err.line, 1);
        assert_int_equal(err.column, 13);
        assert_non_null(strstr(err.message, "opened at line 1 column 13"));
        assert_int_equal(mustache_parse_at("你好 {{/x}}", strlen("你好 {{/x}}"), 4, 10, &tpl, &err), -EINVAL);
        assert_int_equal(err.line, 4);
        assert_int_equal(err.column, 13); /* characters, not bytes */
        assert_int_equal(mustache_parse_at("ok\n  {{/x}}", 11, 4, 10, &tpl, &err), -EINVAL);
        assert_int_equal(err.line, 5);
        assert_int_equal(err.column, 3);
        assert_int_equal(mustache_parse_at("{{x}}", 5, 1, 10, &tpl, &err), 0);
        mustache_free(tpl);
}

static void test_parse_errors(void **state) {
        (void)state;
        check_error("Hello\n  {{#items}}\n  x\n", 5, 6, 3, "unclosed section 'items' opened at line 6 column 3");
        check_error("{{#a}}\n{{#b}}x{{/b}}\nmore\n", 1, 1, 1, "unclosed section 'a' opened at line 1 column 1");
        check_error("ok\n{{#a}}x{{/b}}", 5, 6, 8, "closing tag 'b' does not match open section 'a'");
        check_error("ok\nab {{/x}}", 5, 6, 4, "closing tag 'x' without an open section");
        check_error("ok\n中文 {{name", 5, 6, 4, "unclosed tag");
        check_error("ok\n你好{{", 10, 11, 3, "unclosed tag");
        check_error("ok\n{{! never closed\n", 5, 6, 1, "unclosed tag");
        check_error("ok\nx {{{raw}}", 5, 6, 3, "unclosed triple mustache");
        check_error("ok\n{{= <% =}}", 5, 6, 1, "invalid set-delimiter tag");
        check_error("ok\n{{=<% %> x=}}", 5, 6, 1, "invalid set-delimiter tag");
        check_error("ok\n  {{=a=b c=}}", 5, 6, 3, "contains '='");
        check_error("ok\n{{=<% %>}}", 5, 6, 1, "invalid set-delimiter tag");
        check_error("ok\n{{=<%%>=}}", 5, 6, 1, "invalid set-delimiter tag");
        check_error("ok\nx{{ }}", 5, 6, 2, "empty tag name");
        check_error("ok\n{{#}}{{/}}", 5, 6, 1, "empty tag name");
        check_error("ok\n{{>  }}", 5, 6, 1, "empty tag name");
        check_error("ok\n{{{}}}", 5, 6, 1, "empty tag name");
        check_error("ok\n {{a b}}", 5, 6, 2, "invalid tag name 'a b'");
        check_error("ok\n{{a..b}}", 5, 6, 1, "invalid tag name 'a..b'");
        check_error("ok\n{{#a.}}{{/a.}}", 5, 6, 1, "invalid tag name 'a.'");
        /* A tag's type after a space would read as a variable named "#a"
         * (nothing rendered, the section lost): refused. */
        check_error("ok\nx{{ #a}}y{{/a}}", 5, 6, 2, "'#' after a space: a tag's type goes right after the opening delimiter ('{{#')");
        check_error("ok\n{{ ^a }}{{/a}}", 5, 6, 1, "'^' after a space");
        check_error("ok\n{{#a}}{{ /a }}", 5, 6, 7, "'/' after a space");
        check_error("ok\n{{\t> footer}}", 5, 6, 1, "'>' after a space");
        check_error("{{=<% %>=}}\n<% &x %>", 1, 2, 1, "'&' after a space: a tag's type goes right after the opening delimiter ('<%&')");
        /* Errors after a delimiter change point at the new delimiters. */
        check_error("{{=<% %>=}}\nline <%#s%> <%/t%>", 1, 2, 13, "closing tag 't' does not match open section 's'");
        /* \r\n counts as one line break. */
        check_error("a\r\nb\r\n  {{/x}}", 1, 3, 3, "without an open section");
        /* err may be NULL. */
        struct mustache *tpl = NULL;
        assert_int_equal(mustache_parse("{{#a}}", 6, 1, &tpl, NULL), -EINVAL);
        assert_null(tpl);
        /* The length is honoured: a tag cut off by len is unclosed. */
        struct mustache_error err;
        assert_int_equal(mustache_parse("ab{{x}}", 5, 1, &tpl, &err), -EINVAL);
        assert_string_equal(err.message, "unclosed tag");
}

/* One pass reports every problem (rapportctl check lists them all): each
 * faulty tag is skipped and parsing goes on; sections left open come last,
 * innermost first. */
static void test_parse_all_errors(void **state) {
        (void)state;
        const char *src = "Hi {{#a}}x{{/b}}\n"     /* mismatch; the stray close is ignored */
                          "{{bad name}} ok {{=<% =}}\n"
                          "{{^c}}{{{raw}}\n"
                          "{{#d}}{{#e}}{{/d}} {{ }}\n" /* closing d closes e, left open, too */
                          "中文 {{/z}}\n";
        static const struct {
                int line, column;
                const char *message;
        } want[] = {
                {1, 11, "closing tag 'b' does not match open section 'a'"},
                {2, 1, "invalid tag name 'bad name'"},
                {2, 17, "invalid set-delimiter tag"},
                {3, 7, "unclosed triple mustache"},
                {4, 13, "closing tag 'd' does not match open section 'e'"},
                {4, 20, "empty tag name"},
                {5, 4, "closing tag 'z' does not match open section 'c'"},
                {3, 1, "unclosed section 'c' opened at line 3 column 1"},
                {1, 4, "unclosed section 'a' opened at line 1 column 4"},
        };
        struct mustache_error errs[16];
        size_t n = 99;
        struct mustache *tpl = NULL;
        assert_int_equal(mustache_parse_all(src, strlen(src), 1, 1, &tpl, errs, ELEMENTSOF(errs), &n), -EINVAL);
        assert_null(tpl);
        for (size_t i = 0; i < n && i < ELEMENTSOF(errs); i++)
                print_message("%d:%d %s\n", errs[i].line, errs[i].column, errs[i].message);
        assert_int_equal(n, ELEMENTSOF(want));
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                assert_int_equal(errs[i].line, want[i].line);
                assert_int_equal(errs[i].column, want[i].column);
                assert_non_null(strstr(errs[i].message, want[i].message));
        }
        /* Fewer slots than problems: the first ones are kept, all are counted. */
        struct mustache_error two[2];
        assert_int_equal(mustache_parse_all(src, strlen(src), 1, 1, &tpl, two, 2, &n), -EINVAL);
        assert_int_equal(n, ELEMENTSOF(want));
        assert_int_equal(two[1].line, 2);
        assert_int_equal(two[1].column, 1);
        /* Nothing after an unclosed tag can be told, but open sections can. */
        assert_int_equal(mustache_parse_all("{{#s}} {{x", 10, 1, 1, &tpl, errs, ELEMENTSOF(errs), &n), -EINVAL);
        assert_int_equal(n, 2);
        assert_string_equal(errs[0].message, "unclosed tag");
        assert_non_null(strstr(errs[1].message, "unclosed section 's'"));
        /* A good template: no problems, a template. */
        assert_int_equal(mustache_parse_all("{{#s}}{{.}}{{/s}}", 17, 1, 1, &tpl, errs, ELEMENTSOF(errs), &n), 0);
        assert_int_equal(n, 0);
        assert_non_null(tpl);
        mustache_free(tpl);
}

static void test_deep_nesting(void **state) {
        (void)state;
        _cleanup_buf_ struct buf src = {0};
        _cleanup_buf_ struct buf data = {0};
        const int depth = 200;
        for (int i = 0; i < depth; i++) {
                assert_int_equal(buf_printf(&src, "{{#n%d}}%d.", i, i % 10), 0);
                assert_int_equal(buf_printf(&data, "{\"n%d\":", i), 0);
        }
        assert_int_equal(buf_puts(&src, "{{v}}{{leaf}}"), 0);
        assert_int_equal(buf_puts(&data, "{\"leaf\":\"!\"}"), 0);
        for (int i = depth - 1; i >= 0; i--) {
                assert_int_equal(buf_printf(&src, "{{/n%d}}", i), 0);
                assert_int_equal(buf_puts(&data, i == 0 ? ",\"v\":\"root\"}" : "}"), 0);
        }
        _cleanup_buf_ struct buf expected = {0};
        for (int i = 0; i < depth; i++)
                assert_int_equal(buf_printf(&expected, "%d.", i % 10), 0);
        assert_int_equal(buf_puts(&expected, "root!"), 0);
        check(src.data, data.data, expected.data);

        /* 256 nested sections parse, 257 do not. */
        _cleanup_buf_ struct buf ok = {0}, too_deep = {0};
        for (int i = 0; i < 256; i++)
                assert_int_equal(buf_puts(&ok, "{{#a}}"), 0);
        assert_int_equal(buf_puts(&ok, "{{x}}"), 0);
        for (int i = 0; i < 256; i++)
                assert_int_equal(buf_puts(&ok, "{{/a}}"), 0);
        check(ok.data, "{\"a\":true,\"x\":\"deep\"}", "deep");
        for (int i = 0; i < 257; i++)
                assert_int_equal(buf_puts(&too_deep, "{{#a}}"), 0);
        struct mustache_error err;
        assert_int_equal(parse_err(too_deep.data, 1, &err), -EINVAL);
        assert_int_equal(err.column, 256 * 6 + 1);
        assert_non_null(strstr(err.message, "nested deeper than 256"));
}

static void test_large_value(void **state) {
        (void)state;
        const size_t size = 1024 * 1024;
        _cleanup_free_ char *value = malloc(size + 1);
        assert_non_null(value);
        size_t amps = 0;
        for (size_t i = 0; i < size; i++) {
                value[i] = i % 1000 == 999 ? '&' : (char)('a' + i % 26);
                amps += value[i] == '&';
        }
        value[size] = '\0';
        _cleanup_json_ json_object *ctx = json_object_new_object();
        json_object_object_add(ctx, "v", json_object_new_string_len(value, (int)size));
        _cleanup_(mustache_freep) struct mustache *tpl = NULL;
        assert_int_equal(mustache_parse("<{{{v}}}>{{v}}", 14, 1, &tpl, NULL), 0);
        _cleanup_buf_ struct buf out = {0};
        assert_int_equal(mustache_render(tpl, ctx, MUSTACHE_ESCAPE_HTML, NULL, NULL, &out), 0);
        assert_int_equal(out.len, 1 + size + 1 + size + amps * 4);
        assert_int_equal(out.data[0], '<');
        assert_memory_equal(out.data + 1, value, size);
        assert_int_equal(out.data[size + 1], '>');
        assert_memory_equal(out.data + size + 2, value, 999);
        assert_memory_equal(out.data + size + 2 + 999, "&amp;", 5);
        assert_int_equal(out.data[out.len - 1], value[size - 1] == '&' ? ';' : value[size - 1]);
}

static void test_partial_recursion_limit(void **state) {
        (void)state;
        static const char *const loop[] = {"p", "x{{>p}}"};
        int r;
        char *s = render_full("{{>p}}", "{}", MUSTACHE_ESCAPE_HTML, loop, 1, &r);
        assert_null(s);
        assert_int_equal(r, -ELOOP);

        /* Mutual recursion is caught too. */
        static const char *const pair[] = {"a", "{{>b}}", "b", "{{#t}}{{>a}}{{/t}}"};
        s = render_full("{{>a}}", "{\"t\":true}", MUSTACHE_ESCAPE_HTML, pair, 2, &r);
        assert_null(s);
        assert_int_equal(r, -ELOOP);

        /* 64 levels are fine (the innermost n is false so that the lookup
         * does not climb to an outer, truthy n). */
        static const char *const countdown[] = {"c", "{{#n}}.{{>c}}{{/n}}"};
        _cleanup_buf_ struct buf data = {0};
        for (int i = 0; i < 63; i++)
                assert_int_equal(buf_puts(&data, "{\"n\":"), 0);
        assert_int_equal(buf_puts(&data, "{\"n\":false}"), 0);
        for (int i = 0; i < 63; i++)
                assert_int_equal(buf_puts(&data, "}"), 0);
        _cleanup_free_ char *ok = render_full("{{>c}}", data.data, MUSTACHE_ESCAPE_HTML, countdown, 1, &r);
        assert_int_equal(r, 0);
        assert_int_equal(strlen(ok), 63);
}

static void test_partial_indentation(void **state) {
        (void)state;
        int r;
        /* Nested standalone partials accumulate indentation. */
        static const char *const nested[] = {"outer", "<\n  {{>inner}}\n>\n", "inner", "a\n{{v}}\n"};
        _cleanup_free_ char *s = render_full("  {{>outer}}\nend\n", "{\"v\":\"1\\n2\"}", MUSTACHE_ESCAPE_HTML,
                                             nested, 2, &r);
        assert_int_equal(r, 0);
        assert_string_equal(s, "  <\n    a\n    1\n2\n  >\nend\n");
        /* Standalone sections inside an indented partial vanish with their
         * lines; the lines they wrap are indented once per repetition. */
        static const char *const list[] = {"rows", "{{#rows}}\n- {{.}}\n{{/rows}}\n{{^rows}}\nnone\n{{/rows}}\n"};
        _cleanup_free_ char *t = render_full("Items:\n    {{>rows}}\nDone", "{\"rows\":[\"x\",\"y\"]}",
                                             MUSTACHE_ESCAPE_HTML, list, 1, &r);
        assert_int_equal(r, 0);
        assert_string_equal(t, "Items:\n    - x\n    - y\nDone");
        _cleanup_free_ char *u = render_full("Items:\n    {{>rows}}\nDone", "{\"rows\":[]}",
                                             MUSTACHE_ESCAPE_HTML, list, 1, &r);
        assert_int_equal(r, 0);
        assert_string_equal(u, "Items:\n    none\nDone");
        /* Windows line endings in a partial. */
        static const char *const crlf[] = {"p", "a\r\n{{#t}}\r\nb\r\n{{/t}}\r\n"};
        _cleanup_free_ char *w = render_full("\t{{>p}}\r\nz", "{\"t\":true}", MUSTACHE_ESCAPE_HTML, crlf, 1, &r);
        assert_int_equal(r, 0);
        assert_string_equal(w, "\ta\r\n\tb\r\nz");
        /* The indentation goes before each line of the partial's source,
         * where that line starts: a line that starts inside a section
         * repeats it per item, or loses it with the section (wontache,
         * mustache.js and ruby-mustache agree). */
        static const struct {
                const char *tpl, *partial, *data, *want;
        } src_lines[] = {
                {"  {{>p}}\n", "{{#list}}\n{{.}},{{/list}}\n", "{\"list\":[\"a\",\"b\"]}", "  a,  b,\n"},
                {" {{>p}}", "{{#x}}\n{{/x}}B", "{\"x\":false}", "B"},
                {" {{>p}}", "{{#x}}\n{{/x}}B", "{\"x\":[1,2]}", "  B"},
                {" {{>p}}", "A\n{{#x}}\n{{/x}}B\n", "{\"x\":false}", " A\nB\n"},
                /* A line with only tags that print nothing still had a start. */
                {" {{>p}}", "{{#z}}{{/z}}", "{}", " "},
                {" {{>p}}", "{{z}}", "{}", " "},
                /* An empty line has nothing to indent. */
                {"  {{>p}}\n", "a\n\nb\n", "{}", "  a\n\n  b\n"},
        };
        for (size_t i = 0; i < ELEMENTSOF(src_lines); i++) {
                const char *const partials[] = {"p", src_lines[i].partial};
                _cleanup_free_ char *x = render_full(src_lines[i].tpl, src_lines[i].data, MUSTACHE_ESCAPE_HTML, partials, 1, &r);
                assert_int_equal(r, 0);
                assert_string_equal(x, src_lines[i].want);
        }
}

static void test_standalone_extras(void **state) {
        (void)state;
        /* Windows line endings throughout, tags at end of file. */
        check("Hi\r\n{{#l}}\r\n  * {{.}}\r\n{{/l}}\r\n{{! done }}\r\n", "{\"l\":[\"a\",\"b\"]}", "Hi\r\n  * a\r\n  * b\r\n");
        check("a\r\n{{#t}}\r\nb\r\n{{/t}}", "{\"t\":true}", "a\r\nb\r\n");
        /* Two tags on one line: neither is standalone. */
        check("{{#t}}{{#t}}\nx\n{{/t}}{{/t}}\n", "{\"t\":true}", "\nx\n\n");
        check("{{!a}}\n\t{{!b}}\n", "{}", "");
        /* A bare \r is not a line end. */
        check("{{#t}}\r{{/t}}", "{\"t\":true}", "\r");
        /* An interpolation on the line keeps the section tag inline. */
        check("{{#t}} {{v}}\n{{/t}}", "{\"t\":true,\"v\":\"V\"}", " V\n");
        /* A triple mustache with custom delimiters. */
        check("{{=<% %>=}}<%{v}%> <%v%>", "{\"v\":\"<&>\"}", "<&> &lt;&amp;&gt;");
}

/* ---- benchmark ---- */

static void benchmark(void) {
        const char *tpl_src =
                "<html><body>\n"
                "<h1>{{rep.name}}，今日待办 {{count}} 项</h1>\n"
                "<table>\n"
                "{{#items}}\n"
                "<tr class=\"tier-{{tier}}\"><td>{{customer}}</td><td>{{kind}}</td><td>{{due}}</td>"
                "<td>{{amount}} 元</td><td>{{note}}</td></tr>\n"
                "{{/items}}\n"
                "</table>\n"
                "{{^items}}<p>今天没有待办。</p>{{/items}}\n"
                "</body></html>\n";
        _cleanup_(mustache_freep) struct mustache *tpl = NULL;
        assert_int_equal(mustache_parse(tpl_src, strlen(tpl_src), 1, &tpl, NULL), 0);

        _cleanup_json_ json_object *ctx = json_object_new_object();
        json_object *rep = json_object_new_object();
        json_object_object_add(rep, "name", json_object_new_string("王小明"));
        json_object_object_add(ctx, "rep", rep);
        json_object_object_add(ctx, "count", json_object_new_int(200));
        json_object *items = json_object_new_array();
        static const char *const kinds[] = {"follow_up", "birthday", "dormant", "receivable"};
        for (int i = 0; i < 200; i++) {
                json_object *it = json_object_new_object();
                char name[64];
                snprintf(name, sizeof name, "上海远景贸易有限公司 #%d", i);
                json_object_object_add(it, "customer", json_object_new_string(name));
                json_object_object_add(it, "tier", json_object_new_string(i % 3 == 0 ? "A" : i % 3 == 1 ? "B" : "C"));
                json_object_object_add(it, "kind", json_object_new_string(kinds[i % 4]));
                json_object_object_add(it, "due", json_object_new_string("2027-03-14"));
                json_object_object_add(it, "amount", json_object_new_int(1000 + i * 37));
                json_object_object_add(it, "note", json_object_new_string(i % 5 ? "call back <urgent> & confirm" : ""));
                json_object_array_add(items, it);
        }
        json_object_object_add(ctx, "items", items);

        _cleanup_buf_ struct buf out = {0};
        for (int i = 0; i < 200; i++) {
                out.len = 0;
                assert_int_equal(mustache_render(tpl, ctx, MUSTACHE_ESCAPE_HTML, NULL, NULL, &out), 0);
        }
        /* Best of several rounds: the figure should not depend on a noisy
         * neighbour. */
        const int rounds = 7, runs = 4000;
        double best = 0;
        for (int round = 0; round < rounds; round++) {
                struct timespec a, b;
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
                for (int i = 0; i < runs; i++) {
                        out.len = 0;
                        assert_int_equal(mustache_render(tpl, ctx, MUSTACHE_ESCAPE_HTML, NULL, NULL, &out), 0);
                }
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
                double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
                if (runs / secs > best)
                        best = runs / secs;
        }
        print_message("mustache bench: 200-item digest, 6 fields each, HTML mode, %zu bytes out: "
                      "%.0f renders/s (best of %d x %d)\n", out.len, best, rounds, runs);
}

int main(void) {
        const struct CMUnitTest extras[] = {
                cmocka_unit_test(test_utf8_passthrough),
                cmocka_unit_test(test_utf8_by_construction),
                cmocka_unit_test(test_escape_modes),
                cmocka_unit_test(test_value_formatting),
                cmocka_unit_test(test_section_truthiness),
                cmocka_unit_test(test_render_appends),
                cmocka_unit_test(test_lookup_cache),
                cmocka_unit_test(test_lookup_other_hash),
                cmocka_unit_test(test_render_sizes),
                cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_parse_all_errors),
                cmocka_unit_test(test_parse_errors_at_column),
                cmocka_unit_test(test_deep_nesting),
                cmocka_unit_test(test_large_value),
                cmocka_unit_test(test_partial_recursion_limit),
                cmocka_unit_test(test_partial_indentation),
                cmocka_unit_test(test_standalone_extras),
        };

        size_t n = ELEMENTSOF(spec_cases);
        _cleanup_free_ struct CMUnitTest *spec = calloc(n, sizeof *spec);
        _cleanup_free_ char *names = calloc(n, 128);
        if (!spec || !names)
                return 1;
        for (size_t i = 0; i < n; i++) {
                snprintf(names + i * 128, 128, "spec %s: %s", spec_cases[i].suite, spec_cases[i].name);
                spec[i] = (struct CMUnitTest){
                        .name = names + i * 128,
                        .test_func = test_spec_case,
                        .initial_state = (void *)&spec_cases[i],
                };
        }

        int failed = _cmocka_run_group_tests("mustache_spec", spec, n, NULL, NULL);
        failed += cmocka_run_group_tests_name("mustache_extras", extras, NULL, NULL);
        if (getenv("MUSTACHE_BENCH"))
                benchmark();
        return failed;
}
