from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from agent.config import load_config
from agent.scheduler import Agent


def test_interval_checks_keep_an_exact_period_when_jitter_spreads_their_start(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(f"site: s\nhost: h\nspool: {tmp_path / 'spool.db'}\njitter: 30s\n"
                   "checks:\n  - check: disk\n    every: 5m\n  - check: system\n    every: 10s\n")
    agent = Agent(load_config(cfg))
    agent.sender = None
    started = datetime.now().astimezone()
    agent.start()
    try:
        for job in agent.scheduler.get_jobs():
            every = 300 if job.id == "disk" else 10
            first = job.next_run_time
            times = [first]
            for _ in range(20):
                times.append(job.trigger.get_next_fire_time(times[-1], times[-1]))
            # the phase is random within the jitter (at most half the period) ...
            assert timedelta(seconds=1) <= first - started <= timedelta(seconds=min(30, every / 2) + 2)
            # ... and every later run is exactly one period after the one before
            assert {b - a for a, b in zip(times, times[1:], strict=False)} == {timedelta(seconds=every)}
    finally:
        agent.stop_event.set()
        agent.scheduler.shutdown(wait=False)
        agent.spool.close()
