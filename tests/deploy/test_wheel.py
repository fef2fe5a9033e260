"""The wheel holds every file the packages read, not only their modules.

``deploy/install-linux.sh``, ``make wheelhouse`` and ``pip install wardround`` install the wheel, not
the checkout: a file the code opens that ``[tool.setuptools.package-data]`` leaves out is missing on
every installed server while every test here (run from the checkout) passes. The message catalogues
once were: an installed ``wardround-agent check disk`` died with a traceback, ``checks/messages/en.json``
not found. Built as ``make wheelhouse`` builds it (``pip wheel --no-deps``), from the tracked files only.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import missing

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("agent", "checks", "collector")


def _tracked() -> list[str]:
    if shutil.which("git") is None:
        missing("git", "the tracked files are listed with git ls-files")
    out = subprocess.run(["git", "ls-files", "-z", "--", "pyproject.toml", "README.md", *PACKAGES], cwd=ROOT,
                         capture_output=True, check=True)
    return [p for p in out.stdout.decode().split("\0") if p]


def test_the_wheel_holds_every_tracked_file_of_the_packages_when_built_as_make_wheelhouse_builds_it(tmp_path):
    source = tmp_path / "source"
    files = _tracked()
    for name in files:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path / "w"),
                            str(source)], capture_output=True, text=True, timeout=300, check=False)
    if built.returncode != 0:
        missing("pip wheel with setuptools>=68", built.stderr[-2000:])
    [wheel] = (tmp_path / "w").glob("wardround-*.whl")
    with zipfile.ZipFile(wheel) as z:
        held = set(z.namelist())
    wanted = {name for name in files if name.startswith(tuple(f"{p}/" for p in PACKAGES))
              and "__pycache__" not in name}
    assert sorted(wanted - held) == []
