"""collector/ imports only the checks' leaf modules from outside itself (architecture.md).

A leaf module is one of the wire model (``checks.result``) or a shared helper
(``checks.params``, the duration reader), and imports nothing but the standard
library and other leaf modules: never a check implementation, so the collector
installs without psutil, pyodbc or paramiko.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import checks
import collector

FIRST_PARTY = {"agent", "checks", "collector", "bench", "tests"}
LEAVES = ("checks.result", "checks.params")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return names


def test_collector_imports_only_checks_leaf_modules_when_scanned():
    root = Path(collector.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert len(files) > 10
    offenders = []
    for path in files:
        for name in _imports(path):
            top = name.split(".")[0]
            if top not in FIRST_PARTY or top == "collector":
                continue
            if any(name == leaf or name.startswith(f"{leaf}.") for leaf in LEAVES):
                continue
            offenders.append(f"{path.relative_to(root.parent)}: {name}")
    assert offenders == []


def test_checks_leaf_modules_import_only_the_standard_library_when_scanned():
    root = Path(checks.__file__).parent
    for leaf in LEAVES:
        path = root / f"{leaf.split('.')[1]}.py"
        for name in _imports(path):
            top = name.split(".")[0]
            if top in FIRST_PARTY:
                assert any(name == other or name.startswith(f"{other}.") for other in LEAVES), (path, name)
            else:
                assert top in sys.stdlib_module_names or top == "__future__", (path, name)
