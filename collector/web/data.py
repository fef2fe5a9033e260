"""What the pages read beyond the services: the latest result of each check item of a host."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, select

from checks.result import Status
from collector.store.db import reading
from collector.store.tables import latest

__all__ = ["host_items"]


def _value(raw: str) -> str:
    try:
        metrics = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ""
    for m in metrics if isinstance(metrics, list) else []:
        value = m.get("value") if isinstance(m, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            unit = m.get("unit") or ""
            return f"{value:g} {unit}".strip()
    return ""


def host_items(engine: Engine, site: str, host: str) -> list[dict[str, Any]]:
    """Each check item's latest result on ``site``/``host``: worst first, then by check and item."""
    q = (select(latest).where(latest.c.site == site, latest.c.host == host)
         .order_by(latest.c.check, latest.c.item))
    with reading(engine) as conn:
        rows = list(conn.execute(q))
    out = [{"check": r.check, "item": r.item, "status": int(r.status), "status_name": Status(r.status).name,
            "summary": r.summary, "standard": r.standard, "value": _value(r.metrics), "at": r.started_at}
           for r in rows]
    rank = {Status.CRITICAL: 0, Status.UNKNOWN: 1, Status.WARNING: 2, Status.OK: 3}
    out.sort(key=lambda i: rank.get(Status(i["status"]), 4))
    return out
