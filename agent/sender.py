"""Push spooled results to the collector: oldest first, in gzip JSON batches.

Standard library only (:mod:`agent.http`, one HTTP/1.1 exchange on a socket): the agent must
stay lean, and an HTTP client library would cost more memory than the whole agent.

What each answer of ``POST /api/v1/results`` does:

=================  ==========================================================
answer             what the sender does
=================  ==========================================================
2xx                deletes the ids in ``accepted`` and ``duplicates``;
                   records the clock offset from ``server_time``
connection error,  keeps everything; the caller backs off (exponential,
timeout, 5xx, 429  full jitter, base 1 s, cap 5 min)
401 / 403          logs the cause (never the token), keeps everything, backs off
413                halves the batch size and retries; a single result that
                   is still too large goes to the quarantine
422                bisects the batch to find the invalid results; only those
                   go to the quarantine, the rest are sent -- except results
                   stamped more than a day ahead of the collector's clock
                   while this machine's clock is still that far ahead: the
                   others are sent, those kept, and the push stops saying the
                   clock is wrong (a refusal)
=================  ==========================================================

Every request goes through :mod:`agent.http`: one overall time limit per request
(``collector.timeout``, or less when the caller's deadline — ``once --push --wait`` — comes
sooner), capped answers, the proxy.  An answer to a rotated token carries
``Wardround-Token-Expires``; the sender hands it to ``on_rotation`` (the agent then fetches
its new token).  Each batch says which central config the agent runs (``config_version``).

Log lines never contain the token or result bodies.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from agent import Worded, __version__, logs
from agent.http import Http, HttpError, reason, said_reason
from agent.spool import NoticeFactory, Rejection, Spool, SpooledResult
from agent.timer import spread
from checks.result import ResultError, format_time, parse_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Backoff", "PushOutcome", "Sender", "collector_base", "results_url"]

log = logs.get(__name__)

RESULTS_PATH = "/api/v1/results"
ROTATION_HEADER = "Wardround-Token-Expires"  # the token was rotated: fetch its successor (agent/central.py)
CLOCK_SKEW_WARN_S = 120.0


class Backoff:
    """Exponential backoff with full jitter: ``uniform(0, min(cap, base * 2**n))``."""

    def __init__(self, base: float = 1.0, cap: float = 300.0,
                 rng: Callable[[], float] = spread):
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng

    def ceiling(self) -> float:
        return min(self.cap, self.base * 2.0 ** min(self.attempt, 32))

    def next_delay(self) -> float:
        delay = self._rng() * self.ceiling()
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class PushOutcome:
    """What one push round did.  ``ok`` False means: back off before the next."""

    acknowledged: int = 0
    quarantined: int = 0
    ok: bool = True
    error: str = ""
    retry_after: float | None = None
    logged: bool = False  # the error was already logged at ERROR (401, 403, other 4xx)
    refused: bool = False  # the collector refused (401, 403, other 4xx, a redirect): waiting will not help
    key: str = ""  # ``error`` as a command-line message with ``words`` (:class:`agent.Worded`); "" without
    words: dict[str, object] | None = None


class _Failure(Worded):
    """A send that must stop this round (nothing deleted); ``said``: the message's key and words
    (:class:`agent.Worded`) for the reader of ``once --push``."""

    def __init__(self, message: str, retry_after: float | None = None, logged: bool = False,
                 refused: bool = False, said: tuple[str, dict[str, object]] = ("", {})):
        super().__init__(message, said[0], **said[1])
        self.retry_after = retry_after
        self.logged = logged
        self.refused = refused
        self.acknowledged = 0  # delivered in this round before it stopped


def results_url(base: str) -> str:
    """``https://collector:8480`` → ``https://collector:8480/api/v1/results``."""
    return collector_base(base) + RESULTS_PATH


def collector_base(url: str) -> str:
    """``https://collector:8480/api/v1/results`` or ``.../`` → ``https://collector:8480``."""
    return url.rstrip("/").removesuffix(RESULTS_PATH)


class Sender:
    """Moves results from the spool to the collector; one push round at a time."""

    def __init__(self, spool: Spool, url: str, token: str, *, ca_file: str | None = None,
                 timeout_s: float = 10.0, batch_size: int = 500, site: str = "", host: str = "",
                 notice: NoticeFactory | None = None, version: str = __version__, http: Http | None = None,
                 proxy: str | None = None, proxy_credentials: str | None = None):
        self.spool = spool
        self.url = results_url(url)
        self.http = http if http is not None else Http(
            collector_base(url), token, ca_file=ca_file, proxy=proxy, proxy_credentials=proxy_credentials,
            version=version)
        #: the central config this agent runs, reported with each batch (agent/central.py)
        self.config_version: str | None = None
        #: called with the old token's expiry when the collector says it was rotated
        self.on_rotation: Callable[[str], None] | None = None
        #: more members for each batch's ``agent`` envelope (a relay: its agents' own reports)
        self.envelope_extra: Callable[[], dict[str, Any]] | None = None
        self.timeout_s = timeout_s
        self.batch_size = max(1, batch_size)
        self.site = site
        self.host = host
        self.notice = notice
        self.version = version
        self.clock_offset_s: float | None = None
        self._skew_warned = False
        #: log a refusal (401, 403, other 4xx) at ERROR: the daemon's journal; ``once --push`` says
        #: it itself, in the reader's language, on its last line
        self.log_refusals = True
        #: the collector's earliest day when it last quarantined a result as stamped before it (this machine's
        #: clock set back): ``once --push`` says so on its last line
        self.clock_behind = ""
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never show the token
        return f"Sender(url={self.url!r}, batch_size={self.batch_size})"

    # -- public -----------------------------------------------------------

    def push(self, *, deadline: float | None = None, stop: threading.Event | None = None) -> PushOutcome:
        """Send batches, oldest first, until the spool is empty, a send fails,
        ``deadline`` (``time.monotonic()``) passes or ``stop`` is set."""
        out = PushOutcome()
        with self._lock:
            while stop is None or not stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    out.ok, out.error = False, "out of time"
                    break
                rows = self.spool.batch(self.batch_size)
                if not rows and not (self.notice is not None and self.spool.all_clear(self.notice)):
                    break
                if not rows:
                    continue  # the all clear after a notice: deliver it too
                try:
                    acked, quarantined = self._deliver(rows, deadline)
                except _Failure as exc:
                    out.ok, out.error, out.retry_after = False, str(exc), exc.retry_after
                    out.logged, out.refused, out.key, out.words = exc.logged, exc.refused, exc.key, exc.words
                    out.acknowledged += exc.acknowledged
                    break
                out.acknowledged += acked
                out.quarantined += quarantined
                if acked + quarantined < len(rows):
                    out.ok = False
                    out.error = (f"the collector acknowledged {acked} of {len(rows)} results; "
                                 "the rest stay spooled")
                    out.key, out.words = "cli.agent.push.partial", {"n": acked, "total": len(rows)}
                    log.warning("push: %s", out.error)
                    break
        return out

    # -- one request ------------------------------------------------------

    def _deliver(self, rows: Sequence[SpooledResult], deadline: float | None) -> tuple[int, int]:
        """Send ``rows``; split on 413/422 until the bad ones are alone. Returns (acked, quarantined)."""
        status, answer = self._post(rows, deadline)
        if 200 <= status < 300:
            return self._acknowledge(rows, answer), 0
        if status == 422:
            self._keep_if_clock_ahead(rows, answer, deadline)
        if status in (413, 422):
            if status == 413:
                self.batch_size = max(1, min(self.batch_size, len(rows) // 2))
                log.warning("push: the collector found a batch of %d results too large (413); "
                            "batch size now %d", len(rows), self.batch_size)
            if len(rows) == 1:
                why = (Rejection(status, reason(answer), clock_ahead=_clock_ahead(answer) is not None,
                                 before=_clock_behind(answer)) if status == 422 else Rejection(status))
                self.clock_behind = why.before or self.clock_behind
                return 0, self.spool.quarantine([rows[0].id], why, self.notice)
            mid = len(rows) // 2
            a1, q1 = self._deliver(rows[:mid], deadline)
            a2, q2 = self._deliver(rows[mid:], deadline)
            return a1 + a2, q1 + q2
        raise self._failure(status, answer)

    def _keep_if_clock_ahead(self, rows: Sequence[SpooledResult], answer: Any, deadline: float | None) -> None:
        """A 422 for results stamped more than a day ahead of the collector's clock, while this machine's clock
        is still that far ahead: send the batch's other results (stamped before the clock went wrong), keep
        those, stop and say the clock is wrong (bisecting would quarantine every new result: lost for a wrong
        clock).  Once the clock is set right, the results it stamped ahead are quarantined as invalid, with
        their own notice, which, stamped by the right clock, reaches the collector."""
        ahead = _clock_ahead(answer)
        if ahead is None or datetime.now(UTC) < ahead[0]:
            return
        listed = {e.get("index") for e in answer["detail"]}
        others = [r for i, r in enumerate(rows) if i not in listed]
        acknowledged = self._deliver(others, deadline)[0] if others else 0
        words: dict[str, object] = {"started_at": format_time(ahead[0]), "now": ahead[1]}
        msg = (f"this machine's clock is more than a day ahead of the collector's (a result of {words['started_at']}, "
               f"the collector's clock {ahead[1]}): the collector refuses its results (HTTP 422); they stay in the "
               "spool until the clock is set right (NTP)")
        if self.log_refusals:
            log.error("push: %s", msg)
        failure = _Failure(msg, logged=self.log_refusals, refused=True, said=("cli.agent.push.clock_ahead", words))
        failure.acknowledged = acknowledged
        raise failure

    def _post(self, rows: Sequence[SpooledResult], deadline: float | None) -> tuple[int, Any]:
        timeout = self.timeout_s
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                raise _Failure("out of time")
        # what waits besides this batch (as a ferry bundle says it): a healthy agent reports 0
        backlog = max(0, self.spool.backlog() - len(rows))
        envelope: dict[str, Any] = {"time": format_time(datetime.now(UTC)), "spool_backlog": backlog,
                                    "version": self.version}
        if self.config_version is not None:  # older collectors ignore it
            envelope["config_version"] = self.config_version
        if self.envelope_extra is not None:
            envelope.update(self.envelope_extra())
        body = '{"results":[' + ",".join(r.body for r in rows) + '],"agent":' + json.dumps(envelope) + "}"
        data = gzip.compress(body.encode("utf-8"), compresslevel=6)
        try:
            got = self.http.exchange("POST", self.url, timeout=timeout, data=data, headers={
                "Content-Type": "application/json", "Content-Encoding": "gzip"})
            answer = got.json()
        except HttpError as exc:
            raise _Failure(str(exc), said=(exc.key, exc.words)) from None
        if got.status == 429 or got.status >= 500:
            raise _Failure(f"the collector answered HTTP {got.status}", _retry_after(got.header("Retry-After")),
                           said=("cli.agent.push.busy", {"status": got.status}))
        if 200 <= got.status < 300:
            self._note_clock(answer, got.sent_at, time.time())
            expires = got.header(ROTATION_HEADER)
            if expires and self.on_rotation is not None:
                self.on_rotation(expires)
        return got.status, answer

    def _acknowledge(self, rows: Sequence[SpooledResult], answer: Any) -> int:
        if not isinstance(answer, dict):
            raise _Failure("the collector's answer is not a JSON object", said=("cli.agent.push.not_json", {}))
        sent = {r.id for r in rows}
        ids: list[str] = []
        for key in ("accepted", "duplicates"):
            value = answer.get(key, [])
            if isinstance(value, list):
                ids.extend(i for i in value if isinstance(i, str) and i in sent)
        return self.spool.ack(ids)

    def _failure(self, status: int, answer: Any) -> _Failure:
        words: dict[str, object] = {"status": status, "reason": said_reason(answer), "url": "collector.url",
                                    "file": "collector.token_file", "inline": "token",
                                    "command": "`wardround-collector token create`",
                                    "example": "https://collector.example:8480"}
        if status == 401:
            key = "cli.agent.push.401"
            msg = ("the collector refused the agent token (HTTP 401): check collector.token_file "
                   "(or token) against `wardround-collector token create`")
        elif status == 403:
            # The collector names the host that was refused and the grant that would allow it
            # (`token create ... --also-host NAME`); its words beat our guess.
            key, words["site"], words["host"] = "cli.agent.push.403", repr(self.site), repr(self.host)
            msg = (f"the collector refused this batch from site {self.site!r} host {self.host!r} "
                   f"(HTTP 403): {reason(answer)}")
        elif 300 <= status < 400:
            key = "cli.agent.push.redirect"
            msg = f"the collector URL answered a redirect (HTTP {status}): fix collector.url"
        elif status == 404:  # a path in collector.url, or another server on that port
            key, words["path"] = "cli.agent.push.404", urlsplit(self.url).path
            msg = (f"the collector answered HTTP 404 for {urlsplit(self.url).path} ({reason(answer)}): check "
                   "collector.url, the collector's address without a path (https://collector.example:8480)")
        else:
            key = "cli.agent.push.status"
            msg = f"the collector answered HTTP {status}: {reason(answer)}"
        if self.log_refusals:
            log.error("push: %s", msg)
        return _Failure(msg, logged=self.log_refusals, refused=status != 408, said=(key, words))

    def _note_clock(self, answer: Any, sent_at: float, received_at: float) -> None:
        if not isinstance(answer, dict) or not isinstance(answer.get("server_time"), str):
            return
        try:
            server = parse_time(answer["server_time"]).timestamp()
        except ResultError:
            return
        self.clock_offset_s = server - (sent_at + received_at) / 2
        if abs(self.clock_offset_s) > CLOCK_SKEW_WARN_S and not self._skew_warned:
            self._skew_warned = True
            log.warning("this machine's clock is %+.0f s off the collector's; results carry "
                        "this machine's times (fix NTP)", -self.clock_offset_s)


def _clock_ahead(answer: Any) -> tuple[datetime, str] | None:
    """(the earliest start time, the collector's time) when every result a 422 lists was refused for being
    more than a day ahead of the collector's clock (``cli.refusal.clock_ahead``); None otherwise."""
    detail = answer.get("detail") if isinstance(answer, dict) else None
    if not isinstance(detail, list) or not detail:
        return None
    found: list[tuple[datetime, str]] = []
    for entry in detail:
        message = entry.get("message") if isinstance(entry, dict) else None
        if not isinstance(message, dict) or message.get("key") != "cli.refusal.clock_ahead":
            return None
        args = message.get("args")
        if not isinstance(args, dict):
            return None
        try:
            found.append((parse_time(args.get("started_at")), str(args.get("now"))))
        except ResultError:
            return None
    return min(found)


def _clock_behind(answer: Any) -> str:
    """The collector's earliest day when the one result a 422 lists was refused for being stamped before it
    (``cli.refusal.clock_behind``): this machine's clock was set back; "" otherwise."""
    detail = answer.get("detail") if isinstance(answer, dict) else None
    entry = detail[0] if isinstance(detail, list) and len(detail) == 1 else None
    message = entry.get("message") if isinstance(entry, dict) else None
    if not isinstance(message, dict) or message.get("key") != "cli.refusal.clock_behind":
        return ""
    args = message.get("args")
    earliest = args.get("earliest") if isinstance(args, dict) else None
    return earliest[:10] if isinstance(earliest, str) else ""


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
