"""An agent whose clock runs more than a day ahead of the collector's: a real collector, real agent processes
(``wardround-agent once --push`` under libfaketime).

The collector refuses its results (422, ``cli.refusal.clock_ahead``).  While the clock is wrong the agent keeps
them all in its spool (quarantining them one by one would lose every result for a wrong clock) and says, in its
reader's language, that the clock is wrong.  Once the clock is set right, the results it stamped ahead are
quarantined, and the notice saying so, stamped by the right clock, reaches the collector."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from checks.messages import render
from checks.result import Message
from tests.conftest import missing
from tests.e2e.conftest import CollectorProcess, command, write_agent_config

pytestmark = pytest.mark.slow


def _push(config: Path, lang: str, ahead: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES", "WARDROUND_LANG")}
    wrap = []
    if ahead is not None:
        faketime = shutil.which("faketime")
        if faketime is None:
            missing("faketime", "apt-get install faketime (libfaketime): the agent's clock runs ahead")
        wrap = [faketime, "-f", ahead]
        env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
    return subprocess.run([*wrap, command("wardround-agent"), "once", "--push", "--wait", "5s", "--config",
                           str(config)], capture_output=True, text=True, timeout=60, env={**env, "LANG": lang})


def _spool(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as db:
        return (db.execute("SELECT count(*) FROM outbox").fetchone()[0],
                db.execute("SELECT count(*) FROM quarantine").fetchone()[0])


def test_results_of_a_clock_days_ahead_stay_spooled_and_the_agent_says_the_clock_is_wrong(
        collector: CollectorProcess, tmp_path: Path) -> None:
    config = write_agent_config(tmp_path / "agent.yaml", collector, "  - {check: uptime, every: 1m}")
    spool = tmp_path / "spool.db"
    collector.stop()
    _push(config, "C.UTF-8", None)  # a result stamped right, spooled before the clock jumped ahead
    collector.start()
    assert _spool(spool) == (1, 0)
    zh = _push(config, "zh_CN.UTF-8", "+3d")  # in one batch with it: it goes, the one stamped ahead stays
    assert zh.returncode != 0
    assert "本机时钟比采集端超前一天以上" in zh.stderr and "待时钟校正（NTP）后再发送" in zh.stderr, zh.stderr
    assert _spool(spool) == (1, 0)  # kept, not quarantined
    assert [r["check"] for r in collector.all_results()] == ["uptime"]
    en = _push(config, "C.UTF-8", "+3d")
    assert en.returncode != 0
    assert "this machine's clock is more than a day ahead of the collector's" in en.stderr, en.stderr
    assert _spool(spool) == (2, 0)
    fixed = _push(config, "C.UTF-8", None)  # the clock set right: this patrol's result goes, the two stamped
    assert _spool(spool) == (0, 2), fixed.stderr  # ahead are quarantined (their times are a wrong clock's)
    stored = collector.all_results()
    notices = [r for r in stored if r["check"] == "agent" and r["item"] == "spool" and r["status"] == 1]
    assert notices and all("more than a day ahead of the collector's clock" in r["summary"] for r in notices)
    assert [r["check"] for r in stored].count("uptime") == 2  # the one stamped right before, and this patrol's




def test_results_stamped_before_2000_are_quarantined_saying_the_clock_was_set_back_in_both_languages(
        collector: CollectorProcess, tmp_path: Path) -> None:
    # the collector refuses them (422, cli.refusal.clock_behind; English detail unchanged); the agent said only
    # "rejected as invalid", and its quarantine notice carried the collector's English words as its reason
    config = write_agent_config(tmp_path / "agent.yaml", collector, "  - {check: uptime, every: 1m}")
    zh = _push(config, "zh_CN.UTF-8", "@1999-06-01 08:00:00")
    assert zh.returncode != 0
    said = "未送达：本机时钟早于 2000-01-01：采集端拒收其产生的结果（HTTP 422）；1 条结果中有 1 条已放入"
    assert said in zh.stderr, zh.stderr
    assert "请校正时钟（NTP）" in zh.stderr
    en = _push(config, "C.UTF-8", "@1999-06-01 08:00:00")
    assert ("not delivered: this machine's clock is set before 2000-01-01: the collector refuses the results it "
            "stamps (HTTP 422); 1 of 1 are in the spool's quarantine") in en.stderr, en.stderr
    with sqlite3.connect(tmp_path / "spool.db") as db:  # the notices, stamped by the same clock, quarantined too
        bodies = [json.loads(b) for [b] in db.execute("SELECT body FROM quarantine")]
    [notice, *_] = [b for b in bodies if b["check"] == "agent" and b["status"] == 1]
    message = Message.from_wire(notice["message"])
    assert message.key == "agent.spool.quarantined_clock_behind"
    assert notice["summary"] == render(message, "en") == (
        "quarantined 1 results stamped before 2000-01-01 (oldest from 1999-06-01T08:00:00Z): this machine's "
        "clock was wrong when they ran, so the collector refuses them (422); they are kept in the spool's quarantine")
    assert render(message, "zh_CN") == (
        "1 条结果的时间早于 2000-01-01（最早的产生于 1999-06-01T08:00:00Z），已放入隔离区：运行时本机时钟有误，"
        "采集端拒收（422）；这些结果保留在暂存库的隔离区中")
    # the all clear that followed (refused as well) says the notice was not delivered, not that everything was
    [cleared, *_] = [b for b in bodies if b["check"] == "agent" and b["status"] == 0]
    assert (cleared["message"]["key"], cleared["details"]) == ("agent.spool.cleared_quarantined",
                                                               {"reason": "cleared", "quarantined": 1})
