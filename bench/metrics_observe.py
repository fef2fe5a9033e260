"""CPU per call of the ingest counters' callbacks (``CollectorMetrics.observe`` and ``time_batch``, what the
Ingestor calls 4 times a batch: three outcome counts and the batch's time), in alternating pairs.

Each measurement is a process of its own: ``--calls`` calls of each callback, CPU time of the process
(``time.process_time``) over the loop, minimum of ``--repeats`` loops; a pair runs, in turn, the tree at
``--baseline SRC`` (e.g. ``git archive main | tar -x -C /tmp/base``; a single-process collector), this
tree as a single-process ``serve`` and this tree as a worker of ``serve --workers N`` (the slot in shared
memory, collector/metrics/shared.py).  Prints per variant the median over ``--pairs`` pairs of the
per-call figures, with every pair's; writes bench/results/metrics_observe.json.

    .venv/bin/python bench/metrics_observe.py --baseline /tmp/base [--pairs 7] [--calls 200000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_PROBE = """
import sys, tempfile, time
sys.path.insert(0, sys.argv[1])  # the tree measured, before this venv's editable install
from sqlalchemy import create_engine
from collector.metrics.state import CollectorMetrics
calls, repeats, shared = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "shared"
slots = tempfile.TemporaryDirectory(prefix="bench-observe-")  # removed at exit
kwargs = {"shared": slots.name} if shared else {}
m = CollectorMetrics(create_engine("sqlite://"), **kwargs)
observe, time_batch = m.observe, m.time_batch
def loop(fn, arg):
    best = float("inf")
    for _ in range(repeats):
        t = time.process_time()
        for _ in range(calls):
            fn(*arg)
        best = min(best, time.process_time() - t)
    return best / calls * 1e9
print(loop(observe, ("accepted", 500)), loop(time_batch, (0.03,)))
"""


def measure(tree: Path, variant: str, calls: int, repeats: int) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", _PROBE, str(tree), str(calls), str(repeats), variant],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", metavar="SRC", required=True, help="the tree to compare with (a source tree)")
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    variants = {"baseline single process": (Path(a.baseline), "single"),
                "this tree single process": (ROOT, "single"),
                "this tree worker (shared slot)": (ROOT, "shared")}
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(a.pairs):
        for name, (tree, variant) in variants.items():
            figures[name].append(measure(tree, variant, a.calls, a.repeats))
    out = {}
    print("| variant | observe ns/call (median) | time_batch ns/call (median) | pairs observe / time_batch |")
    print("|---|---|---|---|")
    for name, runs in figures.items():
        obs, tb = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        out[name] = {"observe_ns_median": obs, "time_batch_ns_median": tb, "runs": runs}
        print(f"| {name} | {obs:.0f} | {tb:.0f} | {', '.join(f'{o:.0f}/{t:.0f}' for o, t in runs)} |")
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "metrics_observe.json").write_text(json.dumps(out, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
