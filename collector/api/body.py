"""Reading a request body safely: a cap on its size before and after gzip."""

from __future__ import annotations

import zlib
from typing import Any, TypeVar

import orjson
from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

__all__ = ["gunzip", "read_body", "read_json_object", "read_model", "read_sent_body"]

M = TypeVar("M", bound=BaseModel)


def _too_large(cap: int) -> HTTPException:
    return HTTPException(status_code=413, detail=f"body larger than {cap} bytes: send smaller batches")


def gunzip(data: bytes, cap: int) -> bytes:
    """Decompress a gzip body, refusing more than ``cap`` bytes of output (413)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, cap + 1)
    except zlib.error as exc:
        raise HTTPException(status_code=422, detail=f"body is not valid gzip: {exc}") from exc
    if len(out) > cap or inflater.unconsumed_tail:
        raise _too_large(cap)
    if not inflater.eof:
        raise HTTPException(status_code=422, detail="body is not valid gzip: the stream is truncated")
    if inflater.unused_data:
        raise HTTPException(status_code=422, detail="body is not valid gzip: data after the stream")
    return out


async def read_body(request: Request, cap: int) -> bytes:
    """The request body, decoded from ``Content-Encoding: gzip`` if sent so."""
    body, gzipped = await read_sent_body(request, cap)
    if gzipped:
        return await run_in_threadpool(gunzip, body, cap)
    return body


async def read_sent_body(request: Request, cap: int) -> tuple[bytes, bool]:
    """The request body as sent, and whether it is gzip: :func:`gunzip` it with the same ``cap`` (a caller
    that hands the body to a worker thread anyway does it there, without a thread hop of its own)."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        raise HTTPException(status_code=415, detail=f"Content-Encoding {encoding[:40]!r} is not supported: "
                                                    "send gzip or no encoding")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > cap:
        raise _too_large(cap)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise _too_large(cap)
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise HTTPException(status_code=400, detail="the client went away while sending") from exc
    return b"".join(chunks), encoding in ("gzip", "x-gzip")


async def read_json_object(request: Request, cap: int, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object (422 otherwise); ``optional``: an empty body is ``{}``."""
    body = await read_body(request, cap)
    if optional and not body.strip():
        return {}
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HTTPException(status_code=422, detail=f"body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise HTTPException(status_code=422, detail="body: expected a JSON object")
    return doc


async def read_model(request: Request, cap: int, model: type[M]) -> M:
    """The body as a JSON object checked against ``model`` (the one the route documents); 422 with
    each problem otherwise."""
    doc = await read_json_object(request, cap, optional=True)
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        problems = [{"loc": ["body", *e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
                    for e in exc.errors(include_url=False, include_input=False)]
        raise HTTPException(status_code=422, detail=problems) from None
