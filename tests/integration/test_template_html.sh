#!/usr/bin/env bash
# The HTML parts of the shipped e-mail templates, as a mail client gets them:
# each is rendered by `rapportctl render` against a context of hostile but
# real data (a 40-character Chinese company name, long addresses, < & " in
# names, an Arabic and an emoji name, amounts in five currencies) and read
# with Python's html.parser.  Rules (templates/README.md, "Layout"):
#   - <html lang dir>, <meta charset="utf-8"> and a viewport, so a phone's
#     mail app shows the message at its own width rather than a zoomed-out
#     desktop page;
#   - a fixed-width table also says width:100%;max-width:Npx, so on a
#     375-pixel screen it narrows instead of running off the right edge,
#     and lets a long e-mail address or link break (overflow-wrap:anywhere,
#     after the legacy word-wrap:break-word, which would otherwise win);
#   - the labels of the complaint alerts' fact tables stay on one line
#     ("提出时间", not "提出" over "时间");
#   - a reminder's invoice table is two columns (invoice with its due date
#     and how overdue, amount) and one Total row for all currencies, and an
#     invoice listed before its due date (a courtesy level reached with a
#     later one) says "not yet due";
#   - text colours (the unsubscribe line too) have 4.5:1 contrast on white;
#   - no scripts, images, external style sheets or remote resources;
#   - the digest's item tables have fixed column widths and let a long
#     e-mail address break, so one customer's long address cannot squeeze
#     every other row's text into a column a word wide, and a level's
#     totals in five currencies wrap between currencies.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"
D=$T_TMP/html
mkdir -p "$D"

"$T_PY" - "$D" <<'PY'
import json, sys
d = sys.argv[1]
long_cn = "上海浦东新区张江高科技园区国际生物医药创新研究与产业化发展集团股份有限公司"
cust = [
    {"id": 1, "name": long_cn, "tier": "A", "key_account": True,
     "email": "procurement.department.head.international@zhangjiang-biomedical-innovation-group.com.cn", "phone": "+8613812345678"},
    {"id": 2, "name": "Smith & Sons <Trading> \"Best\" Ltd", "tier": "B", "email": "accounts+billing@very-long-subdomain.example.co.uk", "phone": None},
    {"id": 3, "name": "شركة الأمل للتجارة العامة", "tier": "C", "email": None, "phone": "+971501234567"},
    {"id": 4, "name": "🌸 Sakura Café 🍰", "tier": "B", "email": None, "phone": None},
    {"id": 5, "name": None, "tier": "C", "email": "c5@example.com", "phone": "+8613800000005"},
]
cur = ["CNY", "EUR", "JPY", "USD", "BHD"]
amt = ["1,234,567,890.12", "987,654.32", "1,500,000", "12.50", "10.125"]
totals = [{"currency": c, "amount": a} for c, a in zip(cur, amt)]
inv = [{"id": i, "number": "INV-2026-%06d" % i, "amount": amt[i], "currency": cur[i], "issued_on": "2026-08-01",
        "due_on": "2026-10-24", "overdue": i < 4, "days_overdue": 30 - i if i < 4 else 0, "days_overdue_plural": True,
        "days_until_due": 0 if i < 4 else 3, "level_days": 30, "newly_due": True} for i in range(5)]
one = {"sender": "Acme Customer Care", "unsubscribe_url": "https://example.com/unsubscribe?id=1&token=abc",
       "survey_url": "https://example.com/survey?complaint=7", "today": "2026-11-23", "date": "2026-11-23",
       "year": 2026, "month": 11, "day": 23, "birthday": "2026-11-23", "birthday_on_file": "11-23",
       "customer": cust[0], "rep": {"id": 2, "name": "李娜 O'Brien", "email": "lina.obrien.regional.sales@example.com.cn",
       "phone": "+8613900000002"}, "recipient": {"name": "王强"}, "covering": True,
       "holiday": {"name": "Spring Festival", "date": "2026-11-23", "year": 2026, "month": 11, "day": 23},
       "due_on": "2026-11-23", "overdue": True, "days_overdue": 27, "days_overdue_plural": True, "planned": True,
       "next_follow_up": "2026-11-23", "cadence_exceeded": True, "cadence_days": 7, "last_contact": "2026-10-20",
       "days_since_contact": 34, "last_activity": "2026-10-20", "last_interaction": "2026-10-20",
       "last_invoice": "2026-09-01", "days_inactive": 34, "dormant_days": 30, "dormant_since": "2026-11-19",
       "invoices": inv, "mixed_levels": True, "invoice_count": 5, "multiple": True, "totals": totals,
       "overdue_count": 4, "all_overdue": False, "any_overdue": True,
       "max_days_overdue": 30, "level": {"days": 30, "before_due": False, "days_before": 0, "bad_debt_risk": True},
       "complaint": {"id": 7, "summary": "冷链运输温度超标 & the <invoice> was wrong", "severity": "critical",
                     "critical": True, "opened_at": "2026-11-23 08:30", "opened_on": "2026-11-23",
                     "resolved_at": "2026-11-21 11:00", "resolved_on": "2026-11-21", "response_hours": 4,
                     "deadline": "2026-11-23 12:30", "hours_open": 10, "hours_late": 6}}
json.dump(one, open(d + "/one.json", "w"), ensure_ascii=False)

def sec(items, **kw):
    s = {"count": len(items) + 3, "items": items, "more": 3}
    s.update(kw)
    return s
levels = [{"days": n, "count": 8, "bad_debt_risk": n >= 60, "more": 3, "totals": totals,
           "items": [{"customer": c, "number": "INV-%d-%d" % (n, i), "amount": amt[i], "currency": cur[i],
                      "due_on": "2026-09-24", "days_overdue": n + i, "days_overdue_plural": True,
                      "bad_debt_risk": n >= 60} for i, c in enumerate(cust)]} for n in (60, 30, 15, 1)]
digest = {"sender": "Acme Customer Care", "rep": {"id": 2, "name": "李娜"}, "date": "2026-11-23", "month": 11,
          "day": 23, "total": 99, "total_plural": True, "empty": False, "is_manager": True, "max_items": 5,
          "follow_ups": sec([{"customer": c, "due_on": "2026-10-27", "days_overdue": 27, "days_overdue_plural": True,
                              "overdue": True, "planned": True, "planned_on": "2026-11-01", "cadence_days": 7,
                              "last_contact": "2026-10-20", "days_since_contact": 34, "never_contacted": False}
                             for c in cust]),
          "birthdays": sec([{"customer": c, "date": "2026-11-25", "month": 11, "day": 25, "in_days": 2,
                             "today": False, "tomorrow": False, "age": 41} for c in cust], lookahead_days=14),
          "dormant": sec([{"customer": c, "last_activity": "2026-09-20", "days_inactive": 64, "dormant_days": 60}
                          for c in cust]),
          "receivables": {"count": 32, "levels": levels},
          "complaints": sec([{"customer": c, "id": 100 + i, "severity": "critical", "critical": True,
                              "summary": "冷链运输温度超标 & <b>", "opened_on": "2026-11-20", "hours_open": 80,
                              "response_hours": 4, "hours_late": 76, "escalated": True, "manager_alerted": i % 2 == 0}
                             for i, c in enumerate(cust)]),
          "escalations": sec([dict({"customer": c, "rep": {"name": "赵敏", "inactive": i % 2 == 1}},
                                   **({"invoice": {"number": "INV-%d" % i, "amount": amt[i], "currency": cur[i],
                                                   "due_on": "2026-09-01", "days_overdue": 83, "days_overdue_plural": True}}
                                      if i < 3 else
                                      {"complaint": {"id": 200 + i, "severity": "high", "critical": False,
                                                     "summary": "系统故障", "opened_on": "2026-11-20",
                                                     "hours_open": 80, "response_hours": 24}}))
                              for i, c in enumerate(cust)], invoices=10, complaints=8)}
json.dump(digest, open(d + "/digest.json", "w"), ensure_ascii=False)
PY

n=0
for f in "$T_ROOT"/templates/*.email.*.mustache; do
    name=$(basename "$f" .mustache)
    data=$D/one.json
    [[ $name == digest.* ]] && data=$D/digest.json
    if ! "$RAPPORTCTL" render --template "$f" --data "$data" >"$D/$name.out" 2>"$D/$name.err"; then
        t_fail "$name renders" "$(cat "$D/$name.err")"
        continue
    fi
    sed -n '/^--- html ---$/,$p' "$D/$name.out" | tail -n +2 >"$D/$name.html"
    n=$((n + 1))
done
assert_eq 1 "$((n >= 32))" "every shipped e-mail template rendered ($n)"
# Chinese puts no space between 尊敬的 and the name it honours.
assert_eq "" "$(grep -l '尊敬的 ' "$D"/*.zh-CN.out)" "zh-CN: '尊敬的' directly before the customer's name"

out=$("$T_PY" - "$D"/*.html <<'PY'
import re, sys
from html.parser import HTMLParser

class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.problems = [], []
        self.html_attrs, self.metas, self.tables = None, [], []
        self.cells = []          # (tag, attrs, enclosing table attrs, text)
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        style = a.get("style", "") or ""
        if tag == "html":
            self.html_attrs = a
        if tag == "meta":
            self.metas.append(a)
        if tag in ("script", "img", "link", "iframe", "object", "embed", "style", "form"):
            self.problems.append("<%s> in the HTML" % tag)
        for k, v in a.items():
            if k in ("src", "background") or (v and "url(" in v):
                self.problems.append("remote resource: %s=%r" % (k, v))
            if k.startswith("on"):
                self.problems.append("event handler " + k)
        if tag == "table":
            self.tables.append(a)
        if tag in ("td", "th"):
            self.cells.append([tag, a, self.tables[-1] if self.tables else {}, ""])
        if tag not in ("br", "meta", "link", "img", "hr"):
            self.stack.append((tag, a))
    def handle_endtag(self, tag):
        while self.stack:
            t, _ = self.stack.pop()
            if t == tag:
                break
        if tag == "table" and self.tables:
            self.tables.pop()
    def handle_data(self, data):
        if self.cells:
            self.cells[-1][3] += data

bad = 0
for path in sys.argv[1:]:
    name = path.rsplit("/", 1)[1][:-5]
    src = open(path, encoding="utf-8").read()
    p = Page()
    p.feed(src)
    probs = list(p.problems)
    h = p.html_attrs or {}
    if not h.get("lang"):
        probs.append("<html> without lang")
    if h.get("dir") not in ("ltr", "rtl", "auto"):
        probs.append("<html> without dir")
    if not any((m.get("charset") or "").lower() == "utf-8" for m in p.metas):
        probs.append('no <meta charset="utf-8">')
    if not any(m.get("name") == "viewport" and "width=device-width" in (m.get("content") or "") for m in p.metas):
        probs.append("no viewport <meta>")
    for t in re.finditer(r"<table\b[^>]*>", src):
        tag = t.group(0)
        w = re.search(r'\bwidth="(\d+)"', tag)
        if w:
            style = (re.search(r'style="([^"]*)"', tag) or [None, ""])[1].replace(" ", "")
            if "width:100%" not in style or "max-width:%spx" % w.group(1) not in style:
                probs.append("a table %spx wide that cannot narrow to a phone's width" % w.group(1))
            elif "overflow-wrap:anywhere" not in style.split("word-wrap:break-word", 1)[-1]:
                probs.append("a long address or URL cannot wrap: overflow-wrap:anywhere missing (or overridden) on the %spx card" % w.group(1))
    def contrast(hexcol):  # against white, WCAG 2
        def lin(c):
            c /= 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
        r, g, b = (int(hexcol[i:i + 2], 16) for i in (0, 2, 4))
        return 1.05 / (0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b) + 0.05)
    for col in set(re.findall(r"(?<![-\w])color:#([0-9a-fA-F]{6})", src)):
        if col.lower() != "ffffff" and contrast(col) < 4.5:
            probs.append("text colour #%s on white is %.1f:1, below 4.5:1" % (col, contrast(col)))
    if name.startswith("complaint_overdue.") or name.startswith("complaint_escalation."):
        for tag, a, table, text in p.cells:
            if tag == "td" and text.strip() in ("Complaint", "Opened", "Answer was due", "Responsible rep",
                                                "投诉", "提出时间", "答复时限", "负责人"):
                if "white-space:nowrap" not in (a.get("style") or "").replace(" ", ""):
                    probs.append("label %r can break over two lines" % text.strip())
    if re.match(r"dunning_(friendly|firm|rep_call|manager)\.", name):
        text = "".join(c[3] for c in p.cells)
        if "not yet due" not in text and "尚未到期" not in text:
            probs.append("an invoice listed before its due date reads as unpaid past due (no 'not yet due')")
    if name.startswith("dunning_"):
        labels = [c for c in p.cells if c[3].strip() in ("Total", "合计")]
        if len(labels) != 1:
            probs.append("%d 'Total' rows for one set of totals" % len(labels))
    if name.startswith("digest."):
        fixed = [t for t in re.findall(r"<table\b[^>]*>", src) if "table-layout:fixed" in t]
        if not fixed:
            probs.append("digest: item tables without fixed column widths")
        if re.search(r'</span><span style="white-space:nowrap', src):
            probs.append("digest: unbreakable runs glued together (a line of totals wider than a phone)")
        for tag, a, table, text in p.cells:
            if "@" in text and "example" in text:
                st = (a.get("style") or "").replace(" ", "")
                if "table-layout:fixed" not in (table.get("style") or "") or \
                        not ("overflow-wrap:anywhere" in st or "word-break:break-all" in st):
                    probs.append("digest: a cell with an e-mail address that cannot wrap: " + text[:60])
                    break
    for q in probs:
        print("%s: %s" % (name, q))
        bad += 1
sys.exit(1 if bad else 0)
PY
)
if [[ $? == 0 ]]; then
    t_pass "the HTML parts follow the layout rules"
else
    t_fail "the HTML parts follow the layout rules" "$out"
fi
t_summary
