"""What a running check may know beyond its parameters."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["CheckContext"]


@dataclass
class CheckContext:
    """The run's surroundings.

    ``state`` is a JSON-serialisable memory for this check instance that the
    agent keeps between runs (and across restarts): a disk forecast's
    history, the last boot time.  A check reads and updates it in place.
    """

    state: MutableMapping[str, Any] = field(default_factory=dict)
    timeout_s: float = 30.0
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: the collector's clock minus this machine's, in seconds (positive: this clock is behind),
    #: as the agent last measured it from a push answer's ``server_time``; None when unknown
    collector_offset_s: float | None = None
