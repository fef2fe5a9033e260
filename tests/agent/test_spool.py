"""The durable outbox: write before send, delete after ack, bounded, never silent."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from agent.spool import Drop, Rejection, Spool, notice_factory
from agent.spool_repair import Corruption
from checks.messages import render
from checks.result import Result, Status
from tests.agent.helpers import REPO, make_result, spool_outbox_bytes, spool_sound

NOTICE = notice_factory("central-hospital", "his-db-01")


class Clock:
    def __init__(self, t: float = 1_800_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def bodies(spool: Spool) -> list[dict]:
    return [json.loads(r.body) for r in spool.batch(10_000)]


def test_results_come_back_oldest_first_until_acknowledged_when_put(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db") as spool:
        first = spool.put([make_result("/a"), make_result("/b")])
        second = spool.put([make_result("/c")])
        rows = spool.batch(2)
        assert [r.id for r in rows] == first
        assert json.loads(rows[0].body)["item"] == "/a"
        assert Result.from_wire(json.loads(rows[0].body)).id == first[0]
        assert spool.ack(first) == 2
        assert [r.id for r in spool.batch(10)] == second
        assert spool.backlog() == 1
        assert spool.ack(["0" * 32]) == 0


def test_results_survive_reopen_when_not_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "spool.db"
    with Spool(path) as spool:
        ids = spool.put([make_result(f"/m{i}") for i in range(5)])
        spool.ack(ids[:2])
        spool.save_state("disk", {"history": [[1, 2.5]]})
    with Spool(path) as again:
        assert [r.id for r in again.batch(10)] == ids[2:]
        assert spool_outbox_bytes(path) == sum(len(r.body) for r in again.batch(10))
        assert again.load_state("disk") == {"history": [[1, 2.5]]}
        assert again.load_state("system") == {}


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_a_new_spool_and_its_folder_are_for_the_agents_user_only_whatever_the_umask(tmp_path: Path) -> None:
    # a hand-run `once --push` has no unit's UMask=0077: what the checks found (account names, databases)
    # must not be readable by every local user all the same
    path = tmp_path / "new" / "spool.db"
    old = os.umask(0o022)
    try:
        with Spool(path) as spool:
            spool.put([make_result("/a")])
            modes = {p.name: p.stat().st_mode & 0o777 for p in path.parent.iterdir()}
    finally:
        os.umask(old)
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert modes == {"spool.db": 0o600, "spool.db-wal": 0o600, "spool.db-shm": 0o600, "spool.db.lock": 0o600}


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown to another user needs root")
def test_a_spool_another_user_made_is_refused_saying_whose_it_is_and_what_to_do(tmp_path: Path) -> None:
    # `sudo wardround-agent once --push` before the service (user wardround) started: root's files.  Root opens
    # anything, so the refusal the service meets (EACCES on the lock file) is handed to the same wording.
    from agent.spool import _cannot_open

    path = tmp_path / "spool.db"
    with Spool(path):
        pass
    for name in (path, Path(f"{path}.lock"), tmp_path):
        os.chown(name, 65534, 65534)
    refused = PermissionError(13, "Permission denied", f"{path}.lock")
    told = _cannot_open(str(path), refused)
    assert (told.key, told.words["owner"], told.words["folder"]) == ("cli.agent.spool.not_yours", "uid 65534",
                                                                     str(tmp_path))
    assert str(told) == (f"cannot open the spool {path}: {refused}: its files belong to uid 65534, not to this user "
                         f"(uid 0) — made by a command run as another user (sudo?): chown -R the folder {tmp_path} "
                         "to the agent's user")
    assert _cannot_open(str(path), OSError(28, "No space left on device")).key == "cli.agent.spool.cannot_open"


def test_putting_the_same_result_twice_keeps_one_row_when_retried(tmp_path: Path) -> None:
    r = make_result()
    with Spool(tmp_path / "s.db") as spool:
        spool.put([r])
        spool.put([r])
        assert spool.backlog() == 1


def test_every_committed_row_is_there_when_the_writer_is_killed_with_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    child = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from agent.spool import Spool
        from tests.agent.helpers import make_result
        spool = Spool({str(path)!r})
        n = 0
        while True:
            ids = spool.put([make_result(f"/m{{n}}-{{k}}") for k in range(3)])
            if n % 4 == 0:
                spool.ack(ids[:1])
                ids = ids[1:]
            n += 1
            print(" ".join(ids), flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    committed: list[str] = []
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        committed.extend(proc.stdout.readline().split())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    committed.extend(proc.stdout.read().split())  # lines already written before the kill
    assert len(committed) > 20
    with Spool(path) as spool:
        assert spool_sound(path)
        assert spool.notices == []  # a WAL left by SIGKILL is sound: no false alarm
        assert not list(tmp_path.glob("spool.db.corrupt-*"))
        present = {r.id for r in spool.batch(1_000_000)}
        assert set(committed) <= present
        assert spool_outbox_bytes(path) == sum(len(r.body.encode()) for r in spool.batch(1_000_000))


def test_oldest_results_are_dropped_with_a_warning_result_when_past_the_age_bound(tmp_path: Path) -> None:
    clock = Clock()
    with Spool(tmp_path / "s.db", max_age_s=3600, clock=clock) as spool:
        old = spool.put([make_result("/old1"), make_result("/old2")])
        clock.t += 1800
        young = spool.put([make_result("/young")])
        assert spool.enforce_bounds(NOTICE) == []
        clock.t += 1801
        drops = spool.enforce_bounds(NOTICE)
        assert [(d.count, d.reason) for d in drops] == [(2, "age")]
        left = bodies(spool)
        assert [b["id"] for b in left[:1]] == young
        assert not set(old) & {b["id"] for b in left}
        notice = left[-1]
        assert (notice["check"], notice["item"], notice["status"]) == ("agent", "spool", 1)
        assert notice["summary"].startswith("dropped 2 results (oldest from ")
        assert "age limit of 1 h" in notice["summary"]
        assert spool.counters()["dropped_total"] == 2


def test_oldest_results_are_dropped_with_a_warning_result_when_past_the_byte_bound(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db", max_bytes=10_000) as spool:
        ids = []
        for i in range(60):
            ids += spool.put([make_result(f"/m{i}")])
        assert spool_outbox_bytes(tmp_path / "s.db") > 10_000
        drops = spool.enforce_bounds(NOTICE)
        assert len(drops) == 1 and drops[0].reason == "bytes"
        left = [b["id"] for b in bodies(spool)]
        dropped = drops[0].count
        assert left[:-1] == ids[dropped:]  # the oldest went, in order
        assert spool_outbox_bytes(tmp_path / "s.db") <= 10_000
        notice = bodies(spool)[-1]
        assert notice["check"] == "agent" and notice["status"] == Status.WARNING
        assert f"dropped {dropped} results" in notice["summary"]
        assert "size limit of 9.8 KiB" in notice["summary"]
        assert spool.enforce_bounds(NOTICE) == []  # below the low-water mark now


def test_rejected_results_move_to_a_bounded_quarantine_with_a_warning_when_quarantined(
        tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db", quarantine_max=3) as spool:
        ids = spool.put([make_result(f"/m{i}") for i in range(5)])
        assert spool.quarantine(ids[:2], Rejection(422, "item too long"), NOTICE) == 2
        assert spool.quarantine(ids[2:4], Rejection(422, "bad"), NOTICE) == 2
        assert [q[0] for q in spool.quarantined()] == ids[1:4]  # newest 3 kept
        left = bodies(spool)
        assert left[0]["id"] == ids[4]
        notices = [b for b in left if b["check"] == "agent"]
        assert len(notices) == 2
        assert notices[0]["summary"].startswith("quarantined 2 results the collector rejected")
        # a rejected notice is quarantined without a new notice (no loop)
        spool.quarantine([notices[0]["id"]], "rejected", NOTICE)
        assert [b["check"] for b in bodies(spool)] == ["disk", "agent"]


def test_a_quarantine_notice_is_chosen_by_the_collectors_status_not_by_the_words_kept(tmp_path: Path) -> None:
    # the notice's message was chosen by matching the stored English words' prefix; a reason that
    # happened to read like another one, or a change of the words, picked the wrong message
    with Spool(tmp_path / "s.db") as spool:
        ids = spool.put([make_result(f"/q{i}") for i in range(3)])
        spool.quarantine(ids[:1], Rejection(413), NOTICE)
        spool.quarantine(ids[1:2], Rejection(422, "too large for the collector (413)"), NOTICE)
        spool.quarantine(ids[2:], "moved by hand", NOTICE)
        keys = [b["message"]["key"] for b in bodies(spool) if b["check"] == "agent"]
        assert keys == ["agent.spool.quarantined_too_large", "agent.spool.quarantined_invalid",
                        "agent.spool.quarantined"]
        assert [q[1] for q in spool.quarantined()] == [  # what a person reading the spool file sees
            "too large for the collector (413)", "rejected as invalid (422): too large for the collector (413)",
            "moved by hand"]


def test_concurrent_writers_and_acks_stay_consistent_when_threads_share_the_spool(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db") as spool:
        written: list[str] = []

        def writer(k: int) -> None:
            for i in range(30):
                written.extend(spool.put([make_result(f"/t{k}-{i}")]))

        def acker() -> None:
            for _ in range(30):
                spool.ack([r.id for r in spool.batch(5)])

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
        threads.append(threading.Thread(target=acker))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        left = {r.id for r in spool.batch(10_000)}
        assert left <= set(written)
        assert spool_outbox_bytes(tmp_path / "s.db") == sum(len(r.body.encode()) for r in spool.batch(10_000))


def test_state_must_be_json_when_saved(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db") as spool:
        with pytest.raises(TypeError):
            spool.save_state("x", {"when": object()})
        assert spool.load_state("x") == {}


@pytest.mark.parametrize("event", [
    Drop(2, "2026-12-05T01:02:03Z", "age", "7d", 7 * 86400.0),
    Drop(3, "2026-12-05T01:02:03Z", "bytes", "256 MiB", 256 * 2**20),
    Drop(1, "2026-12-05T01:02:03Z", "quarantine", "rejected as invalid (422): item too long",
         rejection=Rejection(422, "item too long")),
    Drop(1, "2026-12-05T01:02:03Z", "quarantine", "too large for the collector (413)", rejection=Rejection(413)),
    Corruption("file is not a database", "at start", ("/var/lib/w/spool.db.corrupt-1",), 5, None, False, 1),
    Corruption("database disk image is malformed", "while running", (), 0, 7, True, 0),
    Corruption("database disk image is malformed", "while running", ("/s.db.corrupt-2",), 2, 40, False, 0),
])
def test_the_agents_own_spool_notices_travel_as_message_keys_and_read_in_chinese(event: Drop | Corruption) -> None:
    # a hospital's Chinese record and ticket show the agent's spool notice in Chinese (it was English only)
    notice = NOTICE(event)
    wire = notice.to_wire()
    assert wire["message"]["key"].startswith("agent.spool.")
    message = Result.from_wire(wire).message
    assert message is not None and render(message, "en") == notice.summary
    zh = render(message, "zh_CN")
    assert zh is not None and "结果" in zh
    # what the notice quotes: times, paths, SQLite's error, the collector's reason (its API speaks English)
    quoted = [str(getattr(event, f, "")) for f in ("oldest_started_at", "error")] + list(
        getattr(event, "moved_to", ())) + ["item too long"]
    for text in sorted(quoted, key=len, reverse=True):
        zh = zh.replace(text, "")
    assert re.findall(r"[A-Za-z]{2,}", zh.replace("MiB", "")) == [], zh


def test_after_a_notice_the_agent_says_the_all_clear_once_when_everything_was_delivered(tmp_path: Path) -> None:
    # the agent/spool item held its WARNING/CRITICAL event as the latest state for ever: every daily
    # record listed it again. Now one OK follows once everything up to it reached the collector.
    clock = Clock()
    with Spool(tmp_path / "s.db", max_age_s=3600, clock=clock) as spool:
        assert spool.all_clear(NOTICE) is False  # no notice: nothing to clear
        spool.put([make_result("/old")])
        clock.t += 3601
        spool.put([make_result("/young")])
        assert [d.reason for d in spool.enforce_bounds(NOTICE)] == ["age"]
        assert spool.all_clear(NOTICE) is False  # the young result and the notice still wait
        spool.ack([r.id for r in spool.batch(10)])
    with Spool(tmp_path / "s.db", max_age_s=3600, clock=clock) as spool:  # it survives a restart
        assert spool.all_clear(NOTICE) is True
        (ok,) = bodies(spool)
        assert (ok["check"], ok["item"], ok["status"]) == ("agent", "spool", Status.OK)
        assert ok["message"]["key"] == "agent.spool.cleared"
        spool.ack([ok["id"]])
        assert spool.all_clear(NOTICE) is False  # once
        assert bodies(spool) == []


def test_the_all_clear_after_results_the_collector_refused_says_they_were_not_delivered(tmp_path: Path) -> None:
    # a clock set before 2000: the collector refuses every result it stamps, the WARNING notice too; the all
    # clear said "every result spooled since its last notice was delivered" when none had been
    behind = Rejection(422, "started_at: before 2000-01-01", before="2000-01-01")
    with Spool(tmp_path / "s.db") as spool:
        spool.quarantine(spool.put([make_result("/a"), make_result("/b")]), behind, NOTICE)
        (warning,) = bodies(spool)
        assert warning["message"]["key"] == "agent.spool.quarantined_clock_behind"
        assert spool.quarantine([warning["id"]], behind, NOTICE) == 1  # the notice refused too: no new one
        assert spool.all_clear(NOTICE) is True
        (ok,) = bodies(spool)
        assert (ok["status"], ok["details"]) == (Status.OK, {"reason": "cleared", "quarantined": 1})
        message = Result.from_wire(ok).message
        assert message is not None and message.key == "agent.spool.cleared_quarantined"
        assert ok["summary"] == render(message, "en") == (
            "spool empty again, but not everything was delivered: the collector refused 1 results spooled with "
            "or after its last notice; they are kept in the spool's quarantine")
        assert render(message, "zh_CN") == ("暂存库已清空，但并非全部送达：上次通知及其后暂存的结果中有 1 条被采集端"
                                            "拒收，保留在暂存库的隔离区中")
        assert spool.quarantine([ok["id"]], behind, NOTICE) == 1  # the all clear refused as well: nothing more
        assert spool.all_clear(NOTICE) is False and bodies(spool) == []
        spool.quarantine(spool.put([make_result("/c")]), behind, NOTICE)  # a later notice counts afresh
        spool.ack([b["id"] for b in bodies(spool)])
        assert spool.all_clear(NOTICE) is True
        assert [b["message"]["key"] for b in bodies(spool)] == ["agent.spool.cleared"]
