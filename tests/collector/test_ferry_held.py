"""Ferry bundles holding results of a retired host (both databases): held, named and kept, never dropped.

Online such results are not stored (the host's token is revoked at retirement: 401; a forwarding relay
gets 403 and quarantines them).  A bundle's relay let go of them when it wrote the file, so the collector
stores the rest, holds those back (``relay_bundles.held``), names the host and keeps the file (``held/``);
imported again once the host is live, the bundle stores them."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from checks.messages import render
from checks.messages.reader import cli_templates
from collector import ferry, inventory
from collector.auth import create_agent_token
from collector.ingest import Ingestor
from collector.relays import create_relay_token
from collector.store.tables import relay_bundles, results
from tests.collector.conftest import SITE, make_batch, write_bundle


def _stored(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(results.c.host, func.count()).group_by(results.c.host)).all())


def _held_gauge(engine) -> dict[tuple[str, str], float]:
    [family] = [m for m in ferry.FerryCollector(engine).collect() if m.name == "wardround_ferry_held_bundles"]
    return {(s.labels["site"], s.labels["relay"]): s.value for s in family.samples}


def _said(text: str, lang: str) -> str:
    return render(text.message, lang, cli_templates(lang))  # type: ignore[attr-defined]


def test_results_of_a_retired_host_in_a_bundle_are_held_and_stored_once_the_host_is_live(engine, tmp_path: Path):
    for host in ("his-db", "lis-db"):
        create_agent_token(engine, site=SITE, host=host)
    relay_token = create_relay_token(engine, site=SITE, name="front-01")
    inventory.retire(engine, site=SITE, host="lis-db")  # its last results are still on their way through the gateway
    folder = tmp_path / "import"
    folder.mkdir()
    write_bundle(folder, relay_token, SITE, make_batch(2, host="his-db") + make_batch(3, host="lis-db"))
    ingestor = Ingestor(engine)

    [done] = list(ferry.watch(engine, ingestor, folder, once=True))
    assert isinstance(done, ferry.Imported)
    assert (done.accepted, done.held, done.held_hosts) == (2, 3, [f"{SITE}/lis-db"])
    assert _stored(engine) == {"his-db": 2}  # as online: nothing stored for a retired host, the rest goes on
    kept = folder / "held" / Path(done.kept).name
    assert done.kept == str(kept) and kept.exists() and not list((folder / "imported").iterdir())
    said = ferry.describe(done)
    for lang, words in (("en", ["3 results of hosts the relay may not write for", "are held, not stored",
                                f"{SITE}/lis-db", str(kept), f"token create --site {SITE} --host lis-db"]),
                        ("zh_CN", ["另有 3 条结果属于该中继无权代写的主机", "已暂扣、未入库", f"{SITE}/lis-db",
                                   str(kept)])):
        text = _said(said, lang)
        assert all(w in text for w in words), text
    assert ferry.gap_lines(engine) == []  # its number is in: no gap
    assert _held_gauge(engine) == {(SITE, "front-01"): 1.0}  # for an alert

    still = ferry.import_bundle(engine, ingestor, kept)  # the host is still retired: still held
    assert (still.retried, still.accepted, still.held) == (True, 0, 3) and _stored(engine) == {"his-db": 2}

    create_agent_token(engine, site=SITE, host="lis-db")  # the host is live again
    back = ferry.import_bundle(engine, ingestor, kept)
    assert (back.retried, back.accepted, back.duplicates, back.held_hosts) == (True, 3, 0, [])
    assert _stored(engine) == {"his-db": 2, "lis-db": 3}
    assert "imported again: 3 held results stored" in _said(ferry.describe(back), "en")
    assert "暂扣的结果新增 3 条" in _said(ferry.describe(back), "zh_CN")
    with engine.connect() as conn:
        assert conn.execute(select(relay_bundles.c.held)).scalar_one() is None
    assert ferry.import_bundle(engine, ingestor, kept).again  # and now it changes nothing
    assert _held_gauge(engine) == {}
