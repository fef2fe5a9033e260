"""Builds the Grafana dashboards (``dashboards/<lang>/*.json``) over the collector's metrics.

Run ``python dashboards/build.py`` after a change and commit the JSON it writes;
``tests/dashboards/`` fails when the committed JSON differs from what this
builds, when a dashboard (or a panel's options and field config) does not
type-check against ``@grafana/schema``, when a query is not PromQL or names a
metric the collector does not export, and when a query returns no data from a
real Prometheus scraping a real collector.

Every dashboard is built once per language (``zh_CN``, ``en``) from the same
panels and queries: the words come from ``dashboards/i18n/<lang>.json``, and
the status, record-kind and role words from the pages' catalogue
(``collector/web/i18n``), so a dashboard says 正常/警告/异常/未知 exactly as the
pages do.  The Chinese dashboards keep the plain uids (``wardround-fleet``),
the English ones end in ``-en``; each language links only to its own.

Every dashboard has a ``datasource`` variable (any Prometheus) and a ``site``
variable; the host detail also ``host``.  Status values are drawn with one
value mapping (0 OK green, 1 WARNING yellow, 2 CRITICAL red, 3 UNKNOWN
purple).  "Worst" ranks CRITICAL above UNKNOWN above WARNING, as everywhere in
Wardround: the rank is ``Status.severity``, in PromQL ``status + (status == 2) - (status == 3)``
(:func:`rank`, written from :data:`checks.result.SEVERITY`).  The backup checks are
:data:`checks.catalogue.BACKUP_CHECKS`.

Limits are each item's own: a panel over a measured value draws the warning
and critical thresholds the agent judged it by (``wardround_check_threshold``,
see docs/metrics.md) as dashed yellow and red series beside it, never a fixed
line for the whole fleet.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks.catalogue import BACKUP_CHECKS as BACKUP_CHECK_NAMES
from checks.catalogue import CATALOGUE
from checks.result import SEVERITY

HERE = Path(__file__).resolve().parent
LANGUAGES = ("zh_CN", "en")
UID_SUFFIX = {"zh_CN": "", "en": "-en"}
SCHEMA_VERSION = 41
DS = {"type": "prometheus", "uid": "${datasource}"}
BACKUP_CHECKS = f'check=~"{"|".join(name for name in CATALOGUE if name in BACKUP_CHECK_NAMES)}"'
SEEN = "wardround_agent_last_seen_timestamp_seconds"
HOST_STATES = ("ok", "warning", "unknown", "abnormal", "silent", "never_reported")
BACKUP_OUTCOMES = ("done", "too_small", "missed", "failed", "warning", "unknown")
LAST = {"calcs": ["lastNotNull"], "fields": "", "values": False}


class Words:
    """The text of one language: ``dashboards/i18n/<lang>.json`` and the pages' shared words."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.catalogue: dict[str, str] = json.loads((HERE / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))
        self.used: set[str] = set()

    def __call__(self, key: str, **values: Any) -> str:
        self.used.add(key)
        text = self.catalogue[key]
        return text.format(**values) if values else text

    def page(self, key: str, **values: Any) -> str:
        """A word of the pages' catalogue (status names, record kinds, roles, levels)."""
        from collector.web.i18n import text

        return text(self.lang, key, **values)


def _steps(*pairs: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in pairs]}


GREEN = _steps((None, "green"))
STATUS_STEPS = _steps((None, "green"), (1, "yellow"), (2, "red"), (3, "purple"))
ZERO_GOOD = _steps((None, "green"), (1, "red"))
HIDE_COLUMNS = {"id": "organize", "options": {
    "excludeByName": {"Time": True, "__name__": True, "instance": True, "job": True}}}
MERGE = {"id": "merge", "options": {}}
STATUS_COLORS = (("OK", "green"), ("WARNING", "yellow"), ("CRITICAL", "red"), ("UNKNOWN", "purple"))
#: (name, value) of each status, the worst first (Status.severity)
WORST_FIRST = [(status.name, int(status)) for status in sorted(SEVERITY, key=lambda s: -SEVERITY[s])]
STATE_COLORS = {"ok": "green", "warning": "yellow", "unknown": "purple", "abnormal": "red", "silent": "orange",
                "never_reported": "blue"}
OUTCOME_COLORS = {"done": "green", "too_small": "orange", "missed": "red", "failed": "red", "warning": "yellow",
                  "unknown": "purple"}


def _mapping(options: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"type": "value", "options": {
        value: {"text": text, "color": color, "index": i} for i, (value, (text, color)) in enumerate(options.items())}}]


def status_mapping(t: Words) -> list[dict[str, Any]]:
    return _mapping({str(code): (t.page(f"status.{name}"), color) for code, (name, color) in enumerate(STATUS_COLORS)})


def rank_mapping(t: Words) -> list[dict[str, Any]]:
    order = tuple(status.name for status in sorted(SEVERITY, key=SEVERITY.__getitem__))
    colors = dict(STATUS_COLORS)
    return _mapping({str(rank): (t.page(f"status.{name}"), colors[name]) for rank, name in enumerate(order)})


# A host state in the pages' words where they have one (status names, "silent").
_STATE_WORDS = {"ok": "status.OK", "warning": "status.WARNING", "unknown": "status.UNKNOWN",
                "abnormal": "status.CRITICAL", "silent": "hosts.silent"}


def state_word(t: Words, state: str) -> str:
    return t.page(_STATE_WORDS[state]) if state in _STATE_WORDS else t(f"state.{state}")


def _fixed(color: str) -> dict[str, Any]:
    return {"id": "color", "value": {"mode": "fixed", "fixedColor": color}}


def _column(name: str, title: str, *properties: dict[str, Any]) -> dict[str, Any]:
    """An override naming (and formatting) one column of a table."""
    return {"matcher": {"id": "byName", "options": name},
            "properties": [{"id": "displayName", "value": title}, *properties]}


def _labels(t: Words, *names: str) -> list[dict[str, Any]]:
    """Overrides naming the label columns of a table (site, host, check, item, ...)."""
    return [_column(name, t(f"column.{name}")) for name in names]


def _status_column(t: Words, name: str = "Value") -> dict[str, Any]:
    """A column of check statuses, in words and colours."""
    return _column(name, t("column.status"), {"id": "mappings", "value": status_mapping(t)},
                   {"id": "custom.cellOptions", "value": {"type": "color-background"}})


def _unit(unit: str) -> dict[str, Any]:
    return {"id": "unit", "value": unit}


@dataclass(frozen=True)
class Limits:
    """Draw the items' own warning and critical thresholds of ``metric`` (docs/metrics.md) beside a value.

    ``scale`` wraps the threshold series as the panel wraps the value (``{} / 86400`` for days);
    ``mirror`` also draws them below zero (a threshold on the absolute value of a signed metric);
    ``levels`` are the thresholds the checks send (a backup's age has only a critical limit).
    """

    metric: str
    selector: str
    legend: str = "{{item}}"
    scale: str = "{}"
    mirror: bool = False
    levels: tuple[str, ...] = ("warn", "crit")


class Board:
    """One dashboard in one language: panels laid out left to right, 24 columns wide."""

    def __init__(self, t: Words, uid: str, key: str, variables: list[dict[str, Any]], *,
                 time_from: str = "now-24h") -> None:
        self.t = t
        self.uid, self.time_from = uid + UID_SUFFIX[t.lang], time_from
        self.title, self.description = t(f"{key}.title"), t(f"{key}.description")
        self.variables = [_datasource_var(t), *variables]
        self.panels: list[dict[str, Any]] = []
        self._x = self._y = self._row_h = 0

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append({"type": "row", "title": title, "collapsed": False, "id": len(self.panels) + 1,
                            "gridPos": {"x": 0, "y": self._y, "w": 24, "h": 1}, "panels": []})
        self._y += 1

    def _newline(self) -> None:
        if self._x:
            self._y += self._row_h
            self._x = self._row_h = 0

    def add(self, kind: str, title: str, targets: list[dict[str, Any]], *, w: int = 12, h: int = 8,
            unit: str | None = None, description: str = "", mappings: list[Any] | None = None,
            thresholds: dict[str, Any] | None = None, options: dict[str, Any] | None = None,
            custom: dict[str, Any] | None = None, minimum: float | None = None,
            maximum: float | None = None, transformations: list[Any] | None = None,
            no_value: str | None = None, interval: str | None = None,
            overrides: list[dict[str, Any]] | None = None, limits: list[Limits] | None = None) -> None:
        if self._x + w > 24:
            self._newline()
        color = "palette-classic" if kind == "timeseries" else "thresholds"
        defaults: dict[str, Any] = {"thresholds": thresholds or GREEN, "color": {"mode": color}}
        if unit:
            defaults["unit"] = unit
        if mappings:
            defaults["mappings"] = mappings
        if custom:
            defaults["custom"] = custom
        if minimum is not None:
            defaults["min"] = minimum
        if maximum is not None:
            defaults["max"] = maximum
        if no_value is not None:
            defaults["noValue"] = no_value
        targets = [dict(x, refId=chr(ord("A") + i), datasource=DS) for i, x in enumerate(targets)]
        overrides = list(overrides or [])
        for lim in limits or []:
            self._limits(lim, targets, overrides)
        panel: dict[str, Any] = {
            "type": kind, "title": title, "id": len(self.panels) + 1, "datasource": DS,
            "gridPos": {"x": self._x, "y": self._y, "w": w, "h": h},
            "fieldConfig": {"defaults": defaults, "overrides": overrides},
            "options": options or {},
            "targets": targets,
        }
        if description:
            panel["description"] = description
        if transformations:
            panel["transformations"] = transformations
        if interval:
            panel["interval"] = interval
        self.panels.append(panel)
        self._x += w
        self._row_h = max(self._row_h, h)

    def _limits(self, lim: Limits, targets: list[dict[str, Any]], overrides: list[dict[str, Any]]) -> None:
        """Threshold series as extra targets, drawn as dashed lines by an override on their refId."""
        for level in lim.levels:
            color = {"warn": "yellow", "crit": "red"}[level]
            series = f'wardround_check_threshold{{{lim.selector},metric="{lim.metric}",level="{level}"}}'
            legend = f"{lim.legend} · {self.t(f'limit.{level}')}"
            for expr in [lim.scale.format(series)] + ([lim.scale.format(f"-{series}")] if lim.mirror else []):
                ref = chr(ord("A") + len(targets))
                targets.append(dict(q(expr, legend), refId=ref, datasource=DS))
                overrides.append({"matcher": {"id": "byFrameRefID", "options": ref}, "properties": [
                    _fixed(color), {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                    {"id": "custom.lineWidth", "value": 1}, {"id": "custom.fillOpacity", "value": 0},
                    {"id": "custom.showPoints", "value": "never"}]})

    def json(self) -> dict[str, Any]:
        t = self.t
        return {
            "uid": self.uid, "title": self.title, "description": self.description,
            "tags": ["wardround", t.lang], "timezone": "browser", "editable": True, "graphTooltip": 1,
            "schemaVersion": SCHEMA_VERSION, "version": 1, "refresh": "1m",
            "time": {"from": self.time_from, "to": "now"},
            "annotations": {"list": []}, "links": [
                {"title": t("links.title"), "type": "dashboards", "tags": ["wardround", t.lang],
                 "asDropdown": True, "includeVars": False, "keepTime": True, "icon": "external link",
                 "targetBlank": False, "tooltip": "", "url": ""}],
            "templating": {"list": self.variables},
            "panels": self.panels,
        }


def q(expr: str, legend: str = "", *, instant: bool = False) -> dict[str, Any]:
    t: dict[str, Any] = {"expr": expr, "legendFormat": legend or "__auto", "range": not instant,
                         "instant": instant}
    if instant:
        t["format"] = "table"
    return t


def _datasource_var(t: Words) -> dict[str, Any]:
    return {"name": "datasource", "label": t("var.datasource"), "type": "datasource", "query": "prometheus",
            "current": {"text": "Prometheus", "value": "wardround-prometheus"}, "hide": 0, "refresh": 1,
            "options": [], "regex": ""}


def _query_var(t: Words, name: str, query: str, *, multi: bool) -> dict[str, Any]:
    v: dict[str, Any] = {"name": name, "label": t(f"var.{name}"), "type": "query", "datasource": DS,
                         "query": {"query": query, "refId": f"{name}-values", "qryType": 1},
                         "refresh": 2, "sort": 1, "hide": 0, "regex": "",
                         "multi": multi, "includeAll": multi,
                         "current": {"text": t("var.all"), "value": "$__all"} if multi else {"text": "", "value": ""},
                         "options": []}
    if multi:
        v["allValue"] = ".*"
    return v


def sites(t: Words) -> dict[str, Any]:
    return _query_var(t, "site", f"label_values({SEEN}, site)", multi=True)


def rank(selector: str) -> str:
    """``Status.severity`` of each series: its value plus the step where the ranking differs from it."""
    s = f"wardround_check_status{{{selector}}}"
    steps = "".join(f" {'+' if rank > status else '-'} ({s} == bool {int(status)})"
                    for status, rank in sorted(SEVERITY.items()) if rank != status)
    assert all(abs(rank - status) <= 1 for status, rank in SEVERITY.items())  # one step at most
    return f"({s}{steps})"


# Families read from the database are the same from every collector: combined across collectors
# (instances) with max, never sum.
def once(expr: str, by: str = "site, severity") -> str:
    return f"max by ({by}) ({expr})"


TSITE = 'site=~"$site"'
OPEN = once(f"wardround_tickets_open{{{TSITE}}}")
KEY_OPEN = once(f"wardround_tickets_open_key_customer{{{TSITE}}}")
BREACHED = once(f"wardround_tickets_breached{{{TSITE}}}", "site, severity, kind")
BREACHES_RANGE = once(f"increase(wardround_tickets_breaches_total{{{TSITE}}}[$__range])",
                      "site, severity, kind")
OUTCOME = "wardround_backup_outcome"


def _breaches_range(kind: str) -> str:
    return once(f'increase(wardround_tickets_breaches_total{{{TSITE},kind="{kind}"}}[$__range])', "site, severity")

BATCH_RATE = "rate(wardround_ingest_batch_seconds_bucket[$__rate_interval])"
COUNT = {"reduceOptions": LAST, "colorMode": "value", "graphMode": "area", "textMode": "value",
         "justifyMode": "auto", "orientation": "auto"}


def _level_legend(t: Words) -> str:
    return t.page("ticket.level", n="{{severity}}")


# -- fleet overview ---------------------------------------------------------------

def fleet(t: Words) -> Board:
    b = Board(t, "wardround-fleet", "fleet", [sites(t)])
    site = TSITE
    _today(b, t)
    b.row(t("fleet.row.now"))
    stat = {"reduceOptions": LAST, "colorMode": "background", "graphMode": "none",
            "textMode": "value_and_name", "justifyMode": "auto", "orientation": "auto"}
    b.add("stat", t("fleet.worst.title"), [q(f"max by (site) {rank(site)}", "{{site}}", instant=True)],
          w=24, h=5, mappings=rank_mapping(t),
          thresholds=_steps((None, "green"), (1, "yellow"), (2, "purple"), (3, "red")), options=stat,
          description=t("fleet.worst.description"))
    b.add("stat", t("fleet.reporting.title"), [q(f"count({SEEN}{{{site}}})")], w=4, h=4, options=COUNT,
          unit="none")
    colors = dict(STATUS_COLORS)
    for name, code in WORST_FIRST[:-1]:  # not OK
        color = colors[name]
        b.add("stat", t("fleet.items.title", status=t.page(f"status.{name}")),
              [q(f"sum(wardround_check_status{{{site}}} == bool {code})")],
              w=4, h=4, options=COUNT, unit="none", thresholds=_steps((None, "green"), (1, color)))
    b.add("stat", t("fleet.backups_failing.title"),
          [q(f"sum(wardround_check_status{{{site},{BACKUP_CHECKS}}} == bool 2)")], w=4, h=4, options=COUNT,
          unit="none", thresholds=ZERO_GOOD, description=t("fleet.backups_failing.description"))
    b.add("stat", t("fleet.open_by_level.title"), [q(f"sum by (severity) ({OPEN})", _level_legend(t))],
          w=8, h=4, options={**COUNT, "textMode": "value_and_name"}, no_value="0", unit="none",
          thresholds=_steps((None, "green"), (1, "orange")), description=t("fleet.open_by_level.description"))
    b.add("stat", t("fleet.breached.title"), [q(f"sum({BREACHED})")], w=4, h=4, options=COUNT,
          no_value="0", unit="none", thresholds=ZERO_GOOD, description=t("fleet.breached.description"))
    b.add("stat", t("fleet.key_open.title"), [q(f"sum({KEY_OPEN})")], w=4, h=4, options=COUNT,
          no_value="0", unit="none", thresholds=_steps((None, "green"), (1, "orange")))
    b.add("stat", t("fleet.clock.title"), [q(f"max(abs(wardround_clock_offset_seconds{{{site}}}))")], w=4, h=4,
          options=COUNT, unit="s", description=t("fleet.clock.description"))
    b.add("stat", t("fleet.breaches_range.title"), [q(f"sum({BREACHES_RANGE})")], w=4, h=4, options=COUNT,
          no_value="0", unit="none", thresholds=ZERO_GOOD)
    b.add("timeseries", t("fleet.not_ok.title"),
          [q(f"sum by (site) (wardround_check_status{{{site}}} != bool 0)", "{{site}}")], w=12, h=8,
          minimum=0, unit="none")
    per_status = WORST_FIRST
    b.add("table", t("fleet.per_status.title"), [
        q(f"sum by (site) (wardround_check_status{{{site}}} == bool {code})", instant=True)
        for _name, code in per_status], w=12, h=8, transformations=[MERGE, HIDE_COLUMNS],
        overrides=_labels(t, "site") + [
            _column(f"Value #{chr(ord('A') + i)}", t.page(f"status.{name}"))
            for i, (name, _c) in enumerate(per_status)])
    b.add("table", t("fleet.since_delivery.title"),
          [q(f"time() - {SEEN}{{{site}}}", instant=True)], w=12, h=8, unit="s",
          thresholds=_steps((None, "green"), (300, "yellow"), (900, "red")),
          custom={"cellOptions": {"type": "color-text"}}, transformations=[HIDE_COLUMNS],
          options={"sortBy": [{"displayName": t("column.silent_for"), "desc": True}]},
          overrides=[*_labels(t, "site", "host"),
                     _column("Value", t("column.silent_for"))])
    b.add("table", t("fleet.agents.title"), [
        q(f"wardround_agent_spool_backlog{{{site}}}", instant=True),
        q(f"wardround_agent_clock_offset_seconds{{{site}}}", instant=True)], w=12, h=8,
        transformations=[MERGE, HIDE_COLUMNS],
        overrides=[*_labels(t, "site", "host"),
                   _column("Value #A", t("column.backlog"), _unit("none")),
                   _column("Value #B", t("column.clock_offset"), _unit("s"))])
    b.row(t("fleet.row.collector"))
    b.add("timeseries", t("fleet.ingest.title"), [
        q(f'sum(rate(wardround_ingest_results_total{{outcome="{o}"}}[$__rate_interval]))', t(f"ingest.{o}"))
        for o in ("accepted", "duplicate", "rejected")],
        unit=t("unit.results_per_second"), minimum=0, description=t("fleet.ingest.description"))
    b.add("timeseries", t("fleet.batch.title"), [
        q(f"histogram_quantile({p}, sum by (le) ({BATCH_RATE}))", t(f"legend.p{round(p * 100)}"))
        for p in (0.5, 0.95)], unit="s", minimum=0)
    return b


def _today(b: Board, t: Words) -> None:
    """The morning questions of the Today page, per site (docs/metrics.md, "Today")."""
    site = TSITE
    b.row(t("today.row"))
    hosts = [q(f'sum(max by (site) (wardround_hosts{{{site},state="{s}"}}))', state_word(t, s)) for s in HOST_STATES]
    b.add("stat", t("today.hosts.title"), hosts, w=12, h=5, unit="none",
          options={**COUNT, "graphMode": "none", "textMode": "value_and_name", "colorMode": "background"},
          overrides=[{"matcher": {"id": "byFrameRefID", "options": chr(ord("A") + i)}, "properties": [
              {"id": "thresholds", "value": _steps((None, "green"), (1, STATE_COLORS[s]))
               if s != "ok" else GREEN}]} for i, s in enumerate(HOST_STATES)],
          description=t("today.hosts.description"))
    done = [q(f'count(max by (site, host, check, item) ({OUTCOME}{{{site},outcome="{o}"}})) or vector(0)',
              t(f"outcome.{o}")) for o in BACKUP_OUTCOMES[:4]]
    b.add("stat", t("today.backups.title"), done, w=12, h=5, unit="none",
          options={**COUNT, "graphMode": "none", "textMode": "value_and_name", "colorMode": "background"},
          overrides=[{"matcher": {"id": "byFrameRefID", "options": chr(ord("A") + i)}, "properties": [
              {"id": "thresholds", "value": _steps((None, "green"), (1, OUTCOME_COLORS[o]))
               if o != "done" else GREEN}]} for i, o in enumerate(BACKUP_OUTCOMES[:4])],
          description=t("today.backups.description"))
    problem = {"id": "custom.cellOptions", "value": {"type": "color-text"}}
    b.add("table", t("today.hosts_by_site.title"),
          [q(f'max by (site) (wardround_hosts{{{site},state="{s}"}})', instant=True) for s in HOST_STATES],
          w=12, h=8, unit="none", transformations=[MERGE, HIDE_COLUMNS],
          overrides=_labels(t, "site") + [
              _column(f"Value #{chr(ord('A') + i)}", state_word(t, s), problem,
                      {"id": "thresholds", "value": _steps((None, "text"), (1, STATE_COLORS[s]))})
              for i, s in enumerate(HOST_STATES)])
    items = f"max by (site, host, check, item) ({OUTCOME}{{{site}}})"
    b.add("table", t("today.backups_by_site.title"), [
        q(f'count by (site) (max by (site, host, check, item) ({OUTCOME}{{{site},outcome="{o}"}}))'
          f" or on (site) (0 * count by (site) ({items}))", instant=True) for o in BACKUP_OUTCOMES],
        w=12, h=8, unit="none", transformations=[MERGE, HIDE_COLUMNS],
        overrides=_labels(t, "site") + [
            _column(f"Value #{chr(ord('A') + i)}", t(f"outcome.{o}"), problem,
                    {"id": "thresholds", "value": _steps((None, "text"), (1, OUTCOME_COLORS[o]))})
            for i, o in enumerate(BACKUP_OUTCOMES)],
        description=t("today.backups_by_site.description"))
    outcomes = _mapping({o: (t(f"outcome.{o}"), OUTCOME_COLORS[o]) for o in BACKUP_OUTCOMES})
    b.add("table", t("today.backups_not_done.title"),
          [q(f'max by (site, host, check, item, outcome) ({OUTCOME}{{{site},outcome!="done"}})', instant=True)],
          w=12, h=8, no_value=t("today.backups_not_done.none"),
          transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True}}}],
          overrides=[*_labels(t, "site", "host", "check", "item"),
                     _column("outcome", t("column.outcome"), {"id": "mappings", "value": outcomes},
                             {"id": "custom.cellOptions", "value": {"type": "color-background"}})])
    due = "max by (site, host, check, item, severity, key_customer, deadline) " \
          f"(wardround_ticket_due_timestamp_seconds{{{site}}})"
    deadlines = _mapping({d: (t(f"deadline.{d}"), "text") for d in ("response", "resolve", "onsite")})
    key = _mapping({"true": (t("key_customer.true"), "orange"), "false": (t("key_customer.false"), "text")})
    b.add("table", t("today.due.title"), [q(f"{due} - time()", instant=True)], w=12, h=8,
          no_value=t("today.due.none"), transformations=[HIDE_COLUMNS],
          options={"sortBy": [{"displayName": t("column.time_left"), "desc": False}]},
          overrides=[*_labels(t, "site", "host", "check", "item"),
                     _column("severity", t("column.level")),
                     _column("key_customer", t("column.key_customer"), {"id": "mappings", "value": key}),
                     _column("deadline", t("column.deadline"), {"id": "mappings", "value": deadlines}),
                     _column("Value", t("column.time_left"), _unit("s"),
                             {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                             {"id": "thresholds", "value": _steps((None, "red"), (0, "orange"), (3600, "green"))})],
          description=t("today.due.description"))
    record = f'{{{site},kind="daily"}}'
    b.add("table", t("today.record.title"), [
        q(f"time() - max by (site) (wardround_record_issued_timestamp_seconds{record})", instant=True),
        q(f'max by (site) (wardround_record_signatures{{{site},kind="daily",role="engineer"}})', instant=True),
        q(f'max by (site) (wardround_record_signatures{{{site},kind="daily",role="customer"}})', instant=True)],
        w=12, h=8, no_value=t("today.record.none"), transformations=[MERGE, HIDE_COLUMNS],
        overrides=[*_labels(t, "site"),
                   _column("Value #A", t("column.issued_ago"), _unit("s"),
                           {"id": "custom.cellOptions", "value": {"type": "color-text"}},
                           {"id": "thresholds", "value": _steps((None, "green"), (86400, "red"))}),
                   _column("Value #B", t("column.signed_by", role=t.page("role.engineer")), _unit("none"),
                           {"id": "custom.cellOptions", "value": {"type": "color-text"}},
                           {"id": "thresholds", "value": _steps((None, "orange"), (1, "green"))}),
                   _column("Value #C", t("column.signed_by", role=t.page("role.customer")), _unit("none"),
                           {"id": "custom.cellOptions", "value": {"type": "color-text"}},
                           {"id": "thresholds", "value": _steps((None, "orange"), (1, "green"))})],
        description=t("today.record.description", kind=t.page("kind.daily")))


# -- host detail ------------------------------------------------------------------

def host(t: Words) -> Board:
    site1 = _query_var(t, "site", f"label_values({SEEN}, site)", multi=False)
    host1 = _query_var(t, "host", f'label_values({SEEN}{{site="$site"}}, host)', multi=False)
    b = Board(t, "wardround-host", "host", [site1, host1])
    sh = 'site="$site",host="$host"'
    b.add("state-timeline", t("host.timeline.title"),
          [q(f"wardround_check_status{{{sh}}}", "{{check}} {{item}}")], w=24, h=10, mappings=status_mapping(t),
          thresholds=STATUS_STEPS,
          options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8, "alignValue": "left"})
    b.add("table", t("host.current.title"), [q(f"wardround_check_status{{{sh}}}", instant=True)], w=12, h=9,
          thresholds=STATUS_STEPS, transformations=[HIDE_COLUMNS],
          overrides=[*_labels(t, "site", "host", "check", "item"),
                     _status_column(t)])
    b.add("table", t("host.agent.title"), [
        q(f"time() - {SEEN}{{{sh}}}", instant=True),
        q(f"wardround_agent_spool_backlog{{{sh}}}", instant=True),
        q(f"wardround_agent_clock_offset_seconds{{{sh}}}", instant=True),
        q(f"wardround_uptime_seconds{{{sh}}}", instant=True)], w=12, h=9,
        transformations=[MERGE, HIDE_COLUMNS],
        overrides=[*_labels(t, "site", "host"),
                   _column("Value #A", t("column.silent_for"), _unit("s")),
                   _column("Value #B", t("column.backlog"), _unit("none")),
                   _column("Value #C", t("column.clock_offset"), _unit("s")),
                   _column("Value #D", t("column.uptime"), _unit("s"))])
    b.add("timeseries", t("host.clock.title"), [q(f"wardround_clock_offset_seconds{{{sh}}}", "{{item}}")], w=24,
          h=6, unit="s", limits=[Limits("wardround_clock_offset_seconds", sh, mirror=True)],
          description=t("host.clock.description"))
    b.row(t("host.row.disks"))
    b.add("timeseries", t("host.disk_used.title"), [q(f"wardround_disk_used_ratio{{{sh}}}", "{{item}}")], w=8,
          unit="percentunit", minimum=0, maximum=1, limits=[Limits("wardround_disk_used_ratio", sh)])
    b.add("timeseries", t("host.days_to_full.title"),
          [q(f"wardround_disk_days_to_full{{{sh}}}", "{{item}}")], w=8, unit="d", minimum=0,
          limits=[Limits("wardround_disk_days_to_full", sh)], description=t("host.days_to_full.description"))
    b.add("timeseries", t("host.disk_free.title"), [q(f"wardround_disk_free_bytes{{{sh}}}", "{{item}}")], w=8,
          unit="bytes", minimum=0)
    b.row(t("host.row.system"))
    b.add("timeseries", t("host.cpu.title"), [q(f"wardround_cpu_busy_ratio{{{sh}}}", t("host.legend.cpu"))],
          w=8, unit="percentunit", minimum=0, maximum=1,
          limits=[Limits("wardround_cpu_busy_ratio", sh, t("host.legend.cpu"))])
    b.add("timeseries", t("host.memory.title"), [
        q(f"wardround_memory_used_ratio{{{sh}}}", t("host.legend.memory")),
        q(f"wardround_swap_used_ratio{{{sh}}}", t("host.legend.swap"))], w=8, unit="percentunit", minimum=0,
        maximum=1, limits=[Limits("wardround_memory_used_ratio", sh, t("host.legend.memory")),
                           Limits("wardround_swap_used_ratio", sh, t("host.legend.swap"))])
    b.add("timeseries", t("host.load.title"), [q(f"wardround_load1_per_core{{{sh}}}", t("host.legend.load"))],
          w=8, minimum=0, unit="none", limits=[Limits("wardround_load1_per_core", sh, t("host.legend.load"))])
    b.row(t("host.row.services"))
    b.add("table", t("host.services.title"),
          [q(f'wardround_check_status{{{sh},check=~"service|process|port|tcp|http|certificate"}}',
             instant=True)], w=24, h=8, thresholds=STATUS_STEPS, transformations=[HIDE_COLUMNS],
          overrides=[*_labels(t, "site", "host", "check", "item"),
                     _status_column(t)])
    return b


# -- backups ----------------------------------------------------------------------

def backups(t: Words) -> Board:
    b = Board(t, "wardround-backups", "backups", [sites(t)])
    site = TSITE
    b.add("bargauge", t("backups.share.title"),
          [q(f"wardround_backup_age_seconds{{{site}}} / wardround_backup_max_age_seconds{{{site}}}",
             "{{site}} {{host}} {{item}}", instant=True)], w=12, h=10, unit="percentunit", minimum=0,
          maximum=1.5, thresholds=_steps((None, "green"), (1, "red")),
          options={"orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
                   "reduceOptions": LAST},
          description=t("backups.share.description"))
    b.add("table", t("backups.newest.title"), [
        q(f"wardround_backup_age_seconds{{{site}}}", instant=True),
        q(f"wardround_backup_max_age_seconds{{{site}}}", instant=True),
        q(f"wardround_backup_size_bytes{{{site}}}", instant=True)], w=12, h=10,
        transformations=[MERGE, HIDE_COLUMNS],
        overrides=[*_labels(t, "site", "host", "item"),
                   _column("Value #A", t("column.age"), _unit("s")),
                   _column("Value #B", t("column.age_limit"), _unit("s")),
                   _column("Value #C", t("column.size"), _unit("bytes"))])
    b.add("timeseries", t("backups.age.title"), [q(f"wardround_backup_age_seconds{{{site}}}",
                                                   "{{host}} {{item}}")],
          w=12, unit="s", minimum=0,
          limits=[Limits("wardround_backup_age_seconds", site, "{{host}} {{item}}", levels=("crit",))])
    b.add("timeseries", t("backups.failing.title"),
          [q(f"sum by (site) (wardround_check_status{{{site},{BACKUP_CHECKS}}} == bool 2)", "{{site}}")],
          w=12, minimum=0, unit="none", custom={"drawStyle": "bars", "fillOpacity": 60})
    b.add("table", t("backups.now.title"),
          [q(f"wardround_check_status{{{site},{BACKUP_CHECKS}}}", instant=True)], w=24, h=8,
          thresholds=STATUS_STEPS, transformations=[HIDE_COLUMNS],
          overrides=[*_labels(t, "site", "host", "check", "item"),
                     _status_column(t)])
    b.add("timeseries", t("backups.offsite.title"), [
        q(f"wardround_offsite_copy_lag_seconds{{{site}}}", "{{host}} {{item}}")], w=24, unit="s", minimum=0,
        limits=[Limits("wardround_offsite_copy_lag_seconds", site, "{{host}} {{item}}", levels=("crit",))],
        description=t("backups.offsite.description"))
    return b


# -- network ----------------------------------------------------------------------

def network(t: Words) -> Board:
    hosts = _query_var(t, "host", f'label_values({SEEN}{{site=~"$site"}}, host)', multi=True)
    b = Board(t, "wardround-network", "network", [sites(t), hosts])
    sh = 'site=~"$site",host=~"$host"'
    to = "{{host}} → {{item}}"
    b.add("timeseries", t("network.loss.title"), [q(f"wardround_ping_loss_ratio{{{sh}}}", to)],
          unit="percentunit", minimum=0, maximum=1, limits=[Limits("wardround_ping_loss_ratio", sh, to)])
    b.add("timeseries", t("network.rtt.title"), [q(f"wardround_ping_rtt_seconds{{{sh}}}", to)],
          unit="s", minimum=0, limits=[Limits("wardround_ping_rtt_seconds", sh, to)])
    b.add("timeseries", t("network.hops.title"), [q(f"wardround_traceroute_hops{{{sh}}}", to)], w=8,
          minimum=0, unit="none", custom={"drawStyle": "line", "lineInterpolation": "stepAfter"})
    b.add("state-timeline", t("network.path.title"), [q(f"wardround_traceroute_path_changed{{{sh}}}", to)], w=8,
          mappings=_mapping({"0": (t("network.path.baseline"), "green"), "1": (t("network.path.changed"), "orange")}),
          options={"showValue": "never", "mergeValues": True})
    b.add("timeseries", t("network.connect.title"), [q(f"wardround_port_connect_seconds{{{sh}}}", to)], w=8,
          unit="s", minimum=0, limits=[Limits("wardround_port_connect_seconds", sh, to)])
    expiry = "wardround_certificate_expiry_timestamp_seconds"
    b.add("timeseries", t("network.certificate.title"), [q(f"({expiry}{{{sh}}} - time()) / 86400", to)], w=24,
          unit="d", limits=[Limits(expiry, sh, to, scale="{} / 86400")],
          description=t("network.certificate.description"))
    return b


# -- tickets & SLA --------------------------------------------------------------------

def _quantiles(t: Words, family: str, window: str) -> list[dict[str, Any]]:
    buckets = once(f"increase({family}_bucket{{{TSITE}}}[{window}])", "site, severity, le")
    return [q(f"histogram_quantile({p}, sum by (le, severity) ({buckets}))",
              f"{t(f'legend.p{round(p * 100)}')} · {_level_legend(t)}") for p in (0.5, 0.9)]


def tickets_sla(t: Words) -> Board:
    b = Board(t, "wardround-tickets", "tickets", [sites(t)], time_from="now-30d")
    b.add("stat", t("tickets.open.title"), [q(f"sum({OPEN})")], w=4, h=4, options=COUNT, no_value="0",
          unit="none", description=t("tickets.open.description"))
    b.add("stat", t("tickets.unacked.title"), [q(f"sum({once(f'wardround_tickets_unacknowledged{{{TSITE}}}')})")],
          w=4, h=4, options=COUNT, no_value="0", unit="none", thresholds=_steps((None, "green"), (1, "orange")),
          description=t("tickets.unacked.description"))
    b.add("stat", t("tickets.breached.title"), [q(f"sum({BREACHED})")], w=4, h=4, options=COUNT, no_value="0",
          unit="none", thresholds=ZERO_GOOD)
    b.add("stat", t("fleet.key_open.title"), [q(f"sum({KEY_OPEN})")], w=4, h=4, options=COUNT,
          no_value="0", unit="none", thresholds=_steps((None, "green"), (1, "orange")))
    b.add("stat", t("tickets.opened_range.title"),
          [q(f"sum({once(f'increase(wardround_tickets_opened_total{{{TSITE}}}[$__range])')})")], w=4, h=4,
          options=COUNT, no_value="0", unit="none")
    b.add("stat", t("tickets.resolved_range.title"),
          [q(f"sum({once(f'increase(wardround_tickets_resolved_total{{{TSITE}}}[$__range])')})")], w=4, h=4,
          options=COUNT, no_value="0", unit="none")
    b.add("timeseries", t("tickets.per_day.title"), [
        q(f"sum({once(f'increase(wardround_tickets_opened_total{{{TSITE}}}[1d])')})", t("tickets.legend.opened")),
        q(f"sum({once(f'increase(wardround_tickets_resolved_total{{{TSITE}}}[1d])')})",
          t("tickets.legend.resolved"))],
        interval="1d", minimum=0, unit="none", custom={"drawStyle": "bars", "fillOpacity": 70},
        description=t("tickets.per_day.description"))
    b.add("timeseries", t("fleet.open_by_level.title"), [q(f"sum by (severity) ({OPEN})", _level_legend(t))],
          minimum=0, unit="none", custom={"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 30},
          description=t("fleet.open_by_level.description"))
    b.add("timeseries", t("tickets.response.title"), _quantiles(t, "wardround_ticket_response_seconds", "7d"),
          unit="s", minimum=0, description=t("tickets.response.description"))
    b.add("timeseries", t("tickets.resolution.title"), _quantiles(t, "wardround_ticket_resolution_seconds", "7d"),
          unit="s", minimum=0, description=t("tickets.resolution.description"))
    kinds = _mapping({k: (t(f"deadline.{k}"), "text") for k in ("response", "resolve", "onsite")})
    b.add("bargauge", t("tickets.breaches_per_site.title"), [
        q(f"sum by (site) ({_breaches_range(k)})", f"{{{{site}}}} · {t(f'deadline.{k}')}", instant=True)
        for k in ("response", "resolve", "onsite")],
          w=12, h=8,
          thresholds=ZERO_GOOD, minimum=0, unit="none",
          options={"orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
                   "reduceOptions": LAST},
          description=t("tickets.breaches_per_site.description"))
    b.add("table", t("tickets.breached_now.title"), [q(BREACHED, instant=True)], w=12, h=8,
          thresholds=ZERO_GOOD, unit="none", transformations=[HIDE_COLUMNS],
          overrides=[*_labels(t, "site"), _column("severity", t("column.level")),
                     _column("kind", t("column.deadline"), {"id": "mappings", "value": kinds}),
                     _column("Value", t("column.tickets"))])
    b.add("table", t("tickets.per_site.title"), [
        q(OPEN, instant=True),
        q(once(f"wardround_tickets_unacknowledged{{{TSITE}}}"), instant=True),
        q(KEY_OPEN, instant=True)], w=12, h=8, unit="none",
        transformations=[MERGE, HIDE_COLUMNS],
        overrides=[*_labels(t, "site"), _column("severity", t("column.level")),
                   _column("Value #A", t("column.open")), _column("Value #B", t("column.unacked")),
                   _column("Value #C", t("column.key_customer"))])
    b.add("timeseries", t("fleet.key_open.title"), [q(f"sum by (site) ({KEY_OPEN})", "{{site}}")], w=12,
          h=8, minimum=0, unit="none", description=t("tickets.key.description"))
    return b


BOARDS = {"fleet-overview": fleet, "host-detail": host, "backups": backups, "network": network,
          "tickets-sla": tickets_sla}


def build(words: dict[str, Words] | None = None) -> dict[str, str]:
    """``<lang>/<name>.json`` → JSON text of every dashboard in every language."""
    words = words if words is not None else {lang: Words(lang) for lang in LANGUAGES}
    return {f"{lang}/{name}.json": json.dumps(make(words[lang]).json(), indent=2, ensure_ascii=False) + "\n"
            for lang in LANGUAGES for name, make in BOARDS.items()}


def main() -> int:
    for name, text in build().items():
        path = HERE / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote dashboards/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
