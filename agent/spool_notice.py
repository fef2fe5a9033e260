"""The agent's own results about its spool (check ``agent``, item ``spool``).

A bound that dropped results or a quarantine (WARNING), a corrupt spool replaced (CRITICAL): each
is an event, spooled in the same transaction as what it reports.  The item's latest state must
not stay on that event for ever — every daily record would list it again — so once everything
spooled after it reached the collector, the agent says the all clear (OK) once.  A ticket the
event opened stays open (one good result does not resolve it): an engineer resolves it.

Every text travels with its message key (``agent.spool.*``, checks/messages), so a Chinese record,
ticket or page reads it in Chinese.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agent.spool_repair import Corruption
from checks.messages import fit_summary, say
from checks.result import Metric, Result, Status

__all__ = ["Cleared", "Drop", "NoticeFactory", "Rejection", "corruption_result", "lost_words", "notice_factory"]


@dataclass(frozen=True)
class Rejection:
    """Why the collector refused one result: its HTTP status (413 too large, 422 invalid) and, for
    422, the collector's reason.  The notice picks its message by ``status``; ``words`` is what the
    quarantine table keeps for a person reading the spool file."""

    status: int
    reason: str = ""
    #: stamped more than a day ahead of the collector's clock (``cli.refusal.clock_ahead``): this machine's clock
    #: was wrong when it ran
    clock_ahead: bool = False
    #: the collector's earliest day when it refused the result as stamped before it (``cli.refusal.clock_behind``):
    #: this machine's clock was set back when it ran; empty otherwise
    before: str = ""

    @property
    def words(self) -> str:
        if self.status == 413:
            return "too large for the collector (413)"
        return f"rejected as invalid ({self.status}): {self.reason}"


@dataclass(frozen=True)
class Drop:
    """What a bound (or the quarantine) just removed; the agent turns it into a result."""

    count: int
    oldest_started_at: str
    reason: str  # "age", "bytes" or "quarantine"
    limit: str  # human words for the bound: "7d", "256 MiB"; a quarantine's Rejection.words
    bound: float = 0.0  # the bound itself: seconds ("age") or bytes ("bytes")
    rejection: Rejection | None = None  # a quarantine's cause


@dataclass(frozen=True)
class Cleared:
    """Every result spooled with or since the last notice left the spool: the agent says so once.  They reached
    the collector, but for ``quarantined`` of them, which it refused (a clock set back refuses them all, the
    notice too): then the all clear says so, not that everything was delivered."""

    quarantined: int = 0


#: Builds the agent's own result about a Drop (WARNING), a Corruption (CRITICAL) or the all clear (OK).
NoticeFactory = Callable[[Drop | Corruption | Cleared], Result]


def notice_factory(site: str, host: str) -> NoticeFactory:
    """The agent's own result (check ``agent``, item ``spool``): WARNING about a Drop,
    CRITICAL about a Corruption, OK once everything after them was delivered (:class:`Cleared`).
    ``details`` carry every value the summary names."""

    def notice(drop: Drop | Corruption | Cleared) -> Result:
        if isinstance(drop, Corruption):
            return corruption_result(drop, site, host)
        if isinstance(drop, Cleared) and drop.quarantined:
            return Result(check="agent", item="spool", status=Status.OK,
                          summary=say("agent.spool.cleared_quarantined", count=drop.quarantined),
                          details={"reason": "cleared", "quarantined": drop.quarantined}, site=site, host=host)
        if isinstance(drop, Cleared):
            return Result(check="agent", item="spool", status=Status.OK, summary=say("agent.spool.cleared"),
                          details={"reason": "cleared"}, site=site, host=host)
        rejected = drop.rejection.status if drop.rejection is not None else 0
        if drop.reason == "quarantine" and rejected == 413:
            summary = say("agent.spool.quarantined_too_large", count=drop.count, oldest=drop.oldest_started_at)
        elif drop.reason == "quarantine" and drop.rejection is not None and drop.rejection.clock_ahead:
            summary = say("agent.spool.quarantined_clock_ahead", count=drop.count, oldest=drop.oldest_started_at)
        elif drop.reason == "quarantine" and drop.rejection is not None and drop.rejection.before:
            summary = say("agent.spool.quarantined_clock_behind", count=drop.count, oldest=drop.oldest_started_at,
                          earliest=drop.rejection.before)
        elif drop.reason == "quarantine" and drop.rejection is not None:
            summary = say("agent.spool.quarantined_invalid", count=drop.count, oldest=drop.oldest_started_at,
                          reason=drop.rejection.reason)
        elif drop.reason == "quarantine":
            summary = say("agent.spool.quarantined", count=drop.count, oldest=drop.oldest_started_at,
                          reason=drop.limit)
        else:
            summary = say("agent.spool.dropped_age" if drop.reason == "age" else "agent.spool.dropped_bytes",
                          count=drop.count, oldest=drop.oldest_started_at, limit=drop.bound)
        return Result(check="agent", item="spool", status=Status.WARNING, summary=fit_summary(summary),
                      details={"reason": drop.reason, "count": drop.count,
                               "oldest_started_at": drop.oldest_started_at},
                      metrics=(Metric(f"{'quarantined' if drop.reason == 'quarantine' else 'dropped'}",
                                      float(drop.count), "count"),),
                      site=site, host=host)

    return notice


def corruption_result(c: Corruption, site: str, host: str) -> Result:
    """CRITICAL ``agent``/``spool``: "spool was corrupt (...); ...; N results may be lost"."""
    lost = lost_words(c.lost, c.exact)
    summary = say("agent.spool.corrupt_at_start" if c.found == "at start" else "agent.spool.corrupt_running",
                  error=c.error, where=c.moved_to[0] if c.moved_to else "-", recovered=c.recovered, lost=lost)
    metrics: tuple[Metric, ...] = (Metric("recovered", float(c.recovered), "count"),)
    if c.lost is not None:
        metrics += (Metric("lost", float(c.lost), "count"),)
    return Result(check="agent", item="spool", status=Status.CRITICAL, summary=fit_summary(summary),
                  details={"reason": "corrupt", "error": c.error[:500], "found": c.found,
                           "moved_to": list(c.moved_to), "recovered": c.recovered, "lost": c.lost,
                           "lost_counted": c.exact, "states_recovered": c.states_recovered,
                           "file_bytes": c.file_bytes},
                  metrics=metrics, site=site, host=host)


def lost_words(lost: int | None, exact: bool) -> str:
    """"7 results may be lost", "about 40 …", "an unknown number …" (keyed: a notice nests it)."""
    if lost is None:
        return say("agent.spool.lost_unknown")
    return say("agent.spool.lost" if exact else "agent.spool.lost_about", count=lost)
