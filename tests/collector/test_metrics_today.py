"""The Today questions as metrics (collector/metrics/): backup outcomes, hosts by state, live deadlines.

Results, tokens and tickets go in through the real API and service on both databases; the
numbers come out of the real ``/metrics`` (or ``state_exposition`` at a later ``now``) and are
parsed with prometheus_client's parser (what Prometheus reads).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from checks.result import Metric, Status
from collector.auth import create_agent_token, create_user
from collector.inventory import retire
from collector.metrics import BACKUP_OUTCOMES, HOST_STATES, state_exposition
from collector.policy import load_policies
from tests.collector.conftest import HOST, SITE, make_result

URL = "/api/v1/tickets"


def _families(text: str) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def _samples(client) -> dict[str, list]:
    r = client.get("/metrics")
    assert r.status_code == 200
    return _families(r.text)


def _post(client, token: str, results) -> None:
    r = client.post("/api/v1/results", json={"results": results}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text


def _backup(check: str, item: str, status: Status, *metrics: Metric) -> dict:
    return make_result(check=check, item=item, status=status, metrics=metrics, summary="backup")


def test_each_backup_item_has_its_outcome_when_backup_checks_report(client, agent_token):
    age, size, lag = "age_seconds", "size_bytes", "lag_seconds"
    _post(client, agent_token, [
        _backup("db_backup", "HIS/full", Status.OK, Metric(age, 3600.0, "s", crit=93600)),
        _backup("db_backup", "HIS/log", Status.CRITICAL, Metric(age, 7200.0, "s", crit=3600)),  # too old
        _backup("db_backup", "LIS/full", Status.CRITICAL, Metric(age, None, "s", crit=93600)),  # never backed up
        _backup("db_backup", "PACS/full", Status.CRITICAL, Metric(age, 600.0, "s", crit=93600)),  # job failed
        _backup("db_backup", "EMR/full", Status.WARNING, Metric(age, 600.0, "s", crit=93600)),  # no CHECKSUM
        _backup("db_backup", "OA/full", Status.UNKNOWN),  # could not log in
        _backup("backup_files", "/b/*.bak", Status.CRITICAL, Metric(age, 60.0, "s", crit=3600),
                Metric(size, 0.0, "B", crit=1)),  # empty
        _backup("backup_files", "/c/*.bak", Status.WARNING, Metric(age, 60.0, "s", crit=3600),
                Metric(size, 40.0, "B", warn=50, crit=1)),  # below half the median
        _backup("offsite_copy", "/b/*.bak -> nas:/b", Status.CRITICAL, Metric(lag, 9000.0, "s", crit=7200)),
        _backup("offsite_copy", "/c/*.bak -> nas:/c", Status.CRITICAL, Metric(lag, 0.0, "s", crit=7200)),
        make_result(check="disk", item="/", status=Status.CRITICAL),  # not a backup: no outcome
    ])
    m = _samples(client)
    outcomes = {(s.labels["check"], s.labels["item"]): s.labels["outcome"]
                for s in m["wardround_backup_outcome"]}
    assert outcomes == {
        ("db_backup", "HIS/full"): "done", ("db_backup", "HIS/log"): "missed",
        ("db_backup", "LIS/full"): "missed", ("db_backup", "PACS/full"): "failed",
        ("db_backup", "EMR/full"): "warning", ("db_backup", "OA/full"): "unknown",
        ("backup_files", "/b/*.bak"): "too_small", ("backup_files", "/c/*.bak"): "too_small",
        ("offsite_copy", "/b/*.bak -> nas:/b"): "missed", ("offsite_copy", "/c/*.bak -> nas:/c"): "failed",
    }
    assert set(outcomes.values()) == set(BACKUP_OUTCOMES)
    assert {s.value for s in m["wardround_backup_outcome"]} == {1.0}
    assert all(set(s.labels) == {"site", "host", "check", "item", "outcome"} for s in m["wardround_backup_outcome"])


def test_a_backup_outcome_follows_the_newest_result_when_the_item_recovers(client, agent_token):
    late = datetime.now(UTC) - timedelta(minutes=5)
    _post(client, agent_token, [make_result(check="backup_files", item="/b/*.bak", status=Status.CRITICAL,
                                            started_at=late, metrics=(Metric("age_seconds", 9e4, "s", crit=3600),))])
    _post(client, agent_token, [make_result(check="backup_files", item="/b/*.bak", status=Status.OK,
                                            metrics=(Metric("age_seconds", 60.0, "s", crit=3600),))])
    [s] = _samples(client)["wardround_backup_outcome"]
    assert s.labels["outcome"] == "done"


def _hosts(text: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for s in _families(text)["wardround_hosts"]:
        out.setdefault(s.labels["site"], {})[s.labels["state"]] = s.value
    return out


def test_hosts_are_counted_by_state_per_site_when_agents_report_or_not(client, engine, agent_token, tmp_path):
    tokens = {h: create_agent_token(engine, site=SITE, host=h) for h in ("his-app-02", "lis-03", "pacs-04")}
    create_agent_token(engine, site=SITE, host="never-05")  # enrolled, never reports
    # the fleet inventory counts, as on the Today page: ghost is enrolled; ghost-nas, granted to its token, is a
    # host only once it reports (checked remotely); a retired host is not counted, reported or not
    create_agent_token(engine, site="county-clinic", host="ghost", also_hosts=["ghost-nas"])
    create_agent_token(engine, site="county-clinic", host="gone-06")
    retire(engine, site="county-clinic", host="gone-06")
    old = create_agent_token(engine, site=SITE, host="old-07")
    _post(client, old, [make_result(host="old-07", status=Status.CRITICAL)])
    retire(engine, site=SITE, host="old-07")
    _post(client, agent_token, [make_result(status=Status.CRITICAL, item="/"),
                                make_result(status=Status.UNKNOWN, item="/data")])  # CRITICAL beats UNKNOWN
    _post(client, tokens["his-app-02"], [make_result(host="his-app-02", status=Status.WARNING),
                                         make_result(host="his-app-02", item="/x")])
    _post(client, tokens["lis-03"], [make_result(host="lis-03", status=Status.UNKNOWN)])
    _post(client, tokens["pacs-04"], [make_result(host="pacs-04")])
    now = datetime.now(UTC)
    counts = _hosts(client.get("/metrics").text)
    assert counts == {
        SITE: {"ok": 1, "warning": 1, "unknown": 1, "abnormal": 1, "silent": 0, "never_reported": 1},
        "county-clinic": {**dict.fromkeys(HOST_STATES, 0), "never_reported": 1},
    }
    # 16 minutes later every host that reported is silent (the default grace is 15 min) ...
    later = _hosts(state_exposition(engine, now=now + timedelta(minutes=16)))
    assert later[SITE] == {**dict.fromkeys(HOST_STATES, 0), "silent": 4, "never_reported": 1}
    # ... unless its site's policy allows a longer silence
    (tmp_path / "p.yaml").write_text(f"sites:\n  {SITE}:\n    agent_silent: {{grace: 1h, level: 3}}\n")
    lenient = _hosts(state_exposition(engine, load_policies(tmp_path / "p.yaml"), now=now + timedelta(minutes=16)))
    assert lenient[SITE] == counts[SITE]


def _deadlines(client) -> dict[str, float]:
    return {s.labels["deadline"]: s.value for s in _samples(client)["wardround_ticket_due_timestamp_seconds"]}


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_live_tickets_export_the_deadlines_still_running_when_engineers_act(client, engine):
    engineer = {"Authorization": f"Bearer {create_user(engine, name='erin', role='engineer')}"}
    r = client.post(URL, json={"site": SITE, "host": HOST, "severity": 2, "summary": "lab interface down",
                               "reported_via": "hotline"}, headers=engineer)
    assert r.status_code == 201, r.text
    t = r.json()
    [s, _] = _samples(client)["wardround_ticket_due_timestamp_seconds"]
    assert {k: v for k, v in s.labels.items() if k != "deadline"} == {
        "site": SITE, "host": HOST, "check": t["check"], "item": t["item"], "severity": "2",
        "key_customer": "false"}
    assert _deadlines(client) == {"response": _ts(t["response_due"]), "resolve": _ts(t["resolve_due"])}
    assert client.post(f"{URL}/{t['id']}/ack", headers=engineer).status_code == 200
    assert _deadlines(client) == {"resolve": _ts(t["resolve_due"])}  # the response deadline was met
    r = client.post(f"{URL}/{t['id']}/onsite", headers=engineer)
    assert r.status_code == 200, r.text
    assert _deadlines(client) == {"resolve": _ts(t["resolve_due"]), "onsite": _ts(r.json()["onsite_due"])}
    assert client.post(f"{URL}/{t['id']}/resolve", headers=engineer).status_code == 200
    assert _deadlines(client) == {}


def _records(client) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    m = _samples(client)
    issued = {s.labels["kind"]: s.value for s in m["wardround_record_issued_timestamp_seconds"]
              if s.labels["site"] == SITE}
    signed = {(s.labels["kind"], s.labels["role"]): s.value for s in m["wardround_record_signatures"]
              if s.labels["site"] == SITE}
    return issued, signed


def test_the_newest_record_of_each_kind_and_its_signatures_are_exported_when_issued_and_signed(
        client, engine, agent_token):
    engineer = {"Authorization": f"Bearer {create_user(engine, name='li', role='engineer')}"}
    _post(client, agent_token, [make_result()])  # the site has a host
    assert _records(client) == ({}, {})

    def issue(day: str) -> dict:
        r = client.post("/api/v1/records", json={"site": SITE, "kind": "daily", "date": day}, headers=engineer)
        assert r.status_code == 201, r.text
        return r.json()

    yesterday = issue("2026-11-23")
    older = issue("2026-11-22")  # issued later, for an earlier period: not the newest record
    assert client.post(f"/api/v1/records/{older['id']}/sign", json={"signer": "王主任", "role": "customer"},
                       headers=engineer).status_code == 201
    issued, signed = _records(client)
    assert issued == {"daily": _ts(yesterday["issued_at"])}
    assert signed == {("daily", "engineer"): 0, ("daily", "customer"): 0}
    for role in ("engineer", "customer"):
        r = client.post(f"/api/v1/records/{yesterday['id']}/sign", json={"signer": "李工", "role": role},
                        headers=engineer)
        assert r.status_code == 201, r.text
    assert _records(client)[1] == {("daily", "engineer"): 1, ("daily", "customer"): 1}
