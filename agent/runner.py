"""Run one check under a timeout, isolated: the agent's single error boundary.

Each run happens in its own daemon thread.  What comes back is always a
non-empty list of valid results stamped with site, host (the job's ``host``
when the config reports a check under another host's name, else the
runner's), started_at and duration_ms; :meth:`Runner.run` never raises and never waits longer than the
check's timeout:

========================  ==================================================
the check...              the runner returns
========================  ==================================================
returns results           those results (an invalid one becomes UNKNOWN)
returns nothing           UNKNOWN "returned no result"
raises                    UNKNOWN "<ExceptionType>: <message>" (secrets
                          masked; a short traceback in ``details``)
runs past its timeout     UNKNOWN "timed out after 30 s"; the thread is
                          abandoned (Python cannot kill it)
is still hung from the    UNKNOWN "previous run still hung since ..." at
previous run              once: hung threads never stack up
========================  ==================================================
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agent import logs
from checks.catalogue import CheckSpec
from checks.context import CheckContext
from checks.messages import say
from checks.result import Result, ResultError, Status, format_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeAlias

__all__ = ["CheckRun", "Runner", "sanitize"]

log = logs.get(__name__)

StateLoad: TypeAlias = "Callable[[str], dict[str, Any]]"
StateSave: TypeAlias = "Callable[[str, dict[str, Any]], None]"


@dataclass(frozen=True)
class CheckRun:
    """What to run: a check instance (from the config, or ad hoc from the CLI)."""

    spec: CheckSpec
    params: Any
    timeout_s: float
    name: str = ""  # the instance name; defaults to the check name
    host: str = ""  # report under this host instead of the runner's (a host checked remotely)

    @property
    def key(self) -> str:
        return self.name or self.spec.name

    @property
    def named(self) -> bool:
        """Named by the user: the name, not just the check (or check@host), tells the instance."""
        return bool(self.name) and self.name not in (self.spec.name, f"{self.spec.name}@{self.host}")


@dataclass
class _Outcome:
    results: Any = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Runner:
    """Runs check instances for one site/host; keeps their state between runs."""

    def __init__(self, site: str, host: str, *, load_state: StateLoad | None = None,
                 save_state: StateSave | None = None,
                 clock_offset: Callable[[], float | None] | None = None):
        self.site = site
        self.host = host
        self._clock_offset = clock_offset  # the collector's clock minus ours, for the clock check
        self._memory: dict[str, dict[str, Any]] = {}
        self._load = load_state or (lambda key: dict(self._memory.get(key, {})))
        self._save = save_state or self._memory.__setitem__
        self._hung: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def run(self, job: CheckRun) -> list[Result]:
        started = datetime.now(UTC)
        t0 = time.monotonic()
        with self._lock:
            hung_since = self._hung.get(job.key)
        if hung_since is not None:
            return [self._unknown(job, started, 0.0, say("agent.still_hung", since=format_time(hung_since)[:19],
                                                          timeout=job.timeout_s))]
        try:
            state = self._load(job.key)
        except Exception as exc:  # a broken state must not stop the check
            log.warning("check %s: state could not be loaded (%s); starting afresh",
                        job.key, type(exc).__name__)
            state = {}
        offset = self._clock_offset() if self._clock_offset is not None else None
        ctx = CheckContext(state=state, timeout_s=job.timeout_s, now=started, collector_offset_s=offset)
        outcome = _Outcome()
        thread = threading.Thread(target=self._target, args=(job, ctx, outcome, started),
                                  name=f"check-{job.key}", daemon=True)
        thread.start()
        finished = outcome.done.wait(job.timeout_s)
        duration_ms = (time.monotonic() - t0) * 1000
        if not finished:
            with self._lock:
                if not outcome.done.is_set():  # else it finished just now: still a timeout
                    self._hung[job.key] = started
            log.warning("check %s timed out after %g s; its thread is abandoned",
                        job.key, job.timeout_s)
            return [self._unknown(job, started, duration_ms, say("agent.timed_out", timeout=job.timeout_s))]
        if outcome.error is not None:
            err = outcome.error
            log.warning("check %s raised %s", job.key, type(err).__name__)
            import traceback  # a check that raised: rare, and linecache/tokenize come with it

            tb = traceback.format_exception(type(err), err, err.__traceback__, limit=-6)
            return [self._unknown(job, started, duration_ms,
                                  say("agent.check_failed", error=type(err).__name__, text=sanitize(str(err))),
                                  details={"traceback": sanitize("".join(tb), one_line=False)[-4000:]})]
        self._keep_state(job, ctx.state)
        return self._stamp(job, outcome.results, started, duration_ms)

    # -- inside the worker thread -----------------------------------------

    def _target(self, job: CheckRun, ctx: CheckContext, outcome: _Outcome, started: datetime) -> None:
        try:
            outcome.results = job.spec.run(job.params, ctx)
        except BaseException as exc:  # noqa: BLE001 - the one error boundary
            outcome.error = exc
        finally:
            with self._lock:
                outcome.done.set()
                # a hung run that finally ends frees its instance again
                if self._hung.get(job.key) == started:
                    del self._hung[job.key]

    # -- helpers ----------------------------------------------------------

    def _keep_state(self, job: CheckRun, state: MutableMapping[str, Any]) -> None:
        try:
            self._save(job.key, dict(state))
        except (TypeError, ValueError) as exc:
            log.warning("check %s: its state is not JSON-serialisable (%s); not kept", job.key, exc)
        except Exception as exc:
            log.warning("check %s: its state could not be saved (%s)", job.key, type(exc).__name__)

    def _stamp(self, job: CheckRun, results: Any, started: datetime, duration_ms: float) -> list[Result]:
        if not isinstance(results, list | tuple) or not results:
            return [self._unknown(job, started, duration_ms, say("agent.no_result"))]
        out = []
        for r in results:
            if not isinstance(r, Result):
                out.append(self._unknown(job, started, duration_ms,
                                         say("agent.not_a_result", type=type(r).__name__)))
                continue
            stamped = r.with_origin(site=self.site, host=job.host or self.host, started_at=started,
                                    duration_ms=duration_ms)
            try:
                Result.from_wire(json.loads(json.dumps(stamped.to_wire(), allow_nan=False)))
            except (ResultError, TypeError, ValueError) as exc:
                out.append(self._unknown(job, started, duration_ms,
                                         say("agent.invalid_result", item=repr(r.item[:100]),
                                             error=sanitize(str(exc))), item=r.item[:255]))
                continue
            out.append(stamped)
        return out

    def _unknown(self, job: CheckRun, started: datetime, duration_ms: float, summary: str, *,
                 details: dict[str, Any] | None = None, item: str | None = None) -> Result:
        if item is None:
            item = job.name if job.named else ""
        return Result(check=job.spec.name, item=item, status=Status.UNKNOWN,
                      summary=summary if len(summary) <= 1000 else summary[:1000],
                      details=details or {}, site=self.site, host=job.host or self.host, started_at=started,
                      duration_ms=duration_ms)


_SECRET_RE = re.compile(
    r"(?i)\b(password|passwd|pwd|token|secret|api[_-]?key|access[_-]?key|authorization)"
    r"(\s*[=:]\s*)(?:(?:bearer|basic)\s+)?(\"[^\"]*\"|'[^']*'|[^\s;,&]+)")
_BEARER_RE = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_URL_CRED_RE = re.compile(r"(://[^/\s:@]+):[^/\s@]+@")


def sanitize(text: str, *, one_line: bool = True, limit: int = 500) -> str:
    """Mask what looks like a secret; one line and short for a summary."""
    text = _SECRET_RE.sub(r"\1\2***", text)
    text = _BEARER_RE.sub(r"\1 ***", text)
    text = _URL_CRED_RE.sub(r"\1:***@", text)
    if one_line:
        text = " ".join(text.split())
        return text if len(text) <= limit else text[: limit - 3] + "..."
    return text
