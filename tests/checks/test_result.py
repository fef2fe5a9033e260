from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from checks.messages import say
from checks.result import Metric, Result, ResultError, Status, format_time, new_result_id, parse_time, read_wire


def make(**kw) -> Result:
    base = dict(check="disk", item="/", status=Status.WARNING, summary="/ 85 % used",
                metrics=(Metric("used_percent", 85.0, "%", warn=80, crit=90),),
                site="central-hospital", host="his-db-01", standard="used < 80 %",
                details={"device": "/dev/sda1"})
    base.update(kw)
    return Result(**base)


def test_wire_round_trip_keeps_every_field_when_serialised_as_json():
    r = make()
    back = Result.from_wire(json.loads(json.dumps(r.to_wire())))
    assert back == r


def test_status_values_are_the_nagios_exit_codes():
    assert [int(s) for s in (Status.OK, Status.WARNING, Status.CRITICAL, Status.UNKNOWN)] == [0, 1, 2, 3]


@pytest.mark.parametrize(("statuses", "worst"), [
    ([], Status.OK),
    ([0, 0], Status.OK),
    ([0, 1], Status.WARNING),
    ([1, 3], Status.UNKNOWN),
    ([3, 2, 1], Status.CRITICAL),
])
def test_worst_orders_critical_unknown_warning_ok(statuses, worst):
    assert Status.worst(statuses) is worst


def test_severity_is_the_one_ranking_that_worst_and_sorting_use():
    by_severity = sorted(Status, key=lambda s: -s.severity)
    assert by_severity == [Status.CRITICAL, Status.UNKNOWN, Status.WARNING, Status.OK]
    assert all(Status.worst(by_severity[i:]) is by_severity[i] for i in range(4))
    assert all(Status.of_severity(s.severity) is s for s in Status)


def test_ids_are_unique_and_time_ordered_when_generated_quickly():
    ids = [new_result_id() for _ in range(20000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("status", 4, "status"),
    ("status", True, "status"),
    ("id", "not-hex", "id"),
    ("host", "", "host"),
    ("host", "a b", "host"),
    ("site", None, "site"),
    ("started_at", "2026-11-23T08:00:00", "UTC offset"),
    ("started_at", "yesterday", "ISO-8601"),
    ("metrics", [{"name": "x", "value": "12"}], "metrics[0].value"),
    ("metrics", [{"name": "x", "value": 1, "unit": "furlong"}], "metrics[0].unit"),
    ("metrics", [{"name": "x", "value": float("inf")}], "metrics[0].value"),
    ("metrics", [{"name": "x", "value": True}], "metrics[0].value"),
    ("metrics", [{"name": "x", "value": 1, "warn": "80"}], "metrics[0].warn"),
    ("metrics", [{"name": "x", "value": 1, "colour": "red"}], "metrics[0]: unknown field"),
    ("status", 1.0, "status"),
    ("item", 7, "item"),
    ("details", [], "details"),
    ("duration_ms", -1, "duration_ms"),
    ("v", 2, "wire version"),
    ("surprise", 1, "unknown field"),
])
def test_from_wire_names_the_field_when_a_value_is_wrong(field, value, message):
    wire = make().to_wire()
    wire[field] = value
    with pytest.raises(ResultError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Result.from_wire(wire)


def test_from_wire_rejects_non_objects():
    with pytest.raises(ResultError):
        Result.from_wire(["not", "an", "object"])


def test_a_time_not_yet_set_is_written_as_none():
    assert format_time(None) is None


def test_timestamps_are_normalised_to_utc_when_given_with_an_offset():
    dt = parse_time("2026-11-23T16:00:00+08:00")
    assert dt == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    r = make(started_at=datetime(2026, 11, 23, 16, 0, tzinfo=timezone(timedelta(hours=8))))
    assert r.to_wire()["started_at"] == "2026-11-23T08:00:00.000000Z"


def test_read_wire_gives_what_from_wire_builds_its_result_of_when_messages_are_carried():
    r = make(summary=say("disk.used", mount="/", used=85.0, free=1, total=2),
             metrics=(Metric("used_percent", 85.0, "%", warn=80, crit=90, min=0, max=100), Metric("free", None)))
    wire = json.loads(json.dumps(r.to_wire()))
    w = read_wire(wire)
    assert w.message is not None and w.message == r.message
    back = Result.from_wire(wire)
    assert back == r
    assert (w.id, w.site, w.host, w.check, w.item, w.status, w.summary, w.standard, w.started_at, w.duration_ms) == (
        r.id, r.site, r.host, r.check, r.item, int(r.status), r.summary, r.standard, r.started_at, r.duration_ms)
    assert [Metric(*m) for m in w.metrics] == list(r.metrics) and w.details == r.details


def test_read_wire_remembers_only_what_it_accepted_when_the_same_names_and_times_come_again():
    wire = make().to_wire()
    for _ in range(2):  # the second time from the remembered names and times: the same verdicts
        assert read_wire(wire).host == "his-db-01"
        with pytest.raises(ResultError, match="host"):
            read_wire({**wire, "host": "his-db-01\n"})
        with pytest.raises(ResultError, match="name"):
            read_wire({**wire, "metrics": [{"name": "used percent", "value": 1.0}]})
        with pytest.raises(ResultError, match="UTC offset"):
            read_wire({**wire, "started_at": "2026-11-23T08:00:00"})
        with pytest.raises(ResultError, match="value"):
            read_wire({**wire, "metrics": [{"name": "used_percent", "value": float("nan")}]})
