#!/usr/bin/env python3
"""Reference model of the digest job, written from the documented rules
(README "Jobs" / "The digest", rapport.conf(5) "digest", templates/README.md
"digest"), not from jobs/digest.c; and a generator of small random CRMs
whose dates sit near the rules' edges.  tests/integration/test_digest_reference.sh
builds the digests with `rapportctl run digest --dry-run --now T` through a
template (digest_dump_template below) that writes every key fact of the
built context one item a line, and compares them with this model.

The rules, as documented:

  who        every active rep (valid zone, e-mail), once per local date, at
             digest_hour:00 in the rep's zone (a time in a DST gap goes that
             much later, a repeated one is its second occurrence), or later
             within max_lateness (12 h by default); not for dates before
             effective_from (compared with the rep's date).  A digest
             whose sections are all empty is not sent unless send_empty.
  today      the rep's date the digest is for; "now" is the send instant.
  customers  a rep sees only the active customers whose rep_id is theirs.
  follow-ups (every tier) due on the explicit plan next_follow_up unless an
             interaction was recorded on or after that day, or on the day
             of the last interaction (else of creation) + cadence_days[tier],
             both dates on the rep's calendar; due when on or before today;
             due_on the earlier of those that came; a dormant customer only
             with an explicit plan fallen due; most overdue first.
  birthdays  the next occurrence from today to today + lookahead_days; Feb 29
             in common years on Feb 28 / Mar 1 / not at all (feb29); age =
             the occurrence's year - the birth year.
  dormant    last activity = the later of the last interaction (its date in
             the customer's zone) and the last invoice's issued_on, else the
             creation date (customer's zone); dormant when last activity +
             dormant_days[tier] <= today; days_inactive = today - it.
  receivables unpaid (paid_on NULL), amount > 0, due_on before today; grouped
             by the highest ladder level reached (ladder_days and, a step of
             its own, bad_debt_days; those past due that have not reached
             the first: see LEVEL_BELOW_FIRST), worst first;
             per level: count, totals per currency, bad_debt_risk (level >=
             bad_debt_days), at most max_items items and "more"; each item
             bad_debt_risk when days_overdue >= bad_debt_days.  Amounts as
             their currency writes them (grouped, minor units, never rounded).
  complaints open, deadline = opened_at + response_hours[severity] passed
             (at or before now); hours_open, hours_late (floored),
             escalated (past twice the deadline); opened_on a date in the
             recipient's (the rep's) zone, as every date in a template.
  escalations a rep with direct reports (other reps whose manager_id is
             theirs, active or not): the reports' active customers' unpaid
             invoices at least bad_debt_days overdue (by the manager's
             date) and open complaints past twice their deadline.
  sections   null when empty; count (all), items (at most max_items), more.
  thresholds the digest's own settings, else the owning job's (birthdays
             lookahead_days and feb29, follow_ups cadence_days, dormant
             dormant_days, complaints response_hours, receivables levels'
             days after the due date and bad_debt_days), else the defaults.

LEVEL_BELOW_FIRST: rapport.conf(5) says "level 0 holds invoices past due
that have not reached the first"; commit 0bad1e2 made it level 1 on purpose
("an invoice overdue by less than the ladder's first level reads '1+ days
overdue', not '0+'", tested in test_send_time_build) and left the manual
as it was.  The model follows the later decision; the manual is stale.

Orders the documentation does not give (ties among the most overdue
follow-ups, birthdays, dormant customers, the items of a receivables level,
complaints, escalations) are taken as the SQL has them and are listed in
UNDOCUMENTED_ORDERS; the escalations' SQL order has no tie-break, so ties
there are compared as sets (see compare()).

Usage:
  digest_reference.py gen SEED DIR
      DIR/ds.json, DIR/data.sql, DIR/jobs.conf, DIR/default_tz, DIR/nows,
      DIR/expected ("== NOW" then the model's lines for each digest).
  digest_reference.py expect DS.json NOW      the model's lines at NOW
  digest_reference.py compare DS.json NOW GOT  GOT: the dry run's output;
      prints the differences, exits 1 if any.
"""
import json
import random
import re
import sys
from datetime import date, time, timedelta, timezone
from decimal import Decimal

# The calendar helpers are the planning model's, so both read local times alike.
from plan_reference import (birthday_on, fmt_instant, last_activity, local_date, local_to_utc, parse_instant, sql_lit,
                            zone)

UTC = timezone.utc
TIER_DEFAULTS = {
    "cadence_days": {"A": 7, "B": 30, "C": 90},
    "dormant_days": {"A": 30, "B": 60, "C": 180},
}
RESPONSE_DEFAULTS = {"critical": 4, "high": 24, "normal": 72, "low": 168}
LADDER_DEFAULT = [1, 15, 30, 60]
UNDOCUMENTED_ORDERS = {
    "follow_ups": "ties of days_overdue: tier, then name",
    "birthdays": "date, then name",
    "dormant": "tier, days_inactive ascending, name",
    "receivables items": "days_overdue descending, number",
    "complaints": "hours past the deadline descending, id",
    "escalations": "invoices first, most overdue first; complaints most overdue first; no tie-break",
}

def b(x):
    return "true" if x else "false"


def num(x):
    """A JSON number as the template engine writes it."""
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


MINOR0 = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF",
          "XOF", "XPF"}
MINOR3 = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}


def fmt_amount(a, cur):
    """"as its currency writes it: thousands grouped, the currency's minor
    units, never rounded" (templates/README.md)."""
    a = Decimal(a)
    minor = 0 if cur.upper() in MINOR0 else 3 if cur.upper() in MINOR3 else 4 if cur.upper() in ("CLF", "UYW") else 2
    exp = a.normalize().as_tuple().exponent
    scale = max(0, -exp) if isinstance(exp, int) else 0
    return f"{a:,.{max(minor, scale)}f}"


# ---------------------------------------------------------------- settings


def settings(ds):
    """The digest's effective thresholds: its own, else the owning job's,
    else the defaults."""
    d = ds["digest"]
    o = ds.get("others", {})

    def pick(name, job, jname, default):
        if name in d:
            return d[name]
        if jname in o.get(job, {}):
            return o[job][jname]
        return default

    tiers = {}
    for name, job in (("cadence_days", "follow_ups"), ("dormant_days", "dormant")):
        m = dict(TIER_DEFAULTS[name])
        src = d.get(name) if name in d else o.get(job, {}).get(name, {})
        m.update(src)
        tiers[name] = m
    rh = dict(RESPONSE_DEFAULTS)
    rh.update(d["response_hours"] if "response_hours" in d else o.get("complaints", {}).get("response_hours", {}))
    if "ladder_days" in d:
        ladder = d["ladder_days"]
    elif "levels" in o.get("receivables", {}):
        ladder = [lv for lv in o["receivables"]["levels"] if lv > 0]  # "their days after the due date"
    else:
        ladder = LADDER_DEFAULT
    bad_debt = pick("bad_debt_days", "receivables", "bad_debt_days", 60)
    return {
        "lookahead": pick("birthday_lookahead_days", "birthdays", "lookahead_days", 7),
        "feb29": pick("feb29", "birthdays", "feb29", "feb28"),
        "cadence": tiers["cadence_days"],
        "dormant": tiers["dormant_days"],
        "response": rh,
        "ladder": sorted(set(ladder) | {bad_debt}),  # rapport.conf(5), ladder_days
        "bad_debt": bad_debt,
        "max_items": d.get("max_items", 50),
        "send_empty": d.get("send_empty", False),
        "lateness": d.get("max_lateness", 43200),
        "eff": date.fromisoformat(d["effective_from"]),
    }


# ---------------------------------------------------------------- the model


def due_digests(ds, now, s):
    """(rep, today, due_at) of every digest due at now."""
    out = []
    for r in ds["reps"]:
        if not r["active"]:
            continue
        tz = r["tz"] or ds["default_tz"]
        here = local_date(now, tz)
        for k in range(0, 9):
            d = here - timedelta(days=k)
            at = local_to_utc(d, time(r["digest_hour"]), tz)
            if at <= now <= at + timedelta(seconds=s["lateness"]) and d >= s["eff"]:
                out.append((r, d, at))
    return out


def customer_line(c):
    return "|".join((str(c["id"]), c["name"], c["tier"], b(c["tier"] == "A"), c["email"] or "", c["phone"] or ""))


def section(tag, items, s, extra="", cut=True):
    """Lines of a section: "TAG|count|more[|extra]", then its items (at
    most max_items, unless not cut)."""
    if not items:
        return []
    shown = items[: s["max_items"]]
    if not cut:
        return [f"{tag}|{len(items)}|{len(items) - len(shown)}{extra}"] + items
    return [f"{tag}|{len(items)}|{len(items) - len(shown)}{extra}"] + shown


def build(ds, rep, today, now, s):
    """The model's lines of one rep's digest for the date today, built at
    now; None if it would not be sent."""
    rtz = rep["tz"] or ds["default_tz"]
    reps = {r["id"]: r for r in ds["reps"]}
    last_at, last_inv = last_activity(ds)
    mine = [c for c in ds["customers"] if c["active"] and c["rep_id"] == rep["id"]]

    def last_date(c):
        ctz = c["tz"] or ds["default_tz"]
        ds_ = []
        if c["id"] in last_at:
            ds_.append(local_date(last_at[c["id"]], ctz))
        if c["id"] in last_inv:
            ds_.append(last_inv[c["id"]])
        return max(ds_) if ds_ else local_date(parse_instant(c["created_at"]), ctz)

    def dormant(c):
        return last_date(c) + timedelta(days=s["dormant"][c["tier"]]) <= today

    # follow-ups
    fu = []
    for c in mine:
        last = last_at.get(c["id"])
        lc = local_date(last, rtz) if last else None
        plan = None
        if c["next_follow_up"]:
            nfu = date.fromisoformat(c["next_follow_up"])
            if lc is None or lc < nfu:
                plan = nfu
        cad = (lc or local_date(parse_instant(c["created_at"]), rtz)) + timedelta(days=s["cadence"][c["tier"]])
        came = [d for d in (plan, cad) if d is not None and d <= today]
        if not came:
            continue
        planned = plan is not None and plan <= today
        if dormant(c) and not planned:
            continue
        due = min(came)
        n = (today - due).days
        fu.append(((-n, c["tier"], c["name"]),
                   "|".join(("FU", customer_line(c), due.isoformat(), str(n), b(n != 1), b(n > 0), b(planned),
                             plan.isoformat() if planned else "*", str(s["cadence"][c["tier"]]),
                             lc.isoformat() if lc else "", str((today - lc).days) if lc else "", b(lc is None)))))
    fu = [x for _, x in sorted(fu)]

    # birthdays
    bd = []
    for c in mine:
        if not c["birthday"]:
            continue
        born = date.fromisoformat(c["birthday"])
        occ = [d for d in (birthday_on(born, y, s["feb29"]) for y in (today.year, today.year + 1))
               if d is not None and d >= today]
        if not occ or occ[0] > today + timedelta(days=s["lookahead"]):
            continue
        o = occ[0]
        n = (o - today).days
        bd.append(((o, c["name"]), "|".join(("BD", customer_line(c), o.isoformat(), str(o.month), str(o.day), str(n),
                                              b(n == 0), b(n == 1), str(o.year - born.year)))))
    bd = [x for _, x in sorted(bd)]

    # dormant
    dm = []
    for c in mine:
        if not dormant(c):
            continue
        ld = last_date(c)
        n = (today - ld).days
        dm.append(((c["tier"], n, c["name"]), "|".join(("DM", customer_line(c), ld.isoformat(), str(n),
                                                         str(s["dormant"][c["tier"]])))))
    dm = [x for _, x in sorted(dm)]

    # receivables
    ids = {c["id"] for c in mine}
    cust = {c["id"]: c for c in ds["customers"]}
    levels = {}
    for v in ds["invoices"]:
        if v["customer_id"] not in ids or v["paid_on"] or Decimal(v["amount"]) <= 0:
            continue
        due = date.fromisoformat(v["due_on"])
        if due >= today:
            continue
        n = (today - due).days
        lv = max([x for x in s["ladder"] if x <= n], default=1)  # see LEVEL_BELOW_FIRST
        levels.setdefault(lv, []).append((n, v))
    rv = []
    count = 0
    for lv in sorted(levels, reverse=True):
        items = sorted(levels[lv], key=lambda x: (-x[0], x[1]["number"]))
        count += len(items)
        tot = {}
        for _, v in items:
            tot[v["currency"]] = tot.get(v["currency"], Decimal(0)) + Decimal(v["amount"])
        totals = ";".join(f"{k} {fmt_amount(a, k)}" for k, a in sorted(tot.items()))
        shown = items[: s["max_items"]]
        rv.append(f"RL|{lv}|{len(items)}|{b(lv >= s['bad_debt'])}|{len(items) - len(shown)}|{totals}")
        for n, v in shown:
            rv.append("|".join(("RI", customer_line(cust[v["customer_id"]]), v["number"],
                                fmt_amount(v["amount"], v["currency"]), v["currency"], v["due_on"], str(n),
                                b(n != 1), b(n >= s["bad_debt"]))))
    if rv:
        rv.insert(0, f"RS|{count}")

    # complaints
    def past(k, factor):
        """(deadline passed, seconds open, hours, seconds past factor x the
        deadline): whole seconds, so that ties are ties."""
        hours = s["response"][k["severity"]]
        opened = parse_instant(k["opened_at"])
        secs = int((now - opened).total_seconds())
        late = secs - round(factor * hours * 3600)
        return late >= 0, secs, hours, late

    cp = []
    for k in ds["complaints"]:
        if k["customer_id"] not in ids or k["resolved_at"]:
            continue
        ok, secs, hours, late = past(k, 1)
        if not ok:
            continue
        opened = parse_instant(k["opened_at"])
        cp.append(((-late, k["id"]),
                   "|".join(("CP", customer_line(cust[k["customer_id"]]), str(k["id"]), k["severity"],
                             b(k["severity"] == "critical"), k["summary"], local_date(opened, rtz).isoformat(),
                             str(secs // 3600), num(hours), str(late // 3600), b(past(k, 2)[0])))))
    cp = [x for _, x in sorted(cp)]

    # escalations
    team = {r["id"] for r in ds["reps"] if r["manager_id"] == rep["id"] and r["id"] != rep["id"]}
    ei, ec = [], []
    for v in ds["invoices"]:
        c = cust[v["customer_id"]]
        if not c["active"] or c["rep_id"] not in team or v["paid_on"] or Decimal(v["amount"]) <= 0:
            continue
        n = (today - date.fromisoformat(v["due_on"])).days
        if n < s["bad_debt"]:
            continue
        t = reps[c["rep_id"]]
        ei.append((-n, "|".join(("EI", customer_line(c), t["name"], b(not t["active"]), v["number"],
                                 fmt_amount(v["amount"], v["currency"]), v["currency"], v["due_on"], str(n),
                                 b(n != 1)))))
    for k in ds["complaints"]:
        c = cust[k["customer_id"]]
        if not c["active"] or c["rep_id"] not in team or k["resolved_at"]:
            continue
        ok, secs, hours, late = past(k, 2)
        if not ok:
            continue
        t = reps[c["rep_id"]]
        opened = parse_instant(k["opened_at"])
        ec.append((-late, "|".join(("EC", customer_line(c), t["name"], b(not t["active"]), str(k["id"]),
                                               k["severity"], b(k["severity"] == "critical"), k["summary"],
                                               local_date(opened, rtz).isoformat(), str(secs // 3600), num(hours)))))
    # Ties (equal weights) have no order: "~WEIGHT " prefixes group them.
    esc = [f"~{w} {x}" for w, x in sorted(ei)] + [f"~{w} {x}" for w, x in sorted(ec)]

    fu_l = section("FS", fu, s)
    bd_l = section("BS", bd, s, f"|{s['lookahead']}")
    dm_l = section("DS", dm, s)
    cp_l = section("CS", cp, s)
    esc_l = section("ES", esc, s, f"|{len(ei)}|{len(ec)}", cut=False)
    total = len(fu) + len(bd) + len(dm) + count + len(cp) + len(esc)
    if total == 0 and not s["send_empty"]:
        return None
    head = "|".join(("D", str(rep["id"]), rep["name"], today.isoformat(), str(today.month), str(today.day), str(total),
                     b(total == 0), b(bool({r["id"] for r in ds["reps"] if r["manager_id"] == rep["id"]} - {rep["id"]})),
                     str(s["max_items"])))
    return [head] + fu_l + bd_l + dm_l + rv + cp_l + esc_l


def expect(ds, now):
    """{(rep id, date): (not_before, lines)} of the digests sent at now."""
    s = settings(ds)
    out = {}
    for r, d, at in due_digests(ds, now, s):
        lines = build(ds, r, d, now, s)
        if lines is not None:
            out[(r["id"], d.isoformat())] = (fmt_instant(at), lines)
    return out


# The template that writes the built context: one line a fact group.
CUST = "{{customer.id}}|{{customer.name}}|{{customer.tier}}|{{customer.key_account}}|{{customer.email}}|{{customer.phone}}"
DUMP_TEMPLATE = f"""Subject: digest {{{{rep.id}}}} {{{{date}}}}

D|{{{{rep.id}}}}|{{{{rep.name}}}}|{{{{date}}}}|{{{{month}}}}|{{{{day}}}}|{{{{total}}}}|{{{{empty}}}}|{{{{is_manager}}}}|{{{{max_items}}}}
{{{{#follow_ups}}}}
FS|{{{{count}}}}|{{{{more}}}}
{{{{#items}}}}
FU|{CUST}|{{{{due_on}}}}|{{{{days_overdue}}}}|{{{{days_overdue_plural}}}}|{{{{overdue}}}}|{{{{planned}}}}|{{{{planned_on}}}}|{{{{cadence_days}}}}|{{{{last_contact}}}}|{{{{days_since_contact}}}}|{{{{never_contacted}}}}
{{{{/items}}}}
{{{{/follow_ups}}}}
{{{{#birthdays}}}}
BS|{{{{count}}}}|{{{{more}}}}|{{{{lookahead_days}}}}
{{{{#items}}}}
BD|{CUST}|{{{{date}}}}|{{{{month}}}}|{{{{day}}}}|{{{{in_days}}}}|{{{{today}}}}|{{{{tomorrow}}}}|{{{{age}}}}
{{{{/items}}}}
{{{{/birthdays}}}}
{{{{#dormant}}}}
DS|{{{{count}}}}|{{{{more}}}}
{{{{#items}}}}
DM|{CUST}|{{{{last_activity}}}}|{{{{days_inactive}}}}|{{{{dormant_days}}}}
{{{{/items}}}}
{{{{/dormant}}}}
{{{{#receivables}}}}
RS|{{{{count}}}}
{{{{#levels}}}}
RL|{{{{days}}}}|{{{{count}}}}|{{{{bad_debt_risk}}}}|{{{{more}}}}|{{{{#totals}}}}{{{{currency}}}} {{{{amount}}}};{{{{/totals}}}}
{{{{#items}}}}
RI|{CUST}|{{{{number}}}}|{{{{amount}}}}|{{{{currency}}}}|{{{{due_on}}}}|{{{{days_overdue}}}}|{{{{days_overdue_plural}}}}|{{{{bad_debt_risk}}}}
{{{{/items}}}}
{{{{/levels}}}}
{{{{/receivables}}}}
{{{{#complaints}}}}
CS|{{{{count}}}}|{{{{more}}}}
{{{{#items}}}}
CP|{CUST}|{{{{id}}}}|{{{{severity}}}}|{{{{critical}}}}|{{{{summary}}}}|{{{{opened_on}}}}|{{{{hours_open}}}}|{{{{response_hours}}}}|{{{{hours_late}}}}|{{{{escalated}}}}
{{{{/items}}}}
{{{{/complaints}}}}
{{{{#escalations}}}}
ES|{{{{count}}}}|{{{{more}}}}|{{{{invoices}}}}|{{{{complaints}}}}
{{{{#items}}}}
{{{{#invoice}}}}
EI|{CUST}|{{{{rep.name}}}}|{{{{rep.inactive}}}}|{{{{number}}}}|{{{{amount}}}}|{{{{currency}}}}|{{{{due_on}}}}|{{{{days_overdue}}}}|{{{{days_overdue_plural}}}}
{{{{/invoice}}}}
{{{{#complaint}}}}
EC|{CUST}|{{{{rep.name}}}}|{{{{rep.inactive}}}}|{{{{id}}}}|{{{{severity}}}}|{{{{critical}}}}|{{{{summary}}}}|{{{{opened_on}}}}|{{{{hours_open}}}}|{{{{response_hours}}}}
{{{{/complaint}}}}
{{{{/items}}}}
{{{{/escalations}}}}
"""


def parse_got(text):
    """{(rep id, date): (not_before, lines)} from a dry run's output."""
    out, cur, nb = {}, None, None
    for line in text.splitlines():
        m = re.match(r"^=== email to .*not before (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)\+00\)$", line)
        if m:
            nb = f"{m.group(1)}T{m.group(2)}Z"
            continue
        if re.match(r"^(D|FS|FU|BS|BD|DS|DM|RS|RL|RI|CS|CP|ES|EI|EC)\|", line):
            if line.startswith("D|"):
                f = line.split("|")
                cur = (int(f[1]), f[3])
                out[cur] = (nb, [])
            if line.startswith("RL|"):  # totals end with ";"
                line = line[:-1] if line.endswith(";") else line
            if line.startswith("FU|"):  # planned_on is compared only with planned (see build)
                f = line.split("|")
                if f[11] == "false":
                    f[12] = "*"
                line = "|".join(f)
            out[cur][1].append(line)
    return out


def compare(exp, got):
    """Differences, as text lines.  Escalations: the model's lines carry
    "~WEIGHT " and are not cut at max_items; lines of the same kind and
    weight may come in any order (the SQL gives them none), and a tie cut
    by max_items in any selection of the tied lines."""
    import difflib
    diffs = []
    for key in sorted(set(exp) | set(got)):
        if key not in got:
            diffs.append(f"rep {key[0]} {key[1]}: expected a digest, none built: {exp[key][1][0]}")
            continue
        if key not in exp:
            diffs.append(f"rep {key[0]} {key[1]}: built a digest the rules do not send: {got[key][1][0]}")
            continue
        enb, el = exp[key]
        gnb, gl = got[key]
        if enb != gnb:
            diffs.append(f"rep {key[0]} {key[1]}: not_before expected {enb}, got {gnb}")
        max_items = int(el[0].split("|")[9])
        e_main = [x for x in el if not x.startswith("~")]
        e_esc = [tuple(x[1:].split(" ", 1)) for x in el if x.startswith("~")]
        g_main = [x for x in gl if not x.startswith(("EI|", "EC|"))]
        g_esc = [x for x in gl if x.startswith(("EI|", "EC|"))]
        limit = min(max_items, len(e_esc))
        groups = []
        for w, line in e_esc:
            if groups and groups[-1][0] == (line[:2], w):
                groups[-1][1].append(line)
            else:
                groups.append(((line[:2], w), [line]))
        ok, gi = len(g_esc) == limit, 0
        for _, lines in groups:
            take = min(len(lines), limit - gi)
            if take <= 0:
                break
            seg = g_esc[gi:gi + take]
            if len(set(seg)) != len(seg) or not set(seg) <= set(lines):
                ok = False
            gi += take
        if e_main != g_main or not ok:
            want = e_main + [line for _, line in e_esc[:limit]]
            d = [x for x in difflib.unified_diff(want, gl, "model", "built", lineterm="", n=0)
                 if not x.startswith(("---", "+++", "@@"))]
            diffs.append(f"rep {key[0]} {key[1]}:\n    " + "\n    ".join(d[:30]))
    return diffs


# ------------------------------------------------------------ the generator

ZONES_EXTREME = ["Etc/GMT+12", "Pacific/Kiritimati", "Asia/Kathmandu", "Australia/Lord_Howe", "Pacific/Chatham",
                 "America/St_Johns", "UTC", "Asia/Shanghai"]
ZONES_DST = ["America/New_York", "Europe/London", "America/Santiago", "Australia/Lord_Howe", "Pacific/Auckland",
             "Europe/Berlin"]
ANCHORS = [  # (instant, the zones it matters to)
    ("2027-03-14T07:00:00Z", ["America/New_York"]),  # springs forward
    ("2027-11-07T06:00:00Z", ["America/New_York"]),  # falls back
    ("2027-03-28T01:00:00Z", ["Europe/London", "Europe/Berlin"]),
    ("2027-10-31T01:00:00Z", ["Europe/London", "Europe/Berlin"]),
    ("2027-04-03T15:00:00Z", ["Australia/Lord_Howe", "Pacific/Auckland", "Pacific/Chatham"]),  # fall back
    ("2027-10-02T15:30:00Z", ["Australia/Lord_Howe"]),  # springs forward half an hour
    ("2027-09-25T14:00:00Z", ["Pacific/Auckland", "Pacific/Chatham"]),
    ("2027-09-05T04:00:00Z", ["America/Santiago"]),  # midnight gap
    ("2027-04-04T03:00:00Z", ["America/Santiago"]),
    ("2028-02-28T10:00:00Z", ["Pacific/Kiritimati"]),  # Feb 29 begins there (leap)
    ("2028-02-29T12:00:00Z", ["Etc/GMT+12"]),
    ("2027-02-28T10:00:00Z", ["Pacific/Kiritimati"]),  # Mar 1 begins there (common)
    ("2027-03-01T12:00:00Z", ["Etc/GMT+12"]),
    ("2027-12-31T10:00:00Z", ["Pacific/Kiritimati"]),
    ("2028-01-01T12:00:00Z", ["Etc/GMT+12"]),
    ("2027-08-20T18:15:00Z", ["Asia/Kathmandu"]),
]
HOURS = [0, 0, 1, 2, 3, 8, 9, 12, 20, 23, 23]
DAYS_BACK = [0, 1, 2, 3, 6, 7, 8, 13, 14, 15, 16, 29, 30, 31, 32, 44, 45, 46, 59, 60, 61, 62, 89, 90, 91, 179, 180,
             181, 182, 400]
LOCAL_TIMES = [time(0, 0), time(0, 0, 1), time(23, 59, 59), time(12, 0), time(1, 30), time(2, 30)]
CURRENCIES = [("EUR", ["1234.50", "10", "0.01", "999999.99"]), ("USD", ["350.5", "12000", "10.125"]),
              ("JPY", ["1500", "250000"]), ("BHD", ["10.125", "1000.5"]), ("CNY", ["8000", "99.00"])]
SEVERITIES = ["critical", "high", "normal", "low"]


def _pick_zone(r, near, bias=0.4):
    x = r.random()
    if x < bias:
        return r.choice(near)
    return r.choice(ZONES_EXTREME) if x < 0.75 else r.choice(ZONES_DST)


def _tier_map(r, choices):
    return {t: r.choice(choices) for t in "ABC" if r.random() < 0.6}


def generate(seed):
    r = random.Random(seed)
    anchor_s, near = ANCHORS[seed % len(ANCHORS)]
    anchor = parse_instant(anchor_s)
    ds = {"seed": seed, "default_tz": _pick_zone(r, near) if r.random() < 0.7 else "UTC"}
    a_day = anchor.date()

    # settings: the digest's own, or the owning job's (shared thresholds)
    d = {"effective_from": "2020-01-01" if r.random() < 0.75 else (a_day + timedelta(days=r.randint(-1, 1))).isoformat(),
         "max_items": r.choice([1, 2, 3, 50, 50]), "send_empty": r.random() < 0.3,
         "max_lateness": r.choice([0, 1800, 3600, 43200, 43200, 86400, 259200])}
    others = {}
    if r.random() < 0.5:
        v = r.choice([0, 1, 3, 7, 14])
        if r.random() < 0.5:
            d["birthday_lookahead_days"] = v
        else:
            others.setdefault("birthdays", {})["lookahead_days"] = v
    f = r.choice(["feb28", "mar1", "skip"])
    x = r.random()
    if x < 0.4:
        d["feb29"] = f
    elif x < 0.8:
        others.setdefault("birthdays", {})["feb29"] = f
    for name, job, choices in (("cadence_days", "follow_ups", [0, 1, 2, 7, 14, 30]),
                               ("dormant_days", "dormant", [1, 2, 3, 15, 30, 45, 60, 90, 180])):
        x = r.random()
        if x < 0.35:
            d[name] = _tier_map(r, choices)
        elif x < 0.7:
            others.setdefault(job, {})[name] = _tier_map(r, choices)
    rh = {k: v for k, v in (("critical", r.choice([2, 4, 1.5])), ("high", r.choice([8, 24])),
                            ("normal", r.choice([48, 72])), ("low", r.choice([96, 168]))) if r.random() < 0.5}
    x = r.random()
    if x < 0.3:
        d["response_hours"] = rh
    elif x < 0.6:
        others.setdefault("complaints", {})["response_hours"] = rh
    x = r.random()
    if x < 0.3:
        d["ladder_days"] = r.choice([[1, 15, 30, 60, 90], [5, 20], [3, 10, 45], [2, 30]])
    elif x < 0.55:
        others.setdefault("receivables", {})["levels"] = r.choice([[-3, 1, 15, 30, 60], [7, 14], [-1, 4, 30]])
    x = r.random()
    if x < 0.3:
        d["bad_debt_days"] = r.choice([20, 30, 45, 60])
    elif x < 0.55:
        others.setdefault("receivables", {})["bad_debt_days"] = r.choice([20, 30, 45])
    ds["digest"], ds["others"] = d, others
    s = settings(ds)

    # reps: 1 manages 2, 3 (inactive) and sometimes 4; 5 may manage itself
    reps = []
    for i in range(1, 6):
        reps.append({"id": i, "name": f"Rep {i}", "email": f"rep{i}@example.com",
                     "tz": "" if r.random() < 0.1 else _pick_zone(r, near, 0.5), "digest_hour": r.choice(HOURS),
                     "active": i != 3, "manager_id": None})
    reps[1]["manager_id"] = reps[2]["manager_id"] = 1
    if r.random() < 0.6:
        reps[3]["manager_id"] = 1 if r.random() < 0.5 else 2
    if r.random() < 0.3:
        reps[4]["manager_id"] = 5
    ds["reps"] = reps

    # the instants: a rep's digest hour (to the second, either side, its
    # lateness running out), and local midnights
    nows = set()
    active = [p for p in reps if p["active"]]
    for _ in range(3):
        p = r.choice(active)
        tz = p["tz"] or ds["default_tz"]
        day = local_date(anchor, tz) + timedelta(days=r.randint(-1, 1))
        at = local_to_utc(day, time(p["digest_hour"]), tz)
        at += r.choice([timedelta(0), timedelta(seconds=1), timedelta(seconds=-1), timedelta(minutes=7),
                        timedelta(seconds=s["lateness"]), timedelta(seconds=s["lateness"] + 1)])
        nows.add(at)
    tz = r.choice(near + [p["tz"] or ds["default_tz"] for p in active])
    mid = local_to_utc(local_date(anchor, tz) + timedelta(days=r.randint(0, 1)), time(0), tz)
    nows.add(mid + timedelta(seconds=r.choice([0, 1, -1, 1800])))
    nows = sorted(nows)
    ds["nows"] = [fmt_instant(t) for t in nows]
    first = nows[0]
    ref_day = local_date(first, "Etc/GMT+12")  # the earliest today any digest can have

    def before_first(u):
        return u if u < first - timedelta(seconds=1) else first - timedelta(seconds=r.randint(60, 3 * 86400))

    def edge(day, tz):
        t = r.choice(LOCAL_TIMES) if r.random() < 0.8 else time(r.randrange(24), r.randrange(60))
        return before_first(local_to_utc(day, t, tz))

    custs, inter, invs, comps = [], [], [], []
    zones_all = sorted(set(ZONES_EXTREME + ZONES_DST + near))
    n_inv = n_cp = 0
    for cid in range(1, 31):
        ctz = "" if r.random() < 0.15 else _pick_zone(r, near)
        rep = r.choice(reps + [reps[0], reps[1]])
        rtz = rep["tz"] or ds["default_tz"]
        bday = None
        x = r.random()
        if x < 0.2:
            bday = date(r.choice([1980, 1992, 2000, 1996]), 2, 29)
        elif x < 0.6:
            dd = a_day + timedelta(days=r.randint(-2, 16))
            by = r.randint(1950, 2005)
            try:
                bday = date(by, dd.month, dd.day)
            except ValueError:
                bday = date(by, 2, 28)
        created = edge(ref_day - timedelta(days=r.choice(DAYS_BACK) + r.choice([0, 0, 1, 365])), r.choice([ctz or ds["default_tz"], rtz]))
        nfu = None
        if r.random() < 0.35:
            nfu = (ref_day + timedelta(days=r.randint(-20, 3))).isoformat()
        tier = r.choice("AABC")
        custs.append({"id": cid, "name": f"Customer {cid:03d}", "tier": tier,
                      "email": None if r.random() < 0.15 else f"c{cid}@example.org",
                      "phone": None if r.random() < 0.3 else f"+1555{cid:07d}",
                      "birthday": bday.isoformat() if bday else None, "tz": ctz, "rep_id": rep["id"],
                      "next_follow_up": nfu, "created_at": fmt_instant(created), "active": r.random() < 0.9})
        for _ in range(r.choice([0, 0, 1, 1, 2, 3])):
            k = r.choice(DAYS_BACK[:25])
            inter.append({"customer_id": cid,
                          "at": fmt_instant(edge(ref_day - timedelta(days=k), r.choice([ctz or ds["default_tz"], rtz] + zones_all[:2])))})
        for _ in range(r.choice([0, 0, 1, 2, 3])):
            n_inv += 1
            cur, amts = r.choice(CURRENCIES)
            due = ref_day - timedelta(days=r.choice([-2, -1, 0, 1, 2, 3, 4, 5, 6, 9, 10, 11, 14, 15, 16, 19, 20, 21,
                                                     29, 30, 31, 44, 45, 46, 59, 60, 61, 89, 90, 91]))
            issued = due - timedelta(days=r.choice([0, 14, 30, 30, 90]))
            if issued >= ref_day:
                issued = ref_day - timedelta(days=1)
            amt = r.choice(amts) if r.random() < 0.93 else r.choice(["0", "-5.00"])
            invs.append({"customer_id": cid, "number": f"INV-{n_inv:04d}", "amount": amt, "currency": cur,
                         "issued_on": issued.isoformat(), "due_on": due.isoformat(),
                         "paid_on": (ref_day - timedelta(days=1)).isoformat() if r.random() < 0.15 else None})
        for _ in range(r.choice([0, 0, 0, 1, 2])):
            n_cp += 1
            sev = r.choice(SEVERITIES)
            hours = s["response"][sev]
            at = r.choice(nows)
            back = timedelta(hours=hours * r.choice([1, 1, 2, 2, 0.5, 3, 1.5]))
            back += r.choice([timedelta(0), timedelta(seconds=1), timedelta(seconds=-1), timedelta(minutes=40),
                              timedelta(minutes=-40)])
            opened = at - back
            if opened >= first:
                opened = first - timedelta(seconds=n_cp)
            opened += timedelta(microseconds=0)
            comps.append({"id": n_cp, "customer_id": cid, "severity": sev, "summary": f"Complaint {n_cp}",
                          "opened_at": fmt_instant(opened),
                          "resolved_at": fmt_instant(first - timedelta(minutes=5)) if r.random() < 0.15 else None})
    ds["customers"], ds["interactions"], ds["invoices"], ds["complaints"] = custs, inter, invs, comps
    return ds


def data_sql(ds):
    lines = []
    for p in ds["reps"]:
        lines.append("INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES "
                     f"({p['id']}, {sql_lit(p['name'])}, {sql_lit(p['email'])}, {sql_lit(p['tz'])}, 'en', "
                     f"{p['digest_hour']}, {sql_lit(p['active'])});")
    for p in ds["reps"]:
        if p["manager_id"] is not None:
            lines.append(f"UPDATE crm.reps SET manager_id = {p['manager_id']} WHERE id = {p['id']};")
    for c in ds["customers"]:
        lines.append("INSERT INTO crm.customers (id, name, tier, email, phone, birthday, time_zone, locale, rep_id, "
                     "consent_email, consent_sms, next_follow_up, created_at, active) VALUES "
                     f"({c['id']}, {sql_lit(c['name'])}, {sql_lit(c['tier'])}, {sql_lit(c['email'])}, "
                     f"{sql_lit(c['phone'])}, {sql_lit(c['birthday'])}, {sql_lit(c['tz'])}, 'en', "
                     f"{sql_lit(c['rep_id'])}, true, true, {sql_lit(c['next_follow_up'])}, "
                     f"{sql_lit(c['created_at'])}, {sql_lit(c['active'])});")
    for n, i in enumerate(ds["interactions"], 1):
        lines.append("INSERT INTO crm.interactions (id, customer_id, kind, happened_at) VALUES "
                     f"({n}, {i['customer_id']}, 'call', {sql_lit(i['at'])});")
    for n, v in enumerate(ds["invoices"], 1):
        lines.append("INSERT INTO crm.invoices (id, customer_id, number, amount, currency, issued_on, due_on, paid_on) "
                     f"VALUES ({n}, {v['customer_id']}, {sql_lit(v['number'])}, {v['amount']}, "
                     f"{sql_lit(v['currency'])}, {sql_lit(v['issued_on'])}, {sql_lit(v['due_on'])}, "
                     f"{sql_lit(v['paid_on'])});")
    for k in ds["complaints"]:
        lines.append("INSERT INTO crm.complaints (id, customer_id, severity, summary, opened_at, resolved_at) VALUES "
                     f"({k['id']}, {k['customer_id']}, {sql_lit(k['severity'])}, {sql_lit(k['summary'])}, "
                     f"{sql_lit(k['opened_at'])}, {sql_lit(k['resolved_at'])});")
    return "\n".join(lines) + "\n"


def jobs_conf(ds):
    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, dict):
            return "{ " + " ".join(f"{k} = {val(x)};" for k, x in sorted(v.items())) + " }"
        if isinstance(v, list):
            return "[ " + ", ".join(val(x) for x in v) + " ]"
        return str(v)

    d = ds["digest"]
    out = 'digest: { schedule = "*/15 * * * *"; ' + " ".join(f"{k} = {val(v)};" for k, v in sorted(d.items())) + " };\n"
    for job, st in sorted(ds["others"].items()):
        parts = []
        for k, v in sorted(st.items()):
            if k == "levels":
                parts.append("levels = ( " + ", ".join(
                    f'{{ days = {x}; template = "{"dunning_courtesy" if x < 0 else "dunning_friendly"}"; }}'
                    for x in v) + " );")
            else:
                parts.append(f"{k} = {val(v)};")
        out += f"{job}: {{ enabled = false; {' '.join(parts)} }};\n"
    return out


def main(argv):
    if len(argv) == 3 and argv[0] == "gen":
        ds = generate(int(argv[1]))
        out = argv[2]
        with open(f"{out}/ds.json", "w") as f:
            json.dump(ds, f, indent=1)
        with open(f"{out}/data.sql", "w") as f:
            f.write(data_sql(ds))
        with open(f"{out}/jobs.conf", "w") as f:
            f.write(jobs_conf(ds))
        with open(f"{out}/default_tz", "w") as f:
            f.write(ds["default_tz"] + "\n")
        with open(f"{out}/nows", "w") as f:
            f.write("\n".join(ds["nows"]) + "\n")
        return 0
    if len(argv) == 1 and argv[0] == "template":
        sys.stdout.write(DUMP_TEMPLATE)
        return 0
    if len(argv) == 3 and argv[0] == "expect":
        with open(argv[1]) as f:
            ds = json.load(f)
        for key, (nb, lines) in sorted(expect(ds, parse_instant(argv[2])).items()):
            print(f"=== rep {key[0]} {key[1]} not before {nb}")
            print("\n".join(lines))
        return 0
    if len(argv) == 4 and argv[0] == "compare":
        with open(argv[1]) as f:
            ds = json.load(f)
        with open(argv[3]) as f:
            got = parse_got(f.read())
        exp = expect(ds, parse_instant(argv[2]))
        diffs = compare(exp, got)
        n_items = sum(len(v[1]) for v in exp.values())
        print(f"# {len(exp)} digest(s), {n_items} line(s)")
        for x in diffs:
            print(x)
        return 1 if diffs else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
