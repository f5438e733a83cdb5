#!/usr/bin/env bash
# rapport.email_ok() (the planners' check, SQL) and email_address_valid()
# (the sender's, C) agree on every address: a differential test over some
# 1,800 tricky strings — dots, quotes, plus, specials, every ASCII byte at
# each place, Unicode, IP literals, local parts of 64/65 octets, labels of
# 63/64, addresses of 254/255, hyphens at label ends, trailing dots,
# upper case, spaces, CR/LF, seeded random junk — in a UTF8 database and
# in a SQL_ASCII one (where invalid UTF-8 can reach the check too).  The C
# function is the authority.  Then end to end: a customer whose address
# the sender would refuse is skipped at planning with its reason, never
# planned and failed at send.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

# The C check as a filter (built by `make unit-tests`; built here if not).
CHECK_C=$T_ROOT/build/reference/email_address_valid
make -s --no-print-directory -C "$T_ROOT" build/reference/email_address_valid >"$T_TMP/make.log" 2>&1 ||
    t_fail "build the C check" "$(cat "$T_TMP/make.log")"

rapport_db
smtp_start
CONF=$T_TMP/rapport.conf
rapport_config "$CONF"
assert_exit 0 "migrate (UTF8 database)" -- "$RAPPORTCTL" --config "$CONF" migrate
"$PG_BINDIR/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres -E SQL_ASCII -T template0 --locale=C ascii ||
    t_fail "createdb SQL_ASCII" "failed"
sed 's/dbname=rapport/dbname=ascii/' "$CONF" >"$T_TMP/ascii.conf"
assert_exit 0 "migrate (SQL_ASCII database)" -- "$RAPPORTCTL" --config "$T_TMP/ascii.conf" migrate

# The cases: cases.bin (NUL-terminated, for the C filter) and cases.tsv
# (hex, whether valid UTF-8), in the same order.
"$T_PY" - "$T_TMP" <<'PY'
import random, sys
out = sys.argv[1]
cases = []
add = lambda s: cases.append(s.encode() if isinstance(s, str) else s)

atext = "!#$%&'*+-/=?^_`{|}~"
for s in [
    # plain, plus, case
    "a@b.co", "first.last+tag@example.com", "user@localhost", "x_y-z@sub.example-host.cn", "o'neil@example.ie",
    "1@2.3", "A@B.CO", "User.Name@Example.COM", "UPPER@EXAMPLE.COM", "MiXeD.CaSe+TaG@ExAmPlE.Org",
    "a+b@example.com", "+@example.com", "a+@example.com", "+a@example.com", "a+b+c@example.com", "-@example.com",
    "a-b@example.com", "_@example.com", "a@b", "a@0", "a@0.0", "a@b.c.d.e.f.g", "a@a.b-c.d", "1@1.1",
    "a" + atext + "z@example.com", atext + "@example.com", "~@example.com", "{}|@example.com", "a'b'@example.com",
    # dots in the local part
    ".c26@example.com", "a..b@example.com", "b.@example.com", "a.b.c@example.com", ".@example.com",
    "..@example.com", "a.@b", ".a.b@example.com", "a.b.@example.com", "a...b@example.com", "a.b..c@example.com",
    "a.-.b@example.com", "a.+.b@example.com", "a@b..", ".@.", "a.@.b",
    # @ and structure
    "@", "a@", "@b", "a@@b.com", "a@b@c.com", "ab", "a", "", "@example.com", "plain", "a@b.c@", "@@", "a@.", "a@..",
    "a@.b", "a.b", "a@b.", "a@b..c",
    # quotes and specials
    '"a"@example.com', '"a b"@example.com', '"a@b"@example.com', 'a"b@example.com', '"@example.com',
    "a(b)@example.com", "a,b@example.com", "a;b@example.com", "a:b@example.com", "a[b]@example.com",
    "a\\b@example.com", "a<b@example.com", "a>b@example.com", "<a@example.com>", "Name <a@example.com>",
    "a@example.com, b@example.com", "a@example.com;b@example.com", "(c)a@example.com", "a@example.com(c)",
    # whitespace and controls
    "a b@example.com", " a@example.com", "a@example.com ", "a@exa mple.com", "a\t@example.com", "a@example.com\t",
    "a\r\n@example.com", "a@example.com\r\nBcc: x@y.z", "a@example.com\n", "a@example.com\r", "\na@example.com",
    "a@example.com\r\n", "a\x0b@example.com", "a\x0c@example.com", "a\x7f@example.com", "a@\x01.com",
    "a\x1b[31m@example.com", "a@example.com\x7f",
    # IP literals and numbers
    "a@[127.0.0.1]", "a@[IPv6:::1]", "a@[IPv6:2001:db8::1]", "a@127.0.0.1", "a@1.2.3.4", "a@[1.2.3.4",
    "a@1.2.3.4]", "a@[]", "a@256.256.256.256", "a@0x7f.0.0.1",
    # domain labels
    "a@example.com.", "a@.example.com", "a@example..com", "a@-example.com", "a@example-.com", "a@ex-ample.com",
    "a@ex--ample.com", "a@xn--fsq.xn--fiqs8s", "a@xn--bcher-kva.example", "a@-.com", "a@a-.b", "a@1-2.3",
    "a@-", "a@a-", "a@-a", "a@a.-", "a@a.b-", "a@a.-b", "a@exa_mple.com", "a@example.c_m", "a@exam!ple.com",
    "a@example.com/", "a@example.com:25", "a@example.com>", "a@ex+ample.com", "a@ex'ample.com", "a@ex.ample.",
    "a@localhost.", "a@*.example.com", "a@%.com",
    # Unicode (IDN in its U-label form, lookalikes, invisible characters)
    "用户@example.com", "user@例子.中国", "é@example.com", "a@exämple.com", "ü@ü.de", "a\u00a0@example.com",
    "a\u200b@example.com", "a\uff20example.com", "a@example\u3002com", "\U0001f600@example.com", "a@\U0001f600.com",
    "a@b\u2024com", "\u0430@example.com", "a@ex\u0430mple.com", "a\u0301@example.com", "a@example.com\u200e",
    "\ufeffa@example.com", "a@example.co\u1d0d",
]:
    add(s)

# Lengths: local parts, labels (alone, first, last, with hyphens), totals.
for n in (1, 2, 62, 63, 64, 65, 66, 100):
    add("c" * n + "@example.com")
    add(("ab." * 40)[:n - 1].rstrip(".") + "z" + "@example.com" if n > 1 else "z@example.com")
    add("C" * n + "@EXAMPLE.COM")
for m in (1, 2, 61, 62, 63, 64, 65, 100):
    label = "d" * m
    add("x@" + label + ".com")
    add("x@a." + label)
    add("x@" + label)
    add("x@a." + label + ".b")
    if m >= 2:
        add("x@d" + "-" * (m - 2) + "d.com")
        add("x@" + "-" + "d" * (m - 1) + ".com")
        add("x@" + "d" * (m - 1) + "-.com")
    add(("c" * 64) + "@" + label + ".com")
def domain(n):  # n octets of valid labels (50 each, the last shorter)
    labels = []
    while n > 51:
        labels.append("d" * 50)
        n -= 51
    labels.append("e" * n)
    return ".".join(labels)
for total in (250, 252, 253, 254, 255, 256, 300):
    for local in (1, 10, 64):
        if total - local - 1 >= 1:
            add("c" * local + "@" + domain(total - local - 1))
    add("c" * 64 + "@" + domain(total - 65).upper())
add(("a." * 32)[:63] + "@" + domain(190))       # 63 + 1 + 190 = 254
add(("a." * 32)[:63] + "@" + domain(191))       # 255
add("a@" + ".".join(["d" * 63] * 3) + "." + "e" * 61)   # 254, labels of 63
add("a@" + ".".join(["d" * 63] * 3) + "." + "e" * 62)   # 255
add("a@" + ".".join(["d" * 63] * 3) + "." + "e" * 64)   # 257 and a label of 64

# Every ASCII byte (but NUL) at each place.
for b in range(1, 128):
    c = chr(b)
    for s in ("a%sb@example.com", "%s@example.com", "ab%s@example.com", "a@ex%sample.com", "a@%sexample.com",
              "a@example%s.com", "a@example.com%s", "a@example.%scom"):
        add(s % c)

# Seeded random junk: strings from a hostile alphabet, and mutations of
# valid addresses.
rnd = random.Random(20261123)
alphabet = list("aZ09.-@_+~'\"!# \t\r\n()<>[]:;,\\é用\x7f") + ["..", ".@", "@.", "-.", ".-", "xn--"]
for _ in range(400):
    add("".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 12))))
valid = ["first.last+tag@example.com", "a@b.co", "user@localhost", "x_y-z@sub.example-host.cn", "o'neil@example.ie"]
for _ in range(400):
    s = list(rnd.choice(valid))
    for _ in range(rnd.randint(1, 3)):
        i = rnd.randrange(len(s) + 1)
        op = rnd.randrange(3)
        if op == 0:
            s.insert(i, rnd.choice(alphabet))
        elif op == 1 and i < len(s):
            del s[i]
        elif i < len(s):
            s[i] = rnd.choice(alphabet)
    add("".join(s))

# Invalid UTF-8: only a SQL_ASCII database can hold it.
for s in (b"bad\xff@example.com", b"a@ex\xc3\x28.com", b"\xe2\x82@x.y", b"a@b.c\x80", b"\xc0\xaf@example.com",
          b"a@\xed\xa0\x80.com", b"\xfe@\xff"):
    add(s)

seen = set()
with open(out + "/cases.bin", "wb") as fb, open(out + "/cases.tsv", "w") as ft:
    for s in cases:
        assert b"\0" not in s
        if s in seen:
            continue
        seen.add(s)
        try:
            s.decode("utf-8")
            utf8 = "t"
        except UnicodeDecodeError:
            utf8 = "f"
        fb.write(s + b"\0")
        ft.write("%s\t%s\n" % (s.hex(), utf8))
PY
"$CHECK_C" <"$T_TMP/cases.bin" >"$T_TMP/verdicts" || t_fail "the C check" "exit status $?"
assert_eq "$(wc -l <"$T_TMP/cases.tsv")" "$(wc -l <"$T_TMP/verdicts")" "the C check judged every case"
paste "$T_TMP/cases.tsv" "$T_TMP/verdicts" >"$T_TMP/judged.tsv"
echo "cases: $(wc -l <"$T_TMP/judged.tsv") ($(grep -c 't$' "$T_TMP/judged.tsv") valid for the sender)"

# differ DB — compare rapport.email_ok with the C verdicts in DB; prints
# "checked/valid/invalid/disagreeing" and then the disagreements.
differ() {
    psql -XAtq -v ON_ERROR_STOP=1 -d "$1" <<SQL
CREATE TEMP TABLE judged (hex text, utf8 boolean, c boolean);
\\copy judged FROM '$T_TMP/judged.tsv'
CREATE TEMP TABLE cmp AS
SELECT hex, c, rapport.email_ok(convert_from(decode(hex, 'hex'), getdatabaseencoding())) AS sql
FROM judged WHERE utf8 OR getdatabaseencoding() = 'SQL_ASCII';
SELECT count(*) || '/' || count(*) FILTER (WHERE c) || '/' || count(*) FILTER (WHERE NOT c) || '/'
       || count(*) FILTER (WHERE sql IS DISTINCT FROM c) FROM cmp;
SELECT format('C %s, SQL %s: %s', c, sql, quote_literal(convert_from(decode(hex, 'hex'), getdatabaseencoding())))
FROM cmp WHERE sql IS DISTINCT FROM c LIMIT 30;
SQL
}
for db in rapport ascii; do
    res=$(differ "$db" 2>&1)
    counts=$(head -n 1 <<<"$res")
    IFS=/ read -r n nvalid ninvalid ndiff <<<"$counts"
    echo "$db: $n cases, $nvalid valid, $ninvalid invalid, $ndiff disagreeing"
    if [[ ${ndiff:-x} == 0 ]]; then
        t_pass "$db: rapport.email_ok agrees with email_address_valid on all $n cases"
    else
        t_fail "$db: rapport.email_ok disagrees with email_address_valid" "$res"
    fi
    if ((${nvalid:-0} >= 100 && ${ninvalid:-0} >= 1000)); then t_pass "$db: both verdicts well represented"; else
        t_fail "$db: verdicts" "$counts"; fi
done
assert_eq 7 "$(grep -c $'\tf\t[tf]$' "$T_TMP/judged.tsv")" "invalid UTF-8 cases, for the SQL_ASCII database only"

# The reviewer's cases by name, and NULL (false, not NULL: the planners
# test NOT rapport.email_ok(...)).
assert_eq "f|f|f|f|f|f" "$(psql_val "SELECT rapport.email_ok('.c26@example.com'), rapport.email_ok('a..b@example.com'),
    rapport.email_ok('b.@example.com'), rapport.email_ok(repeat('c', 65) || '@example.com'),
    rapport.email_ok('d@' || repeat('d', 64) || '.com'), rapport.email_ok(NULL)")" "the reported addresses and NULL: false"
assert_eq "t|t" "$(psql_val "SELECT rapport.email_ok(repeat('c', 64) || '@example.com'), rapport.email_ok('d@' || repeat('d', 63) || '.com')")" \
    "64-octet local part and 63-octet label: true"
# Still an IMMUTABLE SQL expression the planners' queries inline.
assert_eq "i|sql" "$(psql_val "SELECT p.provolatile::text || '|' || l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.oid = 'rapport.email_ok(text)'::regprocedure")" \
    "email_ok: IMMUTABLE, LANGUAGE sql"
plan=$(psql_val "EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM crm.customers WHERE NOT rapport.email_ok(email)")
assert_contains "$plan" "~" "the plan tests the address with the pattern"
assert_not_contains "$plan" "email_ok" "email_ok is inlined into the planners' queries"

# End to end: the reported addresses are skipped at planning with their
# reason; the boundary cases that are valid are sent.
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES
 (1, 'Rep', 'rep@example.com', 'UTC', 'en', 8, true);
INSERT INTO crm.customers (id, name, tier, email, birthday, time_zone, locale, rep_id, consent_email, active) VALUES
 (1, 'Fine', 'A', 'ok@example.com', '1980-11-23', 'UTC', 'en', 1, true, true),
 (2, 'Double Dot', 'A', 'a..b@example.com', '1980-11-23', 'UTC', 'en', 1, true, true),
 (3, 'Leading Dot', 'A', '.c26@example.com', '1980-11-23', 'UTC', 'en', 1, true, true),
 (4, 'Trailing Dot', 'A', 'b.@example.com', '1980-11-23', 'UTC', 'en', 1, true, true),
 (5, 'Long Local', 'A', repeat('c', 65) || '@example.com', '1980-11-23', 'UTC', 'en', 1, true, true),
 (6, 'Long Label', 'A', 'd@' || repeat('d', 64) || '.com', '1980-11-23', 'UTC', 'en', 1, true, true),
 (7, 'Local 64', 'A', repeat('c', 64) || '@example.com', '1980-11-23', 'UTC', 'en', 1, true, true),
 (8, 'Label 63', 'A', 'd@' || repeat('d', 63) || '.com', '1980-11-23', 'UTC', 'en', 1, true, true);
SQL
run "rapportd --once" "$CONF" 2026-11-23T12:00:00Z
settle
assert_eq "2:invalid e-mail address,3:invalid e-mail address,4:invalid e-mail address,5:invalid e-mail address,6:invalid e-mail address" \
    "$(psql_val "SELECT string_agg(customer_id || ':' || reason, ',' ORDER BY customer_id) FROM rapport.skipped")" \
    "a..b@example.com and the others: skipped at planning as 'invalid e-mail address'"
assert_eq "1:sent,7:sent,8:sent" \
    "$(psql_val "SELECT string_agg(customer_id || ':' || state, ',' ORDER BY customer_id) FROM rapport.outbox")" \
    "only the valid addresses planned, and sent (none failed)"
assert_eq 3 "$(mail_count)" "three greetings received"
t_summary
