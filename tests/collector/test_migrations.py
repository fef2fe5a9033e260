"""The schema comes only from the Alembic migrations, and they match the table models."""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from collector.store.db import make_engine
from collector.store.migrate import SchemaNewer, current_revision, head_revision, newest_revision, upgrade
from collector.store.tables import metadata


def test_schema_is_created_when_database_is_empty(empty_url):
    engine = make_engine(empty_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        tables = set(inspect(engine).get_table_names())
        assert {"agent_tokens", "users", "result_rows", "latest", "hosts", "alembic_version"} <= tables
        upgrade(engine)  # a second run is a no-op
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_migrate_says_its_steps_and_not_alembics_plugin_set_up(tmp_path):
    # a process of its own: Alembic says its plugins' set-up once, when first imported
    done = subprocess.run([sys.executable, "-m", "collector.cli", "migrate", "--db", f"sqlite:///{tmp_path / 'w.db'}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Running upgrade  -> 0001" in done.stderr and "setup plugin" not in done.stderr


def test_migrations_match_models_when_at_head(empty_url):
    engine = make_engine(empty_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        if engine.dialect.name == "postgresql":  # partitioned: its unique key holds the partition key
            partitioned = {("remove_constraint", ("uid", "started_at")), ("add_constraint", ("uid",))}
            seen = {(d[0], tuple(c.name for c in d[1].columns)) for d in diff
                    if d[0] in ("remove_constraint", "add_constraint") and d[1].table.name == "result_rows"}
            assert seen == partitioned
            diff = [d for d in diff if not (d[0] in ("remove_constraint", "add_constraint")
                                            and d[1].table.name == "result_rows")]
        assert diff == []
    finally:
        engine.dispose()


def test_results_have_unique_id_and_query_index_when_migrated(engine):
    insp = inspect(engine)
    indexes = {tuple(i["column_names"]) for i in insp.get_indexes("result_rows")}
    assert ("host_id", "started_at", "series_id") in indexes
    uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("result_rows")}
    unique_indexes = {tuple(i["column_names"]) for i in insp.get_indexes("result_rows") if i["unique"]}
    # PostgreSQL partitions by started_at, and a partitioned table's unique key holds it
    key = ("uid", "started_at") if engine.dialect.name == "postgresql" else ("uid",)
    assert key in uniques | unique_indexes
    assert "results" in insp.get_view_names()
    assert insp.get_pk_constraint("latest")["constrained_columns"] == ["site", "host", "check", "item"]


def test_stored_results_read_the_same_when_migrated_to_the_compact_form(empty_url):
    """0013 moves every result into the compact rows; the ``results`` view gives back what was stored."""
    from datetime import UTC, datetime

    import sqlalchemy as sa

    engine = make_engine(empty_url)
    when = datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)
    old = [{"id": 7 + i, "uid": f"{i:032x}", "site": "s", "host": "h", "check": "disk", "item": "/",
            "status": i % 3, "summary": f"/ {30 + i}.5 % used", "standard": "used < 80 %",
            "started_at": when.replace(minute=i), "received_at": when.replace(minute=i, second=1),
            "duration_ms": 12.5, "metrics": f'[{{"name":"used_percent","value":{30 + i}.5,"unit":"%"}}]',
            "details": '{"device":"/dev/vda1"}'} for i in range(3)]
    try:
        upgrade(engine, "0012")
        from collector.store.tables import UTCDateTime
        types = {"started_at": UTCDateTime, "received_at": UTCDateTime, "status": sa.SmallInteger,
                 "duration_ms": sa.Float}
        table = sa.Table("results", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                         *(sa.Column(k, types.get(k, sa.String)) for k in old[0] if k != "id"))
        with engine.begin() as conn:
            conn.execute(sa.insert(table), old)
        upgrade(engine)
        from collector.store.tables import results
        with engine.connect() as conn:
            got = [dict(r._mapping) for r in conn.execute(sa.select(results).order_by(results.c.id))]
        assert got == [{**r, "messages": ""} for r in old]  # 0015: results stored before it have no keys
    finally:
        engine.dispose()


def test_results_keep_their_host_and_read_the_same_when_indexed_by_host(empty_url):
    """0019 gives every stored result its host series and the (host, time) index; the view reads the same."""
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa

    from collector.store.tables import result_rows, result_series, results
    from tests.collector.legacy_store import store_before_0019

    engine = make_engine(empty_url)
    when = datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)
    rows = [{"uid": f"{i:032x}", "site": "s", "host": f"h{i % 2}", "check": "disk", "item": f"/{i % 3}",
             "status": i % 3, "summary": f"/ {30 + i}.5 % used", "standard": "used < 80 %",
             "started_at": when + timedelta(minutes=i), "received_at": when + timedelta(minutes=i, seconds=1),
             "duration_ms": 12.5, "metrics": f'[{{"name":"used_percent","value":{30 + i}.5,"unit":"%"}}]',
             "details": '{"device":"/dev/vda1"}', "messages": ""} for i in range(8)]
    try:
        upgrade(engine, "0018")
        with engine.begin() as conn:  # as 0018's ingest stored them: no host series, no host_id
            store_before_0019(conn, rows)
            conn.execute(sa.delete(result_series).where(result_series.c.check == ""))
        with engine.connect() as conn:
            before = [dict(r._mapping) for r in conn.execute(sa.select(results).order_by(results.c.id))]
        upgrade(engine)
        with engine.connect() as conn:
            after = [dict(r._mapping) for r in conn.execute(sa.select(results).order_by(results.c.id))]
            owners = {r.host: r.id for r in conn.execute(
                sa.select(result_series).where(result_series.c.check == "", result_series.c.item == ""))}
            hosts = dict(conn.execute(sa.select(result_rows.c.uid, result_rows.c.host_id)).all())
        assert before == after and len(after) == 8
        assert {uid: owners[f"h{int(uid, 16) % 2}"] for uid in hosts} == hosts
        if engine.dialect.name == "postgresql":  # the month made before 0019 took the parent's new index too
            from tests.collector.test_partitions import index_columns

            with engine.connect() as conn:
                assert index_columns(conn, "result_rows_2026_03") == index_columns(conn, "result_rows") == [
                    "(host_id, started_at, series_id)", "(id, started_at)", "(uid, started_at)"]
    finally:
        engine.dispose()


def test_the_newest_revision_read_without_alembic_is_alembics_head_when_compared():
    assert newest_revision() == head_revision()


def test_a_database_at_the_newest_revision_is_not_migrated_through_alembic_when_a_command_starts(empty_url):
    engine = make_engine(empty_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    # A fresh interpreter, as each wardround-collector command is: Alembic is never imported.
    probe = ("import sys; from collector.store.db import make_engine; from collector.store.migrate import upgrade; "
             "e = make_engine(sys.argv[1]); upgrade(e); e.dispose(); print(sorted(m for m in sys.modules "
             "if m.split('.')[0] == 'alembic'))")
    out = subprocess.run([sys.executable, "-c", probe, empty_url], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_database_a_newer_version_migrated_is_still_refused_when_upgraded(empty_url):
    engine = make_engine(empty_url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(SchemaNewer) as raised:
            upgrade(engine)
        assert (raised.value.found, raised.value.known) == ("9999", head_revision())
    finally:
        engine.dispose()
