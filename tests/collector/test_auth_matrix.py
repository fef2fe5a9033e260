"""Who may call what, endpoint by endpoint, as the contract says (docs/api.md, /work/shared/contract.md).

The endpoint list comes from the app's own routes: a new endpoint without a
line in ``WHO`` fails :func:`test_every_endpoint_has_a_line_in_the_matrix`.
Every endpoint is then called with no token, a wrong token, an agent's
token, a site relay's token and a viewer's, engineer's and admin's: 401 for no or a wrong token,
403 for a valid token that may not, and anything else (200, 404, 422...)
for one that may.  The pages (collector/web) answer sessions, not tokens:
they are held by tests/collector/test_web.py.
"""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from collector.auth import create_user
from collector.relays import create_relay_token

# Who may call each endpoint: "anyone", "agent", "viewer" (any person), "engineer" (engineer or admin), "admin".
WHO = {
    ("GET", "/healthz"): "anyone",
    ("GET", "/metrics"): "anyone",
    ("GET", "/openapi.json"): "viewer",
    ("GET", "/docs"): "viewer",
    ("GET", "/docs/assets/{name}"): "viewer",
    ("POST", "/api/v1/results"): "agent or relay",
    ("GET", "/api/v1/relay/sync"): "relay",
    ("GET", "/api/v1/results"): "viewer",
    ("GET", "/api/v1/hosts"): "viewer",
    ("GET", "/api/v1/tickets"): "viewer",
    ("POST", "/api/v1/tickets"): "engineer",
    ("GET", "/api/v1/tickets/{ticket_id}"): "viewer",
    ("POST", "/api/v1/tickets/{ticket_id}/ack"): "engineer",
    ("POST", "/api/v1/tickets/{ticket_id}/resolve"): "engineer",
    ("POST", "/api/v1/tickets/{ticket_id}/close"): "engineer",
    ("POST", "/api/v1/tickets/{ticket_id}/onsite"): "engineer",
    ("POST", "/api/v1/tickets/{ticket_id}/comments"): "engineer",
    ("POST", "/api/v1/tickets/{ticket_id}/followup"): "engineer",
    ("GET", "/api/v1/records"): "viewer",
    ("POST", "/api/v1/records"): "engineer",
    ("GET", "/api/v1/records/{ref}"): "viewer",
    ("POST", "/api/v1/records/{record_id}/sign"): "engineer",
    ("GET", "/api/v1/records/{record_id}/verify"): "viewer",
    ("GET", "/api/v1/archive"): "viewer",
    ("POST", "/api/v1/archive"): "engineer",
    ("GET", "/api/v1/archive/{entry_id}"): "viewer",
    ("GET", "/api/v1/audit"): "admin",
    ("POST", "/api/v1/enrol"): "enrolment key",
    ("GET", "/api/v1/agent/config"): "agent",
    ("GET", "/api/v1/agent/token"): "agent",
    ("GET", "/api/v1/tokens"): "admin",
    ("POST", "/api/v1/tokens/revoke"): "admin",
    ("POST", "/api/v1/tokens/rotate"): "admin",
    ("GET", "/api/v1/users"): "admin",
    ("POST", "/api/v1/users/{name}/disable"): "admin",
    ("POST", "/api/v1/users/{name}/token"): "admin",
    ("GET", "/api/v1/enrol-keys"): "admin",
    ("POST", "/api/v1/enrol-keys"): "admin",
    ("POST", "/api/v1/enrol-keys/{key_id}/revoke"): "admin",
    ("GET", "/api/v1/fleet"): "viewer",
    ("POST", "/api/v1/fleet"): "admin",
    ("POST", "/api/v1/hosts/{site}/{host}/retire"): "admin",
    ("POST", "/api/v1/hosts/{site}/{host}/approve"): "admin",
}
CALLERS = ("none", "wrong", "agent", "relay", "viewer", "engineer", "admin")
# "enrolment key": no caller here holds one (tests/collector/test_fleet.py enrols): every token is 403
MAY = {"anyone": set(CALLERS), "agent": {"agent"}, "relay": {"relay"},
       "agent or relay": {"agent", "relay"}, "viewer": {"viewer", "engineer", "admin"},
       "engineer": {"engineer", "admin"}, "admin": {"admin"}, "enrolment key": set()}


def _endpoints(app) -> set[tuple[str, str]]:
    out = set()
    for context in iter_route_contexts(app.routes):  # routers are included lazily: walk their routes
        route = context.original_route
        assert isinstance(route, APIRoute), route  # a mount or a plain route would escape this matrix
        if not route.endpoint.__module__.startswith("collector.web."):  # the pages
            out |= {(method, context.path) for method in context.methods - {"HEAD"}}
    return out


def test_every_endpoint_has_a_line_in_the_matrix(app):
    assert _endpoints(app) == set(WHO)


@pytest.fixture
def headers(engine, agent_token):
    return {"none": {}, "wrong": {"Authorization": "Bearer wru_not-a-token"},
            "agent": {"Authorization": f"Bearer {agent_token}"},
            "relay": {"Authorization": f"Bearer {create_relay_token(engine, site='s')}"},
            **{role: {"Authorization": f"Bearer {create_user(engine, name=role, role=role)}"}
               for role in ("viewer", "engineer", "admin")}}


def test_each_endpoint_answers_each_caller_as_the_contract_says(client, headers):
    wrong: list[str] = []
    for (method, path), who in sorted(WHO.items()):
        url = path.format(ticket_id=1, record_id=1, entry_id=1, ref="1", name="nobody", key_id=1, site="s",
                          host="h")
        for caller in CALLERS:
            r = client.request(method, url, headers=headers[caller], content=b"{}" if method == "POST" else None)
            if caller in MAY[who]:
                ok = r.status_code not in (401, 403) and r.status_code < 500
            elif caller in ("none", "wrong"):
                ok = r.status_code == 401 and r.headers.get("www-authenticate") == "Bearer"
            else:
                ok = r.status_code == 403
            if not ok:
                wrong.append(f"{method} {path} as {caller}: {r.status_code} {r.text[:120]}")
    assert not wrong, "\n".join(wrong)
