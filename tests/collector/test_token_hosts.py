"""Agent tokens with extra hosts (``token create --also-host``): who may write what, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from checks.result import Status
from collector.app import create_app
from collector.auth import Agent, authenticate, create_agent_token
from collector.config import Settings
from collector.ingest import Ingestor, parse_batch
from collector.policy import default_policies
from collector.store.db import reading
from collector.store.tables import agent_token_hosts, agent_tokens, results
from collector.store.tickets import TicketFilter
from collector.tickets import Tickets
from tests.collector.conftest import HOST, SITE, make_result
from tests.collector.test_cli import in_process as cli  # main in this process: what the command does


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stored(engine: Any) -> int:
    with reading(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(results)).scalar_one())


def test_token_with_also_hosts_authenticates_with_its_grants_when_created(engine):
    token = create_agent_token(engine, site=SITE, host=HOST, also_hosts=["lab-nas-01", "old-lis-01", HOST])
    assert authenticate(engine, token) == Agent(site=SITE, host=HOST,
                                                also_hosts=frozenset({"lab-nas-01", "old-lis-01"}))
    plain = create_agent_token(engine, site=SITE, host="his-db-02")
    assert authenticate(engine, plain) == Agent(site=SITE, host="his-db-02")


def test_agent_writes_for_a_granted_host_and_hosts_list_it_when_it_sends_its_results(client, engine,
                                                                                     viewer_headers):
    token = create_agent_token(engine, site=SITE, host=HOST, also_hosts=["lab-nas-01"])
    batch = [make_result(), make_result(host="lab-nas-01", check="ssh", item="df:/volume1"),
             make_result(host="lab-nas-01", check="ssh", item="uptime")]
    body = {"results": batch, "agent": {"version": "9.9", "spool_backlog": 3}}
    r = client.post("/api/v1/results", json=body, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert sorted(r.json()["accepted"]) == sorted(b["id"] for b in batch)
    hosts = {h["host"]: h for h in client.get("/api/v1/hosts", headers=viewer_headers).json()["hosts"]}
    assert set(hosts) == {HOST, "lab-nas-01"}
    nas = hosts["lab-nas-01"]
    assert nas["site"] == SITE and nas["last_seen"] and nas["worst_status"] == 0
    assert hosts[HOST].get("agent_version") == "9.9"
    assert nas.get("agent_version") is None and nas.get("spool_backlog") is None  # the agent's, not the NAS's
    found = client.get("/api/v1/results?host=lab-nas-01", headers=viewer_headers).json()["results"]
    assert sorted(x["item"] for x in found) == ["df:/volume1", "uptime"]


def test_batch_is_forbidden_whole_when_it_holds_a_host_the_token_was_not_granted(client, engine):
    token = create_agent_token(engine, site=SITE, host=HOST, also_hosts=["lab-nas-01"])
    batch = [make_result(), make_result(host="lab-nas-01"), make_result(host="lab-nas-02")]
    r = client.post("/api/v1/results", json={"results": batch}, headers=bearer(token))
    assert r.status_code == 403
    detail = r.json()["detail"]
    assert f"writes for {SITE}/{HOST} (and lab-nas-01) only" in detail
    assert f"e.g. {SITE}/lab-nas-02" in detail and "--also-host lab-nas-02" in detail
    assert stored(engine) == 0  # nothing of the batch


def test_granted_host_is_refused_when_the_result_names_another_site(client, engine):
    token = create_agent_token(engine, site=SITE, host=HOST, also_hosts=["lab-nas-01"])
    body = {"results": [make_result(site="other-hospital", host="lab-nas-01")]}
    r = client.post("/api/v1/results", json=body, headers=bearer(token))
    assert r.status_code == 403 and stored(engine) == 0
    detail = r.json()["detail"]
    # another site: no grant can allow it, so no --also-host hint
    assert "--also-host" not in detail and "a token writes for one site only" in detail
    assert "needs a token of that site" in detail


def test_token_without_grants_still_writes_only_its_own_host_when_another_has_grants(client, engine):
    create_agent_token(engine, site=SITE, host="his-app-01", also_hosts=["lab-nas-01"])
    plain = create_agent_token(engine, site=SITE, host=HOST)
    body = {"results": [make_result(host="lab-nas-01")]}
    r = client.post("/api/v1/results", json=body, headers=bearer(plain))
    assert r.status_code == 403


def test_cli_token_create_with_also_host_prints_a_token_that_writes_for_it_when_run(db_url, engine):
    out = cli("token", "create", "--site", SITE, "--host", HOST, "--also-host", "lab-nas-01",
              "--also-host", "old-lis-01", "--db", db_url)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-2].startswith(f"agent token for {SITE}/{HOST}, also writes for lab-nas-01, old-lis-01 ")
    token = lines[-1]
    with TestClient(create_app(Settings(db_url=db_url), engine=engine)) as client:
        ok = client.post("/api/v1/results", json={"results": [make_result(host="old-lis-01")]},
                         headers=bearer(token))
        assert ok.status_code == 200, ok.text


def test_cli_refuses_a_bad_also_host_and_stores_no_token_when_the_name_breaks_the_rules(db_url, engine):
    out = cli("token", "create", "--site", SITE, "--host", HOST, "--also-host", "lab nas", "--db", db_url)
    assert out.returncode == 2  # a usage error
    assert "also-host: expected 1-64 letters" in out.stderr and "Traceback" not in out.stderr
    assert out.stdout.strip() == ""
    with reading(engine) as conn:
        assert conn.execute(select(func.count()).select_from(agent_tokens)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(agent_token_hosts)).scalar_one() == 0


def test_cli_help_describes_also_host_when_asked():
    out = cli("token", "create", "--help")
    assert out.returncode == 0 and "--also-host NAME" in out.stdout and "repeatable" in out.stdout


def test_ticket_opens_under_the_remote_host_when_its_backup_fails_in_a_mixed_batch(engine):
    now = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    tickets = Tickets(engine, default_policies(), clock=lambda: now)
    agent = Agent(site=SITE, host=HOST, also_hosts=frozenset({"lab-nas-01"}))
    body = orjson.dumps({"results": [
        make_result(started_at=now),
        make_result(host="lab-nas-01", check="backup_files", item="/volume1/*.bak", status=Status.CRITICAL,
                    started_at=now, summary="no backup since Sunday"),
    ]})
    Ingestor(engine, tickets=tickets).store(agent, parse_batch(body, now), now)
    [t] = tickets.list(TicketFilter())
    assert (t["site"], t["host"], t["check"], t["state"]) == (SITE, "lab-nas-01", "backup_files", "open")
