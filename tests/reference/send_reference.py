#!/usr/bin/env python3
"""Reference model of the dispatcher's send-time rules, written from the
documented rules (rapport.conf(5): email.quiet_hours, sms.quiet_hours,
outbox.lease, outbox.retry, outbox.max_attempts, outbox.max_age, a job's
max_lateness; README "Delivery"), not from the SQL in daemon/outbox.c; and a
generator of rounds of outbox rows whose times sit near the rules' edges.
tests/integration/test_send_reference.sh compares the two.

The rules, as documented, for one `rapportd --once --now T` and a row:

  due        a queued row is looked at when next_attempt_at <= T and
             not_before <= T ("not sent before not_before"); a row whose
             lease expired (state sending) is due again, and waits out
             quiet hours "like any other".
  quiet      per channel, "HH:MM-HH:MM" in the recipient's own zone (the
             window may cross midnight; "" or equal ends: none; SMS default
             21:00-08:00, e-mail none).  A row due inside it stays queued
             with next_attempt_at = the end of the window: the first
             instant after T at which the recipient's wall clock is no
             longer inside the window.  When the end's wall time does not
             exist (a DST gap) that is the instant the clocks jump; when it
             occurs twice (the clocks go back) the model takes its second
             occurrence, as the documentation reads repeated local times
             for send_at (rapport.conf(5) JOBS) -- the window is in force
             again during the repeated stretch, so that end is the safe one.
  expiry     a row whose expires_at < T is cancelled, not sent (max_lateness:
             "a queued message not sent by then is cancelled").  A row
             deferred by quiet hours is not checked (it is checked "just
             before sending").
  send       otherwise it is sent (attempts + 1) if the gateway accepts it.
  retry      on a temporary failure (SMS 5xx / 429): attempts + 1 (a 429
             is not counted); failed when attempts >= max_attempts (not
             for a 429) or when it has been failing for more than max_age
             since it became due (T - not_before > max_age); else queued,
             next_attempt_at = T + retry[attempts-1]
             (the last repeated) with +-20% jitter (whole seconds, at least
             1), or T + Retry-After seconds when the gateway names it;
             never later than not_before + max_age.

Usage:
  send_reference.py gen SEED DIR        writes DIR/round.json, DIR/rows.sql,
                                        DIR/now, DIR/script (SMS sink lines)
  send_reference.py conf DIR BASE OUT   the round's rapport.conf from BASE
  send_reference.py check DIR ACTUAL SENT
      ACTUAL: "key|state|next_epoch|attempts" lines read back from the
      outbox; SENT: recipients the sinks received.  Prints one line per
      divergence (nothing when the code agrees with the model).
  send_reference.py expect DIR          the model's outcome per row
"""
import json
import random
import sys
from email.utils import format_datetime, parsedate_to_datetime
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc
ZONES = ["Etc/GMT+12", "Pacific/Kiritimati", "Pacific/Chatham", "Asia/Kathmandu",
         "Australia/Lord_Howe", "America/St_Johns", "America/New_York", "Europe/London",
         "America/Santiago", "UTC"]
DST_ZONES = ["Pacific/Chatham", "Australia/Lord_Howe", "America/St_Johns", "America/New_York",
             "Europe/London", "America/Santiago"]
WINDOWS = ["21:00-08:00", "00:00-06:00", "22:00-07:00", "23:00-00:00", "22:00-00:30",
           "00:30-02:30", "01:00-01:30", "01:00-02:15", "02:15-03:50", "23:30-23:45", "20:00-02:00",
           "00:00-01:00", "21:00-23:30", "03:00-03:30", "02:00-03:00"]
RETRIES = [[60, 300, 1800], [10], [3600, 7200], [1, 100]]


def mins(hhmm):
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def window(q):
    if not q:
        return None
    a, b = q.split("-")
    qs, qe = mins(a), mins(b)
    return None if qs == qe else (qs, qe)


def in_quiet(local, w):
    qs, qe = w
    t = local.hour * 60 + local.minute + local.second / 60.0
    if qs > qe:
        return t >= qs or t < qe
    return qs <= t < qe


def off(z, instant):
    return instant.astimezone(z).utcoffset()


def local_to_instants(z, naive):
    """All instants whose wall time in Z is NAIVE (0, 1 or 2 of them)."""
    out = []
    for fold in (0, 1):
        u = naive.replace(tzinfo=z, fold=fold).astimezone(UTC)
        if u.astimezone(z).replace(tzinfo=None) == naive and u not in out:
            out.append(u)
    return sorted(out)


def transition_after(z, lo, hi):
    """The instant in (lo, hi] at which Z's offset changes (1 s resolution)."""
    o = off(z, lo)
    while (hi - lo) > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid <= lo:
            mid = lo + timedelta(seconds=1)
        if off(z, mid) == o:
            lo = mid
        else:
            hi = mid
    return hi


def quiet_end(z, T, w):
    """(end instant, note) for a row due at T inside window W in zone Z."""
    qs, qe = w
    local = T.astimezone(z)
    t = local.hour * 60 + local.minute + local.second / 60.0
    d = local.date()
    if qs > qe and t >= qs:
        d = d + timedelta(days=1)
    L = datetime(d.year, d.month, d.day) + timedelta(minutes=qe)
    inst = local_to_instants(z, L)
    if len(inst) == 1:
        return inst[0], ""
    if len(inst) == 2:
        return inst[1], "repeated"
    # A gap: the wall clock jumps over L; the window ends at the jump.
    lo = L.replace(tzinfo=z, fold=0).astimezone(UTC) - timedelta(hours=3)
    hi = L.replace(tzinfo=z, fold=0).astimezone(UTC) + timedelta(hours=3)
    lo = max(lo, T)
    return transition_after(z, lo, hi), "gap"


def iso(u):
    return u.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


def model(rd):
    """{key: (state, next_epoch or None, attempts, sent, note)}"""
    T = parse(rd["now"])
    out = {}
    for r in rd["rows"]:
        ch = r["channel"]
        w = window(rd["quiet"][ch])
        z = ZoneInfo(r["zone"])
        nb, na = parse(r["not_before"]), parse(r["next_attempt_at"])
        exp = parse(r["expires_at"]) if r["expires_at"] else None
        att = r["attempts"]
        key = r["key"]
        expired_lease = r["state"] == "sending"
        if expired_lease and w is None:
            # claimed again directly (no quiet hours to wait for)
            due = True
        elif expired_lease:
            due = True
            if not (w and in_quiet(T.astimezone(z), w)) and not (na <= T and nb <= T):
                out[key] = ("queued", int(na.timestamp()), att, False, "lease expired, not due")
                continue
        else:
            due = na <= T and nb <= T
        if not due:
            out[key] = ("queued", int(na.timestamp()), att, False, "not due")
            continue
        if w and in_quiet(T.astimezone(z), w):
            e, note = quiet_end(z, T, w)
            out[key] = ("queued", int(e.timestamp()), att, False, "quiet " + note)
            continue
        if exp is not None and exp < T:
            out[key] = ("cancelled", None, att + 1, False, "expired")
            continue
        a = att + 1
        fail = rd["sms_fail"] if ch == "sms" else None
        if not fail:
            out[key] = ("sent", None, a, True, "")
            continue
        age = (T - nb).total_seconds()
        throttled = fail.startswith("429")
        if (a >= rd["max_attempts"] and not throttled) or age > rd["max_age"]:
            out[key] = ("failed", None, a, True, "gave up")
            continue
        # No retry later than the message turns too old.
        last = int((nb + timedelta(seconds=rd["max_age"])).timestamp())
        t = int(T.timestamp())
        if fail.startswith("429 Retry-After=") and "%20" in fail:
            # HTTP-date: an instant; one already past means a second from
            # now (a 429 is not counted: never at once)
            at = parsedate_to_datetime(fail.split("=", 1)[1].replace("%20", " ")).astimezone(UTC)
            n = min(max(t + 1, int(at.timestamp())), last)
            out[key] = ("queued", (n, n), att, True, "retry-after date")
            continue
        if fail.startswith("429 Retry-After="):
            s = int(fail.split("=")[1])
            out[key] = ("queued", (min(t + s, last), min(t + s, last)), att, True, "retry-after")
            continue
        rl = rd["retry"]
        b = rl[min(a, len(rl)) - 1]
        lo, hi = max(1, round(0.8 * b)), max(1, round(1.2 * b))
        out[key] = ("queued", (min(t + lo, last), min(t + hi, last)), a, True, "retry")
    return out


def edges(z, w, day):
    """Instants near the window's start and end on local DAY and the day after."""
    res = []
    for d in (day, day + timedelta(days=1)):
        for m in w:
            L = datetime(d.year, d.month, d.day) + timedelta(minutes=m)
            res += local_to_instants(z, L)
            if not local_to_instants(z, L):
                res.append(L.replace(tzinfo=z, fold=0).astimezone(UTC))
                res.append(transition_after(z, L.replace(tzinfo=z).astimezone(UTC) - timedelta(hours=3),
                                            L.replace(tzinfo=z).astimezone(UTC) + timedelta(hours=3)))
    return res


def dst_days(z, year):
    """Local dates on which Z's offset changes in YEAR."""
    out = []
    u = datetime(year, 1, 1, tzinfo=UTC)
    o = off(z, u)
    while u.year == year:
        n = u + timedelta(hours=6)
        if off(z, n) != o:
            t = transition_after(z, u, n)
            out.append(t.astimezone(z).date() - timedelta(days=0))
            out.append((t - timedelta(seconds=1)).astimezone(z).date())
            o = off(z, n)
        u = n
    return sorted(set(out))


def odd_time(z, day):
    """"HH:MM" inside the gap or the repeated stretch of Z around local DAY."""
    u = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=1)
    for _ in range(12):
        n = u + timedelta(hours=6)
        if off(z, n) != off(z, u):
            t = transition_after(z, u, n)
            a = (t - timedelta(seconds=1)).astimezone(z).replace(tzinfo=None) + timedelta(seconds=1)
            b = t.astimezone(z).replace(tzinfo=None)
            lo, hi = min(a, b), max(a, b)
            m = lo + (hi - lo) / 2
            m = m.replace(second=0, microsecond=0)
            if m <= lo:
                m = lo + timedelta(minutes=1)
            return m.strftime("%H:%M")
        u = n
    return None


def gen(seed, outdir):
    rnd = random.Random(seed)
    fz = ZoneInfo(rnd.choice(DST_ZONES if rnd.random() < 0.8 else ZONES))
    quiet = {"sms": rnd.choice(WINDOWS + ["21:00-08:00"] * 2),
             "email": rnd.choice(WINDOWS + ["", ""])}
    days = dst_days(fz, 2026) or [datetime(2026, 3, 8).date()]
    day = rnd.choice(days) - timedelta(days=rnd.choice([0, 0, 0, 1]))
    if rnd.random() < 0.6 and fz.key in DST_ZONES:
        # A window whose end (or start) falls inside the day's gap or
        # repeated stretch: the edge the documentation is least explicit on.
        g = odd_time(fz, day)
        if g is not None:
            other = rnd.choice(["22:00", "00:00", "01:00", "20:00", "23:00"])
            q = "%s-%s" % (other, g) if rnd.random() < 0.8 else "%s-%s" % (g, "06:00")
            if window(q):
                quiet[rnd.choice(["sms", "email"])] = q
    w = window(quiet[rnd.choice(["sms", "email"])]) or window(quiet["sms"])
    cand = edges(fz, w, day)
    T = rnd.choice(cand) + timedelta(seconds=rnd.choice([0, 0, 0, -1, 1, -1800, 1800, 60]))
    T = T.replace(microsecond=0)
    fail = rnd.random() < 0.3
    rd = {"seed": seed, "now": iso(T), "focus": fz.key, "quiet": quiet,
          "retry": rnd.choice(RETRIES), "max_attempts": rnd.choice([3, 4, 6]),
          "max_age": rnd.choice([3600, 259200, 600]),
          "sms_fail": (rnd.choice(["503", "500", "429 Retry-After=90", "date+600", "date-600"]) if fail else None),
          "rows": []}
    if rd["sms_fail"] and rd["sms_fail"].startswith("date"):
        at = T + timedelta(seconds=int(rd["sms_fail"][4:]))
        rd["sms_fail"] = "429 Retry-After=" + format_datetime(at, usegmt=True).replace(" ", "%20")
    n = 0
    for zn in ZONES + [fz.key] * 4:
        for ch in ("sms", "email"):
            n += 1
            nb = T + timedelta(seconds=rnd.choice([-86400 * 2, -3600, -1, 0, 0, 1, 3600, -rd["max_age"],
                                                   -rd["max_age"] - 1, -rd["max_age"] + 1]))
            na = max(nb, T + timedelta(seconds=rnd.choice([-7200, -1, 0, 1, -60])))
            ex = rnd.choice([None, None, T - timedelta(seconds=1), T, T + timedelta(seconds=1),
                             T - timedelta(hours=1)])
            st = "sending" if rnd.random() < 0.08 else "queued"
            att = rnd.choice([0, 0, 0, 1, 2, 5]) if st == "queued" else 1
            rd["rows"].append({"key": "s%d:%d" % (seed, n), "channel": ch, "zone": zn, "state": st,
                               "recipient": ("+1212555%04d" % n) if ch == "sms" else "r%d@example.com" % n,
                               "not_before": iso(nb), "next_attempt_at": iso(na),
                               "expires_at": iso(ex) if ex else None, "attempts": att})
    with open(outdir + "/round.json", "w") as f:
        json.dump(rd, f, indent=1)
    with open(outdir + "/now", "w") as f:
        f.write(rd["now"] + "\n")
    with open(outdir + "/script", "w") as f:
        if rd["sms_fail"]:
            f.write("".join(rd["sms_fail"] + "\n" for _ in rd["rows"]))
    with open(outdir + "/rows.sql", "w") as f:
        for r in rd["rows"]:
            lease = ("'sending', gen_random_uuid(), now() - interval '1 minute', 'crashed:1'"
                     if r["state"] == "sending" else "'queued', NULL, NULL, NULL")
            f.write("INSERT INTO rapport.outbox (job, channel, audience, recipient, recipient_name, customer_id,"
                    " template, locale, time_zone, context, marketing, dedupe_key, not_before, next_attempt_at,"
                    " expires_at, attempts, state, lease_token, lease_until, leased_by) VALUES ('q', '%s',"
                    " 'customer', '%s', 'Gus', 1, 'birthday', 'en', '%s', '{\"customer\":{\"name\":\"Gus\"}}',"
                    " false, '%s', '%s', '%s', %s, %d, %s);\n"
                    % (r["channel"], r["recipient"], r["zone"], r["key"], r["not_before"], r["next_attempt_at"],
                       "'%s'" % r["expires_at"] if r["expires_at"] else "NULL", r["attempts"], lease))


def conf(d, base, out):
    rd = json.load(open(d + "/round.json"))
    lines = []
    for line in open(base):
        s = line.strip()
        if s.startswith("quiet_hours ="):
            line = '  quiet_hours = "%s";\n' % rd["quiet"]["sms"]
        elif s.startswith("connections ="):
            line += '  quiet_hours = "%s";\n' % rd["quiet"]["email"]
        elif s.startswith("outbox:"):
            line = 'outbox: { lease = "5m"; retry = [ %s ]; max_attempts = %d; max_age = %d; };\n' % (
                ", ".join(str(x) for x in rd["retry"]), rd["max_attempts"], rd["max_age"])
        lines.append(line)
    open(out, "w").write("".join(lines))


def check(d, actual, sent):
    rd = json.load(open(d + "/round.json"))
    exp = model(rd)
    got = {}
    for line in open(actual):
        if line.strip():
            k, st, nx, at = line.rstrip("\n").split("|")
            got[k] = (st, int(nx) if nx else None, int(at))
    sent_to = [x.strip() for x in open(sent) if x.strip()]
    bad = []
    for r in rd["rows"]:
        k = r["key"]
        e = exp[k]
        g = got.get(k)
        nsent = sent_to.count(r["recipient"])
        ok = g is not None and g[0] == e[0] and g[2] == e[2] and nsent == (1 if e[3] else 0)
        if ok and e[0] == "queued":
            if isinstance(e[1], tuple):
                ok = e[1][0] <= g[1] <= e[1][1]
            else:
                ok = g[1] == e[1]
        if not ok:
            def fmt(v):
                return iso(datetime.fromtimestamp(v, UTC)) if isinstance(v, int) else (
                    "[%s..%s]" % (fmt(v[0]), fmt(v[1])) if isinstance(v, tuple) else str(v))
            bad.append("%s %s %s nb=%s na=%s exp=%s att=%d %s quiet=%s T=%s (local %s): expected %s %s att=%d sent=%d"
                       " (%s); got %s %s att=%s sent=%d"
                       % (k, r["channel"], r["zone"], r["not_before"], r["next_attempt_at"], r["expires_at"],
                          r["attempts"], r["state"], rd["quiet"][r["channel"]], rd["now"],
                          parse(rd["now"]).astimezone(ZoneInfo(r["zone"])).strftime("%Y-%m-%d %H:%M:%S%z"),
                          e[0], fmt(e[1]), e[2], 1 if e[3] else 0, e[4],
                          g[0] if g else "-", fmt(g[1]) if g else "-", g[2] if g else "-", nsent))
    print("\n".join(bad))


def expect(d):
    rd = json.load(open(d + "/round.json"))
    for k, v in model(rd).items():
        print(k, v)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "gen":
        gen(int(sys.argv[2]), sys.argv[3])
    elif cmd == "conf":
        conf(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "check":
        check(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "expect":
        expect(sys.argv[2])
