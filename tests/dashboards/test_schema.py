"""Every dashboard type-checks against Grafana's published schema (npm ``@grafana/schema``).

Grafana is not installable here, so the dashboards are checked the way
Grafana's own front end checks them: each JSON file (both languages) becomes
``const d: Dashboard = {...}`` in a TypeScript file, with each panel's options,
custom field config and override values as constants of the panel plugin's
own types, and ``tsc --noEmit --strict`` must accept it (unknown keys, wrong
types and out-of-range enum values fail).

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
from tests.dashboards.helpers import dashboard_files, dashboards, panels

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


# Panels: Dashboard types a panel's ``options`` and ``fieldConfig.defaults.custom`` as ``unknown``, so they
# are checked against the panel plugin's own types (the ``panelcfg`` modules of @grafana/schema), every
# key optional as Grafana fills in defaults; override properties by what their id sets.
PLUGINS = {
    "timeseries": ("TimeSeries", "timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen", True),
    "table": ("Table", "table/panelcfg/x/TablePanelCfg_types.gen", True),
    "stat": ("Stat", "stat/panelcfg/x/StatPanelCfg_types.gen", False),
    "bargauge": ("BarGauge", "bargauge/panelcfg/x/BarGaugePanelCfg_types.gen", False),
    "state-timeline": ("StateTimeline", "statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen", True),
}
PROPERTY_TYPES = {"color": "J<FieldColor>", "thresholds": "AsJson<ThresholdsConfig>",
                  "mappings": "AsJson<ValueMapping[]>", "unit": "string", "displayName": "string",
                  "min": "number", "max": "number", "decimals": "number", "noValue": "string"}
PANEL_PRELUDE = "".join(
    f"import type * as {ns} from '@grafana/schema/dist/esm/raw/composable/{path}';\n"
    for ns, path, _custom in PLUGINS.values()) + """\
import type { FieldColor, ThresholdsConfig, ValueMapping } from '@grafana/schema';
type DeepPartial<T> = T extends readonly (infer U)[] ? DeepPartial<U>[]
  : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> }
  : T;
type J<T> = DeepPartial<AsJson<T>>;
"""


def panel_declarations(dashboard: dict) -> tuple[list[str], list[str]]:
    """TypeScript constants typing each panel's options, custom field config and override values; and
    what cannot be typed (an unknown panel type or override property)."""
    out, problems = [], []
    for i, panel in enumerate(panels(dashboard)):
        where = f"{dashboard['uid']} / {panel['title']}"
        if panel["type"] not in PLUGINS:
            problems.append(f"{where}: no plugin types for panel type {panel['type']!r}")
            continue
        ns, _path, has_custom = PLUGINS[panel["type"]]
        out.append(f"export const p{i}_options: J<{ns}.Options> = {json.dumps(panel.get('options', {}))};")
        custom = panel["fieldConfig"]["defaults"].get("custom")
        if custom is not None:
            if not has_custom:
                problems.append(f"{where}: a {panel['type']} panel has no custom field config")
            else:
                out.append(f"export const p{i}_custom: J<{ns}.FieldConfig> = {json.dumps(custom)};")
        for j, override in enumerate(panel["fieldConfig"]["overrides"]):
            for k, prop in enumerate(override["properties"]):
                name, value = prop["id"], json.dumps(prop.get("value"))
                if name.startswith("custom.") and has_custom:
                    out.append(f"export const p{i}_o{j}_{k}: J<{ns}.FieldConfig> = "
                               f"{{{json.dumps(name.removeprefix('custom.'))}: {value}}};")
                elif name in PROPERTY_TYPES:
                    out.append(f"export const p{i}_o{j}_{k}: {PROPERTY_TYPES[name]} = {value};")
                else:
                    problems.append(f"{where}: override property {name!r} is not typed here")
    return out, problems


def _typecheck(tsc: Path, sources: dict[str, str], panel_checks: dict[str, list[str]] | None = None
               ) -> subprocess.CompletedProcess[str]:
    work = NPM_DIR / "check"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    files = []
    for name, text in sources.items():
        path = work / f"{name.removesuffix('.json').replace('/', '_').replace('-', '_')}.ts"
        body = PRELUDE + f"export const dashboard: AsJson<Dashboard> = {text};\n"
        if panel_checks and name in panel_checks:
            body = PRELUDE + PANEL_PRELUDE + f"export const dashboard: AsJson<Dashboard> = {text};\n" + \
                "\n".join(panel_checks[name]) + "\n"
        path.write_text(body)
        files.append(str(path))
    return subprocess.run([str(tsc), "--noEmit", "--strict", "--skipLibCheck", "--module", "nodenext",
                           "--moduleResolution", "nodenext", *files], cwd=NPM_DIR, capture_output=True,
                          text=True, timeout=300)


def test_dashboards_match_the_generator_when_built():
    from dashboards.build import build

    built = build()
    committed = {f"{p.parent.name}/{p.name}": p.read_text(encoding="utf-8") for p in dashboard_files()}
    assert committed == built, "run: python dashboards/build.py, and commit the JSON"


def test_every_dashboard_and_its_panels_type_check_when_given_to_tsc(tsc):
    boards = dashboards()
    sources = {name: json.dumps(d, indent=1, ensure_ascii=False) for name, d in boards.items()}
    assert len(sources) >= 10
    checks, problems = {}, []
    for name, d in boards.items():
        checks[name], bad = panel_declarations(d)
        problems += bad
    assert problems == []
    done = _typecheck(tsc, sources, checks)
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


def test_panel_check_rejects_options_and_overrides_when_they_are_wrong(tsc):
    series = {"type": "timeseries", "title": "t", "fieldConfig": {"defaults": {"custom": {"drawStyle": "bar"}},
              "overrides": [{"matcher": {"id": "byFrameRefID", "options": "B"}, "properties": [
                  {"id": "custom.lineStyle", "value": {"fill": "dashed"}},
                  {"id": "color", "value": {"mode": "fixed", "fixedColour": "red"}}]}]},
              "options": {"legend": {"placement": "left"}}}
    table = {"type": "table", "title": "u", "fieldConfig": {"defaults": {}, "overrides": [
        {"matcher": {"id": "byName", "options": "Value"}, "properties": [
            {"id": "custom.cellOptions", "value": {"type": "colour-background"}}]}]},
             "options": {"sortBy": [{"displayName": "x", "descending": True}]}}
    lines, problems = panel_declarations({"uid": "x", "panels": [series, table]})
    assert problems == []
    done = _typecheck(tsc, {"panels.json": "{} as any"}, {"panels.json": lines})
    errors = done.stdout
    for wrong in ('"bar"', '"dashed"', "fixedColour", '"left"', '"colour-background"', "descending"):
        assert wrong in errors, (wrong, errors)


def test_dashboards_have_unique_uids_and_panel_ids_when_loaded():
    uids = [d["uid"] for d in dashboards().values()]
    assert len(uids) == len(set(uids))
    for name, d in dashboards().items():
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), name
        for p in d["panels"]:
            g = p["gridPos"]
            assert 0 <= g["x"] and g["x"] + g["w"] <= 24, f"{name}: {p['title']} leaves the grid"
