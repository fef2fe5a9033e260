"""What the pages read beyond the services: the latest result of each check item of a host.

A traceroute item, and a ping item carrying traceroute evidence, also get the hops of their
latest result (``path``: :class:`collector.netpath.PathHop` rows, every router of a
load-balanced hop with its RTTs) from that result's details.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine

from checks._units import format_value
from checks.result import Status
from collector.messages import texts
from collector.netpath import PathHop, path_hops, routers_text
from collector.records.measure import metrics_of
from collector.store import queries
from collector.store.db import reading

__all__ = ["PATH_CHECKS", "first_value", "host_items", "path_rows"]

#: checks whose results carry a traced path in their details
PATH_CHECKS = ("traceroute", "ping")


def first_value(raw: str | bytes) -> dict[str, Any] | None:
    """The first measured metric of a stored ``metrics`` JSON list (the one the pages show and draw):
    ``{"name", "value", "unit", "warn", "crit"}``; None when no metric has a number."""
    for m in metrics_of(raw):
        value = m.get("value")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"name": str(m.get("name", "")), "value": float(value), "unit": str(m.get("unit") or ""),
                    "warn": _number(m.get("warn")), "crit": _number(m.get("crit"))}
    return None


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def host_items(engine: Engine, site: str, host: str, lang: str = "en") -> list[dict[str, Any]]:
    """Each check item's latest result on ``site``/``host``: worst first, then by check and item; ``value`` is
    the first measured metric as people read it in ``lang``, ``metric`` that metric (:func:`first_value`)."""
    with reading(engine) as conn:
        rows = queries.host_latest(conn, site, host)
        details = queries.result_details(conn, [r.result_uid for r in rows if r.check in PATH_CHECKS])
    out = []
    for r in rows:
        metric = first_value(r.metrics)
        out.append({"check": r.check, "item": r.item, "status": int(r.status), "status_name": Status(r.status).name,
                    **dict(zip(("summary", "standard"), texts(r.summary, r.standard, r.messages, lang), strict=True)),
                    "metric": metric, "at": r.started_at,
                    "value": format_value(metric["value"], metric["unit"], lang) if metric else "",
                    "path": path_rows(_hops(details.get(r.result_uid)))})
    out.sort(key=lambda i: -Status(i["status"]).severity)
    return out


def _hops(raw: str | None) -> list[PathHop]:
    if raw is None:
        return []
    try:
        return path_hops(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return []


def path_rows(hops: list[PathHop]) -> list[dict[str, Any]]:
    """The hops as the host page shows them."""
    return [{"ttl": h.ttl, "answered": routers_text(h), "lost": h.lost,
             "members": " / ".join(h.members), "outside": " / ".join(h.outside)} for h in hops]
