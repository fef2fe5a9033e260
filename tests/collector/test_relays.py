"""The collector's side of a site relay: its token, what it may forward, provenance, token sync, inventory.

The relay itself (agent/relay.py) runs as a real process in tests/e2e/test_relay.py.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from collector.auth import create_agent_token
from collector.relays import create_relay_token, list_relays
from collector.store import tables
from collector.store.db import reading
from collector.store.tables import relay_batches, relay_results, relays, results
from collector.store.tickets import TicketFilter
from tests.collector.conftest import HOST, SITE, make_batch
from tests.collector.test_cli import in_process


@pytest.fixture
def relay_headers(engine, agent_token):
    return {"Authorization": f"Bearer {create_relay_token(engine, site=SITE, name='front-01')}"}


def _count(engine, table):
    with reading(engine) as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_relay_forwards_its_sites_enrolled_hosts_and_the_collector_records_which_relay_carried_them(
        client, engine, relay_headers):
    create_agent_token(engine, site=SITE, host="pacs-02")
    batch = make_batch(3) + make_batch(2, host="pacs-02")
    agents = {HOST: {"version": "1.2.3", "config_version": "v4-abc", "spool_backlog": 2}}
    r = client.post("/api/v1/results", json={"results": batch, "agent": {
        "spool_backlog": 7, "version": "9.9", "agents": agents}}, headers=relay_headers)
    assert r.status_code == 200, r.text
    assert len(r.json()["accepted"]) == 5
    again = client.post("/api/v1/results", json={"results": batch}, headers=relay_headers)
    assert len(again.json()["duplicates"]) == 5
    with reading(engine) as conn:
        carried = conn.execute(select(relay_results.c.uid, relays.c.name).select_from(
            relay_results.join(relay_batches).join(relays))).all()
        batches = conn.execute(select(relay_batches.c.results, relay_batches.c.accepted)
                               .order_by(relay_batches.c.id)).all()
    assert sorted(u for u, _ in carried) == sorted(b["id"] for b in batch)
    assert {n for _, n in carried} == {"front-01"}
    assert [tuple(b) for b in batches] == [(5, 5), (5, 0)]
    with reading(engine) as conn:  # each host behind the relay is seen; the relay itself is no host
        seen = set(conn.execute(select(tables.hosts.c.host)).scalars())
    assert seen == {HOST, "pacs-02"}
    with reading(engine) as conn:  # each agent's own facts, as the relay passed them on; not the relay's
        facts = {r.host: (r.agent_version, r.config_version, r.spool_backlog) for r in conn.execute(
            select(tables.hosts.c.host, tables.hosts.c.agent_version, tables.hosts.c.config_version,
                   tables.hosts.c.spool_backlog))}
    assert facts == {HOST: ("1.2.3", "v4-abc", 2), "pacs-02": (None, None, None)}
    [shown] = list_relays(engine, SITE)
    assert shown["relay"] == "front-01" and shown["backlog"] == 7 and shown["version"] == "9.9"
    assert shown["last_contact"] is not None


def test_a_relay_may_not_forward_another_sites_host_or_a_host_not_enrolled(client, engine, relay_headers):
    for batch in (make_batch(2, site="other-site"), make_batch(1, host="never-enrolled"),
                  make_batch(1, host="front-01")):  # the relay's own name is no host
        r = client.post("/api/v1/results", json={"results": make_batch(1) + batch}, headers=relay_headers)
        assert r.status_code == 403, r.text
        assert "enrolled hosts of site" in r.json()["detail"]
    assert _count(engine, results) == 0


def test_a_relay_token_is_not_an_agent_token(client, relay_headers):
    for path in ("/api/v1/agent/config", "/api/v1/agent/token"):
        r = client.get(path, headers=relay_headers)
        assert r.status_code == 403 and "not a relay token" in r.json()["detail"]
    r = client.post("/api/v1/enrol", json={}, headers=relay_headers)
    assert r.status_code == 403


def test_sync_lists_the_live_token_hashes_of_the_relays_site_only(client, engine, relay_headers, agent_token):
    from collector.auth import hash_token
    from collector.credentials import revoke_token

    other = create_agent_token(engine, site="other-site", host="x")
    gone = create_agent_token(engine, site=SITE, host="to-revoke")
    first = client.get("/api/v1/relay/sync?backlog=3", headers=relay_headers).json()
    hashes = {t["hash"]: t["host"] for t in first["tokens"]}
    assert hashes == {hash_token(agent_token): HOST, hash_token(gone): "to-revoke"}
    assert hash_token(other) not in hashes and first["site"] == SITE and first["relay"] == "front-01"
    revoke_token(engine, site=SITE, host="to-revoke")
    after = client.get("/api/v1/relay/sync", headers=relay_headers).json()
    assert {t["hash"] for t in after["tokens"]} == {hash_token(agent_token)}
    assert client.get("/api/v1/relay/sync", headers={"Authorization": f"Bearer {agent_token}"}).status_code == 403
    assert list_relays(engine, SITE)[0]["backlog"] == 3


def test_token_create_relay_prints_the_token_on_the_last_line_and_refuses_a_second_of_the_same_name(db_url):
    def cli(*args: str) -> subprocess.CompletedProcess[str]:  # main in this process (test_cli.in_process)
        return in_process("token", "create", *args, "--db", db_url)

    made = cli("--relay", "--site", "s1")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().splitlines()[-1].startswith("wrr_")
    twice = cli("--relay", "--site", "s1")
    assert twice.returncode == 1 and "has a relay 'relay' already" in twice.stderr
    assert cli("--relay", "--site", "s1", "--host", "front-02").returncode == 0
    revoke = in_process("token", "revoke", "--relay", "--site", "s1", "--host", "relay", "--db", db_url)
    assert revoke.returncode == 0 and "revoked the token of relay relay" in revoke.stdout
    assert cli("--relay", "--site", "s1").returncode == 0  # the name is free again, with a new token
    no_host = cli("--site", "s1")
    assert no_host.returncode == 2 and "--host is required" in no_host.stderr


def test_a_silent_relay_opens_one_relay_silent_ticket_not_one_per_agent_and_its_contact_resolves_it(
        client, engine, relay_headers):
    from collector.tickets import Tickets

    create_agent_token(engine, site=SITE, host="pacs-02")
    r = client.post("/api/v1/results", json={"results": make_batch(1) + make_batch(1, host="pacs-02")},
                    headers=relay_headers)
    assert r.status_code == 200
    tickets = Tickets(engine)
    later = datetime.now(UTC) + timedelta(hours=2)
    tickets.sweep(later)
    tickets.sweep(later + timedelta(minutes=1))  # once per silence
    live = [(t["host"], t["check"], t["item"]) for t in tickets.list(TicketFilter()) if t["state"] == "open"]
    assert live == [("front-01", "relay", "silent")]
    [ticket] = tickets.list(TicketFilter())
    assert "the 2 host(s) behind it are not reported one by one" in ticket["summary"]
    client.get("/api/v1/relay/sync", headers=relay_headers)  # contact again
    tickets.sweep(datetime.now(UTC))
    assert tickets.get(ticket["id"])["state"] == "resolved"


def test_the_inventory_api_lists_a_sites_relays_beside_its_hosts_as_host_list_does(
        client, engine, relay_headers, viewer_headers):
    # a person reading GET /api/v1/hosts sees the front machine the site's hosts report through, and whether
    # it is in contact — not as a host (it has no check items), and only for the site asked about
    answer = client.get("/api/v1/hosts", headers=viewer_headers).json()
    [relay] = answer["relays"]
    assert (relay["site"], relay["relay"], relay["never_contacted"], relay["last_contact"]) == (
        SITE, "front-01", True, None)
    assert "front-01" not in {h["host"] for h in answer["hosts"]}
    client.post("/api/v1/results", json={"results": make_batch(1), "agent": {"spool_backlog": 4, "version": "9.9"}},
                headers=relay_headers)
    [relay] = client.get("/api/v1/hosts", params={"site": SITE}, headers=viewer_headers).json()["relays"]
    assert (relay["never_contacted"], relay["backlog"], relay["version"]) == (False, 4, "9.9")
    assert relay["last_contact"].endswith("Z") and relay["site_hosts"] == 1
    assert client.get("/api/v1/hosts", params={"site": "other-site"}, headers=viewer_headers).json()["relays"] == []
