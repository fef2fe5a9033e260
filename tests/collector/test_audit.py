"""The audit log of people's actions: every action through the API, the pages and the command line is
appended once, hash-chained and signed; a deleted, inserted or edited entry is found; several collectors
appending at once make one chain (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from collector import audit
from collector.auth import create_agent_token, create_user
from collector.keys import default_keyring
from collector.store.audit import AuditFilter
from collector.store.db import make_engine, reading, writing
from collector.web.sessions import COOKIE, csrf_token
from tests.collector.conftest import HOST, SITE, make_result

ROOT = Path(__file__).resolve().parents[2]


def _entries(engine: Engine) -> list[dict[str, Any]]:
    return list(reversed(audit.list_entries(engine, AuditFilter(limit=1000))))


def test_every_persons_action_is_audited_once_through_the_api_pages_and_cli_and_never_a_token(
        client: Any, engine: Engine, agent_token: str, agent_headers: dict[str, str]) -> None:
    admin = {"Authorization": f"Bearer {create_user(engine, name='ada', role='admin')}"}
    eng_token = create_user(engine, name="erin", role="engineer")
    engineer = {"Authorization": f"Bearer {eng_token}"}
    assert client.post("/api/v1/results", json={"results": [make_result()]}, headers=agent_headers).status_code == 200
    assert client.post("/login", data={"token": "wru_wrong", "next": "/hosts"}).status_code == 401
    assert client.post("/login", data={"token": agent_token, "next": "/hosts"}).status_code == 401
    assert client.post("/login", data={"token": eng_token, "next": "/hosts"}, follow_redirects=False
                       ).status_code == 303
    csrf = csrf_token(client.cookies.get(COOKIE))
    page = client.post("/tickets", data={"csrf": csrf, "site": SITE, "host": HOST, "severity": "2",
                                         "summary": "HIS slow", "reported_via": "phone"}, follow_redirects=False)
    by_page = int(page.headers["location"].rsplit("/", 1)[1])
    assert client.post(f"/tickets/{by_page}/ack", data={"csrf": csrf, "note": "on it"},
                       follow_redirects=False).status_code == 303
    t = client.post("/api/v1/tickets", json={"site": SITE, "host": HOST, "severity": 1, "summary": "LIS down",
                                             "reported_via": "phone"}, headers=engineer).json()
    for action, body in (("ack", {}), ("comments", {"text": "called the ward"}), ("onsite", {}),
                         ("resolve", {"note": "fixed"}), ("close", {})):
        assert client.post(f"/api/v1/tickets/{t['id']}/{action}", json=body, headers=engineer).status_code == 200
    rec = client.post("/api/v1/records", json={"site": SITE, "kind": "daily"}, headers=engineer).json()
    assert client.post(f"/api/v1/records/{rec['id']}/sign", json={"signer": "王主任", "role": "customer"},
                       headers=engineer).status_code == 201
    assert client.post("/api/v1/archive", json={"site": SITE, "kind": "phone", "at": "2026-11-20T10:00:00+08:00",
                                                "phenomenon": "slow", "action": "restarted"},
                       headers=engineer).status_code == 201
    assert client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303

    listed = client.get("/api/v1/audit", params={"limit": 1000}, headers=admin)
    assert listed.status_code == 200
    got = [(e["action"], e["outcome"], e["actor"], e["target"], e["source"])
           for e in reversed(listed.json()["entries"])]
    cli = audit.local_actor()
    tid, rid = t["id"], rec["id"]
    assert got == [
        ("token.create", "ok", cli, f"token:{SITE}/{HOST}", "cli"),
        ("user.create", "ok", cli, "user:ada", "cli"),
        ("user.create", "ok", cli, "user:erin", "cli"),
        ("login", "failed", "", "", "web testclient"),
        ("login", "failed", "", "", "web testclient"),
        ("login", "ok", "erin", "user:erin", "web testclient"),
        ("ticket.open", "ok", "erin", f"ticket:{by_page}", "web testclient"),
        ("ticket.ack", "ok", "erin", f"ticket:{by_page}", "web testclient"),
        ("ticket.open", "ok", "erin", f"ticket:{tid}", "api testclient"),
        ("ticket.ack", "ok", "erin", f"ticket:{tid}", "api testclient"),
        ("ticket.comment", "ok", "erin", f"ticket:{tid}", "api testclient"),
        ("ticket.onsite", "ok", "erin", f"ticket:{tid}", "api testclient"),
        ("ticket.resolve", "ok", "erin", f"ticket:{tid}", "api testclient"),
        ("ticket.close", "ok", "erin", f"ticket:{tid}", "api testclient"),
        ("record.issue", "ok", "erin", f"record:{rid}", "api testclient"),
        ("record.sign", "ok", "erin", f"record:{rid}", "api testclient"),
        ("archive.add", "ok", "erin", got[16][3], "api testclient"),
        ("logout", "ok", "erin", "user:erin", "web testclient"),
    ]
    entries = listed.json()["entries"]
    assert [e["detail"]["reason"] for e in entries if e["outcome"] == "failed"] == [
        "an agent's token", "unknown or revoked token"]
    assert next(e for e in entries if e["action"] == "ticket.ack" and e["target"] == f"ticket:{tid}")[
        "detail"] == {"from": "open", "to": "acknowledged", "note": "acknowledged"}
    with reading(engine) as conn:  # no secret anywhere in the table
        dump = " ".join(str(v) for row in conn.execute(text("SELECT * FROM audit_log")) for v in row)
    for secret in (agent_token, eng_token, admin["Authorization"][7:], "wru_wrong"):
        assert secret not in dump
    assert audit.verify_chain(engine, default_keyring()).intact


def test_only_admins_read_the_audit_log_and_filters_and_pages_narrow_it_when_given(
        client: Any, engine: Engine, viewer_headers: dict[str, str]) -> None:
    admin = {"Authorization": f"Bearer {create_user(engine, name='ada', role='admin')}"}
    engineer = {"Authorization": f"Bearer {create_user(engine, name='erin', role='engineer')}"}
    assert client.get("/api/v1/audit").status_code == 401
    assert client.get("/api/v1/audit", headers=viewer_headers).status_code == 403
    assert client.get("/api/v1/audit", headers=engineer).status_code == 403
    keys = default_keyring()
    with writing(engine) as conn:
        for i in range(5):
            audit.append(conn, keys, actor="li" if i % 2 else "wang", action="ticket.comment",
                         target=f"ticket:{i}", at=datetime(2026, 11, 20 + i, 3, tzinfo=UTC))
    everything = client.get("/api/v1/audit", headers=admin).json()["entries"]
    assert len(everything) == 8 and everything[0]["seq"] == 8  # 3 user.create + 5; newest first
    assert [e["target"] for e in client.get("/api/v1/audit", params={"actor": "li"}, headers=admin).json()[
        "entries"]] == ["ticket:3", "ticket:1"]
    assert len(client.get("/api/v1/audit", params={"action": "ticket"}, headers=admin).json()["entries"]) == 5
    assert len(client.get("/api/v1/audit", params={"action": "user.create"}, headers=admin).json()["entries"]) == 3
    window = client.get("/api/v1/audit", params={"from": "2026-11-21", "to": "2026-11-22T12:00:00+08:00",
                                                "action": "ticket"}, headers=admin).json()["entries"]
    assert [e["target"] for e in window] == ["ticket:2", "ticket:1"]
    page1 = client.get("/api/v1/audit", params={"limit": 3}, headers=admin).json()
    page2 = client.get(page1["next"], headers=admin).json()
    assert [e["seq"] for e in page1["entries"] + page2["entries"]] == [8, 7, 6, 5, 4, 3]
    for bad in ({"from": "yesterday"}, {"action": "DROP TABLE"}, {"limit": 0}, {"before": 0}):
        assert client.get("/api/v1/audit", params=bad, headers=admin).status_code == 422, bad


def _chain(engine: Engine, n: int = 6) -> None:
    keys = default_keyring()
    for i in range(n):
        with writing(engine) as conn:
            audit.append(conn, keys, actor="li", action="ticket.comment", target=f"ticket:{i}",
                         detail={"note": f"comment {i}"})


def _rehash(conn: Connection, seq: int) -> None:
    row = conn.execute(text("SELECT * FROM audit_log WHERE seq = :s"), {"s": seq}).first()
    assert row is not None
    data = audit.entry_bytes(seq=row.seq, at=row.at if isinstance(row.at, datetime) else
                             datetime.fromisoformat(str(row.at)).replace(tzinfo=UTC), actor=row.actor,
                             action=row.action, outcome=row.outcome, target=row.target, source=row.source,
                             detail=row.detail, prev_hash=row.prev_hash)
    conn.execute(text("UPDATE audit_log SET hash = :h WHERE seq = :s"),
                 {"h": hashlib.sha256(data).hexdigest(), "s": seq})


def _forge(conn: Connection, seq: int, prev_hash: str) -> None:
    at = datetime(2026, 11, 22, 3, tzinfo=UTC)
    data = audit.entry_bytes(seq=seq, at=at, actor="mallory", action="ticket.close", outcome="ok",
                             target="ticket:9", source="cli", detail="{}", prev_hash=prev_hash)
    conn.execute(text("INSERT INTO audit_log (seq, at, actor, action, outcome, target, source, detail, prev_hash, "
                      "hash, key_id, signature) VALUES (:seq, :at, 'mallory', 'ticket.close', 'ok', 'ticket:9', "
                      "'cli', '{}', :prev, :hash, :kid, :sig)"),
                 {"seq": seq, "at": at if conn.dialect.name == "postgresql" else "2026-11-22 03:00:00",
                  "prev": prev_hash, "hash": hashlib.sha256(data).hexdigest(), "kid": default_keyring().key_id,
                  "sig": "A" * 86 + "=="})


def _hash_of(conn: Connection, seq: int) -> str:
    return str(conn.execute(text("SELECT hash FROM audit_log WHERE seq = :s"), {"s": seq}).scalar_one())


TAMPERING: dict[str, tuple[Callable[[Connection], None], int]] = {
    "detail edited": (lambda c: c.execute(text("UPDATE audit_log SET detail = '{\"note\":\"nothing\"}' "
                                               "WHERE seq = 3")), 3),
    "actor edited, hash recomputed": (lambda c: (c.execute(text("UPDATE audit_log SET actor = 'wang' "
                                                                "WHERE seq = 4")), _rehash(c, 4)), 4),
    "entry deleted": (lambda c: c.execute(text("DELETE FROM audit_log WHERE seq = 2")), 2),
    "first entry deleted": (lambda c: c.execute(text("DELETE FROM audit_log WHERE seq = 1")), 1),
    "entry inserted in the middle": (lambda c: (
        c.execute(text("UPDATE audit_log SET seq = seq + 100 WHERE seq > 3")),
        c.execute(text("UPDATE audit_log SET seq = seq - 99 WHERE seq > 100")),
        _forge(c, 4, _hash_of(c, 3))), 4),
    "entry appended without the key": (lambda c: _forge(c, 7, _hash_of(c, 6)), 7),
    "two entries swapped": (lambda c: (
        c.execute(text("UPDATE audit_log SET seq = 100 WHERE seq = 2")),
        c.execute(text("UPDATE audit_log SET seq = 2 WHERE seq = 3")),
        c.execute(text("UPDATE audit_log SET seq = 3 WHERE seq = 100"))), 2),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_audit_verify_names_the_first_broken_entry_when_the_database_was_edited(
        engine: Engine, case: str) -> None:
    _chain(engine)
    keys = default_keyring()
    intact = audit.verify_chain(engine, keys)
    assert (intact.intact, intact.entries, intact.head_seq) == (True, 6, 6)
    tamper, broken = TAMPERING[case]
    with engine.begin() as conn:
        tamper(conn)
    report = audit.verify_chain(engine, keys)
    assert not report.intact and report.broken_seq == broken, (case, report)
    assert report.entries == broken - 1


def test_audit_verify_exits_0_when_intact_and_1_naming_the_entry_when_broken(tmp_path: Path,
                                                                            sqlite_template: Path) -> None:
    import shutil

    shutil.copyfile(sqlite_template, tmp_path / "w.db")
    db = f"sqlite:///{tmp_path}/w.db"
    engine = make_engine(db)
    _chain(engine, 3)

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "collector.cli", "audit", "verify", "--db", db],
                              capture_output=True, text=True, cwd=ROOT, timeout=60)

    ok = verify()
    assert ok.returncode == 0 and "intact: 3 entries" in ok.stdout, ok.stderr
    assert _hash_of_engine(engine, 3) in ok.stdout  # the head, to compare with the collector's log
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET target = 'ticket:99' WHERE seq = 2"))
    broken = verify()
    assert broken.returncode == 1 and "BROKEN at entry #2" in broken.stdout
    engine.dispose()


def _hash_of_engine(engine: Engine, seq: int) -> str:
    with engine.connect() as conn:
        return _hash_of(conn, seq)


def test_collectors_appending_at_once_make_one_unbroken_chain_when_they_share_the_database(db_url: str) -> None:
    """Four collectors (engines) append 25 entries each at the same time: one chain, seq 1..100."""
    keys = default_keyring()
    engines = [make_engine(db_url) for _ in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(engines))

    def run(n: int, engine: Engine) -> None:
        try:
            start.wait()
            for i in range(25):
                with writing(engine) as conn:
                    audit.append(conn, keys, actor=f"collector-{n}", action="login", target=f"user:{i}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n, e)) for n, e in enumerate(engines)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    report = audit.verify_chain(engines[0], keys)
    assert (report.intact, report.entries, report.head_seq) == (True, 100, 100), report
    for e in engines:
        e.dispose()


def test_an_append_outside_a_write_transaction_or_with_a_secret_is_refused(engine: Engine) -> None:
    keys = default_keyring()
    with writing(engine) as conn:
        for detail in ({"token": "x"}, {"password": "x"}):  # a person's text that looks like one: redacted
            with pytest.raises(ValueError, match="secrets"):
                audit.append(conn, keys, actor="li", action="user.create", detail=detail)
        with pytest.raises(ValueError, match="action"):
            audit.append(conn, keys, actor="li", action="Drop Table")
    if engine.dialect.name == "sqlite":
        with reading(engine) as conn, pytest.raises(RuntimeError, match="write transaction"):
            audit.append(conn, keys, actor="li", action="login")
    assert _entries(engine) == []


def test_tokens_and_users_made_on_the_command_line_are_audited_as_the_local_user(engine: Engine) -> None:
    create_agent_token(engine, site=SITE, host=HOST, also_hosts=["nas-01"])
    create_user(engine, name="ada", role="admin", actor="ada-setup")
    got = [(e["action"], e["actor"], e["target"], e["detail"]) for e in _entries(engine)]
    assert got[0][:3] == ("token.create", audit.local_actor(), f"token:{SITE}/{HOST}")
    assert got[0][3]["also_hosts"] == ["nas-01"] and re.fullmatch(r"cli:.+", got[0][1])
    assert got[1] == ("user.create", "ada-setup", "user:ada", {"role": "admin"})


def test_a_note_that_looks_like_a_token_is_taken_and_kept_out_of_the_audit_log_when_an_engineer_writes_it(
        client: Any, engine: Engine) -> None:
    # A person's text is input, not a secret the code leaks: refusing it in the audit log answered 500.
    engineer = {"Authorization": f"Bearer {create_user(engine, name='erin', role='engineer')}"}
    t = client.post("/api/v1/tickets", json={"site": SITE, "host": HOST, "severity": 2, "summary": "LIS slow",
                                             "reported_via": "phone"}, headers=engineer).json()
    for action, body in (("comments", {"text": "wru_ pasted by mistake"}), ("ack", {"note": "wra_abc"}),
                         ("resolve", {"note": "-----BEGIN PRIVATE KEY-----"})):
        assert client.post(f"/api/v1/tickets/{t['id']}/{action}", json=body, headers=engineer).status_code == 200
    details = " ".join(str(e["detail"]) for e in _entries(engine))
    assert "wru_" not in details and "wra_" not in details and "BEGIN" not in details
    assert "[redacted]" in details  # the action is audited, the text that looks like a secret is not
    assert [e["action"] for e in _entries(engine)][-3:] == ["ticket.comment", "ticket.ack", "ticket.resolve"]
