"""clock: how far this server's clock is off — from an NTP server, and from the collector's clock.

Two independent sources, one result each:

* ``server`` (item = the server's name): an SNTP query (RFC 4330, standard
  library, :mod:`checks._sntp`) to the hospital's NTP server or domain
  controller. Offset θ = ((T2−T1)+(T3−T4))/2, so the round trip does not
  count against the clock.
* the collector (item ``collector``): the offset the agent measured from
  the ``server_time`` of the collector's last answer (``ctx.collector_offset_s``;
  the midpoint of the request, so again not the network delay). Known only
  under ``wardround-agent run`` once a push has succeeded; switch it off
  with ``collector: false``.

The offset is signed: positive means the reference is ahead, i.e. *this*
clock is behind; it is judged by its size. Defaults: WARNING at 60 s (the
usual patrol threshold: order times, lab results and audit logs disagree
visibly), CRITICAL at 300 s (Kerberos' default maximum skew: Windows
domain logons and SQL Server integrated logins start to fail).

======== =================================================================
status   meaning
======== =================================================================
OK       offset smaller than ``warn``
WARNING  offset of ``warn`` (default 60 s) or more; or the NTP server says
         it is not synchronised itself (leap indicator 3 or stratum 16)
CRITICAL offset of ``crit`` (default 300 s) or more; or the NTP server
         does not answer within ``timeout`` (the host cannot keep time),
         cannot be resolved, or has no NTP service (port unreachable)
UNKNOWN  no source: no ``server`` set and the collector's clock not known
         (says how to configure one); or the server sent a kiss-o'-death
         (RATE/DENY/RSTR) or an answer that is not a valid reply
======== =================================================================

Metrics: ``offset_seconds`` (s, signed, with warn/crit), and for NTP
``delay_seconds`` (s, round trip) and ``stratum``.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable

from checks import _sntp
from checks._judge import above
from checks._params.clock import ClockParams
from checks.context import CheckContext
from checks.messages import error_text, say
from checks.result import Metric, Result, Status

__all__ = ["ClockParams", "run"]

NAME = "clock"


def _describe(offset: float, reference: str) -> str:
    if abs(offset) < 0.001:
        return say("clock.in_step", reference=reference, offset=offset * 1000)
    return say("clock.behind" if offset > 0 else "clock.ahead", size=abs(offset), reference=reference)


def _judge(offset: float, params: ClockParams) -> Status:
    return above(abs(offset), params.warn, params.crit)


def run(params: ClockParams, ctx: CheckContext, *,
        query: Callable[..., _sntp.SntpAnswer] = _sntp.query) -> list[Result]:
    standard = say("clock.standard", warn=params.warn)
    results: list[Result] = []
    if params.server:
        results.append(_ntp(params, ctx, query, standard))
    if params.collector and ctx.collector_offset_s is not None:
        offset = ctx.collector_offset_s
        results.append(Result(
            check=NAME, item="collector", status=_judge(offset, params), standard=standard,
            summary=_describe(offset, say("clock.the_collector")),
            metrics=(Metric("offset_seconds", round(offset, 6), "s", warn=params.warn, crit=params.crit),),
            details={"source": "server_time of the collector's last answer"}))
    if not results:
        why = say("clock.collector_unknown") if params.collector else say("clock.collector_off")
        results.append(Result(
            check=NAME, item="", status=Status.UNKNOWN, standard=standard,
            summary=say("clock.no_source", example="--param server=ntp.hospital.local", why=why)))
    return results


def _ntp(params: ClockParams, ctx: CheckContext, query: Callable[..., _sntp.SntpAnswer],
         standard: str) -> Result:
    item = params.server if params.port == 123 else f"{params.server}:{params.port}"
    timeout = min(float(params.timeout), max(0.5, ctx.timeout_s - 1.0))

    def fail(status: Status, summary: str) -> Result:
        return Result(check=NAME, item=item, status=status, standard=standard,
                      summary=say("clock.item", item=item, text=summary),
                      metrics=(Metric("offset_seconds", None, "s", warn=params.warn, crit=params.crit),))

    try:
        answer = query(params.server, params.port, timeout=timeout)
    except _sntp.KissOfDeath as exc:
        return fail(Status.UNKNOWN, error_text(exc))
    except _sntp.SntpError as exc:
        return fail(Status.UNKNOWN, say("clock.unusable", error=error_text(exc)))
    except TimeoutError:
        return fail(Status.CRITICAL, say("clock.timeout", timeout=timeout))
    except socket.gaierror as exc:
        return fail(Status.CRITICAL, say("clock.unresolved", server=params.server, error=exc.strerror or str(exc)))
    except OSError as exc:
        if exc.errno == errno.ECONNREFUSED:
            return fail(Status.CRITICAL, say("clock.no_service"))
        return fail(Status.CRITICAL, say("clock.cannot_query", error=exc.strerror or str(exc)))
    status = _judge(answer.offset_s, params)
    summary = say("clock.stratum", item=item, text=_describe(answer.offset_s, params.server), stratum=answer.stratum)
    if not answer.synchronised:
        status = Status.worst([status, Status.WARNING])
        summary = say("results.joined", parts=[summary, say("clock.unsynchronised_leap") if answer.leap == 3
                                               else say("clock.unsynchronised", stratum=answer.stratum)])
    return Result(
        check=NAME, item=item, status=status, standard=standard, summary=summary,
        metrics=(Metric("offset_seconds", round(answer.offset_s, 6), "s", warn=params.warn, crit=params.crit),
                 Metric("delay_seconds", round(answer.delay_s, 6), "s", min=0),
                 Metric("stratum", float(answer.stratum), "", min=0, max=16)),
        details={"reference": answer.reference, "leap": answer.leap})
