"""``wardround-agent run``'s log lines a person acts on at start (the collector cannot be reached: its config and
its first failed push) stay in English, the line to grep for, and are followed by the same in the reader's
language when that is Chinese; an English reader's log is as before. A real agent process, a closed port."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.agent.test_cli import REPO
from tests.conftest import free_port

CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _start_agent(tmp_path: Path, lang: str) -> subprocess.Popen[str]:
    """A real ``wardround-agent run`` in ``lang`` whose collector's port is closed."""
    token = tmp_path / "token"
    token.write_text("wra_test\n")
    token.chmod(0o600)
    config = tmp_path / f"agent-{lang}.yaml"
    config.write_text(f"site: central-hospital\nhost: h1\nspool: {tmp_path / lang}.db\njitter: 0s\n"
                      f"collector: {{url: 'http://127.0.0.1:{free_port()}', token_file: {token}, timeout: 1s}}\n"
                      "checks:\n  - {check: uptime, every: 1m}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES", "WARDROUND_LANG")}
    return subprocess.Popen([sys.executable, "-m", "agent", "run", "--config", str(config)], cwd=REPO,
                            stderr=subprocess.PIPE, text=True, env={**env, "LANG": lang})


def _log_until(proc: subprocess.Popen[str], last: str) -> list[str]:
    """The agent's log until a line holding ``last``; the agent is stopped then."""
    lines: list[str] = []
    deadline = time.monotonic() + 30
    try:
        assert proc.stderr is not None
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if last in line:
                break
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if proc.stderr is not None:
            proc.stderr.close()
    return lines


def test_cannot_reach_the_collector_at_start_is_logged_in_english_and_in_the_readers_language(tmp_path) -> None:
    # both agents run at once: each spends its seconds waiting for its first push to fail
    zh_agent, en_agent = _start_agent(tmp_path, "zh_CN.UTF-8"), _start_agent(tmp_path, "C.UTF-8")
    try:
        zh = _log_until(zh_agent, "推送：")
    finally:
        en = _log_until(en_agent, "push: cannot deliver")
    assert any("WARNING agent.scheduler: central config: not fetched (cannot reach the collector" in x for x in zh)
    assert any(re.search(r"WARNING agent\.scheduler: wardround-agent：未能取得集中配置（无法连接采集端 .*）", x)
               for x in zh), zh
    pushed = [x for x in zh if "WARNING agent.scheduler: 推送：无法送达：无法连接采集端 " in x]
    assert len(pushed) == 1 and re.search(r"暂存库 \S+ 中有 1 条结果等待发送；.+ 后重试$", pushed[0]), zh
    assert "push: cannot deliver: cannot reach the collector at " in zh[-2]  # the English line, just before
    assert en and "push: cannot deliver" in en[-1] and not any(CHINESE.search(x) for x in en), en


def test_a_full_spool_is_logged_in_english_and_in_the_readers_language(tmp_path, monkeypatch, caplog) -> None:
    from agent.spool import Spool
    from tests.agent.helpers import make_result
    from tests.agent.test_spool import NOTICE, Clock

    clock = Clock()
    for lang in ("zh_CN", "en"):
        monkeypatch.setenv("WARDROUND_LANG", lang)
        caplog.clear()
        with caplog.at_level("WARNING"), Spool(tmp_path / f"{lang}.db", max_age_s=3600, clock=clock) as spool:
            spool.put([make_result("/old1"), make_result("/old2")])
            clock.t += 3601
            assert [d.count for d in spool.enforce_bounds(NOTICE)] == [2]
        err = caplog.text
        assert "spool: dropped 2 results (oldest from " in err and "past the age bound of 1h" in err, err
        if lang == "zh_CN":
            assert re.search(r"暂存库：已丢弃 2 条结果（最早的始于 \S+）：超过了 spool_max_age 的上限 1h", err), err
        else:
            assert not CHINESE.search(err), err
