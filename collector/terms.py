"""Contract terms: how long a ticket's deadline runs, kept as the policy wrote it.

A term is written in the project's one duration grammar (:mod:`checks._units`, which
reads clock durations and working days); this module adds what a term means::

    30m, 2h, 27h, 1h30m, 1.5h      clock time: on a business clock it counts working time
                                   (with 08:30-17:30, 9h is one working day), on 24x7 elapsed time
    3d, 1w                         days and weeks of 24 hours: only on a 24x7 clock; refused on a
                                   business clock, where "3 days" is ambiguous
    3wd, 3 working days, 1 working day, 3个工作日, 3工作日
                                   whole working days: only on a business clock

A number needs its unit: ``2`` alone is refused (seconds would never be meant).

**N working days** count as the PRC Civil Code counts a period in days (art. 201:
the day the period starts is not counted; art. 203: a period ends when business
stops on its last day): the deadline is **the end of business hours of the Nth
working day after the day the clock starts**, whatever the time of day it starts.
A ticket opened on Monday 10:00 with ``3wd`` (Monday to Friday, 08:30-17:30) is
due Thursday 17:30; opened on Saturday, it is due Wednesday 17:30.  Holidays are
skipped and make-up working days (调休) count, as the business calendar says.

A term is printed as written (:func:`say_term`): ``27h`` stays 27 hours, never
"1d3h", in Chinese or English.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from checks._units import UNIT_SECONDS, duration_parts, parse_duration, working_days
from checks.messages.reader import cli_said

__all__ = ["Term", "parse_term", "say_term"]

_ZH_UNITS = {"ms": "毫秒", "s": "秒", "m": "分钟", "h": "小时", "d": "天", "w": "周"}
_EN_UNITS = {"ms": ("millisecond", "milliseconds"), "s": ("second", "seconds"), "m": ("minute", "minutes"),
             "h": ("hour", "hours"), "d": ("day", "days"), "w": ("week", "weeks")}
HINT = "a duration like 30m, 2h, 1h30m or 3wd (3 working days)"
_EXAMPLES = {"a": "30m", "b": "2h", "c": "1h30m", "d": "3wd"}  # HINT's, for its command-line message


@dataclass(frozen=True, slots=True)
class Term:
    """A deadline's length: clock ``time``, or whole ``working_days``; ``text`` as written."""

    text: str
    time: timedelta = timedelta(0)
    working_days: int = 0

    def __str__(self) -> str:
        return self.text

    def scaled(self, factor: float) -> Term:
        """This term times ``factor`` (a key customer's ``key_factor``), written in the same style.

        Working days round up to whole days (``3wd`` x 0.5 = ``2wd``); clock time is written in
        the largest unit it was written in (``27h`` x 0.5 = ``13.5h``, ``1h30m`` x 0.5 = ``0.75h``).
        """
        if factor == 1.0:
            return self
        if self.working_days:
            n = max(1, math.ceil(self.working_days * factor))
            return Term(re.sub(r"\d+", str(n), self.text, count=1), working_days=n)
        time = self.time * factor
        try:
            unit = duration_parts(self.text)[0][1]
        except ValueError:  # a term made in code without its text
            unit = "s"
        return Term(f"{_num(round(time.total_seconds() / UNIT_SECONDS[unit], 3))}{unit}", time=time)


def parse_term(value: Any, *, business: bool) -> Term:
    """A term on a business clock (``business=True``) or a 24x7 one; ValueError says what is wrong."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(cli_said("cli.term.expected", **_EXAMPLES, got=repr(value)))
    text = value.strip()
    n = working_days(text)
    if n is not None:
        if not business:
            raise ValueError(cli_said("cli.term.business_only", text=repr(text), clock="clock: business",
                                      a="3d", b="72h"))
        if not 1 <= n <= 366:
            raise ValueError(cli_said("cli.term.days", text=repr(text)))
        return Term(text, working_days=n)
    if not re.search(r"[a-z]\s*$", text, re.IGNORECASE):
        raise ValueError(cli_said("cli.term.unit", **_EXAMPLES, got=repr(value)))
    try:
        parts = duration_parts(text)
    except ValueError:
        raise ValueError(cli_said("cli.term.expected", **_EXAMPLES, got=repr(value))) from None
    seconds = parse_duration(text)
    units = {u for _, u in parts}
    if business and units & {"d", "w"}:
        hours = _num(seconds / 3600)
        days = f"{_num(seconds / 86400)}wd" if units == {"d"} and seconds % 86400 == 0 else "5wd"
        raise ValueError(cli_said("cli.term.ambiguous", text=repr(text), days=days, hours=f"{hours}h", raw=text))
    if seconds <= 0:
        raise ValueError(cli_said("cli.term.positive"))
    return Term(text, time=timedelta(seconds=seconds))


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _lang(language: str) -> str:
    return "zh" if language.lower().startswith("zh") else "en"


def say_term(text: str, language: str, *, business: bool) -> str:
    """``text`` (a term as written) in words of ``language`` (zh, zh_CN or en), units kept as written."""
    lang = _lang(language)
    days = working_days(text)
    if days is not None:
        return f"{days}个工作日" if lang == "zh" else f"{days} working day{'s' if days != 1 else ''}"
    try:
        parts = duration_parts(text)
    except ValueError:
        return text
    if lang == "zh":
        said = "".join(f"{n}{_ZH_UNITS[u]}" for n, u in parts)
        return f"工作时间{said}" if business else said
    words = []
    for n, u in parts:
        one, many = _EN_UNITS[u]
        words.append(f"{n} {one if float(n) == 1 else many}")
    said = " ".join(words)
    return f"{said} of business time" if business else said
