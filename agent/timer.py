"""The agent's scheduler: one timer thread, a fire time per job, each run in its own thread.

Replaces APScheduler in the agent (with it the running agent was 4 MB larger, RSS and PSS:
asyncio, concurrent.futures and importlib.metadata; ``bench/agent_footprint.py --baseline``).
The rules are the ones the agent had with it, so nothing changes for a check:

* **interval** (:class:`Every`): fires at ``first + k × every`` exactly; the random phase
  ``first`` spreads a fleet, and the period never drifts;
* **cron** (:class:`Crontab`): fire times from :mod:`checks._cron` (the one crontab reader),
  each delayed by a random 0..``jitter`` seconds;
* **one run at a time** per job: a fire that comes while the previous run still runs is
  skipped (logged), never stacked;
* **catch-up**: fires missed while the agent was stopped, suspended or busy become **one**
  run (coalesced), made at once if the newest missed fire is at most ``grace_s`` old, else
  skipped with a warning (the next fire comes as scheduled);
* at most :data:`MAX_RUNNING` runs at once; more wait for a free slot.

The timer thread sleeps until the next fire (at most :data:`MAX_SLEEP_S`, so a wall-clock
change is noticed) or until a job is added or removed.  When the clock is set back, an
interval check's next run moves back with it (it never waits longer than one period).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo

from agent import logs
from checks._cron import Schedule

__all__ = ["Crontab", "Every", "Job", "Timer", "spread"]

log = logs.get(__name__)

MAX_RUNNING = 10  # runs at the same time, over all jobs
MAX_SLEEP_S = 30.0
_TICK = timedelta(microseconds=1)


def spread(span: float = 1.0) -> float:
    """A random number in [0, ``span``): seconds of jitter, of a first run's phase, a backoff's share.

    From ``os.urandom`` rather than the ``random`` module, which the agent needs for nothing else
    (with ``_sha512`` and ``bisect``: about 0.1 MB of an idle agent)."""
    return span * int.from_bytes(os.urandom(7), "big") / (1 << 56)


class Every:
    """Every ``seconds``, from ``first`` on: ``first + k × seconds``."""

    __slots__ = ("first", "seconds")

    def __init__(self, seconds: float, first: datetime):
        if seconds <= 0:
            raise ValueError("the interval must be positive")
        self.seconds = seconds
        self.first = first

    def latest(self, at: datetime) -> datetime:
        """The last time of the grid ``first + k × seconds`` (k any integer) at or before ``at``."""
        fire = self.first + timedelta(seconds=math.floor((at - self.first).total_seconds() / self.seconds)
                                      * self.seconds)
        return fire if fire <= at else fire - timedelta(seconds=self.seconds)

    def after(self, at: datetime) -> datetime:
        """The first time of the grid strictly after ``at`` (``first`` itself when ``at`` is just before it)."""
        return self.latest(at) + timedelta(seconds=self.seconds)

    def __str__(self) -> str:
        return f"every {self.seconds:g} s"


class Crontab:
    """When :mod:`checks._cron` says (crontab(5) weekdays and day matching, in ``timezone``),
    each fire delayed by a random 0..``jitter_s`` seconds."""

    __slots__ = ("jitter_s", "schedule")

    def __init__(self, expr: str, *, jitter_s: float = 0.0, timezone: tzinfo | None = None):
        if timezone is None:
            from checks._files import local_zone

            timezone = local_zone()
        self.schedule = Schedule.parse(expr, timezone)
        self.jitter_s = max(0.0, jitter_s)

    def latest(self, at: datetime) -> datetime | None:
        """The last schedule time (unjittered) at or before ``at``."""
        return self.schedule.latest(at)

    def after(self, at: datetime) -> datetime | None:
        """The first (jittered) fire whose schedule time is strictly after ``at``: a jittered fire
        is never followed by its own schedule time again.  None: the expression never fires."""
        fire = self.schedule.next(at + _TICK)
        if fire is None:
            return None
        return fire + timedelta(seconds=spread(self.jitter_s)) if self.jitter_s else fire

    def __str__(self) -> str:
        return f"cron[{self.schedule.cron.expr}]"


Trigger = Every | Crontab


class Job:
    """One scheduled function: its trigger, next fire, catch-up grace and whether it runs now."""

    __slots__ = ("func", "grace_s", "id", "next_run", "running", "trigger")

    def __init__(self, id: str, trigger: Trigger, func: Callable[[], object], grace_s: float,
                 next_run: datetime | None):
        self.id = id
        self.trigger = trigger
        self.func = func
        self.grace_s = grace_s
        self.next_run = next_run  # None: it never fires again
        self.running = False


class Timer:
    """Runs :class:`Job` s on their triggers from one daemon thread."""

    def __init__(self, max_running: int = MAX_RUNNING, now: Callable[[], datetime] | None = None):
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._stopped = threading.Event()
        self._slots = threading.BoundedSemaphore(max_running)
        self._now = now or (lambda: datetime.now(UTC))
        self._thread: threading.Thread | None = None

    def add(self, id: str, trigger: Trigger, func: Callable[[], object], *, grace_s: float,
            first: datetime | None = None) -> Job:
        """Schedule ``func`` under ``id`` (replacing a job of that id); ``first`` overrides its first fire."""
        job = Job(id, trigger, func, grace_s, first or trigger.after(self._now() - _TICK))
        with self._lock:
            self._jobs[id] = job
        self._changed.set()
        return job

    def remove(self, id: str) -> bool:
        """Unschedule ``id`` (a run in progress finishes); False if there was no such job."""
        with self._lock:
            gone = self._jobs.pop(id, None)
        self._changed.set()
        return gone is not None

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="timer", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        """Stop firing (runs in progress go on; the caller waits for them if it wants)."""
        self._stopped.set()
        self._changed.set()

    def _loop(self) -> None:
        while not self._stopped.is_set():
            self._changed.clear()
            try:
                wait = self.tick()
            except Exception:  # a fault here must not stop every check for good
                log.exception("scheduler: unexpected error; trying again in %.0f s", MAX_SLEEP_S)
                wait = MAX_SLEEP_S
            self._changed.wait(min(MAX_SLEEP_S, max(0.0, wait)))

    def tick(self) -> float:
        """Fire what is due; seconds until the next fire."""
        now = self._now()
        soonest = MAX_SLEEP_S
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            trigger = job.trigger
            if (isinstance(trigger, Every) and job.next_run is not None
                    and (job.next_run - now).total_seconds() > trigger.seconds):
                job.next_run = trigger.after(now)  # the clock was set back: keep the period, not the wait
            if job.next_run is not None and job.next_run <= now:
                self._due(job, now)
            if job.next_run is not None:
                soonest = min(soonest, (job.next_run - now).total_seconds())
        return soonest

    def _due(self, job: Job, now: datetime) -> None:
        assert job.next_run is not None
        # the newest fire due by now; the ones missed before it are coalesced into it
        newest = max(job.next_run, job.trigger.latest(now) or job.next_run)
        upcoming = job.trigger.after(newest)
        job.next_run = upcoming
        late = (now - newest).total_seconds()
        if late > job.grace_s:
            log.warning("check %s: the run due at %s was missed by %.0f s (more than its grace of %.0f s); "
                        "next run at %s", job.id, newest.isoformat(timespec="seconds"), late, job.grace_s,
                        upcoming.isoformat(timespec="seconds") if upcoming else "never")
            return
        if job.running:
            log.warning("check %s: skipped a run, the previous run is still going", job.id)
            return
        with self._lock:
            if self._jobs.get(job.id) is not job:  # removed (or replaced) since this tick began
                return
            job.running = True
        threading.Thread(target=self._run, args=(job,), name=f"run-{job.id}", daemon=True).start()

    def _run(self, job: Job) -> None:
        try:
            with self._slots:
                if not self._stopped.is_set():
                    job.func()
        except Exception:  # the agent's patrol never raises; anything else must not kill the timer
            log.exception("check %s: the run failed", job.id)
        finally:
            job.running = False
            self._changed.set()
