"""GET /api/v1/results and /api/v1/hosts: what people read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from checks.result import Status
from collector.auth import create_agent_token
from tests.collector.conftest import HOST, SITE, make_result

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def _post(client, headers, results):
    r = client.post("/api/v1/results", json={"results": results}, headers=headers)
    assert r.status_code == 200, r.text


def _ids(response):
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["results"]]


def test_results_come_newest_first_when_listed(client, agent_headers, viewer_headers):
    results = [make_result(item=f"/{i}", started_at=T0 + timedelta(minutes=i)) for i in (3, 1, 4, 2)]
    _post(client, agent_headers, results)
    got = client.get("/api/v1/results", headers=viewer_headers)
    by_time = sorted(results, key=lambda r: r["started_at"], reverse=True)
    assert _ids(got) == [r["id"] for r in by_time]


def test_results_are_filtered_when_site_host_check_given(client, engine, agent_headers, viewer_headers):
    disk = make_result(check="disk", started_at=T0)
    system = make_result(check="system", started_at=T0)
    _post(client, agent_headers, [disk, system])
    other = create_agent_token(engine, site="other-site", host="web-01")
    web = make_result(site="other-site", host="web-01", check="disk", started_at=T0)
    _post(client, {"Authorization": f"Bearer {other}"}, [web])
    get = lambda q: _ids(client.get(f"/api/v1/results?{q}", headers=viewer_headers))  # noqa: E731
    assert get("check=system") == [system["id"]]
    assert sorted(get("check=disk")) == sorted([disk["id"], web["id"]])
    assert sorted(get(f"site={SITE}")) == sorted([disk["id"], system["id"]])
    assert get("host=web-01") == [web["id"]]
    assert get(f"site={SITE}&host={HOST}&check=disk") == [disk["id"]]
    assert get("site=nowhere") == []


def test_results_are_windowed_when_since_and_until_given(client, agent_headers, viewer_headers):
    results = [make_result(item=f"/{i}", started_at=T0 + timedelta(hours=i)) for i in range(5)]
    _post(client, agent_headers, results)
    since = (T0 + timedelta(hours=1)).isoformat()
    until = (T0 + timedelta(hours=3)).isoformat().replace("+00:00", "Z")
    got = client.get("/api/v1/results", params={"since": since, "until": until}, headers=viewer_headers)
    assert _ids(got) == [results[2]["id"], results[1]["id"]]  # since inclusive, until exclusive
    # An offset other than UTC means the same instant.
    local = (T0 + timedelta(hours=4)).astimezone(timezone(timedelta(hours=8))).isoformat()
    assert _ids(client.get("/api/v1/results", params={"since": local}, headers=viewer_headers)) == [
        results[4]["id"]]


def test_results_are_limited_when_limit_given(client, agent_headers, viewer_headers):
    results = [make_result(item=f"/{i}", started_at=T0 + timedelta(seconds=i)) for i in range(120)]
    _post(client, agent_headers, results)
    assert len(_ids(client.get("/api/v1/results", headers=viewer_headers))) == 100
    assert _ids(client.get("/api/v1/results?limit=2", headers=viewer_headers)) == [
        results[119]["id"], results[118]["id"]]
    assert len(_ids(client.get("/api/v1/results?limit=1000", headers=viewer_headers))) == 120


def test_hosts_list_is_empty_when_nothing_reported(client, viewer_headers):
    assert client.get("/api/v1/hosts", headers=viewer_headers).json() == {"hosts": [], "relays": []}


def test_host_shows_worst_current_status_when_items_differ(client, agent_headers, viewer_headers):
    _post(client, agent_headers, [
        make_result(item="/", status=Status.OK, started_at=T0),
        make_result(item="/var", status=Status.WARNING, started_at=T0),
        make_result(item="/data", status=Status.UNKNOWN, started_at=T0),
    ])
    [host] = client.get("/api/v1/hosts", headers=viewer_headers).json()["hosts"]
    assert (host["site"], host["host"]) == (SITE, HOST)
    assert (host["worst_status"], host["worst_status_name"], host["checks"]) == (3, "UNKNOWN", 3)
    # CRITICAL outranks UNKNOWN even though its code is lower.
    critical = make_result(item="/", status=Status.CRITICAL, started_at=T0 + timedelta(1))
    _post(client, agent_headers, [critical])
    [host] = client.get("/api/v1/hosts", headers=viewer_headers).json()["hosts"]
    assert (host["worst_status"], host["worst_status_name"], host["checks"]) == (2, "CRITICAL", 3)
    # Recovery: the newer OK result replaces the CRITICAL state.
    _post(client, agent_headers, [make_result(item="/", status=Status.OK, started_at=T0 + timedelta(2))])
    [host] = client.get("/api/v1/hosts", headers=viewer_headers).json()["hosts"]
    assert host["worst_status_name"] == "UNKNOWN"


def test_host_reports_agent_state_when_agent_object_sent(client, agent_headers, viewer_headers):
    before = datetime.now(UTC)
    agent_time = before + timedelta(seconds=120)  # the agent's clock runs two minutes fast
    r = client.post("/api/v1/results", json={"results": [make_result()], "agent": {
        "time": agent_time.isoformat(), "spool_backlog": 7, "version": "0.1.0"}}, headers=agent_headers)
    assert r.status_code == 200
    [host] = client.get("/api/v1/hosts", headers=viewer_headers).json()["hosts"]
    assert -125 < host["clock_offset_s"] < -100
    assert host["spool_backlog"] == 7 and host["agent_version"] == "0.1.0"
    assert host["last_seen"].endswith("Z")
    assert datetime.fromisoformat(host["last_seen"].replace("Z", "+00:00")) >= before - timedelta(seconds=1)
    # A later batch without the agent object keeps what was reported last.
    _post(client, agent_headers, [make_result(item="/x")])
    [host] = client.get("/api/v1/hosts", headers=viewer_headers).json()["hosts"]
    assert host["spool_backlog"] == 7
