"""The cost of one full default patrol as ``wardround-agent once`` pays it: CPU ms and wall ms.

``patrol_cost.py`` measures the host checks one by one inside the runner;
this one measures the whole sample config, network checks included, end to
end through the command line, next to the same checks in one warm process.

Two ways of running the same checks, each several times (medians reported):

* ``once``: ``wardround-agent once --config F --json`` as a subprocess — what an
  operator or a cron job pays: interpreter start, imports, config, every check
  in parallel, printing. CPU = user + system time of the process and every
  child it waited for (``getrusage(RUSAGE_CHILDREN)`` before/after).
* ``in-process``: the same check instances through :class:`agent.runner.Runner`
  inside one warm interpreter (as the daemon runs them) — the checks alone.
  CPU = this process's user + system time (all threads) plus its waited-for
  children (``systemctl`` etc.). The first in-process run pays the lazy check
  imports and, like every ``once``, the ``system`` check's 1 s CPU sample (no
  earlier reading); it is reported apart as ``cold``. Warm runs reuse the
  runner and so the checks' state, as the daemon does.

The check set is ``deploy/agent.linux.example.yaml`` (the hospital's day-one
Linux patrol) with its remote targets pointed at servers on this machine, so
nothing leaves it: ``port`` → a TCP listener on 127.0.0.1, ``certificate`` →
a TLS server on 127.0.0.1 with a certificate made here. Checks whose targets
do not exist here (the HIS middleware process, a systemd unit in a container)
still run in full and simply judge what they find.

    .venv/bin/python bench/patrol_once.py [--runs 7]

Writes ``bench/results/patrol_once.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import REPO, machine_info, table, write_json  # noqa: E402

SAMPLE = REPO / "deploy" / "agent.linux.example.yaml"


def _cpu(who: int) -> float:
    ru = resource.getrusage(who)
    return ru.ru_utime + ru.ru_stime


def local_config(workdir: Path, port: int, tls_port: int) -> tuple[Path, list[str]]:
    """The sample config with its remote targets moved onto this machine."""
    raw = yaml.safe_load(SAMPLE.read_text())
    raw.pop("collector", None)
    raw["spool"] = str(workdir / "spool.db")
    raw["host"] = "bench-host"
    for entry in raw["checks"]:
        if entry["check"] == "port":
            entry["params"].update(host="127.0.0.1", port=port)
        elif entry["check"] == "certificate":
            entry["params"].update(host="127.0.0.1", port=tls_port, server_name="localhost", verify=False)
    path = workdir / "agent.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path, [e.get("name") or e["check"] for e in raw["checks"]]


def tls_server(workdir: Path) -> Any:
    """A TLS server with a 90-day self-signed certificate made by the openssl CLI."""
    from tests.checks.tls_server import Server

    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "90",
                    "-subj", "/CN=localhost"], check=True, capture_output=True)
    return Server((cert, key))


def run_once_cli(config: Path) -> tuple[float, float, int]:
    c0, t0 = _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "agent", "once", "--config", str(config), "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    wall, cpu = time.perf_counter() - t0, _cpu(resource.RUSAGE_CHILDREN) - c0
    if proc.returncode not in (0, 1, 2, 3):
        raise RuntimeError(f"once exited {proc.returncode}: {proc.stderr[-2000:]}")
    return cpu * 1000, wall * 1000, proc.returncode


def in_process_runner(config: Path) -> tuple[Any, list[Any]]:
    from agent.config import load_config
    from agent.runner import CheckRun, Runner

    cfg = load_config(str(config), need_collector=False)
    jobs = [CheckRun(spec=c.spec, params=c.params, timeout_s=c.timeout_s, name=c.name) for c in cfg.checks]
    return Runner(cfg.site, cfg.host), jobs


def run_in_process(runner: Any, jobs: list[Any]) -> tuple[float, float, list[Any]]:
    from agent.cli import _run_parallel

    c0 = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    results = _run_parallel(runner, jobs)
    wall = time.perf_counter() - t0
    cpu = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN) - c0
    return cpu * 1000, wall * 1000, results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7, help="runs of each way (default 7)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="patrol-cost-") as tmp, \
            socket.create_server(("127.0.0.1", 0), backlog=64) as listener:
        workdir = Path(tmp)
        tls = tls_server(workdir)
        try:
            config, names = local_config(workdir, listener.getsockname()[1], tls.port)
            cli = [run_once_cli(config) for _ in range(args.runs)]
            runner, jobs = in_process_runner(config)
            cold_cpu, cold_wall, results = run_in_process(runner, jobs)
            # the same runner keeps each check's state, as the daemon does (system's CPU average
            # then needs no 1 s sample)
            warm_runs = [run_in_process(runner, jobs) for _ in range(args.runs)]
            warm = [(c, w) for c, w, _ in warm_runs]
            # system samples the CPU for 1 s when its last reading is too recent; the rest run beside it
            others = [max(r.duration_ms for r in rs if r.check != "system") for _, _, rs in warm_runs]
        finally:
            tls.stop()

    def med(xs: list[float]) -> float:
        return round(statistics.median(xs), 1)

    statuses: dict[str, str] = {}
    for r in results:
        statuses[f"{r.check}:{r.item}" if r.item else r.check] = r.status.name
    data = {
        "what": "one full patrol of deploy/agent.linux.example.yaml (targets moved to this machine)",
        "checks": names,
        "results_per_patrol": len(results),
        "statuses_last_in_process_run": statuses,
        "runs": args.runs,
        "once_cli": {"cpu_ms_median": med([c for c, _, _ in cli]),
                     "wall_ms_median": med([w for _, w, _ in cli]),
                     "cpu_ms": [round(c, 1) for c, _, _ in cli], "wall_ms": [round(w, 1) for _, w, _ in cli],
                     "exit_codes": [e for _, _, e in cli]},
        "in_process_cold": {"cpu_ms": round(cold_cpu, 1), "wall_ms": round(cold_wall, 1)},
        "in_process_warm": {"cpu_ms_median": med([c for c, _ in warm]),
                            "wall_ms_median": med([w for _, w in warm]),
                            "cpu_ms": [round(c, 1) for c, _ in warm],
                            "wall_ms": [round(w, 1) for _, w in warm],
                            "slowest_check_but_system_ms_median": med(others)},
        "machine": machine_info(),
        "note": "CPU from getrusage: the kernel accounts in ticks, so single figures are good to about 10 ms",
    }
    path = write_json("patrol_once.json", data)
    print(f"Patrol: {len(names)} check instances, {len(results)} results; {args.runs} runs each; medians\n")
    print(table(["way", "CPU ms", "wall ms"], [
        ["`wardround-agent once` (subprocess)", data["once_cli"]["cpu_ms_median"],
         data["once_cli"]["wall_ms_median"]],
        ["checks in-process, first run (imports)", data["in_process_cold"]["cpu_ms"],
         data["in_process_cold"]["wall_ms"]],
        ["checks in-process, warm", data["in_process_warm"]["cpu_ms_median"],
         data["in_process_warm"]["wall_ms_median"]],
    ]))
    print(f"\nwarm: the slowest check other than system took "
          f"{data['in_process_warm']['slowest_check_but_system_ms_median']} ms (median); system's 1 s CPU "
          f"sample sets the wall time")
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
