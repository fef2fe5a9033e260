"""The fleet for admins: agent tokens, people, enrolment keys, the fleet file, retiring and approving hosts.

Each handler parses its body against the model it documents, calls one service function
(which audits the change with the admin as actor) and answers; secrets (a new token or
key) appear once, in the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from checks.params import parse_duration
from collector import credentials, enrol, fleet, inventory
from collector.api import JSON
from collector.api.body import read_model
from collector.api.deps import AdminDep, EngineDep, PersonDep
from collector.api.models import (
    AgentTokenList,
    EnrolKeyIn,
    EnrolKeyList,
    EnrolKeyMade,
    EnrolKeyRevoked,
    FleetApplied,
    FleetIn,
    FleetShow,
    HostApproved,
    HostRef,
    HostRetired,
    PersonList,
    PersonState,
    PersonToken,
    Revoked,
    TokenHandOver,
    TokenRotate,
)
from collector.api.openapi import body, errors
from collector.auth import Person
from collector.services import services

router = APIRouter()

MAX_BODY = 64 * 1024
NameParam = Annotated[str, Path(min_length=1, max_length=64)]
SiteFilter = Annotated[str | None, Query(max_length=64)]
POST_ERRORS = (401, 403, 413, 415, 422, 503)
T = TypeVar("T")


class NoBody(BaseModel):
    """These actions take no fields: an empty object, or no body."""

    model_config = ConfigDict(extra="forbid")


def _duration(value: str, field: str) -> timedelta:
    try:
        return timedelta(seconds=parse_duration(value))
    except (ValueError, OverflowError) as exc:
        raise HTTPException(status_code=422, detail=[{"loc": ["body", field], "msg": str(exc),
                                                      "type": "value_error"}]) from None


async def _audited(request: Request, admin: Person, act: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``act(*args, **kwargs)`` in the thread pool as ``admin``: the service audits it, signed with the keys."""
    return await run_in_threadpool(act, *args, actor=admin.name, keys=services(request).keys, **kwargs)


@router.get("/tokens", response_class=JSON, response_model=AgentTokenList, responses=errors(401, 403, 422, 503))
def get_tokens(_admin: AdminDep, engine: EngineDep, site: SiteFilter = None) -> JSON:
    return JSON({"tokens": credentials.list_tokens(engine, site)})


@router.post("/tokens/revoke", response_class=JSON, response_model=Revoked, responses=errors(404, *POST_ERRORS),
             openapi_extra=body(HostRef))
async def post_token_revoke(request: Request, admin: AdminDep, engine: EngineDep) -> JSON:
    ref = await read_model(request, MAX_BODY, HostRef)
    ids = await _audited(request, admin, credentials.revoke_token, engine, site=ref.site, host=ref.host)
    return JSON({"revoked": ids})


@router.post("/tokens/rotate", response_class=JSON, response_model=TokenHandOver,
             responses=errors(404, *POST_ERRORS), openapi_extra=body(TokenRotate))
async def post_token_rotate(request: Request, admin: AdminDep, engine: EngineDep) -> JSON:
    ref = await read_model(request, MAX_BODY, TokenRotate)
    grace = _duration(ref.grace, "grace")
    done = await _audited(request, admin, credentials.rotate_token, engine, site=ref.site, host=ref.host,
                          grace=grace)
    return JSON({"token": done.token, "old_token_expires_at": done.old_expires_at.isoformat()},
                headers={"Cache-Control": "no-store"})


@router.get("/users", response_class=JSON, response_model=PersonList, responses=errors(401, 403, 503))
def get_users(_admin: AdminDep, engine: EngineDep) -> JSON:
    return JSON({"users": credentials.list_users(engine)})


@router.post("/users/{name}/disable", response_class=JSON, response_model=PersonState,
             responses=errors(404, 409, *POST_ERRORS), openapi_extra=body(NoBody, required=False))
async def post_user_disable(request: Request, admin: AdminDep, engine: EngineDep, name: NameParam) -> JSON:
    await read_model(request, MAX_BODY, NoBody)
    if name == admin.name:
        raise HTTPException(status_code=409, detail="an admin does not disable themself (another admin can)")
    await _audited(request, admin, credentials.disable_user, engine, name)
    return JSON({"name": name, "state": "disabled"})


@router.post("/users/{name}/token", response_class=JSON, response_model=PersonToken,
             responses=errors(404, *POST_ERRORS), openapi_extra=body(NoBody, required=False))
async def post_user_token(request: Request, admin: AdminDep, engine: EngineDep, name: NameParam) -> JSON:
    await read_model(request, MAX_BODY, NoBody)
    token = await _audited(request, admin, credentials.new_user_token, engine, name)
    return JSON({"name": name, "token": token}, headers={"Cache-Control": "no-store"})


@router.get("/enrol-keys", response_class=JSON, response_model=EnrolKeyList, responses=errors(401, 403, 422, 503))
def get_enrol_keys(_admin: AdminDep, engine: EngineDep, site: SiteFilter = None) -> JSON:
    return JSON({"enrol_keys": enrol.list_keys(engine, site)})


@router.post("/enrol-keys", response_class=JSON, response_model=EnrolKeyMade, responses=errors(*POST_ERRORS),
             openapi_extra=body(EnrolKeyIn))
async def post_enrol_key(request: Request, admin: AdminDep, engine: EngineDep) -> JSON:
    want = await read_model(request, MAX_BODY, EnrolKeyIn)
    expires = _duration(want.expires, "expires")
    key = await _audited(request, admin, enrol.create_key, engine, site=want.site, roles=want.roles,
                         uses=want.uses, expires=expires, approve=want.approve)
    return JSON({"site": want.site, "key": key}, headers={"Cache-Control": "no-store"})


@router.post("/enrol-keys/{key_id}/revoke", response_class=JSON, response_model=EnrolKeyRevoked,
             responses=errors(404, *POST_ERRORS), openapi_extra=body(NoBody, required=False))
async def post_enrol_key_revoke(request: Request, admin: AdminDep, engine: EngineDep,
                                key_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> JSON:
    await read_model(request, MAX_BODY, NoBody)
    await _audited(request, admin, enrol.revoke_key, engine, key_id)
    return JSON({"id": key_id, "state": "revoked"})


@router.get("/fleet", response_class=JSON, response_model=FleetShow, responses=errors(401, 403, 503))
def get_fleet(_person: PersonDep, engine: EngineDep) -> JSON:
    return JSON({"fleet": fleet.describe_version(engine)})


@router.post("/fleet", response_class=JSON, response_model=FleetApplied, responses=errors(*POST_ERRORS),
             openapi_extra=body(FleetIn))
async def post_fleet(request: Request, admin: AdminDep, engine: EngineDep) -> JSON:
    source = (await read_model(request, fleet.MAX_FLEET_BYTES * 2, FleetIn)).source
    version, new = await _audited(request, admin, fleet.apply, engine, source.encode("utf-8", "surrogatepass"),
                                  "fleet file")
    return JSON({"version": version, "new": new})


@router.post("/hosts/{site}/{host}/retire", response_class=JSON, response_model=HostRetired,
             responses=errors(404, *POST_ERRORS), openapi_extra=body(NoBody, required=False))
async def post_host_retire(request: Request, admin: AdminDep, engine: EngineDep, site: NameParam,
                           host: NameParam) -> JSON:
    await read_model(request, MAX_BODY, NoBody)
    revoked = await _audited(request, admin, inventory.retire, engine, site=site, host=host)
    return JSON({"site": site, "host": host, "state": "retired", "revoked_tokens": revoked})


@router.post("/hosts/{site}/{host}/approve", response_class=JSON, response_model=HostApproved,
             responses=errors(404, *POST_ERRORS), openapi_extra=body(NoBody, required=False))
async def post_host_approve(request: Request, admin: AdminDep, engine: EngineDep, site: NameParam,
                            host: NameParam) -> JSON:
    await read_model(request, MAX_BODY, NoBody)
    changed = await _audited(request, admin, inventory.approve, engine, site=site, host=host)
    return JSON({"site": site, "host": host, "approval": "approved", "changed": changed})
