"""The pages: login, hosts, tickets, records and the service archive.

Every page but ``/login`` needs a session (else: 303 to ``/login?next=...``).
Viewers read; engineers and admins also see and may submit the forms that
change something (opening a ticket by hand, ticket actions and the on-site
visit, the customer follow-up of a resolved ticket, issuing a record now,
record sign-off, archive entries), each
checked for its CSRF token (403 without it) and for the role (403).  A
refused change (a ticket already acknowledged, a bad field) shows the page
again with the reason and the status the API would give (409, 422).
Handlers parse, authorise, call one service function and render.

An error on a page (403, 404, any status from 400 up) answers with
``error.html`` in the reader's language and that status; everything under
``/api/`` and the probes (``/healthz``, ``/metrics``) keep their JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

import jinja2
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from checks.messages import joined
from checks.result import Status
from collector.api.body import read_body
from collector.api.deps import RowId
from collector.archive import KINDS as ARCHIVE_KINDS
from collector.archive import ArchiveError
from collector.auth import Person, Role
from collector.followups import LIST_FILTERS
from collector.inventory import list_hosts
from collector.messages import in_language, local_moment
from collector.query_params import archive_query, parse_day_or_time
from collector.records import render
from collector.records.model import KINDS as RECORD_KINDS
from collector.records.service import RecordError, Records
from collector.services import services
from collector.store import today as today_store
from collector.store.db import DatabaseClock, reading
from collector.store.records import RecordFilter
from collector.store.tables import MAX_ROW_ID
from collector.store.tickets import TicketFilter
from collector.terms import say_term
from collector.tickets import STATES, TicketError, Tickets
from collector.web import data, history
from collector.web.i18n import LANGUAGES, Worded, choose, text
from collector.web.sessions import COOKIE, SESSION_TTL, Sessions, csrf_ok, csrf_token

__all__ = ["error_page", "is_page", "router", "sites"]

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)
_HERE = Path(__file__).resolve().parent
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True,
                          trim_blocks=True, lstrip_blocks=True)
LANG_COOKIE = "wardround_lang"
FORM_CAP = 64 * 1024
CSRF_REFUSED = Worded("error.msg.csrf")
NOT_PAGES = ("/api/", "/healthz", "/metrics", "/openapi.json")
ERROR_KINDS = (401, 403, 404, 405, 409, 413, 422, 503)
TICKET_ACTIONS = {"ack": "acknowledge", "resolve": "resolve", "close": "close", "onsite": "request_onsite",
                  "comments": "comment"}
REPORTED_VIA = ("phone", "email", "feedback", "wechat", "visit")
SATISFACTION = (5, 4, 3, 2, 1)  # the form's choices, best first


# -- plumbing -------------------------------------------------------------------------------

def _sessions(request: Request) -> Sessions:
    return services(request).sessions


def _records(request: Request) -> Records:
    return services(request).records


def _tickets(request: Request) -> Tickets:
    return services(request).tickets


def _lang(request: Request) -> str:
    return choose(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE),
                  request.headers.get("accept-language"))


def _login_redirect(request: Request) -> HTTPException:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTTPException(status_code=303, detail="log in first",
                         headers={"Location": f"/login?next={quote(target, safe='')}"})


def _who(request: Request) -> tuple[Person, str]:
    """The logged-in person and their session id; 303 to the login page otherwise."""
    session_id = request.cookies.get(COOKIE)
    person = _sessions(request).person(session_id)
    if person is None or session_id is None:
        raise _login_redirect(request)
    return person, session_id


def _page(request: Request, template: str, *, person: Person | None = None, session_id: str = "",
          status_code: int = 200, **context: Any) -> HTMLResponse:
    lang = _lang(request)

    def t(key: str, **values: Any) -> str:
        return text(lang, key, **values)

    zone = _zone(request)  # once per page, not once per time shown
    body = _env.get_template(template).render(
        t=t, lang=lang, languages=LANGUAGES, person=person, csrf=csrf_token(session_id) if session_id else "",
        may_write=person is not None and person.role >= Role.engineer, path=request.url.path,
        status_name=lambda s: t(f"status.{Status(int(s)).name}"), zone=str(zone),
        local=lambda v: _local(v, zone), term=lambda spec: _term(spec, lang), **context)
    response = HTMLResponse(body, status_code=status_code,
                            headers={"Cache-Control": "no-store", "X-Frame-Options": "SAMEORIGIN",
                                     "Content-Security-Policy": "default-src 'self'; style-src 'self'; "
                                                                "frame-ancestors 'self'; form-action 'self'",
                                     "Referrer-Policy": "same-origin"})
    query_lang = request.query_params.get("lang")
    if query_lang and query_lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, query_lang, max_age=365 * 86400, samesite="strict", httponly=True)
    return response


def sites(request: Request) -> list[str]:
    """Every site the pages offer in their site choices: those of the inventory and those with a policy."""
    with reading(services(request).engine) as conn:
        known = today_store.site_names(conn)
    return sorted(set(known) | set(_tickets(request).policies.sites))


def _term(spec: Any, lang: str) -> str:
    """A ticket's term (``{"within": "3wd", "clock": "business"}``) in words; "" without one."""
    if not isinstance(spec, dict) or not isinstance(spec.get("within"), str):
        return ""
    return say_term(spec["within"], lang, business=spec.get("clock") == "business")


def _zone(request: Request) -> ZoneInfo:
    """The zone pages show times in: the default policy's business calendar (records use their site's)."""
    return _tickets(request).policies.default.calendar.zone


def _local(value: Any, zone: ZoneInfo) -> str:
    """A time for people (:func:`collector.messages.local_moment`): ``YYYY-MM-DD HH:MM`` in ``zone``,
    which the footer names once; "—" for none."""
    return local_moment(value, zone, named=False) or "—"


async def _form(request: Request, person: Person, session_id: str) -> dict[str, str]:
    """The submitted form; 403 without a valid CSRF token or without the engineer role."""
    body = await read_body(request, FORM_CAP)
    fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    if not csrf_ok(session_id, fields.pop("csrf", None)):
        raise HTTPException(status_code=403, detail=CSRF_REFUSED)
    if person.role < Role.engineer:
        raise HTTPException(status_code=403, detail=Worded("error.msg.engineer"))
    return fields


def is_page(request: Request) -> bool:
    """Whether an error on this request is answered with an HTML page (not JSON)."""
    path = request.url.path
    return not any(path == p.rstrip("/") or path.startswith(p) for p in NOT_PAGES)


def said_by(exc: Exception) -> str:
    """What a service's refusal (collector/errors.py) says: the collector's own words keep their key
    (:func:`collector.messages.tsay`), so a page says them in its reader's language."""
    return exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else str(exc)


def refusal(exc: Exception, lang: str) -> str:
    """A service's refusal in the reader's language (the collector's own words; any other as it is)."""
    return in_language(said_by(exc), lang)


async def error_page(request: Request, status_code: int, detail: Any,
                     headers: Mapping[str, str] | None = None) -> Response:
    """``error.html`` for a refused or failed page request, in the reader's language."""
    session_id = request.cookies.get(COOKIE)
    person: Person | None = None
    if session_id:
        try:
            person = await run_in_threadpool(_sessions(request).person, session_id)
        except SQLAlchemyError:  # the database is down: the error page still renders, without the menu
            person = None
    kind = status_code if status_code in ERROR_KINDS else (500 if status_code >= 500 else 400)
    response = _page(request, "error.html", person=person, session_id=(session_id or "") if person else "",
                     status_code=status_code, status=status_code, kind=kind,
                     message=_detail_words(detail, _lang(request)))
    for name, value in (headers or {}).items():
        if name.lower() not in response.headers:
            response.headers[name] = value
    return response


def _detail_words(detail: Any, lang: str) -> str:
    """What a refusal's detail says in ``lang``: a page's words, a service's text, or a query's problems (the
    list :func:`collector.query_params.bad_query` and FastAPI's validation answer: each ``msg``)."""
    if isinstance(detail, Worded):
        return detail.in_language(lang)
    if isinstance(detail, str):
        return in_language(detail, lang)
    if isinstance(detail, list):
        words = [in_language(d["msg"], lang) for d in detail if isinstance(d, dict) and isinstance(d.get("msg"), str)]
        return joined(words, lang)
    return ""


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/today"


# -- login ----------------------------------------------------------------------------------

@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    lang = request.query_params.get("lang")  # "/?lang=zh_CN" asks for Today in that language
    return RedirectResponse(f"/today?lang={quote(lang, safe='')}" if lang else "/today", status_code=303)


@router.get("/static/style.css")
def style() -> Response:
    return FileResponse(_HERE / "static" / "style.css", media_type="text/css",
                        headers={"Cache-Control": "public, max-age=86400"})


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:  # noqa: A002 - the query name
    return _page(request, "login.html", next=_safe_next(next), error=None)


def _own_origin(request: Request) -> str:
    """``scheme://host[:port]`` as the browser addresses this collector (the scheme after trusted proxies)."""
    return f"{request.url.scheme}://{request.headers.get('host', '')}".lower()


def _cross_site(request: Request) -> str | None:
    """The foreign origin a browser says a form came from, or None when it came from our own pages.

    Browsers send ``Origin`` with every cross-origin POST (``Referer`` when
    older); a client that sends neither is not a browser that can be tricked.
    """
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if not referer:
            return None
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return None if origin.strip().lower() == _own_origin(request) else origin[:100]


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    foreign = _cross_site(request)
    if foreign is not None:
        # Login CSRF: another site's form must not log this browser in (with the attacker's token).
        log.warning("web login refused: the form came from %r, not from %s (behind a proxy: pass the Host "
                    "header and list the proxy in trusted_proxies)", foreign, _own_origin(request))
        return _page(request, "login.html", next="/today", error="login.cross_site", status_code=403)
    body = await read_body(request, FORM_CAP)
    fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    target = _safe_next(fields.get("next"))
    made = await run_in_threadpool(_sessions(request).login, fields.get("token", ""))
    if made is None:
        return _page(request, "login.html", next=target, error="login.refused", status_code=401)
    session_id, _person = made
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, session_id, max_age=int(SESSION_TTL.total_seconds()), httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    person, session_id = _who(request)
    body = await read_body(request, FORM_CAP)
    fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    if not csrf_ok(session_id, fields.get("csrf")):
        raise HTTPException(status_code=403, detail=CSRF_REFUSED)
    await run_in_threadpool(_sessions(request).logout, session_id, person)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


# -- hosts ----------------------------------------------------------------------------------

@router.get("/hosts", response_class=HTMLResponse)
def hosts_page(request: Request, site: str | None = None) -> Response:
    person, sid = _who(request)
    now = DatabaseClock(services(request).engine)()  # "silent" as the sweep judges it
    policies = _tickets(request).policies
    rows = []
    for h in list_hosts(services(request).engine, site or None):
        grace = policies.for_site(h["site"]).silent_after
        seen = h["last_seen"] or h["enrolled_at"]  # a host that never reported: since its enrolment
        last = datetime.fromisoformat(seen.replace("Z", "+00:00")) if seen else now
        rows.append({**h, "silent": now - last > grace and h["approval"] != "awaiting"})
    # worst first (Status.severity); a host that never reported sorts between WARNING and OK
    rows.sort(key=lambda h: (not h["silent"], -0.5 if h["worst_status"] is None
                             else -Status(h["worst_status"]).severity, h["site"], h["host"]))
    return _page(request, "hosts.html", person=person, session_id=sid, hosts=rows, site=site or "")


@router.get("/hosts/{site}/{host}", response_class=HTMLResponse)
def host_page(request: Request, site: str, host: str) -> Response:
    person, sid = _who(request)
    lang = _lang(request)
    engine = services(request).engine
    known = [h for h in list_hosts(engine, site) if h["host"] == host]
    if not known:
        raise HTTPException(status_code=404, detail=Worded("error.msg.no_host", host=host, site=site))
    items = data.host_items(engine, site, host, lang)
    history.host_history(engine, site, host, items, DatabaseClock(engine)(),
                         lambda key, **v: text(lang, key, **v), lang)
    tickets = _tickets(request).list(TicketFilter(states=("open", "acknowledged"), site=site, host=host), lang)
    return _page(request, "host.html", person=person, session_id=sid, host=known[0], items=items,
                 tickets=tickets)


# -- tickets --------------------------------------------------------------------------------

@router.get("/tickets", response_class=HTMLResponse)
def tickets_page(request: Request, state: str | None = None, site: str | None = None,
                 severity: str | None = None, followup: str | None = None) -> Response:
    person, sid = _who(request)
    severities = (int(severity),) if severity and severity.isdigit() and 1 <= int(severity) <= 4 else ()
    ledger = _tickets(request)
    waiting = ledger.waiting_followups(TicketFilter(site=site or None, severities=severities, limit=500),
                                       lang=_lang(request))
    if followup in LIST_FILTERS:  # the resolved tickets waiting for their customer follow-up
        shown = [t for t in waiting if t["followup_overdue"] or followup == "waiting"]
        return _page(request, "tickets.html", person=person, session_id=sid, tickets=shown, states=STATES,
                     state="resolved", site=site or "", severity=severity or "", followup=followup,
                     waiting=len(waiting), sites=sites(request))
    # the list shows what the filter says: live (open and acknowledged) unless asked for all or one state
    state = "all" if state == "" else state if state in (*STATES, "all") else "live"
    states = (state,) if state in STATES else (() if state == "all" else ("open", "acknowledged"))
    f = TicketFilter(states=states, site=site or None, severities=severities, limit=500)
    return _page(request, "tickets.html", person=person, session_id=sid, tickets=ledger.list(f, _lang(request)),
                 states=STATES, state=state, site=site or "",
                 severity=severity or "", followup="", waiting=len(waiting), sites=sites(request))


def _require_engineer(person: Person) -> None:
    if person.role < Role.engineer:
        raise HTTPException(status_code=403, detail=Worded("error.msg.engineer"))


def _new_ticket_page(request: Request, person: Person, sid: str, values: dict[str, Any], *,
                     error: str | None = None, status_code: int = 200) -> Response:
    policies = _tickets(request).policies
    n = max(len(p.levels) for p in (policies.default, *policies.sites.values()))
    levels = [(i, policies.default.levels[i - 1].name if i <= len(policies.default.levels) else "")
              for i in range(1, n + 1)]
    return _page(request, "ticket_new.html", person=person, session_id=sid, values=values, levels=levels,
                 vias=REPORTED_VIA, error=error, status_code=status_code)


@router.get("/tickets/new", response_class=HTMLResponse)
def ticket_form(request: Request) -> Response:
    person, sid = _who(request)
    _require_engineer(person)
    q = request.query_params
    values = {"site": q.get("site", ""), "host": q.get("host", ""), "severity": q.get("severity", ""),
              "reported_via": "phone"}
    return _new_ticket_page(request, person, sid, values)


@router.post("/tickets", response_class=HTMLResponse)
async def ticket_open(request: Request) -> Response:
    person, sid = _who(request)
    fields = await _form(request, person, sid)
    values = {k: v.strip() for k, v in fields.items()}
    severity: Any = values.get("severity", "")
    severity = int(severity) if severity.isdigit() and len(severity) < 3 else severity
    try:
        ticket, _created = await run_in_threadpool(lambda: _tickets(request).open_manual(
            actor=person.name, site=values.get("site", ""), host=values.get("host", ""), severity=severity,
            summary=values.get("summary", ""), reported_via=values.get("reported_via", ""),
            note=values.get("note") or None))
    except TicketError as exc:
        message, code = refusal(exc, _lang(request)), exc.status_code
        return await run_in_threadpool(lambda: _new_ticket_page(request, person, sid, values, error=message,
                                                                status_code=code))
    return RedirectResponse(f"/tickets/{ticket['id']}", status_code=303)


def _ticket_page(request: Request, person: Person, sid: str, ticket_id: int, *, error: str | None = None,
                 status_code: int = 200, values: Mapping[str, str] | None = None) -> Response:
    ticket = _tickets(request).get(ticket_id, _lang(request))  # TicketNotFound: the app's error page
    recent = history.recent_results(services(request).engine, ticket["site"], ticket["host"], ticket["check"],
                                    ticket["item"], _lang(request))
    return _page(request, "ticket.html", person=person, session_id=sid, ticket=ticket, error=error,
                 status_code=status_code, values=values or {}, scores=SATISFACTION, recent=recent)


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket_page(request: Request, ticket_id: RowId) -> Response:
    person, sid = _who(request)
    return _ticket_page(request, person, sid, ticket_id)


@router.post("/tickets/{ticket_id}/followup", response_class=HTMLResponse)
async def ticket_followup(request: Request, ticket_id: RowId) -> Response:
    """The customer follow-up form: satisfaction 1-5, contact, note."""
    person, sid = _who(request)
    fields = await _form(request, person, sid)
    raw = fields.get("satisfaction", "").strip()
    satisfaction: Any = int(raw) if raw.isdigit() and len(raw) < 3 else raw
    try:
        ticket = await run_in_threadpool(lambda: _tickets(request).follow_up(
            ticket_id, person.name, satisfaction=satisfaction, contact=fields.get("contact", ""),
            note=fields.get("note") or None))
    except TicketError as exc:
        message, code = refusal(exc, _lang(request)), exc.status_code
        return await run_in_threadpool(lambda: _ticket_page(request, person, sid, ticket_id, error=message,
                                                            status_code=code, values=fields))
    return RedirectResponse(f"/tickets/{ticket['id']}", status_code=303)


@router.post("/tickets/{ticket_id}/{action}", response_class=HTMLResponse)
async def ticket_action(request: Request, ticket_id: RowId, action: str) -> Response:
    person, sid = _who(request)
    if action not in TICKET_ACTIONS:
        raise HTTPException(status_code=404, detail=Worded("error.msg.not_found"))
    fields = await _form(request, person, sid)
    call = getattr(_tickets(request), TICKET_ACTIONS[action])
    try:
        await run_in_threadpool(call, ticket_id, person.name, fields.get("note") or None)
    except TicketError as exc:
        message, code = refusal(exc, _lang(request)), exc.status_code
        return await run_in_threadpool(lambda: _ticket_page(request, person, sid, ticket_id, error=message,
                                                            status_code=code))
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


# -- records --------------------------------------------------------------------------------

def _records_page(request: Request, person: Person, sid: str, *, site: str | None = None,
                  kind: str | None = None, values: dict[str, str] | None = None, error: str | None = None,
                  status_code: int = 200) -> Response:
    f = RecordFilter(site=site or None, kinds=(kind,) if kind in RECORD_KINDS else ())
    return _page(request, "records.html", person=person, session_id=sid, records=_records(request).list(f),
                 kinds=RECORD_KINDS, site=site or "", kind=kind or "", sites=sites(request),
                 values=values or {"kind": "daily"}, error=error, status_code=status_code)


@router.get("/records", response_class=HTMLResponse)
def records_page(request: Request, site: str | None = None, kind: str | None = None) -> Response:
    person, sid = _who(request)
    return _records_page(request, person, sid, site=site, kind=kind,
                         values={"site": site or "", "kind": kind or "daily"})


@router.post("/records", response_class=HTMLResponse)
async def record_issue(request: Request) -> Response:
    person, sid = _who(request)
    fields = await _form(request, person, sid)
    values = {k: v.strip() for k, v in fields.items()}
    try:
        record = await run_in_threadpool(lambda: _records(request).issue(
            site=values.get("site", ""), kind=values.get("kind", ""), period=values.get("date") or None,
            language=values.get("language") or None, actor=person.name))
    except RecordError as exc:
        message, code = refusal(exc, _lang(request)), exc.status_code
        return await run_in_threadpool(lambda: _records_page(request, person, sid, values=values, error=message,
                                                             status_code=code))
    return RedirectResponse(f"/records/{record.id}", status_code=303)


def _record(request: Request, record_id: int) -> Any:
    return _records(request).get(record_id)  # RecordNotFound: the app's error page


def _record_page(request: Request, person: Person, sid: str, record_id: int, *, error: str | None = None,
                 status_code: int = 200) -> Response:
    record = _record(request, record_id)
    return _page(request, "record.html", person=person, session_id=sid, record=record,
                 header=record.content.get("header", {}), error=error, status_code=status_code,
                 body=render.body(record))


@router.get("/records/{record_id}", response_class=HTMLResponse)
def record_page(request: Request, record_id: RowId) -> Response:
    person, sid = _who(request)
    return _record_page(request, person, sid, record_id)


@router.get("/records/{record_id}/content.html", response_class=HTMLResponse)
def record_html(request: Request, record_id: RowId) -> Response:
    _who(request)
    return HTMLResponse(render.html(_record(request, record_id)),
                        headers={"Cache-Control": "no-store", "X-Frame-Options": "SAMEORIGIN"})


def _record_file(request: Request, record_id: int, write: Callable[[Any], bytes], media_type: str,
                 suffix: str) -> Response:
    """Record ``record_id`` as a download ``record-ID.suffix``, written by ``write``."""
    _who(request)
    return Response(write(_record(request, record_id)), media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="record-{record_id}.{suffix}"'})


@router.get("/records/{record_id}/record.pdf")
def record_pdf(request: Request, record_id: RowId) -> Response:
    return _record_file(request, record_id, render.pdf, "application/pdf", "pdf")


@router.get("/records/{record_id}/record.csv")
def record_csv(request: Request, record_id: RowId) -> Response:
    return _record_file(request, record_id, render.csv_bytes, "text/csv; charset=utf-8", "csv")


@router.post("/records/{record_id}/sign", response_class=HTMLResponse)
async def record_sign(request: Request, record_id: RowId) -> Response:
    person, sid = _who(request)
    fields = await _form(request, person, sid)
    try:
        await run_in_threadpool(lambda: _records(request).sign(
            record_id, signer=fields.get("signer", ""), role=fields.get("role", ""),
            note=fields.get("note") or None, actor=person.name))
    except RecordError as exc:
        message, code = refusal(exc, _lang(request)), exc.status_code
        return await run_in_threadpool(lambda: _record_page(request, person, sid, record_id, error=message,
                                                            status_code=code))
    return RedirectResponse(f"/records/{record_id}", status_code=303)


# -- service archive ------------------------------------------------------------------------

@router.get("/archive", response_class=HTMLResponse)
async def archive_page(request: Request) -> Response:
    person, sid = _who(request)
    q = request.query_params
    kinds = [q["kind"]] if q.get("kind") else []
    query = archive_query(site=q.get("site"), host=None, kinds=kinds,
                          start=parse_day_or_time("from", q.get("from")),
                          end=parse_day_or_time("to", q.get("to")), current_only=False, limit=1000)
    archive = services(request).archive
    entries = await run_in_threadpool(archive.list, query)
    return _page(request, "archive.html", person=person, session_id=sid, entries=list(reversed(entries)),
                 kinds=ARCHIVE_KINDS, site=q.get("site", ""), kind=q.get("kind", ""),
                 start=q.get("from", ""), end=q.get("to", ""))


@router.get("/archive/new", response_class=HTMLResponse)
async def archive_form(request: Request) -> Response:
    person, sid = _who(request)
    if person.role < Role.engineer:
        raise HTTPException(status_code=403, detail=Worded("error.msg.engineer"))
    values: dict[str, Any] = {"ticket": request.query_params.get("ticket", "")}
    corrects = request.query_params.get("corrects", "")
    if corrects.isdigit() and int(corrects) <= MAX_ROW_ID:
        old = services(request).archive.get(int(corrects))  # ArchiveNotFound: the app's error page
        values = {k: old[k] or "" for k in ("site", "host", "kind", "phenomenon", "action", "parts",
                                            "version", "signer", "ticket")}
        values["corrects"] = old["id"]
        zone = services(request).archive.zone(old["site"])
        values["at"] = _local(old["at"], zone).replace(" ", "T")
    return _page(request, "archive_new.html", person=person, session_id=sid, kinds=ARCHIVE_KINDS,
                 values=values, error=None)


@router.post("/archive", response_class=HTMLResponse)
async def archive_add(request: Request) -> Response:
    person, sid = _who(request)
    fields = await _form(request, person, sid)
    doc = {k: v.strip() for k, v in fields.items() if v.strip()}
    archive = services(request).archive
    try:
        await run_in_threadpool(lambda: archive.add(doc, engineer=person.name))
    except ArchiveError as exc:
        return _page(request, "archive_new.html", person=person, session_id=sid, kinds=ARCHIVE_KINDS,
                     values=fields, error=refusal(exc, _lang(request)), status_code=exc.status_code)
    return RedirectResponse(f"/archive?site={quote(doc.get('site', ''))}", status_code=303)
