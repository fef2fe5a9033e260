from __future__ import annotations

import ast
import dataclasses
import pathlib

import pytest

import checks
from checks.catalogue import BACKUP_CHECKS, CATALOGUE, UnknownCheck, get_check

CHECKS_DIR = pathlib.Path(checks.__file__).parent


def test_every_module_without_a_leading_underscore_is_a_check_registered_under_its_own_name():
    # the rule in checks/__init__.py: a helper's name starts with "_"; the framework is declared there
    modules = {p.stem for p in CHECKS_DIR.glob("*.py")} | {p.parent.name for p in CHECKS_DIR.glob("*/__init__.py")}
    named = {m for m in modules if not m.startswith("_")} - set(checks.FRAMEWORK)
    assert named == set(CATALOGUE)
    for name, spec in CATALOGUE.items():
        assert spec.name == name


def test_every_check_has_defaults_for_all_parameters():
    for spec in CATALOGUE.values():
        spec.params()  # all defaults
        assert dataclasses.is_dataclass(spec.params)


def test_unknown_check_lists_the_known_ones():
    with pytest.raises(UnknownCheck) as err:
        get_check("dsik")
    assert "dsik" in str(err.value) and "disk" in str(err.value)


def test_checks_import_nothing_of_the_agent_or_collector():
    for path in CHECKS_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for n in names:
                assert n.split(".")[0] not in ("agent", "collector"), f"{path.name} imports {n}"


def test_result_model_imports_only_the_standard_library():
    tree = ast.parse((CHECKS_DIR / "result.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            assert node.module.split(".")[0] in ("__future__", "collections", "dataclasses", "datetime",
                                                 "enum", "typing", "math", "os", "re", "threading", "time")


def test_catalogue_imports_a_check_module_only_when_it_is_asked_for():
    import subprocess
    import sys
    code = ("import sys, checks.catalogue as c; "
            "assert not {'checks.db_backup', 'checks.offsite_copy', 'checks.disk'} & set(sys.modules); "
            "c.get_check('disk'); assert 'checks.disk' in sys.modules; "
            "assert 'checks.db_backup' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_backup_checks_are_declared_once_in_the_catalogue_and_exclude_the_restore_drill():
    # policy defaults, metrics, the annual backup rate and patrol evidence all read this set
    assert BACKUP_CHECKS == {"db_backup", "backup_files", "offsite_copy"}
    assert BACKUP_CHECKS <= set(CATALOGUE) and "restore_drill" not in BACKUP_CHECKS
