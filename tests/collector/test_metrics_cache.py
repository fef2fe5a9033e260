"""/metrics keeps the item families per host between scrapes: what it serves is what a full read gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from checks.result import Metric, Status
from collector.app import _background_jobs
from collector.auth import create_agent_token
from collector.jobs import MetricsWarmup
from collector.metrics import cache as metrics_cache
from collector.metrics import state_exposition
from collector.metrics.cache import ItemCache
from collector.store import scrape
from tests.collector.conftest import HOST, SITE, make_result


def _post(client, token: str, results) -> None:
    r = client.post("/api/v1/results", json={"results": results}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text


def _state(client) -> str:
    """The state part of a scrape (the registry's ingest counters follow it)."""
    r = client.get("/metrics")
    assert r.status_code == 200
    return r.text.split("# HELP wardround_ingest", 1)[0].split("# HELP wardround_notification", 1)[0]


def _fresh(engine) -> str:
    return state_exposition(engine)


def _disk(status: Status, used: float, warn: float = 80, **kw) -> dict:
    return make_result(check="disk", item=kw.pop("item", "/"), status=status,
                       metrics=(Metric("used_percent", used, "%", warn=warn, crit=90),), **kw)


def test_a_cached_scrape_equals_a_full_read_as_hosts_report_and_change(client, engine, agent_token) -> None:
    other = create_agent_token(engine, site=SITE, host="lis-02")
    _post(client, agent_token, [_disk(Status.OK, 41.0), _disk(Status.OK, 10.0, item="/data")])
    first = _state(client)
    assert 'wardround_disk_used_ratio{site="central-hospital",host="his-db-01",item="/"} 0.41' in first
    assert first == _fresh(engine).split("# HELP wardround_notification", 1)[0]
    # a changed value, a changed threshold, a new item, and a host that reports for the first time
    _post(client, agent_token, [_disk(Status.CRITICAL, 95.0, warn=70), _disk(Status.OK, 12.0, item="/logs")])
    _post(client, other, [_disk(Status.WARNING, 85.0, host="lis-02")])
    second = _state(client)
    assert second != first
    assert 'host="his-db-01",item="/"} 0.95' in second and 'level="warn"} 0.7' in second
    assert 'host="lis-02",item="/"} 0.85' in second
    assert second == _fresh(engine).split("# HELP wardround_notification", 1)[0]
    # an older result (a backlog) does not replace the newer state, cached or not
    _post(client, agent_token, [_disk(Status.OK, 1.0, started_at=datetime.now(UTC) - timedelta(hours=1))])
    assert _state(client) == _fresh(engine).split("# HELP wardround_notification", 1)[0]


def test_a_scrape_rereads_only_the_hosts_that_reported_since_the_previous_one(client, engine, agent_token,
                                                                               monkeypatch) -> None:
    monkeypatch.setattr(metrics_cache, "RECENT_S", 0.0)  # no margin for ties: count exactly
    monkeypatch.setattr(metrics_cache, "SWEEP_SCRAPES", 1000)  # the sweep re-reads one host a scrape
    tokens = {h: create_agent_token(engine, site=SITE, host=h) for h in ("a-1", "a-2", "a-3")}
    for host, token in tokens.items():
        _post(client, token, [_disk(Status.OK, 20.0, host=host)])
    _post(client, agent_token, [_disk(Status.OK, 20.0)])
    cache: ItemCache = client.app.state.services.metrics.items
    client.get("/metrics")
    assert cache.reread == 4  # the first scrape reads everything
    client.get("/metrics")
    assert cache.reread <= 2  # nothing new: the sweep's host (and the newest may tie with the previous mark)
    _post(client, tokens["a-2"], [_disk(Status.CRITICAL, 99.0, host="a-2")])
    client.get("/metrics")
    assert 1 <= cache.reread <= 3
    assert 'host="a-2",item="/"} 0.99' in _state(client)
    assert _state(client) == _fresh(engine).split("# HELP wardround_notification", 1)[0]
    assert HOST in _state(client)


def test_the_warmup_at_start_reads_everything_so_the_first_scrape_rereads_only_what_changed(
        client, engine, agent_token, monkeypatch) -> None:
    monkeypatch.setattr(metrics_cache, "RECENT_S", 0.0)  # no margin for ties: count exactly
    monkeypatch.setattr(metrics_cache, "SWEEP_SCRAPES", 1000)  # the sweep re-reads one host a scrape
    tokens = {h: create_agent_token(engine, site=SITE, host=h) for h in ("w-1", "w-2", "w-3", "w-4", "w-5", "w-6")}
    for host, token in tokens.items():
        _post(client, token, [_disk(Status.OK, 20.0, host=host)])
    metrics = client.app.state.services.metrics
    assert not metrics.items.filled
    warmup = MetricsWarmup(metrics)
    warmup.start()
    assert warmup.done.wait(30)
    warmup.stop()
    assert metrics.items.filled and metrics.items.reread == 6  # every host that reported
    _post(client, tokens["w-2"], [_disk(Status.CRITICAL, 99.0, host="w-2")])
    scraped = _state(client)
    assert 1 <= metrics.items.reread <= 3  # the host that reported (the newest mark's and the sweep's), not all
    assert 'host="w-2",item="/"} 0.99' in scraped
    assert scraped == _fresh(engine).split("# HELP wardround_notification", 1)[0]


def test_the_rows_of_some_hosts_are_theirs_in_order_across_sites_and_chunks(client, engine, monkeypatch) -> None:
    hosts = [("b-site", "z-1"), ("a-site", "y-2"), ("a-site", "y-1"), ("b-site", "z-2")]
    for site, host in hosts:
        token = create_agent_token(engine, site=site, host=host)
        _post(client, token, [_disk(Status.OK, 20.0, site=site, host=host),
                              _disk(Status.OK, 30.0, site=site, host=host, item="/data")])
    monkeypatch.setattr(scrape, "_IN_CHUNK", 1)  # one host a query: the chunks follow each other in order
    with engine.connect() as conn:
        wanted = [("b-site", "z-2"), ("a-site", "y-1"), ("a-site", "y-2")]
        got = [(r[0], r[1], r[3]) for r in scrape.item_rows(conn, wanted)]
        everything = [(r[0], r[1], r[3]) for r in scrape.item_rows(conn) if (r[0], r[1]) in wanted]
    assert got == everything == [("a-site", "y-1", "/"), ("a-site", "y-1", "/data"), ("a-site", "y-2", "/"),
                                 ("a-site", "y-2", "/data"), ("b-site", "z-2", "/"), ("b-site", "z-2", "/data")]


def test_serve_starts_the_warmup_with_its_background_jobs(client) -> None:
    services = client.app.state.services
    warmups = [job for job in _background_jobs(services) if isinstance(job, MetricsWarmup)]
    assert len(warmups) == 1 and warmups[0].metrics is services.metrics
