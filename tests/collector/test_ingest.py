"""POST /api/v1/results: idempotent, all-or-nothing batches from agents."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import func, select

from checks.result import Status, parse_time
from collector.auth import create_agent_token
from collector.store.tables import hosts, latest, results
from tests.collector.conftest import HOST, SITE, make_batch, make_result

URL = "/api/v1/results"


def _count(engine: Any, table: Any = results) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_batch_is_stored_and_acknowledged_when_valid(client, engine, agent_headers):
    batch = make_batch(5)
    r = client.post(URL, json={"results": batch}, headers=agent_headers)
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == [x["id"] for x in batch]
    assert body["duplicates"] == []
    server_time = parse_time(body["server_time"])
    assert abs((datetime.now(UTC) - server_time).total_seconds()) < 60
    assert body["server_time"].endswith("Z")
    assert _count(engine) == 5


def test_same_batch_twice_reports_duplicates_when_resent(client, engine, agent_headers):
    batch = make_batch(4)
    client.post(URL, json={"results": batch}, headers=agent_headers)
    r = client.post(URL, json={"results": batch}, headers=agent_headers)
    assert r.status_code == 200
    assert r.json()["accepted"] == []
    assert r.json()["duplicates"] == [x["id"] for x in batch]
    assert _count(engine) == 4


def test_only_new_results_are_accepted_when_batch_partly_stored(client, engine, agent_headers):
    batch = make_batch(6)
    client.post(URL, json={"results": batch[:3]}, headers=agent_headers)
    r = client.post(URL, json={"results": batch}, headers=agent_headers)
    assert r.json()["accepted"] == [x["id"] for x in batch[3:]]
    assert r.json()["duplicates"] == [x["id"] for x in batch[:3]]
    assert _count(engine) == 6


def test_repeated_id_counts_once_when_inside_one_batch(client, engine, agent_headers):
    one = make_result()
    r = client.post(URL, json={"results": [one, one, one]}, headers=agent_headers)
    assert r.status_code == 200
    assert r.json() == {"accepted": [one["id"]], "duplicates": [], "server_time": r.json()["server_time"]}
    assert _count(engine) == 1


def test_empty_batch_is_accepted_and_marks_host_seen_when_agent_reports(client, engine, agent_headers):
    agent_time = datetime.now(UTC) - timedelta(seconds=30)
    r = client.post(URL, json={"results": [], "agent": {
        "time": agent_time.isoformat(), "spool_backlog": 42, "version": "0.1.0"}}, headers=agent_headers)
    assert r.status_code == 200
    assert r.json()["accepted"] == [] and r.json()["duplicates"] == []
    with engine.connect() as conn:
        row = conn.execute(select(hosts)).one()
    assert (row.site, row.host, row.spool_backlog, row.agent_version) == (SITE, HOST, 42, "0.1.0")
    assert 29 < row.clock_offset_s < 90


def test_gzip_body_is_accepted_when_content_encoding_gzip(client, engine, agent_headers):
    batch = make_batch(10)
    data = gzip.compress(orjson.dumps({"results": batch}))
    r = client.post(URL, content=data, headers={**agent_headers, "Content-Encoding": "gzip",
                                                 "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert len(r.json()["accepted"]) == 10
    assert _count(engine) == 10


def test_whole_batch_is_refused_with_indexes_when_one_result_invalid(client, engine, agent_headers):
    batch = make_batch(5)
    batch[3]["status"] = 7
    batch[1]["id"] = "not-an-id"
    r = client.post(URL, json={"results": batch}, headers=agent_headers)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert [d["index"] for d in detail] == [1, 3]
    assert detail[0]["id"] == "not-an-id" and "id" in detail[0]["error"]
    assert detail[1]["id"] == batch[3]["id"] and "status" in detail[1]["error"]
    assert _count(engine) == 0


def test_batch_is_forbidden_and_nothing_stored_when_result_for_another_host(client, engine, agent_headers):
    batch = make_batch(3) + [make_result(host="other-host")]
    r = client.post(URL, json={"results": batch}, headers=agent_headers)
    assert r.status_code == 403
    assert "other-host" in r.json()["detail"]
    assert _count(engine) == 0
    assert _count(engine, hosts) == 0


def test_batch_is_forbidden_when_result_for_another_site(client, engine, agent_headers):
    r = client.post(URL, json={"results": [make_result(site="other-site")]}, headers=agent_headers)
    assert r.status_code == 403
    assert _count(engine) == 0


def test_latest_state_follows_newest_result_when_results_arrive_out_of_order(client, engine, agent_headers):
    t0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    newer = make_result(status=Status.CRITICAL, started_at=t0 + timedelta(minutes=5))
    older = make_result(status=Status.OK, started_at=t0)
    client.post(URL, json={"results": [newer]}, headers=agent_headers)
    client.post(URL, json={"results": [older]}, headers=agent_headers)
    with engine.connect() as conn:
        row = conn.execute(select(latest)).one()
    assert row.status == Status.CRITICAL and row.result_uid == newer["id"]
    newest = make_result(status=Status.WARNING, started_at=t0 + timedelta(minutes=10))
    client.post(URL, json={"results": [newest, older]}, headers=agent_headers)
    with engine.connect() as conn:
        row = conn.execute(select(latest)).one()
    assert row.status == Status.WARNING and row.result_uid == newest["id"]


def test_results_are_stored_intact_when_read_back(client, engine, agent_headers, viewer_headers):
    one = make_result(summary="/ 41.2 % used")
    client.post(URL, json={"results": [one]}, headers=agent_headers)
    got = client.get(URL, headers=viewer_headers).json()["results"][0]
    received = got.pop("received_at")
    assert parse_time(received) >= parse_time(one["started_at"])
    assert got == one


def test_results_that_repeat_texts_and_numbers_are_each_stored_intact_when_read_back(client, agent_headers,
                                                                                   viewer_headers):
    # a batch packs each distinct texts once and maps its rows through them: what each row reads back is its own
    base = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    sent = [make_result(item=f"/m{i % 3}", started_at=base + timedelta(seconds=10 * (i // 3)),
                        summary=f"/ {41 + (i % 2) / 10:.1f} % used") for i in range(12)]
    r = client.post(URL, json={"results": sent}, headers=agent_headers)
    assert r.json()["accepted"] == [x["id"] for x in sent]
    got = {x.pop("id"): x for x in client.get(URL, params={"limit": 100}, headers=viewer_headers).json()["results"]}
    for one in sent:
        back = got[one["id"]]
        back.pop("received_at")
        assert {**back, "id": one["id"]} == one


def test_second_token_for_same_host_writes_when_tokens_rotate(client, engine, agent_headers):
    other = create_agent_token(engine, site=SITE, host=HOST)
    r = client.post(URL, json={"results": make_batch(1)}, headers={"Authorization": f"Bearer {other}"})
    assert r.status_code == 200


def test_series_and_template_ids_of_a_rolled_back_batch_are_not_remembered(engine):
    from collector.store.db import writing
    from collector.store.queries import series_ids, template_ids
    from collector.store.tables import result_series, result_texts

    key = (SITE, HOST, "disk", "/rolled-back")
    pack = ((("/ ", " % used"),), ["41"])
    digest = b"\x01" * 16

    class Undo(Exception):
        pass

    try:
        with writing(engine) as conn:
            series_ids(conn, {key}), template_ids(conn, {digest: pack})
            # asked again in the same transaction: the rows it added are visible, not yet committed
            series_ids(conn, {key}), template_ids(conn, {digest: pack})
            raise Undo
    except Undo:
        pass
    with writing(engine) as conn:  # added again, and the ids given are the stored rows'
        sid, (tid, _) = series_ids(conn, {key})[key], template_ids(conn, {digest: pack})[digest]
    with engine.connect() as conn:
        assert conn.execute(select(result_series.c.id).where(result_series.c.item == key[3])).scalar_one() == sid
        assert conn.execute(select(result_texts.c.id).where(result_texts.c.digest == digest)).scalar_one() == tid
    with writing(engine) as conn:  # now committed: remembered (no SELECT needed), the same ids
        assert series_ids(conn, {key}) == {key: sid}


def test_present_ids_are_found_by_the_index_when_the_month_has_no_statistics(pg_cluster):
    """PostgreSQL: a month's partition has no statistics until autovacuum analyses it, and the planner read the
    present-ids lookup (``uid = ANY`` of a batch's ids) as "every row": it scanned the whole partition for each
    batch (bench/ingest.py: about 55 ms a batch at 400,000 rows, most of the server's time)."""
    from collector.ingest import parse_batch
    from collector.store.db import make_engine, writing
    from collector.store.queries import existing_uids, store_new_results
    from collector.store.tickets import lock_hosts
    from tests.collector.conftest import TEMPLATE_DB

    name = pg_cluster.create_db(template=TEMPLATE_DB)
    engine = make_engine(pg_cluster.url(name))
    try:
        stored = parse_batch(orjson.dumps({"results": make_batch(20)}), datetime.now(UTC)).rows
        with writing(engine) as conn:
            assert store_new_results(conn, stored) == {r["uid"] for r in stored}
        new = [r["id"] for r in make_batch(480)]
        scans = ("SELECT coalesce(sum(seq_scan), 0), coalesce(sum(idx_scan), 0) FROM pg_stat_xact_user_tables "
                 "WHERE relname LIKE 'result_rows_%%'")  # this connection's counts not yet reported
        for locked in (False, True):  # alone, and after the ingest's first statement (which turns the scans off)
            with writing(engine) as conn:
                if locked:
                    lock_hosts(conn, SITE, [HOST])
                before = conn.exec_driver_sql(scans).one()
                present = existing_uids(conn, [r["uid"] for r in stored] + new)
                after = conn.exec_driver_sql(scans).one()
            seq, idx = (a - b for a, b in zip(after, before, strict=True))
            assert present == {r["uid"] for r in stored}
            assert seq == 0 and idx > 0, locked  # (PostgreSQL 15 counts a probe per id)
    finally:
        engine.dispose()
        pg_cluster.drop_db(name)
