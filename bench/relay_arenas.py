#!/usr/bin/env python3
"""Site relay: its memory after agents pushed at once, with and without ``MALLOC_ARENA_MAX=1``.

Real processes on loopback (tests/e2e's helpers): one ``wardround-collector serve`` (temp SQLite)
and two ``wardround-agent relay`` for the same site, started side by side, one with the variable
the relay's systemd unit sets. ``--agents`` threads each post ``--batches`` gzip batches of 200
results to both relays in turn (each thread a push served on a relay thread of its own); after
``--settle`` seconds idle: RSS / PSS / USS / anonymous MB of each relay and its CPU seconds.

Usage::

    .venv/bin/python bench/relay_arenas.py                 # 8 agents x 15 batches
    .venv/bin/python bench/relay_arenas.py --reverse       # start the capped relay first

Prints one line per relay.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.conftest import CollectorProcess  # noqa: E402
from tests.e2e.relay import SITE, RelayProcess, post, results  # noqa: E402


def memory(pid: int) -> dict[str, float]:
    """MB from /proc/PID/smaps_rollup, and CPU seconds from /proc/PID/stat."""
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    kb = {line.split(":")[0]: int(line.split()[1]) for line in rollup}
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return {"rss": kb["Rss"] / 1024, "pss": kb["Pss"] / 1024,
            "uss": (kb["Private_Clean"] + kb["Private_Dirty"]) / 1024, "anon": kb["Anonymous"] / 1024,
            "cpu_s": (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--agents", type=int, default=8)
    p.add_argument("--batches", type=int, default=15)
    p.add_argument("--settle", type=float, default=25.0)
    p.add_argument("--reverse", action="store_true", help="start the relay with MALLOC_ARENA_MAX=1 first")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wardround-bench-relay-arenas-"))
    (tmp / "collector").mkdir()
    collector = CollectorProcess(tmp / "collector", SITE, "agent-01")
    collector.start()
    order = [("without", None), ("MALLOC_ARENA_MAX=1", "1")]
    relays: dict[str, RelayProcess] = {}
    try:
        for name, arenas in reversed(order) if args.reverse else order:
            os.environ.pop("MALLOC_ARENA_MAX", None)
            if arenas:
                os.environ["MALLOC_ARENA_MAX"] = arenas
            relays[name] = RelayProcess(tmp / name.split("=")[0].lower(), collector, name=f"front-{len(relays)}")
            relays[name].start()
        os.environ.pop("MALLOC_ARENA_MAX", None)

        def agent() -> None:
            for _ in range(args.batches):
                for relay in relays.values():
                    status, answer = post(relay.url, collector.agent_token, results(200, "agent-01"))
                    assert status == 200, (status, answer)

        threads = [threading.Thread(target=agent) for _ in range(args.agents)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(args.settle)
        for name, relay in relays.items():
            assert relay.proc is not None
            m = memory(relay.proc.pid)
            print(f"relay {name:<20} RSS {m['rss']:.1f} / PSS {m['pss']:.1f} / USS {m['uss']:.1f} MB, "
                  f"anon {m['anon']:.1f} MB, CPU {m['cpu_s']:.2f} s for {args.agents * args.batches * 200} results")
    finally:
        for relay in relays.values():
            relay.kill()
        if collector.proc is not None:
            collector.proc.kill()


if __name__ == "__main__":
    main()
