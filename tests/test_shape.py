"""The shape of the code: short functions, modules of one concern, ignores that say why.

Issue 12: no function in agent/, checks/ or collector/ over 80 lines, no module over 600
(migrations aside).  A piece waiting for its own split is named in ALLOWED with the reason
next to it; whoever splits it removes it (the test says when one is short enough).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "checks", "collector")
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 600
# Pieces waiting for their own split, each with its reason; empty since issue 12 split the last.
ALLOWED: set[str] = set()


def _sources() -> list[Path]:
    return [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))
            if "migrations" not in p.relative_to(ROOT).parts]


def _too_long() -> set[str]:
    out = set()
    for path in _sources():
        name = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_MODULE_LINES:
            out.add(name)
        for node in ast.walk(ast.parse(text, filename=name)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                    out.add(f"{name}:{node.name}")
    return out


def test_no_function_is_over_80_lines_and_no_module_over_600_when_measured():
    long = _too_long()
    assert long - ALLOWED == set(), f"split these along their own seams: {sorted(long - ALLOWED)}"
    assert ALLOWED - long == set(), f"already short enough, remove from ALLOWED: {sorted(ALLOWED - long)}"


def test_every_type_ignore_says_why():
    bare = []
    for path in _sources():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "type: ignore" in line and not re.search(r"type: ignore\[[^\]]+\]\s+#\s*\S", line):
                bare.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert bare == [], "say why after the ignore (# type: ignore[code]  # reason):\n" + "\n".join(bare)
