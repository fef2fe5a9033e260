"""Two real ``serve`` processes on one PostgreSQL: a revocation and a fleet version hold on both at once."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.collector.conftest import HOST, SITE, TEMPLATE_DB, PgCluster, make_result
from tests.e2e.conftest import CollectorProcess

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

FLEET = """
templates:
  base: [{check: disk, every: 5m, params: {warn: 80, crit: 90}}]
assign: [{templates: [base]}]
"""


def call(url: str, token: str, *, data: Any = None) -> tuple[int, Any]:
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method="POST" if body else "GET", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


@pytest.fixture(scope="module")
def two(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[tuple[CollectorProcess, CollectorProcess]]:
    tmp_path = tmp_path_factory.mktemp("two")
    name = pg_cluster.create_db(TEMPLATE_DB)
    url = pg_cluster.url(name)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = CollectorProcess(tmp_path / "a", site=SITE, host=HOST, db=url)
    b = CollectorProcess(tmp_path / "b", site=SITE, host="other", db=url, viewer="e2e-viewer-b")
    a.start()
    b.start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()
        pg_cluster.drop_db(name)


def test_a_revoked_token_is_refused_at_once_by_every_collector_of_the_database(two):
    a, b = two
    for c in (a, b):
        assert call(f"{c.url}/api/v1/results", a.agent_token, data={"results": [make_result()]})[0] == 200
    out = a.cli("token", "revoke", "--site", SITE, "--host", HOST)
    assert "revoked 1 token(s)" in out.stdout
    for c in (a, b):  # no cache anywhere: the next request is refused
        status, answer = call(f"{c.url}/api/v1/results", a.agent_token, data={"results": [make_result()]})
        assert status == 401 and answer["detail"] == "unknown or revoked token"
    assert call(f"{b.url}/api/v1/results", b.agent_token, data={"results": [make_result(host="other")]})[0] == 200


def test_every_collector_serves_the_newest_fleet_version_from_the_database(two, tmp_path):
    a, b = two
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text(FLEET)
    assert "fleet version 1" in a.cli("fleet", "apply", str(fleet_file)).stdout
    token = b.agent_token  # (the other test revokes a's)
    answers = [call(f"{c.url}/api/v1/agent/config", token)[1] for c in (a, b)]
    assert answers[0] == answers[1] and answers[0]["version"] == 1
    fleet_file.write_text(FLEET.replace("warn: 80", "warn: 70"))
    assert "fleet version 2" in b.cli("fleet", "apply", str(fleet_file)).stdout  # applied through the other
    answers = [call(f"{c.url}/api/v1/agent/config", token)[1] for c in (a, b)]
    assert [x["version"] for x in answers] == [2, 2] and answers[0]["etag"] == answers[1]["etag"]
    assert answers[0]["checks"][0]["params"]["warn"] == 70
    bad = fleet_file.read_text().replace("warn: 70", "warn: lots")
    fleet_file.write_text(bad)
    refused = a.cli("fleet", "apply", str(fleet_file), check=False)
    assert refused.returncode == 2
    assert f"{fleet_file}: templates.base[0].params.warn: expected a number (got 'lots')" in refused.stderr
    assert [call(f"{c.url}/api/v1/agent/config", token)[1]["version"] for c in (a, b)] == [2, 2]
