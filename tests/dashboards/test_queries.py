"""Every dashboard query is PromQL (``promql-parser``, the Rust parser Prometheus tools use)
and names only metrics that docs/metrics.md documents; the live test checks them against a
real collector's ``/metrics``."""

from __future__ import annotations

import re

import pytest

from tests.dashboards.helpers import ROOT, metric_names, panel_queries, resolve, variable_queries

promql_parser = pytest.importorskip("promql_parser", reason="pip install promql-parser")

VALUES = {"site": "central-hospital", "host": "his-db-01"}
DOCUMENTED = set(re.findall(r"`(wardround_[a-z0-9_]+)`", (ROOT / "docs" / "metrics.md").read_text()))
DERIVED = ("_bucket", "_sum", "_count", "_total")  # samples of documented histograms and counters


def test_every_panel_query_parses_when_variables_are_resolved():
    bad = []
    for dashboard, title, expr in panel_queries():
        try:
            promql_parser.parse(resolve(expr, VALUES))
        except ValueError as exc:
            bad.append(f"{dashboard} / {title}: {exc}")
    assert bad == []


def test_parser_refuses_a_query_when_it_is_not_promql():
    with pytest.raises(ValueError):
        promql_parser.parse('sum(wardround_check_status{site="x"}')


def test_every_variable_selector_parses_when_resolved():
    bad = []
    for dashboard, variable, selector in variable_queries():
        try:
            promql_parser.parse(resolve(selector, VALUES))
        except ValueError as exc:
            bad.append(f"{dashboard}: ${variable}: {exc}")
    assert bad == []


def test_panels_name_only_documented_metrics_when_read():
    named = {n for _d, _t, expr in panel_queries() for n in metric_names(expr)}
    unknown = {n for n in named if n not in DOCUMENTED
               and not any(n.endswith(s) and n[: -len(s)] in DOCUMENTED for s in DERIVED)}
    assert unknown == set()
