"""mypy on the three packages must stay clean (style guide, example 10).

The settings (strict, unused ``# type: ignore`` reported) live in
``[tool.mypy]`` of ``pyproject.toml``; this test runs mypy with exactly
those, from a fresh cache in a temp directory.

mypy needs a dozen seconds of one core, and the suite runs on one core at a
time: so the run starts in the background when this module is collected (the
whole session's collection comes before the first test) and the test waits for
its answer.  A session that collects this module but deselects the test stops
the run at exit.
"""

from __future__ import annotations

import atexit
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conftest import missing

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "checks", "collector")


def _start_mypy() -> subprocess.Popen[str] | None:
    """mypy on PACKAGES, running in the background (None: mypy is not installed)."""
    if importlib.util.find_spec("mypy") is None:
        return None
    cache = tempfile.mkdtemp(prefix="wardround-mypy-")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", cache, "--no-error-summary", *PACKAGES],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def stop() -> None:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
        shutil.rmtree(cache, ignore_errors=True)

    atexit.register(stop)
    return proc


_MYPY = _start_mypy()


def test_packages_type_check_clean_when_mypy_runs_with_project_settings() -> None:
    if _MYPY is None:
        missing("mypy", "pip install -e '.[dev]' installs it")
    try:
        out, err = _MYPY.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        _MYPY.kill()
        raise
    assert _MYPY.returncode == 0, f"mypy found type errors:\n{out}{err}"
    assert out.strip() == ""
