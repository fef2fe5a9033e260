"""The parameters of the ``process`` check (checks/process.py), a leaf module."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcessParams:
    #: process name, e.g. sqlservr or java (case-insensitive, .exe optional)
    name: str = ""
    #: regular expression searched in the command line, e.g. 'his-middleware.*\.jar'
    cmdline: str = ""
    #: fewer matching processes than this is CRITICAL
    min: int = 1
    #: more matching processes than this is WARNING (empty: no upper bound)
    max: int | None = None

    def __post_init__(self) -> None:
        if self.cmdline:
            try:
                re.compile(self.cmdline)
            except re.error as exc:
                raise ValueError(f"cmdline: not a valid regular expression ({exc})") from None
        if self.min < 0:
            raise ValueError("min: expected 0 or more")
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max: must not be below min ({self.max} < {self.min})")
