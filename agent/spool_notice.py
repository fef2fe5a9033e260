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

__all__ = ["REJECTED_INVALID", "TOO_LARGE", "Cleared", "Drop", "NoticeFactory", "corruption_result", "lost_words",
           "notice_factory"]

#: why the sender quarantines a result (kept with it; the notice says it in the reader's language)
TOO_LARGE = "too large for the collector (413)"
REJECTED_INVALID = "rejected as invalid (422): "  # + the collector's reason


@dataclass(frozen=True)
class Drop:
    """What a bound (or the quarantine) just removed; the agent turns it into a result."""

    count: int
    oldest_started_at: str
    reason: str  # "age", "bytes" or "quarantine"
    limit: str  # human words for the bound: "7d", "256 MiB", "invalid (422)"
    bound: float = 0.0  # the bound itself: seconds ("age") or bytes ("bytes")


@dataclass(frozen=True)
class Cleared:
    """Every result spooled since the last notice reached the collector: the agent says so once."""


#: Builds the agent's own result about a Drop (WARNING), a Corruption (CRITICAL) or the all clear (OK).
NoticeFactory = Callable[[Drop | Corruption | Cleared], Result]


def notice_factory(site: str, host: str) -> NoticeFactory:
    """The agent's own result (check ``agent``, item ``spool``): WARNING about a Drop,
    CRITICAL about a Corruption, OK once everything after them was delivered (:class:`Cleared`).
    ``details`` carry every value the summary names."""

    def notice(drop: Drop | Corruption | Cleared) -> Result:
        if isinstance(drop, Corruption):
            return corruption_result(drop, site, host)
        if isinstance(drop, Cleared):
            return Result(check="agent", item="spool", status=Status.OK, summary=say("agent.spool.cleared"),
                          details={"reason": "cleared"}, site=site, host=host)
        if drop.reason == "quarantine" and drop.limit.startswith(REJECTED_INVALID):
            summary = say("agent.spool.quarantined_invalid", count=drop.count, oldest=drop.oldest_started_at,
                          reason=drop.limit.removeprefix(REJECTED_INVALID))
        elif drop.reason == "quarantine":
            summary = say("agent.spool.quarantined_too_large" if drop.limit == TOO_LARGE else "agent.spool.quarantined",
                          count=drop.count, oldest=drop.oldest_started_at, reason=drop.limit)
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
