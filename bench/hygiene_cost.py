#!/usr/bin/env python3
"""What the daily hygiene checks cost on this machine: wall ms and CPU ms per run.

``patches`` (a real ``apt-get -s dist-upgrade`` plus dpkg's logs), ``antivirus`` (ClamAV's
database headers, the process list, freshclam's log) and ``accounts`` (/etc/passwd and
/etc/shadow) are run in this process, one after the other, ``--runs`` times each, with a
fresh state for each run (the first-run cost every agent pays once a day).  CPU is this
process's user + system time plus the children it waited for (``apt-get``), from
``getrusage`` before and after each run.  The first run of each check (cold: imports, page
cache) is reported apart; medians are of the runs after it.

    .venv/bin/python bench/hygiene_cost.py [--runs 7]

Writes ``bench/results/hygiene_cost.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import machine_info, table, write_json  # noqa: E402
from checks.catalogue import get_check  # noqa: E402
from checks.context import CheckContext  # noqa: E402

CHECKS = ("patches", "antivirus", "accounts")


def _cpu_ms() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return (me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime) * 1000


def measure(name: str, runs: int) -> dict[str, Any]:
    spec = get_check(name)
    samples: list[tuple[float, float]] = []
    statuses: list[str] = []
    for _ in range(runs + 1):
        cpu0, t0 = _cpu_ms(), time.perf_counter()
        results = spec.run(spec.params(), CheckContext())
        samples.append(((time.perf_counter() - t0) * 1000, _cpu_ms() - cpu0))
        statuses = [f"{r.item or '-'}={r.status.name}" for r in results]
    cold, warm = samples[0], samples[1:]
    return {"check": name, "cold_wall_ms": round(cold[0], 1), "cold_cpu_ms": round(cold[1], 1),
            "wall_ms_median": round(statistics.median(w for w, _ in warm), 1),
            "cpu_ms_median": round(statistics.median(c for _, c in warm), 1),
            "wall_ms": [round(w, 1) for w, _ in warm], "cpu_ms": [round(c, 1) for _, c in warm],
            "results": statuses}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    rows = [measure(name, args.runs) for name in CHECKS]
    path = write_json("hygiene_cost.json", {"machine": machine_info(), "runs": args.runs, "checks": rows})
    print(table(["check", "wall ms (median)", "CPU ms (median)", "cold wall ms", "cold CPU ms", "results"],
                [[r["check"], r["wall_ms_median"], r["cpu_ms_median"], r["cold_wall_ms"], r["cold_cpu_ms"],
                  ", ".join(r["results"])] for r in rows]))
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
