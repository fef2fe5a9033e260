#!/usr/bin/env python3
"""Validating a batch: the collector's own wire reader against pydantic, on the same 500-result body.

The collector validates a batch with ``collector.ingest.parse_batch`` (orjson, then
``checks.result.Result.from_wire`` per result, hand-written checks, then the row it stores).
This measures, in CPU time of this process (steadier than wall time on a shared machine),
medians of ``--runs`` rounds of ``--n`` batches, all in one run:

* ``orjson.loads`` alone: the floor of any validator that starts from JSON;
* ``parse_batch``: what ingest runs (validate + build the stored rows);
* pydantic v2 ``TypeAdapter(ResultBatch).validate_json`` with the API's documented model of the
  same wire rules (``collector/api/models.py``; ``tests/collector/test_api_models.py`` holds that it
  accepts exactly what the collector accepts), objects built, no rows: the usual way to do it;
* the same model, ``validate_python`` after ``orjson.loads``;
* with ``--baseline SRC``: ``parse_batch`` of another source tree (e.g. the commit before the
  fast path), in a child process with the same interpreter, on the same bodies.

The bodies are ``bench/ingest.py``'s (the real ``disk``/``system``/``service``/``backup_files``
shapes, 500 results, fresh ids).  Usage::

    .venv/bin/python bench/validation.py [--n 20] [--runs 5] [--baseline SRC]

Writes ``bench/results/validation.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import TypeAdapter

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h  # noqa: E402
from ingest import BatchMaker  # noqa: E402

from collector.api.models import ResultBatch  # noqa: E402
from collector.ingest import parse_batch  # noqa: E402


def cpu(fn: Any, bodies: list[bytes], runs: int) -> tuple[float, list[float]]:
    """Median CPU seconds per batch over ``runs`` rounds (each over every body), and each round's."""
    rounds = []
    for _ in range(runs):
        t = time.process_time()
        for body in bodies:
            fn(body)
        rounds.append((time.process_time() - t) / len(bodies))
    return statistics.median(rounds), rounds


BASELINE = """
import pickle, sys, time, statistics
from datetime import UTC, datetime
sys.path.insert(0, sys.argv[1])
from collector.ingest import parse_batch
bodies, runs = pickle.load(open(sys.argv[2], "rb"))
now = datetime.now(UTC)
parse_batch(bodies[0], now)
rounds = []
for _ in range(runs):
    t = time.process_time()
    for b in bodies:
        parse_batch(b, now)
    rounds.append((time.process_time() - t) / len(bodies))
print(repr(rounds))
"""


def baseline(source: str, bodies: list[bytes], runs: int) -> tuple[float, list[float]]:
    import ast
    import pickle
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pickle") as f:
        pickle.dump((bodies, runs), f)
        f.flush()
        out = subprocess.run([sys.executable, "-c", BASELINE, source, f.name], capture_output=True, text=True,
                             check=True, cwd=source)
    rounds = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    return statistics.median(rounds), rounds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20, help="batches per round (default 20)")
    ap.add_argument("--runs", type=int, default=5, help="rounds (default 5)")
    ap.add_argument("--baseline", metavar="SRC", help="also time parse_batch of this source tree")
    args = ap.parse_args()
    maker = BatchMaker("bench-host-0001", gzip=False)
    bodies = [maker.make()[0] for _ in range(args.n)]
    results = len(orjson.loads(bodies[0])["results"])
    now = datetime.now(UTC)
    adapter = TypeAdapter(ResultBatch)
    assert len(parse_batch(bodies[0], now).rows) == results
    assert len(adapter.validate_json(bodies[0]).results) == results
    subjects = {
        "orjson.loads (floor)": lambda b: orjson.loads(b),
        "parse_batch (the collector)": lambda b: parse_batch(b, now),
        "pydantic TypeAdapter.validate_json": lambda b: adapter.validate_json(b),
        "pydantic orjson.loads + validate_python": lambda b: adapter.validate_python(orjson.loads(b)),
    }
    out: dict[str, Any] = {"machine": h.machine_info(), "results_per_batch": results,
                           "body_bytes": len(bodies[0]), "params": vars(args), "subjects": {}}
    rows = []
    timed = [(name, fn) for name, fn in subjects.items()]
    if args.baseline:
        timed.insert(2, (f"parse_batch of {args.baseline} (baseline)", None))
    for name, fn in timed:
        if fn is None:
            per_batch, rounds = baseline(args.baseline, bodies, args.runs)
        else:
            fn(bodies[0])  # warm
            per_batch, rounds = cpu(fn, bodies, args.runs)
        per_result_us = per_batch / results * 1e6
        out["subjects"][name] = {"cpu_s_per_batch_median": per_batch, "rounds": rounds,
                                 "us_per_result": per_result_us, "results_per_cpu_second": results / per_batch}
        rows.append([name, f"{per_batch * 1000:.2f}", f"{per_result_us:.2f}", f"{results / per_batch:,.0f}",
                     ", ".join(f"{r * 1000:.2f}" for r in rounds)])
    out["loadavg"] = open("/proc/loadavg").read().split()[:3]
    print(h.table(["validator", "CPU ms / batch", "µs / result", "results / CPU-s", "rounds (ms)"], rows))
    print(f"\nload average {' '.join(out['loadavg'])}; {results} results, {len(bodies[0]):,} bytes a batch")
    print(f"wrote {h.write_json('validation.json', out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
