"""The ``run`` daemon: timer jobs run checks into the spool; a sender thread pushes.

One :mod:`agent.timer` job per configured check instance (id = the instance name; one run
at a time; missed runs coalesced into one, within a grace of one interval, one hour for cron
checks), each with a first run at a random phase within ``jitter`` seconds of start
(interval checks then keep that phase; cron checks are jittered per run) so a fleet
restarted together does not stampede the collector.  Every check run goes through :class:`agent.runner.Runner`,
so a hung or crashing check costs one UNKNOWN result, never the agent.

The sender thread pushes whenever results arrive (after a short pause that
gathers checks finishing together), and at least once a minute; on failure it
backs off exponentially with full jitter (base 1 s, cap 5 min).

A config thread (when the agent has a collector and ``config_every`` is not off) fetches
the central config (:mod:`agent.central`) at start — before the first checks are scheduled,
within a few seconds — and every ``config_every``; a changed config is applied without a
restart: jobs of removed or changed checks go, new and changed ones are scheduled, the rest
keep their timing.  It also picks up a rotated token when the sender reports one.

Each push cycle that delivered something logs one INFO line (``push: delivered N, backlog
M``); one that could not deliver logs a WARNING saying why and when it tries again.

SIGTERM / SIGINT: stop scheduling, let running checks finish for a few
seconds, make one last bounded push, close the spool, exit 0.
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime, timedelta

from agent import logs
from agent.central import Central, pick_up_token
from agent.config import AgentConfig, CheckConfig
from agent.http import Http
from agent.runner import CheckRun, Runner
from agent.sender import Backoff, Sender, collector_base
from agent.spool import Spool, notice_factory
from agent.timer import Crontab, Every, Timer, spread
from checks.result import Result

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Agent", "job"]

log = logs.get(__name__)

IDLE_PUSH_S = 60.0  # push (and enforce the bounds) at least this often
GATHER_S = 2.0  # after new results, wait this long for more before pushing
STOP_GRACE_S = 5.0  # on stop: how long running checks get to finish
FINAL_PUSH_S = 5.0  # on stop: the last push attempt's time limit
BACKOFF_CAP_S = 300.0
FIRST_CONFIG_S = 10.0  # at start: how long the first central config fetch may take
REFUSED_RETRY_S = 60.0  # awaiting approval, or no answer: ask again this soon (at most config_every)


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
        self.http = None if c is None else Http(collector_base(c.url), c.token, ca_file=c.ca_file, proxy=c.proxy,
                                                proxy_credentials=c.proxy_credentials)
        self.sender = None if c is None else Sender(
            self.spool, c.url, c.token, ca_file=c.ca_file, timeout_s=c.timeout_s,
            batch_size=c.batch_size, site=config.site, host=config.host, notice=self.notice, http=self.http)
        self.central = None
        if self.http is not None and config.config_every_s is not None:
            assert c is not None
            self.central = Central(config, self.http, timeout_s=c.timeout_s)
        self.checks: dict[str, CheckConfig] = {}  # what is scheduled, by name
        self._jobs_lock = threading.Lock()
        self._rotation = threading.Event()  # the sender saw Wardround-Token-Expires
        self._next_pickup = 0.0
        self._config_thread: threading.Thread | None = None
        if self.sender is not None:
            self.sender.on_rotation = lambda _expires: self._rotation.set()
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self._busy = 0
        self._idle = threading.Condition()
        self.scheduler: Timer | None = None
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
                if out.acknowledged or out.quarantined:
                    log.info("push: delivered %d, backlog %d%s", out.acknowledged, self.spool.backlog(),
                             f", {out.quarantined} rejected as invalid (quarantined)" if out.quarantined else "")
                backoff.reset()
                if self._wake.wait(IDLE_PUSH_S):
                    self.stop_event.wait(GATHER_S)
            else:
                delay = backoff.next_delay()
                if out.retry_after is not None:
                    delay = max(delay, min(out.retry_after, BACKOFF_CAP_S))
                log.warning("push: cannot deliver: %s; delivered %d, backlog %d wait in the spool; next "
                            "attempt in %.1f s", "refused (see above)" if out.logged else out.error,
                            out.acknowledged, self.spool.backlog(), delay)
                if backoff.attempt == 1:  # the first failure of a row: the reader's language too
                    self._told_cannot_deliver(out, delay)
                self.stop_event.wait(delay)

    def _told_cannot_deliver(self, out: Any, delay: float) -> None:
        """The first failed push of a row, in the reader's language beside the English line (logs.told_too)."""
        from checks.messages.reader import tell, tell_error

        logs.told_too(log, lambda: tell("cli.agent.log.cannot_deliver", why=tell_error(out) if out.key else out.error,
                                        n=self.spool.backlog(), spool=self.config.spool, delay=round(delay, 1)))

    # -- life cycle ---------------------------------------------------------

    def start(self) -> None:
        checks = self.config.checks
        if self.central is not None:
            self.central.load_stored()
            self._fetch_config(FIRST_CONFIG_S)
            checks = self.central.effective()
        self.scheduler = Timer()
        self.apply(checks)
        self.scheduler.start()
        if self.sender is not None:
            self._sender_thread = threading.Thread(target=self._send_loop, name="sender", daemon=True)
            self._sender_thread.start()
        if self.http is not None:
            self._config_thread = threading.Thread(target=self._config_loop, name="config", daemon=True)
            self._config_thread.start()
        c = self.config
        log.info("wardround-agent started: site %s host %s, %d checks%s, spool %s (%d waiting), collector %s%s",
                 c.site, c.host, len(self.checks),
                 f" (central config {self.central.version})" if self.central and self.central.version else "",
                 c.spool, self.spool.backlog(), self.sender.url if self.sender else "none",
                 f" through the proxy {self.http.proxy}" if self.http and self.http.proxy else "")

    def apply(self, checks: tuple[CheckConfig, ...] | list[CheckConfig]) -> tuple[int, int, int]:
        """Schedule exactly ``checks``: (added, changed, removed); unchanged jobs keep their timing."""
        wanted = {c.name: c for c in checks}
        assert self.scheduler is not None
        with self._jobs_lock:
            gone = [n for n in self.checks if n not in wanted or _differs(self.checks[n], wanted[n])]
            for name in gone:
                self.scheduler.remove(name)
                del self.checks[name]
            added = [c for n, c in wanted.items() if n not in self.checks]
            for check in added:
                self._schedule(check)
                self.checks[check.name] = check
        changed = len([n for n in gone if n in wanted])
        if self.sender is not None and self.central is not None:
            self.sender.config_version = self.central.version
        return len(added) - changed, changed, len(gone) - changed

    def _schedule(self, check: CheckConfig) -> None:
        assert self.scheduler is not None
        run = job(check)
        jitter = self.config.jitter_s
        now = datetime.now(UTC)
        trigger: Every | Crontab
        if check.every_s is not None:
            # A random phase, not a per-run jitter (which would drift the period longer,
            # every + jitter/2 on average): a fixed random offset spreads the fleet and keeps
            # the period exact.
            first = now + timedelta(seconds=1 + spread(min(jitter, check.every_s / 2)))
            trigger = Every(check.every_s, first)
            grace = max(1.0, check.every_s)
        else:
            assert check.cron is not None
            # cron times come from the schedule, not from the previous run: no drift
            trigger = Crontab(check.cron, jitter_s=jitter)
            grace = 3600.0
            first = now + timedelta(seconds=1 + spread(jitter))
        self.scheduler.add(run.key, trigger, lambda: self.patrol(run), grace_s=grace, first=first)

    # -- the collector's config and token ---------------------------------------------------

    def _fetch_config(self, timeout_s: float | None = None) -> bool:
        """Fetch the central config once; True when the collector answered (changed or not)."""
        assert self.central is not None
        got = self.central.fetch(timeout_s=timeout_s)
        if got.outcome == "changed":
            if self.scheduler is not None:
                added, changed, removed = self.apply(self.central.effective())
                log.info("central config %s applied: %d added, %d changed, %d removed; %d checks run",
                         self.central.version, added, changed, removed, len(self.checks))
            else:
                log.info("central config %s: %d checks from the collector", self.central.version,
                         len(self.central.checks))
        elif got.outcome == "rejected":
            log.error("central config: %s", got.message)
        elif got.outcome in ("refused", "failed"):
            log.warning("central config: not fetched (%s); %s", got.message,
                        f"keeping {self.central.version}" if self.central.version else "no central checks yet")
            if timeout_s is not None:  # at start: the reader's language too (logs.told_too)
                from checks.messages.reader import tell, tell_error

                why = tell_error(got) if got.key else got.message
                version = self.central.version
                logs.told_too(log, lambda: tell("cli.agent.central_kept", why=why, version=version) if version
                              else tell("cli.agent.central_none", why=why))
        elif got.outcome == "absent":
            log.info("central config: %s; only the local checks run", got.message)
        return got.outcome in ("changed", "unchanged", "rejected", "absent")

    def _config_loop(self) -> None:
        assert self.http is not None and self.config.collector is not None
        every = self.config.config_every_s
        answered = True
        while not self.stop_event.is_set():
            wait = every if every is not None and answered else min(REFUSED_RETRY_S, every or REFUSED_RETRY_S)
            self._rotation.wait(wait)
            if self.stop_event.is_set():
                break
            if self._rotation.is_set():
                self._rotation.clear()
                if time.monotonic() >= self._next_pickup and not pick_up_token(
                        self.http, self.config.collector.token_file, timeout_s=self.config.collector.timeout_s):
                    self._next_pickup = time.monotonic() + REFUSED_RETRY_S * 5  # not after every push
                continue
            if self.central is not None:
                try:
                    answered = self._fetch_config()
                except Exception:
                    log.exception("central config: unexpected error")
                    answered = False

    def stop(self) -> None:
        """Stop scheduling, give running checks a moment, push once more, close the spool."""
        self.stop_event.set()
        self._wake.set()  # the sender may be waiting for new results
        if self.scheduler is not None:
            self.scheduler.shutdown()
        until = time.monotonic() + STOP_GRACE_S
        with self._idle:
            while self._busy and time.monotonic() < until:
                self._idle.wait(until - time.monotonic())
        self._rotation.set()  # wakes the config thread, which sees the stop
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


def job(check: CheckConfig) -> CheckRun:
    return CheckRun(spec=check.spec, params=check.params, timeout_s=check.timeout_s, name=check.name,
                    host=check.host or "")


def _differs(a: CheckConfig, b: CheckConfig) -> bool:
    return (a.check, a.params, a.timeout_s, a.every_s, a.cron, a.host) != (b.check, b.params, b.timeout_s,
                                                                          b.every_s, b.cron, b.host)
