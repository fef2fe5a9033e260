"""mypy on the three packages must stay clean (style guide, example 10).

The settings (strict, unused ``# type: ignore`` reported) live in
``[tool.mypy]`` of ``pyproject.toml``; this test runs mypy with exactly
those, from a fresh cache under the test's tmp directory.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from tests.conftest import missing

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "checks", "collector")


def test_packages_type_check_clean_when_mypy_runs_with_project_settings(tmp_path: Path) -> None:
    if importlib.util.find_spec("mypy") is None:
        missing("mypy", "pip install -e '.[dev]' installs it")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(tmp_path / "mypy_cache"), "--no-error-summary", *PACKAGES],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )
    assert proc.returncode == 0, f"mypy found type errors:\n{proc.stdout}{proc.stderr}"
    assert proc.stdout.strip() == ""
