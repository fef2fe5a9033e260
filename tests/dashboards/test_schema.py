"""Every dashboard type-checks against Grafana's published schema (npm ``@grafana/schema``).

Grafana is not installable here, so the dashboards are checked the way
Grafana's own front end checks them: each JSON file becomes ``const d:
Dashboard = {...}`` in a TypeScript file and ``tsc --noEmit --strict`` must
accept it (unknown keys, wrong types and out-of-range enum values fail).

The npm packages live in a cache directory (``$WARDROUND_NPM_DIR``, default
``~/.cache/wardround/grafana-schema``), installed on first use with
``npm install @grafana/schema@13.2.3 typescript@7.0.2``; no node/npm is
``missing()`` (a failure under CI).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import missing
from tests.dashboards.helpers import DASHBOARDS, dashboards

NPM_PACKAGES = ("@grafana/schema@13.2.3", "typescript@7.0.2")
NPM_DIR = Path(os.environ.get("WARDROUND_NPM_DIR", Path.home() / ".cache" / "wardround" / "grafana-schema"))


@pytest.fixture(scope="session")
def tsc() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        missing("node and npm", "needed to type-check dashboards against @grafana/schema")
    exe = NPM_DIR / "node_modules" / ".bin" / "tsc"
    if not exe.exists() or not (NPM_DIR / "node_modules" / "@grafana" / "schema").is_dir():
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        if not (NPM_DIR / "package.json").exists():
            (NPM_DIR / "package.json").write_text('{"private": true}\n')
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", *NPM_PACKAGES], cwd=NPM_DIR,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            missing("npm packages", f"npm install {' '.join(NPM_PACKAGES)} failed: {done.stderr[-500:]}")
    return exe


# JSON cannot name a TypeScript string enum member (``ThresholdsMode.Absolute``), only its value
# ("absolute"): AsJson<T> is T with every string enum replaced by the union of its values.
# Everything else — required keys, unknown keys, types, numeric enum ranges — is checked as is.
PRELUDE = """import type { Dashboard } from '@grafana/schema';
type AsJson<T> = T extends string ? (string extends T ? T : `${T}`)
  : T extends readonly (infer U)[] ? AsJson<U>[]
  : T extends object ? { [K in keyof T]: AsJson<T[K]> }
  : T;
"""


def _typecheck(tsc: Path, sources: dict[str, str]) -> subprocess.CompletedProcess[str]:
    work = NPM_DIR / "check"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    files = []
    for name, text in sources.items():
        path = work / f"{Path(name).stem.replace('-', '_')}.ts"
        path.write_text(PRELUDE + f"export const dashboard: AsJson<Dashboard> = {text};\n")
        files.append(str(path))
    return subprocess.run([str(tsc), "--noEmit", "--strict", "--skipLibCheck", "--module", "nodenext",
                           "--moduleResolution", "nodenext", *files], cwd=NPM_DIR, capture_output=True,
                          text=True, timeout=300)


def test_dashboards_match_the_generator_when_built():
    from dashboards.build import build

    built = build()
    committed = {p.name: p.read_text() for p in DASHBOARDS.glob("*.json")}
    assert committed == built, "run: python dashboards/build.py, and commit the JSON"


def test_every_dashboard_type_checks_when_given_to_tsc(tsc):
    sources = {name: json.dumps(d, indent=1) for name, d in dashboards().items()}
    assert len(sources) >= 4
    done = _typecheck(tsc, sources)
    assert done.returncode == 0, done.stdout + done.stderr


def test_schema_check_rejects_a_dashboard_when_a_field_is_wrong(tsc):
    d = dict(next(iter(dashboards().values())))
    d["editable"] = "yes"
    d["panels"] = [dict(d["panels"][0], gridPos={"x": 0, "y": 0, "w": 24})]  # no h
    unknown = dict(next(iter(dashboards().values())), refresh_every="1m")  # not a dashboard field
    done = _typecheck(tsc, {"broken.json": json.dumps(d, indent=1), "unknown.json": json.dumps(unknown)})
    assert done.returncode != 0
    errors = done.stdout
    assert "boolean" in errors and "'h' is missing" in errors and "refresh_every" in errors, errors


def test_dashboards_have_unique_uids_and_panel_ids_when_loaded():
    uids = [d["uid"] for d in dashboards().values()]
    assert len(uids) == len(set(uids))
    for name, d in dashboards().items():
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), name
        for p in d["panels"]:
            g = p["gridPos"]
            assert 0 <= g["x"] and g["x"] + g["w"] <= 24, f"{name}: {p['title']} leaves the grid"
