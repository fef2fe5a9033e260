"""``/api/v1/hosts``: the inventory — every enrolled host and every host that reported.

Each with its roles, approval, last-seen time (null and ``never_reported`` for a host
that never reported), worst current status, agent version and config version
(:mod:`collector.inventory`).  ``retired=true`` includes retired hosts.  Beside them, ``relays``: the
site relays with a live token, their last contact, backlog and version (:func:`collector.relays.list_relays`;
``host list`` prints them under its table).
"""

from __future__ import annotations

from fastapi import APIRouter

from collector import inventory, relays
from collector.api import JSON
from collector.api.deps import EngineDep, PersonDep
from collector.api.models import HostList
from collector.api.openapi import errors

router = APIRouter()


@router.get("/hosts", response_class=JSON, response_model=HostList, responses=errors(401, 403, 422, 503))
def get_hosts(_person: PersonDep, engine: EngineDep, site: str | None = None, retired: bool = False) -> JSON:
    return JSON({"hosts": inventory.list_hosts(engine, site, retired=retired),
                 "relays": relays.list_relays(engine, site)})
