"""The app factory's wiring: what ``create_app`` owns and what its caller owns."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from collector.app import create_app
from collector.config import Settings


def test_an_app_leaves_the_engine_its_caller_gave_it_open_when_it_stops(db_url: str, engine: Any) -> None:
    """The caller made the engine and disposes of it; the app stopping must not close its pool."""
    closed: list[object] = []
    event.listen(engine, "close", lambda *_args: closed.append(1))
    pool = engine.pool
    with TestClient(create_app(Settings(db_url=db_url), engine=engine)) as client:
        assert client.get("/healthz").status_code == 200
    assert engine.pool is pool, "the app disposed of its caller's engine"
    assert closed == []
    with engine.connect() as conn:  # still the caller's, still usable
        assert conn.exec_driver_sql("select 1").scalar() == 1
