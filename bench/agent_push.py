#!/usr/bin/env python3
"""CPU of one agent push: this tree's agent against another tree's (``--baseline``), same run.

A patrol's own cost is its checks (``patrol_cost.py``, ``patrol_once.py``) plus one push of
its results; ``agent_footprint.py`` measures both together in 10-ms kernel ticks, too coarse
to compare two agents at ~10 ms per patrol on a loaded machine.  This measures the push
alone, precisely: a fresh interpreter per tree loads :class:`agent.sender.Sender` and
:class:`agent.spool.Spool` from that tree, then ``--pushes`` times puts ``--results``
results in its spool (not timed) and pushes them to a real ``wardround-collector serve``
(https with a throwaway certificate as ``ca_file``, or ``--scheme http``), which stores them
and acknowledges; timed is ``Sender.push()`` (spool read, JSON, gzip, the HTTP exchange, the
answer, the spool delete) with ``time.process_time`` (all threads of the process).  Trees
alternate ``--rounds`` times; medians are reported.

Usage::

    .venv/bin/python bench/agent_push.py --baseline /tmp/base [--scheme https] [--rounds 5]

Writes ``bench/results/agent_push.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h  # noqa: E402
from agent_footprint import Subject, start_collector  # noqa: E402

PROBE = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from agent.sender import Sender
from agent.spool import Spool
from checks.result import Metric, Result, Status
url, token, ca, spool_path = sys.argv[2], sys.argv[3], sys.argv[4] or None, sys.argv[5]
pushes, n = int(sys.argv[6]), int(sys.argv[7])
spool = Spool(spool_path)
sender = Sender(spool, url, token, ca_file=ca, site="bench-site", host=sys.argv[8])
cpu = []
for k in range(pushes + 2):
    spool.put([Result(check="disk", item=f"/mnt/{i}", status=Status.OK, summary="fine",
                      metrics=(Metric("used_percent", 42.0, "%", 80, 90),), site="bench-site", host=sys.argv[8])
               for i in range(n)])
    t0 = time.process_time()
    out = sender.push()
    if k >= 2:  # the first pushes pay lazy imports and the TLS context's first use
        cpu.append(time.process_time() - t0)
    if not out.ok or out.acknowledged != n:
        raise SystemExit(f"push failed: {out}")
spool.close()
print(json.dumps(cpu))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", metavar="SRC", required=True, help="the other source tree (e.g. git archive main)")
    ap.add_argument("--scheme", choices=["https", "http"], default="https")
    ap.add_argument("--rounds", type=int, default=5, help="alternations of the two trees (default 5)")
    ap.add_argument("--pushes", type=int, default=40, help="timed pushes per round (default 40)")
    ap.add_argument("--results", type=int, default=5, help="results per push (default 5: one patrol of disk+system)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wardround-bench-push-"))
    trees = {"this tree": str(h.REPO), "baseline": args.baseline}
    cpu: dict[str, list[float]] = {name: [] for name in trees}
    try:
        with h.Processes() as procs:
            coll = Subject("collector")
            db_url = start_collector(procs, tmp, coll, args.scheme)
            port = coll.port
            ca = str(tmp / "collector.crt") if args.scheme == "https" else ""
            tokens = {name: h.create_token(db_url, host=f"push-{i}", site="bench-site")
                      for i, name in enumerate(trees)}
            for r in range(args.rounds):
                for i, (name, src) in enumerate(trees.items()):
                    out = subprocess.run([sys.executable, "-c", PROBE, src, f"{args.scheme}://127.0.0.1:{port}",
                                          tokens[name], ca, str(tmp / f"spool-{i}-{r}.db"), str(args.pushes),
                                          str(args.results), f"push-{i}"],
                                         capture_output=True, text=True, timeout=600)
                    if out.returncode:
                        raise RuntimeError(f"{name}: {out.stderr[-2000:]}")
                    cpu[name] += json.loads(out.stdout)
                print(f"round {r + 1}/{args.rounds}: " + ", ".join(
                    f"{n} {h.median(v[-args.pushes:]) * 1000:.2f} ms" for n, v in cpu.items()), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [[name, len(v), f"{h.median(v) * 1000:.2f}", f"{h.percentile(v, 90) * 1000:.2f}", src]
            for (name, v), src in zip(cpu.items(), trees.values(), strict=True)]
    print()
    print(h.table(["agent", "pushes", "CPU ms per push (median)", "p90", "tree"], rows))
    report: dict[str, Any] = {"machine": h.machine_info(), "params": vars(args),
                              "cpu_ms_per_push": {n: [round(x * 1000, 3) for x in v] for n, v in cpu.items()}}
    print(f"\nwrote {h.write_json('agent_push.json', report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
