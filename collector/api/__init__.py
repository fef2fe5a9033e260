"""The HTTP API: one module per resource, thin handlers over the service functions."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response

__all__ = ["JSON"]


class JSON(Response):
    """A JSON response serialised with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
