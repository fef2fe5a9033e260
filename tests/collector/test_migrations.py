"""The schema comes only from the Alembic migrations, and they match the table models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from collector.store.db import make_engine
from collector.store.migrate import current_revision, head_revision, upgrade
from collector.store.tables import metadata


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/empty.db"
        return
    cluster = request.getfixturevalue("pg_cluster")
    name = cluster.create_db()
    yield cluster.url(name)
    cluster.drop_db(name)


def test_schema_is_created_when_database_is_empty(empty_url):
    engine = make_engine(empty_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        tables = set(inspect(engine).get_table_names())
        assert {"agent_tokens", "users", "results", "latest", "hosts", "alembic_version"} <= tables
        upgrade(engine)  # a second run is a no-op
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_migrations_match_models_when_at_head(empty_url):
    engine = make_engine(empty_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_results_have_unique_id_and_query_index_when_migrated(engine):
    insp = inspect(engine)
    indexes = {tuple(i["column_names"]) for i in insp.get_indexes("results")}
    assert ("site", "host", "check", "started_at") in indexes
    uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("results")}
    unique_indexes = {tuple(i["column_names"]) for i in insp.get_indexes("results") if i["unique"]}
    assert ("uid",) in uniques | unique_indexes
    assert insp.get_pk_constraint("latest")["constrained_columns"] == ["site", "host", "check", "item"]
