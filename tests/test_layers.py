"""Which way imports run (docs/architecture.md), read from the code itself.

* ``checks/`` imports nothing of the agent's or the collector's;
* ``agent/`` never imports the collector;
* ``collector/`` never imports the agent, and of ``checks/`` only the leaf modules
  (tests/collector/test_imports.py says which, and proves they are leaves);
* the pages (``collector/web``) and the API (``collector/api``) do not import each other, except
  the modules declared shared below: what both need that is not theirs goes in a neutral module
  (``collector/services.py``, ``collector/query_params.py``, ``collector/errors.py``).

Every import counts, also one inside a function.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.collector.test_imports import LEAVES

ROOT = Path(__file__).resolve().parents[1]
# web → api and api → web: the only modules one side may take from the other, and why
SHARED = {
    "collector.api.body": "reading a request body with a size cap (API bodies and page forms)",
    "collector.api.deps": "RowId, the path parameter every row id is read as",
    "collector.web.sessions": "/docs admits a person's page session as well as a token",
}


def _modules(package: str) -> Iterator[tuple[str, Path]]:
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _imports(module: str, path: Path) -> set[str]:
    """Every module ``module`` imports (``from a.b import c`` counts as a.b and a.b.c)."""
    out: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _offenders(package: str, refused: Callable[[str, str], bool]) -> list[str]:
    return [f"{module} imports {name}" for module, path in _modules(package)
            for name in sorted(_imports(module, path)) if refused(module, name)]


def test_checks_import_nothing_of_the_agent_or_the_collector_when_scanned():
    assert _offenders("checks", lambda _m, n: _within(n, "agent") or _within(n, "collector")) == []


def test_the_agent_never_imports_the_collector_when_scanned():
    assert _offenders("agent", lambda _m, n: _within(n, "collector")) == []


def test_the_collector_imports_neither_the_agent_nor_a_check_implementation_when_scanned():
    def refused(_module: str, name: str) -> bool:
        return _within(name, "agent") or (_within(name, "checks") and name != "checks"
                                          and not any(_within(name, leaf) for leaf in LEAVES))
    assert _offenders("collector", refused) == []


# Run in a fresh interpreter: the collector's app, its fleet and config validation, then every check
# of the catalogue validated as a fleet template entry (its parameters dataclass read and applied).
NO_CHECK_RUN = """
import sys
import collector.app, collector.fleet, collector.api.fleet  # noqa: F401 (imported for their imports)
from checks.catalogue import CATALOGUE, params_of
from checks.entries import Problems, check_entries

problems = Problems("fleet.yaml")
configs = check_entries(problems, "templates.all", [{"check": name, "every": "5m"} for name in CATALOGUE])
unknown = [line for line in problems.lines if "check name" in line]
assert not unknown and configs, (unknown, problems.lines)
assert all(params_of(name).__module__ == f"checks._params.{name.replace('tcp', 'port')}" for name in CATALOGUE)
loaded = sorted(m for m in sys.modules for name in CATALOGUE
                if m == f"checks.{name}" or m.startswith(f"checks.{name}."))
print(len(CATALOGUE), loaded)
"""


def test_the_collector_imports_no_check_module_when_it_validates_every_check():
    """Static scans cannot see it (the catalogue imports by name): the leaf ``checks/_params/<check>.py``
    holds each check's parameters, so validating a fleet entry of every check loads no check."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", NO_CHECK_RUN], capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    count, loaded = out.stdout.split(" ", 1)
    assert int(count) >= 24
    assert loaded.strip() == "[]"


def _crosses_pages_and_api(module: str, name: str) -> bool:
    for side, other in (("collector.web", "collector.api"), ("collector.api", "collector.web")):
        if _within(module, side) and _within(name, other) and name != other:
            return not any(_within(name, shared) for shared in SHARED)
    return False


def test_pages_and_api_import_each_other_only_through_declared_shared_modules_when_scanned():
    assert _offenders("collector", _crosses_pages_and_api) == []


def test_the_rules_catch_an_import_when_one_is_written(tmp_path: Path):
    """The scanner itself: a made-up page importing the archive API, absolutely and relatively."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from collector.api.archive import router\nfrom ..api import tickets\n",
                     encoding="utf-8")
    found = _imports("collector.web.probe", probe)
    assert {"collector.api.archive", "collector.api.tickets"} <= found
    assert _crosses_pages_and_api("collector.web.probe", "collector.api.archive")
    assert not _crosses_pages_and_api("collector.web.probe", "collector.api.deps")


# SQL lives in collector/store/ (and the migrations): elsewhere a module may hold a Connection or an
# Engine and catch sqlalchemy's errors, but builds and runs no statement of its own.
SQL_HOMES = ("collector.store", "collector.migrations")
SQL_TYPES = {"sqlalchemy": {"Connection", "Engine"}, "sqlalchemy.engine": {"make_url"}}  # names, not statements
SQL_ANYTHING = ("sqlalchemy.exc",)  # error classes
RUNS_SQL = {"execute", "exec_driver_sql", "executemany", "scalar", "scalars"}  # Connection/Session methods
# Modules that still build their own statements, each moved by its own issue's work; remove a line
# when it moves (the test fails while a listed module is clean, so this list cannot go stale).
SQL_NOT_YET_MOVED = {
    "collector.retention": "pruning and compaction: moved with its own rework (h17t, issue 17)",
}


def _sql_uses(path: Path) -> list[str]:
    """What in ``path`` builds or runs SQL: sqlalchemy imports beyond the types, ``.execute(`` and kin."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names if _within(a.name, "sqlalchemy")]
        elif isinstance(node, ast.ImportFrom) and node.module and _within(node.module, "sqlalchemy"):
            if any(_within(node.module, ok) for ok in SQL_ANYTHING):
                continue
            found += [f"line {node.lineno}: from {node.module} import {a.name}" for a in node.names
                      if a.name not in SQL_TYPES.get(node.module, set())]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in RUNS_SQL:
            found.append(f"line {node.lineno}: .{node.func.attr}(")
    return found


def test_no_module_outside_store_builds_or_runs_sql_when_scanned():
    offenders, moved = [], []
    for module, path in _modules("collector"):
        if any(_within(module, home) for home in SQL_HOMES):
            continue
        uses = _sql_uses(path)
        if uses and module not in SQL_NOT_YET_MOVED:
            offenders += [f"{module} {use}" for use in uses]
        elif not uses and module in SQL_NOT_YET_MOVED:
            moved.append(module)
    assert offenders == [], "SQL outside collector/store/: move it into a store module with a typed function"
    assert moved == [], "these modules no longer hold SQL: remove them from SQL_NOT_YET_MOVED"


def test_the_sql_rule_catches_a_statement_when_one_is_written(tmp_path: Path):
    probe = tmp_path / "probe.py"
    probe.write_text("from sqlalchemy import Engine, select\nimport sqlalchemy as sa\n"
                     "from sqlalchemy.exc import SQLAlchemyError\n"
                     "def f(conn):\n    return conn.execute(sa.text('select 1')).scalar()\n", encoding="utf-8")
    assert _sql_uses(probe) == ["line 1: from sqlalchemy import select", "line 2: import sqlalchemy",
                                "line 5: .scalar(", "line 5: .execute("]
