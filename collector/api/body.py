"""Reading a request body safely: a cap on its size before and after gzip."""

from __future__ import annotations

import zlib
from typing import Any, TypeVar

import orjson
from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.types import Message

from checks.messages.reader import cli_said

__all__ = ["fields_missing", "fields_unknown", "gunzip", "read_body", "read_json_object", "read_model",
           "read_sent_body", "refused_by_headers", "too_large", "whole_body"]

M = TypeVar("M", bound=BaseModel)


def too_large(cap: int) -> HTTPException:
    return HTTPException(status_code=413, detail=cli_said("cli.refusal.too_large", cap=cap))


def fields_missing(names: list[str]) -> HTTPException:
    """422: a JSON object without the fields ``names`` (keyed, so a reader reads it in their language)."""
    return HTTPException(status_code=422, detail=cli_said("cli.refusal.missing_fields", fields=", ".join(names)))


def fields_unknown(names: list[str], *, cap: int | None = None, expected: tuple[str, ...] = ()) -> HTTPException:
    """422: a JSON object with fields ``names`` the endpoint does not take (their list cut at ``cap``
    characters; ``expected``: the ones it takes, named)."""
    fields = ", ".join(names)[:cap]
    if expected:
        return HTTPException(status_code=422, detail=cli_said("cli.refusal.unknown_fields_expected", fields=fields,
                                                               expected=", ".join(expected)))
    return HTTPException(status_code=422, detail=cli_said("cli.refusal.unknown_fields", fields=fields))


def gunzip(data: bytes, cap: int) -> bytes:
    """Decompress a gzip body, refusing more than ``cap`` bytes of output (413)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, cap + 1)
    except zlib.error as exc:
        raise HTTPException(status_code=422, detail=cli_said("cli.refusal.gzip", why=str(exc))) from exc
    if len(out) > cap or inflater.unconsumed_tail:
        raise too_large(cap)
    if not inflater.eof:
        raise HTTPException(status_code=422, detail=cli_said("cli.refusal.gzip_truncated"))
    if inflater.unused_data:
        raise HTTPException(status_code=422, detail=cli_said("cli.refusal.gzip_trailing"))
    return out


async def read_body(request: Request, cap: int) -> bytes:
    """The request body, decoded from ``Content-Encoding: gzip`` if sent so."""
    body, gzipped = await read_sent_body(request, cap)
    if gzipped:
        return await run_in_threadpool(gunzip, body, cap)
    return body


def refused_by_headers(request: Request, cap: int) -> HTTPException | None:
    """What :func:`read_sent_body` refuses before reading the body: an encoding other than gzip (415), a
    ``Content-Length`` over ``cap`` (413)."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        return HTTPException(status_code=415, detail=cli_said("cli.refusal.encoding", header="Content-Encoding",
                                                              encoding=repr(encoding[:40])))
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > cap:
        return too_large(cap)
    return None


def is_gzip(request: Request) -> bool:
    return request.headers.get("content-encoding", "").strip().lower() in ("gzip", "x-gzip")


async def whole_body(request: Request, cap: int) -> tuple[bytes, bool] | Request:
    """The body and whether it is gzip when it came whole in the first message (what an agent's batch does;
    over ``cap`` is the caller's to refuse), else the request to read it from with :func:`read_sent_body`
    (a copy that hands out the first message again).  Never waits for more than that first message, and
    not even for it when :func:`read_sent_body` would refuse the request by its headers or the client
    waits for ``100 Continue``: such a request is read, if at all, as before."""
    if "expect" in request.headers or refused_by_headers(request, cap) is not None:
        return request
    first = await request.receive()
    if first["type"] == "http.request" and not first.get("more_body", False):
        return first.get("body", b""), is_gzip(request)
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await request.receive()
        given = True
        return first

    return Request(request.scope, replay)


async def read_sent_body(request: Request, cap: int) -> tuple[bytes, bool]:
    """The request body as sent, and whether it is gzip: :func:`gunzip` it with the same ``cap`` (a caller
    that hands the body to a worker thread anyway does it there, without a thread hop of its own)."""
    refused = refused_by_headers(request, cap)
    if refused is not None:
        raise refused
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise too_large(cap)
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise HTTPException(status_code=400, detail="the client went away while sending") from exc
    return b"".join(chunks), is_gzip(request)


async def read_json_object(request: Request, cap: int, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object (422 otherwise); ``optional``: an empty body is ``{}``."""
    body = await read_body(request, cap)
    if optional and not body.strip():
        return {}
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HTTPException(status_code=422, detail=cli_said("cli.refusal.not_json", why=str(exc))) from exc
    if not isinstance(doc, dict):
        raise HTTPException(status_code=422, detail=cli_said("cli.refusal.not_object"))
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
