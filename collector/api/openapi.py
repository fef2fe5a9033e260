"""``/openapi.json`` and ``/docs``: the API as it is, for people only.

The document is FastAPI's, built from the routes with the models of
:mod:`collector.api.models`: each route names its answer (``response_model``),
its error answers (:func:`errors`) and, since the handlers read their bodies
themselves (size caps, gzip), its request body (:func:`body`).  It is served
to a person's token (``Authorization: Bearer wru_...``) or to a browser with a
session of the pages (so ``/docs`` opens after logging in at ``/login``):
401 without either, 403 for an agent's token.

Swagger UI's script, style sheet and icon are served by the collector itself from the
``swagger-ui-bundle-v2`` package (Apache-2.0, Swagger UI 5) at ``/docs/assets/{name}``, to the same
people, so ``/docs`` works on a closed hospital network; without that package (a collector installed
without its ``collector`` extra) ``/docs`` falls back to FastAPI's default, a CDN.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from checks.messages.reader import cli_said
from collector.api import JSON
from collector.api.deps import EngineDep, get_principal, unauthorized
from collector.api.models import Error
from collector.auth import Person
from collector.services import services
from collector.web.sessions import COOKIE

__all__ = ["body", "errors", "install"]

_WHY = {
    401: "no token, not `Bearer`, or an unknown or revoked token (`WWW-Authenticate: Bearer`)",
    403: "a valid token that may not do this: the wrong kind (agent/person), too low a role, or an agent "
         "writing for a host it was not granted",
    404: "no such thing",
    409: "the thing's state does not allow this now",
    413: "the body is larger than max_body_bytes, before or after gzip",
    415: "a Content-Encoding other than gzip or identity",
    422: "a malformed body, query or path value; `detail` names what is wrong",
    503: "the database (or, for PDF, the renderer) is unavailable; retry later",
}
_BODY_MODELS: list[type[BaseModel]] = []


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of a route: each an :class:`~collector.api.models.Error`."""
    return {code: {"model": Error, "description": _WHY[code]} for code in codes}


def body(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON request body of ``model`` (gzip allowed where noted)."""
    _BODY_MODELS.append(model)
    return {"requestBody": {"required": required, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def _document(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        doc = get_openapi(title=app.title, version=app.version, routes=app.routes,
                          description="The Wardround collector's HTTP API (docs/api.md has the prose).")
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for model in _BODY_MODELS:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
        doc["components"]["securitySchemes"] = {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "an agent token (wra_...) or a person's token (wru_...); see docs/api.md"}}
        for path, operations in doc.get("paths", {}).items():
            if path.startswith("/api/"):
                for operation in operations.values():
                    operation["security"] = [{"bearer": []}]
        app.openapi_schema = doc
    return app.openapi_schema


async def _person(request: Request, engine: EngineDep) -> Person:
    """A person's Bearer token, else a session of the pages; 401 without either."""
    if request.headers.get("authorization"):
        principal = await run_in_threadpool(get_principal, request, engine)
        if not isinstance(principal, Person):
            raise HTTPException(status_code=403, detail=cli_said("cli.refusal.docs_person_token"))
        return principal
    session = request.cookies.get(COOKIE)
    person = await run_in_threadpool(services(request).sessions.person, session) if session else None
    if person is None:
        raise unauthorized(cli_said("cli.refusal.docs_no_person", login="/login"))
    return person


PersonOrSessionDep = Annotated[Person, Depends(_person)]

#: the files of Swagger UI that /docs loads, with their media types
SWAGGER_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
                  "favicon-32x32.png": "image/png"}


@cache
def swagger_dir() -> Path | None:
    """Where the installed ``swagger-ui-bundle-v2`` keeps Swagger UI; None if it is not installed."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    path = Path(str(swagger_ui_path))
    return path if all((path / name).is_file() for name in SWAGGER_ASSETS) else None


def install(app: FastAPI) -> None:
    """Serve the document at ``/openapi.json`` and Swagger UI at ``/docs``, to people only."""
    app.openapi = lambda: _document(app)  # type: ignore[method-assign]  # FastAPI documents replacing app.openapi

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_json(_person: PersonOrSessionDep) -> JSON:
        return JSON(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def docs(_person: PersonOrSessionDep) -> HTMLResponse:
        if swagger_dir() is None:
            return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} API")
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} API",
                                   swagger_js_url="/docs/assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs/assets/swagger-ui.css",
                                   swagger_favicon_url="/docs/assets/favicon-32x32.png")

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def docs_asset(name: str, _person: PersonOrSessionDep) -> Response:
        folder = swagger_dir()
        if folder is None or name not in SWAGGER_ASSETS:
            raise HTTPException(status_code=404, detail="Not Found")
        return FileResponse(folder / name, media_type=SWAGGER_ASSETS[name],
                            headers={"Cache-Control": "private, max-age=86400"})
