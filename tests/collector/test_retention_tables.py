"""Retention beyond raw results: ticket history, relay provenance, the audit log (with its signed
checkpoint), the settings' minimums, and a prune cut short between batches resuming (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select, text

from collector import audit, retention
from collector.config import ConfigError, load_settings
from collector.keys import create_key, default_keyring
from collector.retention import Retention, prune
from collector.store import prune as prune_sql
from collector.store.db import make_engine, writing
from collector.store.migrate import upgrade
from collector.store.tables import relay_batches, relay_results, relays, result_rows, ticket_events, tickets
from tests.collector.test_cli import cli
from tests.collector.test_retention import _config, _store

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
KEEP = Retention(ticket_events=timedelta(days=400), audit=timedelta(days=180))


def _count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _ticket(engine: Engine, state: str, age_days: float, events: list[tuple[str, float]]) -> int:
    at = NOW - timedelta(days=age_days)
    row = {"site": "s", "host": "h", "check": "disk", "item": f"/{state}{age_days}", "severity": 2,
           "initial_severity": 2, "level_name": "general", "priority": 0, "state": state, "summary": "disk full",
           "reported_via": "monitoring", "reported_by": "system", "opened_at": at, "response_due": at,
           "resolve_due": at, "occurrences": 1, "flapping": False, "response_breached": False,
           "resolve_breached": False, "reopened_count": 0, "onsite_breached": False,
           "updated_at": NOW - timedelta(days=min(age for _, age in events))}
    with writing(engine) as conn:
        tid = int(conn.execute(insert(tickets).values(**row)).inserted_primary_key[0])  # type: ignore[index]
        conn.execute(insert(ticket_events), [
            {"ticket_id": tid, "at": NOW - timedelta(days=age), "actor": "li", "action": action, "note": action,
             "snapshot": {"state": state}} for action, age in events])
    return tid


def test_ticket_history_goes_only_for_tickets_done_before_the_cutoff_keeping_rows_and_resolutions(engine):
    done_old = _ticket(engine, "closed", 900, [("open", 900), ("acknowledge", 899), ("resolve", 898),
                                                ("close", 897)])
    live_old = _ticket(engine, "acknowledged", 900, [("open", 900), ("acknowledge", 899)])
    done_recent = _ticket(engine, "closed", 900, [("open", 900), ("resolve", 800), ("reopen", 10), ("close", 5)])
    assert prune(engine, KEEP, NOW, dry_run=True).tables[0].removed == 3
    report = prune(engine, KEEP, NOW, batch=2)
    assert (report.tables[0].table, report.tables[0].removed, report.tables[0].batches) == ("ticket_events", 3, 2)
    with engine.connect() as conn:
        left = {(r.ticket_id, r.action) for r in conn.execute(select(ticket_events))}
    assert left == {(done_old, "resolve"), (live_old, "open"), (live_old, "acknowledge"), (done_recent, "open"),
                    (done_recent, "resolve"), (done_recent, "reopen"), (done_recent, "close")}
    assert _count(engine, tickets) == 3  # a ticket's own row is never pruned
    never = prune(engine, Retention(ticket_events=None, audit=None), NOW + timedelta(days=5000))
    assert not never.tables[0].table == "ticket_events" and "ticket events" in never.kept


def _relayed(engine: Engine, age_days: float, uids: list[str]) -> None:
    with writing(engine) as conn:
        rid = conn.execute(select(relays.c.id)).scalar()
        if rid is None:
            rid = conn.execute(insert(relays).values(site="s", name="r", token_hash="x" * 64, created_at=NOW)
                               ).inserted_primary_key[0]  # type: ignore[index]
        bid = conn.execute(insert(relay_batches).values(
            relay_id=rid, received_at=NOW - timedelta(days=age_days), via="http", results=len(uids),
            accepted=len(uids))).inserted_primary_key[0]  # type: ignore[index]
        conn.execute(insert(relay_results), [{"uid": u, "batch_id": bid} for u in uids])


def test_relay_provenance_goes_with_the_raw_results_it_describes(engine):
    old, young = _store(engine, [500, 450, 420]), _store(engine, [10])
    _relayed(engine, 500, old[:2])
    _relayed(engine, 420, old[2:])
    _relayed(engine, 10, young)
    dry = prune(engine, KEEP, NOW, dry_run=True)
    assert [(t.table, t.removed) for t in dry.tables if t.table == "relay"] == [("relay", 5)]  # 3 results, 2 batches
    prune(engine, KEEP, NOW, batch=2)
    assert _count(engine, relay_results) == 1 and _count(engine, relay_batches) == 1
    assert _count(engine, relay_results, relay_results.c.uid == young[0]) == 1


def _audit(engine: Engine, ages_days: list[float]) -> None:
    keys = default_keyring()
    for i, age in enumerate(ages_days):
        with writing(engine) as conn:
            audit.append(conn, keys, actor="li", action="ticket.comment", target=f"ticket:{i}",
                         detail={"note": f"comment {i}"}, at=NOW - timedelta(days=age))


class Killed(BaseException):
    """The prune process dying between two batches (SIGKILL: nothing after the commit runs)."""


def _die_after(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, calls: int) -> None:
    real = getattr(module, name)
    seen = {"n": 0}

    def step(*args: Any) -> int:
        if seen["n"] == calls:
            raise Killed
        seen["n"] += 1
        return int(real(*args))

    monkeypatch.setattr(module, name, step)


def test_audit_log_is_pruned_after_a_signed_checkpoint_and_still_verifies_after_a_crash_and_resume(
        engine, monkeypatch):
    keys = default_keyring()
    _audit(engine, [400, 300, 250, 200, 190, 100, 1])
    assert prune(engine, KEEP, NOW, dry_run=True).tables[-1] == retention.TablePrune(
        "audit_log", NOW - timedelta(days=180), 5, 0)
    assert _count(engine, text("audit_log")) == 7  # a dry run neither removes nor appends
    _die_after(monkeypatch, prune_sql, "audit_batch", 2)
    with pytest.raises(Killed):
        prune(engine, KEEP, NOW, batch=2, keys=keys)  # checkpoint #8, then #1-#4 gone, then killed
    cut = audit.verify_chain(engine, keys)
    assert (cut.intact, cut.first_seq, cut.head_seq) == (True, 5, 8), cut
    monkeypatch.undo()
    again = prune(engine, KEEP, NOW, batch=2, keys=keys)  # resumes: #5 goes, no second checkpoint
    assert again.tables[-1].removed == 1
    report = audit.verify_chain(engine, keys)
    assert (report.intact, report.entries, report.first_seq, report.head_seq) == (True, 3, 6, 8), report
    with engine.connect() as conn:
        mark = conn.execute(text("SELECT actor, action, detail FROM audit_log WHERE seq = 8")).one()
    assert (mark.actor, mark.action) == ("system", "audit.prune") and '"before_seq":6' in mark.detail
    with writing(engine) as conn:  # one more old entry removed by hand: no checkpoint accounts for it
        conn.execute(text("DELETE FROM audit_log WHERE seq = 6"))
    broken = audit.verify_chain(engine, keys)
    assert not broken.intact and "entries #1-#6 are missing" in str(broken.problem)


def test_a_prune_killed_between_batches_leaves_whole_batches_and_the_next_run_finishes(engine, monkeypatch):
    _store(engine, [500 + i for i in range(7)])
    _store(engine, [10])
    _ticket(engine, "closed", 900, [("open", 900), ("comment", 899), ("comment", 898), ("close", 897)])
    real = retention.writing
    commits = {"n": 0}

    def writing_then_die(eng: Engine) -> Any:  # dies right after the third batch committed
        if commits["n"] == 3:
            raise Killed
        commits["n"] += 1
        return real(eng)

    monkeypatch.setattr(retention, "writing", writing_then_die)
    with pytest.raises(Killed):
        prune(engine, KEEP, NOW, batch=2)
    monkeypatch.undo()
    left, events = _count(engine, result_rows), _count(engine, ticket_events)
    if engine.dialect.name == "sqlite":
        assert (left, events) == (8 - 6, 4)  # three whole batches of two results, nothing half-deleted
    else:  # the old months dropped whole in one transaction; then ticket history, one batch of two
        assert (left, events) == (1, 2)
    report = prune(engine, KEEP, NOW, batch=2)
    assert _count(engine, result_rows) == 1 and report.results == left - 1
    assert _count(engine, ticket_events) == 0 and report.tables[0].removed == events


def test_history_retention_below_its_minimum_is_refused_at_start_with_the_reason(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_settings(_config(tmp_path, "retention:\n  ticket_events: 100d\n  audit: 90d\n"))
    text_ = "\n".join(exc.value.problems)
    assert "retention.ticket_events: 100d is shorter than 400d: the records of a period" in text_
    assert "retention.audit: 90d is shorter than 180d: 网络安全法 §21" in text_
    settings = load_settings(_config(tmp_path, "retention:\n  ticket_events: never\n  audit: 180d\n"))
    assert (settings.retention.ticket_events, settings.retention.audit) == (None, timedelta(days=180))
    assert Retention.from_json(settings.retention.as_json()) == settings.retention
    default = load_settings(_config(tmp_path, "db: sqlite:///x.db\n")).retention
    assert default.ticket_events == default.audit == timedelta(days=1095)
    served = cli("serve", "--config", str(_config(tmp_path, "retention:\n  audit: 30d\n")), cwd=tmp_path)
    assert served.returncode == 2 and "retention.audit: 30d is shorter than 180d" in served.stderr
    assert "Traceback" not in served.stderr


def test_prune_command_prints_every_table_and_prunes_the_audit_log_with_the_key(tmp_path):
    url = f"sqlite:///{tmp_path}/w.db"
    engine = make_engine(url)
    upgrade(engine)
    key = tmp_path / "c.key"
    keys, old = create_key(key), datetime.now(UTC) - timedelta(days=1200)
    for i in range(3):
        with writing(engine) as conn:
            audit.append(conn, keys, actor="li", action="ticket.comment", target=f"ticket:{i}", at=old)
    engine.dispose()
    dry = cli("prune", "--db", url, "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    for line in ("history events of tickets done before", "relay provenance rows", "audit log entries"):
        assert line in dry.stdout
    assert "would remove 0" in dry.stdout and "issued records: kept" in dry.stdout
    assert "checkpoint) before" in dry.stdout and ": would remove 3" in dry.stdout
    done = cli("prune", "--db", url, "--key-file", str(tmp_path / "none.key"), cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr  # the checkpoint is signed: no key, no prune
    assert "signs the audit log's retention checkpoint" in done.stderr
    pruned = cli("prune", "--db", url, "--key-file", str(key), cwd=tmp_path)
    assert pruned.returncode == 0 and "signed audit.prune checkpoint) before" in pruned.stdout, pruned.stderr
    assert "would" not in pruned.stdout and ": removed 3 in 1 batch(es)" in pruned.stdout
    verified = cli("audit", "verify", "--db", url, "--key-file", str(key), cwd=tmp_path)
    assert verified.returncode == 0 and "audit log intact: 1 entries (#1-#3 removed by the retention prune" \
        in verified.stdout, verified.stdout + verified.stderr


def test_sqlite_vacuum_hands_back_a_step_of_pages_per_transaction_not_one(tmp_path, monkeypatch):
    engine = make_engine(f"sqlite:///{tmp_path}/v.db")
    upgrade(engine)
    _store(engine, [500] * 3000)
    with writing(engine) as conn:
        conn.execute(text("DELETE FROM result_rows"))
    with engine.connect() as conn:
        free = int(conn.exec_driver_sql("PRAGMA freelist_count").scalar_one())
    assert free > 40
    commits: list[int] = []
    real = retention.writing

    def counted(eng: Engine) -> Any:
        commits.append(1)
        return real(eng)

    monkeypatch.setattr(retention, "writing", counted)
    freed = retention._vacuum_sqlite(engine, step=20)
    with engine.connect() as conn:
        assert int(conn.exec_driver_sql("PRAGMA freelist_count").scalar_one()) == 0
    assert freed == free and len(commits) == -(-free // 20) + 1, (free, len(commits))  # + the one that sees none
    engine.dispose()
