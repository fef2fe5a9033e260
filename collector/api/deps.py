"""Dependencies shared by the route modules: the app's services (:mod:`collector.services`), who is calling.

``AgentDep`` admits only agent tokens, ``PersonDep`` only people's tokens
(any role); :func:`require_role` builds a dependency for a minimum role.
Missing or unknown token: 401 with ``WWW-Authenticate: Bearer``.  A valid
token of the wrong kind or too low a role: 403.

Dependencies that only look at the request are ``async`` so FastAPI does not
send each through the thread pool; only the token lookup (a database query)
runs there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Path, Request
from sqlalchemy import Engine

from checks.messages.reader import cli_said
from collector.archive import Archive
from collector.auth import Agent, Person, Role, authenticate
from collector.config import Settings
from collector.health import Health
from collector.ingest import Ingestor
from collector.keys import Keyring
from collector.metrics import CollectorMetrics
from collector.records.service import Records
from collector.services import Services, services
from collector.store.tables import MAX_ROW_ID
from collector.tickets import Tickets

__all__ = ["AdminDep", "AgentDep", "ArchiveDep", "EngineDep", "HealthDep", "IngestorDep", "KeysDep", "MetricsDep",
           "PersonDep", "RecordsDep", "RelayDep", "RowId", "SenderDep", "SettingsDep", "TicketsDep", "bearer_token",
           "get_principal", "principal_of", "require_role", "rotation_headers", "sender_of", "unauthorized"]

T = TypeVar("T")


def _service(pick: Callable[[Services], T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency answering one of the app's services (``pick`` names which)."""

    async def dependency(request: Request) -> T:
        return pick(services(request))

    return dependency


EngineDep = Annotated[Engine, Depends(_service(lambda s: s.engine))]
SettingsDep = Annotated[Settings, Depends(_service(lambda s: s.settings))]
IngestorDep = Annotated[Ingestor, Depends(_service(lambda s: s.ingestor))]
MetricsDep = Annotated[CollectorMetrics, Depends(_service(lambda s: s.metrics))]
# A row id in a path (tickets, records, archive entries; API and pages alike): a larger number
# cannot name a row, and handing it to the database overflows its 64-bit integers.
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
HealthDep = Annotated[Health, Depends(_service(lambda s: s.health))]
KeysDep = Annotated[Keyring, Depends(_service(lambda s: s.keys))]
TicketsDep = Annotated[Tickets, Depends(_service(lambda s: s.tickets))]
RecordsDep = Annotated[Records, Depends(_service(lambda s: s.records))]
ArchiveDep = Annotated[Archive, Depends(_service(lambda s: s.archive))]


def unauthorized(message: str) -> HTTPException:
    """401 with ``WWW-Authenticate: Bearer``; ``message`` a keyed text (``cli.refusal.*``), so the agent says
    it in its reader's language (collector.errors.said_body)."""
    return HTTPException(status_code=401, detail=message, headers={"WWW-Authenticate": "Bearer"})


def bearer_token(request: Request) -> str:
    """The token of the request's ``Authorization: Bearer`` header (401 without one)."""
    header = request.headers.get("authorization")
    if not header:
        raise unauthorized(cli_said("cli.refusal.missing_token", header="Authorization: Bearer"))
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized(cli_said("cli.refusal.not_bearer", header="Authorization: Bearer"))
    return token


def principal_of(engine: Engine, token: str) -> Agent | Person:
    """Whose ``token`` is (a database query; 401 if nobody's)."""
    principal = authenticate(engine, token)
    if principal is None:
        raise unauthorized(cli_said("cli.refusal.unknown_token"))
    return principal


def get_principal(request: Request, engine: EngineDep) -> Agent | Person:
    return principal_of(engine, bearer_token(request))


PrincipalDep = Annotated[Agent | Person, Depends(get_principal)]


def sender_of(principal: Agent | Person) -> Agent:
    """An agent's token or a site relay's (``POST /api/v1/results``; 403 for a person's)."""
    if not isinstance(principal, Agent):
        raise HTTPException(status_code=403, detail=cli_said("cli.refusal.agent_token"))
    return principal


async def require_sender(principal: PrincipalDep) -> Agent:
    return sender_of(principal)


async def require_agent(principal: PrincipalDep) -> Agent:
    if not isinstance(principal, Agent):
        raise HTTPException(status_code=403, detail=cli_said("cli.refusal.agent_token"))
    if principal.relay is not None:
        raise HTTPException(status_code=403, detail=cli_said("cli.refusal.not_relay_token",
                                                             sync="GET /api/v1/relay/sync"))
    return principal


async def require_relay(principal: PrincipalDep) -> Agent:
    if not isinstance(principal, Agent) or principal.relay is None:
        raise HTTPException(status_code=403, detail=cli_said(
            "cli.refusal.relay_token", command="wardround-collector token create --relay --site S"))
    return principal


def require_role(role: Role) -> Callable[[Agent | Person], Awaitable[Person]]:
    """A dependency admitting people whose role is ``role`` or higher."""

    async def dependency(principal: PrincipalDep) -> Person:
        if not isinstance(principal, Person):
            raise HTTPException(status_code=403, detail=cli_said("cli.refusal.person_token"))
        if principal.role < role:
            raise HTTPException(status_code=403, detail=cli_said("cli.refusal.role", role=role.name))
        return principal

    return dependency


AgentDep = Annotated[Agent, Depends(require_agent)]
SenderDep = Annotated[Agent, Depends(require_sender)]  # an agent or a relay
RelayDep = Annotated[Agent, Depends(require_relay)]
PersonDep = Annotated[Person, Depends(require_role(Role.viewer))]
AdminDep = Annotated[Person, Depends(require_role(Role.admin))]


def rotation_headers(agent: Agent) -> dict[str, str]:
    """``Wardround-Token-Expires`` on every answer to a rotated token: the agent fetches its successor."""
    if agent.expires_at is None:
        return {}
    from checks.result import format_time
    from collector.credentials import ROTATION_HEADER

    return {ROTATION_HEADER: format_time(agent.expires_at)}
