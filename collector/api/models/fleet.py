"""The fleet: enrolment, central config, credentials (docs/fleet.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from collector.api.models.common import ANSWER, STRICT, Name, Time

Grace = Annotated[str, Field(max_length=32, examples=["24h", "7d"], description="a duration like 30s, 5m, 26h, 7d")]


class EnrolIn(BaseModel):
    """The name rule (1-64 letters, digits, '.', '_', '-') is checked after, with a message saying so."""

    model_config = STRICT
    host: Annotated[str, StringConstraints(max_length=255)]
    roles: Annotated[list[Annotated[str, StringConstraints(max_length=255)]], Field(max_length=16)] = []
    facts: dict[str, Any] = Field({}, description="os, os_version, kernel, arch, hostname, ips, agent_version")
    replace: bool = False


class Enrolled(BaseModel):
    model_config = ANSWER
    site: str
    host: str
    roles: list[str]
    token: str = Field(description="the agent token, shown this once")
    approval: Literal["approved", "awaiting"]


class AgentConfig(BaseModel):
    model_config = ANSWER
    version: int = Field(description="the fleet file's version; 0 before any")
    etag: str
    site: str
    host: str
    roles: list[str]
    templates: list[str]
    checks: list[dict[str, Any]] = Field(description="check entries exactly as in agent.yaml")


class TokenHandOver(BaseModel):
    model_config = ANSWER
    token: str
    old_token_expires_at: str


class AgentTokenInfo(BaseModel):
    model_config = ANSWER
    id: int
    site: str
    host: str
    state: Literal["active", "rotating", "expired", "revoked"]
    created_at: Time
    revoked_at: Time | None
    expires_at: Time | None
    replaced_by: int | None
    also_hosts: list[str]  # the other hosts this token may send for (names)


class AgentTokenList(BaseModel):
    model_config = ANSWER
    tokens: list[AgentTokenInfo]


class HostRef(BaseModel):
    model_config = STRICT
    site: Name
    host: Name


class TokenRotate(HostRef):
    grace: Grace = "24h"


class Revoked(BaseModel):
    model_config = ANSWER
    revoked: list[int]


class Person(BaseModel):
    model_config = ANSWER
    name: str
    role: Literal["viewer", "engineer", "admin"]
    state: Literal["active", "disabled"]
    created_at: Time
    disabled_at: Time | None


class PersonList(BaseModel):
    model_config = ANSWER
    users: list[Person]


class PersonState(BaseModel):
    model_config = ANSWER
    name: str
    state: Literal["disabled"]


class PersonToken(BaseModel):
    model_config = ANSWER
    name: str
    token: str = Field(description="shown this once")


class EnrolKey(BaseModel):
    model_config = ANSWER
    id: int
    site: str
    roles: list[str]
    uses: int
    max_uses: int
    approve: Literal["auto", "manual"]
    state: Literal["usable", "used up", "expired", "revoked"]
    created_at: Time
    created_by: str
    expires_at: Time
    revoked_at: Time | None


class EnrolKeyList(BaseModel):
    model_config = ANSWER
    enrol_keys: list[EnrolKey]


class EnrolKeyIn(BaseModel):
    model_config = STRICT
    site: Name
    roles: Annotated[list[Name], Field(max_length=16)] = []
    uses: Annotated[int, Field(ge=1, le=100_000)] = 1
    expires: Grace = "7d"
    approve: Literal["auto", "manual"] = "auto"


class EnrolKeyMade(BaseModel):
    model_config = ANSWER
    site: str
    key: str = Field(description="the enrolment key, shown this once")


class EnrolKeyRevoked(BaseModel):
    model_config = ANSWER
    id: int
    state: Literal["revoked"]


class FleetVersion(BaseModel):
    model_config = ANSWER
    version: int
    applied_at: Time
    applied_by: str
    file: str
    digest: str
    source: str = Field(description="the fleet file as applied (YAML)")


class FleetShow(BaseModel):
    model_config = ANSWER
    fleet: FleetVersion | None


class FleetIn(BaseModel):
    model_config = STRICT
    source: Annotated[str, Field(description="the fleet file (YAML), at most 1 MiB")]


class FleetApplied(BaseModel):
    model_config = ANSWER
    version: int
    new: bool = Field(description="false: the file is the newest version already")


class HostRetired(BaseModel):
    model_config = ANSWER
    site: str
    host: str
    state: Literal["retired"]
    revoked_tokens: list[int]


class HostApproved(BaseModel):
    model_config = ANSWER
    site: str
    host: str
    approval: Literal["approved"]
    changed: bool
