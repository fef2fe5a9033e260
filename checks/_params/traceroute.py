"""The parameters of the ``traceroute`` check (checks/traceroute.py), a leaf module."""

from __future__ import annotations

from dataclasses import dataclass

from checks.params import Duration

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
        if not 1 <= self.max_hops <= 255:
            raise ValueError(f"max_hops: expected 1 to 255 (got {self.max_hops})")
        if not 1 <= self.queries <= 10:
            raise ValueError(f"queries: expected 1 to 10 (got {self.queries})")
        if not 0 < self.wait <= 60:
            raise ValueError(f"wait: expected more than 0 s and at most 60 s (got {self.wait:g})")
        if not 1 <= self.learn_runs <= 100:
            raise ValueError(f"learn_runs: expected 1 to 100 runs (got {self.learn_runs})")
        if self.confirm_after < 1:
            raise ValueError(f"confirm_after: expected 1 or more (got {self.confirm_after})")
        if self.adopt_after and self.adopt_after <= self.confirm_after:
            raise ValueError(f"adopt_after: expected 0 (never) or more than confirm_after "
                             f"({self.adopt_after} <= {self.confirm_after})")
        if self.method not in METHODS:
            raise ValueError(f"method: expected one of {', '.join(METHODS)} (got {self.method!r})")
