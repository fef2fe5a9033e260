"""What a running agent keeps loaded (issue 16): a real ``wardround-agent run`` with the disk and
system checks pushing to a real HTTP server; its modules are read from inside the process once
both checks were delivered.  The memory figures themselves are in bench/agent_footprint.py."""

from __future__ import annotations

import dataclasses
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.agent.helpers import REPO, FakeCollector
from tests.agent.test_cli import config

#: ``wardround-agent run``, plus a thread writing ``sys.modules`` to a file when asked (a file appears)
RUN_AND_TELL = """
import json, os, sys, threading, time
out = sys.argv.pop(1)
def tell():
    while not os.path.exists(out + ".ask"):
        time.sleep(0.05)
    with open(out, "w") as f:
        json.dump(sorted(sys.modules), f)
threading.Thread(target=tell, daemon=True).start()
from agent.cli import main
sys.exit(main())
"""

#: loaded by nothing a patrol or a push needs; each was measured in the idle agent (docs/benchmarks.md)
NOT_KEPT = {
    "inspect", "ast", "dis",  # dataclasses' import, used only for docstrings (agent/__init__.py)
    "argparse", "gettext", "shutil", "bz2", "lzma", "_bz2", "_lzma",  # parsing the command line only (agent/cli.py)
    "random",  # jitter from os.urandom (agent.timer.spread)
    # disk and system read /proc and statvfs as psutil does (checks/_procfs.py), on Linux without it:
    "psutil", "subprocess", "locale", "glob", "resource", "pwd",
    "concurrent.futures", "queue",  # the disk check's time box is a daemon thread
    "yaml", "email", "http.client", "urllib.request", "tempfile",  # the config reader, the old HTTP client
    "typing",  # annotations only under TYPE_CHECKING; checks.params reads parameter types without it
    "checks.messages.reader", "unicodedata",  # the command line's texts in the reader's language (printing)
    "checks.messages.usage",  # the parser class: help and usage errors in the reader's language (parsing only)
    # the journal's lines at the default --log-level info are written without logging (agent/logs.py),
    # and no check has raised:
    "logging", "traceback", "linecache", "tokenize",
}


def test_a_running_agent_keeps_none_of_the_modules_it_needs_only_to_start(tmp_path: Path) -> None:
    fake = FakeCollector().start()
    cfg = config(tmp_path, fake.url, extra="config_every: off\n", checks=(  # the fake has no central config
        "checks:\n  - {check: disk, every: 1m, params: {warn: 99.9, crit: 100}}\n"
        "  - {check: system, every: 1m}\n"))
    out = tmp_path / "modules.json"
    proc = subprocess.Popen([sys.executable, "-c", RUN_AND_TELL, str(out), "run", "--config", str(cfg)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        checks: set[str] = set()
        while time.monotonic() < deadline and not {"disk", "system"} <= checks:
            checks = {r["check"] for s in fake.seen for r in s.body["results"]}
            time.sleep(0.1)
        assert {"disk", "system"} <= checks, fake.seen
        (tmp_path / "modules.json.ask").touch()
        while time.monotonic() < deadline and not out.exists():
            time.sleep(0.05)
        mapped = Path(f"/proc/{proc.pid}/maps").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        fake.stop()
    assert proc.returncode == 0, err
    stamp = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO agent\.scheduler: "  # logging's format, without it
    said = [re.sub(stamp, "", line) for line in err.splitlines()]
    assert said[0].startswith("wardround-agent started: site central-hospital host his-db-01, 2 checks"), err
    assert any(re.fullmatch(r"push: delivered \d+, backlog \d+", line) for line in said), err
    assert said[-1] == "wardround-agent stopped", err
    assert all(line.startswith(("wardround-agent ", "push: delivered ", "received SIGTERM")) for line in said), err
    loaded = set(json.loads(out.read_text()))
    assert {"agent.scheduler", "checks.disk", "checks.system", "checks._procfs", "dataclasses"} <= loaded
    assert sorted(NOT_KEPT & loaded) == []
    # shutil (argparse's terminal width) went without bz2 and lzma: their libraries never mapped
    assert [lib for lib in ("libbz2", "liblzma", "_bz2.", "_lzma.") if lib in mapped] == []


def test_a_command_parsed_without_bz2_and_lzma_still_has_them_afterwards() -> None:
    """``once``/``check`` keep shutil's archive formats: the shutil parsing loaded is dropped."""
    code = ("import sys\nfrom agent.cli import _parse\n_parse(['once', '--config', 'x'])\n"
            "import bz2, shutil\nprint(shutil._BZ2_SUPPORTED, shutil._LZMA_SUPPORTED, bz2.compress(b'') != b'')")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.stdout == "True True True\n", out.stderr


def test_dataclasses_work_as_ever_without_inspect_and_with_it() -> None:
    """agent/__init__.py gives dataclasses a stand-in for inspect: fields, defaults, frozen and
    docstrings behave as before; a dataclass without a docstring gets its bare name until
    something loads inspect, then the usual signature."""
    code = """
import sys
import agent, dataclasses
@dataclasses.dataclass(frozen=True)
class Plain:
    x: int = 1
    y: tuple[str, ...] = dataclasses.field(default_factory=tuple)
@dataclasses.dataclass
class Told:
    '''Its own words.'''
    z: float = 0.5
assert "inspect" not in sys.modules and "ast" not in sys.modules
assert Plain.__doc__ == "Plain" and Told.__doc__ == "Its own words."
assert [f.name for f in dataclasses.fields(Plain)] == ["x", "y"] and Plain() == Plain(1, ())
try:
    Plain().x = 2
    raise SystemExit("not frozen")
except dataclasses.FrozenInstanceError:
    pass
import inspect
@dataclasses.dataclass
class Later:
    w: int = 3
assert Later.__doc__ == "Later(w: int = 3)", Later.__doc__
assert dataclasses.inspect is inspect or dataclasses.inspect.signature(Later) == inspect.signature(Later)
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.stdout == "ok\n", out.stderr
    import inspect  # in this process pytest loaded dataclasses before the agent: left alone

    assert dataclasses.inspect is inspect  # type: ignore[attr-defined]


def test_loading_every_check_of_the_catalogue_loads_no_logging() -> None:
    """Check modules log through checks/_logs.py: configuring ping, db_backup, restore_drill … costs
    an agent no ``logging`` until one of them has something to say (and its driver library none)."""
    code = ("import sys\nfrom checks.catalogue import _ENTRIES, get_check\nfor name in _ENTRIES:\n    get_check(name)\n"
            "print(sorted(m for m in ('checks.ping', 'checks.db_backup', 'checks.restore_drill.drill', 'logging',"
            " 'traceback') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.stdout == "['checks.db_backup', 'checks.ping', 'checks.restore_drill.drill']\n", out.stderr
