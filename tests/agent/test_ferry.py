"""The relay's bundle export at its crash points: nothing lost, no number skipped, no file rewritten.

A SIGKILL cannot be aimed between two statements, so the crash is an exception raised there; what
is on disk afterwards (the spool, the folder) is exactly what a killed relay would leave.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest

from agent import ferry
from agent.config import CollectorConfig
from agent.ferry import Exporter
from agent.relay_config import ExportConfig, RelayConfig
from agent.spool import Spool
from checks.result import Result, Status


class Crash(Exception):
    pass


@pytest.fixture
def setup(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    config = RelayConfig(path="relay.yaml", site="s1", listen_host="127.0.0.1", listen_port=1,
                         collector=CollectorConfig(url="http://c:8480", token="wrr_t"), spool=str(tmp_path / "r.db"),
                         export=ExportConfig(dir=str(out)))
    spool = Spool(config.spool)
    yield config, spool, out
    spool.close()


def _put(spool: Spool, n: int) -> list[str]:
    rs = [Result(check="disk", item=f"/{i}", status=Status.OK, summary="ok").with_origin(
        site="s1", host="h1", started_at=datetime.now(UTC), duration_ms=1.0) for i in range(n)]
    return spool.put(rs)


def _ids(path) -> list[str]:
    payload = path.read_bytes().split(b"\n", 1)[1]
    return [r["id"] for r in json.loads(gzip.decompress(payload))["results"]]


def test_a_crash_after_the_results_left_the_spool_publishes_the_bundle_at_the_next_start(setup, monkeypatch):
    config, spool, out = setup
    ids = _put(spool, 3)
    exporter = Exporter(spool, config, config.export)
    real = ferry.os.replace

    def crash(*_a, **_k):
        raise Crash

    monkeypatch.setattr(ferry.os, "replace", crash)
    with pytest.raises(Crash):
        exporter.export()
    assert spool.backlog() == 0 and list(out.glob("*.wrb")) == []  # gone from the spool, not yet visible
    monkeypatch.setattr(ferry.os, "replace", real)
    more = _put(spool, 2)
    written = Exporter(spool, config, config.export).export()
    assert [p.rsplit("/", 1)[-1] for p in written] == [ferry.bundle_name("s1", 1), ferry.bundle_name("s1", 2)]
    assert _ids(out / ferry.bundle_name("s1", 1)) == ids and _ids(out / ferry.bundle_name("s1", 2)) == more
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_a_crash_before_the_results_left_the_spool_sends_them_again_under_the_same_number(setup, monkeypatch):
    config, spool, out = setup
    ids = _put(spool, 3)

    def crash(*_a, **_k):
        raise Crash

    monkeypatch.setattr(spool, "ack_with_state", crash)
    with pytest.raises(Crash):
        Exporter(spool, config, config.export).export()
    monkeypatch.undo()
    assert spool.backlog() == 3 and list(out.glob("*.wrb")) == []
    Exporter(spool, config, config.export).export()
    assert [p.name for p in out.iterdir()] == [ferry.bundle_name("s1", 1)]
    assert _ids(out / ferry.bundle_name("s1", 1)) == ids and spool.backlog() == 0


def test_an_existing_bundle_is_never_overwritten(setup):
    config, spool, out = setup
    (out / ferry.bundle_name("s1", 1)).write_bytes(b"someone else's")
    _put(spool, 1)
    with pytest.raises(OSError, match="not overwritten"):
        Exporter(spool, config, config.export).export()
    assert (out / ferry.bundle_name("s1", 1)).read_bytes() == b"someone else's"
    assert spool.backlog() == 1 and not [p for p in out.iterdir() if p.name.startswith(".")]  # still spooled
