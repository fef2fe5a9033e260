"""The parameters of the ``ping`` check (checks/ping.py), a leaf module."""

from __future__ import annotations

from dataclasses import dataclass

from checks.params import Duration, check_order, check_range

METHODS = ("auto", "native", "system")


@dataclass(frozen=True)
class PingParams:
    target: str = ""
    count: int = 10
    #: how long to wait for each answer
    timeout: Duration = Duration(2.0)
    #: time between probes (Windows ping always waits 1 s)
    interval: Duration = Duration(1.0)
    loss_warn: float = 0.2
    loss_crit: float = 0.6
    #: average round-trip time, milliseconds
    rtt_warn: float | None = 150.0
    rtt_crit: float | None = 500.0
    #: consecutive runs with no answer at all before CRITICAL "down"
    down_after: int = 3
    #: consecutive runs at a level before it is reported
    raise_after: int = 2
    #: consecutive better runs before a reported level is cleared
    clear_after: int = 2
    #: run a traceroute when the result turns bad, as evidence
    trace_on_bad: bool = True
    trace_max_hops: int = 30
    #: auto (native ICMP where allowed, else the system ping), native, system
    method: str = "auto"

    def __post_init__(self) -> None:
        check_range(self, "count", low=1, high=1000, noun=" probes")
        check_range(self, "timeout", low=0, high=60, unit=" s", above_low=True)
        check_range(self, "interval", low=0.2, high=60, unit=" s")
        for key in ("loss_warn", "loss_crit"):
            v = getattr(self, key)
            if not 0 <= v <= 1:
                raise ValueError(f"{key}: expected a ratio from 0 to 1, e.g. 0.2 for 20 % (got {v:g})")
        check_order(self, "loss_warn", "loss_crit")
        for key in ("rtt_warn", "rtt_crit"):
            v = getattr(self, key)
            if v is not None and v <= 0:
                raise ValueError(f"{key}: expected milliseconds above 0 (got {v:g})")
        check_order(self, "rtt_warn", "rtt_crit")
        check_range(self, "down_after", "raise_after", "clear_after", low=1, high=100, noun=" runs")
        check_range(self, "trace_max_hops", low=1, high=255)
        if self.method not in METHODS:
            raise ValueError(f"method: expected one of {', '.join(METHODS)} (got {self.method!r})")
