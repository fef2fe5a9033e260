"""The collector's refusal of a batch (403: results for another site's host) reaches ``wardround-agent once
--push`` with its message key (``collector.errors.said_body``) and is said in the agent reader's language; the
English line is the collector's words as before. A real collector and real agent processes."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.e2e.conftest import CollectorProcess, command, write_agent_config


def _push(config: Path, lang: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES", "WARDROUND_LANG")}
    return subprocess.run([command("wardround-agent"), "once", "--push", "--wait", "5s", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, env={**env, "LANG": lang})


def test_a_batch_refused_for_another_sites_host_is_said_in_the_agents_readers_language(
        collector: CollectorProcess, tmp_path: Path) -> None:
    config = write_agent_config(tmp_path / "agent.yaml", collector, "  - {check: uptime, every: 1m}")
    config.write_text(config.read_text().replace("site: e2e-hospital", "site: other-site"))
    zh, en = _push(config, "zh_CN.UTF-8"), _push(config, "C.UTF-8")
    assert zh.returncode == en.returncode == 4, (zh.stderr, en.stderr)
    zh_line = next(line for line in zh.stderr.splitlines() if "HTTP 403" in line)
    assert ("采集端拒收了站点 'other-site' 主机 'e2e-host' 的这批结果（HTTP 403）：此采集代理令牌只能写入 "
            "e2e-hospital/e2e-host 的结果；有 1 条结果属于其他主机，如 other-site/e2e-host：一个令牌只能写入一个站点；"
            "为站点 'other-site' 上报的采集代理需要该站点的令牌（请检查其配置中的 site:）") in zh_line, zh.stderr
    assert not re.search(r"\b(?:token|writes|results?|needs)\b", zh_line), zh_line
    # the second run sends the first run's result too (it stays in the spool)
    en_line = next(line for line in en.stderr.splitlines() if "HTTP 403" in line)
    assert ("the collector refused this batch from site 'other-site' host 'e2e-host' (HTTP 403): this agent token "
            "writes for e2e-hospital/e2e-host only; 2 result(s) are for other hosts, e.g. other-site/e2e-host: a "
            "token writes for one site only; an agent that reports for site 'other-site' needs a token of that site "
            "(check site: in its config)") in en_line, en.stderr
