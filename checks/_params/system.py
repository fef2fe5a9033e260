"""The parameters of the ``system`` check (checks/system.py), a leaf module."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SystemParams:
    cpu_warn: float = 80.0
    cpu_crit: float = 90.0
    mem_warn: float = 85.0
    mem_crit: float = 95.0
    swap_warn: float = 50.0
    swap_crit: float = 80.0
    load_warn: float = 1.5
    load_crit: float = 3.0
    #: seconds to sample CPU when there is no earlier reading to average from
    sample: float = 1.0

    def __post_init__(self) -> None:
        for low, high in (("cpu_warn", "cpu_crit"), ("mem_warn", "mem_crit"),
                          ("swap_warn", "swap_crit"), ("load_warn", "load_crit")):
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low}: must not be above {high}")
        if not 0 < self.sample <= 60:
            raise ValueError("sample: expected between 0 and 60 seconds")
