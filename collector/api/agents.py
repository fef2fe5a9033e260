"""What agents call besides ``/results``: enrol, fetch their central config, pick up a rotated token.

``POST /api/v1/enrol`` takes an enrolment key as its Bearer token and answers the new
agent token once (:mod:`collector.enrol`).  ``GET /api/v1/agent/config`` answers the
host's effective checks from the newest fleet file with an ``ETag``; ``If-None-Match``
with that ETag answers 304.  ``GET /api/v1/agent/token`` answers the token that replaces
a rotated one (:mod:`collector.credentials`); every answer to a rotated token carries
``Wardround-Token-Expires`` so the agent knows to ask.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from checks.messages.reader import cli_said
from collector import credentials, enrol, fleet
from collector.api import JSON
from collector.api.body import read_model
from collector.api.deps import AgentDep, EngineDep, rotation_headers, unauthorized
from collector.api.models import AgentConfig, EnrolIn, Enrolled, TokenHandOver
from collector.api.openapi import body, errors
from collector.auth import AGENT_PREFIX, RELAY_PREFIX, USER_PREFIX, authenticate
from collector.services import services
from collector.store import fleet as fleet_store
from collector.store.db import reading

router = APIRouter()

MAX_ENROL_BODY = 64 * 1024


@router.post("/enrol", response_class=JSON, response_model=Enrolled,
             responses=errors(401, 403, 409, 413, 415, 422, 503), openapi_extra=body(EnrolIn))
async def post_enrol(request: Request, engine: EngineDep) -> JSON:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise unauthorized(cli_said("cli.refusal.missing_enrol_key", header="Authorization: Bearer"))
    principal = await run_in_threadpool(authenticate, engine, key) if key.startswith(
        (AGENT_PREFIX, USER_PREFIX, RELAY_PREFIX)) else None
    if principal is not None:
        raise HTTPException(status_code=403, detail=cli_said("cli.refusal.enrol_not_token", prefix="wre_..."))
    await run_in_threadpool(lambda: enrol.refuse_unknown_key(engine, key, keys=services(request).keys))
    doc = await read_model(request, MAX_ENROL_BODY, EnrolIn)
    wanted = enrol.parse_request(doc.model_dump())
    done = await run_in_threadpool(lambda: enrol.enrol(engine, key, wanted, keys=services(request).keys,
                                                       relay_site=request.headers.get(enrol.RELAY_SITE_HEADER)))
    return JSON(done.to_json(), headers={"Cache-Control": "no-store"})


def _roles(engine: EngineDep, site: str, host: str) -> list[str]:
    with reading(engine) as conn:
        row = fleet_store.host_row(conn, site, host)
    return list(orjson.loads(row.roles)) if row is not None else []


@router.get("/agent/config", response_class=JSON, response_model=AgentConfig,
            responses={304: {"description": "If-None-Match named this config's ETag: unchanged"},
                       **errors(401, 403, 503)})
def get_agent_config(request: Request, agent: AgentDep, engine: EngineDep) -> Response:
    if not agent.approved:
        raise HTTPException(status_code=403, detail=cli_said(
            "cli.refusal.config_awaiting_approval", host=f"{agent.site}/{agent.host}",
            command=f"wardround-collector host approve --site {agent.site} --host {agent.host}"))
    version, current = fleet.newest(engine)
    roles = _roles(engine, agent.site, agent.host)
    got = fleet.effective(current, version, agent.site, agent.host, roles)
    headers = {"ETag": f'"{got.etag}"', "Cache-Control": "no-cache", **rotation_headers(agent)}
    wanted = request.headers.get("if-none-match", "")
    if got.etag in [t.strip().removeprefix("W/").strip('"') for t in wanted.split(",")]:
        return Response(status_code=304, headers=headers)
    return JSON(got.to_json(agent.site, agent.host, roles), headers=headers)


@router.get("/agent/token", response_class=JSON, response_model=TokenHandOver, responses=errors(401, 403, 404, 503))
def get_agent_token(request: Request, agent: AgentDep, engine: EngineDep) -> JSON:
    token = credentials.successor(engine, agent, services(request).keys)
    if token is None:
        raise HTTPException(status_code=404, detail=cli_said("cli.refusal.not_rotated"))
    assert agent.expires_at is not None
    return JSON({"token": token, "old_token_expires_at": agent.expires_at.isoformat()},
                headers={"Cache-Control": "no-store", **rotation_headers(agent)})
