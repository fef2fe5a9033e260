"""Site relays: the token sync, and the relays /api/v1/hosts lists (docs/api.md, docs/deploy.md)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from collector.api.models.common import ANSWER, Time


class RelayToken(BaseModel):
    model_config = ANSWER
    hash: str
    host: str
    also_hosts: list[str]
    expires_at: Time | None


class RelaySync(BaseModel):
    model_config = ANSWER
    site: str
    relay: str
    tokens: list[RelayToken]
    server_time: Time


class Relay(BaseModel):
    """A site relay with a live token: its site's hosts report through it (docs/deploy.md)."""

    model_config = ANSWER
    site: str
    relay: str
    created_at: Time
    last_contact: Time | None
    never_contacted: bool
    backlog: int | None = Field(description="results in its spool at its last contact, as it said")
    version: str | None = Field(description="the relay's agent version, as it said")
    site_hosts: int = Field(description="the enrolled, not-retired hosts of its site")
