"""Durations and sizes: the one grammar people write them in, and the one way they are shown.

Standard library only: the agent, the checks and the collector all import this module
(the collector may, it is a leaf: ``tests/collector/test_imports.py``).

**Written** (agent configs, ``--param``, policies, notification files)::

    30s  5m  26h  7d  2w  250ms     a number and a unit; 1.5h; compound 1h30m or "1h 30m"
    90                              a bare number is seconds (a contract term needs its unit,
                                    see :mod:`collector.terms`)
    3wd  3 working days  1 working day  3个工作日  3工作日
                                    whole working days (:func:`working_days`): only where a
                                    business clock reads them (contract terms)

Units are case-insensitive (``5M`` is five minutes: no duration here counts months).

**Shown**:

* :func:`format_duration` writes seconds back in that grammar, exactly: ``93600`` → ``26h``
  (standards, config-like texts);
* :func:`format_value` shows a measured value as people read it: ``26 h``, ``117.7 MiB``,
  ``41.2 %`` (summaries, records, notifications); :func:`format_bytes` and
  :func:`format_seconds` are its two common cases.

``format_value`` and ``format_seconds`` take a language: ``zh_CN`` or ``en``.
"""

from __future__ import annotations

import math
import re

from checks.languages import LANGUAGES  # the languages values are shown in

__all__ = [
    "COUNT_UNITS", "DAY", "DURATION_HINT", "HOUR", "LANGUAGES", "MINUTE", "UNIT_SECONDS", "WEEK",
    "duration_parts", "format_bytes", "format_duration", "format_seconds", "format_value",
    "parse_duration", "working_days",
]

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
WEEK = 604800.0
#: seconds in each written unit
UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": MINUTE, "h": HOUR, "d": DAY, "w": WEEK}
DURATION_HINT = "a duration like 30s, 5m, 26h, 7d"

_NUMBER = r"\d+(?:\.\d+)?"
_PART_RE = re.compile(rf"({_NUMBER})(ms|s|m|h|d|w)", re.IGNORECASE)
_PARTS_RE = re.compile(rf"(?:{_NUMBER}(?:ms|s|m|h|d|w))+", re.IGNORECASE)
_BARE_RE = re.compile(_NUMBER)
_SPACE_RE = re.compile(r"\s+")
_WORKING_DAYS_RE = re.compile(r"(\d+)\s*(?:wd|working\s+days?|个?工作日)", re.IGNORECASE)
_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def duration_parts(text: str) -> list[tuple[str, str]]:
    """``"1h 30m"`` → ``[("1", "h"), ("30", "m")]``, numbers as written, units in lower case.

    A bare number is seconds (``"90"`` → ``[("90", "s")]``).  ValueError when ``text`` is
    not a duration (working days are not: see :func:`working_days`).
    """
    compact = _SPACE_RE.sub("", text)
    if _BARE_RE.fullmatch(compact):
        return [(compact, "s")]
    if not _PARTS_RE.fullmatch(compact):
        raise ValueError(f"expected {DURATION_HINT} (got {text!r})")
    return [(number, unit.lower()) for number, unit in _PART_RE.findall(compact)]


def parse_duration(value: str | int | float) -> float:
    """``"26h"`` → 93600.0 seconds; ``"1h30m"`` → 5400.0.  A bare number is seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected {DURATION_HINT}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"expected {DURATION_HINT}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected {DURATION_HINT}")
    return sum(float(number) * UNIT_SECONDS[unit] for number, unit in duration_parts(value))


def working_days(text: str) -> int | None:
    """``"3wd"``, ``"3 working days"``, ``"3个工作日"`` → 3; None when ``text`` says no working days."""
    m = _WORKING_DAYS_RE.fullmatch(text.strip())
    return int(m.group(1)) if m else None


def format_duration(seconds: float) -> str:
    """The shortest exact way to write ``seconds`` in the grammar above: 93600 → ``"26h"``."""
    for unit in ("w", "d", "h", "m", "s"):
        size = UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


#: a duration's unit words by language (seconds, minutes, hours, days); ms is ms in both
_TIME_WORDS = {"en": ("s", "min", "h", "d"), "zh_CN": ("秒", "分钟", "小时", "天")}


def _lang(lang: str) -> str:
    if lang not in _TIME_WORDS:
        raise ValueError(f"unknown language {lang!r} (expected {', '.join(LANGUAGES)})")
    return lang


def _num(value: float) -> str:
    """One decimal at most, none when whole: ``12.0`` → ``12``, ``117.68`` → ``117.7``.

    Below 1, two significant digits instead (``0.16``, ``0.0043``), so that a small value
    never reads as ``0``; never scientific notation.
    """
    if value != 0 and abs(value) < 0.95:
        digits = max(1, 1 - math.floor(math.log10(abs(value))))  # 0.16 → 2 decimals, 0.0043 → 4
        text = f"{value:.{min(digits, 12)}f}".rstrip("0").rstrip(".")
        return text if text not in ("", "-0", "0") else "0"
    rounded = round(value, 1)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.1f}"


def format_seconds(seconds: float, lang: str = "en") -> str:
    """An elapsed time as people read it: ``45 s``, ``90 min``, ``1 h``, ``26 h``, ``3.5 d``
    (zh_CN: ``45 秒``, ``90 分钟``, ``26 小时``, ``5.2 天``); below a second in ms: ``0.16 ms``.

    The unit follows the size (ms below 1 s, seconds below 2 min, minutes below 2 h, hours
    below 2 days, then days; a whole number of hours reads in hours from 1 h), with one
    decimal at most (two significant digits below 1).
    """
    sec, mins, hours, days = _TIME_WORDS[_lang(lang)]
    s = abs(seconds)
    if 0 < s < 1:
        return f"{_num(seconds * 1000)} ms"
    if s < 120:
        return f"{_num(seconds)} {sec}"
    if s < 2 * HOUR and not (s >= HOUR and s % HOUR == 0):
        return f"{_num(seconds / MINUTE)} {mins}"
    if s < 2 * DAY:
        return f"{_num(seconds / HOUR)} {hours}"
    return f"{_num(seconds / DAY)} {days}"


def format_bytes(n: float) -> str:
    """A size as people read it: ``512 B``, ``1 KiB``, ``117.7 MiB``, ``12.4 GiB`` (binary units,
    the same in every language)."""
    size = float(n)
    for unit in _BYTE_UNITS[:-1]:
        if abs(size) < 1024:
            return f"{int(size)} B" if unit == "B" else f"{_num(size)} {unit}"
        size /= 1024
    return f"{_num(size)} {_BYTE_UNITS[-1]}"


def _bits(value: float) -> str:
    for unit in ("bit/s", "kbit/s", "Mbit/s", "Gbit/s"):
        if abs(value) < 1000:
            return f"{_num(value)} {unit}"
        value /= 1000
    return f"{_num(value)} Tbit/s"


#: count units: the number alone
COUNT_UNITS = frozenset({"", "1", "count", "c"})


def format_value(value: float | None, unit: str, lang: str = "en") -> str:
    """A measured value with its wire unit as people read it in ``lang``; ``""`` for no value.

    ``%`` → ``41.2 %``, ``ratio`` (0–1) → ``2.5 %``, ``B`` → :func:`format_bytes`,
    ``B/s`` → ``1.5 MiB/s``, ``bps`` → ``12 Mbit/s``, ``s`` and ``ms`` and ``d`` →
    :func:`format_seconds` (``0.16 ms``, ``5.2 天``), ``C`` → ``45 °C``, counts (``""``,
    ``1``, ``count``, ``c``) → the number; any other unit → ``number unit``.  Never raw
    seconds for a long time, never ``0`` for a small one, never scientific notation.
    ``lang``: ``zh_CN`` or ``en``.
    """
    _lang(lang)
    if value is None or not math.isfinite(value):
        return ""
    if unit == "%":
        return f"{_num(value)} %"
    if unit == "ratio":
        return f"{_num(value * 100)} %"
    if unit == "B":
        return format_bytes(value)
    if unit == "B/s":
        return format_bytes(value) + "/s"
    if unit == "bps":
        return _bits(value)
    if unit in ("s", "ms", "d"):
        return format_seconds(value * {"s": 1.0, "ms": 0.001, "d": DAY}[unit], lang)
    if unit == "C":
        return f"{_num(value)} °C"
    return _num(value) if unit in COUNT_UNITS else f"{_num(value)} {unit}"
