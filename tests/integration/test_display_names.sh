#!/usr/bin/env bash
# Display names as mail readers see them: customers (and the sender) with
# long ASCII names, doubled and edge spaces, quotes, backslashes, commas,
# parentheses, encoded-word look-alikes, Chinese names of 1 to 200
# characters, emoji, combining marks, right-to-left and mixed scripts each
# get a birthday e-mail, read back from the SMTP sink's Maildir with both of
# Python's parsers: email.policy.default (display_name, str of the field)
# and compat32 (getaddresses + decode_header).  Both must give back the
# name exactly (an encoded name has its white space runs made single
# spaces, see daemon/mime.c), with no defects, no two encoded-words side by
# side, and header lines within 78 unless one word is longer.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
smtp_start
CONF=$T_TMP/rapport.conf
rapport_config "$CONF"
# A sender name that needs a whole line of its own.
sed -i 's|from = "Acme Customer Care <care@example.com>";|from = "北京市朝阳区某某科技发展有限公司 <care@example.com>";|' "$CONF"
assert_contains "$(cat "$CONF")" "北京市朝阳区某某科技发展有限公司 <care@example.com>" "config: Chinese sender name"
assert_exit 0 "migrate" -- "$RAPPORTCTL" --config "$CONF" migrate

# The names and what each reader must see: written as Python, turned into
# the customer rows here and checked against the mail below.
cat >"$T_TMP/names.py" <<'PY'
cjk = "北京市朝阳区某某科技发展有限公司"
def cjk_name(n):
    s = (cjk * 13)[:n]
    return s if n <= 100 else s[:100] + "…"
words = " ".join("Word%d" % i for i in range(30))  # 178 characters
NAMES = [  # (name, expected display name)
    ("John Smith", None),
    ("Jonathan Alexander Maximilian Worthington-Smythe III, Esq. (Head of Global Procurement)", None),
    ("x" * 100, None),
    (words, words[:100] + "…"),
    ("a  b   c", None), (" leading", None), ("trailing ", None), ("  both  ", None), ("tab\there", None),
    ("Smith, John \"JJ\" (Sales)", None), ("back\\slash \\\"", None), ("a,b;c:d<e>@f[g].h", None),
    ("=?UTF-8?B?5L2g5aW9?=", None), ("literal =?UTF-8?B?5L2g5aW9?= stays", None), ("a=?b ?= c", None),
    ("😀" * 60, None), ("🎂😀 Cake 👍🏽 🇨🇳", None),
    ("Zhang San 张三 (Sales, Beijing) 李四 \"Li\" Ltd.", None),
    ("Beijing Chaoyang Technology Development Company Limited " + cjk, None),
    ("Zoe\u0308 Ame\u0301lie Nguye\u0302\u0303n", None), ("مريم \u202e RTL", None), ("שלום עולם", None),
    ("全角\u3000スペース", None),
    ("张三  李四", "张三 李四"), (" 张三 ", "张三"), ("Zhang  San\t张三 ", "Zhang San 张三"),
] + [(cjk_name(n), None) for n in (1, 2, 15, 16, 17, 50, 99, 100)] + [((cjk * 13)[:n], cjk_name(n)) for n in (101, 150, 200)]
NAMES = [(n, n if e is None else e) for n, e in NAMES]
PY

"$T_PY" - "$T_TMP/names.py" >"$T_TMP/customers.sql" <<'PY'
import sys
exec(open(sys.argv[1]).read())
print("INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES (1, 'Rep', 'rep@example.com', 'UTC', 'en', 8, true);")
print("INSERT INTO crm.customers (id, name, tier, email, birthday, time_zone, locale, rep_id, consent_email, active) VALUES")
print(",\n".join("(%d, '%s', 'A', 'n%d@example.com', '1980-11-23', 'UTC', '%s', 1, true, true)"
                 % (i + 1, n.replace("'", "''"), i + 1, "zh-CN" if i % 3 == 2 else "en") for i, (n, e) in enumerate(NAMES)) + ";")
PY
psql -XAtq -v ON_ERROR_STOP=1 -f "$T_TMP/customers.sql" >/dev/null || t_fail "customers" "insert failed"
n_names=$("$T_PY" -c 'import sys; exec(open(sys.argv[1]).read()); print(len(NAMES))' "$T_TMP/names.py")

assert_exit 0 "rapportd --once" -- "$RAPPORTD" --config "$CONF" --once --now 2026-11-23T12:00:00Z
assert_eq "$n_names" "$(psql_val "SELECT count(*) FROM rapport.outbox WHERE state = 'sent'")" "a birthday e-mail sent to each customer"
assert_eq "$n_names" "$(mail_count)" "the SMTP server received each of them"

# One line per check that fails: "customer N: what".
"$T_PY" - "$T_TMP/names.py" "$SMTP_MAILDIR" "$T_LIB_DIR/sinks" >"$T_TMP/check.out" 2>&1 <<'PY'
import email, email.header, email.policy, email.utils, mailbox, re, sys
from email.headerregistry import Address
exec(open(sys.argv[1]).read())
SENDER = ("北京市朝阳区某某科技发展有限公司", "care@example.com")
TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|=\?[^?]*\?[bBqQ]\?[^?]*\?=|<[^>]*>|[^ \t"]+')

def problems(raw, want):
    out = []
    new = email.message_from_bytes(raw, policy=email.policy.default)
    old = email.message_from_bytes(raw, policy=email.policy.compat32)
    if new.defects:
        out.append("message defects %r" % new.defects)
    for field, (name, addr) in (("From", SENDER), ("To", want)):
        h = new[field]
        if h.defects:
            out.append("%s defects %r" % (field, h.defects))
        got = [(a.display_name, a.addr_spec) for a in h.addresses]
        if got != [(name, addr)]:
            out.append("%s policy.default %r, not %r" % (field, got, (name, addr)))
        if str(h) != str(Address(display_name=name, addr_spec=addr)):
            out.append("%s str() %r" % (field, str(h)))
        got = [(str(email.header.make_header(email.header.decode_header(n))), a)
               for n, a in email.utils.getaddresses(old.get_all(field))]
        if got != [(name, addr)]:
            out.append("%s compat32 %r, not %r" % (field, got, (name, addr)))
        wire = old.get_all(field)[0]
        if re.search(r"\?=\s+=\?", wire):
            out.append("%s has encoded-words side by side: %r" % (field, wire))
    # The Subject (it holds the name too) reads the same in both.
    s_new = str(new["Subject"])
    s_old = str(email.header.make_header(email.header.decode_header("".join(old["Subject"].splitlines()))))
    if s_new != s_old:
        out.append("Subject %r (policy.default) vs %r (compat32)" % (s_new, s_old))
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    for line in head.split("\r\n"):
        if len(line) > 998:
            out.append("line of %d octets" % len(line))
        elif len(line) > 78 and len(TOKEN.findall(re.sub(r"^[A-Za-z-]+:", "", line))) > 1:
            out.append("line of %d foldable: %r" % (len(line), line))
    return out

sys.path.insert(0, sys.argv[3])
from mailread import split_sink_headers
box = mailbox.Maildir(sys.argv[2], create=False)
seen = set()
for key in box.keys():
    env, raw = split_sink_headers(box.get_bytes(key))
    i = int(re.fullmatch(r"<?n(\d+)@example\.com>?", env.get("x-envelope-to", "")).group(1)) - 1
    seen.add(i)
    name, want = NAMES[i]
    for p in problems(raw, (want, "n%d@example.com" % (i + 1))):
        print("customer %d (%r): %s" % (i + 1, name[:40], p))
for i in sorted(set(range(len(NAMES))) - seen):
    print("customer %d: no mail" % (i + 1))
print("checked %d" % len(seen))
PY
rc=$?
assert_eq 0 "$rc" "the Python check ran"
assert_contains "$(cat "$T_TMP/check.out")" "checked $n_names" "every mail checked"
assert_eq "" "$(grep -v '^checked ' "$T_TMP/check.out")" "each name (and the sender's) reads back exactly with policy.default and compat32"
t_summary
