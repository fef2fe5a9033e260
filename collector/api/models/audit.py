"""The audit log."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from collector.api.models.common import ANSWER, Time


class AuditEntry(BaseModel):
    model_config = ANSWER
    seq: int
    at: Time
    actor: str
    action: str = Field(examples=["ticket.ack", "record.sign", "login"])
    outcome: str
    target: str
    source: str
    detail: Any
    hash: str
    prev_hash: str
    key_id: str


class AuditList(BaseModel):
    model_config = ANSWER
    entries: list[AuditEntry]
    next: str | None = Field(description="the URL of the next (older) page, or null")
