"""The ``run`` daemon: APScheduler jobs run checks into the spool; a sender thread pushes.

One job per configured check instance (explicit id = the instance name,
``max_instances=1``, ``coalesce``), each with a first run at a random phase
within ``jitter`` seconds of start (interval checks then keep that phase;
cron checks are jittered per run) so a fleet restarted together does not
stampede the collector.  Every check run goes through :class:`agent.runner.Runner`,
so a hung or crashing check costs one UNKNOWN result, never the agent.

The sender thread pushes whenever results arrive (after a short pause that
gathers checks finishing together), and at least once a minute; on failure it
backs off exponentially with full jitter (base 1 s, cap 5 min).

SIGTERM / SIGINT: stop scheduling, let running checks finish for a few
seconds, make one last bounded push, close the spool, exit 0.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from agent.config import AgentConfig, cron_trigger
from agent.runner import CheckRun, Runner
from agent.sender import Backoff, Sender
from agent.spool import Spool, notice_factory
from checks.result import Result

__all__ = ["Agent"]

log = logging.getLogger(__name__)

IDLE_PUSH_S = 60.0  # push (and enforce the bounds) at least this often
GATHER_S = 2.0  # after new results, wait this long for more before pushing
STOP_GRACE_S = 5.0  # on stop: how long running checks get to finish
FINAL_PUSH_S = 5.0  # on stop: the last push attempt's time limit
BACKOFF_CAP_S = 300.0


class Agent:
    """The daemon's parts wired together; :meth:`serve` runs until a signal."""

    def __init__(self, config: AgentConfig):
        self.config = config
        self.notice = notice_factory(config.site, config.host)
        self.spool = Spool(config.spool, max_age_s=config.spool_max_age_s,
                           max_bytes=config.spool_max_bytes, notice=self.notice)
        self.runner = Runner(config.site, config.host, load_state=self.spool.load_state,
                             save_state=self.spool.save_state, clock_offset=self._collector_offset)
        c = config.collector
        self.sender = None if c is None else Sender(
            self.spool, c.url, c.token, ca_file=c.ca_file, timeout_s=c.timeout_s,
            batch_size=c.batch_size, site=config.site, host=config.host, notice=self.notice)
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self._busy = 0
        self._idle = threading.Condition()
        self.scheduler: Any = None
        self._sender_thread: threading.Thread | None = None

    def _collector_offset(self) -> float | None:
        """The collector's clock minus ours, from the sender's last answer (for the clock check)."""
        return self.sender.clock_offset_s if self.sender is not None else None

    # -- jobs ---------------------------------------------------------------

    def patrol(self, job: CheckRun) -> list[Result]:
        """Run one check instance and commit its results to the spool."""
        with self._idle:
            self._busy += 1
        try:
            results = self.runner.run(job)
            self.spool.put(results)
            self.spool.enforce_bounds(self.notice)
            self._wake.set()
            return results
        except Exception:  # the spool failed (disk full?): log, the next run tries again
            log.exception("check %s: results could not be spooled", job.key)
            return []
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def _send_loop(self) -> None:
        assert self.sender is not None
        backoff = Backoff(cap=BACKOFF_CAP_S)
        while not self.stop_event.is_set():
            self._wake.clear()
            try:
                self.spool.enforce_bounds(self.notice)
                out = self.sender.push(stop=self.stop_event)
            except Exception:
                log.exception("push: unexpected error")
                self.stop_event.wait(backoff.next_delay())
                continue
            if out.ok:
                if backoff.attempt:
                    log.info("push: the collector takes results again")
                backoff.reset()
                if self._wake.wait(IDLE_PUSH_S):
                    self.stop_event.wait(GATHER_S)
            else:
                delay = backoff.next_delay()
                if out.retry_after is not None:
                    delay = max(delay, min(out.retry_after, BACKOFF_CAP_S))
                log.warning("push: %s; %d results wait in the spool; next attempt in %.1f s",
                            "failed (see above)" if out.logged else out.error, self.spool.backlog(),
                            delay)
                self.stop_event.wait(delay)

    # -- life cycle ---------------------------------------------------------

    def jobs(self) -> list[CheckRun]:
        return [CheckRun(spec=c.spec, params=c.params, timeout_s=c.timeout_s, name=c.name, host=c.host or "")
                for c in self.config.checks]

    def start(self) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        workers = max(2, min(len(self.config.checks), 10))
        self.scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(workers)})
        jitter = self.config.jitter_s
        now = datetime.now().astimezone()
        for check, job in zip(self.config.checks, self.jobs(), strict=True):
            if check.every_s is not None:
                # A random phase, not a per-run jitter: APScheduler 3's IntervalTrigger adds its
                # jitter to the previous (already jittered) run, so the period drifts longer
                # (every + jitter/2 on average).  A fixed random offset spreads the fleet and
                # keeps the period exact.
                first = now + timedelta(seconds=1 + random.uniform(0, min(jitter, check.every_s / 2)))
                trigger = IntervalTrigger(seconds=check.every_s, start_date=first)
                grace = int(max(1, check.every_s))
            else:
                assert check.cron is not None
                # cron times come from the schedule, not from the previous run: no drift
                trigger = cron_trigger(check.cron, jitter_s=jitter)
                grace = 3600
                first = now + timedelta(seconds=1 + random.uniform(0, jitter))
            self.scheduler.add_job(self.patrol, trigger, args=[job], id=job.key, name=job.key,
                                   max_instances=1, coalesce=True, misfire_grace_time=grace,
                                   next_run_time=first)
        self.scheduler.start()
        if self.sender is not None:
            self._sender_thread = threading.Thread(target=self._send_loop, name="sender", daemon=True)
            self._sender_thread.start()
        c = self.config
        log.info("wardround-agent started: site %s host %s, %d checks, spool %s (%d waiting), "
                 "collector %s", c.site, c.host, len(c.checks), c.spool, self.spool.backlog(),
                 self.sender.url if self.sender else "none")

    def stop(self) -> None:
        """Stop scheduling, give running checks a moment, push once more, close the spool."""
        self.stop_event.set()
        self._wake.set()  # the sender may be waiting for new results
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        until = time.monotonic() + STOP_GRACE_S
        with self._idle:
            while self._busy and time.monotonic() < until:
                self._idle.wait(until - time.monotonic())
        if self._sender_thread is not None:  # it stops between batches; a request in flight ends
            assert self.sender is not None  # within its timeout
            self._sender_thread.join(self.sender.timeout_s + 1)
        if self.sender is not None and self.spool.backlog() and not (
                self._sender_thread is not None and self._sender_thread.is_alive()):
            out = self.sender.push(deadline=time.monotonic() + FINAL_PUSH_S)
            log.info("stopping: last push sent %d results; %d stay in the spool", out.acknowledged,
                     self.spool.backlog())
        self.spool.close()
        log.info("wardround-agent stopped")

    def serve(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit code (0)."""

        def on_signal(signum: int, _frame: Any) -> None:
            log.info("received %s; stopping", signal.Signals(signum).name)
            self.stop_event.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        while not self.stop_event.wait(1.0):
            pass
        self.stop()
        return 0
