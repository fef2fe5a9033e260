"""Ticket metrics (collector/ticket_metrics.py): counters, histograms and gauges read from the ledger.

Tickets are opened, acknowledged, resolved, reopened and swept through the real API and
service on both databases; the numbers come out of the real ``/metrics`` and are parsed
with prometheus_client's parser (what Prometheus reads).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from checks.result import Status
from collector.auth import create_user
from collector.policy import load_policies
from collector.ticket_metrics import BUCKETS, TicketCollector
from tests.collector.conftest import HOST, SITE, make_result

URL = "/api/v1/tickets"
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai (business hours)
LE = [str(float(b)) for b in BUCKETS] + ["+Inf"]


@pytest.fixture
def clock(app):
    box = {"now": NOW}
    app.state.services.tickets.clock = lambda: box["now"]
    return box


@pytest.fixture
def engineer(engine) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_user(engine, name='erin', role='engineer')}"}


def _samples(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(r.text) for s in f.samples
            if "ticket" in s.name}


def _v(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def _buckets(samples: dict, name: str, site: str, severity: str) -> list[float | None]:
    return [_v(samples, f"{name}_bucket", site=site, severity=severity, le=le) for le in LE]


def _manual(client, engineer, severity: int, summary: str, site: str = SITE) -> dict[str, Any]:
    r = client.post(URL, json={"site": site, "host": HOST, "severity": severity, "summary": summary,
                               "reported_via": "hotline"}, headers=engineer)
    assert r.status_code == 201, r.text
    return r.json()


def test_opened_resolved_and_their_times_are_exported_when_engineers_act(client, engineer, clock):
    a = _manual(client, engineer, 1, "HIS login fails")
    b = _manual(client, engineer, 1, "PACS slow")
    _manual(client, engineer, 3, "printer queue")
    clock["now"] = NOW + timedelta(minutes=20)
    assert client.post(f"{URL}/{a['id']}/ack", headers=engineer).status_code == 200
    clock["now"] = NOW + timedelta(hours=5)
    assert client.post(f"{URL}/{a['id']}/resolve", headers=engineer).status_code == 200
    assert client.post(f"{URL}/{b['id']}/resolve", headers=engineer).status_code == 200

    m = _samples(client)
    assert _v(m, "wardround_tickets_opened_total", site=SITE, severity="1") == 2
    assert _v(m, "wardround_tickets_opened_total", site=SITE, severity="3") == 1
    assert _v(m, "wardround_tickets_resolved_total", site=SITE, severity="1") == 2
    assert _v(m, "wardround_tickets_resolved_total", site=SITE, severity="3") == 0  # exported at 0
    # response: one acknowledged ticket after 20 min (b was resolved without an acknowledgement)
    assert _buckets(m, "wardround_ticket_response_seconds", SITE, "1") == [0, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    assert _v(m, "wardround_ticket_response_seconds_count", site=SITE, severity="1") == 1
    assert _v(m, "wardround_ticket_response_seconds_sum", site=SITE, severity="1") == \
        pytest.approx(1200, abs=1)
    # resolution: two resolutions after 5 h each (cumulative buckets, le in seconds)
    assert _buckets(m, "wardround_ticket_resolution_seconds", SITE, "1") == [0, 0, 0, 0, 0, 2, 2, 2, 2, 2]
    assert _v(m, "wardround_ticket_resolution_seconds_sum", site=SITE, severity="1") == \
        pytest.approx(2 * 5 * 3600, abs=1)
    assert _buckets(m, "wardround_ticket_resolution_seconds", SITE, "3") == [0] * 10
    assert _v(m, "wardround_tickets_open", site=SITE, severity="3") == 1
    assert _v(m, "wardround_tickets_unacknowledged", site=SITE, severity="3") == 1


def test_counters_never_drop_when_a_resolved_ticket_reopens(client, agent_headers, engineer, app):
    now = datetime.now(UTC).replace(microsecond=0)
    box = {"now": now}
    app.state.services.tickets.clock = lambda: box["now"]

    def fail(at: datetime) -> None:
        r = client.post("/api/v1/results", headers=agent_headers, json={"results": [make_result(
            check="backup_files", item="/backups/*.bak", status=Status.CRITICAL, started_at=at,
            summary="no backup since Sunday")]})
        assert r.status_code == 200

    fail(now - timedelta(minutes=10))
    [t] = client.get(URL, headers=engineer).json()["tickets"]
    box["now"] = now + timedelta(minutes=40)
    assert client.post(f"{URL}/{t['id']}/resolve", headers=engineer).status_code == 200
    first = _samples(client)
    box["now"] = now + timedelta(minutes=50)
    fail(now + timedelta(minutes=45))  # within the reopen window: the same ticket is open again
    assert client.get(f"{URL}/{t['id']}", headers=engineer).json()["state"] == "open"
    reopened = _samples(client)
    box["now"] = now + timedelta(hours=3)
    assert client.post(f"{URL}/{t['id']}/resolve", headers=engineer).status_code == 200
    again = _samples(client)

    def series(m: dict, name: str) -> list[float | None]:
        return [_v(m, name, site=SITE, severity="2")] + _buckets(m, "wardround_ticket_resolution_seconds",
                                                                 SITE, "2")
    assert series(first, "wardround_tickets_resolved_total")[0] == 1
    for before, after in ((first, reopened), (reopened, again)):
        for name in ("wardround_tickets_resolved_total", "wardround_tickets_opened_total"):
            assert all(x is not None and y is not None and y >= x
                       for x, y in zip(series(before, name), series(after, name), strict=True)), name
    assert _v(again, "wardround_tickets_resolved_total", site=SITE, severity="2") == 2
    assert _v(again, "wardround_tickets_opened_total", site=SITE, severity="2") == 1


def test_breach_counts_by_kind_and_opening_severity_when_the_sweep_escalates(client, engineer, clock, app):
    t = _manual(client, engineer, 2, "lab interface down")  # response due in 2 business hours: 12:00
    app.state.services.tickets.sweep(NOW + timedelta(hours=3))
    m = _samples(client)
    assert client.get(f"{URL}/{t['id']}", headers=engineer).json()["severity"] == 1  # escalated
    assert _v(m, "wardround_tickets_breaches_total", site=SITE, severity="2", kind="response") == 1
    assert _v(m, "wardround_tickets_breaches_total", site=SITE, severity="2", kind="resolve") == 0
    assert _v(m, "wardround_tickets_breached", site=SITE, severity="1", kind="response") == 1
    clock["now"] = NOW + timedelta(hours=4)
    assert client.post(f"{URL}/{t['id']}/resolve", headers=engineer).status_code == 200
    m = _samples(client)
    assert _v(m, "wardround_tickets_breached", site=SITE, severity="1", kind="response") is None
    assert _v(m, "wardround_tickets_breaches_total", site=SITE, severity="2", kind="response") == 1


def test_key_customer_tickets_are_counted_apart_when_the_site_is_a_key_customer(client, engineer, app,
                                                                             tmp_path):
    path = tmp_path / "policies.yaml"
    path.write_text("sites:\n  key-hospital: {key_customer: true, key_factor: 0.5}\n")
    app.state.services.tickets.policies = load_policies(path)
    _manual(client, engineer, 2, "HIS slow", site="key-hospital")
    _manual(client, engineer, 2, "HIS slow", site=SITE)
    m = _samples(client)
    assert _v(m, "wardround_tickets_open_key_customer", site="key-hospital", severity="2") == 1
    assert _v(m, "wardround_tickets_open_key_customer", site=SITE, severity="2") == 0
    assert _v(m, "wardround_tickets_open", site=SITE, severity="2") == 1


def test_ticket_families_are_absent_when_the_database_is_unreachable(tmp_path):
    from collector.store.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path}/missing/x.db")
    assert list(TicketCollector(engine).collect()) == []
    engine.dispose()


def test_history_is_rebuilt_when_another_collector_changes_the_ledger(client, engineer, engine, clock):
    other = TicketCollector(engine)  # a second collector process's families, on the same database

    def opened() -> float:
        [family] = [f for f in other.collect() if f.name == "wardround_tickets_opened"]
        return sum(s.value for s in family.samples if s.name.endswith("_total"))

    _manual(client, engineer, 2, "HIS slow")
    assert opened() == 1
    assert opened() == 1  # unchanged ledger: the families built last are still exact
    _manual(client, engineer, 2, "PACS slow")  # written by "this" collector, read by the other
    assert opened() == 2
