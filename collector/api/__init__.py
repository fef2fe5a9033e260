"""The HTTP API: one module per resource, thin handlers over the service functions."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse

__all__ = ["JSON", "RETRY_AFTER_S"]

RETRY_AFTER_S = "5"  # what a 503 for an unavailable database tells the client to wait


class JSON(JSONResponse):
    """A JSON response serialised with orjson.

    A :class:`JSONResponse` so that FastAPI documents a route's
    ``response_model`` for it (it writes ``type: string`` for any other
    response class).
    """

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
