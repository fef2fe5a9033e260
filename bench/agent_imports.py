#!/usr/bin/env python3
"""What the agent's imports cost in RSS: a fresh interpreter per step, median of ``--n`` runs.

Each step imports its modules *on top of* the previous steps, so the
``+MB`` column is what that step adds.  The last steps import the agent's
own modules the way ``wardround-agent run`` does.  Compare with the running
agent in ``agent_footprint.py`` (imports + heap + thread stacks + the first
patrol) and with the Python floor in ``../shared/reference/perf-anchors.md``.

Usage::

    .venv/bin/python bench/agent_imports.py [--n 5]

Writes ``bench/results/agent_imports.json``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h  # noqa: E402

STEPS: list[tuple[str, list[str]]] = [
    ("bare interpreter (this venv)", []),
    ("+ psutil", ["psutil"]),
    ("+ json, gzip, sqlite3", ["json", "gzip", "sqlite3"]),
    ("+ ssl (an https collector; agent/http.py imports it only then)", ["ssl"]),
    ("+ checks (result, catalogue, disk, system; after the agent package, as the agent loads them)",
     ["agent", "checks.result", "checks.catalogue", "checks.disk", "checks.system"]),
    ("+ agent (config, spool, sender, http, runner, timer, scheduler, cli)",
     ["agent.config", "agent.spool", "agent.sender", "agent.http", "agent.runner", "agent.timer",
      "agent.scheduler", "agent.cli"]),
    ("for comparison: + urllib.request (http.client, email: the agent's HTTP before)", ["urllib.request"]),
    ("for comparison: + yaml (the agent unloads it after reading its config)", ["yaml"]),
]

PROBE = """
import sys
for m in sys.argv[1:]:
    __import__(m)
with open('/proc/self/status') as f:
    rss = next(int(l.split()[1]) for l in f if l.startswith('VmRSS:'))
with open('/proc/self/smaps_rollup') as f:
    pss = next(int(l.split()[1]) for l in f if l.startswith('Pss:'))
print(rss, pss, len(sys.modules))
"""


def measure(mods: list[str], n: int) -> tuple[float, float, int]:
    rss, pss, count = [], [], 0
    for _ in range(n):
        out = subprocess.run([sys.executable, "-c", PROBE, *mods], capture_output=True, text=True, check=True)
        r, p, count = (int(x) for x in out.stdout.split())
        rss.append(r * 1024 / 1e6)
        pss.append(p * 1024 / 1e6)
    return statistics.median(rss), statistics.median(pss), count


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=5, help="fresh processes per step (default 5)")
    args = ap.parse_args()
    mods: list[str] = []
    rows, steps, prev = [], [], None
    for label, add in STEPS:
        mods = mods + add
        rss, pss, count = measure(mods, args.n)
        rows.append([label, f"{rss:.1f}", f"{pss:.1f}", "" if prev is None else f"{rss - prev:+.1f}", count])
        steps.append({"step": label, "modules": list(mods), "rss_mb": round(rss, 2), "pss_mb": round(pss, 2),
                      "sys_modules": count})
        prev = rss
    print(h.table(["step (cumulative)", "RSS MB", "PSS MB", "+MB", "modules loaded"], rows))
    path = h.write_json("agent_imports.json", {"machine": h.machine_info(), "n": args.n, "steps": steps})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
