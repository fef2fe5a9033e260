"""Ticket rule kind ``relay_silent``: a site relay silent past its site's agent-silent grace opens one
``relay``/``silent`` ticket (host = the relay's name), and the hosts behind it are not reported one
by one (the ``agent_silent`` rule, later in the sweep, leaves them out); its next contact resolves it.
The rule itself lives with the relays (:func:`collector.relays.sweep_silent`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from collector.tickets.kinds import RuleKind, SweepRun

if TYPE_CHECKING:
    from collector.tickets import Tickets


def sweep(ledger: Tickets, now: datetime, run: SweepRun) -> None:
    from collector import relays

    run.hidden |= relays.sweep_silent(ledger, now)


KIND = RuleKind(
    name="relay_silent", opens="`relay`/`silent`",
    settings="`agent_silent.grace` (15m), `agent_silent.level` (2)",
    doc="a relay with no contact for longer than its site's grace opens one ticket for the relay; the hosts "
        "last seen within a grace of its last contact are not reported one by one; its next contact resolves it",
    sweep=sweep, order=20)
