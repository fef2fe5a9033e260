"""``/api/v1/hosts``: every host with its last-seen time and worst current status."""

from __future__ import annotations

from fastapi import APIRouter

from collector import views
from collector.api import JSON
from collector.api.deps import EngineDep, PersonDep
from collector.api.models import HostList
from collector.api.openapi import errors

router = APIRouter()


@router.get("/hosts", response_class=JSON, response_model=HostList, responses=errors(401, 403, 503))
def get_hosts(_person: PersonDep, engine: EngineDep) -> JSON:
    return JSON({"hosts": views.list_hosts(engine)})
