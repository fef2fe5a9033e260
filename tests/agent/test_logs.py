"""agent/logs.py: the agent's records go through the standard logging module, which is imported
only for the first record at or above ``--log-level`` (issue 16)."""

from __future__ import annotations

import logging
import re
import subprocess
import sys

import pytest

from agent import logs
from tests.agent.helpers import REPO

CODE = """
import sys
from agent import logs
log = logs.get("agent.scheduler")
logs.configure(sys.argv[1])
log.debug("patrol %s", "details")
log.info("push: delivered %d, backlog %d", 3, 0)
print("loaded after info:", "logging" in sys.modules, flush=True)
log.warning("push: the collector refused the batch (%s)", "HTTP 503")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("push: unexpected error")
log.info("push: delivered %d, backlog %d", 5, 0)
print("loaded at the end:", "logging" in sys.modules, flush=True)
"""
LINE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "  # logging's %(asctime)s


def run(level: str) -> tuple[str, str]:
    out = subprocess.run([sys.executable, "-c", CODE, level], cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=True)
    return out.stdout, out.stderr


def test_at_warning_logging_is_imported_with_the_first_warning_and_writes_as_before() -> None:
    stdout, stderr = run("warning")
    assert stdout == "loaded after info: False\nloaded at the end: True\n"
    lines = stderr.splitlines()
    assert re.fullmatch(LINE + r"WARNING agent\.scheduler: push: the collector refused the batch \(HTTP 503\)",
                        lines[0]), stderr
    assert re.fullmatch(LINE + "ERROR agent.scheduler: push: unexpected error", lines[1]), stderr
    assert lines[2] == "Traceback (most recent call last):" and lines[-1] == "ZeroDivisionError: division by zero"
    assert "delivered" not in stderr and "patrol" not in stderr


def test_at_info_every_info_record_is_written_and_debug_is_not() -> None:
    stdout, stderr = run("info")
    assert stdout == "loaded after info: True\nloaded at the end: True\n"
    lines = [line for line in stderr.splitlines() if re.match(LINE, line)]
    assert [re.sub(LINE, "", line) for line in lines] == [
        "INFO agent.scheduler: push: delivered 3, backlog 0",
        "WARNING agent.scheduler: push: the collector refused the batch (HTTP 503)",
        "ERROR agent.scheduler: push: unexpected error",
        "INFO agent.scheduler: push: delivered 5, backlog 0"]


def test_without_configure_records_go_to_logging_as_they_are(caplog: pytest.LogCaptureFixture) -> None:
    """Tests and other programs that import agent modules: logging decides, caplog sees the records."""
    caplog.set_level(logging.DEBUG, logger="agent.t")
    logs.get("agent.t").debug("one %d", 1)
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [("agent.t", "DEBUG", "one 1")]
    assert caplog.records[0].funcName == "test_without_configure_records_go_to_logging_as_they_are"
