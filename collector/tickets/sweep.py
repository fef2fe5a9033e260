"""The periodic sweep (collector.jobs): every sweep rule kind (:mod:`collector.tickets.kinds`) in its order:
missed deadlines and escalation on breach, silent relays, silent agents."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, cast

from collector.tickets.kinds import SweepRun, kinds
from collector.tickets.model import LedgerBase, SweepReport

if TYPE_CHECKING:
    from collector.tickets import Tickets


class Sweep(LedgerBase):
    """The ledger's part the scheduler calls."""

    def sweep(self, now: datetime) -> SweepReport:
        """Run every sweep rule once, in order; what they did."""
        run = SweepRun()
        for kind in kinds():
            if kind.sweep is not None:
                kind.sweep(cast("Tickets", self), now, run)
        return run.report()
