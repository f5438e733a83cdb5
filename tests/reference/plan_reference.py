#!/usr/bin/env python3
"""Reference model of what the dormant, birthdays and follow_ups jobs must
plan at a given instant, written from the documented rules (README "Jobs",
rapport.conf(5)), not from the jobs' SQL; and a generator of small random
CRM datasets whose dates sit near the rules' edges.
tests/integration/test_plan_reference.sh compares the two.

The rules, as documented:

  common     Each run queues every message whose date has come (today or
             earlier, in the recipient's own zone), whose send time (send_at
             in the recipient's zone on that date) is no further in the past
             than max_lateness, and whose date is not before effective_from
             (a date, compared with the recipient's local date).  Inactive
             customers and reps are never contacted; marketing needs consent
             and an address on the channel; reps get e-mail.
  birthdays  customer, per channel: on the birthday, send_at in the
             customer's zone; Feb 29 birthdays in common years by feb29
             (feb28 / mar1 / skip).  Key birthday:CHANNEL:CUSTOMER:YEAR.
  follow_ups tier A only, tier_a_reminder = true; to the active owning rep,
             send_at in the rep's zone, on each due date: next_follow_up
             (unless an interaction was recorded on or after that day), and
             the day of the last interaction (else of creation) plus the
             tier's cadence_days.  Dates are the rep's (the reminder and the
             digest reckon a follow-up's dates in the rep's zone).
             Key follow_up:CUSTOMER:DATE.
  dormant    last activity = the later of the last interaction (its date in
             the customer's zone) and the last invoice's issued_on; a
             customer with neither: the day it was created (customer's
             zone).  Dormant on last activity + dormant_days[tier]; the
             alert to the active owning rep at send_at in the rep's zone on
             that day, the win-back (winback = true, per channel, consent)
             at send_at in the customer's zone.  Keys
             dormant:CUSTOMER:LASTDATE, winback:CHANNEL:CUSTOMER:LASTDATE.

A local date and time that does not exist (a DST gap) or occurs twice
(a DST fall-back) is not covered by the documentation; the model reads it
as PostgreSQL's `timestamp AT TIME ZONE` does: in a gap with the offset
from before the change (02:30 in a 02:00-03:00 gap is 03:30 after it), a
repeated time at its second occurrence.  See local_to_utc.

Usage:
  plan_reference.py gen SEED DIR [--sequence]
      writes DIR/ds.json (the dataset, its settings and the --now
      instants), DIR/data.sql (the CRM rows), DIR/jobs.conf (the jobs
      block of rapport.conf), DIR/default_tz, DIR/nows (one ISO instant a
      line) and DIR/expected: for a scenario, one block per now
      ("== NOW" then "job|key|recipient|not_before" lines, sorted); for a
      sequence, "job|key|recipient|not_before|first-run" lines of the union
      over the runs, then DIR/must ("job|key" of every message due for a
      stretch of at least the run interval inside the runs' span: none of
      them may be lost).
  plan_reference.py plan DS.json NOW
      the messages due at NOW, one "job|key|recipient|not_before" a line.
"""
import json
import random
import sys
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc
BAD_ZONE = "Mars/Olympus_Mons"
JOBS = ("birthdays", "dormant", "follow_ups")
TIER_DEFAULTS = {
    "dormant_days": {"A": 30, "B": 60, "C": 180},
    "cadence_days": {"A": 7, "B": 30, "C": 90},
}

_zones = {}


def zone(name):
    z = _zones.get(name)
    if z is None:
        z = _zones[name] = ZoneInfo(name)
    return z


def zone_ok(name):
    """A zone PostgreSQL knows (rapport.time_zones); the generator's bad
    zone is the only unknown one."""
    return name != BAD_ZONE


def local_date(instant, tz):
    return instant.astimezone(zone(tz)).date()


def local_to_utc(d, t, tz):
    """The instant of local date d at time t in zone tz (see the module
    docstring for gaps and repeats)."""
    z = zone(tz)
    naive = datetime.combine(d, t)
    u0 = naive.replace(tzinfo=z, fold=0).astimezone(UTC)
    u1 = naive.replace(tzinfo=z, fold=1).astimezone(UTC)
    if u0 == u1:
        return u0
    if u0.astimezone(z).replace(tzinfo=None) == naive:  # occurs twice: the second
        return max(u0, u1)
    return u0  # in a gap: the offset from before it


def parse_instant(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


def fmt_instant(u):
    return u.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


# ---------------------------------------------------------------- the model
#
# occasions(ds) lists every message the data calls for, each with its
# recipient's zone, its date, its send time and its lateness, and with the
# conditions that do not depend on the time of the run already applied
# (active, consent, address, effective_from).  due_at() is the rule that
# does: the date has come in the recipient's zone, and the send time is no
# more than max_lateness ago.


class Occasion:
    __slots__ = ("job", "key", "recipient", "tz", "due", "not_before", "lateness", "born")

    def __init__(self, job, key, recipient, tz, due, not_before, lateness, born=None):
        self.job, self.key, self.recipient, self.tz = job, key, recipient, tz
        self.due, self.not_before, self.lateness, self.born = due, not_before, lateness, born

    def line(self):
        return "|".join((self.job, self.key, self.recipient, fmt_instant(self.not_before)))


def due_at(o, now):
    today = local_date(now, o.tz)
    if o.born is not None and o.born > today:  # born in the future: bad data, skipped
        return False
    return o.due <= today and now <= o.not_before + timedelta(seconds=o.lateness)


def _tz_of(row, ds):
    return row.get("tz") or ds["default_tz"]


def _days(settings, name, tier):
    return settings.get(name, {}).get(tier, TIER_DEFAULTS[name][tier])


def _send_at(s):
    h, m = s["send_at"].split(":")
    return time(int(h), int(m))


def _customer_addresses(c, channels):
    """(channel, recipient) for each channel that reaches the customer with
    consent (marketing)."""
    out = []
    for ch in channels:
        if ch == "email" and c.get("consent_email") and c.get("email"):
            out.append((ch, c["email"].lower()))
        elif ch == "sms" and c.get("consent_sms") and c.get("phone"):
            out.append((ch, c["phone"]))
    return out


def _rep_ok(rep, ds):
    return rep is not None and rep["active"] and rep.get("email") and zone_ok(_tz_of(rep, ds))


def _activity(ds):
    last_at, last_inv = {}, {}
    for i in ds["interactions"]:
        t = parse_instant(i["at"])
        if i["customer_id"] not in last_at or t > last_at[i["customer_id"]]:
            last_at[i["customer_id"]] = t
    for v in ds["invoices"]:
        d = date.fromisoformat(v["issued_on"])
        if v["customer_id"] not in last_inv or d > last_inv[v["customer_id"]]:
            last_inv[v["customer_id"]] = d
    return last_at, last_inv


def occasions_birthdays(ds, years):
    s = ds["jobs"]["birthdays"]
    eff = date.fromisoformat(s["effective_from"])
    send_at = _send_at(s)
    out = []
    for c in ds["customers"]:
        if not c["active"] or not c.get("birthday"):
            continue
        b = date.fromisoformat(c["birthday"])
        tz = _tz_of(c, ds)
        if not zone_ok(tz):  # skipped: unknown time zone
            continue
        for y in years:
            if (b.month, b.day) == (2, 29) and not is_leap(y):
                if s["feb29"] == "skip":
                    continue
                occ = date(y, 2, 28) if s["feb29"] == "feb28" else date(y, 3, 1)
            else:
                occ = date(y, b.month, b.day)
            if occ < eff:
                continue
            nb = local_to_utc(occ, send_at, tz)
            for ch, rcpt in _customer_addresses(c, s["channels"]):
                out.append(Occasion("birthdays", f"birthday:{ch}:{c['id']}:{y}", rcpt, tz, occ, nb,
                                    s["max_lateness"], born=b))
    return out


def occasions_follow_ups(ds):
    s = ds["jobs"]["follow_ups"]
    if not s.get("tier_a_reminder"):
        return []
    eff = date.fromisoformat(s["effective_from"])
    send_at = _send_at(s)
    reps = {r["id"]: r for r in ds["reps"]}
    last_at, _ = _activity(ds)
    out = []
    for c in ds["customers"]:
        if not c["active"] or c["tier"] != "A":
            continue
        rep = reps.get(c.get("rep_id"))
        if not _rep_ok(rep, ds):  # skipped: no active rep, or the rep's zone is unknown
            continue
        rtz = _tz_of(rep, ds)
        last = last_at.get(c["id"])
        dues = set()
        if c.get("next_follow_up"):
            nfu = date.fromisoformat(c["next_follow_up"])
            # "unless an interaction has been recorded on or after that day"
            if last is None or local_date(last, rtz) < nfu:
                dues.add(nfu)
        start = last if last is not None else parse_instant(c["created_at"])
        dues.add(local_date(start, rtz) + timedelta(days=_days(s, "cadence_days", "A")))
        for d in sorted(dues):
            if d < eff:
                continue
            out.append(Occasion("follow_ups", f"follow_up:{c['id']}:{d.isoformat()}", rep["email"].lower(), rtz, d,
                                local_to_utc(d, send_at, rtz), s["max_lateness"]))
    return out


def occasions_dormant(ds):
    s = ds["jobs"]["dormant"]
    eff = date.fromisoformat(s["effective_from"])
    send_at = _send_at(s)
    reps = {r["id"]: r for r in ds["reps"]}
    last_at, last_inv = _activity(ds)
    out = []
    for c in ds["customers"]:
        if not c["active"]:
            continue
        ctz = _tz_of(c, ds)
        if not zone_ok(ctz):  # skipped, rep's alert too: the dates are the customer's
            continue
        dates = []
        if c["id"] in last_at:
            dates.append(local_date(last_at[c["id"]], ctz))
        if c["id"] in last_inv:
            dates.append(last_inv[c["id"]])
        last_date = max(dates) if dates else local_date(parse_instant(c["created_at"]), ctz)
        due = last_date + timedelta(days=_days(s, "dormant_days", c["tier"]))
        if due < eff:
            continue
        ld = last_date.isoformat()
        rep = reps.get(c.get("rep_id"))
        if _rep_ok(rep, ds):
            rtz = _tz_of(rep, ds)
            out.append(Occasion("dormant", f"dormant:{c['id']}:{ld}", rep["email"].lower(), rtz, due,
                                local_to_utc(due, send_at, rtz), s["max_lateness"]))
        if s.get("winback"):
            for ch, rcpt in _customer_addresses(c, s["channels"]):
                out.append(Occasion("dormant", f"winback:{ch}:{c['id']}:{ld}", rcpt, ctz, due,
                                    local_to_utc(due, send_at, ctz), s["max_lateness"]))
    return out


def occasions(ds, around):
    """Every occasion of the dataset; birthdays in the years near the
    instant `around` (a year either side of the runs is more than
    max_lateness, at most 7 days here, can reach)."""
    y = around.year
    return (occasions_birthdays(ds, range(y - 2, y + 2)) + occasions_follow_ups(ds) + occasions_dormant(ds))


def plan(ds, now, occ=None):
    if occ is None:
        occ = occasions(ds, now)
    return sorted(o.line() for o in occ if due_at(o, now))


# ------------------------------------------------------------ the generator

ZONES_EXTREME = ["Etc/GMT+12", "Pacific/Pago_Pago", "Pacific/Kiritimati", "Pacific/Chatham", "Asia/Kathmandu",
                 "America/St_Johns", "UTC"]
ZONES_DST = ["America/New_York", "Europe/London", "America/Santiago", "Australia/Lord_Howe", "Antarctica/Troll",
             "Pacific/Auckland", "Pacific/Chatham", "America/St_Johns"]

# Instants the scenarios are built around: DST changes (the UTC instant of
# the change), Feb 28/29/Mar 1 midnights east and west, the turn of a year.
ANCHORS = [  # (instant, the zones it matters to)
    ("2027-03-14T07:00:00Z", ["America/New_York"]),  # springs forward (02:00 EST)
    ("2027-03-14T05:30:00Z", ["America/St_Johns"]),  # springs forward (02:00 NST)
    ("2027-11-07T06:00:00Z", ["America/New_York"]),  # falls back (02:00 EDT)
    ("2027-03-28T01:00:00Z", ["Europe/London", "Antarctica/Troll"]),  # spring forward (Troll: 2 h)
    ("2027-10-31T01:00:00Z", ["Europe/London", "Antarctica/Troll"]),  # fall back
    ("2027-04-03T14:00:00Z", ["Pacific/Auckland", "Pacific/Chatham"]),  # fall back
    ("2027-09-25T14:00:00Z", ["Pacific/Auckland", "Pacific/Chatham"]),  # spring forward
    ("2027-04-04T03:00:00Z", ["America/Santiago"]),  # falls back (24:00 -03)
    ("2027-09-05T04:00:00Z", ["America/Santiago"]),  # springs forward (midnight gap)
    ("2027-04-03T15:00:00Z", ["Australia/Lord_Howe"]),  # falls back half an hour
    ("2027-10-02T15:30:00Z", ["Australia/Lord_Howe"]),  # springs forward half an hour
    ("2028-02-28T10:00:00Z", ["Pacific/Kiritimati"]),  # Feb 29 begins there (a leap year)
    ("2028-02-29T12:00:00Z", ["Etc/GMT+12"]),  # Feb 29 begins there
    ("2027-02-28T10:00:00Z", ["Pacific/Kiritimati"]),  # Mar 1 begins there (a common year)
    ("2027-03-01T12:00:00Z", ["Etc/GMT+12"]),  # Mar 1 begins there
    ("2028-03-01T00:00:00Z", ["UTC"]),
    ("2027-12-31T10:00:00Z", ["Pacific/Kiritimati"]),  # a new year there
    ("2028-01-01T12:00:00Z", ["Etc/GMT+12"]),
    ("2027-06-15T00:00:00Z", ["Pacific/Pago_Pago", "Pacific/Kiritimati"]),
    ("2027-08-20T18:15:00Z", ["Asia/Kathmandu"]),  # midnight there
]

SEND_ATS = ["00:00", "23:30", "09:00", "02:30", "01:30", "23:59", "12:15", "02:00"]
LATENESS = [0, 1800, 3600, 43200, 86400, 259200, 604800]
LATENESS_CONF = {0: "0", 1800: '"30m"', 3600: '"1h"', 43200: '"12h"', 86400: '"1d"', 259200: '"3d"', 604800: '"7d"'}
LOCAL_TIMES = [time(0, 0), time(0, 0, 1), time(23, 59, 59), time(23, 59, 30), time(23, 30), time(12, 0), time(1, 30),
               time(2, 30)]


def _pick_zone(r, near=(), bias=0.35):
    x = r.random()
    if near and x < bias:  # the zones whose change or midnight the scenario is built around
        return r.choice(near)
    return r.choice(ZONES_EXTREME) if x < 0.7 else r.choice(ZONES_DST)


def _edge_instant(r, d, zones):
    """An instant on local date d (or its edges) in one of the zones."""
    tz = r.choice(zones)
    t = r.choice(LOCAL_TIMES) if r.random() < 0.7 else time(r.randrange(24), r.randrange(60), r.randrange(60))
    u = local_to_utc(d, t, tz)
    if r.random() < 0.15:
        u += timedelta(seconds=r.choice([-1, 1]))
    return u


def _tier_map(r, name, choices):
    m = {}
    for t in "ABC":
        if r.random() < 0.75:
            m[t] = r.choice(choices)
    return m


def generate(seed, sequence=False):
    r = random.Random(seed)
    anchor, near = ANCHORS[seed % len(ANCHORS)]
    anchor = parse_instant(anchor)
    x = r.random()
    if x < 0.3:
        anchor += timedelta(minutes=r.randrange(-12 * 60, 12 * 60, 15))
    elif x < 0.8:  # just after (or at, or just before) a midnight in one of the zones, a few days on
        tz = r.choice(near) if r.random() < 0.6 else r.choice(ZONES_EXTREME)
        anchor = local_to_utc(local_date(anchor, tz) + timedelta(days=r.randint(-1, 3)), time(0), tz)
        anchor += timedelta(seconds=r.choice([0, 0, 1, 1800, 3540, -1]))
    a_day = anchor.date()
    ds = {"seed": seed, "anchor": fmt_instant(anchor), "default_tz": _pick_zone(r, near) if r.random() < 0.7 else "UTC"}

    interval = r.choice([3, 6, 12]) if sequence else None

    def lateness():
        if sequence:
            return r.choice([l for l in LATENESS if l >= interval * 3600])
        return r.choice(LATENESS)

    def eff_from():
        return "2020-01-01" if r.random() < 0.6 else (a_day + timedelta(days=r.randint(-3, 1))).isoformat()

    channels = [["email"], ["sms"], ["email", "sms"], ["sms", "email"]]
    jobs = {
        "birthdays": {"send_at": r.choice(SEND_ATS), "max_lateness": lateness(), "effective_from": eff_from(),
                      "feb29": r.choice(["feb28", "mar1", "skip"]), "channels": r.choice(channels)},
        "dormant": {"send_at": r.choice(SEND_ATS), "max_lateness": lateness(), "effective_from": eff_from(),
                    "dormant_days": _tier_map(r, "dormant_days", [0, 1, 2, 3, 5, 30, 60, 180]),
                    "winback": r.random() < 0.6, "channels": r.choice(channels)},
        "follow_ups": {"send_at": r.choice(SEND_ATS), "max_lateness": lateness(), "effective_from": eff_from(),
                       "tier_a_reminder": r.random() < 0.9,
                       "cadence_days": _tier_map(r, "cadence_days", [0, 1, 2, 7, 14])},
    }
    ds["jobs"] = jobs

    reps = []
    for i in range(1, 6):
        reps.append({"id": i, "email": (f"Rep{i}@Example.com" if r.random() < 0.2 else f"rep{i}@example.com"),
                     "tz": "" if r.random() < 0.1 else BAD_ZONE if r.random() < 0.04 else _pick_zone(r, near, 0.5), "active": r.random() < 0.85})
    ds["reps"] = reps
    rep_tz = {p["id"]: (p["tz"] or ds["default_tz"]) for p in reps}

    def target(tz, send_at, late):
        """A date in zone tz that puts the anchor at an edge of a message
        due on it, at send_at, within late: the day that has just come
        there, or the day whose lateness runs out about now."""
        if r.random() < 0.5:
            return local_date(anchor, tz) - timedelta(days=r.choice([0, 0, 1]))
        h, m = map(int, send_at.split(":"))
        base = local_date(anchor - timedelta(seconds=late), tz)
        days = [base + timedelta(days=k) for k in (-2, -1, 0, 1)]
        return min(days, key=lambda d: abs(local_to_utc(d, time(h, m), tz) + timedelta(seconds=late) - anchor))

    def edge_day(job, tz, days, late):
        """The day of a customer's activity for a message of job due days
        after it, seen in zone tz: at an edge, or near one."""
        s = jobs[job]
        if r.random() < 0.65:
            return target(tz, s["send_at"], s["max_lateness"]) - timedelta(days=days)
        return a_day - timedelta(days=days + r.randint(-(late + 3), 2))

    customers, interactions, invoices = [], [], []
    for i in range(1, 15):
        tier = r.choice("AAABC")
        c = {"id": i, "tier": tier, "tz": None if r.random() < 0.15 else _pick_zone(r, near),
             "email": (f"C{i}@Example.com" if r.random() < 0.2 else f"c{i}@example.com") if r.random() < 0.85 else None,
             "phone": f"+1555010{i:04d}" if r.random() < 0.6 else None,
             "consent_email": r.random() < 0.8, "consent_sms": r.random() < 0.7,
             "rep_id": r.randint(1, 5) if r.random() < 0.92 else None,
             "active": r.random() < 0.93, "created_at": "2020-01-01T00:00:00Z",
             "birthday": None, "next_follow_up": None}
        if r.random() < 0.03:
            c["tz"] = BAD_ZONE
        ctz = c["tz"] or ds["default_tz"]
        if not zone_ok(ctz):
            ctz = "UTC"  # for the dates below
        rtz = rep_tz.get(c["rep_id"], "UTC")
        if not zone_ok(rtz):
            rtz = "UTC"
        zones = [ctz, rtz, _pick_zone(r, near)]
        bl = jobs["birthdays"]["max_lateness"] // 86400
        if r.random() < 0.12:
            c["birthday"] = f"{r.choice([1988, 1992, 1996, 2000, 2004])}-02-29"
        elif r.random() < 0.85:
            d = edge_day("birthdays", ctz, 0, bl)
            y = r.randint(1950, 2005)
            if (d.month, d.day) == (2, 29):
                y = r.choice([1988, 1992, 1996, 2000, 2004])
            c["birthday"] = date(y, d.month, d.day).isoformat()
        if r.random() < 0.35:
            c["next_follow_up"] = (a_day + timedelta(days=r.randint(-5, 2))).isoformat()

        dd = _days(jobs["dormant"], "dormant_days", tier)
        dl = jobs["dormant"]["max_lateness"] // 86400
        cad = _days(jobs["follow_ups"], "cadence_days", "A")
        fl = jobs["follow_ups"]["max_lateness"] // 86400
        # The dormancy date is the customer's, the alert goes in the rep's
        # zone, the win-back in the customer's; follow-ups are the rep's.
        def dormant_day():
            return edge_day("dormant", r.choice([rtz, rtz, ctz]), dd, dl)

        def activity(d, tz):  # an instant on local date d in zone tz, mostly at its ends
            return fmt_instant(_edge_instant(r, d, [tz, tz, tz] + zones))

        kind = r.random()
        if kind < 0.15:  # never active: created near the dormancy edge
            c["created_at"] = activity(dormant_day(), ctz)
        else:
            n_old = r.randint(0, 2)
            for _ in range(n_old):
                interactions.append({"customer_id": i, "at": fmt_instant(
                    _edge_instant(r, a_day - timedelta(days=dd + r.randint(5, 400)), zones))})
            if kind < 0.55:  # last interaction near the dormancy edge
                interactions.append({"customer_id": i, "at": activity(dormant_day(), ctz)})
            elif kind < 0.85 and tier == "A":  # near the follow-up cadence edge
                interactions.append({"customer_id": i, "at": activity(edge_day("follow_ups", rtz, cad, fl), rtz)})
            elif c["next_follow_up"] and r.random() < 0.7:  # around the planned day
                d = date.fromisoformat(c["next_follow_up"]) + timedelta(days=r.choice([-1, 0]))
                interactions.append({"customer_id": i, "at": fmt_instant(_edge_instant(r, d, zones))})
            if r.random() < 0.3:  # an invoice near the dormancy edge
                invoices.append({"customer_id": i, "issued_on": dormant_day().isoformat()})
            if not any(x["customer_id"] == i for x in interactions + invoices):
                c["created_at"] = activity(dormant_day(), ctz)
        customers.append(c)
    ds["customers"], ds["interactions"], ds["invoices"] = customers, interactions, invoices

    occ = occasions(ds, anchor)
    if sequence:
        t0 = (anchor - timedelta(days=2)).replace(minute=0, second=0)
        t0 -= timedelta(hours=t0.hour % interval)
        n = 4 * 24 // interval
        ds["interval_hours"] = interval
        ds["nows"] = [fmt_instant(t0 + timedelta(hours=interval * k)) for k in range(n + 1)]
    else:
        # Three runs, each a first run on an empty outbox: at the instants
        # where some message's date comes or its lateness runs out (or a
        # second or half an hour either side), or near the anchor.
        edges = []
        for o in occ:
            for e in (local_to_utc(o.due, time(0), o.tz), o.not_before + timedelta(seconds=o.lateness)):
                if abs(e - anchor) <= timedelta(days=4):
                    edges.append(e)
        edges.sort()
        nows = [anchor]
        while len(nows) < 3:
            if edges and r.random() < 0.8:
                t = r.choice(edges) + timedelta(seconds=r.choice([0, 0, 0, -1, 1, -1800, 1800, -3600]))
            else:
                t = anchor + timedelta(minutes=r.randrange(-18 * 60, 18 * 60))
            if t not in nows:
                nows.append(t)
        ds["nows"] = [fmt_instant(t) for t in nows]
    return ds


def sql_lit(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def data_sql(ds):
    lines = []
    for p in ds["reps"]:
        lines.append("INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, active) VALUES "
                     f"({p['id']}, 'Rep {p['id']}', {sql_lit(p['email'])}, {sql_lit(p['tz'])}, 'en', 8, "
                     f"{sql_lit(p['active'])});")
    for c in ds["customers"]:
        lines.append("INSERT INTO crm.customers (id, name, tier, email, phone, birthday, time_zone, locale, rep_id, "
                     "consent_email, consent_sms, next_follow_up, created_at, active) VALUES "
                     f"({c['id']}, 'Customer {c['id']}', {sql_lit(c['tier'])}, {sql_lit(c['email'])}, "
                     f"{sql_lit(c['phone'])}, {sql_lit(c['birthday'])}, {sql_lit(c['tz'])}, 'en', "
                     f"{sql_lit(c['rep_id'])}, {sql_lit(c['consent_email'])}, {sql_lit(c['consent_sms'])}, "
                     f"{sql_lit(c['next_follow_up'])}, {sql_lit(c['created_at'])}, {sql_lit(c['active'])});")
    for n, i in enumerate(ds["interactions"], 1):
        lines.append("INSERT INTO crm.interactions (id, customer_id, kind, happened_at) VALUES "
                     f"({n}, {i['customer_id']}, 'call', {sql_lit(i['at'])});")
    for n, v in enumerate(ds["invoices"], 1):
        lines.append("INSERT INTO crm.invoices (id, customer_id, number, amount, currency, issued_on, due_on) VALUES "
                     f"({n}, {v['customer_id']}, 'INV-{n}', 10, 'EUR', {sql_lit(v['issued_on'])}, "
                     f"{sql_lit(v['issued_on'])}::date + 30);")
    return "\n".join(lines) + "\n"


def jobs_conf(ds):
    def tmap(m):
        return "{ " + " ".join(f"{k} = {v};" for k, v in sorted(m.items())) + " }"

    def common(s):
        late = LATENESS_CONF[s["max_lateness"]]
        return (f'send_at = "{s["send_at"]}"; max_lateness = {late}; '
                f'effective_from = "{s["effective_from"]}";')

    def chans(s):
        return "channels = [ " + ", ".join(f'"{c}"' for c in s["channels"]) + " ];"

    b, d, f = ds["jobs"]["birthdays"], ds["jobs"]["dormant"], ds["jobs"]["follow_ups"]
    return (f'birthdays: {{ {common(b)} feb29 = "{b["feb29"]}"; {chans(b)} }};\n'
            f'dormant: {{ {common(d)} dormant_days = {tmap(d["dormant_days"])}; '
            f'winback = {str(d["winback"]).lower()}; {chans(d)} }};\n'
            f'follow_ups: {{ {common(f)} tier_a_reminder = {str(f["tier_a_reminder"]).lower()}; '
            f'cadence_days = {tmap(f["cadence_days"])}; }};\n')


def expected_sequence(ds):
    """The union of the runs' plans, each message with the run that first
    plans it; and the messages due for a stretch at least as long as the
    interval between runs (checked on a 15-minute grid): a run falls in it,
    so none of these may be missing."""
    nows = [parse_instant(t) for t in ds["nows"]]
    occ = occasions(ds, nows[0])
    first = {}
    for t in nows:
        for o in occ:
            if due_at(o, t) and o.key not in first:
                first[o.key] = (o, t)
    union = sorted(f"{o.line()}|{fmt_instant(t)}" for o, t in first.values())
    step = timedelta(minutes=15)
    span = {}
    t = nows[0]
    while t <= nows[-1]:
        for o in occ:
            if due_at(o, t):
                lo, hi, _ = span.get(o.key, (t, t, o.job))
                span[o.key] = (min(lo, t), max(hi, t), o.job)
        t += step
    must = sorted(f"{job}|{k}" for k, (lo, hi, job) in span.items()
                  if hi - lo >= timedelta(hours=ds["interval_hours"]))
    return union, must


def main(argv):
    if len(argv) >= 3 and argv[0] == "gen":
        seed, out = int(argv[1]), argv[2]
        seq = "--sequence" in argv[3:]
        ds = generate(seed, seq)
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
        with open(f"{out}/expected", "w") as f:
            if seq:
                union, must = expected_sequence(ds)
                f.write("".join(x + "\n" for x in union))
                with open(f"{out}/must", "w") as g:
                    g.write("".join(x + "\n" for x in must))
            else:
                for t in ds["nows"]:
                    f.write(f"== {t}\n" + "".join(x + "\n" for x in plan(ds, parse_instant(t))))
        return 0
    if len(argv) == 3 and argv[0] == "plan":
        with open(argv[1]) as f:
            ds = json.load(f)
        print("\n".join(plan(ds, parse_instant(argv[2]))))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
