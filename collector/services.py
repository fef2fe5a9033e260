"""The services one collector app is made of, built once by :func:`collector.app.create_app`.

A route (API or page) asks for them with :func:`services` (or the typed dependencies of
:mod:`collector.api.deps`); nothing else builds a service on a request's path.

``engine`` answers requests (bounded waits: a client gets its answer or a 503 within
seconds); ``jobs_engine`` does the background work and the long reads (record issuing,
``/metrics``, the sweep).  With an engine given by the caller both are that engine, and the
caller disposes of it (``owns_engines`` is False).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from starlette.requests import HTTPConnection

from collector.archive import Archive
from collector.config import Settings
from collector.health import Health
from collector.ingest import Ingestor
from collector.keys import Keyring
from collector.metrics import CollectorMetrics
from collector.policy import Policies
from collector.records.service import Records
from collector.tickets import Tickets
from collector.web.sessions import Sessions

__all__ = ["Services", "services"]


@dataclass(slots=True)
class Services:
    settings: Settings
    keys: Keyring
    policies: Policies
    engine: Engine
    jobs_engine: Engine
    owns_engines: bool  # False: the caller gave the engine and disposes of it
    health: Health
    metrics: CollectorMetrics
    tickets: Tickets
    records: Records
    archive: Archive
    sessions: Sessions
    ingestor: Ingestor

    @classmethod
    def build(cls, settings: Settings, keys: Keyring, policies: Policies, engine: Engine, jobs_engine: Engine,
              *, owns_engines: bool, shared_metrics: str | None = None, routing: bool = False) -> Services:
        """``shared_metrics``: a worker of ``serve --workers N``: the directory of the workers' ingest counters;
        ``routing``: the collector routes ticket events to notification channels (its metrics say so)."""
        tickets = Tickets(engine, policies, keys=keys)
        metrics = CollectorMetrics(jobs_engine, policies, shared=shared_metrics, routing=routing)
        return cls(settings=settings, keys=keys, policies=policies, engine=engine, jobs_engine=jobs_engine,
                   owns_engines=owns_engines, health=Health(engine), metrics=metrics, tickets=tickets,
                   records=Records(jobs_engine, policies, keys=keys), archive=Archive(engine, policies, keys=keys),
                   sessions=Sessions(engine, keys=keys),
                   ingestor=Ingestor(engine, observe=metrics.observe, time_batch=metrics.time_batch,
                                     tickets=tickets))

    def dispose(self) -> None:
        """Close the engines if the app made them."""
        if self.owns_engines:
            self.engine.dispose()
            self.jobs_engine.dispose()


def services(connection: HTTPConnection) -> Services:
    """The app's services, for a route (``request`` is an HTTPConnection)."""
    found: Services = connection.app.state.services
    return found
