"""Differential test of `rapportctl next` against croniter (python3-croniter,
a public cron implementation): random expressions built from everything
issue 3 names (lists, ranges, steps, month and weekday names in either
case, day-of-week 7, macros), random start instants, zones without DST
(UTC and the +05:30 / +05:45 / +08:00 offsets: croniter's own DST handling
is not a reference for ours), five fire times each.

Nothing is left out: the day fields follow the same rule on both sides
(either matches when both are restricted, a field being restricted when it
leaves some day out, whatever its spelling; see rapportd(8) SCHEDULES AND
DAYLIGHT SAVING TIME).  Expressions that can never fire must be errors on
both sides.

Usage: cron_croniter.py RAPPORTCTL COUNT SEED
Prints each mismatch, then "compared N skipped M mismatches K"."""
import random
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
ZONES = ["UTC", "Asia/Kolkata", "Asia/Kathmandu", "Asia/Shanghai"]
MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}


def main():
    rapportctl, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rnd = random.Random(seed)

    def value(x, names, first):
        if names and rnd.random() < 0.3 and 0 <= x - first < len(names):
            name = names[x - first]
            return name if rnd.random() < 0.5 else name.lower()
        return str(x)

    def item(lo, hi, names, first):
        a = rnd.randint(lo, hi)
        k = rnd.random()
        if k < 0.4:
            return value(a, names, first)
        if k < 0.5:  # "N/step": N to the field's maximum (7 in the day of week)
            return value(a, names, first) + "/" + str(rnd.randint(1, max(1, hi - lo)))
        b = rnd.randint(a, hi)
        span = value(a, names, first) + "-" + value(b, names, first)
        return span if k < 0.7 else span + "/" + str(rnd.randint(1, max(1, hi - lo)))

    def field(lo, hi, star, names=None, first=0):
        r = rnd.random()
        if r < star:
            return "*"
        if r < star + 0.1:
            return "*/" + str(rnd.randint(1, max(1, hi - lo)))
        return ",".join(item(lo, hi, names, first) for _ in range(rnd.randint(1, 3)))

    compared = skipped = bad = 0
    while compared + skipped < count:
        if rnd.random() < 0.05:
            expr = rnd.choice(sorted(MACROS))
            fields = MACROS[expr].split()
        else:
            fields = [field(0, 59, 0.2), field(0, 23, 0.3), field(1, 31, 0.6),
                      field(1, 12, 0.6, MONTHS, 1), field(0, 7, 0.6, DAYS, 0)]
            expr = " ".join(fields)
        zone = rnd.choice(ZONES)
        tz = ZoneInfo(zone)
        start = datetime(2027, 1, 1, tzinfo=tz) + timedelta(minutes=rnd.randint(0, 3 * 525600))
        if rnd.random() < 0.2:
            start += timedelta(seconds=rnd.randint(1, 59))
        try:
            it = croniter(" ".join(fields), start)
            ref = [it.get_next(datetime).isoformat() for _ in range(5)]
        except Exception:
            ref = ["error"]
        out = subprocess.run([rapportctl, "next", expr, "--tz", zone, "--from", start.isoformat(), "--count", "5"],
                             capture_output=True, text=True)
        ours = out.stdout.split() if out.returncode == 0 else ["error"]
        compared += 1
        if ours != ref:
            bad += 1
            print(f"mismatch: {expr!r} --tz {zone} --from {start.isoformat()}\n  rapport:  {' '.join(ours)} "
                  f"{out.stderr.strip()}\n  croniter: {' '.join(ref)}")
    print(f"compared {compared} skipped {skipped} mismatches {bad}")


if __name__ == "__main__":
    main()
