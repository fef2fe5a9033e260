"""Retention of raw results and roll-ups: the settings, the prune (dry run, batches) and its once-a-day claim."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from collector.config import ConfigError, load_settings
from collector.retention import MIN_RESULTS, Retention, claim_day, prune
from collector.store import queries, rollups
from collector.store.db import writing
from collector.store.rollup_tables import rollup_days, rollup_hours
from collector.store.tables import result_rows, results
from tests.collector.test_cli import cli

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def _store(engine, ages_days: list[float], *, roll_up: bool = True) -> list[str]:
    uids = []
    rows = []
    for i, age in enumerate(ages_days):
        at = NOW - timedelta(days=age)
        uid = uuid.uuid4().hex
        uids.append(uid)
        rows.append({"uid": uid, "site": "s", "host": "h", "check": "disk", "item": f"/d{i % 3}", "status": 0,
                     "summary": f"/d{i % 3} {i}.5 % used", "standard": "used < 80 %", "started_at": at,
                     "received_at": at, "duration_ms": 1.5, "metrics": "[]", "details": "{}"})
    with writing(engine) as conn:
        queries.store_new_results(conn, rows)
    if roll_up:  # the roll-up job's work: raw results are not pruned before it is done
        rollups.refresh(engine, lambda site: UTC, before=NOW)
    return uids


def test_prune_removes_only_raw_results_older_than_the_retention_when_run(engine):
    keep = Retention(results=timedelta(days=400))
    old = _store(engine, [500, 450, 401, 420, 600])
    young = _store(engine, [399, 10, 0.5])
    dry = prune(engine, keep, NOW, dry_run=True)
    assert (dry.results, dry.dry_run) == (5, True)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(result_rows)).scalar_one() == 8  # dry: nothing gone
    report = prune(engine, keep, NOW, batch=2)
    if engine.dialect.name == "postgresql":  # months wholly before the cutoff go as partitions
        assert report.partitions == ("result_rows_2025_04", "result_rows_2025_07", "result_rows_2025_09")
        assert (report.results, report.batches) == (5, 1)  # October, where the cutoff falls, row by row
    else:
        assert (report.results, report.batches) == (5, 3)  # bounded batches, each its own transaction
    with engine.connect() as conn:
        left = set(conn.execute(select(results.c.uid)).scalars())
    assert left == set(young) and not left & set(old)
    assert prune(engine, keep, NOW).results == 0  # nothing more to do: a re-run (or a resumed one) is a no-op


def test_prune_is_claimed_once_a_day_across_collectors_when_two_try(engine):
    with writing(engine) as conn:
        assert claim_day(conn, "prune", date(2026, 12, 5), NOW)
    with writing(engine) as conn:
        assert not claim_day(conn, "prune", date(2026, 12, 5), NOW)
        assert claim_day(conn, "prune", date(2026, 12, 6), NOW)


def _config(tmp_path, text: str):
    path = tmp_path / "collector.yaml"
    path.write_text(text)
    return path


def test_prune_keeps_raw_results_not_rolled_up_and_removes_roll_ups_by_their_retention_when_run(engine):
    _store(engine, [500, 300, 120, 10])  # rolled up
    late = _store(engine, [200], roll_up=False)  # stored, its hour not rolled up yet
    keep = Retention(results=timedelta(days=100), rollups=timedelta(days=400))
    report = prune(engine, keep, NOW)
    assert report.held_back and report.cutoff == (NOW - timedelta(days=200)).replace(minute=0)
    with engine.connect() as conn:
        left = {u for u in conn.execute(select(results.c.uid)).scalars()}
    assert late[0] in left and len(left) == 3  # only those before the 200-day-old hour went: it waits
    rollups.refresh(engine, lambda site: UTC, before=NOW)  # the job rolls it up; the next prune goes on
    report = prune(engine, keep, NOW)
    assert not report.held_back and report.results == 2
    with engine.connect() as conn:
        hours = conn.execute(select(func.count()).select_from(rollup_hours)).scalar_one()
        days = conn.execute(select(func.count()).select_from(rollup_days)).scalar_one()
    assert (hours, days) == (2, 4 * 2)  # hour rows of the last 100 days, day rows of 400 (item and host rows)
    assert any("day row(s)" in line for line in report.lines())


def test_retention_shorter_than_the_scheduled_records_need_is_refused_with_the_reason(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_settings(_config(tmp_path, "retention:\n  results: 50d\n  rollups: 300d\n  records: 30d\n"
                                        "  audit: 7d\n"))
    text = "\n".join(exc.value.problems)
    assert "retention.results: 50d is shorter than 100d: the quarterly record" in text
    assert "retention.rollups: 300d is shorter than 400d: the annual record" in text
    assert "retention.records: expected never" in text
    assert "retention.audit: 7d is shorter than 180d" in text
    settings = load_settings(_config(tmp_path, "retention:\n  results: 500d\n  records: never\n"))
    assert settings.retention.results == timedelta(days=500)
    assert load_settings(_config(tmp_path, "db: sqlite:///x.db\n")).retention.results == MIN_RESULTS


def test_prune_command_dry_run_prints_what_it_would_remove_and_refuses_a_short_keep(tmp_path, sqlite_template):
    shutil.copyfile(sqlite_template, tmp_path / "w.db")  # migrated (migrate runs as a process in test_cli.py)
    url = f"sqlite:///{tmp_path}/w.db"
    done = cli("prune", "--db", url, "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "would remove 0" in done.stdout and "issued records" in done.stdout
    short = cli("prune", "--db", url, "--keep-results", "50d", cwd=tmp_path)
    assert short.returncode == 2
    assert "--keep-results: 50d is shorter than 100d" in short.stderr and "Traceback" not in short.stderr
    shown = cli("prune", "--db", url, "--dry-run", "--keep-results", "50d", cwd=tmp_path)  # a dry run shows
    assert shown.returncode == 0 and "without --dry-run this is refused" in shown.stdout
    bad = cli("prune", "--db", url, "--dry-run", "--keep-results", "soon", cwd=tmp_path)
    assert bad.returncode == 2 and "--keep-results: expected a duration" in bad.stderr


def test_daily_job_prunes_once_a_day_when_two_collectors_run_it(engine):
    from collector.jobs import RetentionJob

    _store(engine, [500, 10])
    first, second = (RetentionJob(engine, Retention(), clock=lambda: NOW, interval=0) for _ in range(2))
    first.step(NOW)
    second.step(NOW)  # the other collector: the day is taken
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(result_rows)).scalar_one() == 1
    _store(engine, [450])
    second.step(NOW)  # same day: nothing
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(result_rows)).scalar_one() == 2
    second.step(NOW + timedelta(days=1))  # the next day: one of them prunes again
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(result_rows)).scalar_one() == 1
