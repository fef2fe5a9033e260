"""ruff on the code, the tests and the tooling must stay clean (style guide, example 10).

The rules live in ``[tool.ruff]`` of ``pyproject.toml``.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from tests.conftest import missing

ROOT = Path(__file__).resolve().parents[1]
PATHS = ("agent", "checks", "collector", "tests", "bench", "deploy", "dashboards")


def test_tree_lints_clean_when_ruff_checks_project_rules() -> None:
    if importlib.util.find_spec("ruff") is None:
        missing("ruff", "pip install -e '.[dev]' installs it")
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", *PATHS],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, f"ruff found problems:\n{proc.stdout}{proc.stderr}"
