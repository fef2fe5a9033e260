"""One definition of the result wire shape: the OpenAPI model accepts exactly what the fast validator accepts.

Ingest validates results with the hand-written ``checks.result.read_wire`` (fast; ``Result.from_wire``
builds on it); ``/openapi.json`` documents them with ``collector.api.models.WireResult``.
This property test feeds all of them the same objects — valid ones, and ones with
each field replaced by something near the edge or of the wrong type, keys
missing or added, message keys with good and bad arguments — and requires the same verdict.
Ingest first reads the whole body with ``collector.wire_fast`` (msgspec, in C: one decode that both
checks and gives the values stored): whenever it accepts, the rows it makes (the JSON texts stored
included, byte for byte) and the agent's report must be exactly the slow path's (``orjson`` +
``read_wire`` per result), whatever the order of the keys, explicit nulls and number spellings.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from checks.messages import say
from checks.result import (
    MAX_MESSAGE_ARGS,
    MAX_METRICS,
    NAME_PATTERN,
    UNITS,
    Metric,
    Result,
    ResultError,
    Status,
    read_wire,
)
from collector import wire_fast
from collector.api.models import WireResult
from collector.ingest import BatchInvalid, BatchMalformed, _agent_report, _fast_rows, _slow_rows, parse_batch

JUNK = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1),
                 st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
                 st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
NAMES = st.from_regex(f"\\A{NAME_PATTERN}\\Z", fullmatch=True).filter(lambda s: len(s) <= 70)
NAME = st.one_of(NAMES, NAMES.map(lambda s: s + "\n"), NAMES.map(lambda s: "\n" + s),
                 st.sampled_from(["", "a" * 64, "a" * 65, "-a", "a/b", "主机", "a b"]), JUNK)
HEX = st.text("0123456789abcdef", min_size=32, max_size=32)
ID = st.one_of(HEX, HEX.map(lambda s: s + "\n"), HEX.map(str.upper), st.text("0123456789abcdef", max_size=33), JUNK)
NUMBER = st.one_of(st.none(), st.integers(-2**53, 2**53), st.floats(allow_nan=True, allow_infinity=True),
                   st.booleans(), st.sampled_from(["1", "NaN", [1]]))


def text_around(cap: int) -> st.SearchStrategy[Any]:
    return st.one_of(st.text(max_size=8), st.sampled_from(["x" * cap, "x" * (cap + 1), "é" * cap, "a\x00b"]), JUNK)


METRIC = st.one_of(st.fixed_dictionaries({"name": NAME}, optional={
    "value": NUMBER, "unit": st.one_of(st.sampled_from(sorted(UNITS)), st.sampled_from(["kB", "%%", None])),
    "warn": NUMBER, "crit": NUMBER, "min": NUMBER, "max": NUMBER,
    "colour": st.just("red")}), JUNK)
A_METRIC = {"name": "used_percent", "value": 41.2, "unit": "%"}
TIMES = st.one_of(
    st.sampled_from(["2026-11-23T08:00:00.123456Z", "2026-11-23T08:00:00+08:00", "2026-11-23T08:00:00",
                     "2026-11-23 08:00:00Z", "20261123T080000Z", "2026-11-23", "9999-12-31T23:59:59-01:00",
                     "0001-01-01T00:00:00+01:00", "yesterday", "2026-13-01T00:00:00Z"]),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()), JUNK)
KEY = st.one_of(st.sampled_from(["disk.used", "backup_files.missed", "a", "a" * 64, "a" * 65, "Disk.used", "a..b",
                                  ".a", "a.", "", "disk.used\n", "磁盘.used", "a-b"]), JUNK)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
                   st.sampled_from(["x" * 1000, "x" * 1001]))
ARG_NAME = st.one_of(st.from_regex(r"\A[a-z0-9_]{1,6}\Z", fullmatch=True),
                     st.sampled_from(["Bad", "a-b", "a.b", "", "a\n"]))
ARGS = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.builds(lambda k, a: {"key": k, "args": a}, KEY, st.dictionaries(ARG_NAME, inner, max_size=3)),
    st.dictionaries(st.sampled_from(["key", "args", "colour"]), inner, max_size=2)), max_leaves=12)


def nested(levels: int) -> Any:
    """An argument ``levels`` lists deep (MAX_MESSAGE_DEPTH is the most a message may hold)."""
    return 1 if levels == 0 else [nested(levels - 1)]


MESSAGE = st.one_of(
    st.fixed_dictionaries({"key": KEY}, optional={"args": st.one_of(st.dictionaries(ARG_NAME, ARGS, max_size=4), JUNK),
                                                  "colour": st.just(1)}),
    st.sampled_from([{"key": "a", "args": {f"a{i}": i for i in range(MAX_MESSAGE_ARGS)}},
                     {"key": "a", "args": {f"a{i}": i for i in range(MAX_MESSAGE_ARGS + 1)}},
                     {"key": "a", "args": {"x": list(range(MAX_MESSAGE_ARGS))}},
                     {"key": "a", "args": {"x": list(range(MAX_MESSAGE_ARGS + 1))}},
                     {"key": "a", "args": {"x": nested(8)}}, {"key": "a", "args": {"x": nested(9)}},
                     {"key": "a", "args": {"x": {"key": "b", "args": {"y": nested(7)}}}}]),
    JUNK)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "v": st.sampled_from([1, 1.0, True, 2, 0, "1", None]),
    "id": ID, "site": NAME, "host": NAME, "check": NAME,
    "item": text_around(255), "status": st.sampled_from([0, 1, 2, 3, 4, -1, True, False, 2.0, "2", None]),
    "summary": text_around(1000), "standard": text_around(200),
    "metrics": st.one_of(st.lists(METRIC, max_size=3),
                         st.sampled_from([[A_METRIC] * MAX_METRICS, [A_METRIC] * (MAX_METRICS + 1)]), JUNK),
    "details": st.one_of(st.dictionaries(st.text(max_size=4), st.one_of(JUNK, st.integers(-2**66, 2**66),
                                                                       st.lists(st.integers(2**63, 2**65))),
                                         max_size=3), JUNK),
    "started_at": TIMES,
    "duration_ms": st.one_of(st.sampled_from([0, 1.5, -1, -0.0, 10**20]), NUMBER),
    "message": MESSAGE, "standard_message": MESSAGE,
}
VALID = {"v": 1, "id": "0" * 32, "site": "central-hospital", "host": "his-db-01", "check": "disk", "item": "/",
         "status": 0, "summary": "/ 41.2 % used", "standard": "used < 80 %",
         "metrics": [{"name": "used_percent", "value": 41.2, "unit": "%", "warn": 80, "crit": 90}],
         "details": {}, "started_at": "2026-11-23T08:00:00.123456Z", "duration_ms": 3.2}


@st.composite
def candidates(draw: st.DrawFn) -> dict[str, Any]:
    """A valid result with a few fields replaced, dropped or added."""
    doc = dict(VALID)
    for key in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=3, unique=True)):
        if draw(st.integers(0, 4)) == 0:
            doc.pop(key, None)
        else:
            doc[key] = draw(FIELDS[key])
    if draw(st.integers(0, 9)) == 0:
        doc[draw(st.sampled_from(["colour", "received_at", "V"]))] = 1
    return reordered(doc) if draw(st.booleans()) else doc


def reordered(value: Any) -> Any:
    """``value`` with the keys of every object in reverse order (the stored JSON keeps the order sent)."""
    if isinstance(value, dict):
        return {k: reordered(value[k]) for k in reversed(value)}
    if isinstance(value, list):
        return [reordered(v) for v in value]
    return value


def wire_accepts(doc: dict[str, Any]) -> bool:
    """read_wire's verdict (what ingest stores), checked to be Result.from_wire's too."""
    try:
        read_wire(doc)
    except (ResultError, OverflowError):
        with pytest.raises((ResultError, OverflowError)):
            Result.from_wire(doc)
        return False
    Result.from_wire(doc)
    return True


def model_accepts(doc: dict[str, Any]) -> bool:
    try:
        WireResult.model_validate(doc)
    except ValidationError:
        return False
    return True


@settings(max_examples=1500, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candidates())
def test_model_and_fast_validator_agree_on_every_result(doc):
    verdict = wire_accepts(doc)
    assert model_accepts(doc) == verdict, repr(doc)[:600]
    assert fast_path_agrees(doc) in (verdict, None), repr(doc)[:600]


def fast_path_agrees(doc: dict[str, Any]) -> bool | None:
    """The C path's rows and agent report equal the slow path's whenever it accepts; its verdict (None: it left
    the body to the slow path)."""
    agent = {"time": doc.get("started_at"), "spool_backlog": doc.get("status"), "version": doc.get("item")}
    body = json.dumps({"results": [doc, doc], "agent": agent}, ensure_ascii=False).encode("utf-8", "surrogatepass")
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError:  # NaN, a lone surrogate: the body is refused before either path
        assert wire_fast.decode(body) is None
        return None
    now = datetime.now(UTC)
    errors: list[dict[str, Any]] = []
    slow = _slow_rows(raw["results"], now, True, errors)
    decoded = None if b"\\u0000" in body else wire_fast.decode(body)  # parse_batch's routing: NUL goes the slow way
    fast = None if decoded is None else _fast_rows(decoded.results, now)
    if fast is None:
        return None
    assert not errors and fast == slow
    assert [(r["metrics"], r["details"], r["messages"]) for r in fast] == [  # the texts, byte for byte
        (r["metrics"], r["details"], r["messages"]) for r in slow]
    assert _agent_report(decoded.agent) == _agent_report(raw["agent"])
    return True


def keyed_body(**changes: Any) -> bytes:
    doc = {**VALID, "id": "a" * 32, "started_at": datetime.now(UTC).isoformat(), **changes}
    return json.dumps({"results": [doc]}).encode()


def test_fast_path_takes_what_agents_send_nested_messages_included():
    joined = {"key": "results.joined", "args": {"parts": ["/ 41 %", {"key": "clock.unsynchronised_leap"}]}}
    body = keyed_body(message=joined, standard_message={"key": "disk.standard", "args": {"warn": 80}})
    decoded = wire_fast.decode(body)
    assert decoded is not None
    raw = orjson.loads(body)["results"]
    now = datetime.now(UTC)
    assert _fast_rows(decoded.results, now) == _slow_rows(raw, now, False, []) != []


@pytest.mark.parametrize("changes", [{"id": "A" * 32}, {"id": "a" * 31 + "g"}, {"id": "a" * 31 + "\n"},
                                     {"message": {"key": "Disk.used"}}, {"message": {"key": "a..b", "args": {}}},
                                     {"message": {"key": "a", "args": {"a-b": 1}}},
                                     {"standard_message": {"key": "a", "args": {"x": [{"key": "b\n"}]}}},
                                     {"message": {"key": "a", "args": {"x": {"key": "b", "args": {"Y": 1}}}}}])
def test_a_bad_id_message_key_or_argument_name_in_any_result_is_refused_by_both_paths(changes):
    good = {**VALID, "id": "b" * 32, "started_at": datetime.now(UTC).isoformat(),
            "message": {"key": "disk.used", "args": {"mount": "/"}}}
    body = json.dumps({"results": [good, orjson.loads(keyed_body(**changes))["results"][0]]}).encode()
    assert wire_fast.decode(body) is None  # checked in Python now (is_key, one hex match per batch), not by the type
    with pytest.raises(BatchInvalid) as refused:
        parse_batch(body, datetime.now(UTC))
    assert [e["index"] for e in refused.value.detail] == [1]


@pytest.mark.parametrize("changes", [{"v": 1.0}, {"metrics": [{"name": "load", "value": 1.5}]},
                                     {"metrics": [{"name": "load", "value": 2**64, "unit": ""}]},
                                     {"message": {"key": "a", "args": {"x": nested(6)}}}])
def test_what_the_fast_path_leaves_alone_is_still_accepted_the_slow_way(changes):
    body = keyed_body(**changes)
    assert not wire_fast.accepts(body)
    assert parse_batch(body, datetime.now(UTC)).ids == ["a" * 32]


def test_both_paths_store_metrics_and_messages_in_one_form_details_as_sent():
    metric = {"unit": "%", "value": 41.2, "warn": None, "name": "used_percent", "max": 1e16}
    numbers = {"n": -0.0, "e": 1e-7, "f": 4.1e-07, "big": 2**63 - 1, "low": -(2**63), "i": 30, "x": 1e22}
    message = {"args": {**numbers, "p": [{"args": {"b": 1}, "key": "b"}, {"key": "c"}]}, "key": "disk.used"}
    body = keyed_body(metrics=[metric, {"name": "n", "value": 2**53, "unit": "", "min": -0.0}], message=message,
                      standard_message=None, details={"b": None, "a": 1e16})
    decoded = wire_fast.decode(body)
    assert decoded is not None
    now = datetime.now(UTC)
    [row] = _fast_rows(decoded.results, now)
    assert [row] == _slow_rows(orjson.loads(body)["results"], now, True, [])
    assert row["metrics"] == ('[{"name":"used_percent","value":41.2,"unit":"%","warn":null,"max":1e16},'
                              '{"name":"n","value":9007199254740992,"unit":"","min":-0.0}]')
    assert row["messages"] == ('{"message":{"key":"disk.used","args":{"n":-0.0,"e":1e-7,"f":4.1e-7,'
                               '"big":9223372036854775807,"low":-9223372036854775808,"i":30,"x":1e22,'
                               '"p":[{"key":"b","args":{"b":1}},{"key":"c","args":{}}]}}}')
    assert row["details"] == '{"b":null,"a":1e+16}'  # orjson's spelling, as the slow path writes it
    assert orjson.loads(row["metrics"]) == [dict(sorted(metric.items())), {"name": "n", "value": 2**53, "unit": "",
                                                                           "min": 0.0}]


FINITE = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False),
                   st.sampled_from([1e16, -0.0, 1e-7, 2**53 + 1, 1e300, 5e-324]))


def shuffled(doc: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.permutations(list(doc)).map(lambda keys: {k: doc[k] for k in keys})


GOOD_METRIC = st.fixed_dictionaries(
    {"name": NAMES.filter(lambda s: len(s) <= 64), "value": FINITE, "unit": st.sampled_from(sorted(UNITS))},
    optional=dict.fromkeys(("warn", "crit", "min", "max"), FINITE)).flatmap(shuffled)
GOOD_ARGS = st.recursive(st.one_of(FINITE, st.booleans(), st.text(max_size=5)), lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.fixed_dictionaries({"key": st.sampled_from(["a", "disk.used"])},
                          optional={"args": st.dictionaries(st.sampled_from(["a", "b_1", "x"]), inner, max_size=3)})
    .flatmap(shuffled)), max_leaves=8)
GOOD_MESSAGE = st.fixed_dictionaries({"key": st.sampled_from(["disk.used", "a"])},
                                     optional={"args": st.dictionaries(st.sampled_from(["a", "b_1", "x"]), GOOD_ARGS,
                                                                       max_size=4)}).flatmap(shuffled)


def levels(value: Any) -> int:
    """How many containers (messages, lists) deep ``value`` is."""
    inner = value if isinstance(value, list) else (value.get("args", {}).values() if isinstance(value, dict) else ())
    return 0 if value is None or not isinstance(value, list | dict) else 1 + max(map(levels, inner), default=0)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.lists(GOOD_METRIC, max_size=3), st.one_of(st.none(), GOOD_MESSAGE), st.one_of(st.none(), GOOD_MESSAGE))
def test_both_paths_write_the_same_texts_for_any_member_order_and_any_number(metrics, message, standard):
    body = keyed_body(metrics=metrics, message=message, standard_message=standard)
    now = datetime.now(UTC)
    slow = _slow_rows(orjson.loads(body)["results"], now, False, errors := [])
    assert not errors
    decoded = wire_fast.decode(body)
    fast = None if decoded is None else _fast_rows(decoded.results, now)
    deep = max(levels(m) for m in (message, standard, None)) > wire_fast.FAST_DEPTH + 1
    assert fast == slow if not deep else fast is None  # it leaves only messages nested deeper than it takes
    assert orjson.loads(slow[0]["metrics"]) == metrics


def test_what_an_agent_sends_is_stored_as_sent():
    joined = say("results.joined", parts=[say("disk.used", mount="/", used=41.5, free=1, total=2), "x"])
    result = Result(check="disk", item="/", status=Status.OK, summary=joined, site="s", host="h",
                    metrics=(Metric("used_percent", 41.5, "%", 80.0, 90.0, 0, 100), Metric("free", 1e16, "B")),
                    standard=say("disk.standard", warn=80.0, days=30))
    wire = result.to_wire()
    body = orjson.dumps({"results": [wire]})
    decoded = wire_fast.decode(body)
    assert decoded is not None
    [row] = _fast_rows(decoded.results, datetime.now(UTC))
    sent = orjson.loads(body)["results"][0]
    assert orjson.loads(row["metrics"]) == sent["metrics"]
    assert row["metrics"] == orjson.dumps(sent["metrics"]).decode().replace("e+16", "e16")
    assert row["messages"] == orjson.dumps({k: sent[k] for k in ("message", "standard_message")}).decode()


def test_integers_beyond_64_bits_in_details_are_stored_as_the_slow_path_reads_them():
    body = keyed_body(details={"big": 2**64, "small": -(2**63) - 1})
    assert wire_fast.decode(body) is not None  # msgspec keeps them as integers; orjson reads floats
    [row] = parse_batch(body, datetime.now(UTC)).rows
    assert row["details"] == '{"big":1.8446744073709552e+19,"small":-9.223372036854776e+18}'


def test_a_body_with_other_members_is_read_the_slow_way_invalid_text_included():
    good = keyed_body()
    assert wire_fast.decode(good[:-1] + b', "note": "hi"}') is None  # msgspec would skip it unread
    assert parse_batch(good[:-1] + b', "note": "hi"}', datetime.now(UTC)).ids == ["a" * 32]
    with pytest.raises(BatchMalformed):
        parse_batch(good[:-1] + b', "note": "\xff"}', datetime.now(UTC))


def test_a_name_the_fast_path_cannot_judge_gets_the_slow_paths_error():
    body = keyed_body(host="his-db-01\n")
    assert wire_fast.accepts(body)  # lengths only: the pattern is is_name's, by the caller
    with pytest.raises(BatchInvalid) as refused:
        parse_batch(body, datetime.now(UTC))
    assert [e["index"] for e in refused.value.detail] == [0]
    assert refused.value.detail[0]["error"].startswith("host: expected")


@pytest.mark.parametrize("field, value", [("site", "his-db-01\n"), ("id", "0" * 32 + "\n"),
                                          ("metrics", [{"name": "x\n", "value": 1.0}]), ("v", True)])
def test_fast_validator_refuses_what_the_schema_refuses_when_a_value_only_looks_right(field, value):
    assert not wire_accepts({**VALID, field: value})
    assert not model_accepts({**VALID, field: value})


def test_valid_result_passes_both_and_the_schema_names_every_wire_field():
    assert wire_accepts(VALID) and model_accepts(VALID)
    keyed = {**VALID, "message": {"key": "disk.used", "args": {"mount": "/", "used": 41.2, "free": 1, "total": 2}},
             "standard_message": {"key": "disk.standard", "args": {"warn": 80, "days": 30}}}
    assert wire_accepts(keyed) and model_accepts(keyed)
    wire = Result.from_wire(keyed).to_wire()
    assert set(WireResult.model_json_schema()["properties"]) == set(wire)
    assert math.isclose(WireResult.model_validate(VALID).duration_ms, 3.2)
