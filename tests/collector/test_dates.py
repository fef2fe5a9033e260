"""One range for the days and times clients send (collector/dates.py): never a 500, never a pinned item."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from checks.messages import render
from checks.messages.reader import cli_templates
from checks.result import Message, Status
from collector.auth import create_user
from collector.dates import DateError, check_day, check_time, parse_day
from collector.store import queries
from collector.store.tables import hosts, latest, results
from tests.collector.conftest import HOST, SITE, make_result

URL = "/api/v1/results"


@pytest.fixture
def engineer(engine):
    return {"Authorization": f"Bearer {create_user(engine, name='erin', role='engineer')}"}


def _post(client, headers, *results_):
    return client.post(URL, json={"results": list(results_)}, headers=headers)


# -- results dated by a bad clock ---------------------------------------------------------------

@pytest.mark.parametrize("started_at", ["9999-12-31T00:00:00Z", "2999-01-01T00:00:00Z", "1999-12-31T23:59:59Z",
                                        "0001-01-01T00:00:00Z"])
def test_result_is_refused_with_422_naming_started_at_and_index_when_its_clock_is_far_off(
        client, engine, agent_headers, started_at):
    bad = make_result(item="/bad")
    bad["started_at"] = started_at
    r = _post(client, agent_headers, make_result(item="/good"), bad)
    assert r.status_code == 422, r.text
    [problem] = r.json()["detail"]
    assert problem["index"] == 1 and problem["id"] == bad["id"]
    assert problem["error"].startswith("started_at: ") and "clock" in problem["error"]
    with engine.connect() as conn:
        assert conn.execute(select(results)).first() is None  # all or nothing


def test_a_result_days_ahead_is_refused_saying_the_clock_is_wrong_in_the_agents_language(client, agent_headers):
    # the key lets the agent keep its results while its clock is wrong (agent/sender.py; tests/e2e/test_clock_ahead.py)
    ahead = make_result(started_at=datetime.now(UTC) + timedelta(days=3))
    [problem] = _post(client, agent_headers, ahead).json()["detail"]
    assert problem["message"]["key"] == "cli.refusal.clock_ahead"
    assert problem["message"]["args"]["started_at"] == ahead["started_at"]
    message = Message.from_wire(problem["message"])
    assert render(message, "en", cli_templates("en")) == problem["error"]
    assert "超前一天以上：请检查采集代理所在机器的时钟" in render(message, "zh_CN", cli_templates("zh_CN"))


def test_result_is_accepted_when_its_clock_is_less_than_a_day_ahead(client, agent_headers):
    ahead = make_result(started_at=datetime.now(UTC) + timedelta(hours=23))
    assert _post(client, agent_headers, ahead).json()["accepted"] == [ahead["id"]]


def _store_as_before_the_bound(engine, *, check: str, item: str, status: Status, started_at: datetime) -> None:
    """A result dated by a bad clock, stored the way ingest stored it before started_at had a bound."""
    uid = uuid.uuid4().hex
    row = {"site": SITE, "host": HOST, "check": check, "item": item, "status": int(status), "summary": "bad clock",
           "standard": "", "started_at": started_at, "received_at": datetime.now(UTC), "metrics": "[]"}
    with engine.begin() as conn:
        queries.store_new_results(conn, [{"uid": uid, "duration_ms": 1.0, "details": "{}", **row}])
        conn.execute(insert(latest).values(result_uid=uid, **row))
        if conn.execute(select(hosts)).first() is None:
            conn.execute(insert(hosts).values(site=SITE, host=HOST, first_seen=row["received_at"],
                                              last_seen=row["received_at"]))


def test_latest_state_moves_on_when_a_result_from_a_bad_clock_was_stored_before(client, engine, agent_headers,
                                                                                 viewer_headers):
    _store_as_before_the_bound(engine, check="disk", item="/", status=Status.OK,
                               started_at=datetime(9999, 12, 31, 23, 59, tzinfo=UTC))
    now = datetime.now(UTC)
    first = make_result(status=Status.CRITICAL, started_at=now - timedelta(minutes=1))
    assert _post(client, agent_headers, first).status_code == 200
    with engine.connect() as conn:
        assert conn.execute(select(latest.c.result_uid)).scalar_one() == first["id"]
    # ...and from then on the ordinary rule holds again: an older result does not overwrite it.
    older = make_result(status=Status.OK, started_at=now - timedelta(minutes=5))
    assert _post(client, agent_headers, older).status_code == 200
    [host] = client.get("/api/v1/hosts", headers=viewer_headers).json()["hosts"]
    assert host["worst_status_name"] == "CRITICAL"


def test_ticket_opens_when_a_result_from_a_bad_clock_was_stored_before(client, engine, agent_headers,
                                                                       viewer_headers):
    # A failed backup opens a ticket at once, unless an older-looking "newest" result holds its streak back.
    _store_as_before_the_bound(engine, check="backup_files", item="/backups", status=Status.OK,
                               started_at=datetime(9999, 12, 31, 23, 59, tzinfo=UTC))
    failed = make_result(check="backup_files", item="/backups", status=Status.CRITICAL, summary="no backup")
    assert _post(client, agent_headers, failed).status_code == 200
    tickets = client.get("/api/v1/tickets", headers=viewer_headers).json()["tickets"]
    assert [(t["check"], t["state"]) for t in tickets] == [("backup_files", "open")]


def test_pages_show_a_result_from_a_bad_clock_instead_of_failing(client, engine, tokens_login):
    _store_as_before_the_bound(engine, check="disk", item="/", status=Status.OK,
                               started_at=datetime(9999, 12, 31, 23, 59, tzinfo=UTC))
    r = client.get(f"/hosts/{SITE}/{HOST}")
    assert r.status_code == 200, r.text[:300]
    assert "9999-12-31 23:59 (UTC)" in r.text  # no local time exists for it: said in UTC, named


@pytest.fixture
def tokens_login(client, engine):
    token = create_user(engine, name="vera", role="viewer")
    assert client.post("/login", data={"token": token}, follow_redirects=False).status_code == 303


# -- days and times out of range: 4xx with the field named, never 500 ---------------------------

@pytest.mark.parametrize("kind, period, field", [
    ("daily", "0001-01-02", "period"), ("daily", "0001-01-01", "period"), ("weekly", "9999-12-31", "period"),
    ("annual", "0001-06-01", "period"), ("monthly", {"date": "9999-12-31"}, "period.date"),
    ("monthly", {"from": "0001-01-01", "to": "0001-01-05"}, "period.from"),
    ("monthly", {"from": "2026-11-01", "to": "9999-12-31"}, "period.to"),
])
def test_record_is_refused_with_422_when_its_period_is_out_of_range(client, agent_headers, engineer, kind,
                                                                      period, field):
    assert _post(client, agent_headers, make_result()).status_code == 200  # the site exists
    r = client.post("/api/v1/records", json={"site": SITE, "kind": kind, "period": period}, headers=engineer)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(f"{field}: expected a day between 2000-01-01 and 2999-12-31")


@pytest.mark.parametrize("path", ["/api/v1/archive?from=0001-01-01", "/api/v1/archive?to=9999-12-31",
                                  "/api/v1/archive?from=0001-01-01T00:00:00%2B08:00",
                                  "/api/v1/records?from=0001-01-01", "/api/v1/records?to=9999-12-31",
                                  "/api/v1/results?since=0001-01-01T00:00:00Z",
                                  "/api/v1/results?until=9999-12-31T00:00:00Z"])
def test_query_is_refused_with_422_naming_the_parameter_when_a_day_is_out_of_range(client, engineer, path):
    r = client.get(path, headers=engineer)
    assert r.status_code == 422, r.text
    [problem] = r.json()["detail"]
    assert problem["loc"][0] == "query" and "between 2000-01-01 and 2999-12-31" in problem["msg"]


@pytest.mark.parametrize("at", ["0001-01-01", "0001-01-01T00:00:00", "0001-01-01T00:00:00+08:00", "1999-12-31"])
def test_archive_entry_is_refused_with_422_when_at_is_out_of_range(client, engineer, at):
    r = client.post("/api/v1/archive", json={"site": SITE, "kind": "visit", "at": at, "phenomenon": "x",
                                             "action": "y"}, headers=engineer)
    assert r.status_code == 422, r.text
    assert "at: expected " in str(r.json()["detail"])


def test_archive_page_is_refused_with_422_when_a_day_is_out_of_range(client, tokens_login):
    assert client.get("/archive?from=0001-01-01").status_code == 422


# -- a range given backwards: 422 naming both ends, not an empty list --------------------------------

@pytest.fixture
def admin(engine):
    return {"Authorization": f"Bearer {create_user(engine, name='ada', role='admin')}"}


@pytest.mark.parametrize("path", ["/api/v1/records", "/api/v1/archive", "/api/v1/audit"])
@pytest.mark.parametrize(("start", "end", "refused"), [
    ("2026-12-06", "2026-12-01", "to: 2026-12-01 is before from (2026-12-06): swap them"),
    ("2026-12-06T10:00:00Z", "2026-12-06T09:00:00Z",
     "to: 2026-12-06T09:00:00+00:00 is before from (2026-12-06T10:00:00+00:00): swap them"),
    ("2026-12-06T10:00:00Z", "2026-12-03", "to: 2026-12-03 is before from (2026-12-06T10:00:00+00:00): swap them"),
    ("2026-12-01", "2026-12-06", None), ("2026-12-06", "2026-12-06", None),
    ("2026-12-06T10:00:00Z", "2026-12-06", None),
])
def test_a_range_given_backwards_is_refused_naming_both_ends(client, admin, path, start, end, refused):
    if path == "/api/v1/records" and "T" in start + end:
        return  # records take days only
    r = client.get(path, params={"from": start, "to": end}, headers=admin)
    if refused is None:
        assert r.status_code == 200, r.text
    else:
        assert (r.status_code, r.json()["detail"]) == (422, [{"loc": ["query", "to"], "msg": refused,
                                                              "type": "value_error"}])


@pytest.mark.parametrize(("since", "until", "refused"), [
    ("2026-12-06T10:00:00Z", "2026-12-01T00:00:00Z",
     "until: 2026-12-01T00:00:00+00:00 is before since (2026-12-06T10:00:00+00:00): swap them"),
    ("2026-12-01T00:00:00Z", "2026-12-06T10:00:00Z", None), ("2026-12-06T10:00:00Z", "2026-12-06T10:00:00Z", None),
])
def test_results_asked_for_backwards_are_refused_naming_since_and_until(client, admin, since, until, refused):
    r = client.get("/api/v1/results", params={"since": since, "until": until}, headers=admin)
    if refused is None:
        assert r.status_code == 200, r.text
    else:
        assert (r.status_code, r.json()["detail"]) == (422, [{"loc": ["query", "until"], "msg": refused,
                                                              "type": "value_error"}])


@pytest.mark.parametrize(("lang", "said"), [
    ("zh_CN", ["时间范围：to（2026-12-01）早于 from（2026-12-06）：请对调两者",
               "日期（from）：应为形如 2026-11-22 的日期（收到 '2026-13-01'）"]),
    ("en", ["to: 2026-12-01 is before from (2026-12-06): swap them",
            "from: expected a date like 2026-11-22 (got '2026-13-01')"]),
])
def test_archive_page_names_what_is_wrong_with_its_filter_in_the_readers_language(client, tokens_login, lang, said):
    import html

    for query, words in zip(("from=2026-12-06&to=2026-12-01", "from=2026-13-01"), said, strict=True):
        r = client.get(f"/archive?{query}&lang={lang}")
        assert r.status_code == 422 and words in html.unescape(r.text), r.text[-1500:]


# -- the rule itself -------------------------------------------------------------------------------

def test_rule_takes_the_bounds_themselves_and_refuses_one_day_beyond():
    assert check_day(date(2000, 1, 1), "d") == date(2000, 1, 1)
    assert check_day(date(2999, 12, 31), "d") == date(2999, 12, 31)
    for bad in (date(1999, 12, 31), date(3000, 1, 1)):
        with pytest.raises(DateError, match="^d: expected a day between"):
            check_day(bad, "d")
    # A time is judged by its own wall-clock day first, so no zone shift can overflow.
    late = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    with pytest.raises(DateError):
        check_time(late, "t")
    early_local = datetime(1, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    with pytest.raises(DateError):
        check_time(early_local, "t")
    assert parse_day(" 2026-11-22 ", "p") == date(2026, 11, 22)
    for bad_text in ("2026-W47-1", "20261122", "2026-13-01", 20261122):
        with pytest.raises(DateError, match="^p: expected a date like 2026-11-22"):
            parse_day(bad_text, "p")
