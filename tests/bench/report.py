#!/usr/bin/env python3
"""Turns the bench rows (TSV: section, name, value, unit, target, note) into
the printed table, RESULTS/bench.csv and RESULTS/bench.json.

A target is ">=N" or "<=N"; the status column says ok or MISS.  Usage:
    report.py ROWS.tsv RESULTS_DIR [key=value ...]   (key=value: run metadata)"""
import csv
import json
import os
import sys


def status(value, target):
    if not target:
        return ""
    try:
        v = float(value)
    except ValueError:
        return "MISS"
    op, limit = target[:2], float(target[2:])
    ok = v >= limit if op == ">=" else v <= limit
    return "ok" if ok else "MISS"


def pretty_target(target, unit):
    if not target:
        return ""
    sym = "≥" if target.startswith(">=") else "≤"
    num = float(target[2:])
    txt = f"{num:,.0f}" if num == int(num) else f"{num:g}"
    return f"{sym} {txt}{'' if unit == '×' else ' '}{unit}".rstrip()


def pretty_value(value):
    try:
        v = float(value)
    except ValueError:
        return value
    if v == int(v) and abs(v) >= 1000:
        return f"{int(v):,}"
    return value


def main():
    rows_path, out_dir = sys.argv[1], sys.argv[2]
    meta = dict(a.split("=", 1) for a in sys.argv[3:])
    rows = []
    with open(rows_path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            section, name, value, unit, target, note = (line.split("\t") + [""] * 6)[:6]
            rows.append({"section": section, "figure": name, "value": value, "unit": unit,
                         "target": target, "status": status(value, target), "note": note})

    headers = ["Figure", "Value", "Unit", "Target", "", "Note"]
    table = [[r["figure"], pretty_value(r["value"]), r["unit"], pretty_target(r["target"], r["unit"]),
              r["status"], r["note"]] for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) if table else len(h) for i, h in enumerate(headers)]
    widths[-1] = len(headers[-1])  # the note is last and not padded

    def fmt(cells):
        out = []
        for i, c in enumerate(cells):
            if i == 1:
                out.append(c.rjust(widths[i]))
            elif i == len(cells) - 1:
                out.append(c)
            else:
                out.append(c.ljust(widths[i]))
        return "  ".join(out).rstrip()

    desc = ", ".join(f"{k} {v}" for k, v in meta.items() if v)
    print()
    print(f"rapport bench — {desc}")
    print(fmt(headers))
    print(fmt(["-" * w for w in widths[:-1]] + ["-" * 4]))
    last = None
    for r, cells in zip(rows, table):
        if last is not None and r["section"] != last:
            print()
        last = r["section"]
        print(fmt(cells))
    missed = [r["figure"] for r in rows if r["status"] == "MISS"]
    print()
    print(f"{len(rows)} figures, {sum(r['status'] == 'ok' for r in rows)} targets met, {len(missed)} missed"
          + (": " + "; ".join(missed) if missed else ""))

    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "bench.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["section", "figure", "value", "unit", "target", "status", "note"])
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(out_dir, "bench.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "figures": rows}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"written: {os.path.join(out_dir, 'bench.csv')}, {os.path.join(out_dir, 'bench.json')}")


if __name__ == "__main__":
    main()
