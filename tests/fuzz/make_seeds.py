#!/usr/bin/env python3
"""Regenerates the hand-written seeds of the fuzz corpora (tests/fuzz/corpus/).

Seeds are the meaningful inputs each target starts from: real cron
expressions, the repository's templates and sample config, MIME fields with
CR/LF and Chinese.  Files are named seed-*; files the fuzzer adds later by
`FUZZ_MERGE=1 tests/fuzz/run.sh` have hash names and are kept as they are.
Run from anywhere:  python3 tests/fuzz/make_seeds.py"""
import glob
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def fields(*parts):
    return b"\0".join(p.encode() if isinstance(p, str) else p for p in parts)


# ---- cron: ZONE \0 AFTER \0 EXPR
crons = [
    "* * * * *", "0 * * * *", "*/15 * * * *", "0 9 * * 1-5", "0 9 * * mon-fri", "30 2 * * *",
    "30 1 * * *", "0 0 1 * *", "0 0 29 2 *", "0 0 13 * fri", "0 0 31 4,6,9,11 *", "59 23 31 12 *",
    "0,30 1-3 * * *", "0-10/5,30-40/10 0-23/12 * * *", "5/10 3/7 10/10 11/1 1/2",
    "0 0 * JAN,mar-May,Dec *", "0 0 * * SUN,Mon,tue,WED,thu,fri,sat", "0 0 * * 7", "0 0 * * 5-7",
    "@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually", "  @DAILY ",
    "0 0 30 2 *", "0 0 32 * *", "60 * * * *", "*/0 * * * *", "1-99 * * * *", "10-5 * * * *",
    "0 0 * *", "0 0 * * * *", "@foo", "99999999999999999999 * * * *", "1,,2 * * * *", "*/x * * * *",
    "0 0 29 2 mon", "0 8 * * 1#2", "0 0 L * *", "0\t9\t*\t*\t1-5",
]
zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Shanghai", "Australia/Lord_Howe",
         "Pacific/Chatham", "America/Sao_Paulo", "Pacific/Apia", "Asia/Kathmandu", "Europe/Dublin",
         "Africa/Casablanca", "America/St_Johns"]
afters = ["1700000000", "1711846800", "1730595600", "0", "-2208988800", "253402300000", "951782400",
          "1325239200", "4102444800", "-62135596800"]
for i, expr in enumerate(crons):
    put("cron", "%02d" % i, fields(zones[i % len(zones)], afters[i % len(afters)], expr))
# Every zone once with a DST-sensitive expression.
for i, z in enumerate(zones):
    put("cron", "dst-%02d" % i, fields(z, "1711846800", "30 2 * * *"))

# ---- mustache: TEMPLATE \0 JSON \0 PARTIAL
digest_ctx = {
    "rep": {"name": "王伟", "email": "wang@example.cn", "phone": "+8613800000000"},
    "date": "2027-03-14", "total": 3, "unsubscribe_url": "https://example.com/u?a=1&b=<2>",
    "customer": {"name": "李娜 <Lina> & Co", "tier": "A", "email": "lina@example.cn"},
    "sender": "Acme 客户关怀",
    "items": [
        {"kind": "follow_up", "customer": {"name": "张三", "tier": "A"}, "due": "2027-03-14", "overdue": True},
        {"kind": "birthday", "customer": {"name": "Anna \"Nan\" O'Neil", "tier": "C"}, "overdue": False},
        {"kind": "invoice", "number": "INV-0000007-1", "amount": 1234.5, "currency": "CNY", "days": 15},
    ],
    "empty": [], "flag": False, "none": None, "n": 0, "pi": 3.14159,
}
ctx = json.dumps(digest_ctx, ensure_ascii=False)
for path in sorted(glob.glob(os.path.join(ROOT, "templates", "*.mustache"))):
    with open(path, "rb") as f:
        put("mustache", os.path.basename(path), f.read() + b"\0" + ctx.encode() + b"\0{{customer.name}}")
templates = [
    "Hello {{name}}!", "{{& html}} {{{raw}}} {{html}}", "{{#items}}- {{customer.name}} ({{customer.tier}})\n{{/items}}",
    "{{^empty}}nothing{{/empty}}", "{{! comment }}\n{{#flag}}\nno\n{{/flag}}\n", "{{=<% %>=}}<% rep.name %><%={{ }}=%>{{date}}",
    "{{> self}}", "{{> item}}{{> missing}}", "{{#items}}{{> item}}{{/items}}", "{{#rep}}{{name}}{{/rep}}{{.}}",
    "{{#items}}{{.}}{{/items}}", "{{a.b.c.d}}", "{{#a}}", "{{/a}}", "{{#a}}{{/b}}", "{{=<% %>", "{{", "{{}}", "{{{x}}",
    "  {{#flag}}  \r\n  x\r\n  {{/flag}}  \r\n", "{{#pi}}{{pi}}{{/pi}} {{n}} {{total}}", "{{ rep . name }}",
    "客户：{{customer.name}}，生日快乐！", "{{#items}}{{#customer}}{{name}}{{/customer}}{{/items}}",
]
for i, t in enumerate(templates):
    put("mustache", "t%02d" % i, fields(t, ctx, "<{{kind}}:{{customer.name}}>"))
put("mustache", "badjson", fields("{{x}}", "{\"x\": [1, 2,", ""))
put("mustache", "scalarctx", fields("{{.}}{{#.}}[{{.}}]{{/.}}", "\"字符串\"", ""))
digest_tpl = ("Subject: {{rep.name}}: {{total}} item(s) for {{date}}\n\n{{#items}}"
              "* {{customer.name}} [{{customer.tier}}] {{kind}}{{#due}} due {{due}}{{/due}}{{#overdue}} OVERDUE{{/overdue}}\n"
              "{{/items}}{{^items}}Nothing today.{{/items}}\n--- html ---\n<ul>{{#items}}<li>{{customer.name}}</li>{{/items}}</ul>\n")
put("mustache", "digest", fields(digest_tpl, ctx, ""))

# ---- config: the file itself
with open(os.path.join(ROOT, "etc", "rapport.conf"), "rb") as f:
    sample = f.read()
put("config", "rapport.conf", sample)
test_conf = """time_zone = "UTC";
locale = "en";
database: { conninfo = "host=127.0.0.1 port=5432 user=postgres dbname=rapport"; };
templates: { dir = "/usr/local/share/rapport/templates"; };
email: {
  smtp_url = "smtp://127.0.0.1:2525";
  from = "Acme Customer Care <care@example.com>";
  tls = "none";
  unsubscribe_mailto = "unsubscribe@example.com";
  unsubscribe_url = "https://example.com/unsubscribe";
  connections = 16;
  rate = 0;
};
sms: {
  gateway_url = "http://127.0.0.1:8080/";
  format = "json";
  from = "+15550000000";
  quiet_hours = "21:00-08:00";
  connections = 4;
};
outbox: { lease = "5m"; batch = 500; retry = [ 1, "1m", "1h30m" ]; max_attempts = 4; max_age = "3d"; };
jobs: { birthdays: { schedule = "0 * * * *"; send_at = "09:00"; channels = [ "email", "sms" ]; max_lateness = "1d"; effective_from = "2020-01-01"; time_zone = "Asia/Shanghai"; catch_up = "all"; }; };
"""
put("config", "test.conf", test_conf)
put("config", "minimal.conf", 'database: { conninfo = "dbname=crm"; };\n')
put("config", "errors.conf", """time_zone = "Mars/Olympus";
locale = 5;
bogus = true;
email: { connections = 0; rate = -1.0; tls = "sometimes"; from = "not an address"; };
sms: { quiet_hours = "25:00-08:00"; format = "carrier-pigeon"; };
outbox: { lease = "5 parsecs"; retry = [ ]; batch = 100000; };
jobs: { no_such_job: { schedule = "0 0 30 2 *"; }; birthdays: { schedule = "61 * * * *"; send_at = "9am"; feb29 = "never"; }; };
""")
put("config", "syntax.conf", 'email: { from = "unterminated;\n')
put("config", "include.conf", '@include "/nonexistent/rapport-extra.conf"\ntime_zone = "UTC";\n')
put("config", "crlf.conf", test_conf.replace("\n", "\r\n"))
put("config", "chinese.conf", test_conf.replace("Acme Customer Care", "Acme 客户关怀 \\\"团队\\\""))

# ---- mime: FROM_NAME FROM_ADDR TO_NAME TO_ADDR SUBJECT TEXT HTML MSGID XNAME XVALUE DATE
long_line = "x" * 1200
mimes = [
    ("Acme Customer Care", "care@example.com", "李娜", "lina@example.cn", "李娜，生日快乐！",
     "亲爱的李娜：\n\n祝您生日快乐！\n", "<p>祝您生日快乐！</p>", "", "List-Unsubscribe",
     "<mailto:unsubscribe@example.com>, <https://example.com/u>", "1700000000"),
    ("Care", "care@example.com", "Evil\r\nBcc: victim@example.org", "to@example.com",
     "Hi\r\nBcc: victim@example.org\r\n\r\nbody", "text\r\n.\r\nQUIT\r\n", "", "", "X-Test", "a\r\nInjected: yes",
     "1700000000"),
    ("", "a@b.example", "", "c@d.example", "", "", "", "<id.1@example.com>", "", "", "0"),
    ("\"Quoted, Name\" (comment)", "care@example.com", "O'Neil, Anna", "anna@example.org",
     "A very long subject " * 10, long_line + "\n" + "=" * 100 + "\n.\n", "<b>" + long_line + "</b>", "", "", "",
     "253402300799"),
    ("Care", "care@example.com", "Bad", "not-an-address", "s", "t", "", "", "", "", "1"),
    ("Care", "care@example.com", "x", "x@example.com", "emoji 🎂🎉 and RTL \u202eevil\u202c שלום", "🎂\n", "",
     "", "", "", "1700000000"),
    ("Care", "care@example.com", "x", "x@example.com", "invalid \xff utf-8", "t", "", "", "", "", "1700000000"),
    ("Care", "care@example.com", "x", "x@example.com", "s", "trailing space   \ntab\t\nend", "", "", "Subject",
     "dup", "1700000000"),
    ("Care", "care@example.com", "x", "x@example.com", "s", "t", "", "no-angle@example.com", "", "",
     "99999999999999"),
]
for i, m in enumerate(mimes):
    put("mime", "%02d" % i, b"\0".join(s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s for s in m))
put("mime", "rawbytes", fields("Care", "care@example.com", "x", "x@example.com", b"bad \xc3\x28 \xed\xa0\x80", "t"))

# ---- sms: BODY \0 TO \0 FROM \0 KEY \0 REPLY
smss = [
    ("Happy birthday, Anna!", "+12125550100", "+15550000000", "birthday:42:2027", '{"sid":"SM1"}'),
    ("李娜，生日快乐！祝您身体健康，万事如意。", "+8613800000000", "Acme", "", '{"id":123}'),
    ("x" * 161, "+4930123456", "+15550000000", "k", '{"message_id":"abc"}  \n'),
    ("€" * 80 + "[]{}", "+4930123456", "+15550000000", "", '{"sid":null}'),
    ("🎂" * 40, "+12125550100", "Acme & Co=1", "key with spaces&=", '{"sid":""}'),
    ("a\r\nb&c=d%20+e", "+12125550100", "+15550000000", "", '[1,2]'),
    ("hi", "12125550100", "+15550000000", "", '{"sid":"SM1"} junk'),
    ("hi", "+0123", "+15550000000", "", ''),
    ("\xff", "+12125550100", "+15550000000", "", '{"id":{"a":1}}'),
    ("ç" * 70, "+12125550100", "+1", "", '{"id":1.5}'),
]
for i, s in enumerate(smss):
    put("sms", "%02d" % i, b"\0".join(x.encode("utf-8", "surrogateescape") for x in s))

# ---- tz: real zone files
for z in ["UTC", "Europe/Berlin", "America/New_York", "Asia/Shanghai", "Australia/Lord_Howe", "Pacific/Apia",
          "Africa/Casablanca", "America/Sao_Paulo"]:
    p = os.path.join("/usr/share/zoneinfo", z)
    if os.path.exists(p):
        with open(p, "rb") as f:
            put("tz", z.replace("/", "_"), f.read())
put("tz", "garbage", b"TZif2" + b"\0" * 60)
# ---- json: one document for json_doc_parse (rapportctl render --data).
# The contexts tests/integration/test_render.sh renders against, the
# digest-like context above, and hostile ones: everything json-c's strict
# mode takes that RFC 8259 does not, and the edges of what json-c holds.
jsons = [
    ctx, json.dumps(digest_ctx, indent=2), '{"name":"<王>","team":"A&B","items":[1,2,3]}', "{}", "[]",
    "85", "-3", "1.5", "true", "false", "null", '"fast"', '{"name": ', '{"a":1} junk', '{"a":1}\n{"b":2}\n', " \n", "",
    '{"a":-9223372036854775808,"b":18446744073709551615}', '{"a":1.5e3,"b":-0}',
    '\n {"a": "王芳，您好", "b": "\\u4e2d\\u6587 \\ud83d\\ude00 \\"q\\"\\t."}\n', "\ufeff" + '{"a":"王","b":1}',
    '{"a":1,}', '[1,\n 2,\n]', "{'a':'x'}", '{"a":NaN}', '{"a":Infinity}', '{"a":-Infinity}', "[nan, -infinity, INF]",
    '/* c */ {"a":1}', '{"a":1} // c', '{"a":1,\n // c\n "b":2}', '{"a":01}', '{"a":1.}', '{"a":"x\ty"}', '{"a":"x\ny"}',
    '{"a":"王",\n "b":123456789012345678901234567890}', "[-9223372036854775809]", "[18446744073709551616]",
    '{"a":1e400}', '{"a":-1e400}', "[1e-400, 4.9e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1]",
    "[" + "9" * 400 + "]", "[0." + "0" * 300 + "1e310]", "[-0, -0.0, 0e0, 0E+0, 1e-0, -1.5E-3]", "[+1, .5, 1.e3, 0x10, 1_000]",
    '{"a":1} {"b":2}', '{"a":tru}', "[TRUE, Null, False]", '{"a":1 "b":2}', '{"a" 1}', '{a:1}', "[1 2]",
    '"\\u0000\\u001f\\/\\b\\f\\n\\r\\t\\"\\\\"', '"\\ud800"', '"\\udc00\\u0041"', '"\\ud83d\\u0041"', '"\\uZZZZ"', '"\\x41"',
    '{"a":1,"a":2}', "[1,\v2]", "[1,\f2]", "[1,\u00a02]", "\r\n[\r\n1\r\n]\r\n", "\t\t\"tabs\"\t",
    "[" * 1000 + "]" * 1000, "[" * 1001 + "]" * 1001, '{"a":' * 600 + "1" + "}" * 600, "[" * 50, "]",
    '"unterminated', '["\\', "\ufeff", "\ufeff\ufeff{}", "\ufeff \n ",
]
for i, j in enumerate(jsons):
    put("json", "%02d" % i, j)
raw = [
    b'{"a":"\xff"}', b'"\xc3\x28"', b'"\xc0\x80"', b'"\xe0\x80\x80"', b'"\xed\xa0\x80"', b'"\xf4\x90\x80\x80"',
    b'"\xe4\xb8"', b'"\xf0\x9f\x98"', b'"\xe4\xb8\xad\xf0\x9f\x98\x80"', b"[1]\0", b'"a\0b"', b"\0", b"\xef\xbb",
    b"[\xe4\xb8\xad]", b'"\x7f\xc2\x80\xdf\xbf\xef\xbf\xbf\xf4\x8f\xbf\xbf"',
]
for i, j in enumerate(raw):
    put("json", "raw%02d" % i, j)
print("seeds written under", CORPUS)
