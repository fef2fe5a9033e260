"""``/api/v1/hosts``: every host with its last-seen time and worst current status."""

from __future__ import annotations

from fastapi import APIRouter

from collector import views
from collector.api import JSON
from collector.api.deps import EngineDep, PersonDep

router = APIRouter()


@router.get("/hosts", response_class=JSON)
def get_hosts(_person: PersonDep, engine: EngineDep) -> JSON:
    return JSON({"hosts": views.list_hosts(engine)})
