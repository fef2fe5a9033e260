"""History where it is read: sparklines and the last status change on the host page, recent results on
the ticket page.

A sparkline is drawn on the server as inline SVG (no script, no style attribute: the pages' CSP allows
neither) from the item's first measured metric — the value the host page shows — over the last 24 hours
and 7 days, with the warning and critical thresholds of the newest result as dashed lines (yellow, red).
Many points are reduced to one per pixel column, keeping the worse value of each column (the higher one,
or the lower where the thresholds say lower is worse: a critical limit below the warning limit).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import Engine

from checks._units import format_value
from checks.result import Status
from collector.messages import texts
from collector.store import today as store
from collector.store.db import reading
from collector.web.data import first_value

__all__ = ["WINDOWS", "host_history", "recent_results", "sparkline"]

WINDOWS = (("day", timedelta(hours=24)), ("week", timedelta(days=7)))
WIDTH, HEIGHT, PAD = 120, 28, 3
WARN_COLOUR, CRIT_COLOUR, LINE_COLOUR = "#b07d00", "#c0261b", "#0b5cad"


def sparkline(points: Sequence[tuple[float, float]], start: float, end: float, warn: float | None,
              crit: float | None, *, label: str) -> Markup:
    """An SVG sparkline of ``points`` ((unix time, value), oldest first) between ``start`` and ``end``;
    ``label`` is its accessible name (also its tooltip).  Empty markup without points."""
    if not points or end <= start:
        return Markup("")
    lower_worse = warn is not None and crit is not None and crit < warn
    columns: dict[int, float] = {}
    for at, value in points:
        x = min(WIDTH - 1, max(0, int((at - start) / (end - start) * (WIDTH - 1))))
        held = columns.get(x)
        columns[x] = value if held is None else (min(held, value) if lower_worse else max(held, value))
    levels = [v for v in (*columns.values(), warn, crit) if v is not None]
    low, high = min(levels), max(levels)
    if high == low:
        low, high = low - 1, high + 1

    def y(v: float) -> str:
        return f"{PAD + (high - v) / (high - low) * (HEIGHT - 2 * PAD):.1f}"

    line = " ".join(f"{x},{y(v)}" for x, v in sorted(columns.items()))
    parts = [f'<svg class="spark" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>']
    for limit, colour in ((warn, WARN_COLOUR), (crit, CRIT_COLOUR)):
        if limit is not None:
            parts.append(f'<line x1="0" x2="{WIDTH}" y1="{y(limit)}" y2="{y(limit)}" stroke="{colour}" '
                         f'stroke-width="1" stroke-dasharray="3 2"/>')
    if len(columns) == 1:
        x, v = next(iter(columns.items()))
        parts.append(f'<circle cx="{x}" cy="{y(v)}" r="2" fill="{LINE_COLOUR}"/>')
    else:
        parts.append(f'<polyline points="{line}" fill="none" stroke="{LINE_COLOUR}" stroke-width="1.5"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def host_history(engine: Engine, site: str, host: str, items: Sequence[dict[str, Any]], now: datetime,
                 say: Callable[..., str], lang: str) -> None:
    """Adds ``spark`` (window name → SVG) and ``changed_at`` (when the status last changed; None: not in the
    stored results) to each of the host page's ``items`` (:func:`collector.web.data.host_items`)."""
    longest = max(w for _n, w in WINDOWS)
    with reading(engine) as conn:
        rows = store.host_results(conn, site, host, now - longest)
        changes = store.last_changes(conn, site, host)
    series: dict[tuple[str, str], list[tuple[float, float]]] = {}
    wanted = {(i["check"], i["item"]): i["metric"]["name"] for i in items if i["metric"]}
    for r in rows:
        name = wanted.get((r.check, r.item))
        if name is None:
            continue
        metric = first_value(r.metrics)
        if metric is not None and metric["name"] == name:
            series.setdefault((r.check, r.item), []).append((r.started_at.timestamp(), metric["value"]))
    end = now.timestamp()
    for i in items:
        key = (i["check"], i["item"])
        i["changed_at"] = changes.get(key)
        i["spark"] = {}
        metric = i["metric"]
        if metric is None:
            continue
        points = series.get(key, [])
        for name, window in WINDOWS:
            start = end - window.total_seconds()
            shown_points = [p for p in points if p[0] >= start]
            values = [v for _t, v in shown_points]
            label = say(f"spark.{name}", item=i["item"], low=format_value(min(values), metric["unit"], lang),
                        high=format_value(max(values), metric["unit"], lang)) if values else ""
            limits = [say(f"spark.{lvl}", value=format_value(v, metric["unit"], lang))
                      for lvl, v in (("warn", metric["warn"]), ("crit", metric["crit"])) if v is not None]
            i["spark"][name] = sparkline(shown_points, start, end, metric["warn"], metric["crit"],
                                         label=" · ".join([label, *limits]))


def recent_results(engine: Engine, site: str, host: str, check: str, item: str, lang: str,
                   limit: int = 10) -> list[dict[str, Any]]:
    """The item's newest results, newest first, as the ticket page lists them."""
    with reading(engine) as conn:
        rows = store.item_results(conn, site, host, check, item, limit)
    out = []
    for r in rows:
        metric = first_value(r.metrics)
        summary, _ = texts(r.summary, "", r.messages, lang)
        out.append({"status": int(r.status), "status_name": Status(r.status).name, "summary": summary,
                    "at": r.started_at, "value": format_value(metric["value"], metric["unit"], lang) if metric else ""})
    return out
