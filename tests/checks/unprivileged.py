"""Run a check as an unprivileged user, for the "permission denied" cases root never sees.

The tests run as root (namespaces, throwaway servers), and root reads every file.  To see what an
agent running under its own account sees, :func:`run_check_as` starts the system's Python as
``nobody`` (``subprocess.run(user=...)``), imports the check from this tree and prints its
results as wire JSON.  The venv's interpreter may live in a directory ``nobody`` cannot enter,
so the system ``/usr/bin/python3`` is used: the checks used this way import only the standard
library.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import missing

REPO = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"

_PROGRAM = """
import json, sys
sys.path.insert(0, {repo!r})
from checks.catalogue import get_check
from checks.context import CheckContext
from checks.params import parse_params
spec = get_check({name!r})
results = spec.run(parse_params(spec.params, json.loads({params!r})), CheckContext())
print(json.dumps([r.to_wire() for r in results]))
"""


def run_check_as(user: str, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """``name``'s results (wire dicts) as ``user`` sees them."""
    if os.geteuid() != 0:
        missing("root", "switching to another user needs root")
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        missing("system Python", f"{SYSTEM_PYTHON} is needed to run a check as {user}")
    try:
        pwd.getpwnam(user)
    except KeyError:
        missing(f"user {user}", "no such user on this machine")
    program = _PROGRAM.format(repo=str(REPO), name=name, params=json.dumps(params or {}))
    proc = subprocess.run([SYSTEM_PYTHON, "-I", "-c", program], user=user, capture_output=True, text=True,
                          timeout=60, cwd="/", env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return list(json.loads(proc.stdout))
