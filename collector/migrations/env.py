"""Alembic environment for the collector.

Run programmatically by :mod:`collector.store.migrate`, which hands over an
open connection in ``config.attributes["connection"]``; no alembic.ini is
needed.  On PostgreSQL an advisory lock makes concurrent starts of several
collectors take turns; on SQLite the write transaction (BEGIN IMMEDIATE)
does the same.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from collector.store.tables import metadata

MIGRATION_LOCK_KEY = 0x57415244  # "WARD"

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs the alembic CLI by hand
    from collector.store.db import make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    connection = engine.connect()

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
    context.run_migrations()
