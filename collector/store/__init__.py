"""Persistence: tables, engine creation, migrations and queries.

The schema is created and upgraded only through the Alembic migrations in
``collector/migrations``; :mod:`collector.store.tables` is the model they must
match (a test compares the two).
"""
