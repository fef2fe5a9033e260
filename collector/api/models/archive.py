"""The service archive."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from collector.api.models.common import ANSWER, Name, Time

ArchiveKind = Literal["visit", "remote", "phone", "change", "upgrade"]


class ArchiveEntry(BaseModel):
    model_config = ANSWER
    id: int
    site: str
    host: str | None
    kind: ArchiveKind
    at: Time
    phenomenon: str
    action: str
    parts: str | None
    version: str | None
    signer: str | None
    ticket: int | None
    corrects: int | None
    corrected_by: int | None
    engineer: str
    created_at: Time


class ArchiveList(BaseModel):
    model_config = ANSWER
    entries: list[ArchiveEntry]


class ArchiveEntryIn(BaseModel):
    """``POST /api/v1/archive``: a service call or visit, appended for good."""

    model_config = ConfigDict(extra="forbid")
    site: Name
    kind: ArchiveKind
    at: str = Field(description="ISO-8601; without an offset the site's local time; at most 10 minutes ahead",
                     examples=["2026-11-22T14:30:00+08:00"])
    phenomenon: str = Field(min_length=1, max_length=4000)
    action: str = Field(min_length=1, max_length=4000)
    host: Name | None = None
    parts: str | None = Field(None, max_length=4000)
    version: str | None = Field(None, max_length=255, description="required for an upgrade")
    signer: str | None = Field(None, max_length=128)
    ticket: int | None = Field(None, ge=1, description="a ticket of the same site")
    corrects: int | None = Field(None, ge=1, description="the entry of the same site this one replaces")
