"""The parameters of the ``traceroute`` check (checks/traceroute.py), a leaf module."""

from __future__ import annotations

from dataclasses import dataclass

from checks.params import Duration, check_range

METHODS = ("auto", "system", "native")


@dataclass(frozen=True)
class TracerouteParams:
    target: str = ""
    max_hops: int = 30
    #: probes per hop (Linux; Windows tracert always sends 3)
    queries: int = 3
    #: how long to wait for each probe's answer
    wait: Duration = Duration(1.0)
    #: runs whose answers together form a new baseline (the members of load-balanced hops)
    learn_runs: int = 3
    #: consecutive runs a new path must be seen before it is reported (WARNING)
    confirm_after: int = 2
    #: consecutive runs after which a new path becomes the baseline; 0 = never
    adopt_after: int = 12
    #: auto (system tool, else native ICMP as root), system, native
    method: str = "auto"

    def __post_init__(self) -> None:
        check_range(self, "max_hops", low=1, high=255)
        check_range(self, "queries", low=1, high=10)
        check_range(self, "wait", low=0, high=60, unit=" s", above_low=True)
        check_range(self, "learn_runs", low=1, high=100, noun=" runs")
        if self.confirm_after < 1:
            raise ValueError(f"confirm_after: expected 1 or more (got {self.confirm_after})")
        if self.adopt_after and self.adopt_after <= self.confirm_after:
            raise ValueError(f"adopt_after: expected 0 (never) or more than confirm_after "
                             f"({self.adopt_after} <= {self.confirm_after})")
        if self.method not in METHODS:
            raise ValueError(f"method: expected one of {', '.join(METHODS)} (got {self.method!r})")
