"""Builds the Grafana dashboards (``dashboards/*.json``) over the collector's metrics.

Run ``python dashboards/build.py`` after a change and commit the JSON it writes;
``tests/dashboards/`` fails when the committed JSON differs from what this
builds, when a dashboard does not type-check against ``@grafana/schema``, when
a query is not PromQL or names a metric the collector does not export, and
when a query returns no data from a real Prometheus scraping a real collector.

Every dashboard has a ``datasource`` variable (any Prometheus) and a ``site``
variable; the host detail also ``host``.  Status values are drawn with one
value mapping (0 OK green, 1 WARNING yellow, 2 CRITICAL red, 3 UNKNOWN
purple).  "Worst" ranks CRITICAL above UNKNOWN above WARNING, as everywhere in
Wardround: the rank is ``status + (status == 2) - (status == 3)``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCHEMA_VERSION = 41
DS = {"type": "prometheus", "uid": "${datasource}"}

STATUS_MAPPING = [{"type": "value", "options": {
    "0": {"text": "OK", "color": "green", "index": 0},
    "1": {"text": "WARNING", "color": "yellow", "index": 1},
    "2": {"text": "CRITICAL", "color": "red", "index": 2},
    "3": {"text": "UNKNOWN", "color": "purple", "index": 3},
}}]
RANK_MAPPING = [{"type": "value", "options": {
    "0": {"text": "OK", "color": "green", "index": 0},
    "1": {"text": "WARNING", "color": "yellow", "index": 1},
    "2": {"text": "UNKNOWN", "color": "purple", "index": 2},
    "3": {"text": "CRITICAL", "color": "red", "index": 3},
}}]
BACKUP_CHECKS = 'check=~"db_backup|backup_files|offsite_copy"'


def _steps(*pairs: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in pairs]}


GREEN = _steps((None, "green"))
STATUS_STEPS = _steps((None, "green"), (1, "yellow"), (2, "red"), (3, "purple"))
HIDE_COLUMNS = {"id": "organize", "options": {
    "excludeByName": {"Time": True, "__name__": True, "instance": True, "job": True}}}
LAST = {"calcs": ["lastNotNull"], "fields": "", "values": False}
ALL = {"text": "All", "value": "$__all"}
SEEN = "wardround_agent_last_seen_timestamp_seconds"
ZERO_GOOD = _steps((None, "green"), (1, "red"))


class Board:
    """One dashboard: panels laid out left to right, 24 columns wide."""

    def __init__(self, uid: str, title: str, description: str, variables: list[dict[str, Any]], *,
                 time_from: str = "now-24h") -> None:
        self.uid, self.title, self.description, self.time_from = uid, title, description, time_from
        self.variables = [_datasource_var(), *variables]
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
            no_value: str | None = None, interval: str | None = None) -> None:
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
        panel: dict[str, Any] = {
            "type": kind, "title": title, "id": len(self.panels) + 1, "datasource": DS,
            "gridPos": {"x": self._x, "y": self._y, "w": w, "h": h},
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": options or {},
            "targets": [dict(t, refId=chr(ord("A") + i), datasource=DS) for i, t in enumerate(targets)],
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

    def json(self) -> dict[str, Any]:
        return {
            "uid": self.uid, "title": self.title, "description": self.description,
            "tags": ["wardround"], "timezone": "browser", "editable": True, "graphTooltip": 1,
            "schemaVersion": SCHEMA_VERSION, "version": 1, "refresh": "1m",
            "time": {"from": self.time_from, "to": "now"},
            "annotations": {"list": []}, "links": [
                {"title": "Wardround", "type": "dashboards", "tags": ["wardround"], "asDropdown": True,
                 "includeVars": False, "keepTime": True, "icon": "external link", "targetBlank": False,
                 "tooltip": "", "url": ""}],
            "templating": {"list": self.variables},
            "panels": self.panels,
        }


def q(expr: str, legend: str = "", *, instant: bool = False) -> dict[str, Any]:
    t: dict[str, Any] = {"expr": expr, "legendFormat": legend or "__auto", "range": not instant,
                         "instant": instant}
    if instant:
        t["format"] = "table"
    return t


def _datasource_var() -> dict[str, Any]:
    return {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
            "current": {"text": "Prometheus", "value": "wardround-prometheus"}, "hide": 0, "refresh": 1,
            "options": [], "regex": ""}


def _query_var(name: str, label: str, query: str, *, multi: bool) -> dict[str, Any]:
    v: dict[str, Any] = {"name": name, "label": label, "type": "query", "datasource": DS,
                         "query": {"query": query, "refId": f"{name}-values", "qryType": 1},
                         "refresh": 2, "sort": 1, "hide": 0, "regex": "",
                         "multi": multi, "includeAll": multi,
                         "current": ALL if multi else {"text": "", "value": ""},
                         "options": []}
    if multi:
        v["allValue"] = ".*"
    return v


SITES = _query_var("site", "Site", f"label_values({SEEN}, site)", multi=True)


def rank(selector: str) -> str:
    s = f"wardround_check_status{{{selector}}}"
    return f"({s} + ({s} == bool 2) - ({s} == bool 3))"


# Ticket families come from the database: every collector exports the same value, so they are
# combined across collectors (instances) with max, never sum.
def once(expr: str, by: str = "site, severity") -> str:
    return f"max by ({by}) ({expr})"


TSITE = 'site=~"$site"'
OPEN = once(f"wardround_tickets_open{{{TSITE}}}")
KEY_OPEN = once(f"wardround_tickets_open_key_customer{{{TSITE}}}")
BREACHED = once(f"wardround_tickets_breached{{{TSITE}}}", "site, severity, kind")
BREACHES_RANGE = once(f"increase(wardround_tickets_breaches_total{{{TSITE}}}[$__range])",
                      "site, severity, kind")


# -- fleet overview ---------------------------------------------------------------

def fleet() -> Board:
    b = Board("wardround-fleet", "Wardround · Fleet overview",
              "Every site at a glance: worst status, silent agents, open tickets, backups.", [SITES])
    site = 'site=~"$site"'
    stat = {"reduceOptions": LAST, "colorMode": "background", "graphMode": "none",
            "textMode": "value_and_name", "justifyMode": "auto", "orientation": "auto"}
    b.add("stat", "Worst status per site", [q(f"max by (site) {rank(site)}", "{{site}}", instant=True)],
          w=24, h=5, mappings=RANK_MAPPING, thresholds=_steps((None, "green"), (1, "yellow"), (2, "purple"),
                                                               (3, "red")), options=stat,
          description="CRITICAL > UNKNOWN > WARNING > OK over every check item of the site.")
    count = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
             "colorMode": "value", "graphMode": "area", "textMode": "value", "justifyMode": "auto",
             "orientation": "auto"}
    b.add("stat", "Hosts reporting", [q(f"count(wardround_agent_last_seen_timestamp_seconds{{{site}}})")],
          w=4, h=4, options=count)
    b.add("stat", "Hosts silent > 15 min",
          [q(f"sum(time() - wardround_agent_last_seen_timestamp_seconds{{{site}}} > bool 900)")],
          w=4, h=4, options=count, thresholds=ZERO_GOOD,
          description="Agents that delivered nothing for 15 minutes (the AgentSilent alert fires at 15 min).")
    for name, code, color in (("CRITICAL", 2, "red"), ("UNKNOWN", 3, "purple"), ("WARNING", 1, "yellow")):
        b.add("stat", f"Items {name}", [q(f"sum(wardround_check_status{{{site}}} == bool {code})")],
              w=4, h=4, options=count, thresholds=_steps((None, "green"), (1, color)))
    b.add("stat", "Backups failing or overdue",
          [q(f"sum(wardround_check_status{{{site},{BACKUP_CHECKS}}} == bool 2)")], w=4, h=4, options=count,
          thresholds=ZERO_GOOD, description="Backup check items that are CRITICAL: missed, stale, too small, "
                                             "failed, or not copied off-site in time.")
    b.add("stat", "Open tickets by level", [q(f"sum by (severity) ({OPEN})", "level {{severity}}")],
          w=8, h=4, options={**count, "textMode": "value_and_name"}, no_value="0",
          thresholds=_steps((None, "green"), (1, "orange")),
          description="Tickets open or acknowledged by current level (1 most severe); see Tickets & SLA.")
    b.add("stat", "Tickets past an SLA deadline", [q(f"sum({BREACHED})")], w=4, h=4, options=count,
          no_value="0", thresholds=ZERO_GOOD,
          description="Live tickets past their response, resolution or on-site deadline.")
    b.add("stat", "Key-customer tickets open", [q(f"sum({KEY_OPEN})")], w=4, h=4, options=count,
          no_value="0", thresholds=_steps((None, "green"), (1, "orange")))
    b.add("stat", "Clock offset (largest)",
          [q(f"max(abs(wardround_clock_offset_seconds{{{site}}}))")], w=4, h=4, options=count,
          unit="s", thresholds=_steps((None, "green"), (60, "yellow"), (300, "red")),
          description="The largest clock offset any host's clock check measured (NTP or the collector).")
    b.add("stat", "SLA breaches (time range)", [q(f"sum({BREACHES_RANGE})")], w=4, h=4, options=count,
          no_value="0", thresholds=ZERO_GOOD)
    b.add("timeseries", "Items not OK by site",
          [q(f"sum by (site) (wardround_check_status{{{site}}} != bool 0)", "{{site}}")], w=12, h=8,
          minimum=0)
    b.add("table", "Items per status by site", [
        q(f"sum by (site) (wardround_check_status{{{site}}} == bool {code})", name, instant=True)
        for name, code in (("CRITICAL", 2), ("UNKNOWN", 3), ("WARNING", 1), ("OK", 0))],
        w=12, h=8, transformations=[{"id": "merge", "options": {}},
                                    {"id": "organize", "options": {"excludeByName": {"Time": True}}}])
    b.add("table", "Agents: seconds since last delivery",
          [q(f"time() - wardround_agent_last_seen_timestamp_seconds{{{site}}}", instant=True)], w=12, h=8,
          unit="s", thresholds=_steps((None, "green"), (300, "yellow"), (900, "red")),
          options={"sortBy": [{"displayName": "Value", "desc": True}]})
    b.add("table", "Agents: spool backlog and clock offset", [
        q(f"wardround_agent_spool_backlog{{{site}}}", instant=True),
        q(f"wardround_agent_clock_offset_seconds{{{site}}}", instant=True)], w=12, h=8,
        transformations=[{"id": "merge", "options": {}}])
    b.row("Collector")
    b.add("timeseries", "Results received per second",
          [q("sum by (outcome) (rate(wardround_ingest_results_total[$__rate_interval]))", "{{outcome}}")],
          unit="reqps", minimum=0)
    b.add("timeseries", "Batch store time (p50, p95)", [
        q(f"histogram_quantile({p}, sum by (le) ({BATCH_RATE}))", f"p{round(p * 100)}") for p in (0.5, 0.95)],
        unit="s", minimum=0)
    return b


BATCH_RATE = "rate(wardround_ingest_batch_seconds_bucket[$__rate_interval])"


# -- host detail ------------------------------------------------------------------

def host() -> Board:
    site1 = _query_var("site", "Site", f"label_values({SEEN}, site)", multi=False)
    host1 = _query_var("host", "Host", f'label_values({SEEN}{{site="$site"}}, host)', multi=False)
    b = Board("wardround-host", "Wardround · Host detail",
              "One host: every check's status over time, disks and their forecast, CPU, memory, services.",
              [site1, host1])
    sh = 'site="$site",host="$host"'
    b.add("state-timeline", "Check status over time",
          [q(f"wardround_check_status{{{sh}}}", "{{check}} {{item}}")], w=24, h=10, mappings=STATUS_MAPPING,
          thresholds=STATUS_STEPS,
          options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8, "alignValue": "left"})
    b.add("table", "Current status", [q(f"wardround_check_status{{{sh}}}", instant=True)], w=12, h=9,
          mappings=STATUS_MAPPING, thresholds=STATUS_STEPS,
          custom={"cellOptions": {"type": "color-background"}},
          transformations=[HIDE_COLUMNS])
    b.add("table", "Agent", [
        q(f"time() - wardround_agent_last_seen_timestamp_seconds{{{sh}}}", "silent for", instant=True),
        q(f"wardround_agent_spool_backlog{{{sh}}}", "spool backlog", instant=True),
        q(f"wardround_agent_clock_offset_seconds{{{sh}}}", "clock offset", instant=True),
        q(f"wardround_uptime_seconds{{{sh}}}", "uptime", instant=True)], w=12, h=9,
        transformations=[{"id": "merge", "options": {}}])
    b.add("timeseries", "Clock offset", [q(f"wardround_clock_offset_seconds{{{sh}}}", "{{item}}")], w=24, h=6,
          unit="s", thresholds=_steps((None, "green"), (60, "yellow"), (300, "red")),
          description="The clock check: reference time minus this host's time, per reference (an NTP server, "
                      "or the collector). Positive: the host is behind. WARNING at 60 s, CRITICAL at 300 s.")
    b.row("Disks")
    b.add("timeseries", "Disk used", [q(f"wardround_disk_used_ratio{{{sh}}}", "{{item}}")], w=8,
          unit="percentunit", minimum=0, maximum=1,
          thresholds=_steps((None, "green"), (0.8, "yellow"), (0.9, "red")),
          custom={"thresholdsStyle": {"mode": "dashed"}})
    b.add("timeseries", "Days until full (forecast)", [q(f"wardround_disk_days_to_full{{{sh}}}", "{{item}}")],
          w=8, unit="d", minimum=0, thresholds=_steps((None, "red"), (7, "yellow"), (30, "green")),
          custom={"thresholdsStyle": {"mode": "dashed"}},
          description="The disk check's least-squares forecast of its own history; absent until it has "
                      "enough history or while usage is not growing.")
    b.add("timeseries", "Disk free", [q(f"wardround_disk_free_bytes{{{sh}}}", "{{item}}")], w=8,
          unit="bytes", minimum=0)
    b.row("CPU and memory")
    b.add("timeseries", "CPU busy", [q(f"wardround_cpu_busy_ratio{{{sh}}}", "cpu")], w=8,
          unit="percentunit", minimum=0, maximum=1)
    b.add("timeseries", "Memory and swap used", [q(f"wardround_memory_used_ratio{{{sh}}}", "memory"),
                                                 q(f"wardround_swap_used_ratio{{{sh}}}", "swap")], w=8,
          unit="percentunit", minimum=0, maximum=1)
    b.add("timeseries", "Load per core", [q(f"wardround_load1_per_core{{{sh}}}", "load1 / core")], w=8,
          minimum=0)
    b.row("Services and processes")
    b.add("table", "Services, processes and ports",
          [q(f'wardround_check_status{{{sh},check=~"service|process|port|tcp|http|certificate"}}',
             instant=True)], w=24, h=8, mappings=STATUS_MAPPING,
          thresholds=STATUS_STEPS,
          custom={"cellOptions": {"type": "color-background"}},
          transformations=[HIDE_COLUMNS])
    return b


# -- backups ----------------------------------------------------------------------

def backups() -> Board:
    b = Board("wardround-backups", "Wardround · Backups",
              "Newest backup age per database and type against its limit; failures; off-site copies.",
              [SITES])
    site = 'site=~"$site"'
    b.add("bargauge", "Backup age as a share of its limit",
          [q(f"wardround_backup_age_seconds{{{site}}} / wardround_backup_max_age_seconds{{{site}}}",
             "{{site}} {{host}} {{item}}", instant=True)], w=12, h=10, unit="percentunit", minimum=0,
          maximum=1.5, thresholds=_steps((None, "green"), (0.8, "yellow"), (1, "red")),
          options={"orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
                   "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
          description="1 = the age at which the item turns CRITICAL (full, diff, log and archive backups "
                      "each have their own limit).")
    b.add("table", "Newest backup: age, limit, size", [
        q(f"wardround_backup_age_seconds{{{site}}}", "age", instant=True),
        q(f"wardround_backup_max_age_seconds{{{site}}}", "limit", instant=True),
        q(f"wardround_backup_size_bytes{{{site}}}", "size", instant=True)], w=12, h=10,
        transformations=[{"id": "merge", "options": {}}])
    b.add("timeseries", "Backup age", [q(f"wardround_backup_age_seconds{{{site}}}", "{{host}} {{item}}")],
          w=12, unit="s", minimum=0)
    b.add("timeseries", "Backup items failing over time",
          [q(f"sum by (site) (wardround_check_status{{{site},{BACKUP_CHECKS}}} == bool 2)", "{{site}}")],
          w=12, minimum=0, custom={"drawStyle": "bars", "fillOpacity": 60})
    b.add("table", "Backup checks now",
          [q(f"wardround_check_status{{{site},{BACKUP_CHECKS}}}", instant=True)], w=24, h=8,
          mappings=STATUS_MAPPING,
          thresholds=STATUS_STEPS,
          custom={"cellOptions": {"type": "color-background"}},
          transformations=[HIDE_COLUMNS])
    b.add("timeseries", "Off-site copy lag", [
        q(f"wardround_offsite_copy_lag_seconds{{{site}}}", "{{host}} {{item}}"),
        q(f"wardround_offsite_copy_max_lag_seconds{{{site}}}", "limit {{item}}")], w=24, unit="s", minimum=0,
        description="How long the newest local backup has waited for its off-site copy; 0 once copied.")
    return b


# -- network ----------------------------------------------------------------------

def network() -> Board:
    hosts = _query_var("host", "Host", f'label_values({SEEN}{{site=~"$site"}}, host)', multi=True)
    b = Board("wardround-network", "Wardround · Network",
              "Loss and round-trip time per target, path changes, hop counts, TCP ports, certificates.",
              [SITES, hosts])
    sh = 'site=~"$site",host=~"$host"'
    b.add("timeseries", "Packet loss", [q(f"wardround_ping_loss_ratio{{{sh}}}", "{{host}} → {{item}}")],
          unit="percentunit", minimum=0, maximum=1,
          thresholds=_steps((None, "green"), (0.2, "yellow"), (0.6, "red")))
    b.add("timeseries", "Round-trip time", [q(f"wardround_ping_rtt_seconds{{{sh}}}", "{{host}} → {{item}}")],
          unit="s", minimum=0)
    b.add("timeseries", "Hops", [q(f"wardround_traceroute_hops{{{sh}}}", "{{host}} → {{item}}")], w=8,
          minimum=0, custom={"drawStyle": "line", "lineInterpolation": "stepAfter"})
    b.add("state-timeline", "Path changed", [q(f"wardround_traceroute_path_changed{{{sh}}}",
                                                "{{host}} → {{item}}")], w=8,
          mappings=[{"type": "value", "options": {"0": {"text": "baseline", "color": "green", "index": 0},
                                                  "1": {"text": "changed", "color": "orange", "index": 1}}}],
          options={"showValue": "never", "mergeValues": True})
    b.add("timeseries", "TCP connect time", [q(f"wardround_port_connect_seconds{{{sh}}}",
                                                "{{host}} → {{item}}")], w=8, unit="s", minimum=0)
    b.add("bargauge", "Certificate days left", [
        q(f"(wardround_certificate_expiry_timestamp_seconds{{{sh}}} - time()) / 86400", "{{item}}",
          instant=True)], w=24, unit="d", thresholds=_steps((None, "red"), (7, "yellow"), (30, "green")),
        options={"orientation": "horizontal", "displayMode": "basic",
                 "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})
    return b


# -- tickets & SLA --------------------------------------------------------------------

def _quantiles(family: str, window: str) -> list[dict[str, Any]]:
    buckets = once(f"increase({family}_bucket{{{TSITE}}}[{window}])", "site, severity, le")
    return [q(f"histogram_quantile({p}, sum by (le, severity) ({buckets}))",
              f"p{round(p * 100)} level {{{{severity}}}}") for p in (0.5, 0.9)]


def tickets_sla() -> Board:
    b = Board("wardround-tickets", "Wardround · Tickets & SLA",
              "Fault tickets: open by level, opened and resolved per day, response and resolution times, "
              "SLA breaches per site, key customers.", [SITES], time_from="now-30d")
    count = {"reduceOptions": LAST, "colorMode": "value", "graphMode": "area", "textMode": "value",
             "justifyMode": "auto", "orientation": "auto"}
    b.add("stat", "Open tickets", [q(f"sum({OPEN})")], w=4, h=4, options=count, no_value="0",
          description="Open or acknowledged.")
    b.add("stat", "Not acknowledged", [q(f"sum({once(f'wardround_tickets_unacknowledged{{{TSITE}}}')})")],
          w=4, h=4, options=count, no_value="0", thresholds=_steps((None, "green"), (1, "orange")),
          description="Open tickets nobody has taken yet: the response clock is running.")
    b.add("stat", "Past an SLA deadline now", [q(f"sum({BREACHED})")], w=4, h=4, options=count, no_value="0",
          thresholds=ZERO_GOOD)
    b.add("stat", "Key-customer tickets open", [q(f"sum({KEY_OPEN})")], w=4, h=4, options=count,
          no_value="0", thresholds=_steps((None, "green"), (1, "orange")))
    b.add("stat", "Opened (time range)",
          [q(f"sum({once(f'increase(wardround_tickets_opened_total{{{TSITE}}}[$__range])')})")], w=4, h=4,
          options=count, no_value="0", unit="none")
    b.add("stat", "Resolved (time range)",
          [q(f"sum({once(f'increase(wardround_tickets_resolved_total{{{TSITE}}}[$__range])')})")], w=4, h=4,
          options=count, no_value="0", unit="none")
    b.add("timeseries", "Opened and resolved per day", [
        q(f"sum({once(f'increase(wardround_tickets_opened_total{{{TSITE}}}[1d])')})", "opened"),
        q(f"sum({once(f'increase(wardround_tickets_resolved_total{{{TSITE}}}[1d])')})", "resolved")],
        interval="1d", minimum=0, unit="none", custom={"drawStyle": "bars", "fillOpacity": 70},
        description="Each bar: tickets opened (or resolved) in the 24 hours before it.")
    b.add("timeseries", "Open tickets by level", [q(f"sum by (severity) ({OPEN})", "level {{severity}}")],
          minimum=0, custom={"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 30},
          description="Open or acknowledged tickets by current level (1 most severe).")
    b.add("timeseries", "Response time (to acknowledgement)",
          _quantiles("wardround_ticket_response_seconds", "7d"),
          unit="s", minimum=0,
          description="Median and 90th percentile of opening → acknowledgement over the 7 days before each "
                      "point, by the level the ticket opened at (wall-clock time, buckets 15 min … 7 d).")
    b.add("timeseries", "Resolution time", _quantiles("wardround_ticket_resolution_seconds", "7d"),
          unit="s", minimum=0,
          description="Median and 90th percentile of opening → resolution over the 7 days before each point.")
    b.add("bargauge", "SLA breaches per site (time range)",
          [q(f"sum by (site, kind) ({BREACHES_RANGE})", "{{site}} {{kind}}", instant=True)], w=12, h=8,
          thresholds=ZERO_GOOD, minimum=0,
          options={"orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
                   "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
          description="Deadlines breached in the selected time range: response (not acknowledged in time), "
                      "resolve, onsite.")
    b.add("table", "Past a deadline now, by site, level and kind", [q(BREACHED, instant=True)], w=12, h=8,
          thresholds=ZERO_GOOD, transformations=[HIDE_COLUMNS])
    b.add("table", "Open tickets per site and level", [
        q(OPEN, "open", instant=True),
        q(once(f"wardround_tickets_unacknowledged{{{TSITE}}}"), "not acknowledged", instant=True),
        q(KEY_OPEN, "key customer", instant=True)], w=12, h=8,
        transformations=[{"id": "merge", "options": {}}, HIDE_COLUMNS])
    b.add("timeseries", "Key-customer tickets open", [q(f"sum by (site) ({KEY_OPEN})", "{{site}}")], w=12,
          h=8, minimum=0, description="Tickets of sites marked key_customer in the policies: they lead the "
                                      "queue and their deadlines are shorter.")
    return b


BOARDS = {"fleet-overview": fleet, "host-detail": host, "backups": backups, "network": network,
          "tickets-sla": tickets_sla}


def build() -> dict[str, str]:
    """File name → JSON text of every dashboard."""
    return {f"{name}.json": json.dumps(make().json(), indent=2, ensure_ascii=False) + "\n"
            for name, make in BOARDS.items()}


def main() -> int:
    for name, text in build().items():
        (HERE / name).write_text(text)
        print(f"wrote dashboards/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
