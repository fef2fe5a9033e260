"""The cost of one full default patrol of this machine: CPU ms and wall ms per check and in all.

The patrol is the Linux sample config's host checks (deploy/agent.linux.example.yaml:
disk, system, uptime, service, process, logscan) run through the agent's real
Runner, one after the other, keeping each check's state between patrols as the
agent does.  The first patrol is reported apart: ``system`` samples the CPU for
1 s when it has no earlier reading, and ``logscan`` only notes where to start.

CPU is this process's user + system time plus that of reaped children
(``systemctl``), from ``resource.getrusage``; wall is ``time.perf_counter``.

    .venv/bin/python bench/patrol_cost.py [--patrols 30]

Writes bench/results/patrol_cost.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.runner import CheckRun, Runner  # noqa: E402
from checks.catalogue import get_check  # noqa: E402
from checks.params import parse_params  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "patrol_cost.json"


def cpu_s() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patrols", type=int, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "syslog"
        log.write_text("".join(f"Nov 23 08:00:{i % 60:02d} host app[1]: line {i}\n" for i in range(5000)))
        plan: list[tuple[str, dict[str, Any]]] = [
            ("disk", {}), ("system", {}), ("uptime", {"min_uptime": "15m"}),
            ("service", {"names": ["ssh.service", "cron.service", "rsyslog.service"]}),
            ("process", {"cmdline": r"java .*his-middleware.*\.jar", "min": 1, "max": 1}),
            ("logscan", {"path": str(log), "critical_patterns": ["I/O error", "EXT4-fs error",
                                                                 "Out of memory: Killed process"],
                         "patterns": ["segfault at", "task .* blocked for more than"]}),
        ]
        jobs = [CheckRun(spec=get_check(n), params=parse_params(get_check(n).params, p), timeout_s=30.0)
                for n, p in plan]
        runner = Runner("bench", "bench")
        per_check: dict[str, list[tuple[float, float]]] = {n: [] for n, _ in plan}
        totals: list[tuple[float, float]] = []
        for i in range(args.patrols + 1):
            if i:
                time.sleep(0.5)  # patrols are minutes apart; system re-samples if <0.2 s since the last
            with log.open("a") as fh:  # a little new log text each patrol, as on a live host
                fh.write("".join(f"Nov 23 08:01:00 host app[1]: request {i}.{k} served\n" for k in range(50)))
            c0, w0 = cpu_s(), time.perf_counter()
            for job in jobs:
                c, w = cpu_s(), time.perf_counter()
                runner.run(job)
                per_check[job.spec.name].append(((cpu_s() - c) * 1000, (time.perf_counter() - w) * 1000))
            totals.append(((cpu_s() - c0) * 1000, (time.perf_counter() - w0) * 1000))

    def med(xs: list[tuple[float, float]]) -> dict[str, float]:
        return {"cpu_ms": round(statistics.median(x[0] for x in xs), 2),
                "wall_ms": round(statistics.median(x[1] for x in xs), 2)}

    out = {
        "patrols": args.patrols,
        "first_patrol": {"cpu_ms": round(totals[0][0], 2), "wall_ms": round(totals[0][1], 2)},
        "steady_patrol_median": med(totals[1:]),
        "per_check_median": {n: med(v[1:]) for n, v in per_check.items()},
        "python": sys.version.split()[0],
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"| check | CPU ms | wall ms |  (median of {args.patrols} patrols after the first)")
    print("| --- | --- | --- |")
    for n, v in out["per_check_median"].items():
        print(f"| {n} | {v['cpu_ms']} | {v['wall_ms']} |")
    s = out["steady_patrol_median"]
    print(f"| **patrol** | {s['cpu_ms']} | {s['wall_ms']} |")
    f = out["first_patrol"]
    print(f"first patrol: {f['cpu_ms']} ms CPU, {f['wall_ms']} ms wall (system samples CPU for 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
