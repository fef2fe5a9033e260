"""Rolling out one server: from nothing on it to its first result stored in the collector.

What a vendor engineer types on a new server, with the agent installed and nothing else:

    wardround-agent enrol --url URL --key KEY --config DIR/agent.yaml --spool DIR/spool.db
    wardround-agent run --config DIR/agent.yaml

Two commands.  The collector (``serve`` on SQLite, on this machine) has a fleet file whose
template gives every host the day-one Linux patrol's host checks (disk, system, uptime every
1-5 min) and an enrolment key made beforehand.  Each round uses a fresh directory and a fresh
key; the clock runs from the start of ``enrol`` until ``GET /api/v1/results?host=H`` shows the
first result.  Reported per round:

* ``enrol_s``: the ``enrol`` command (interpreter start, facts, the HTTP call, two files);
* ``first_result_s``: from the start of ``enrol`` to the first stored result, with the agent's
  default start-up ``jitter`` of 30 s (each check's first run is spread over up to
  ``min(30 s, every/2)`` so a fleet restarted together does not stampede);
* the same with ``jitter: 0s`` added to the written config (``--no-jitter`` rounds), which is what
  the agent's own work costs.

    .venv/bin/python bench/rollout.py [--rounds 5]

Writes ``bench/results/rollout.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Processes, machine_info, median, run, start_collector, table, venv_bin, write_json  # noqa: E402

SITE = "bench-hospital"
FLEET = """
templates:
  linux:
    - {check: disk, every: 5m, params: {warn: 80, crit: 90}}
    - {check: system, every: 1m}
    - {check: uptime, every: 5m}
assign:
  - {templates: [linux]}
"""


def _results(port: int, token: str, host: str) -> list[object]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/results?host={host}&limit=10",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return list(json.load(r)["results"])


def one_round(procs: Processes, work: Path, db: str, port: int, viewer: str, name: str,
              jitter: bool) -> dict[str, float]:
    collector = venv_bin("wardround-collector")
    key = run([collector, "enrol-key", "create", "--db", db, "--site", SITE]).stdout.strip().splitlines()[-1]
    where = work / name
    where.mkdir()
    config = where / "agent.yaml"
    started = time.monotonic()
    run([venv_bin("wardround-agent"), "enrol", "--url", f"http://127.0.0.1:{port}", "--key", key, "--config",
         str(config), "--host", name, "--spool", str(where / "spool.db")], timeout=120)
    enrolled = time.monotonic()
    if not jitter:
        with open(config, "a", encoding="utf-8") as fh:
            fh.write("jitter: 0s\n")
    agent = procs.start([venv_bin("wardround-agent"), "run", "--config", str(config)], log=where / "agent.log")
    while not _results(port, viewer, name):
        if agent.poll() is not None:
            raise RuntimeError((where / "agent.log").read_text()[-2000:])
        if time.monotonic() - started > 120:
            raise RuntimeError("no result within 120 s")
        time.sleep(0.05)
    first = time.monotonic()
    procs.stop(agent)
    return {"enrol_s": enrolled - started, "first_result_s": first - started}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with Processes() as procs, tempfile.TemporaryDirectory(prefix="wardround-rollout-") as tmp:
        work = Path(tmp)
        db = f"sqlite:///{work / 'collector.db'}"
        collector = venv_bin("wardround-collector")
        run([collector, "migrate", "--db", db])
        (work / "fleet.yaml").write_text(FLEET)
        run([collector, "fleet", "apply", str(work / "fleet.yaml"), "--db", db])
        viewer = run([collector, "user", "create", "bench-viewer", "--role", "viewer", "--db", db]
                     ).stdout.strip().splitlines()[-1]
        _proc, port = start_collector(procs, db, work)
        rounds = {"default jitter (30s)": [], "jitter 0s": []}
        for i in range(args.rounds):
            for label, jitter in (("default jitter (30s)", True), ("jitter 0s", False)):
                name = f"srv-{i:02d}-{'j' if jitter else 'n'}"
                rounds[label].append(one_round(procs, work, db, port, viewer, name, jitter))
    rows = []
    for label, got in rounds.items():
        rows.append((label, len(got), median([r["enrol_s"] for r in got]),
                     median([r["first_result_s"] for r in got]), min(r["first_result_s"] for r in got),
                     max(r["first_result_s"] for r in got)))
    print(table(["rounds", "n", "enrol (s, median)", "to first result (s, median)", "min", "max"],
                [(r[0], r[1], f"{r[2]:.2f}", f"{r[3]:.1f}", f"{r[4]:.1f}", f"{r[5]:.1f}") for r in rows]))
    path = write_json("rollout.json", {"machine": machine_info(), "commands": 2, "rounds": rounds})
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
