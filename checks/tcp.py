"""tcp: the ``port`` check under the name the network catalogue uses.

One implementation (:mod:`checks.port`), two catalogue names: ``tcp`` and
``port`` take the same parameters (``host``, ``port``, ``timeout``, ``warn``,
``crit``), measure the same TCP handshake and judge it the same way; only
the results' ``check`` differs, so a site may use either word in its config.

======== =================================================================
status   meaning
======== =================================================================
OK       connected; handshake faster than ``warn``
WARNING  connected, handshake took ``warn`` (default 1 s) or longer
CRITICAL connected, handshake took ``crit`` (default 3 s) or longer;
         or connection refused; or no answer within ``timeout``; or the
         name cannot be resolved; or the network/host is unreachable
UNKNOWN  ``host`` or ``port`` is not set
======== =================================================================

Metrics: ``connect_seconds`` (s, with warn/crit), ``resolve_seconds`` (s).
"""

from __future__ import annotations

from checks._params.tcp import TcpParams
from checks.context import CheckContext
from checks.port import PortParams, probe
from checks.result import Result

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["TcpParams", "run"]

NAME = "tcp"


def run(params: PortParams, ctx: CheckContext, **seams: Any) -> list[Result]:
    return probe(params, ctx, check=NAME, **seams)
