"""/healthz and /metrics: no token needed; metrics built from the latest state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from checks.result import Metric, Status
from collector.app import create_app
from collector.config import Settings
from tests.collector.conftest import HOST, SITE, make_batch, make_result

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def _scrape(client) -> dict[str, list]:
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return {f.name: f.samples for f in text_string_to_metric_families(r.text)}


def test_healthz_is_ok_when_database_answers(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_healthz_is_503_when_database_unreachable(tmp_path):
    app = create_app(Settings(db_url=f"sqlite:///{tmp_path}/missing-dir/x.db"))
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.get("/healthz").status_code == 503
        assert c.get("/metrics").status_code == 200  # says the database is down, does not fail


def test_check_status_is_exported_when_results_stored(client, agent_headers):
    client.post("/api/v1/results", json={"results": [
        make_result(check="disk", item="/", status=Status.WARNING, started_at=T0),
        make_result(check="disk", item="/", status=Status.CRITICAL, started_at=T0 + timedelta(1)),
        make_result(check="system", item="", status=Status.OK, started_at=T0),
    ], "agent": {"time": datetime.now(UTC).isoformat(), "spool_backlog": 3}}, headers=agent_headers)
    m = _scrape(client)
    status = {(s.labels["check"], s.labels["item"]): s.value for s in m["wardround_check_status"]}
    assert status == {("disk", "/"): 2.0, ("system", ""): 0.0}
    assert all(s.labels["site"] == SITE and s.labels["host"] == HOST for s in m["wardround_check_status"])
    [seen] = m["wardround_agent_last_seen_timestamp_seconds"]
    assert abs(seen.value - datetime.now(UTC).timestamp()) < 120
    [backlog] = m["wardround_agent_spool_backlog"]
    assert backlog.value == 3 and backlog.labels == {"site": SITE, "host": HOST}
    [offset] = m["wardround_agent_clock_offset_seconds"]
    assert abs(offset.value) < 60


def test_ingest_counters_count_outcomes_when_batches_arrive(client, agent_headers):
    batch = make_batch(3)
    client.post("/api/v1/results", json={"results": batch}, headers=agent_headers)
    client.post("/api/v1/results", json={"results": batch[:2]}, headers=agent_headers)
    bad = make_result()
    bad["status"] = 9
    client.post("/api/v1/results", json={"results": [bad, make_result()]}, headers=agent_headers)
    m = _scrape(client)
    counts = {s.labels["outcome"]: s.value for s in m["wardround_ingest_results"]
              if s.name == "wardround_ingest_results_total"}
    assert counts == {"accepted": 3.0, "duplicate": 2.0, "rejected": 1.0}
    count = [s for s in m["wardround_ingest_batch_seconds"] if s.name.endswith("_count")]
    assert count[0].value == 2.0


def test_backup_age_is_exported_when_backup_check_reports_age(client, agent_headers):
    client.post("/api/v1/results", json={"results": [
        make_result(check="db_backup", item="HIS", metrics=(Metric("age_seconds", 3600.0, "s"),)),
        make_result(check="disk", item="/", metrics=(Metric("age_seconds", 5.0, "s"),)),
    ]}, headers=agent_headers)
    m = _scrape(client)
    [age] = m["wardround_backup_age_seconds"]
    assert age.value == 3600.0 and age.labels == {"site": SITE, "host": HOST, "item": "HIS"}


def test_metrics_need_no_token_and_carry_no_ids_when_scraped(client, agent_headers):
    batch = make_batch(2)
    client.post("/api/v1/results", json={"results": batch}, headers=agent_headers)
    text = client.get("/metrics").text
    assert all(r["id"] not in text for r in batch)
    assert "fine" not in text  # summaries are free text: never labels
