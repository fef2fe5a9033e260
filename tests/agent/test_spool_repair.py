"""A corrupt spool never stops monitoring: moved aside, salvaged, replaced, reported (CRITICAL).

Every file here is a real spool written by :class:`Spool` and then damaged the way disks and
people damage files: random bytes over it or inside it, truncated, emptied, a write-ahead log
with random bytes in it.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agent.spool import Spool, SpoolError, notice_factory
from agent.spool_repair import wal_problem
from checks.result import Result, Status
from tests.agent.helpers import REPO, make_result, spool_sound

NOTICE = notice_factory("central-hospital", "his-db-01")
RNG = random.Random(11)


def filled(path: Path, n: int = 300, states: int = 20) -> list[str]:
    """A spool with ``n`` waiting results and ``states`` check states, closed cleanly."""
    with Spool(path) as spool:
        ids = [spool.put([make_result(f"/m{i}", summary="x" * 200)])[0] for i in range(n)]
        for k in range(states):
            spool.save_state(f"check-{k}", {"history": list(range(50))})
    return ids


def noise(n: int) -> bytes:
    return bytes(RNG.getrandbits(8) for _ in range(n))


def page_size(path: Path) -> int:
    return int(struct.unpack(">H", path.read_bytes()[16:18])[0])


def leaf_pages(path: Path, table: str) -> list[int]:
    """The leaf pages holding ``table``'s rows, in key order (walking its b-tree in the file)."""
    db = sqlite3.connect(path)
    (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    db.close()
    size = page_size(path)
    data = path.read_bytes()

    def walk(number: int) -> list[int]:
        page = data[(number - 1) * size: number * size]
        header = 100 if number == 1 else 0
        if page[header] != 0x05:  # a table leaf
            return [number]
        cells = struct.unpack(">H", page[header + 3: header + 5])[0]
        pointers = struct.unpack(f">{cells}H", page[header + 12: header + 12 + 2 * cells])
        children = [struct.unpack(">I", page[p: p + 4])[0] for p in pointers]
        children.append(struct.unpack(">I", page[header + 8: header + 12])[0])  # the right-most
        return [leaf for child in children for leaf in walk(child)]

    return walk(root)


def overwrite(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


def forensic(path: Path) -> list[Path]:
    """The corrupt spools kept for forensics (without their -wal/-shm)."""
    return sorted(p for p in path.parent.glob(path.name + ".corrupt-*")
                  if not p.name.endswith(("-wal", "-shm")))


def reopen(path: Path) -> Spool:
    return Spool(path, notice=NOTICE)


def the_notice(spool: Spool) -> Result:
    (notice,) = spool.notices
    assert (notice.check, notice.item, notice.status) == ("agent", "spool", Status.CRITICAL)
    assert notice.summary.startswith("spool was corrupt (")
    waiting = [json.loads(r.body) for r in spool.batch(10_000) if r.id == notice.id]
    assert waiting, "the notice must wait in the fresh spool's outbox, to reach the collector"
    return notice


def test_random_bytes_over_the_whole_spool_are_moved_aside_and_a_fresh_spool_reports_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "spool.db"
    filled(path)
    garbage = noise(path.stat().st_size)
    path.write_bytes(garbage)
    with caplog.at_level(logging.ERROR, "agent.spool"), reopen(path) as spool:
        notice = the_notice(spool)
        assert "file is not a database" in notice.summary
        assert notice.summary.endswith("an unknown number of results may be lost")
        (kept,) = forensic(path)
        assert kept.read_bytes() == garbage  # kept as it was, for forensics
        assert str(kept) in notice.summary and notice.details["moved_to"] == [str(kept)]
        assert notice.details["lost"] is None
        # the fresh spool works: monitoring goes on
        ids = spool.put([make_result("/after")])
        assert set(ids) <= {r.id for r in spool.batch(10)}
    assert any("SPOOL CORRUPT" in r.getMessage() and str(kept) in r.getMessage() for r in caplog.records)
    with reopen(path) as again:  # and it is sound: no second alarm
        assert again.notices == [] and again.backlog() == 2


def test_a_damaged_page_costs_only_its_results_and_the_summary_estimates_how_many(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    ids = filled(path, n=600)
    size = page_size(path)
    pages = leaf_pages(path, "outbox")
    assert len(pages) > 10
    victim = pages[len(pages) // 2]
    overwrite(path, (victim - 1) * size, noise(size))
    with reopen(path) as spool:
        notice = the_notice(spool)
        saved = {r.id for r in spool.batch(10_000)} - {notice.id}
        assert saved < set(ids)
        lost = len(ids) - len(saved)
        assert 0 < lost < 20  # one page of about ten results
        assert notice.details["recovered"] == len(saved)
        estimate = notice.details["lost"]
        assert estimate is not None and abs(estimate - lost) <= 2, (estimate, lost)
        assert f"{len(saved)} results recovered" in notice.summary
        assert f"{estimate} results may be lost" in notice.summary
        assert spool.load_state("check-3") == {"history": list(range(50))}  # state salvaged too
        order = [json.loads(r.body)["item"] for r in spool.batch(10_000) if r.id != notice.id]
        assert order == sorted(order, key=lambda item: int(item[2:]))  # still oldest first


def test_a_zero_byte_spool_is_treated_as_truncated_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    filled(path, n=5)
    path.write_bytes(b"")
    with reopen(path) as spool:
        notice = the_notice(spool)
        assert "empty (0 bytes)" in notice.summary
        assert "an unknown number of results may be lost" in notice.summary
        assert len(forensic(path)) == 1


def test_a_wal_left_without_its_spool_file_is_moved_aside_not_laid_over_a_new_spool(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    crashed_with_a_wal(path, n=50)
    path.unlink()
    with reopen(path) as spool:
        notice = the_notice(spool)
        assert "gone but its write-ahead log is left" in notice.summary
        assert [r.id for r in spool.batch(100)] == [notice.id]
        assert spool_sound(path)
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size < 100_000


def test_a_truncated_spool_is_moved_aside_with_what_could_be_read(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    ids = filled(path, n=400)
    os.truncate(path, path.stat().st_size // 2)
    with reopen(path) as spool:
        notice = the_notice(spool)
        assert "malformed" in notice.summary or "integrity check failed" in notice.summary
        saved = {r.id for r in spool.batch(10_000)} - {notice.id}
        assert saved <= set(ids) and len(saved) < len(ids)


def crashed_with_a_wal(path: Path, n: int = 300) -> list[str]:
    """A spool whose writer was killed with SIGKILL: its last transactions live only in the WAL."""
    child = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        from agent.spool import Spool
        from tests.agent.helpers import make_result
        spool = Spool({str(path)!r})
        spool._conn().execute("PRAGMA wal_autocheckpoint=0")  # keep every commit in the WAL
        ids = [spool.put([make_result(f"/m{{i}}", summary="x" * 200)])[0] for i in range({n})]
        print(" ".join(ids), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert Path(f"{path}-wal").stat().st_size > 100_000
    return proc.stdout.split()


def test_a_wal_left_by_a_killed_agent_is_sound_and_raises_no_alarm(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    ids = crashed_with_a_wal(path)
    assert wal_problem(f"{path}-wal") is None
    with reopen(path) as spool:
        assert spool.notices == [] and forensic(path) == []
        assert {r.id for r in spool.batch(10_000)} == set(ids)


@pytest.mark.parametrize("where", ["header", "middle"])
def test_random_bytes_in_the_wal_are_found_although_sqlite_would_skip_them_silently(
        tmp_path: Path, where: str) -> None:
    path = tmp_path / "spool.db"
    ids = crashed_with_a_wal(path)
    wal = Path(f"{path}-wal")
    if where == "header":
        overwrite(wal, 0, noise(wal.stat().st_size))
    else:
        overwrite(wal, wal.stat().st_size // 3, noise(4000))
    # what plain SQLite does with it: opens without a word and has lost results
    probe = tmp_path / "probe"
    probe.mkdir()
    shutil.copy(path, probe / "spool.db")
    shutil.copy(wal, probe / "spool.db-wal")
    plain = sqlite3.connect(probe / "spool.db")
    assert plain.execute("SELECT count(*) FROM outbox").fetchone()[0] < len(ids)
    plain.close()

    wal_bytes = wal.read_bytes()
    with reopen(path) as spool:
        notice = the_notice(spool)
        assert "write-ahead log" in notice.summary
        moved = [Path(p) for p in notice.details["moved_to"]]
        assert [p.name[-4:] for p in moved[1:]][:1] == ["-wal"]
        assert moved[1].read_bytes() == wal_bytes  # the damaged WAL is kept as it was
        saved = {r.id for r in spool.batch(10_000)} - {notice.id}
        assert saved < set(ids)


def test_corruption_found_while_running_replaces_the_spool_and_keeps_the_new_results(tmp_path: Path) -> None:
    """A backlog larger than SQLite's page cache: the oldest pages are read from disk again."""
    path = tmp_path / "spool.db"
    with Spool(path) as spool:
        ids = spool.put([make_result(f"/m{i}", summary="x" * 400) for i in range(6000)])
    with reopen(path) as spool:
        assert spool.notices == []
        size = page_size(path)
        for page in leaf_pages(path, "outbox")[:3]:  # where the oldest results live
            overwrite(path, (page - 1) * size, noise(size))
        new = spool.put([make_result("/taken-after-the-damage")])
        assert spool.ack(ids[:5]) == 0  # a delete that meets the damage: the spool is replaced
        notice = the_notice(spool)
        assert notice.details["found"] == "while running"
        waiting = {r.id for r in spool.batch(10_000)}
        assert set(new) <= waiting  # nothing taken after the damage is lost
        assert not waiting & set(ids[:5])
        assert 5800 < len(waiting & set(ids)) < 6000
    assert len(forensic(path)) == 1


def test_a_corrupt_state_store_is_replaced_too_when_a_check_loads_its_state(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    ids = filled(path, n=50, states=3)
    with reopen(path) as spool:
        size = page_size(path)
        (state_page,) = leaf_pages(path, "state")
        overwrite(path, (state_page - 1) * size + 8, noise(size - 8))
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("PRAGMA user_version = 7")
        other.close()
        assert spool.load_state("check-1") == {}  # lost with its page: starts afresh
        notice = the_notice(spool)
        assert notice.details["recovered"] == len(ids)  # every result survived
        assert "0 results may be lost" in notice.summary
        spool.save_state("check-1", {"history": [1]})
        assert spool.load_state("check-1") == {"history": [1]}


def test_a_spool_that_cannot_be_written_is_still_an_error_not_a_corruption(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(SpoolError, match="cannot open the spool"):
        Spool(blocker / "spool.db", notice=NOTICE)
    assert forensic(blocker) == []


def test_a_second_corruption_in_the_same_second_gets_its_own_forensic_name(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    now = time.time()
    for _ in range(2):
        path.write_bytes(noise(8192))
        with Spool(path, notice=NOTICE, clock=lambda: now) as spool:
            assert len(spool.notices) == 1
    assert len(forensic(path)) == 2
