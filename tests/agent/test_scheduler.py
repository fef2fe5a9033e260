from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from agent.config import ConfigError, load_config
from agent.cron import CrontabTrigger
from agent.scheduler import Agent
from checks._files import local_zone


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


def test_cron_checks_fire_on_the_days_crontab_means_when_scheduled(tmp_path: Path) -> None:
    # crontab(5): weekdays count from Sunday = 0, and a restricted day of month OR a restricted
    # weekday matches ("0 8 1 * 1" = the 1st and every Monday); APScheduler's CronTrigger would
    # read 1-5 as Tuesday-Saturday and AND the two fields.
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(f"site: s\nhost: h\nspool: {tmp_path / 'spool.db'}\njitter: 0s\nchecks:\n"
                   "  - {check: disk, cron: '0 8 * * 1-5'}\n"
                   "  - {check: system, cron: '0 8 1 * 1'}\n"
                   "  - {check: uptime, cron: '@daily'}\n")
    agent = Agent(load_config(cfg))
    agent.sender = None
    agent.start()
    try:
        jobs = {job.id: job.trigger for job in agent.scheduler.get_jobs()}
    finally:
        agent.stop_event.set()
        agent.scheduler.shutdown(wait=False)
        agent.spool.close()
    zone = local_zone()

    def fires(trigger: CrontabTrigger, start: datetime, n: int) -> list[str]:
        out, last = [], None
        for _ in range(n):
            last = trigger.get_next_fire_time(last, start if last is None else last)
            out.append(last.astimezone(zone).strftime("%a %d %H:%M"))
        return out

    saturday = datetime(2026, 11, 28, 9, 0, tzinfo=zone)
    assert fires(jobs["disk"], saturday, 3) == ["Mon 30 08:00", "Tue 01 08:00", "Wed 02 08:00"]
    assert fires(jobs["system"], saturday, 3) == ["Mon 30 08:00", "Tue 01 08:00", "Mon 07 08:00"]
    assert fires(jobs["uptime"], saturday, 2) == ["Sun 29 00:00", "Mon 30 00:00"]


def test_a_jittered_cron_fire_is_late_by_at_most_the_jitter_and_never_repeats() -> None:
    zone = local_zone()
    trigger = CrontabTrigger("0 8 * * *", jitter_s=30, timezone=zone)
    now = datetime(2026, 11, 28, 7, 0, tzinfo=zone)
    first = trigger.get_next_fire_time(None, now)
    assert datetime(2026, 11, 28, 8, 0, tzinfo=zone) <= first <= datetime(2026, 11, 28, 8, 0, 30, tzinfo=zone)
    second = trigger.get_next_fire_time(first, first)  # asked again right after the jittered run
    assert second.date() == datetime(2026, 11, 29, tzinfo=zone).date()
    assert str(trigger) == "cron[0 8 * * *]"


@pytest.mark.parametrize(("expr", "why"), [("0 8 * *", "expected 5 fields"), ("0 8 * * 8", "outside 0-7"),
                                           ("0 25 * * *", "outside 0-23"), ("0 8 * * fri-mon", "outside")])
def test_a_cron_the_scheduler_could_not_read_is_refused_when_the_config_loads(tmp_path: Path, expr: str,
                                                                              why: str) -> None:
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(f"site: s\nhost: h\nchecks:\n  - {{check: disk, cron: '{expr}'}}\n")
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert 'checks[0].cron: expected a 5-field crontab like "0 8 * * *"' in err.value.errors[0]
    assert why in err.value.errors[0]
