from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.config import ConfigError, load_config
from agent.scheduler import Agent
from agent.timer import Crontab, Every, Timer
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
        assert agent.scheduler is not None
        for job in agent.scheduler.jobs():
            every = 300 if job.id == "disk" else 10
            first = job.next_run
            assert first is not None
            times = [first]
            for _ in range(20):
                times.append(job.trigger.after(times[-1]))
            # the phase is random within the jitter (at most half the period) ...
            assert timedelta(seconds=1) <= first - started <= timedelta(seconds=min(30, every / 2) + 2)
            # ... and every later run is exactly one period after the one before
            assert {b - a for a, b in zip(times, times[1:], strict=False)} == {timedelta(seconds=every)}
    finally:
        agent.stop_event.set()
        agent.scheduler.shutdown()
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
        assert agent.scheduler is not None
        jobs = {job.id: job.trigger for job in agent.scheduler.jobs()}
    finally:
        agent.stop_event.set()
        agent.scheduler.shutdown()
        agent.spool.close()
    zone = local_zone()

    def fires(trigger: Every | Crontab, start: datetime, n: int) -> list[str]:
        out, last = [], start
        for _ in range(n):
            fire = trigger.after(last)
            assert fire is not None
            out.append(fire.astimezone(zone).strftime("%a %d %H:%M"))
            last = fire
        return out

    saturday = datetime(2026, 11, 28, 9, 0, tzinfo=zone)
    assert fires(jobs["disk"], saturday, 3) == ["Mon 30 08:00", "Tue 01 08:00", "Wed 02 08:00"]
    assert fires(jobs["system"], saturday, 3) == ["Mon 30 08:00", "Tue 01 08:00", "Mon 07 08:00"]
    assert fires(jobs["uptime"], saturday, 2) == ["Sun 29 00:00", "Mon 30 00:00"]


def test_a_jittered_cron_fire_is_late_by_at_most_the_jitter_and_never_repeats() -> None:
    zone = local_zone()
    trigger = Crontab("0 8 * * *", jitter_s=30, timezone=zone)
    now = datetime(2026, 11, 28, 7, 0, tzinfo=zone)
    first = trigger.after(now)
    assert first is not None
    assert datetime(2026, 11, 28, 8, 0, tzinfo=zone) <= first <= datetime(2026, 11, 28, 8, 0, 30, tzinfo=zone)
    second = trigger.after(first)  # asked again right after the jittered run
    assert second is not None and second.date() == datetime(2026, 11, 29, tzinfo=zone).date()
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


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _runs(timer: Timer, ran: list[datetime], clock: _Clock, *, every: float = 10, grace: float = 10,
          hold: threading.Event | None = None) -> None:
    def run() -> None:
        ran.append(clock.now)
        if hold is not None:
            hold.wait(5)

    timer.add("c", Every(every, clock.now), run, grace_s=grace)


def _settle(timer: Timer) -> None:
    deadline = time.monotonic() + 5
    while any(j.running for j in timer.jobs()) and time.monotonic() < deadline:
        time.sleep(0.005)


def test_runs_missed_while_the_agent_was_suspended_become_one_run_within_the_grace() -> None:
    clock, ran = _Clock(), []
    timer = Timer(now=clock)
    _runs(timer, ran, clock)
    timer.tick()
    _settle(timer)
    clock.now += timedelta(seconds=95)  # suspended: 9 fires missed; the newest is 5 s old
    wait = timer.tick()
    _settle(timer)
    assert len(ran) == 2 and ran[1] == clock.now  # one catch-up run, at once
    assert wait == pytest.approx(5.0)  # then the fixed phase again: 10:01:40
    assert timer.jobs()[0].next_run == datetime(2026, 12, 5, 10, 1, 40, tzinfo=UTC)


def test_a_cron_run_missed_by_more_than_the_grace_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    clock, ran = _Clock(), []
    timer = Timer(now=clock)
    timer.add("backup", Crontab("0 8 * * *", timezone=UTC), lambda: ran.append(clock.now), grace_s=3600)
    clock.now = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)  # 08:00 passed 90 min ago
    timer.tick()
    _settle(timer)
    assert ran == []
    assert "missed by 5400 s" in caplog.text
    assert timer.jobs()[0].next_run == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    clock.now = datetime(2026, 12, 7, 8, 40, tzinfo=UTC)  # 40 min late: within the hour
    timer.tick()
    _settle(timer)
    assert ran == [clock.now]


def test_a_run_due_while_the_previous_one_still_goes_is_skipped_not_stacked(caplog: pytest.LogCaptureFixture) -> None:
    clock, ran, hold = _Clock(), [], threading.Event()
    timer = Timer(now=clock)
    _runs(timer, ran, clock, hold=hold)
    timer.tick()
    clock.now += timedelta(seconds=10)
    deadline = time.monotonic() + 5
    while not ran and time.monotonic() < deadline:
        time.sleep(0.005)
    timer.tick()  # the first run still holds
    hold.set()
    _settle(timer)
    assert len(ran) == 1
    assert "previous run is still going" in caplog.text
    clock.now += timedelta(seconds=10)
    timer.tick()
    _settle(timer)
    assert len(ran) == 2


def test_the_timer_thread_runs_due_jobs_and_a_removed_job_runs_no_more() -> None:
    timer = Timer()
    ran: list[float] = []
    now = datetime.now(UTC)
    job = timer.add("fast", Every(0.05, now), lambda: ran.append(time.monotonic()), grace_s=1)
    timer.start()
    try:
        deadline = time.monotonic() + 5
        while len(ran) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(ran) >= 3
        assert timer.remove("fast") and not timer.remove("fast")
        deadline = time.monotonic() + 5  # a run already started when it was removed finishes
        while job.running and time.monotonic() < deadline:
            time.sleep(0.005)
        count = len(ran)
        time.sleep(0.2)
        assert len(ran) == count
    finally:
        timer.shutdown()


def test_an_interval_check_waits_at_most_one_period_when_the_clock_is_set_back() -> None:
    clock, ran = _Clock(), []
    timer = Timer(now=clock)
    _runs(timer, ran, clock)
    timer.tick()
    _settle(timer)
    clock.now -= timedelta(hours=1)  # NTP steps the clock back an hour
    wait = timer.tick()
    assert 0 < wait <= 10
    clock.now += timedelta(seconds=wait)
    timer.tick()
    _settle(timer)
    assert len(ran) == 2
