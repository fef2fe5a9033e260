"""The admin page (``/admin``, admins only): hosts, agent tokens, enrolment keys, people and the fleet file.

What an admin does here is what the command line and the API do, through the same service
functions (each audited with the admin as actor): approve and retire hosts, rotate and
revoke agent tokens, make and revoke enrolment keys, disable people and give them a new
token.  A new secret (a token, a key) is shown once, on the page that made it.  Every form
carries the session's CSRF token.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from checks.params import parse_duration
from collector import credentials, enrol, fleet, inventory
from collector.auth import AuthError, Person, Role
from collector.messages import tsay
from collector.services import services
from collector.web.i18n import Worded
from collector.web.routes import _form, _lang, _page, _who, refusal

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

ACTIONS = ("approve", "retire", "rotate", "revoke", "key", "key-revoke", "disable", "user-token")


def _require_admin(person: Person) -> None:
    if person.role < Role.admin:
        raise HTTPException(status_code=403, detail=Worded("error.msg.admin"))


def _state(request: Request) -> dict[str, Any]:
    engine = services(request).engine
    return {"hosts": inventory.list_hosts(engine), "tokens": credentials.list_tokens(engine),
            "keys": enrol.list_keys(engine), "users": credentials.list_users(engine),
            "fleet": fleet.describe_version(engine), "approve_modes": enrol.APPROVE}


def _admin_page(request: Request, person: Person, sid: str, *, status_code: int = 200, **shown: Any) -> Response:
    return _page(request, "admin.html", person=person, session_id=sid, status_code=status_code,
                 **_state(request), **shown)


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request) -> Response:
    person, sid = _who(request)
    _require_admin(person)
    return _admin_page(request, person, sid)


@router.post("/admin/{action}", response_class=HTMLResponse)
async def admin_action(request: Request, action: str) -> Response:
    person, sid = _who(request)
    _require_admin(person)
    if action not in ACTIONS:
        raise HTTPException(status_code=404, detail=Worded("error.msg.no_action"))
    fields = {k: v.strip() for k, v in (await _form(request, person, sid)).items()}
    try:
        shown = await run_in_threadpool(_act, request, person, action, fields)
    except AuthError as exc:
        status = exc.status_code
        message = refusal(exc, _lang(request))
        return await run_in_threadpool(lambda: _admin_page(request, person, sid, status_code=status,
                                                           error=message))
    return await run_in_threadpool(lambda: _admin_page(request, person, sid, **shown))


def _act(request: Request, person: Person, action: str, f: dict[str, str]) -> dict[str, Any]:
    """Do ``action``; what the page shows about it (``done``: a message key, ``secret``: shown once)."""
    engine, keys, me = services(request).engine, services(request).keys, person.name
    site, host = f.get("site", ""), f.get("host", "")
    if action == "approve":
        inventory.approve(engine, site=site, host=host, actor=me, keys=keys)
    elif action == "retire":
        inventory.retire(engine, site=site, host=host, actor=me, keys=keys)
    elif action == "revoke":
        credentials.revoke_token(engine, site=site, host=host, actor=me, keys=keys)
    elif action == "rotate":
        done = credentials.rotate_token(engine, site=site, host=host, grace=_grace(f.get("grace") or "24h"),
                                        actor=me, keys=keys)
        return {"done": "admin.done.rotate", "what": f"{site}/{host}", "secret": done.token}
    elif action == "key":
        roles = [r.strip() for r in f.get("roles", "").split(",") if r.strip()]
        uses = f.get("uses") or "1"
        if not uses.isdigit() or len(uses) > 6:
            raise enrol.EnrolError(tsay("errors.auth.uses_number"))
        key = enrol.create_key(engine, site=site, roles=roles, uses=int(uses), expires=_grace(f.get("expires") or "7d"),
                               approve=f.get("approve") or "auto", actor=me, keys=keys)
        return {"done": "admin.done.key", "what": site, "secret": key}
    elif action == "key-revoke":
        key_id = f.get("id", "")
        if not key_id.isdigit() or len(key_id) > 9:
            raise enrol.EnrolError(tsay("errors.auth.key_number"))
        enrol.revoke_key(engine, int(key_id), actor=me, keys=keys)
        return {"done": "admin.done.key-revoke", "what": key_id}
    elif action == "disable":
        if f.get("name") == me:
            raise AuthError(tsay("errors.auth.disable_self"))
        credentials.disable_user(engine, f.get("name", ""), actor=me, keys=keys)
        return {"done": "admin.done.disable", "what": f.get("name", "")}
    elif action == "user-token":
        token = credentials.new_user_token(engine, f.get("name", ""), actor=me, keys=keys)
        return {"done": "admin.done.user-token", "what": f.get("name", ""), "secret": token}
    return {"done": f"admin.done.{action}", "what": f"{site}/{host}"}


def _grace(text: str) -> timedelta:
    try:
        return timedelta(seconds=parse_duration(text))
    except (ValueError, OverflowError):
        raise enrol.EnrolError(tsay("errors.auth.duration", got=repr(text[:40]))) from None
