"""Shared pieces of the API's models: strict and answer configs, names, times, statuses, errors."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from checks.result import (
    MAX_NAME_LEN,
    NAME_PATTERN,
    parse_time,
)

STRICT = ConfigDict(strict=True, extra="forbid")
ANSWER = ConfigDict(extra="forbid")

Name = Annotated[str, StringConstraints(pattern=f"^{NAME_PATTERN}$", max_length=MAX_NAME_LEN)]
Time = Annotated[str, Field(description="ISO-8601 UTC with a Z suffix, e.g. 2026-11-23T08:00:00.123456Z")]
Status = Annotated[int, Field(ge=0, le=3, description="0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")]
Number = Annotated[float, Field(allow_inf_nan=False)]


def iso_time(value: str) -> str:
    parse_time(value)  # ISO-8601 with an offset, within Python's calendar after conversion to UTC
    return value


def not_bool(value: Any) -> Any:
    if isinstance(value, bool):  # JSON's true is not the number 1
        raise ValueError("expected the number 1")
    return value


def finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


class ValidationProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class BatchProblem(BaseModel):
    index: int
    id: str | None
    error: str


class Error(BaseModel):
    """Every error answer: ``detail`` says what is wrong, as text or as a list of problems."""

    detail: str | list[ValidationProblem] | list[BatchProblem]


class Health(BaseModel):
    model_config = ANSWER
    status: Literal["ok", "unavailable"]
    detail: str | None = None
