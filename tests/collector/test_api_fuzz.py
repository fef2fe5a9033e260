"""Schemathesis against a live collector: no 5xx, and every answer is what /openapi.json says it is.

A real ``wardround-collector serve`` process on SQLite, seeded with a host,
results, tickets and a record so that the ids schemathesis tries now and
then name something.  The schema is fetched from the collector itself with a
person's token.  Every operation gets generated requests (valid and
invalid, fixed seed: ``derandomize``) sent with the lowest token its role
allows — the agent's for ``POST /results``, a viewer's for reads, an
engineer's for writes, an admin's for the audit log — and each answer must be: not a server error, a
documented status, the documented content type, and valid against the
documented schema.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from checks.result import Metric, Status
from collector.app import create_app
from collector.auth import create_agent_token, create_user
from collector.config import Settings
from collector.enrol import create_key
from collector.keys import Keyring
from collector.store.db import make_engine
from collector.store.migrate import upgrade
from tests.collector.conftest import HOST, SITE, make_result, serving

EXAMPLES = 200  # per operation (21 operations, valid and invalid requests): about 40 s on this machine
# The fleet's admin and agent operations (16) are simple validate-and-call handlers over the same body
# reader: fewer examples each, so the run stays about a minute
FLEET_EXAMPLES = 50
FLEET_PATHS = r"^/api/v1/(tokens|users|enrol-keys|enrol$|fleet|agent/|hosts/\{)"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class Live:
    def __init__(self, url: str, tokens: dict[str, str]) -> None:
        self.url, self.tokens = url, tokens

    def call(self, method: str, path: str, token: str, body: Any = None) -> Any:
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     data=orjson.dumps(body) if body is not None else None,
                                     headers={"Authorization": f"Bearer {self.tokens[token]}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return orjson.loads(r.read())


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("fuzz")
    db = f"sqlite:///{tmp}/fuzz.db"
    engine = make_engine(db)
    upgrade(engine)
    tokens = {"agent": create_agent_token(engine, site=SITE, host=HOST),
              "viewer": create_user(engine, name="vera", role="viewer"),
              "engineer": create_user(engine, name="erin", role="engineer"),
              "admin": create_user(engine, name="adam", role="admin"),
              "enrol": create_key(engine, site=SITE, uses=100_000)}
    engine.dispose()
    with serving(tmp, "--db", db, "--log-level", "warning") as (url, _log):
        live = Live(url, tokens)
        _seed(live)
        yield live


def _seed(live: Live) -> None:
    now = datetime.now(UTC)
    results = [make_result(check="disk", item="/", status=Status.CRITICAL, started_at=now - timedelta(minutes=m),
                           metrics=(Metric("used_percent", 95.0, "%", warn=80, crit=90),)) for m in (2, 1)]
    results.append(make_result(check="backup_files", item="/backups", status=Status.CRITICAL, started_at=now))
    live.call("POST", "/api/v1/results", "agent", {"results": results})
    live.call("POST", "/api/v1/tickets", "engineer", {"site": SITE, "host": HOST, "severity": 2,
                                                      "summary": "HIS slow", "reported_via": "phone"})
    followed = live.call("POST", "/api/v1/tickets", "engineer", {"site": SITE, "host": HOST, "severity": 3,
                                                                 "summary": "printer", "reported_via": "phone"})
    live.call("POST", f"/api/v1/tickets/{followed['id']}/resolve", "engineer")  # a follow-up and its complaint
    live.call("POST", f"/api/v1/tickets/{followed['id']}/followup", "engineer",
              {"satisfaction": 2, "contact": "王主任", "note": "slow"})
    live.call("POST", "/api/v1/records", "engineer", {"site": SITE, "kind": "daily"})
    live.call("POST", "/api/v1/archive", "engineer", {"site": SITE, "kind": "visit", "at": now.isoformat(),
                                                      "phenomenon": "disk full", "action": "cleaned up"})


def _document() -> dict[str, Any]:
    """The document the collector serves, built from the same code (the live one is compared below)."""
    app = create_app(Settings(db_url="sqlite:///never-opened.db"), keys=Keyring.of(Ed25519PrivateKey.generate()))
    try:
        return app.openapi()
    finally:
        app.state.services.engine.dispose()


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT)
core = schema.exclude(path_regex=FLEET_PATHS)
fleet_operations = schema.include(path_regex=FLEET_PATHS)


ADMIN_PATHS = ("/api/v1/audit", "/api/v1/tokens", "/api/v1/users", "/api/v1/enrol-keys", "/api/v1/hosts/{site}")


def _token_for(method: str, path: str) -> str:
    if path == "/api/v1/results" and method == "POST" or path.startswith("/api/v1/agent/"):
        return "agent"
    if path == "/api/v1/enrol":
        return "enrol"
    if path.startswith(ADMIN_PATHS) or (path == "/api/v1/fleet" and method == "POST"):
        return "admin"
    return "viewer" if method == "GET" else "engineer"


@core.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck),
          database=None)
def test_every_operation_answers_as_documented_and_never_5xx(case, live):
    token = live.tokens[_token_for(case.method, case.path)]
    case.call_and_validate(base_url=live.url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS,
                           timeout=30)


@fleet_operations.parametrize()
@settings(max_examples=FLEET_EXAMPLES, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck),
          database=None)
def test_every_fleet_operation_answers_as_documented_and_never_5xx(case, live):
    token = live.tokens[_token_for(case.method, case.path)]
    case.call_and_validate(base_url=live.url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS,
                           timeout=30)


def test_the_two_runs_together_cover_every_operation():
    every = {(m.upper(), p) for p, ops in DOCUMENT["paths"].items() for m in ops}
    fleet = {(m, p) for m, p in every if re.match(FLEET_PATHS, p)}
    assert len(fleet) == 16 and ("POST", "/api/v1/enrol") in fleet and ("GET", "/api/v1/hosts") not in fleet


def test_fuzzed_document_is_the_one_the_live_collector_serves(live):
    assert live.call("GET", "/openapi.json", "viewer") == orjson.loads(orjson.dumps(DOCUMENT))
    operations = {(method.upper(), path) for path, ops in DOCUMENT["paths"].items() for method in ops}
    assert ("POST", "/api/v1/results") in operations and ("GET", "/api/v1/records/{ref}") in operations
