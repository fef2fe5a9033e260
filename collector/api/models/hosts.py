"""Hosts as /api/v1/hosts shows them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from collector.api.models.common import ANSWER, Status, Time
from collector.api.models.relays import Relay


class Host(BaseModel):
    """A host of the inventory (docs/fleet.md): enrolled, or known from its results."""

    model_config = ANSWER
    site: str
    host: str
    roles: list[str]
    facts: dict[str, Any] = Field(description="OS, version, addresses, agent version as the host said at enrolment")
    enrolled: bool = Field(description="false: known only from its results (checked through another's token)")
    enrolled_at: Time | None
    enrolled_via: str | None = Field(description="key N, token, or report")
    approval: Literal["approved", "awaiting"] | None
    retired_at: Time | None
    never_reported: bool
    last_seen: Time | None
    first_seen: Time | None
    worst_status: Status | None
    worst_status_name: Literal["OK", "WARNING", "CRITICAL", "UNKNOWN"] | None
    checks: int
    status_counts: dict[str, int]
    clock_offset_s: float | None
    spool_backlog: int | None
    agent_version: str | None
    config_version: str | None = Field(description="the central config (ETag) the agent reported running")
    config: Literal["current", "behind", "none"]


class HostList(BaseModel):
    model_config = ANSWER
    hosts: list[Host]
    relays: list[Relay] = Field(description="the site relays (of ``site``, if given) the hosts report through")
