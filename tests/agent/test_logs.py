"""agent/logs.py: once configured (``run``, ``relay``) the agent writes its records itself, in
logging's format, without importing logging; logging takes over once something loaded it (issue 16)."""

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
if len(sys.argv) > 2:
    import logging  # a check's driver library, loaded before the agent writes anything
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
log.exception("outside an except block")
print("loaded at the end:", "logging" in sys.modules, flush=True)
"""
LINE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "  # logging's %(asctime)s


def run(level: str, *, with_logging: bool = False) -> tuple[str, str]:
    out = subprocess.run([sys.executable, "-c", CODE, level, *(["logging"] if with_logging else [])], cwd=REPO,
                         capture_output=True, text=True, timeout=60, check=True)
    return out.stdout, out.stderr


def test_at_warning_only_warnings_and_errors_are_written_and_logging_is_never_imported() -> None:
    stdout, stderr = run("warning")
    assert stdout == "loaded after info: False\nloaded at the end: False\n"
    lines = stderr.splitlines()
    assert re.fullmatch(LINE + r"WARNING agent\.scheduler: push: the collector refused the batch \(HTTP 503\)",
                        lines[0]), stderr
    assert re.fullmatch(LINE + "ERROR agent.scheduler: push: unexpected error", lines[1]), stderr
    assert lines[2] == "Traceback (most recent call last):" and "ZeroDivisionError: division by zero" in lines
    assert lines[-1] == "NoneType: None"  # as logging writes an exception record outside an except block
    assert re.fullmatch(LINE + "ERROR agent.scheduler: outside an except block", lines[-2]), stderr
    assert "delivered" not in stderr and "patrol" not in stderr


def test_at_info_every_info_record_is_written_and_debug_is_not() -> None:
    stdout, stderr = run("info")
    assert stdout == "loaded after info: False\nloaded at the end: False\n"
    lines = [line for line in stderr.splitlines() if re.match(LINE, line)]
    assert [re.sub(LINE, "", line) for line in lines] == [
        "INFO agent.scheduler: push: delivered 3, backlog 0",
        "WARNING agent.scheduler: push: the collector refused the batch (HTTP 503)",
        "ERROR agent.scheduler: push: unexpected error",
        "INFO agent.scheduler: push: delivered 5, backlog 0",
        "ERROR agent.scheduler: outside an except block"]


def test_without_configure_records_go_to_logging_as_they_are(caplog: pytest.LogCaptureFixture) -> None:
    """Tests and other programs that import agent modules: logging decides, caplog sees the records."""
    caplog.set_level(logging.DEBUG, logger="agent.t")
    logs.get("agent.t").debug("one %d", 1)
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [("agent.t", "DEBUG", "one 1")]
    assert caplog.records[0].funcName == "test_without_configure_records_go_to_logging_as_they_are"


@pytest.mark.parametrize("level", ["info", "warning"])
def test_the_writer_writes_what_logging_writes_and_logging_takes_over_once_loaded(level: str) -> None:
    """Byte for byte the lines (traceback included) logging.basicConfig's handler writes, the
    time stamps aside: the run with logging loaded first writes through logging."""
    mine_out, mine = run(level)
    theirs_out, theirs = run(level, with_logging=True)
    assert theirs_out == "loaded after info: True\nloaded at the end: True\n" and mine_out.count("False") == 2
    assert re.sub(LINE, "T ", mine) == re.sub(LINE, "T ", theirs) and mine.count("\n") >= 5


def test_a_record_whose_arguments_do_not_fit_goes_to_logging_which_says_so() -> None:
    code = ("from agent import logs\nimport sys\nlogs.configure('info')\n"
            "logs.get('agent.x').info('delivered %d of %d', 3)\nlogs.get('agent.x').info('next %s', 'ok')\n"
            "print('logging' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == "True\n", out.stderr
    assert "--- Logging error ---" in out.stderr and "not enough arguments" in out.stderr
    assert re.search(LINE + "INFO agent.x: next ok$", out.stderr, re.M), out.stderr


def test_a_signal_handler_that_logs_while_its_thread_is_writing_does_not_hang() -> None:
    """The agent's SIGTERM handler logs in the main thread, which may be inside a write then."""
    code = ("import os, signal\nfrom checks import _logs\n_logs.configure('info')\nlog = _logs.get('agent.scheduler')\n"
            "signal.signal(signal.SIGUSR1, lambda *_: log.info('received %s; stopping', 'SIGUSR1'))\n"
            "with _logs._writing:  # as inside _write_line\n    os.kill(os.getpid(), signal.SIGUSR1)\nprint('done')")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert out.stdout == "done\n" and out.stderr.endswith("INFO agent.scheduler: received SIGUSR1; stopping\n")
