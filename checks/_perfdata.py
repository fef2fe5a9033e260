"""Nagios plugin output: summary, long output and performance data, parsed.

Follows the Nagios plugin API (Nagios 3+) and the monitoring-plugins
development guidelines:

* The first line is ``TEXT | PERFDATA``; the text before ``|`` is the summary.
* Later lines are long output, until a line that contains ``|``: what follows
  that ``|``, and every line after it, is more performance data.
* Performance data is a space-separated list of
  ``'label'=value[UOM];[warn];[crit];[min];[max]``. A label with spaces is
  single-quoted, a quote inside it is written ``''``. ``value`` may be ``U``
  (could not be measured). Units: none, ``s``/``ms``/``us``, ``%``,
  ``B``/``KB``/``MB``/``GB``/``TB`` (1024-based, as check_disk computes
  them; ``KiB``… are accepted too), ``c`` (a counter).
* ``warn``/``crit`` are ranges: ``10`` (alert outside 0..10), ``10:``
  (below 10), ``~:10`` (above 10), ``10:20`` (outside 10..20), ``@10:20``
  (inside 10..20).

:func:`parse_perfdata` never raises: a malformed entry is skipped and
described in :attr:`Perfdata.errors`, so arbitrary plugin text can never
break a check.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

__all__ = ["PerfValue", "Perfdata", "PluginOutput", "parse_output", "parse_perfdata", "parse_range"]

# unit -> (normalised unit, factor to the base unit)
_UNITS: dict[str, tuple[str, float]] = {
    "": ("", 1.0),
    "s": ("s", 1.0), "ms": ("s", 1e-3), "us": ("s", 1e-6), "µs": ("s", 1e-6),
    "%": ("%", 1.0),
    "B": ("B", 1.0), "KB": ("B", 1024.0), "MB": ("B", 1024.0 ** 2), "GB": ("B", 1024.0 ** 3),
    "TB": ("B", 1024.0 ** 4),
    "KiB": ("B", 1024.0), "MiB": ("B", 1024.0 ** 2), "GiB": ("B", 1024.0 ** 3), "TiB": ("B", 1024.0 ** 4),
    "c": ("c", 1.0),
}
_NUM = r"[-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?"
_VALUE_RE = re.compile(rf"^(?P<num>{_NUM}|U)(?P<unit>[^\d;\s]*)$")
_RANGE_RE = re.compile(rf"^(?P<inside>@)?(?:(?P<start>~|{_NUM})?(?P<colon>:))?(?P<end>{_NUM})?$")
_MAX_ENTRIES = 200


@dataclass(frozen=True)
class Range:
    """A Nagios threshold range; ``alerts(v)`` says whether ``v`` is outside it."""

    start: float  # -inf for ``~``
    end: float  # +inf when open
    inside: bool  # ``@``: alert when inside

    def alerts(self, value: float) -> bool:
        within = self.start <= value <= self.end
        return within if self.inside else not within


def _num(text: str) -> float | None:
    try:
        v = float(text.replace(",", "."))
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def parse_range(text: str) -> Range | None:
    """``"10"``, ``"10:"``, ``"~:10"``, ``"10:20"``, ``"@10:20"`` → :class:`Range`; else None."""
    m = _RANGE_RE.match(text.strip())
    if not m or not text.strip() or text.strip() == "@":
        return None
    start_s, end_s = m.group("start"), m.group("end")
    start: float | None
    end: float | None
    if m.group("colon") is None:  # "10": 0..10
        start, end = 0.0, _num(end_s) if end_s else None
    else:
        start = -math.inf if start_s == "~" else (_num(start_s) if start_s else 0.0)
        end = _num(end_s) if end_s else math.inf
    if start is None or end is None or start > end:
        return None
    return Range(start, end, bool(m.group("inside")))


def _simple_bound(text: str, factor: float) -> float | None:
    """The one number of a one-sided range (``10``, ``~:10``, ``10:``), in base units; else None."""
    r = parse_range(text)
    if r is None or r.inside:
        return None
    if r.start in (0.0, -math.inf) and math.isfinite(r.end):
        return r.end * factor
    if math.isfinite(r.start) and r.end == math.inf:
        return r.start * factor
    return None


@dataclass(frozen=True)
class PerfValue:
    """One performance data entry, its numbers normalised to base units."""

    label: str
    value: float | None  # None for "U"
    unit: str  # normalised: "", "s", "%", "B", "c"; "" for an unknown unit (see raw_unit)
    raw_unit: str = ""
    warn: float | None = None  # the bound of a one-sided range, in base units
    crit: float | None = None
    min: float | None = None
    max: float | None = None
    warn_range: str = ""  # the raw range text
    crit_range: str = ""


@dataclass
class Perfdata:
    values: list[PerfValue] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # what was skipped, and why


def _tokens(text: str) -> list[tuple[str | None, str, str]]:
    """Split into ``(label, rest, raw)``; a label of None marks an unparseable token."""
    out: list[tuple[str | None, str, str]] = []
    i, n = 0, len(text)
    while i < n and len(out) < _MAX_ENTRIES:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        start = i
        label: str | None
        if text[i] == "'":
            i += 1
            buf = []
            closed = False
            while i < n:
                if text[i] == "'":
                    if i + 1 < n and text[i + 1] == "'":
                        buf.append("'")
                        i += 2
                        continue
                    closed = True
                    i += 1
                    break
                buf.append(text[i])
                i += 1
            label = "".join(buf) if closed and i < n and text[i] == "=" else None
            if label is None:  # an unterminated quote: resume after this word
                i = start + 1
        else:
            while i < n and text[i] != "=" and not text[i].isspace():
                i += 1
            label = text[start:i] if i < n and text[i] == "=" and i > start else None
        if label is None:  # skip to the next whitespace
            while i < n and not text[i].isspace():
                i += 1
            out.append((None, "", text[start:i]))
            continue
        i += 1  # "="
        vstart = i
        while i < n and not text[i].isspace():
            i += 1
        out.append((label, text[vstart:i], text[start:i]))
    return out


def parse_perfdata(text: str) -> Perfdata:
    """Parse performance data text; never raises (bad entries go to ``errors``)."""
    result = Perfdata()
    if not isinstance(text, str):
        result.errors.append("not text")
        return result
    for label, rest, raw in _tokens(text):
        shown = raw[:80]
        if label is None or label == "":
            result.errors.append(f"not label=value: {shown!r}")
            continue
        fields = rest.split(";")
        m = _VALUE_RE.match(fields[0])
        if not m:
            result.errors.append(f"bad value: {shown!r}")
            continue
        raw_unit = m.group("unit")
        unit, factor = _UNITS.get(raw_unit, ("", 1.0))
        if raw_unit not in _UNITS:
            factor = 1.0
        value = None if m.group("num") == "U" else _num(m.group("num"))
        if m.group("num") != "U" and value is None:
            result.errors.append(f"bad value: {shown!r}")
            continue
        fields += [""] * (5 - len(fields))
        warn_raw, crit_raw = fields[1].strip(), fields[2].strip()
        mn = _num(fields[3]) if fields[3].strip() else None
        mx = _num(fields[4]) if fields[4].strip() else None
        result.values.append(PerfValue(
            label=label, value=None if value is None else value * factor, unit=unit, raw_unit=raw_unit,
            warn=_simple_bound(warn_raw, factor) if warn_raw else None,
            crit=_simple_bound(crit_raw, factor) if crit_raw else None,
            min=None if mn is None else mn * factor, max=None if mx is None else mx * factor,
            warn_range=warn_raw, crit_range=crit_raw))
    return result


@dataclass
class PluginOutput:
    summary: str
    long_output: list[str]
    perfdata: Perfdata


def parse_output(text: str) -> PluginOutput:
    """Split a plugin's stdout into summary, long output and parsed perfdata."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        return PluginOutput("", [], Perfdata())
    first, _, perf = lines[0].partition("|")
    perf_parts = [perf] if perf.strip() else []
    long_output: list[str] = []
    in_perf = False
    for line in lines[1:]:
        if in_perf:
            perf_parts.append(line)
            continue
        text_part, bar, more = line.partition("|")
        if bar:
            if text_part.strip():
                long_output.append(text_part.rstrip())
            perf_parts.append(more)
            in_perf = True
        else:
            long_output.append(line.rstrip())
    return PluginOutput(first.strip(), long_output, parse_perfdata(" ".join(perf_parts)))
