"""Results with message keys (issue 14): stored, answered, rendered in the reader's language;
results from agents without keys still accepted; a malformed message refused naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

from checks.messages import say
from checks.result import Metric, Result, Status
from tests.collector.conftest import HOST, SITE, make_result


def _keyed(item: str = "/data") -> dict:
    r = Result("disk", item, Status.CRITICAL, summary=say("disk.used", mount=item, used=95.04, free=2**30, total=2**34),
               standard=say("disk.standard", warn=80, days=30),
               metrics=(Metric("used_percent", 95.04, "%", warn=80, crit=90),))
    return r.with_origin(site=SITE, host=HOST, started_at=datetime.now(UTC)).to_wire()


def test_keys_are_stored_and_answered_beside_the_english_texts_and_old_results_still_go_in(
        client, agent_headers, viewer_headers):
    keyed, plain = _keyed(), make_result(item="/old", summary="/old 10 % used")
    r = client.post("/api/v1/results", json={"results": [keyed, plain]}, headers=agent_headers)
    assert r.status_code == 200 and sorted(r.json()["accepted"]) == sorted([keyed["id"], plain["id"]])
    got = {x["id"]: x for x in client.get(f"/api/v1/results?site={SITE}", headers=viewer_headers).json()["results"]}
    assert got[keyed["id"]]["message"] == keyed["message"]
    assert got[keyed["id"]]["standard_message"] == keyed["standard_message"]
    assert got[keyed["id"]]["summary"] == "/data 95.0 % used, 1 GiB free of 16 GiB"
    assert "message" not in got[plain["id"]]


def test_a_malformed_message_is_refused_naming_the_field_and_the_batch_loses_nothing(client, agent_headers):
    bad = {**_keyed(), "message": {"key": "disk.used", "args": {"mount": {"nested": "not a message"}}}}
    r = client.post("/api/v1/results", json={"results": [bad]}, headers=agent_headers)
    assert r.status_code == 422 and "message.args.mount" in r.text


def test_the_host_page_shows_the_keyed_texts_in_the_readers_language_and_falls_back_for_unknown_keys(
        client, agent_headers, engine):
    from collector.auth import create_user
    newer = {**_keyed("/new"), "message": {"key": "disk.from_a_newer_agent", "args": {}},
             "summary": "an English summary from a newer agent"}
    markup = {**_keyed("/m"), "summary": "fallback for markup"}
    markup["message"]["args"]["mount"] = "<b>x</b>"
    assert client.post("/api/v1/results", json={"results": [_keyed(), newer, markup]},
                       headers=agent_headers).status_code == 200
    token = create_user(engine, name="vera", role="viewer")
    client.post("/login", data={"token": token, "next": "/hosts"})
    zh = client.get(f"/hosts/{SITE}/{HOST}").text
    assert "/data 已用 95.0 %，总 16 GiB，剩余 1 GiB" in zh and "使用率 &lt; 80 %，写满时间 &gt; 30 天" in zh
    assert "an English summary from a newer agent" in zh and "fallback for markup" in zh and "<b>x" not in zh
    en = client.get(f"/hosts/{SITE}/{HOST}?lang=en").text
    assert "/data 95.0 % used, 1 GiB free of 16 GiB" in en and "已用" not in en


def test_ingest_stores_the_message_members_as_the_result_carries_them_on_either_path():
    import orjson  # noqa: PLC0415

    from collector.ingest import parse_batch  # noqa: PLC0415
    from collector.messages import messages_json, read_messages  # noqa: PLC0415
    wire = {**_keyed(), "message": {"args": {"mount": "/", "used": 41.5, "free": 1, "total": 2,
                                             "parts": [{"key": "disk.none"}]}, "key": "disk.used"},
            "standard_message": None}
    result = Result.from_wire(wire)
    plain = {k: v for k, v in wire.items() if k != "message"}
    for v in (1, 1.0):  # 1.0: the slow path (orjson, read_wire)
        [row, none] = parse_batch(orjson.dumps({"results": [{**wire, "v": v}, {**plain, "v": v, "id": "f" * 32}]}),
                                  datetime.now(UTC)).rows
        assert row["messages"] == messages_json(result)  # key first, args always: Message.to_wire's form
        assert read_messages(row["messages"]) == (result.message, None)
        assert none["messages"] is None


def test_the_ticket_page_lists_the_items_recent_results_in_the_readers_language(client, agent_headers, engine):
    from collector.auth import create_user
    assert client.post("/api/v1/results", json={"results": [_keyed(), _keyed()]},
                       headers=agent_headers).status_code == 200
    token = create_user(engine, name="erin", role="engineer")
    [ticket] = [t for t in client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"}).json()["tickets"]
                if t["item"] == "/data"]
    client.post("/login", data={"token": token, "next": ""})
    zh = client.get(f"/tickets/{ticket['id']}?lang=zh_CN").text
    assert zh.count("/data 已用 95.0 %，总 16 GiB，剩余 1 GiB") >= 2 and "% used" not in zh
    en = client.get(f"/tickets/{ticket['id']}?lang=en").text
    assert en.count("/data 95.0 % used, 1 GiB free of 16 GiB") >= 2 and "已用" not in en


def test_one_moment_is_said_one_way_named_or_not_and_a_time_with_no_local_time_in_utc():
    from zoneinfo import ZoneInfo

    from collector.messages import local_moment

    shanghai = ZoneInfo("Asia/Shanghai")
    aware, naive = datetime(2026, 12, 6, 3, 48, 30, tzinfo=UTC), datetime(2026, 12, 6, 3, 48, 30)  # naive is UTC
    for value in (aware, naive, "2026-12-06T03:48:30.5Z", "2026-12-06T11:48:30+08:00"):
        assert local_moment(value, shanghai) == "2026-12-06 11:48 (Asia/Shanghai)"
        assert local_moment(value, shanghai, named=False) == "2026-12-06 11:48"  # a page names its zone once
    end = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)  # a bad clock's: past the calendar in Shanghai
    assert local_moment(end, shanghai) == local_moment(end, shanghai, named=False) == "9999-12-31 23:59 (UTC)"
    assert (local_moment(None, shanghai), local_moment("", shanghai), local_moment("soon", shanghai)) == (
        None, None, "soon")
