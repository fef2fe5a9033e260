"""A policy's business calendar as its file writes it: ``business_hours:`` and a holiday calendar file
(``holidays:``), every fault told as the policy file's problems (:mod:`collector.policy.loader`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from checks.entries import Problems
from checks.messages import error_text
from checks.messages.reader import cli_said
from collector.config import ConfigError, read_yaml_file, unknown_key
from collector.policy.model import WEEKDAYS, Calendar

__all__ = ["holiday_file", "read_calendar", "unknown_keys"]


def unknown_keys(p: Problems, path: str, raw: Mapping[Any, Any], keys: Sequence[str]) -> None:
    """Each key of the mapping at ``path`` that is not one of ``keys``."""
    for key in raw:
        if key not in keys:
            unknown_key(p, f"{path}.{key}" if path else str(key), keys)


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip())


def _dates(raw: Any, path: str, p: Problems) -> frozenset[date]:
    """A list of dates and ``FROM..TO`` ranges (both ends included)."""
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        p.add(path, "expected a list of dates (2026-10-01) or ranges (2026-10-01..2026-10-07)",
              said=("cli.policy.dates", {}))
        return frozenset()
    out: set[date] = set()
    for i, entry in enumerate(raw):
        try:
            if isinstance(entry, str) and ".." in entry:
                first, _, last = entry.partition("..")
                a, b = _date(first), _date(last)
                if b < a or (b - a).days > 366:
                    raise ValueError(cli_said("cli.policy.range"))
                out.update(a + timedelta(days=k) for k in range((b - a).days + 1))
            else:
                out.add(_date(entry))
        except (ValueError, TypeError) as exc:
            p.add(f"{path}[{i}]", f"expected a date like 2026-10-01 or a range 2026-10-01..2026-10-07 ({exc})",
                  said=("cli.policy.date", {"why": error_text(exc)}))
    return frozenset(out)


def holiday_file(raw: Any, base: Path, path: str, p: Problems) -> tuple[frozenset[date], frozenset[date]]:
    if not isinstance(raw, str) or not raw.strip():
        p.add(path, "expected the path of a holiday calendar file (YAML with holidays: and workdays:)",
              said=("cli.policy.holiday_path", {"holidays": "holidays:", "workdays": "workdays:"}))
        return frozenset(), frozenset()
    file = (base / raw).resolve() if not Path(raw).is_absolute() else Path(raw)
    try:
        doc = read_yaml_file(file, "holiday calendar")
    except ConfigError as exc:
        p.lines.extend(exc.problems)
        p.said.extend(exc.said)
        return frozenset(), frozenset()
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        p.add(path, f"{file}: expected a mapping with holidays: and workdays: lists",
              said=("cli.policy.holiday_mapping", {"file": str(file), "holidays": "holidays:",
                                                   "workdays": "workdays:"}))
        return frozenset(), frozenset()
    fp = Problems(str(file))
    unknown_keys(fp, "", doc, ("holidays", "workdays"))
    holidays = _dates(doc.get("holidays"), "holidays", fp)
    workdays = _dates(doc.get("workdays"), "workdays", fp)
    for d in sorted(holidays & workdays):
        fp.add("workdays", f"{d} is also listed as a holiday", said=("cli.policy.also_holiday", {"day": str(d)}))
    p.lines.extend(fp.lines)
    p.said.extend(fp.said)
    return holidays, workdays


def _clock_time(text: str) -> time:
    hh, _, mm = text.strip().partition(":")
    if hh.strip() == "24" and mm.strip() in ("00", "0"):
        return time.max
    return time(int(hh), int(mm or 0))


def read_calendar(raw: Any, holidays: tuple[frozenset[date], frozenset[date]] | None, base: Calendar,
              path: str, p: Problems) -> Calendar:
    zone, days, spans = base.zone, base.days, base.spans
    if raw is not None:
        if not isinstance(raw, Mapping):
            p.add(path, "expected a mapping with timezone, days and hours",
                  said=("cli.policy.mapping_abc", {"a": "timezone", "b": "days", "c": "hours"}))
            raw = {}
        unknown_keys(p, path, raw, ("timezone", "days", "hours"))
        if "timezone" in raw:
            try:
                zone = ZoneInfo(str(raw["timezone"]))
            except (ZoneInfoNotFoundError, ValueError):
                p.add(f"{path}.timezone", f"expected an IANA time zone such as Asia/Shanghai "
                                          f"(got {raw['timezone']!r})",
                      said=("cli.policy.timezone", {"got": repr(raw["timezone"])}))
        if "days" in raw:
            got = raw["days"]
            names = [str(d).strip().lower()[:3] for d in got] if isinstance(got, list) else []
            if not names or any(n not in WEEKDAYS for n in names):
                p.add(f"{path}.days", f"expected a list of weekdays such as [mon, tue, wed, thu, fri] (got {got!r})",
                      said=("cli.policy.weekdays", {"example": "[mon, tue, wed, thu, fri]", "got": repr(got)}))
            else:
                days = frozenset(WEEKDAYS.index(n) for n in names)
        if "hours" in raw:
            got = raw["hours"]
            parsed: list[tuple[time, time]] = []
            try:
                if not isinstance(got, str):
                    raise ValueError
                for part in got.split(","):
                    a, _, b = part.partition("-")
                    begin, end = _clock_time(a), _clock_time(b)
                    if end <= begin or (parsed and begin < parsed[-1][1]):
                        raise ValueError
                    parsed.append((begin, end))
            except ValueError:
                p.add(f"{path}.hours", f"expected working hours like \"08:30-17:30\" or "
                                       f"\"08:00-12:00,13:30-17:30\" in order (got {got!r})",
                      said=("cli.policy.hours", {"a": '"08:30-17:30"', "b": '"08:00-12:00,13:30-17:30"',
                                                 "got": repr(got)}))
            else:
                spans = tuple(parsed)
    hol, work = holidays if holidays is not None else (base.holidays, base.workdays)
    return Calendar(zone=zone, days=days, spans=spans, holidays=hol, workdays=work)
