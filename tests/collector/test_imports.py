"""collector/ imports only the checks' leaf modules from outside itself (architecture.md).

A leaf module is one of the wire model (``checks.result``) or a shared helper
(``checks._units``, the one duration grammar and value formatter; ``checks.messages``, the
message keys and their catalogues; ``checks.params``,
which re-exports it; ``checks._cron``, the one crontab reader; ``checks.catalogue``, whose
names and backup-check set the collector reads, and ``checks.context`` that it names;
``checks.languages``, the one reading of a language's name), and
imports nothing but the standard library and other leaf modules: never a check
implementation, so the collector installs without psutil, pyodbc or paramiko.  (The
catalogue imports a check's module only when that check is asked for: test_catalogue.py.)

One more: ``checks.entries``, the agent's validator of check entries, which ``fleet
apply`` uses so a fleet file the collector takes is one every agent takes.  It reads each
check's parameters dataclass from its leaf module ``checks/_params/<check>.py`` through
``catalogue.params_of`` and imports no check module (tests/test_layers.py proves it at run
time).  Check modules still import psutil, pyodbc, paramiko and icmplib only inside the
functions that measure: the last test imports every check and validates a fleet file with
those libraries made unimportable.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import checks
import collector

FIRST_PARTY = {"agent", "checks", "collector", "bench", "tests"}
LEAVES = ("checks.result", "checks.params", "checks.entries", "checks._units", "checks._cron", "checks.catalogue",
          "checks.context", "checks.messages", "checks.languages", "checks._logs")
# checks.entries may also import, of the base install (pyproject dependencies), PyYAML for files
ENTRIES_LIBRARIES = ("yaml",)


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
        path = path if path.exists() else path.with_suffix("") / "__init__.py"  # a package
        for name in _imports(path):
            top = name.split(".")[0]
            if top in FIRST_PARTY:
                assert any(name == other or name.startswith(f"{other}.") for other in LEAVES), (path, name)
            else:
                libraries = ENTRIES_LIBRARIES if leaf == "checks.entries" else ()
                assert top in sys.stdlib_module_names or top in ("__future__", *libraries), (path, name)


HEAVY = ("psutil", "pyodbc", "paramiko", "icmplib")
FLEET = """
templates:
  base:
    - {check: disk, every: 5m, params: {warn: 80, crit: 90}}
    - {check: system, every: 1m}
    - {check: ping, every: 1m, params: {target: 10.0.0.1}}
  db:
    - {check: db_backup, every: 15m, params: {engine: sqlserver, dsn: "Driver=x;Server=db", password_file: /etc/pw}}
    - {check: offsite_copy, every: 1h, params: {local_path: /b, remote_host: nas, remote_user: u, remote_path: /r,
        key_file: /k, known_hosts: /kh}}
assign:
  - {templates: [base]}
  - {role: his-db, templates: [db]}
"""
BLOCKED_RUN = """
import sys
for name in HEAVY:
    sys.modules[name] = None  # import raises ImportError, as on a collector without them
from checks.catalogue import CATALOGUE, get_check
from collector import fleet

for name in CATALOGUE:
    get_check(name)  # every check's module imports without them
parsed = fleet.parse(FLEET.encode(), "fleet.yaml")
assert sorted(parsed.templates) == ["base", "db"], parsed
try:
    fleet.parse(FLEET.replace("warn: 80", "warn: high").encode(), "fleet.yaml")
except fleet.FleetError as exc:
    assert "fleet.yaml: templates.base[0].params.warn: expected a number" in str(exc), exc
else:
    raise AssertionError("a bad fleet file was accepted")
loaded = sorted(n for n in HEAVY if sys.modules.get(n) is not None)
agent = sorted(n for n in sys.modules if n == "agent" or n.startswith("agent."))
print("ok", loaded, agent)
"""


def test_collector_validates_a_fleet_file_when_psutil_pyodbc_and_paramiko_cannot_be_imported():
    import subprocess

    code = f"HEAVY = {HEAVY!r}\nFLEET = {FLEET!r}\n{BLOCKED_RUN}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(collector.__file__).parents[1])
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok [] []"
