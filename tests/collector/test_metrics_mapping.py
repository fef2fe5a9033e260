"""The mapping from check metrics to Prometheus metrics (collector/metrics/exports.py EXPORTS).

Results go in through the real API and come out of the real ``/metrics``; the
exposition is parsed with prometheus_client's own parser (what Prometheus reads).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from checks.result import Metric, Status
from collector.metrics import EXPORTS, exported_names, state_exposition
from tests.collector.conftest import HOST, SITE, make_result

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
NAME_RE = re.compile(r"^wardround_[a-z0-9_]+$")
UNIT_SUFFIXES = ("_seconds", "_bytes", "_ratio", "_count", "_up", "_days_to_full", "_per_core",
                 "_cores", "_stopped", "_files", "_hops", "_changed", "_code")


def _samples(client) -> dict[str, list]:
    r = client.get("/metrics")
    assert r.status_code == 200
    return {f.name: f.samples for f in text_string_to_metric_families(r.text)}


def _post(client, headers, results) -> None:
    r = client.post("/api/v1/results", json={"results": results}, headers=headers)
    assert r.status_code == 200, r.text


def test_disk_metrics_are_in_base_units_when_disk_reports(client, agent_headers):
    _post(client, agent_headers, [make_result(check="disk", item="/var", metrics=(
        Metric("used_percent", 41.5, "%", warn=80, crit=90),
        Metric("free_bytes", 1000.0, "B"),
        Metric("total_bytes", 4000.0, "B"),
        Metric("days_to_full", 12.5, "d"),
        Metric("inodes_free_percent", 90.0, "%")))])
    m = _samples(client)
    labels = {"site": SITE, "host": HOST, "item": "/var"}
    assert [(s.labels, s.value) for s in m["wardround_disk_used_ratio"]] == [(labels, 0.415)]
    assert m["wardround_disk_free_bytes"][0].value == 1000.0
    assert m["wardround_disk_total_bytes"][0].value == 4000.0
    assert m["wardround_disk_days_to_full"][0].value == 12.5
    assert m["wardround_disk_inodes_free_ratio"][0].value == 0.9


def test_system_metrics_have_no_item_label_when_system_reports(client, agent_headers):
    _post(client, agent_headers, [
        make_result(check="system", item="cpu", metrics=(Metric("busy_percent", 25.0, "%"),)),
        make_result(check="system", item="memory", metrics=(Metric("used_percent", 50.0, "%"),
                                                            Metric("total_bytes", 8e9, "B"))),
        make_result(check="system", item="swap", metrics=(Metric("used_percent", 10.0, "%"),
                                                          Metric("total_bytes", 2e9, "B"))),
    ])
    m = _samples(client)
    cpu = [(s.labels, s.value) for s in m["wardround_cpu_busy_ratio"]]
    assert cpu == [({"site": SITE, "host": HOST}, 0.25)]
    assert m["wardround_memory_used_ratio"][0].value == 0.5
    assert m["wardround_swap_used_ratio"][0].value == 0.1
    # swap's total_bytes is not memory's
    assert [s.value for s in m["wardround_memory_total_bytes"]] == [8e9]


def test_backup_age_keeps_contract_labels_and_threshold_when_two_checks_report(client, agent_headers):
    _post(client, agent_headers, [
        make_result(check="db_backup", item="HIS/full", metrics=(
            Metric("age_seconds", 7200.0, "s", crit=93600.0), Metric("size_bytes", 5e9, "B"))),
        make_result(check="backup_files", item="/backups/*.bak", metrics=(
            Metric("age_seconds", 60.0, "s", crit=3600.0),)),
        make_result(check="offsite_copy", item="/backups/*.bak -> nas:/copies", metrics=(
            Metric("lag_seconds", 0.0, "s", crit=7200.0), Metric("age_seconds", 99.0, "s"))),
    ])
    m = _samples(client)
    ages = {s.labels["item"]: s.value for s in m["wardround_backup_age_seconds"]}
    assert ages == {"HIS/full": 7200.0, "/backups/*.bak": 60.0}  # off-site age is its own metric
    assert all(set(s.labels) == {"site", "host", "item"} for s in m["wardround_backup_age_seconds"])
    limits = {s.labels["item"]: s.value for s in m["wardround_backup_max_age_seconds"]}
    assert limits == {"HIS/full": 93600.0, "/backups/*.bak": 3600.0}
    assert m["wardround_backup_size_bytes"][0].value == 5e9
    assert m["wardround_offsite_copy_lag_seconds"][0].value == 0.0
    assert m["wardround_offsite_copy_max_lag_seconds"][0].value == 7200.0
    assert m["wardround_offsite_copy_age_seconds"][0].value == 99.0


def test_network_metrics_are_exported_when_ping_traceroute_and_certificate_report(client, agent_headers):
    _post(client, agent_headers, [
        make_result(check="ping", item="10.0.0.1", metrics=(
            Metric("loss_ratio", 0.2, "ratio"), Metric("rtt_avg_seconds", 0.004, "s"),
            Metric("rtt_min_seconds", 0.001, "s"))),
        make_result(check="traceroute", item="10.0.0.1", metrics=(
            Metric("hops", 3.0, "count"), Metric("path_changed", 1.0, ""))),
        make_result(check="certificate", item="his:443", metrics=(
            Metric("days_left", 20.0, "d"), Metric("expires_timestamp", 1.8e9, "s"))),
    ])
    m = _samples(client)
    assert m["wardround_ping_loss_ratio"][0].value == 0.2
    assert m["wardround_ping_rtt_seconds"][0].value == 0.004
    assert m["wardround_traceroute_hops"][0].value == 3.0
    assert m["wardround_traceroute_path_changed"][0].value == 1.0
    [expiry] = m["wardround_certificate_expiry_timestamp_seconds"]
    assert expiry.value == 1.8e9 and expiry.labels["item"] == "his:443"


def test_worse_value_wins_when_two_checks_feed_one_series(client, agent_headers):
    _post(client, agent_headers, [
        make_result(check="db_backup", item="same", metrics=(Metric("age_seconds", 10.0, "s"),)),
        make_result(check="backup_files", item="same", metrics=(Metric("age_seconds", 500.0, "s"),)),
        make_result(check="port", item="db:1433", metrics=(Metric("connect_seconds", 0.5, "s"),)),
        make_result(check="tcp", item="db:1433", metrics=(Metric("connect_seconds", 0.2, "s"),)),
    ])
    m = _samples(client)
    assert [s.value for s in m["wardround_backup_age_seconds"]] == [500.0]
    assert [s.value for s in m["wardround_port_connect_seconds"]] == [0.5]


def test_unmeasured_value_is_absent_when_check_reports_none(client, agent_headers):
    _post(client, agent_headers, [make_result(check="db_backup", item="HIS/log", status=Status.CRITICAL,
                                              metrics=(Metric("age_seconds", None, "s", crit=3600.0),))])
    m = _samples(client)
    assert m["wardround_backup_age_seconds"] == []
    assert m["wardround_check_status"][0].value == 2.0


def test_latest_result_is_exported_when_an_item_reports_twice(client, agent_headers):
    _post(client, agent_headers, [
        make_result(check="disk", item="/", started_at=T0, metrics=(Metric("used_percent", 10.0, "%"),)),
        make_result(check="disk", item="/", started_at=T0 + timedelta(minutes=5),
                    metrics=(Metric("used_percent", 70.0, "%"),)),
    ])
    assert [s.value for s in _samples(client)["wardround_disk_used_ratio"]] == [0.7]


def test_label_values_are_escaped_when_items_hold_quotes_and_backslashes(client, agent_headers):
    item = 'C:\\ "data"'
    _post(client, agent_headers, [make_result(check="disk", item=item,
                                              metrics=(Metric("used_percent", 50.0, "%"),))])
    [s] = _samples(client)["wardround_disk_used_ratio"]
    assert s.labels["item"] == item


def test_unmapped_metrics_are_not_exported_when_a_check_reports_them(client, agent_headers):
    _post(client, agent_headers, [make_result(check="nagios", item="check_foo", metrics=(
        Metric("whatever", 1.0, ""),))])
    m = _samples(client)
    assert not any("whatever" in name for name in m)
    assert m["wardround_check_status"][0].labels["check"] == "nagios"


def test_every_export_has_a_unit_named_metric_when_table_is_read():
    for (check, _item, metric), e in EXPORTS.items():
        assert NAME_RE.match(e.name), e.name
        assert e.name.endswith(UNIT_SUFFIXES), f"{check}.{metric} -> {e.name}: no unit suffix"
        assert e.worse in ("max", "min")
        if metric.endswith("_percent"):
            assert e.divisor == 100 and e.name.endswith("_ratio"), e.name


def test_one_prometheus_name_has_one_meaning_when_several_checks_feed_it():
    by_name: dict[str, set] = {}
    for e in EXPORTS.values():
        if not e.bounds_only:
            by_name.setdefault(e.name, set()).add((e.help, e.divisor, e.per_item, e.worse, e.crit_as))
    assert {n: v for n, v in by_name.items() if len(v) > 1} == {}
    fed = {e.name for e in EXPORTS.values() if not e.bounds_only}
    assert [e.name for e in EXPORTS.values() if e.bounds_only and e.name not in fed] == []


def _thresholds(m: dict[str, list]) -> dict[tuple[str, str, str, str], float]:
    out = {}
    for s in m.get("wardround_check_threshold", []):
        assert set(s.labels) == {"site", "host", "check", "item", "metric", "level"}, s.labels
        out[(s.labels["check"], s.labels["item"], s.labels["metric"], s.labels["level"])] = s.value
    return out


def test_thresholds_are_in_the_units_of_the_metric_they_bound_when_results_carry_them(client, agent_headers):
    _post(client, agent_headers, [
        make_result(check="disk", item="/var", metrics=(
            Metric("used_percent", 41.5, "%", warn=80, crit=90), Metric("free_bytes", 1000.0, "B"),
            Metric("days_to_full", 12.5, "d", warn=30, crit=7))),
        make_result(check="system", item="cpu", metrics=(Metric("busy_percent", 25.0, "%", warn=85, crit=95),)),
        make_result(check="system", item="load", metrics=(
            Metric("load1_per_core", 0.5, "", warn=1.5, crit=3), Metric("cores", 4.0, ""))),
        make_result(check="ping", item="10.0.0.1", metrics=(
            Metric("loss_ratio", 0.0, "ratio", warn=0.2, crit=0.6),
            Metric("rtt_avg_seconds", 0.004, "s", warn=0.15, crit=0.5))),
        make_result(check="certificate", item="his:443", metrics=(
            Metric("days_left", 20.0, "d", warn=30, crit=7), Metric("expires_timestamp", 1.8e9, "s"))),
        make_result(check="backup_files", item="/backups/*.bak", metrics=(
            Metric("age_seconds", 60.0, "s", crit=3600.0), Metric("size_bytes", 40.0, "B", warn=50, crit=1))),
    ])
    m = _samples(client)
    assert _thresholds(m) == {
        ("disk", "/var", "wardround_disk_used_ratio", "warn"): 0.8,
        ("disk", "/var", "wardround_disk_used_ratio", "crit"): 0.9,
        ("disk", "/var", "wardround_disk_days_to_full", "warn"): 30.0,
        ("disk", "/var", "wardround_disk_days_to_full", "crit"): 7.0,
        ("system", "cpu", "wardround_cpu_busy_ratio", "warn"): 0.85,
        ("system", "cpu", "wardround_cpu_busy_ratio", "crit"): 0.95,
        ("system", "load", "wardround_load1_per_core", "warn"): 1.5,
        ("system", "load", "wardround_load1_per_core", "crit"): 3.0,
        ("ping", "10.0.0.1", "wardround_ping_loss_ratio", "warn"): 0.2,
        ("ping", "10.0.0.1", "wardround_ping_loss_ratio", "crit"): 0.6,
        ("ping", "10.0.0.1", "wardround_ping_rtt_seconds", "warn"): 0.15,
        ("ping", "10.0.0.1", "wardround_ping_rtt_seconds", "crit"): 0.5,
        # days_warn/days_crit bound the time left before the expiry timestamp, in seconds
        ("certificate", "his:443", "wardround_certificate_expiry_timestamp_seconds", "warn"): 30 * 86400.0,
        ("certificate", "his:443", "wardround_certificate_expiry_timestamp_seconds", "crit"): 7 * 86400.0,
        ("backup_files", "/backups/*.bak", "wardround_backup_age_seconds", "crit"): 3600.0,
        ("backup_files", "/backups/*.bak", "wardround_backup_size_bytes", "warn"): 50.0,
        ("backup_files", "/backups/*.bak", "wardround_backup_size_bytes", "crit"): 1.0,
    }
    assert all(m[metric] for _c, _i, metric, _l in _thresholds(m))  # each bounds a series exported here
    assert "wardround_certificate_days_left" not in m  # days_left itself is not a series


def test_no_threshold_is_exported_when_a_result_carries_none(client, agent_headers):
    _post(client, agent_headers, [
        make_result(check="disk", item="/", metrics=(Metric("used_percent", 41.5, "%"),
                                                     Metric("free_bytes", 1000.0, "B"))),
        make_result(check="nagios", item="check_load", metrics=(Metric("load1", 0.5, "", warn=4, crit=8),)),
        make_result(check="service", item="sshd", metrics=(Metric("running", 1.0, ""),)),
    ])
    m = _samples(client)
    assert m["wardround_disk_used_ratio"]
    assert _thresholds(m) == {}  # none carried, or (nagios perfdata) no exported family to bound


def test_threshold_stays_when_the_value_could_not_be_measured(client, agent_headers):
    _post(client, agent_headers, [make_result(check="port", item="his:1433", status=Status.CRITICAL, metrics=(
        Metric("connect_seconds", None, "s", warn=1, crit=3),))])
    m = _samples(client)
    assert m["wardround_port_connect_seconds"] == []
    assert _thresholds(m) == {("port", "his:1433", "wardround_port_connect_seconds", "warn"): 1.0,
                              ("port", "his:1433", "wardround_port_connect_seconds", "crit"): 3.0}


def test_every_exported_name_is_documented_when_docs_are_read():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()
    undocumented = [n for n in exported_names() if f"`{n}`" not in doc]
    assert undocumented == []


def test_database_down_gives_up_zero_and_no_state_when_database_is_unreachable(tmp_path):
    from collector.store.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path}/missing/x.db")
    text = state_exposition(engine)
    engine.dispose()
    families = {f.name: f.samples for f in text_string_to_metric_families(text)}
    assert families["wardround_collector_database_up"][0].value == 0.0
    assert "wardround_check_status" not in families


def test_clock_offset_is_signed_seconds_per_reference_when_clock_reports(client, agent_headers):
    _post(client, agent_headers, [
        make_result(check="clock", item="collector", metrics=(Metric("offset_seconds", -2.5, "s", warn=60,
                                                                     crit=300),)),
        make_result(check="clock", item="ntp.hospital.local", metrics=(
            Metric("offset_seconds", 0.25, "s", warn=60, crit=300), Metric("delay_seconds", 0.004, "s"),
            Metric("stratum", 2.0, "")))])
    m = _samples(client)
    offsets = {s.labels["item"]: s.value for s in m["wardround_clock_offset_seconds"]}
    assert offsets == {"collector": -2.5, "ntp.hospital.local": 0.25}
    assert [s.value for s in m["wardround_clock_ntp_delay_seconds"]] == [0.004]


def test_hygiene_and_drill_metrics_are_exported_in_base_units_when_those_checks_report(client, agent_headers):
    day = 86400.0
    _post(client, agent_headers, [
        make_result(check="patches", item="security", status=Status.WARNING, metrics=(
            Metric("pending_security", 3.0, "count"), Metric("pending_updates", 11.0, "count"),
            Metric("oldest_security_age_seconds", 40 * day, "s", warn=30 * day),
            Metric("lists_age_seconds", 3600.0, "s", warn=7 * day))),
        make_result(check="patches", item="last_update", metrics=(Metric("since_update_seconds", 5 * day, "s"),)),
        make_result(check="patches", item="reboot", metrics=(Metric("reboot_pending_seconds", 0.0, "s"),)),
        make_result(check="antivirus", item="defender", metrics=(
            Metric("signature_age_seconds", 4 * day, "s", warn=3 * day), Metric("realtime", 0.0, ""))),
        make_result(check="accounts", item="empty_password", status=Status.CRITICAL, metrics=(
            Metric("accounts", 1.0, "count"), Metric("login_accounts", 4.0, "count"))),
        make_result(check="db_accounts", item="postgresql/trust", metrics=(Metric("accounts", 0.0, "count"),)),
        make_result(check="restore_drill", item="/backup/pg/his_*.dump", metrics=(
            Metric("duration_seconds", 95.5, "s"), Metric("restore_seconds", 80.0, "s"),
            Metric("restored_size_bytes", 7.5e9, "B"), Metric("backup_age_seconds", 7200.0, "s"))),
    ])
    m = _samples(client)
    host = {"site": SITE, "host": HOST}

    def one(name: str) -> tuple[dict, float]:
        [s] = m[name]
        return s.labels, s.value

    assert one("wardround_patches_security_pending_count") == (host, 3.0)
    assert one("wardround_patches_pending_count") == (host, 11.0)
    assert one("wardround_patches_oldest_security_age_seconds") == (host, 40 * day)
    assert one("wardround_patches_lists_age_seconds") == (host, 3600.0)
    assert one("wardround_patches_since_update_seconds") == (host, 5 * day)
    assert one("wardround_patches_reboot_pending_seconds") == (host, 0.0)
    assert one("wardround_antivirus_signature_age_seconds") == ({**host, "item": "defender"}, 4 * day)
    assert one("wardround_antivirus_realtime_up") == ({**host, "item": "defender"}, 0.0)
    assert one("wardround_accounts_flagged_count") == ({**host, "item": "empty_password"}, 1.0)
    assert one("wardround_accounts_login_count") == (host, 4.0)
    assert one("wardround_db_accounts_flagged_count") == ({**host, "item": "postgresql/trust"}, 0.0)
    drill = {**host, "item": "/backup/pg/his_*.dump"}
    assert one("wardround_restore_drill_duration_seconds") == (drill, 95.5)
    assert one("wardround_restore_drill_restore_seconds") == (drill, 80.0)
    assert one("wardround_restore_drill_restored_bytes") == (drill, 7.5e9)
    assert one("wardround_restore_drill_backup_age_seconds") == (drill, 7200.0)
