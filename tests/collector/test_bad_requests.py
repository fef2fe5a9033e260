"""Whatever a client sends, the answer is a 4xx with a reason, never a 500."""

from __future__ import annotations

import gzip
import json
import re
import zlib

import orjson
import pytest

from checks.result import MAX_DETAILS_BYTES
from collector.app import create_app
from collector.auth import create_user
from collector.config import Settings
from tests.collector.conftest import make_result

URL = "/api/v1/results"


def _result(**changes):
    r = make_result()
    r.update(changes)
    return r


GARBAGE_BODIES = {
    "empty": b"",
    "not json": b"hello",
    "truncated json": b'{"results": [',
    "json list": b"[]",
    "json string": b'"results"',
    "json null": b"null",
    "results not a list": b'{"results": {"a": 1}}',
    "results missing": b'{"agent": {}}',
    "result not an object": b'{"results": [1, "two", null]}',
    "huge integer": b'{"results": [{"status": 123456789012345678901234567890}]}',
    "deep nesting": b'{"results": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "invalid utf-8": b'{"results": ["\xff\xfe"]}',
    "lone surrogate": b'{"results": [{"summary": "\\ud800"}]}',
    "nan": b'{"results": [NaN]}',
}


@pytest.mark.parametrize("body", list(GARBAGE_BODIES.values()), ids=list(GARBAGE_BODIES))
def test_answer_is_422_when_body_is_garbage(client, agent_headers, body):
    r = client.post(URL, content=body, headers={**agent_headers, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"]


BAD_RESULTS = {
    "wrong types": _result(status="2", duration_ms="fast", metrics="none"),
    "nul in summary": _result(summary="a\x00b"),
    "nul in item": _result(item="/\x00"),
    "unknown field": _result(colour="red"),
    "started_at year overflow": _result(started_at="9999-12-31T23:59:59-01:00"),
    "started_at naive": _result(started_at="2026-11-23T08:00:00"),
    "duration as text": _result(duration_ms="1e400"),
    "metric value nan-like": _result(metrics=[{"name": "x", "value": "NaN"}]),
    "details too big": _result(details={"blob": "x" * (MAX_DETAILS_BYTES + 10)}),
    "details too deep": _result(details=orjson.loads(b'{"a":' * 300 + b"1" + b"}" * 300)),
    "details not an object": _result(details=[1, 2]),
    "site with slash": _result(site="a/b"),
    "wire version 2": _result(v=2),
    "duration beyond storage (float)": _result(duration_ms=1e300),  # stored as 64-bit microseconds: was a 500
    "duration beyond storage (int)": _result(duration_ms=10**16),
}


BAD_AGENT_OBJECTS = {
    "not an object": 5,
    "time garbage": {"time": "yesterday"},
    "time overflow": {"time": "0001-01-01T00:00:00+01:00"},
    "time not a string": {"time": 1700000000},
    "backlog negative": {"spool_backlog": -1},
    "backlog bool": {"spool_backlog": True},
    "backlog huge": {"spool_backlog": 2**64},
    "version long": {"version": "v" * 100},
    "version not a string": {"version": [1]},
}


@pytest.mark.parametrize("agent", list(BAD_AGENT_OBJECTS.values()), ids=list(BAD_AGENT_OBJECTS))
def test_results_are_stored_and_bad_agent_members_ignored_when_agent_object_is_odd(
        client, engine, agent_headers, viewer_headers, agent):
    body = b'{"results": [' + orjson.dumps(make_result()) + b'], "agent": ' + _dumps(agent) + b"}"
    r = client.post(URL, content=body, headers=agent_headers)
    assert r.status_code == 200, r.text
    assert len(r.json()["accepted"]) == 1
    [host] = client.get("/api/v1/hosts", headers=viewer_headers).json()["hosts"]
    assert host["clock_offset_s"] is None and host["spool_backlog"] is None and host["agent_version"] is None


@pytest.mark.parametrize("result", list(BAD_RESULTS.values()), ids=list(BAD_RESULTS))
def test_answer_is_422_naming_the_result_when_a_result_is_invalid(client, agent_headers, result):
    # orjson cannot serialise the 300-deep object itself, so build the body by hand for that case.
    body = b'{"results": [' + _dumps(result) + b"]}"
    r = client.post(URL, content=body, headers=agent_headers)
    assert r.status_code == 422, r.text
    [problem] = r.json()["detail"]
    assert problem["index"] == 0 and problem["error"]


def _dumps(obj) -> bytes:
    # orjson refuses 300-deep objects and integers past 64 bits; the json module writes them.
    return json.dumps(obj).encode()


def test_answer_is_413_when_body_exceeds_cap(db_url, engine, agent_headers):
    app = create_app(Settings(db_url=db_url, max_body_bytes=4096), engine=engine)
    from fastapi.testclient import TestClient
    with TestClient(app, raise_server_exceptions=False) as c:
        big = orjson.dumps({"results": [make_result(summary="x" * 900) for _ in range(10)]})
        assert c.post(URL, content=big, headers=agent_headers).status_code == 413
        bomb = gzip.compress(b'{"results": [' + b" " * 3_000_000 + b"]}")
        assert len(bomb) < 4096
        r = c.post(URL, content=bomb, headers={**agent_headers, "Content-Encoding": "gzip"})
        assert r.status_code == 413
        assert "detail" in r.json()


def test_answer_is_413_when_streamed_body_has_no_length(db_url, engine, agent_headers):
    app = create_app(Settings(db_url=db_url, max_body_bytes=4096), engine=engine)
    from fastapi.testclient import TestClient

    def chunks():
        for _ in range(10):
            yield b" " * 1000

    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.post(URL, content=chunks(), headers=agent_headers).status_code == 413


@pytest.mark.parametrize("body", [b"not gzip at all", gzip.compress(b'{"results": []}')[:-6],
                                  gzip.compress(b'{"results": []}') + b"trailing",
                                  zlib.compress(b'{"results": []}')],
                         ids=["not gzip", "truncated", "trailing data", "zlib not gzip"])
def test_answer_is_422_when_gzip_is_invalid(client, agent_headers, body):
    r = client.post(URL, content=body, headers={**agent_headers, "Content-Encoding": "gzip"})
    assert r.status_code == 422
    assert "gzip" in r.json()["detail"]


def test_answer_is_415_when_content_encoding_unsupported(client, agent_headers):
    r = client.post(URL, content=b"{}", headers={**agent_headers, "Content-Encoding": "br"})
    assert r.status_code == 415


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x",
                                          "application/json; charset=utf-8"])
def test_body_is_parsed_as_json_when_content_type_is_anything(client, agent_headers, content_type):
    r = client.post(URL, content=orjson.dumps({"results": [make_result()]}),
                    headers={**agent_headers, "Content-Type": content_type})
    assert r.status_code == 200


def test_unknown_route_is_404_json_when_requested(client):
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found"}


def test_wrong_method_is_405_json_when_requested(client):
    r = client.delete("/api/v1/results")
    assert r.status_code == 405
    assert r.json()["detail"]


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=ten", "since=yesterday",
                                   "until=2026-11-23T08:00:00", "since=9999-12-31T23:59:59-01:00"])
def test_results_query_is_422_when_values_are_bad(client, viewer_headers, query):
    r = client.get(f"/api/v1/results?{query}", headers=viewer_headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][0] == "query"


BEYOND_INT64 = 2**63  # the databases' ids are 64-bit: this one used to overflow into a 500


@pytest.mark.parametrize("method, path", [
    ("GET", f"/tickets/{BEYOND_INT64}"), ("POST", f"/tickets/{BEYOND_INT64}/ack"),
    ("GET", f"/records/{BEYOND_INT64}"), ("GET", f"/records/{BEYOND_INT64}/content.html"),
    ("GET", f"/records/{BEYOND_INT64}/record.pdf"), ("GET", f"/records/{BEYOND_INT64}/record.csv"),
    ("POST", f"/records/{BEYOND_INT64}/sign"), ("GET", f"/archive/new?corrects={BEYOND_INT64}"),
    ("GET", "/tickets/0"), ("GET", "/records/-1"),
])
def test_page_answers_404_when_an_id_cannot_name_a_row(client, engine, method, path):
    token = create_user(engine, name="erin", role="engineer")
    assert client.post("/login", data={"token": token}, follow_redirects=False).status_code == 303
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/records").text).group(1)
    r = client.request(method, path, data={"csrf": csrf, "signer": "王", "role": "customer"} if method == "POST"
                       else None)
    assert r.status_code in (200, 404), r.text[:300]  # /archive/new ignores a corrects that names nothing
    assert r.status_code == 404 or path.startswith("/archive/new")


@pytest.mark.parametrize("method, path", [
    ("GET", f"/api/v1/tickets/{BEYOND_INT64}"), ("POST", f"/api/v1/tickets/{BEYOND_INT64}/ack"),
    ("GET", f"/api/v1/records/{BEYOND_INT64}"), ("GET", f"/api/v1/records/{BEYOND_INT64}.pdf"),
    ("POST", f"/api/v1/records/{BEYOND_INT64}/sign"), ("GET", f"/api/v1/records/{BEYOND_INT64}/verify"),
    ("GET", f"/api/v1/archive/{BEYOND_INT64}"),
])
def test_api_answers_4xx_when_an_id_cannot_name_a_row(client, engine, method, path):
    headers = {"Authorization": f"Bearer {create_user(engine, name='erin', role='engineer')}"}
    r = client.request(method, path, headers=headers, json={"signer": "王", "role": "customer"}
                       if method == "POST" else None)
    assert r.status_code in (404, 422), r.text
