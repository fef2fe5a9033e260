"""Run the Alembic migrations programmatically (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from collector.store.db import writing

__all__ = ["SchemaNewer", "alembic_config", "upgrade", "head_revision", "current_revision"]

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


class SchemaNewer(Exception):
    """The database was migrated by a newer version: its revision is none of ours (``found``, ``known``)."""

    def __init__(self, found: str, known: str | None):
        super().__init__(found, known)
        self.found, self.known = found, known


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest); SchemaNewer for a database a newer
    version migrated (an older collector during a rolling upgrade, or after a rollback)."""
    cfg = alembic_config()
    scripts = ScriptDirectory.from_config(cfg)
    with writing(engine) as conn:
        found = MigrationContext.configure(conn).get_current_revision()
        if found is not None and found not in {s.revision for s in scripts.walk_revisions()}:
            raise SchemaNewer(found, scripts.get_current_head())
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
