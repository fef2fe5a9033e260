"""The fleet for admins: agent tokens, people, enrolment keys, the fleet file, retiring and approving hosts.

Each handler parses, calls one service function (which audits the change with the admin
as actor) and answers; secrets (a new token or key) appear once, in the answer.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Path, Request
from starlette.concurrency import run_in_threadpool

from checks.params import parse_duration
from collector import credentials, enrol, fleet, inventory
from collector.api import JSON
from collector.api.body import read_body, read_json_object
from collector.api.deps import AdminDep, EngineDep, PersonDep

router = APIRouter()

MAX_BODY = 64 * 1024
Name = Path(min_length=1, max_length=64)


def _bad(field: str, message: str) -> HTTPException:
    return HTTPException(status_code=422, detail=[{"loc": ["body", field], "msg": message, "type": "value_error"}])


def _text(doc: dict[str, Any], field: str, *, required: bool = True) -> str | None:
    value = doc.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise _bad(field, "expected a string")
    return value


def _duration(doc: dict[str, Any], field: str, default: str) -> timedelta:
    value = doc.get(field, default)
    try:
        return timedelta(seconds=parse_duration(value))
    except (ValueError, OverflowError) as exc:
        raise _bad(field, str(exc)) from None


def _keys(request: Request) -> Any:
    return request.app.state.keys


@router.get("/tokens", response_class=JSON)
def get_tokens(_admin: AdminDep, engine: EngineDep, site: str | None = None) -> JSON:
    return JSON({"tokens": credentials.list_tokens(engine, site)})


@router.post("/tokens/revoke", response_class=JSON)
async def post_token_revoke(request: Request, admin: AdminDep, engine: EngineDep) -> JSON:
    doc = await read_json_object(request, MAX_BODY)
    site, host = _text(doc, "site"), _text(doc, "host")
    ids = await run_in_threadpool(lambda: credentials.revoke_token(
        engine, site=site or "", host=host or "", actor=admin.name, keys=_keys(request)))
    return JSON({"revoked": ids})


@router.post("/tokens/rotate", response_class=JSON)
async def post_token_rotate(request: Request, admin: AdminDep, engine: EngineDep) -> JSON:
    doc = await read_json_object(request, MAX_BODY)
    site, host = _text(doc, "site"), _text(doc, "host")
    grace = _duration(doc, "grace", "24h")
    done = await run_in_threadpool(lambda: credentials.rotate_token(
        engine, site=site or "", host=host or "", grace=grace, actor=admin.name, keys=_keys(request)))
    return JSON({"token": done.token, "old_token_expires_at": done.old_expires_at.isoformat()},
                headers={"Cache-Control": "no-store"})


@router.get("/users", response_class=JSON)
def get_users(_admin: AdminDep, engine: EngineDep) -> JSON:
    return JSON({"users": credentials.list_users(engine)})


@router.post("/users/{name}/disable", response_class=JSON)
def post_user_disable(request: Request, admin: AdminDep, engine: EngineDep, name: str = Name) -> JSON:
    if name == admin.name:
        raise HTTPException(status_code=409, detail="an admin does not disable themself (another admin can)")
    credentials.disable_user(engine, name, actor=admin.name, keys=_keys(request))
    return JSON({"name": name, "state": "disabled"})


@router.post("/users/{name}/token", response_class=JSON)
def post_user_token(request: Request, admin: AdminDep, engine: EngineDep, name: str = Name) -> JSON:
    token = credentials.new_user_token(engine, name, actor=admin.name, keys=_keys(request))
    return JSON({"name": name, "token": token}, headers={"Cache-Control": "no-store"})


@router.get("/enrol-keys", response_class=JSON)
def get_enrol_keys(_admin: AdminDep, engine: EngineDep, site: str | None = None) -> JSON:
    return JSON({"enrol_keys": enrol.list_keys(engine, site)})


@router.post("/enrol-keys", response_class=JSON)
async def post_enrol_key(request: Request, admin: AdminDep, engine: EngineDep) -> JSON:
    doc = await read_json_object(request, MAX_BODY)
    site = _text(doc, "site") or ""
    roles = doc.get("roles", [])
    if not isinstance(roles, list):
        raise _bad("roles", "expected a list of role names")
    uses = doc.get("uses", 1)
    if isinstance(uses, bool) or not isinstance(uses, int):
        raise _bad("uses", "expected a whole number")
    approve = doc.get("approve", "auto")
    expires = _duration(doc, "expires", "7d")
    key = await run_in_threadpool(lambda: enrol.create_key(
        engine, site=site, roles=roles, uses=uses, expires=expires, approve=str(approve), actor=admin.name,
        keys=_keys(request)))
    return JSON({"site": site, "key": key}, headers={"Cache-Control": "no-store"})


@router.post("/enrol-keys/{key_id}/revoke", response_class=JSON)
def post_enrol_key_revoke(request: Request, admin: AdminDep, engine: EngineDep,
                          key_id: int = Path(ge=1, le=2**31 - 1)) -> JSON:
    enrol.revoke_key(engine, key_id, actor=admin.name, keys=_keys(request))
    return JSON({"id": key_id, "state": "revoked"})


@router.get("/fleet", response_class=JSON)
def get_fleet(_person: PersonDep, engine: EngineDep) -> JSON:
    return JSON({"fleet": fleet.describe_version(engine)})


@router.post("/fleet", response_class=JSON)
async def post_fleet(request: Request, admin: AdminDep, engine: EngineDep) -> JSON:
    data = await read_body(request, fleet.MAX_FLEET_BYTES)
    version, new = await run_in_threadpool(lambda: fleet.apply(engine, data, "fleet file", actor=admin.name,
                                                               keys=_keys(request)))
    return JSON({"version": version, "new": new})


@router.post("/hosts/{site}/{host}/retire", response_class=JSON)
def post_host_retire(request: Request, admin: AdminDep, engine: EngineDep, site: str = Name,
                     host: str = Name) -> JSON:
    revoked = inventory.retire(engine, site=site, host=host, actor=admin.name, keys=_keys(request))
    return JSON({"site": site, "host": host, "state": "retired", "revoked_tokens": revoked})


@router.post("/hosts/{site}/{host}/approve", response_class=JSON)
def post_host_approve(request: Request, admin: AdminDep, engine: EngineDep, site: str = Name,
                      host: str = Name) -> JSON:
    changed = inventory.approve(engine, site=site, host=host, actor=admin.name, keys=_keys(request))
    return JSON({"site": site, "host": host, "approval": "approved", "changed": changed})
