"""The FastAPI application factory.

``create_app(settings)`` builds the app's services once (:class:`collector.services.Services`:
the engines, the signing key, the ingestor, the ticket ledger, records, the archive, the
metrics registry) and hands them to the routes as ``app.state.services``; it does not touch
the schema (``wardround-collector serve`` and ``migrate`` run the migrations first).  Without a
usable key file it raises :class:`collector.keys.KeyFileError`: records and the audit log are
signed with it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from checks.messages.reader import cli_said
from collector import __version__, audit
from collector.api import JSON, RETRY_AFTER_S, agents, health, hosts, openapi, results
from collector.api import archive as archive_api
from collector.api import audit as audit_api
from collector.api import fleet as fleet_api
from collector.api import records as records_api
from collector.api import relays as relays_api
from collector.api import tickets as tickets_api
from collector.auth import AuthError
from collector.config import Settings, load_settings
from collector.errors import ServiceError, refusal, said_body
from collector.fleet import FleetError
from collector.ingest import IngestError
from collector.jobs import MetricsWarmup, PeriodicJob, RecordScheduler, RetentionJob, RollupJob, Sweeper
from collector.keys import Keyring, load_keyring
from collector.policy import Policies, default_policies, load_policies
from collector.records.render import PdfUnavailable
from collector.services import Services
from collector.store.db import JOBS, REQUESTS, make_engine
from collector.store.errors import DatabaseBusy, classify, describe
from collector.tickets import Tickets
from collector.web import admin as web_admin
from collector.web import routes as web_routes
from collector.web import today as web_today
from collector.web.i18n import Worded

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _background_jobs(services: Services) -> list[PeriodicJob]:
    """The first read of ``/metrics``' check items, the ticket sweep (unless ``sweep_seconds`` is 0), the record
    schedule, the roll-ups and the daily prune, on the engine for background work."""
    settings, engine, policies, keys, records = (services.settings, services.jobs_engine, services.policies,
                                                 services.keys, services.records)
    out: list[PeriodicJob] = [MetricsWarmup(services.metrics)]
    if settings.sweep_seconds > 0:
        out.append(Sweeper(Tickets(engine, policies, keys=keys), settings.sweep_seconds))
    out.append(RecordScheduler(records))
    out.append(RollupJob(engine, policies, settings.retention, records.clock))
    out.append(RetentionJob(engine, settings.retention, records.clock, keys=keys))
    return out


def create_app(settings: Settings | None = None, *, engine: Engine | None = None,
               policies: Policies | None = None, jobs: bool = False, keys: Keyring | None = None,
               shared_metrics: str | None = None, routing: bool | None = None) -> FastAPI:
    """The collector app on ``settings.db_url`` (or on ``engine`` if given).

    ``policies`` default to ``settings.policy_file`` (or the built-in ones),
    ``keys`` to the key file ``settings.key_file``;
    ``jobs`` starts the periodic ticket sweep with the app (``serve`` does);
    ``shared_metrics`` is the directory a worker of ``serve --workers N`` counts its ingest in, beside
    the other workers (:mod:`collector.metrics.shared`);
    ``routing`` (default ``settings.routing``): this collector routes ticket events to notification
    channels (a worker of ``serve --workers N``: its parent does), so its ``/metrics`` counts the events
    not routed yet as pending.
    Without ``engine``, the app makes two: one bounded for requests
    (:data:`collector.store.db.REQUESTS`: a client gets its answer, or a 503,
    within seconds) and one for the background work and long reads
    (:data:`collector.store.db.JOBS`: record issuing, ``/metrics``, the sweep).
    """
    settings = settings or load_settings()
    if policies is None:
        policies = load_policies(settings.policy_file) if settings.policy_file else default_policies()
    keys = keys if keys is not None else load_keyring(settings.key_file)
    owns_engines = engine is None
    if engine is None:
        engine = make_engine(settings.db_url, limits=REQUESTS)
        jobs_engine = make_engine(settings.db_url, limits=JOBS)
    else:
        jobs_engine = engine
    built = Services.build(settings, keys, policies, engine, jobs_engine, owns_engines=owns_engines,
                           shared_metrics=shared_metrics,
                           routing=settings.routing if routing is None else routing)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        background = _background_jobs(built) if jobs else []
        built.health.start()
        for job in background:
            job.start()
        yield
        for job in background:
            job.stop()
        built.health.stop()
        built.dispose()

    app = FastAPI(title="Wardround collector", version=__version__, lifespan=lifespan,
                  default_response_class=JSON, openapi_url=None, docs_url=None, redoc_url=None)
    app.state.services = built

    app.include_router(health.router)
    app.include_router(results.router, prefix="/api/v1")
    app.include_router(hosts.router, prefix="/api/v1")
    app.include_router(tickets_api.router, prefix="/api/v1")
    app.include_router(records_api.router, prefix="/api/v1")
    app.include_router(archive_api.router, prefix="/api/v1")
    app.include_router(audit_api.router, prefix="/api/v1")
    app.include_router(agents.router, prefix="/api/v1")
    app.include_router(fleet_api.router, prefix="/api/v1")
    app.include_router(relays_api.router, prefix="/api/v1")
    app.include_router(web_routes.router)
    app.include_router(web_admin.router)
    app.include_router(web_today.router)
    openapi.install(app)  # /openapi.json and /docs, for people only
    _install_error_handlers(app)
    app.add_middleware(AuditSource, handlers=app.exception_handlers)
    if settings.trusted_proxies:  # outermost: the audit log sees the client the proxy names
        # Only a trusted proxy's X-Forwarded-Proto/-For count (the scheme decides the cookie's Secure flag);
        # anyone else's are ignored.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    return app


class AuditSource:
    """Tells the audit log where a request came from (``api 10.0.0.5``, ``web 10.0.0.5``), and answers the
    agents' batches (``POST /api/v1/results``, :func:`collector.api.results.answer_batch`) without FastAPI's
    routing and request handling: their refusals go through the app's own exception ``handlers``, as the
    route's would (a 500 through the outer ServerErrorMiddleware, as for every route).  Plain ASGI."""

    def __init__(self, app: ASGIApp, handlers: Mapping[Any, Any]) -> None:
        self.app = app
        # as FastAPI's inner ExceptionMiddleware takes them (collector.app builds the stack after the handlers)
        self.batches = ExceptionMiddleware(results.answer_batch, handlers={
            k: v for k, v in handlers.items() if k not in (500, Exception)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            client = scope.get("client")
            path = scope.get("path", "")
            channel = "api" if path.startswith("/api/") else "web"
            audit.SOURCE.set(f"{channel} {client[0] if client else 'unknown'}")
            if path == results.PATH and scope["method"] == "POST" and not scope.get("root_path"):
                await self.batches(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(IngestError)
    async def _ingest_error(_request: Request, exc: IngestError) -> Response:
        return JSON(said_body(exc.detail), status_code=exc.status_code)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> Response:
        # tickets, records, the archive (collector/errors.py): a page shows it on its error page
        if web_routes.is_page(request):
            return await web_routes.error_page(request, exc.status_code, web_routes.said_by(exc))
        return JSON({"detail": str(exc)}, status_code=exc.status_code)

    @app.exception_handler(AuthError)
    async def _auth_error(_request: Request, exc: AuthError) -> Response:
        # each says its status (collector/auth.py): not found 404, exists 409, a bad value 422, an enrolment 401
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSON(refusal(exc), status_code=exc.status_code, headers=headers)

    @app.exception_handler(FleetError)
    async def _fleet_error(_request: Request, exc: FleetError) -> Response:
        return JSON({"detail": [{"loc": ["body", "source"], "msg": line, "type": "value_error"}
                                for line in exc.problems]}, status_code=422)

    @app.exception_handler(PdfUnavailable)
    async def _pdf_unavailable(request: Request, exc: PdfUnavailable) -> Response:
        log.error("PDF rendering unavailable: %s", exc)
        said = Worded("error.msg.pdf_unavailable")
        if web_routes.is_page(request):  # a person clicked the record's PDF link
            return await web_routes.error_page(request, 503, said)
        return JSON({"detail": str.__str__(said)}, status_code=503)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code >= 400 and web_routes.is_page(request):
            return await web_routes.error_page(request, exc.status_code, exc.detail, exc.headers)
        return JSON(said_body(exc.detail), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        if web_routes.is_page(request):  # e.g. /tickets/abc: no such page
            return await web_routes.error_page(request, 404, Worded("error.msg.not_found"))
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        return JSON({"detail": errors}, status_code=422)

    async def _database_error(request: Request, exc: Exception) -> Response:
        fault = classify(exc)
        if fault is not None and fault.kind == "unavailable":
            log.warning("database unavailable: %s", describe(exc))
            headers = {"Retry-After": RETRY_AFTER_S}
            if web_routes.is_page(request):
                return await web_routes.error_page(request, 503, "", headers)
            return JSON(said_body(cli_said("cli.refusal.unavailable")), status_code=503, headers=headers)
        log.error("database error (a bug): %s", type(exc).__name__, exc_info=exc)
        if web_routes.is_page(request):
            return await web_routes.error_page(request, 500, "")
        return JSON({"detail": "internal error"}, status_code=500)

    # Every database error class, wrapped by SQLAlchemy or raised by the driver itself (the bulk
    # insert paths use psycopg and sqlite3 directly): collector.store.errors.
    for kind in (SQLAlchemyError, psycopg.Error, sqlite3.Error, DatabaseBusy):
        app.add_exception_handler(kind, _database_error)

    @app.exception_handler(Exception)
    async def _internal_error(_request: Request, exc: Exception) -> Response:
        log.error("internal error", exc_info=exc)
        return JSON({"detail": "internal error"}, status_code=500)
