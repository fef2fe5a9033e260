"""The Today page (``/today``, where login lands): each site's patrol of the day (:mod:`collector.today`).

Filters: ``site`` (one site) and ``mine=1`` (only the tickets the logged-in person acknowledged or is
assigned).  Every line links to its detail: a host to its page, a backup to its host's item, a ticket
to the ticket, the record to the record (or, not issued, to the records page of the site).  A panel shows
its first :data:`SHOWN_LINES` lines (worst first) and links to the site's full list for the rest; a backup
that was done is counted, not listed.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from checks._units import format_value
from collector import today as day
from collector.messages import ticket_summary
from collector.services import services
from collector.web.routes import _lang, _page, _tickets, _who, sites

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
SHOWN_LINES = 20  # lines per panel; the rest behind a link to the full list (hosts, tickets of the site)


@router.get("/today", response_class=HTMLResponse)
def today_page(request: Request, site: str | None = None, mine: str | None = None) -> Response:
    person, sid = _who(request)
    lang = _lang(request)
    engine = services(request).engine
    days = day.today(engine, _tickets(request).policies, site=site or None, mine=person.name if mine else None)
    for d in days:
        for t in d.tickets[:SHOWN_LINES]:
            t["left_text"] = format_value(abs(t["left"]), "s", lang)
            t["summary"] = ticket_summary(t["summary"], t["check"], t["item"], t["messages"], lang)
    return _page(request, "today.html", person=person, session_id=sid, days=days, site=site or "",
                 sites=sorted(set(sites(request)) | {d.site for d in days}),
                 mine=bool(mine), shown_lines=SHOWN_LINES, states=day.HOST_STATES, outcomes=day.BACKUP_OUTCOMES)
