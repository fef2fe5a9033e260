"""collector/ imports only checks.result from outside itself (architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import collector

FIRST_PARTY = {"agent", "checks", "collector", "bench", "tests"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return names


def test_collector_imports_only_checks_result_when_scanned():
    root = Path(collector.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert len(files) > 10
    offenders = []
    for path in files:
        for name in _imports(path):
            top = name.split(".")[0]
            if top not in FIRST_PARTY or top == "collector":
                continue
            if name == "checks.result" or name.startswith("checks.result."):
                continue
            offenders.append(f"{path.relative_to(root.parent)}: {name}")
    assert offenders == []
