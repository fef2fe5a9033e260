"""Keyed record integrity: every change made straight in the database fails ``GET /records/{id}/verify``.

Each tampering below edits the database as someone with database access but
without the collector's key file would — recomputing digests where that
helps them — and the API must then answer ``verified: false`` (status
``failed``).  Records stored before keyed signatures verify as
``digest_only``; key rotation keeps old records verifiable.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from collector.app import create_app
from collector.auth import create_user
from collector.config import Settings
from collector.keys import create_key, load_keyring, retired_file, rotate_key
from collector.policy import default_policies
from collector.records import integrity
from collector.records.service import RecordInvalid, Records
from collector.store.db import make_engine
from collector.store.migrate import upgrade
from tests.collector.records_data import DAY, SITE, ZONE, fill_site

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=ZONE)


@pytest.fixture
def api(db_url: str, engine: Any) -> Iterator[tuple[TestClient, dict[str, str], Records]]:
    fill_site(engine)
    app = create_app(Settings(db_url=db_url), engine=engine)
    services = app.state.services
    records = services.records = Records(engine, clock=lambda: NOW.astimezone(UTC), keys=services.keys)
    viewer = {"Authorization": f"Bearer {create_user(engine, name='vera', role='viewer')}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, viewer, records


def _sha(text_: str) -> str:
    return hashlib.sha256(text_.encode("utf-8")).hexdigest()


def _recompute_digest(conn: Connection, rid: int) -> None:
    content = conn.execute(text("SELECT content FROM records WHERE id = :id"), {"id": rid}).scalar_one()
    conn.execute(text("UPDATE records SET digest = :d WHERE id = :id"), {"d": _sha(content), "id": rid})
    conn.execute(text("UPDATE record_signatures SET digest = :d WHERE record_id = :id"),
                 {"d": _sha(content), "id": rid})


def _sig_ids(conn: Connection, rid: int) -> list[int]:
    return [int(i) for i in conn.execute(text("SELECT id FROM record_signatures WHERE record_id = :id "
                                              "ORDER BY id"), {"id": rid}).scalars()]


def _content(conn: Connection, rid: int) -> None:
    conn.execute(text("UPDATE records SET content = REPLACE(content, '41.2 %', '11.2 %') WHERE id = :id"),
                 {"id": rid})
    _recompute_digest(conn, rid)


def _column(column: str, value: Any) -> Callable[[Connection, int, int], None]:
    def tamper(conn: Connection, rid: int, other: int) -> None:
        conn.execute(text(f"UPDATE records SET {column} = :v WHERE id = :id"), {"v": value, "id": rid})
    return tamper


def _signoff(column: str, value: Any, which: int = 0) -> Callable[[Connection, int, int], None]:
    def tamper(conn: Connection, rid: int, other: int) -> None:
        conn.execute(text(f"UPDATE record_signatures SET {column} = :v WHERE id = :id"),
                     {"v": value, "id": _sig_ids(conn, rid)[which]})
    return tamper


def _copy_from_other(columns: str) -> Callable[[Connection, int, int], None]:
    def tamper(conn: Connection, rid: int, other: int) -> None:
        sets = ", ".join(f"{c} = (SELECT {c} FROM records WHERE id = :other)" for c in columns.split(","))
        conn.execute(text(f"UPDATE records SET {sets} WHERE id = :id"), {"id": rid, "other": other})
    return tamper


def _delete_signoff(which: int) -> Callable[[Connection, int, int], None]:
    def tamper(conn: Connection, rid: int, other: int) -> None:
        conn.execute(text("DELETE FROM record_signatures WHERE id = :id"), {"id": _sig_ids(conn, rid)[which]})
    return tamper


def _move_signoff(conn: Connection, rid: int, other: int) -> None:
    """The customer's sign-off of the other record (same signer, role and digest recomputed) moved here."""
    sid = _sig_ids(conn, other)[1]
    conn.execute(text("UPDATE record_signatures SET record_id = :id, digest = (SELECT digest FROM records "
                      "WHERE id = :id) WHERE id = :sid"), {"id": rid, "sid": sid})


def _duplicate_signoff(conn: Connection, rid: int, other: int) -> None:
    conn.execute(text("INSERT INTO record_signatures (record_id, signer, role, signed_at, note, digest, "
                      "signed_by, signature, key_id) SELECT record_id, signer, role, signed_at, note, digest, "
                      "signed_by, signature, key_id FROM record_signatures WHERE id = :sid"),
                 {"sid": _sig_ids(conn, rid)[1]})


def _swap_signoffs(conn: Connection, rid: int, other: int) -> None:
    """The two sign-offs keep their fields but trade their signatures."""
    first, second = _sig_ids(conn, rid)
    sig1, sig2 = (conn.execute(text("SELECT signature FROM record_signatures WHERE id = :i"), {"i": i}).scalar()
                  for i in (first, second))
    conn.execute(text("UPDATE record_signatures SET signature = :s WHERE id = :i"), {"s": sig2, "i": first})
    conn.execute(text("UPDATE record_signatures SET signature = :s WHERE id = :i"), {"s": sig1, "i": second})


def _renumber(conn: Connection, rid: int, other: int) -> None:
    """The record and its sign-offs moved to a new, unused number."""
    conn.execute(text("INSERT INTO records (id, site, kind, period_start, period_end, period_from, period_to, "
                      "language, origin, issued_by, issued_at, content, digest, signature, key_id) "
                      "SELECT 900, site, kind, period_start, period_end, period_from, period_to, language, "
                      "origin, issued_by, issued_at, content, digest, signature, key_id FROM records "
                      "WHERE id = :id"), {"id": rid})
    conn.execute(text("UPDATE record_signatures SET record_id = 900 WHERE record_id = :id"), {"id": rid})
    conn.execute(text("DELETE FROM records WHERE id = :id"), {"id": rid})


TAMPERING: dict[str, Callable[[Connection, int, int], None]] = {
    "content changed, digests recomputed": lambda conn, rid, other: _content(conn, rid),
    "site": _column("site", "other-site"),
    "kind": _column("kind", "weekly"),
    "period_from": _column("period_from", "2026-11-21"),
    "period_to": _column("period_to", "2026-11-23"),
    "period_start": _column("period_start", "2026-11-20 16:00:00"),
    "language": _column("language", "en"),
    "issuer": _column("issued_by", "wang"),
    "issued time": _column("issued_at", "2026-11-24 08:00:00"),
    "content and digest of another record": _copy_from_other("content,digest"),
    "signature of another record": _copy_from_other("signature,key_id"),
    "record signature removed": _column("signature", None),
    "key id changed": _column("key_id", "0000000000000000"),
    "signer renamed": _signoff("signer", "Mallory", 1),
    "role changed": _signoff("role", "engineer", 1),
    "note changed": _signoff("note", "no objection", 0),
    "signed time changed": _signoff("signed_at", "2026-11-25 09:00:00", 1),
    "signed_by changed": _signoff("signed_by", "admin", 0),
    "sign-off signature removed": _signoff("signature", None, 1),
    "last sign-off deleted": _delete_signoff(1),
    "first sign-off deleted": _delete_signoff(0),
    "sign-off moved from another record": _move_signoff,
    "sign-off duplicated": _duplicate_signoff,
    "sign-offs' signatures swapped": _swap_signoffs,
    "record renumbered": _renumber,
}


def _issue_signed(records: Records, lang: str = "zh_CN") -> int:
    rec = records.issue(site=SITE, kind="daily", period=DAY, language=lang, actor="li")
    records.sign(rec.id, signer="李工", role="engineer", note="已巡检", actor="li")
    records.sign(rec.id, signer="王主任", role="customer", note="同意", actor="li")
    return rec.id


def test_verify_says_false_after_every_change_in_the_database_when_digests_are_recomputed(api: Any) -> None:
    client, viewer, records = api
    other = _issue_signed(records, "en")
    wrong = []
    for name, tamper in TAMPERING.items():
        rid = _issue_signed(records)
        ok = client.get(f"/api/v1/records/{rid}/verify", headers=viewer).json()
        assert ok["verified"] is True and ok["status"] == "verified", (name, ok)
        with records.engine.begin() as conn:
            tamper(conn, rid, other)
        target = 900 if name == "record renumbered" else rid
        got = client.get(f"/api/v1/records/{target}/verify", headers=viewer).json()
        if got["verified"] is not False or got["status"] != "failed" or not got["problems"]:
            wrong.append((name, got))
    assert wrong == []
    assert client.get(f"/api/v1/records/{other}/verify", headers=viewer).json()["status"] != "verified"


def test_a_signed_record_verifies_with_its_key_and_fingerprint_when_untouched(api: Any) -> None:
    client, viewer, records = api
    rid = _issue_signed(records)
    got = client.get(f"/api/v1/records/{rid}/verify", headers=viewer).json()
    key = records.keys.public
    assert (got["verified"], got["status"], got["key_id"], got["fingerprint"]) == (
        True, "verified", key.key_id, key.fingerprint)
    assert [s["status"] for s in got["signatures"]] == ["verified", "verified"]
    doc = client.get(f"/api/v1/records/{rid}", headers=viewer).json()
    assert doc["integrity"] == "verified" and doc["key_id"] == key.key_id


def test_a_tampered_record_cannot_be_signed_when_its_metadata_was_changed(api: Any) -> None:
    _, _, records = api
    rid = _issue_signed(records)
    with records.engine.begin() as conn:
        conn.execute(text("UPDATE records SET issued_by = 'wang' WHERE id = :id"), {"id": rid})
    with pytest.raises(RecordInvalid, match="fails verification"):
        records.sign(rid, signer="x", role="engineer", actor="li")


def test_a_record_stored_before_keyed_signatures_verifies_as_digest_only_when_migrated(
        tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    upgrade(engine, "0006")
    content = '{"header":{"kind":"daily","language":"en","site":"central-hospital"},"rows":[],"schema":1}'
    with engine.begin() as conn:
        for rid in (1, 2):
            conn.execute(text(
                "INSERT INTO records (id, site, kind, period_start, period_end, period_from, period_to, language, "
                "origin, issued_by, issued_at, content, digest) VALUES (:id, 'central-hospital', 'daily', "
                "'2026-11-21 16:00:00', '2026-11-22 16:00:00', '2026-11-22', '2026-11-22', 'en', 'manual', "
                "'system', '2026-11-23 00:00:00', :c, :d)"), {"id": rid, "c": content, "d": _sha(content)})
        conn.execute(text("INSERT INTO record_signatures (record_id, signer, role, signed_at, note, digest, "
                          "signed_by) VALUES (1, 'Li', 'engineer', '2026-11-23 01:00:00', '', :d, 'li')"),
                     {"d": _sha(content)})
    upgrade(engine)
    records = Records(engine, default_policies(), clock=lambda: NOW.astimezone(UTC))
    old = records.verify(1)
    assert (old["verified"], old["status"], old["problems"]) == (False, "digest_only", [])
    assert old["signatures"][0]["status"] == "digest_only"
    signed = records.sign(1, signer="王主任", role="customer", actor="li")  # still signable
    assert signed.integrity == "digest_only" and [s["status"] for s in signed.signatures] == [
        "digest_only", "verified"]
    with engine.begin() as conn:
        conn.execute(text("UPDATE records SET content = REPLACE(content, 'daily', 'weekly') WHERE id = 2"))
    assert records.verify(2)["status"] == "failed"
    engine.dispose()


def test_old_records_still_verify_after_the_key_is_rotated_and_not_with_an_untrusted_key(
        tmp_path: Path, sqlite_template: Path) -> None:
    shutil.copyfile(sqlite_template, tmp_path / "w.db")
    engine = make_engine(f"sqlite:///{tmp_path}/w.db")
    fill_site(engine)
    key_file = tmp_path / "collector.key"
    first = create_key(key_file)
    rid = _issue_signed(Records(engine, clock=lambda: NOW.astimezone(UTC), keys=first))
    second, retired = rotate_key(key_file)
    assert retired.key_id == first.key_id != second.key_id
    rotated = Records(engine, clock=lambda: NOW.astimezone(UTC), keys=load_keyring(key_file))
    assert rotated.verify(rid)["status"] == "verified"
    newer = _issue_signed(rotated)
    assert rotated.get(newer).key_id == second.key_id and rotated.verify(newer)["verified"] is True
    retired_file(key_file).unlink()  # the old public key forgotten: its records no longer verify
    forgetful = Records(engine, keys=load_keyring(key_file))
    got = forgetful.verify(rid)
    assert got["status"] == "failed" and "does not trust" in got["problems"][0]
    assert forgetful.verify(newer)["status"] == "verified"
    engine.dispose()


def test_an_export_verifies_offline_with_the_public_key_and_fails_when_edited(api: Any, tmp_path: Path) -> None:
    _, _, records = api
    rid = _issue_signed(records)
    data = records.export(rid)
    key = records.keys.public
    assert integrity.check_export(data, key).status == "verified"
    edited = data.replace("王主任".encode(), "张三".encode(), 1)
    assert edited != data and integrity.check_export(edited, key).status == "failed"
    stranger = create_key(tmp_path / "stranger.key").public
    assert integrity.check_export(data, stranger).status == "failed"


def test_a_record_refused_for_signing_names_its_problems_in_the_readers_language(api: Any) -> None:
    """Issue 14: the problems inside "cannot be signed" were English in the Chinese sentence."""
    from collector.web.routes import refusal
    _, _, records = api
    rid, other = _issue_signed(records), _issue_signed(records)
    with records.engine.begin() as conn:
        first, second = _sig_ids(conn, rid)
        conn.execute(text("UPDATE records SET key_id = 'stranger', content = content || ' ' WHERE id = :id"),
                     {"id": rid})
        conn.execute(text("UPDATE record_signatures SET note = 'x' WHERE id = :id"), {"id": first})
        conn.execute(text("DELETE FROM record_signatures WHERE id = :id"), {"id": second})
        conn.execute(text("UPDATE records SET signature = (SELECT signature FROM records WHERE id = :rid) "
                          "WHERE id = :id"), {"rid": rid, "id": other})
    said: dict[int, dict[str, str]] = {}
    keys: set[str] = set()
    for which, problems in ((rid, 5), (other, 4)):
        with pytest.raises(RecordInvalid) as refused:
            records.sign(which, signer="x", role="engineer", actor="li")
        assert len(records.get(which).problems) == problems
        keys.update(p.message.key for p in records.get(which).problems)
        said[which] = {lang: refusal(refused.value, lang) for lang in ("zh_CN", "en")}
        assert said[which]["en"] == (f"record {which} fails verification ("
                                     f"{'; '.join(records.get(which).problems)}); it cannot be signed")
        zh = said[which]["zh_CN"].replace("stranger", "")
        assert re.search(r"[\u4e00-\u9fff]", zh) and not re.findall(r"[A-Za-z]{2,}", zh), zh
    assert len(keys) == 7 and "审计日志" in said[other]["zh_CN"], (keys, said)  # every kind of problem
