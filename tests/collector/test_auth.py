"""Who may call what: 401 for a missing or unknown token, 403 for the wrong kind or role."""

from __future__ import annotations

import hashlib
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from collector.auth import Agent, Person, Role, authenticate, create_agent_token, create_user
from collector.credentials import rotate_token
from collector.store.tables import agent_tokens, users
from tests.collector.conftest import HOST, SITE, make_batch


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer ", "Basic dXNlcjpwdw==", "Bearer wra_nope",
                                    "Bearer wru_nope", "token-without-scheme"])
def test_post_results_is_unauthorized_when_token_missing_or_unknown(client, header):
    headers = {"Authorization": header} if header is not None else {}
    r = client.post("/api/v1/results", json={"results": []}, headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert "detail" in r.json()


@pytest.mark.parametrize("path", ["/api/v1/results", "/api/v1/hosts"])
def test_reads_are_unauthorized_when_no_token(client, path):
    r = client.get(path)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", ["/api/v1/results", "/api/v1/hosts"])
def test_reads_are_forbidden_when_agent_token(client, agent_headers, path):
    assert client.get(path, headers=agent_headers).status_code == 403


def test_post_results_is_forbidden_when_person_token(client, viewer_headers):
    r = client.post("/api/v1/results", json={"results": make_batch(1)}, headers=viewer_headers)
    assert r.status_code == 403


def test_token_is_unauthorized_when_revoked(client, engine, agent_token, agent_headers):
    with engine.begin() as conn:
        conn.execute(update(agent_tokens).values(revoked_at=agent_tokens.c.created_at))
    assert client.post("/api/v1/results", json={"results": []}, headers=agent_headers).status_code == 401


def test_tokens_are_stored_only_as_sha256_when_created(engine, db_url):
    agent = create_agent_token(engine, site=SITE, host=HOST)
    person = create_user(engine, name="erin", role="engineer")
    assert agent.startswith("wra_") and person.startswith("wru_")
    with engine.connect() as conn:
        agent_hash = conn.execute(select(agent_tokens.c.token_hash)).scalar_one()
        person_hash = conn.execute(select(users.c.token_hash)).scalar_one()
    assert agent_hash == hashlib.sha256(agent.encode()).hexdigest()
    assert person_hash == hashlib.sha256(person.encode()).hexdigest()
    if db_url.startswith("sqlite"):
        engine.dispose()  # checkpoint the WAL so the file holds everything
        raw = Path(db_url.removeprefix("sqlite:///")).read_bytes()
        assert agent.encode() not in raw and person.encode() not in raw


def test_authenticate_returns_principal_when_token_known(engine):
    agent = create_agent_token(engine, site=SITE, host=HOST)
    person = create_user(engine, name="adam", role="admin")
    assert authenticate(engine, agent) == Agent(site=SITE, host=HOST)
    assert authenticate(engine, person) == Person(name="adam", role=Role.admin)
    assert authenticate(engine, agent + "x") is None


def test_roles_are_ordered_when_compared():
    assert Role.viewer < Role.engineer < Role.admin


def test_a_rotated_tokens_principal_ends_its_grace_when_stored_in_utc(engine):
    token = create_agent_token(engine, site=SITE, host=HOST, also_hosts=["nas-01"])
    rotate_token(engine, site=SITE, host=HOST, grace=timedelta(hours=1))
    agent = authenticate(engine, token)
    with engine.connect() as conn:
        stored = conn.execute(select(agent_tokens.c.expires_at).where(agent_tokens.c.revoked_at.is_(None),
                                                                      agent_tokens.c.expires_at.is_not(None)))
        expires_at = stored.scalar_one()
    assert isinstance(agent, Agent) and agent.also_hosts == frozenset({"nas-01"}) and agent.approved
    assert agent.expires_at == expires_at and agent.expires_at.tzinfo is UTC
