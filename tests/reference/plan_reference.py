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


def pick_nows(r, anchor, edges, count, bias):
    """count run instants: the anchor, then mostly an edge (a message's
    date coming or its lateness running out) to the second or a second or
    half an hour either side, else a time near the anchor."""
    edges = sorted(edges)
    nows = [anchor]
    while len(nows) < count:
        if edges and r.random() < bias:
            t = r.choice(edges) + timedelta(seconds=r.choice([0, 0, 0, -1, 1, -1800, 1800, -3600]))
        else:
            t = anchor + timedelta(minutes=r.randrange(-18 * 60, 18 * 60))
        if t not in nows:
            nows.append(t)
    return [fmt_instant(t) for t in nows]


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


def birthday_on(bd, y, feb29):
    """The date in year y of a birthday bd, by the feb29 policy (None: skip)."""
    if (bd.month, bd.day) == (2, 29) and not is_leap(y):
        return None if feb29 == "skip" else date(y, 2, 28) if feb29 == "feb28" else date(y, 3, 1)
    return date(y, bd.month, bd.day)


def last_activity(ds):
    """Each customer's latest interaction (instant) and latest invoice (date)."""
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
            occ = birthday_on(b, y, s["feb29"])
            if occ is None or occ < eff:
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
    last_at, _ = last_activity(ds)
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
    last_at, last_inv = last_activity(ds)
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
        ds["nows"] = pick_nows(r, anchor, edges, 3, 0.8)
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


# ------------------------------------------- holidays, receivables, complaints
#
# The rules, as documented (rapport.conf(5) JOBS, README "Jobs"):
#
#  holidays    customer, per channel of the job, consent and an address:
#              on each configured date (not before effective_from), at
#              send_at in the customer's zone, within max_lateness; only the
#              holiday's tiers when it lists some.
#              Key holiday:NAME:DATE:CHANNEL:CUSTOMER.
#  receivables every unpaid invoice (paid_on empty, amount > 0) of an active
#              customer, every level (days after due_on, negative before;
#              audience; channels; template) and channel of the level: due
#              when due_on + days is today or past in the recipient's zone,
#              at send_at there, within max_lateness, not for level dates
#              before effective_from; once per invoice, level, channel and
#              audience (the ledger).  Recipient: customer (its address on the
#              channel, no consent needed); rep (the owning rep, or when it
#              is inactive the rep's active manager); manager (the owning
#              rep's active manager); no such active person, no address on
#              the channel, a suppressed address or an unknown zone: skipped.
#              The invoices of one customer reaching levels in the same run
#              go in one message per recipient and channel (see
#              ambiguity A below for the audience), key
#              dunning:FIRST:DAYS:CHANNEL (:rep or :manager appended for
#              those audiences) with DAYS the highest level among
#              them and FIRST the first invoice number at it.  The message
#              lists those invoices and every other unpaid invoice of the
#              customer past due in the recipient's zone (except one whose
#              whole ladder ended before effective_from), with totals per
#              currency.
#  complaints  open complaint: opened_at + response_hours[severity] (an
#              unknown severity is normal) passed: the owning rep (or the
#              manager standing in for an inactive rep), once; at twice the
#              deadline the rep's manager, once; not at send_at, within
#              max_lateness, not for deadlines before effective_from (the
#              deadline's date in the recipient's zone).  Keys
#              complaint:ID:rep, complaint:ID:manager.  Resolved complaint
#              (survey = true): the customer, survey_after_days after the
#              resolution day (in the customer's zone) at send_at, consent,
#              once, by the first channel of `channels` that reaches the
#              customer (address, consent, not suppressed).  Key
#              survey:CHANNEL:ID.
#
# Choices the documentation leaves open, made as the jobs make them (and
# reported): (A) a customer's invoices reaching a rep level and a manager
# level in the same run, both going to the manager (the rep inactive), are
# two messages, one per audience; (B) messages to reps and managers about
# an inactive customer (dunning, complaint alerts) are not planned; (C) a
# grouped dunning message's send time is the latest of its items'; (D) the
# "first" invoice of a key is the smallest number as text.

MORE_JOBS = ("holidays", "receivables", "complaints")
SEVERITY_HOURS = {"critical": 4, "high": 24, "normal": 72, "low": 168}


class Alert(Occasion):
    """A message due at an instant (not a date at send_at): complaint alerts."""
    __slots__ = ()


def due_at_more(o, now):
    if isinstance(o, Alert):
        return o.not_before <= now <= o.not_before + timedelta(seconds=o.lateness)
    return due_at(o, now)


def _suppressed(ds, addr):
    return addr.lower() in ds.get("suppressed", [])


def _cust_addr(c, ch):
    if ch == "email":
        return c["email"].lower() if c.get("email") else None
    return c.get("phone")


def occasions_holidays(ds):
    s = ds["jobs"]["holidays"]
    eff = date.fromisoformat(s["effective_from"])
    send_at = _send_at(s)
    out = []
    for h in s["dates"]:
        d = date.fromisoformat(h["date"])
        if d < eff:
            continue
        for c in ds["customers"]:
            if not c["active"] or ("tiers" in h and c["tier"] not in h["tiers"]):
                continue
            tz = _tz_of(c, ds)
            if not zone_ok(tz):
                continue
            nb = local_to_utc(d, send_at, tz)
            for ch, rcpt in _customer_addresses(c, s["channels"]):
                if _suppressed(ds, rcpt):
                    continue
                out.append(Occasion("holidays", f"holiday:{h['name']}:{d.isoformat()}:{ch}:{c['id']}", rcpt, tz, d, nb,
                                    s["max_lateness"]))
    return out


def _severity(sev):
    x = (sev or "").strip().lower()
    return x if x in SEVERITY_HOURS else "normal"


def _person_to(ds, c, audience):
    """The rep or manager who gets a rep- or manager-audience message about
    customer c, or None."""
    reps = {r["id"]: r for r in ds["reps"]}
    rep = reps.get(c.get("rep_id"))
    if rep is None:
        return None
    mgr = reps.get(rep.get("manager_id"))
    if audience == "rep" and rep["active"]:
        return rep
    if mgr is not None and mgr["active"]:
        return mgr
    return None


def occasions_complaints(ds):
    s = ds["jobs"]["complaints"]
    eff = date.fromisoformat(s["effective_from"])
    send_at = _send_at(s)
    hours = dict(SEVERITY_HOURS, **s.get("response_hours", {}))
    custs = {c["id"]: c for c in ds["customers"]}
    out = []
    for k in ds["complaints"]:
        c = custs[k["customer_id"]]
        if not c["active"]:
            continue
        if k.get("resolved_at") is None:
            h = hours[_severity(k.get("severity"))]
            for audience, factor in (("rep", 1), ("manager", 2)):
                p = _person_to(ds, c, audience)
                if p is None or not p.get("email"):
                    continue
                tz = _tz_of(p, ds)
                if not zone_ok(tz) or _suppressed(ds, p["email"]):
                    continue
                dl = parse_instant(k["opened_at"]) + timedelta(seconds=round(factor * h * 3600))
                if local_date(dl, tz) < eff:
                    continue
                out.append(Alert("complaints", f"complaint:{k['id']}:{audience}", p["email"].lower(), tz,
                                 local_date(dl, tz), dl, s["max_lateness"]))
        elif s.get("survey", True):
            tz = _tz_of(c, ds)
            if not zone_ok(tz):
                continue
            d = local_date(parse_instant(k["resolved_at"]), tz) + timedelta(days=s["survey_after_days"])
            if d < eff:
                continue
            reach = [(ch, a) for ch, a in _customer_addresses(c, s["channels"]) if not _suppressed(ds, a)]
            if reach:
                ch, a = reach[0]
                out.append(Occasion("complaints", f"survey:{ch}:{k['id']}", a, tz, d,
                                    local_to_utc(d, send_at, tz), s["max_lateness"]))
    return out


class DunItem:
    __slots__ = ("inv", "days", "audience", "channel", "recipient", "tz", "level_on", "not_before", "lateness")

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)

    def due(self, now):
        return self.level_on <= local_date(now, self.tz) and now <= self.not_before + timedelta(seconds=self.lateness)


def dunning_items(ds):
    """Every (invoice, level, channel) the ladder calls for that reaches a
    recipient, with its date and send time; whether it is due is the run's."""
    s = ds["jobs"]["receivables"]
    eff = date.fromisoformat(s["effective_from"])
    send_at = _send_at(s)
    custs = {c["id"]: c for c in ds["customers"]}
    out = []
    for v in ds["invoices_r"]:
        c = custs[v["customer_id"]]
        if not c["active"] or v.get("paid_on") or float(v["amount"]) <= 0:
            continue
        for lv in s["levels"]:
            level_on = date.fromisoformat(v["due_on"]) + timedelta(days=lv["days"])
            if level_on < eff:
                continue
            for ch in lv["channels"]:
                if lv["audience"] == "customer":
                    tz, addr = _tz_of(c, ds), _cust_addr(c, ch)
                else:
                    p = _person_to(ds, c, lv["audience"])
                    if p is None:
                        continue
                    tz = _tz_of(p, ds)
                    addr = (p.get("email") or "").lower() or None if ch == "email" else p.get("phone")
                if not zone_ok(tz) or addr is None or _suppressed(ds, addr):
                    continue
                out.append(DunItem(inv=v, days=lv["days"], audience=lv["audience"], channel=ch, recipient=addr, tz=tz,
                                   level_on=level_on, not_before=local_to_utc(level_on, send_at, tz),
                                   lateness=s["max_lateness"]))
    return out


def _fmt_amount(amount, currency):
    from decimal import Decimal
    a = Decimal(str(amount))
    minor = (0 if currency in ("JPY", "KRW", "VND", "CLP") else 3 if currency in ("BHD", "KWD", "JOD", "OMR", "TND")
             else 2)
    scale = max(-a.normalize().as_tuple().exponent, 0) if a != 0 else 0
    n = max(minor, scale)
    return f"{a:,.{n}f}"


def dunning_run(ds, now, ledger):
    """The messages one receivables run plans at now, given the ledger of
    (invoice number, level days, channel, audience) already charged (updated):
    [(line, listed invoice numbers, totals)]."""
    s = ds["jobs"]["receivables"]
    eff = date.fromisoformat(s["effective_from"])
    top_level = max(lv["days"] for lv in s["levels"])
    groups = {}
    for it in dunning_items(ds):
        k = (it.inv["number"], it.days, it.channel, it.audience)
        if k in ledger or not it.due(now):
            continue
        groups.setdefault((it.inv["customer_id"], it.audience, it.recipient, it.channel), []).append(it)
    charged = set()
    out = []
    for (cid, audience, rcpt, ch), items in groups.items():
        items = [i for i in items if (i.inv["number"], i.days, ch, audience) not in charged]
        charged.update((i.inv["number"], i.days, ch, audience) for i in items)
        if not items:
            continue
        top = max(i.days for i in items)
        first = min(i.inv["number"] for i in items if i.days == top)
        nb = max(i.not_before for i in items)
        key = f"dunning:{first}:{top}:{ch}" + ("" if audience == "customer" else f":{audience}")
        line = "|".join(("receivables", key, rcpt, fmt_instant(nb)))
        today = local_date(now, items[0].tz)
        listed = {i.inv["number"]: i.inv for i in items}
        for v in ds["invoices_r"]:
            if (v["customer_id"] == cid and not v.get("paid_on") and float(v["amount"]) > 0
                    and date.fromisoformat(v["due_on"]) < today
                    and date.fromisoformat(v["due_on"]) + timedelta(days=top_level) >= eff):
                listed.setdefault(v["number"], v)
        from decimal import Decimal
        tot = {}
        for v in listed.values():
            tot[v["currency"]] = tot.get(v["currency"], Decimal(0)) + Decimal(v["amount"])
        totals = ";".join(f"{cur} {_fmt_amount(a, cur)}" for cur, a in sorted(tot.items()))
        out.append((line, ",".join(sorted(listed)), totals))
    ledger.update(charged)
    return out


def occasions_more(ds):
    return occasions_holidays(ds) + occasions_complaints(ds)


def plan_more(ds, now, occ=None):
    """Lines "job|key|recipient|not_before" due at now on an empty outbox,
    and for receivables "key|invoices|totals" lines."""
    if occ is None:
        occ = occasions_more(ds)
    lines = [o.line() for o in occ if due_at_more(o, now)]
    built = []
    for line, invs, totals in dunning_run(ds, now, set()):
        lines.append(line)
        built.append(f"{line.split('|')[1]}|{invs}|{totals}")
    return sorted(lines), sorted(built)


def expected_sequence_more(ds):
    nows = [parse_instant(t) for t in ds["nows"]]
    occ = occasions_more(ds)
    first, ledger = {}, set()
    for t in nows:
        for o in occ:
            if due_at_more(o, t) and o.key not in first:
                first[o.key] = f"{o.line()}|{fmt_instant(t)}"
        for line, _, _ in dunning_run(ds, t, ledger):
            first[line.split("|")[1]] = f"{line}|{fmt_instant(t)}"
    union = sorted(first.values())
    # Due for at least the interval between runs: must be planned.  For
    # receivables, each item (invoice, level, channel, audience) so due must be in
    # some message; the test checks the ledger.
    step = timedelta(minutes=15)
    span = {}
    items = dunning_items(ds)
    t = nows[0]
    while t <= nows[-1]:
        for o in occ:
            if due_at_more(o, t):
                lo, hi = span.get(o.job + "|" + o.key, (t, t))
                span[o.job + "|" + o.key] = (min(lo, t), max(hi, t))
        for i in items:
            if i.due(t):
                k = f"ledger|{i.inv['number']}:{i.days}:{i.channel}:{i.audience}"
                lo, hi = span.get(k, (t, t))
                span[k] = (min(lo, t), max(hi, t))
        t += step
    must = sorted(k for k, (lo, hi) in span.items() if hi - lo >= timedelta(hours=ds["interval_hours"]))
    return union, must


# The generator.  Reps with managers (chains, inactive links), customers
# and reps in the extreme zones and those changing DST around the anchor,
# invoices in several currencies whose level dates sit at the edges in the
# recipient's zone, complaints whose deadlines or survey days do, holidays
# on the dates that have just come or whose lateness runs out.

CURRENCIES = ["EUR", "USD", "JPY", "BHD", "CNY"]
LEVEL_DAYS = [-7, -3, -1, 0, 1, 2, 3, 15, 30, 60]


def _ladder(r):
    if r.random() < 0.2:
        return [{"days": 1, "audience": "customer", "channels": ["email"], "template": "dunning_friendly"},
                {"days": 15, "audience": "customer", "channels": ["email", "sms"], "template": "dunning_firm"},
                {"days": 30, "audience": "rep", "channels": ["email"], "template": "dunning_rep_call"},
                {"days": 60, "audience": "manager", "channels": ["email"], "template": "dunning_manager"}]
    tpl = {"customer": "dunning_firm", "rep": "dunning_rep_call", "manager": "dunning_manager"}
    levels, used = [], set()
    # Now and then one day reaches two audiences (the ledger and the key
    # tell them apart).
    for d in sorted(r.sample(LEVEL_DAYS, r.randint(2, 5))):
        auds = (r.sample(["customer", "rep", "manager"], 2) if r.random() < 0.25
                else [r.choice(["customer", "customer", "rep", "manager"])])
        for aud in auds:
            chs = r.choice([["email"], ["sms"], ["email", "sms"]]) if aud == "customer" or r.random() < 0.3 else ["email"]
            chs = [c for c in chs if (d, c, aud) not in used]
            if not chs:
                continue
            used.update((d, c, aud) for c in chs)
            levels.append({"days": d, "audience": aud, "channels": chs,
                           "template": "dunning_courtesy" if d < 0 and aud == "customer" else tpl[aud]})
    return levels


def generate_more(seed, sequence=False):
    r = random.Random(seed)
    anchor, near = ANCHORS[seed % len(ANCHORS)]
    anchor = parse_instant(anchor)
    x = r.random()
    if x < 0.3:
        anchor += timedelta(minutes=r.randrange(-12 * 60, 12 * 60, 15))
    elif x < 0.8:
        tz = r.choice(near) if r.random() < 0.6 else r.choice(ZONES_EXTREME)
        anchor = local_to_utc(local_date(anchor, tz) + timedelta(days=r.randint(-1, 3)), time(0), tz)
        anchor += timedelta(seconds=r.choice([0, 0, 1, 1800, 3540, -1]))
    a_day = anchor.date()
    ds = {"seed": seed, "anchor": fmt_instant(anchor), "default_tz": _pick_zone(r, near) if r.random() < 0.7 else "UTC"}
    interval = r.choice([3, 6]) if sequence else None

    def lateness():
        if sequence:
            return r.choice([l for l in LATENESS if l >= interval * 3600])
        return r.choice(LATENESS)

    def eff_from():
        return "2020-01-01" if r.random() < 0.6 else (a_day + timedelta(days=r.randint(-3, 1))).isoformat()

    channels = [["email"], ["sms"], ["email", "sms"], ["sms", "email"]]
    rh = {}
    for sev, choices in (("critical", [0.5, 1, 2, 4]), ("high", [1.5, 8, 24]), ("normal", [12, 72]), ("low", [48, 168])):
        if r.random() < 0.5:
            rh[sev] = r.choice(choices)
    jobs = {
        "holidays": {"send_at": r.choice(SEND_ATS), "max_lateness": lateness(), "effective_from": eff_from(),
                     "channels": r.choice(channels), "dates": []},
        "receivables": {"send_at": r.choice(SEND_ATS), "max_lateness": lateness(), "effective_from": eff_from(),
                        "levels": _ladder(r)},
        "complaints": {"send_at": r.choice(SEND_ATS), "max_lateness": lateness(), "effective_from": eff_from(),
                       "channels": r.choice(channels), "survey_after_days": r.choice([0, 1, 2, 2, 3, 7]),
                       "survey": r.random() < 0.9, "response_hours": rh},
    }
    ds["jobs"] = jobs

    reps = []
    for i in range(1, 8):
        reps.append({"id": i, "email": (f"Rep{i}@Example.com" if r.random() < 0.2 else f"rep{i}@example.com"),
                     "phone": f"+1555020{i:04d}" if r.random() < 0.7 else None,
                     "tz": "" if r.random() < 0.1 else BAD_ZONE if r.random() < 0.04 else _pick_zone(r, near, 0.5),
                     "active": r.random() < 0.75,
                     "manager_id": r.choice([None, 6, 7, 6, 7, 1]) if i < 6 else (7 if i == 6 and r.random() < 0.5 else None)})
        if reps[-1]["manager_id"] == i:
            reps[-1]["manager_id"] = None
    ds["reps"] = reps
    rep_by = {p["id"]: p for p in reps}

    def ztz(tz):
        tz = tz or ds["default_tz"]
        return tz if zone_ok(tz) else "UTC"

    def target(tz, send_at, late):
        if r.random() < 0.5:
            return local_date(anchor, tz) - timedelta(days=r.choice([0, 0, 1]))
        h, m = map(int, send_at.split(":"))
        base = local_date(anchor - timedelta(seconds=late), tz)
        days = [base + timedelta(days=k) for k in (-2, -1, 0, 1)]
        return min(days, key=lambda d: abs(local_to_utc(d, time(h, m), tz) + timedelta(seconds=late) - anchor))

    customers = []
    for i in range(1, 15):
        c = {"id": i, "tier": r.choice("AABCC"), "tz": None if r.random() < 0.15 else _pick_zone(r, near),
             "email": (f"C{i}@Example.com" if r.random() < 0.2 else f"c{i}@example.com") if r.random() < 0.85 else None,
             "phone": f"+1555010{i:04d}" if r.random() < 0.7 else None,
             "consent_email": r.random() < 0.8, "consent_sms": r.random() < 0.7,
             "rep_id": r.randint(1, 7) if r.random() < 0.92 else None,
             "active": r.random() < 0.92, "created_at": "2020-01-01T00:00:00Z"}
        if r.random() < 0.03:
            c["tz"] = BAD_ZONE
        customers.append(c)
    ds["customers"] = customers

    # Holidays: dates that have just come, or whose lateness runs out, in
    # the customers' zones.
    hs = jobs["holidays"]
    names = ["Spring Festival", "Mid-Autumn", "New Year", "Lantern", "Dragon Boat"]
    for n in range(r.randint(2, 4)):
        c = r.choice(customers)
        d = target(ztz(c["tz"]), hs["send_at"], hs["max_lateness"])
        h = {"name": names[n], "date": d.isoformat(), "template": r.choice(["holiday", "spring_festival", "mid_autumn"])}
        if r.random() < 0.3:
            h["tiers"] = sorted(r.sample("ABC", r.randint(1, 2)))
        hs["dates"].append(h)

    # Invoices: a level date at an edge in the recipient's zone.
    rs = jobs["receivables"]
    invoices = []
    for c in customers:
        for _ in range(r.choice([0, 1, 2, 2, 3, 4])):
            lv = r.choice(rs["levels"])
            if lv["audience"] == "customer":
                tz = ztz(c["tz"])
            else:
                p = _person_to(ds, c, lv["audience"]) or rep_by.get(c["rep_id"])
                tz = ztz(p["tz"] if p else None)
            if r.random() < 0.75:
                due = target(tz, rs["send_at"], rs["max_lateness"]) - timedelta(days=lv["days"])
            else:
                due = a_day - timedelta(days=r.randint(-8, 70))
            cur = r.choice(CURRENCIES)
            amt = (str(r.choice([500, 12000, 1234567])) if cur == "JPY" else
                   r.choice(["10.000", "1234.567", "0.5"]) if cur == "BHD" else
                   r.choice(["10", "1234.50", "999999.99", "0.01", "12.345"]))
            if r.random() < 0.05:
                amt = "0"
            invoices.append({"customer_id": c["id"], "number": f"INV-{len(invoices) + 1:03d}", "amount": amt,
                             "currency": cur, "issued_on": (due - timedelta(days=30)).isoformat(),
                             "due_on": due.isoformat(),
                             "paid_on": (due + timedelta(days=1)).isoformat() if r.random() < 0.12 else None})
    ds["invoices_r"] = invoices

    # Complaints: deadlines (x1, x2) at or near the anchor; survey days at edges.
    ks = jobs["complaints"]
    hours = dict(SEVERITY_HOURS, **ks["response_hours"])
    complaints = []
    for c in customers:
        for _ in range(r.choice([0, 1, 1, 2])):
            sev = r.choice(["critical", "high", "normal", "low"])  # the reference schema allows only these
            k = {"id": len(complaints) + 1, "customer_id": c["id"], "severity": sev, "resolved_at": None}
            if r.random() < 0.55:
                h = hours[_severity(sev)]
                factor = r.choice([1, 2])
                edge = anchor - timedelta(seconds=r.choice([0, 0, 1, -1, 900, -900, ks["max_lateness"],
                                                             ks["max_lateness"] + 1, 3600]))
                k["opened_at"] = fmt_instant(edge - timedelta(seconds=round(factor * h * 3600)))
            else:
                tz = ztz(c["tz"])
                if r.random() < 0.3:  # late on the evening survey_after_days before the anchor's day
                    d = local_date(anchor, tz) - timedelta(days=ks["survey_after_days"])
                    u = local_to_utc(d, r.choice([time(23, 59, 30), time(23, 30)]), tz)
                else:
                    d = target(tz, ks["send_at"], ks["max_lateness"]) - timedelta(days=ks["survey_after_days"])
                    u = _edge_instant(r, d, [tz, tz, tz, _pick_zone(r, near)])
                k["resolved_at"] = fmt_instant(u)
                k["opened_at"] = fmt_instant(u - timedelta(hours=r.choice([1, 30, 200])))
            complaints.append(k)
    ds["complaints"] = complaints

    # Suppressed addresses: a few of the customers' and reps'.
    addrs = [c["email"].lower() for c in customers if c["email"]] + [c["phone"] for c in customers if c["phone"]]
    addrs += [p["email"].lower() for p in reps]
    ds["suppressed"] = sorted(set(r.sample(addrs, min(3, len(addrs)))))

    occ = occasions_more(ds)
    if sequence:
        t0 = (anchor - timedelta(days=2)).replace(minute=0, second=0)
        t0 -= timedelta(hours=t0.hour % interval)
        n = 4 * 24 // interval
        ds["interval_hours"] = interval
        ds["nows"] = [fmt_instant(t0 + timedelta(hours=interval * k)) for k in range(n + 1)]
    else:
        edges = []
        for o in occ:
            es = [o.not_before] if isinstance(o, Alert) else [local_to_utc(o.due, time(0), o.tz)]
            es.append(o.not_before + timedelta(seconds=o.lateness))
            edges += [e for e in es if abs(e - anchor) <= timedelta(days=4)]
        for i in dunning_items(ds):
            for e in (local_to_utc(i.level_on, time(0), i.tz), i.not_before + timedelta(seconds=i.lateness)):
                if abs(e - anchor) <= timedelta(days=4):
                    edges.append(e)
        ds["nows"] = pick_nows(r, anchor, edges, 4, 0.85)
    # A complaint is resolved before the runs that see it resolved: the CRM
    # cannot know a later resolution (with survey_after_days 0, a run early
    # on the day would otherwise survey a resolution still to come).
    first = min(parse_instant(t) for t in ds["nows"])
    for k in complaints:
        if k["resolved_at"] and parse_instant(k["resolved_at"]) > first:
            k["resolved_at"] = fmt_instant(first - timedelta(seconds=1))
            k["opened_at"] = min(k["opened_at"], k["resolved_at"])
    return ds


def data_sql_more(ds):
    lines = []
    for p in ds["reps"]:
        lines.append("INSERT INTO crm.reps (id, name, email, phone, time_zone, locale, digest_hour, active) VALUES "
                     f"({p['id']}, 'Rep {p['id']}', {sql_lit(p['email'])}, {sql_lit(p['phone'])}, {sql_lit(p['tz'])}, "
                     f"'en', 8, {sql_lit(p['active'])});")
    for p in ds["reps"]:
        if p["manager_id"]:
            lines.append(f"UPDATE crm.reps SET manager_id = {p['manager_id']} WHERE id = {p['id']};")
    for c in ds["customers"]:
        lines.append("INSERT INTO crm.customers (id, name, tier, email, phone, time_zone, locale, rep_id, "
                     "consent_email, consent_sms, created_at, active) VALUES "
                     f"({c['id']}, 'Customer {c['id']}', {sql_lit(c['tier'])}, {sql_lit(c['email'])}, "
                     f"{sql_lit(c['phone'])}, {sql_lit(c['tz'])}, 'en', {sql_lit(c['rep_id'])}, "
                     f"{sql_lit(c['consent_email'])}, {sql_lit(c['consent_sms'])}, {sql_lit(c['created_at'])}, "
                     f"{sql_lit(c['active'])});")
    for n, v in enumerate(ds["invoices_r"], 1):
        lines.append("INSERT INTO crm.invoices (id, customer_id, number, amount, currency, issued_on, due_on, paid_on) "
                     f"VALUES ({n}, {v['customer_id']}, {sql_lit(v['number'])}, {v['amount']}, {sql_lit(v['currency'])}, "
                     f"{sql_lit(v['issued_on'])}, {sql_lit(v['due_on'])}, {sql_lit(v['paid_on'])});")
    for k in ds["complaints"]:
        lines.append("INSERT INTO crm.complaints (id, customer_id, severity, summary, opened_at, resolved_at) VALUES "
                     f"({k['id']}, {k['customer_id']}, {sql_lit(k['severity'])}, 'It broke', {sql_lit(k['opened_at'])}, "
                     f"{sql_lit(k['resolved_at'])});")
    for a in ds["suppressed"]:
        lines.append(f"INSERT INTO rapport.suppression (address, channel) VALUES ({sql_lit(a)}, "
                     f"'{'sms' if a.startswith('+') else 'email'}');")
    return "\n".join(lines) + "\n"


def jobs_conf_more(ds):
    def common(s):
        return (f'send_at = "{s["send_at"]}"; max_lateness = {LATENESS_CONF[s["max_lateness"]]}; '
                f'effective_from = "{s["effective_from"]}";')

    def strs(xs):
        return "[ " + ", ".join(f'"{x}"' for x in xs) + " ]"

    h, rv, k = ds["jobs"]["holidays"], ds["jobs"]["receivables"], ds["jobs"]["complaints"]
    dates = ", ".join("{ " + f'name = "{d["name"]}"; date = "{d["date"]}"; template = "{d["template"]}";'
                      + (f' tiers = {strs(d["tiers"])};' if "tiers" in d else "") + " }" for d in h["dates"])
    levels = ", ".join("{ " + f'days = {lv["days"]}; audience = "{lv["audience"]}"; channels = {strs(lv["channels"])}; '
                       f'template = "{lv["template"]}"; ' + "}" for lv in rv["levels"])
    rh = " ".join(f"{sev} = {v};" for sev, v in sorted(k["response_hours"].items()))
    return (f'holidays: {{ {common(h)} channels = {strs(h["channels"])}; dates = ( {dates} ); }};\n'
            f'receivables: {{ {common(rv)} levels = ( {levels} ); }};\n'
            f'complaints: {{ {common(k)} channels = {strs(k["channels"])}; '
            f'survey_after_days = {k["survey_after_days"]}; survey = {str(k["survey"]).lower()}; '
            f'response_hours = {{ {rh} }}; }};\n')


def gen_more(seed, out, seq):
    ds = generate_more(seed, seq)
    with open(f"{out}/ds.json", "w") as f:
        json.dump(ds, f, indent=1)
    with open(f"{out}/data.sql", "w") as f:
        f.write(data_sql_more(ds))
    with open(f"{out}/jobs.conf", "w") as f:
        f.write(jobs_conf_more(ds))
    with open(f"{out}/default_tz", "w") as f:
        f.write(ds["default_tz"] + "\n")
    with open(f"{out}/nows", "w") as f:
        f.write("\n".join(ds["nows"]) + "\n")
    rv = ds["jobs"]["receivables"]
    with open(f"{out}/receivables.json", "w") as f:  # the settings the build statement reads
        json.dump({"levels": rv["levels"], "effective_from": rv["effective_from"], "bad_debt_days": 60}, f)
    with open(f"{out}/expected", "w") as f:
        if seq:
            union, must = expected_sequence_more(ds)
            f.write("".join(x + "\n" for x in union))
            with open(f"{out}/must", "w") as g:
                g.write("".join(x + "\n" for x in must))
        else:
            with open(f"{out}/expected_built", "w") as g:
                for t in ds["nows"]:
                    lines, built = plan_more(ds, parse_instant(t))
                    f.write(f"== {t}\n" + "".join(x + "\n" for x in lines))
                    g.write(f"== {t}\n" + "".join(x + "\n" for x in built))



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
    if len(argv) >= 3 and argv[0] == "gen-more":
        gen_more(int(argv[1]), argv[2], "--sequence" in argv[3:])
        return 0
    if len(argv) == 3 and argv[0] == "plan-more":
        with open(argv[1]) as f:
            ds = json.load(f)
        lines, built = plan_more(ds, parse_instant(argv[2]))
        print("\n".join(lines + ["--"] + built))
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
