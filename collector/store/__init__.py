"""Persistence: tables, engine creation, migrations and queries.

The schema is created and upgraded only through the Alembic migrations in
``collector/migrations``; :mod:`collector.store.tables` (with
:mod:`collector.store.rollup_tables`) is the model they must match (a test
compares the two).
"""

from collector.store import rollup_tables as rollup_tables  # registers the roll-up tables on the metadata
