"""What the dashboard tests share: the committed dashboards and every query in them.

``dashboards()`` reads every committed dashboard (``dashboards/<lang>/*.json``,
both languages); ``panel_queries()`` yields (dashboard file, panel title, PromQL) for every
target of every panel; ``variable_queries()`` the ``label_values`` queries of
the template variables.  ``resolve(expr, values)`` replaces Grafana's
variables with real values so the query can run in Prometheus.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"

# Grafana's built-in interval variables, as Grafana would expand them for a 1-hour view.
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h", "__range_s": "3600"}
_VAR = re.compile(r"\$\{?(\w+)\}?")
_LABEL_VALUES = re.compile(r"^label_values\((?:(.*),\s*)?(\w+)\)$")


LANGUAGES = ("zh_CN", "en")


def dashboard_files() -> list[Path]:
    """Every committed dashboard: ``dashboards/<lang>/<name>.json``."""
    return sorted(p for lang in LANGUAGES for p in (DASHBOARDS / lang).glob("*.json"))


def dashboards(lang: str | None = None) -> dict[str, dict[str, Any]]:
    """``<lang>/<name>.json`` → the dashboard, of every language or of ``lang``."""
    return {f"{p.parent.name}/{p.name}": json.loads(p.read_text(encoding="utf-8")) for p in dashboard_files()
            if lang is None or p.parent.name == lang}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for p in dashboard.get("panels", []):
        if p.get("type") == "row":
            yield from p.get("panels", [])
        else:
            yield p


def panel_queries() -> Iterator[tuple[str, str, str]]:
    for name, d in dashboards().items():
        for p in panels(d):
            for t in p.get("targets", []):
                yield name, p["title"], t["expr"]


def variable_queries() -> Iterator[tuple[str, str, str]]:
    """(dashboard, variable name, the PromQL selector inside label_values)."""
    for name, d in dashboards().items():
        for v in d["templating"]["list"]:
            if v["type"] == "query":
                m = _LABEL_VALUES.match(v["query"]["query"])
                assert m, f"{name}: variable {v['name']}: not a label_values() query"
                yield name, v["name"], m.group(1) or ""


def resolve(expr: str, values: dict[str, str]) -> str:
    """``expr`` with $site, $host, ... and Grafana's interval variables replaced."""
    table = {**BUILTINS, **values}

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in table:
            raise KeyError(f"no value for ${m.group(1)} in {expr!r}")
        return table[m.group(1)]

    return _VAR.sub(sub, expr)


def metric_names(expr: str) -> set[str]:
    """The wardround_* metric names an expression reads."""
    return set(re.findall(r"\b(wardround_[a-z0-9_]+)", expr))
