"""The parameters of the ``ping`` check (checks/ping.py), a leaf module."""

from __future__ import annotations

from dataclasses import dataclass

from checks.params import Duration, check_order

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
        if not 1 <= self.count <= 1000:
            raise ValueError(f"count: expected 1 to 1000 probes (got {self.count})")
        if not 0 < self.timeout <= 60:
            raise ValueError(f"timeout: expected more than 0 s and at most 60 s (got {self.timeout:g})")
        if not 0.2 <= self.interval <= 60:
            raise ValueError(f"interval: expected 0.2 s to 60 s (got {self.interval:g})")
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
        for key in ("down_after", "raise_after", "clear_after"):
            if not 1 <= getattr(self, key) <= 100:
                raise ValueError(f"{key}: expected 1 to 100 runs (got {getattr(self, key)})")
        if not 1 <= self.trace_max_hops <= 255:
            raise ValueError(f"trace_max_hops: expected 1 to 255 (got {self.trace_max_hops})")
        if self.method not in METHODS:
            raise ValueError(f"method: expected one of {', '.join(METHODS)} (got {self.method!r})")
