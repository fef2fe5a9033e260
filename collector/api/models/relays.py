"""Site relays: the token sync (docs/api.md, docs/deploy.md)."""

from __future__ import annotations

from pydantic import BaseModel

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
