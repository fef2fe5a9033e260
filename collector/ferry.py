"""The file ferry, collector side: ``wardround-collector import FILE...`` and ``import --watch DIR``.

A relay behind a one-way gateway (网闸) writes bundle files (agent/ferry.py)::

    WRB1 <HMAC-SHA256 hex>\\n
    <gzip of {"format": 1, "site", "seq", "created_at", "backlog", "results": [...]}>

Each bundle is checked whole before anything is stored: its signature must match one live
relay's key (the relay token's SHA-256, which is what the collector keeps), it must inflate
within :data:`MAX_INFLATED` to that relay's site, and its results must be well formed.  A
bundle that fails any of this — forged, corrupt, truncated, from an unknown relay — is
refused whole: named in the log, in ``ferry_refused`` (``wardround_ferry_bundles_total
{outcome="refused"}``) and in the audit log.

Importing is idempotent: results are stored by id (a result already stored is a
duplicate), and a bundle whose sequence number was imported before is skipped, so a
bundle imported twice or out of order changes nothing.  After each import the sequence
numbers of each relay are checked for gaps (``wardround_ferry_missing_bundles``): a lost
file is reported, not hidden.

Results of a host the relay may not write for (retired, not enrolled, not approved) are
not stored, as the online path stores nothing for such a host (its own token is revoked
at retirement: 401; a forwarding relay gets 403 and quarantines them).  The relay let go
of them when it wrote the bundle, so the collector holds them instead of dropping them:
the rest of the bundle is stored (one host does not stop the site), the hosts are named
(stdout, the log, the audit log, ``relay_bundles.held``), and the bundle file is kept
(the watched folder moves it to ``held/``).  Imported again once the host is live, the
bundle stores its held results and nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from checks.messages.reader import cli_said
from collector import audit, relays
from collector.auth import relay_principal
from collector.ingest import IngestError, Ingestor
from collector.keys import Keyring, default_keyring
from collector.store import relays as relay_store
from collector.store.db import reading, writing

__all__ = ["BundleRefused", "FerryCollector", "Imported", "gaps", "import_bundle", "write_sync_bundle"]

log = logging.getLogger(__name__)

MAGIC = b"WRB1 "
SYNC_MAGIC = b"WRS1 "
MAX_FILE = 64 * 2**20
MAX_INFLATED = 256 * 2**20


class BundleRefused(Exception):
    """The bundle is refused whole (nothing of it is stored)."""


@dataclass
class Imported:
    file: str
    site: str
    relay: str
    seq: int
    results: int = 0
    accepted: int = 0
    duplicates: int = 0
    held_hosts: list[str] = field(default_factory=list)  # site/host the relay may not write for: not stored
    held: int = 0  # their results
    again: bool = False  # this sequence number was imported before (with nothing held): skipped
    retried: bool = False  # imported before with results held: only those were looked at
    kept: str = ""  # where the bundle file is (the watched folder moves it)


def _verify(engine: Engine, data: bytes) -> tuple[Any, bytes]:
    """(the relay row whose key signed it, the payload); BundleRefused otherwise."""
    head, newline, payload = data.partition(b"\n")
    if head.startswith(SYNC_MAGIC):  # carried the wrong way through the gateway
        raise BundleRefused(cli_said("cli.collector.bundle.sync_bundle"))
    if not newline or not head.startswith(MAGIC) or len(head) != len(MAGIC) + 64:
        raise BundleRefused(cli_said("cli.collector.bundle.not_a_bundle"))
    signature = head[len(MAGIC):]
    with reading(engine) as conn:
        rows = relay_store.live_relays(conn)
    for row in rows:
        expected = hmac.new(row.token_hash.encode("ascii"), payload, hashlib.sha256).hexdigest().encode("ascii")
        if hmac.compare_digest(expected, signature):
            return row, payload
    raise BundleRefused(cli_said("cli.collector.bundle.forged", command="wardround-collector token create --relay"))


def _document(payload: bytes, site: str) -> dict[str, Any]:
    try:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        raw = inflater.decompress(payload, MAX_INFLATED + 1)
        if len(raw) > MAX_INFLATED or not inflater.eof:
            raise BundleRefused(cli_said("cli.collector.bundle.too_large", size="256 MiB"))
        doc = orjson.loads(raw)
    except (zlib.error, orjson.JSONDecodeError) as exc:
        raise BundleRefused(cli_said("cli.collector.bundle.corrupt", error=str(exc))) from None
    if not isinstance(doc, dict) or doc.get("format") != 1 or not isinstance(doc.get("results"), list):
        raise BundleRefused(cli_said("cli.collector.bundle.format"))
    seq = doc.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise BundleRefused(cli_said("cli.collector.bundle.no_seq"))
    if doc.get("site") != site:
        raise BundleRefused(cli_said("cli.collector.bundle.site", said=repr(doc.get("site")), site=repr(site)))
    return doc


def import_bundle(engine: Engine, ingestor: Ingestor, path: str | os.PathLike[str], *,
                  keys: Keyring | None = None) -> Imported:
    """Verify and store one bundle file; BundleRefused (recorded, logged) when it is refused whole."""
    name = os.path.basename(os.fspath(path))
    try:
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_FILE + 1)
        except OSError as exc:
            raise BundleRefused(cli_said("cli.collector.bundle.cannot_read", error=exc.strerror or str(exc))) from None
        if len(data) > MAX_FILE:
            raise BundleRefused(cli_said("cli.collector.bundle.file_too_large", size="64 MiB"))
        row, payload = _verify(engine, data)
        doc = _document(payload, row.site)
        done = _store(engine, ingestor, name, row, doc, keys or default_keyring())
        done.kept = os.fspath(path)
        return done
    except BundleRefused as exc:
        _refused(engine, name, str(exc), keys or default_keyring())
        raise


def _store(engine: Engine, ingestor: Ingestor, name: str, row: Any, doc: dict[str, Any], keys: Keyring) -> Imported:
    seq = int(doc["seq"])
    out = Imported(file=name, site=row.site, relay=row.name, seq=seq, results=len(doc["results"]))
    with reading(engine) as conn:
        held_before = relay_store.bundle_held(conn, row.id, seq)
        if held_before == []:
            out.again = True
            return out
        relay = relay_principal(conn, row.id, row.site, row.name)
    out.retried = held_before is not None
    ok, held = [], []
    for r in doc["results"]:  # anything malformed goes to ingest, which refuses the bundle
        key = f"{r.get('site')}/{r.get('host')}" if isinstance(r, dict) else ""
        if out.retried and key not in (held_before or ()):
            continue  # stored the first time
        if isinstance(r, dict) and not relay.may_write(str(r.get("site")), str(r.get("host"))):
            held.append(key)
        else:
            ok.append(r)
    out.held_hosts, out.held = sorted(set(held)), len(held)
    backlog = doc.get("backlog") if isinstance(doc.get("backlog"), int) else None
    if ok:
        body = orjson.dumps({"results": ok, "agent": {"spool_backlog": backlog}})
        try:
            outcome = ingestor.ingest(relay, body)
        except IngestError as exc:
            raise BundleRefused(cli_said("cli.collector.bundle.invalid", error=str(exc.detail)[:300])) from None
        out.accepted, out.duplicates = len(outcome.accepted), len(outcome.duplicates)
        if not out.retried:  # a bundle imported again by hand is no contact of the relay's
            relays.record_batch(engine, relay, accepted=outcome.accepted, total=len(ok), via="bundle", seq=seq,
                                report=relays.RelayReport(backlog=backlog))
    if held:
        log.warning("ferry: bundle %s: %d results of %s held, not stored: the relay may not write for them "
                    "(retired, not enrolled or not approved); the file is kept", name, len(held),
                    ", ".join(out.held_hosts[:5]))
    now = datetime.now(UTC)
    with writing(engine) as conn:
        if out.retried:
            relay_store.set_held(conn, row.id, seq, out.held_hosts)
        else:
            relay_store.add_bundle(conn, {"relay_id": row.id, "seq": seq, "imported_at": now, "file": name[:255],
                                          "results": out.results}, out.held_hosts)
            if not ok:
                relays.touch(conn, row.id, now, relays.RelayReport(backlog=backlog))
        audit.append(conn, keys, actor=audit.local_actor(), action="relay.import",
                     target=f"relay:{row.site}/{row.name}", at=now,
                     detail={"file": name[:255], "seq": seq, "results": out.results, "accepted": out.accepted,
                             "again": out.retried, "held": out.held, "held_hosts": out.held_hosts[:20]})
    return out


def _refused(engine: Engine, name: str, reason: str, keys: Keyring) -> None:
    log.error("ferry: bundle %s refused whole: %s", name, reason)
    now = datetime.now(UTC)
    with writing(engine) as conn:
        relay_store.add_refused(conn, {"at": now, "file": name[:255], "reason": reason[:2000]})
        audit.append(conn, keys, actor=audit.local_actor(), action="relay.import", outcome="failed",
                     target=f"bundle:{name[:200]}", detail={"reason": reason[:500]}, at=now)


def gaps(engine: Engine) -> list[dict[str, Any]]:
    """Per relay with bundles: the sequence numbers missing below its newest (a lost or delayed file)."""
    with reading(engine) as conn:
        rows = relay_store.bundle_seqs(conn)
    seen: dict[tuple[str, str], list[int]] = {}
    for site, name, seq in rows:
        seen.setdefault((site, name), []).append(int(seq))
    out = []
    for (site, name), seqs in seen.items():
        have = set(seqs)
        missing = [n for n in range(1, max(seqs) + 1) if n not in have]
        out.append({"site": site, "relay": name, "newest": max(seqs), "missing": missing})
    return out


def ranges(numbers: list[int]) -> str:
    """``[4, 5, 6, 9]`` → ``4-6, 9``."""
    parts: list[str] = []
    for n in numbers:
        if parts and parts[-1].split("-")[-1] == str(n - 1):
            parts[-1] = f"{parts[-1].split('-')[0]}-{n}"
        else:
            parts.append(str(n))
    return ", ".join(parts)


def watch(engine: Engine, ingestor: Ingestor, folder: Path, *, every_s: float = 10.0, once: bool = False,
          keys: Keyring | None = None) -> Iterator[Imported | tuple[str, str]]:
    """Import each ``*.wrb`` that appears in ``folder`` (oldest name first), then move it to
    ``folder/imported`` or ``folder/refused``; yields what happened to each."""
    import time

    for sub in ("imported", "refused"):
        (folder / sub).mkdir(exist_ok=True)
    while True:
        for path in sorted(folder.glob("*.wrb")):
            try:
                done: Imported | tuple[str, str] = import_bundle(engine, ingestor, path, keys=keys)
                target = folder / "imported" / path.name
            except BundleRefused as exc:
                done = (path.name, exc.args[0])  # its keyed text, for the reader's language
                target = folder / "refused" / path.name
            if isinstance(done, Imported) and done.held_hosts:  # kept for an import once the host is live
                (folder / "held").mkdir(exist_ok=True)
                target = folder / "held" / path.name
            os.replace(path, target)
            if isinstance(done, Imported):
                done.kept = os.fspath(target)
            yield done
        if once:
            return
        time.sleep(every_s)


class FerryCollector(Collector):
    """``/metrics``: bundles imported and refused, missing sequence numbers, bundles holding results back,
    relays' backlog and contact."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        bundles = CounterMetricFamily("wardround_ferry_bundles", "Ferry bundles by outcome (imported, refused)",
                                      labels=["outcome"])
        missing = GaugeMetricFamily("wardround_ferry_missing_bundles",
                                    "Bundle sequence numbers missing below a relay's newest", labels=["site", "relay"])
        held = GaugeMetricFamily("wardround_ferry_held_bundles",
                                 "Imported bundles holding results of a host the relay may not write for "
                                 "(kept in held/)",
                                 labels=["site", "relay"])
        backlog = GaugeMetricFamily("wardround_relay_backlog", "Results a relay said it holds",
                                    labels=["site", "relay"])
        contact = GaugeMetricFamily("wardround_relay_last_contact_timestamp_seconds",
                                    "A relay's last contact (a forwarded batch, a sync or a bundle)",
                                    labels=["site", "relay"])
        try:
            with reading(self.engine) as conn:
                imported, refused = relay_store.bundle_counts(conn)
                live = relay_store.live_relays(conn)
                holding = relay_store.held_bundles(conn)
            holes = gaps(self.engine)
        except SQLAlchemyError as exc:  # the scrape says the database is down (database_up 0); it does not fail
            log.warning("metrics: cannot read the relays: %s", type(exc).__name__)
            return
        bundles.add_metric(["imported"], imported)
        bundles.add_metric(["refused"], refused)
        for g in holes:
            missing.add_metric([g["site"], g["relay"]], len(g["missing"]))
        for site, relay, n in holding:
            held.add_metric([site, relay], n)
        for r in live:
            if r.backlog is not None:
                backlog.add_metric([r.site, r.name], r.backlog)
            if r.last_contact is not None:
                contact.add_metric([r.site, r.name], r.last_contact.timestamp())
        yield from (bundles, missing, held, backlog, contact)


def describe(done: Imported) -> str:
    """One line for a person: what an import did (a keyed text, :func:`checks.messages.reader.told`)."""
    where = {"file": done.file, "seq": done.seq, "relay": done.relay, "site": done.site}
    if done.again:
        return cli_said("cli.collector.bundle.again", **where)
    if done.held_hosts:
        first = done.held_hosts[0].split("/", 1)
        return cli_said("cli.collector.bundle.imported_held", n=done.results, new=done.accepted,
                        stored=done.duplicates, held=done.held, hosts=", ".join(done.held_hosts[:5]), kept=done.kept,
                        command=f"wardround-collector token create --site {first[0]} --host {first[-1]}",
                        approve="wardround-collector host approve", **where)
    if done.retried:
        return cli_said("cli.collector.bundle.held_stored", new=done.accepted, stored=done.duplicates, **where)
    return cli_said("cli.collector.bundle.imported", n=done.results, new=done.accepted, stored=done.duplicates,
                    **where)


def gap_lines(engine: Engine) -> list[str]:
    """A line for each relay whose bundles have a gap (keyed texts)."""
    return [cli_said("cli.collector.bundle.gap", relay=g["relay"], site=g["site"], newest=g["newest"],
                     missing=ranges(g["missing"])) for g in gaps(engine) if g["missing"]]




def write_sync_bundle(engine: Engine, site: str, name: str, folder: Path) -> Path:
    """The other way, for gateways that allow it: a signed file with the site's live agent token hashes
    and each host's central config, for relay ``name`` of ``site`` to apply (its ``export.inbox``)."""
    from collector import fleet

    with reading(engine) as conn:
        row = relay_store.live_relay(conn, site, name)
        if row is None:
            raise BundleRefused(cli_said("cli.collector.no_relay", relay=repr(name), site=site,
                                         command="wardround-collector token create --relay"))
        relay = relay_principal(conn, row.id, row.site, row.name)
        roles = {h: orjson.loads(r) for h, r in relay_store.roles(conn, site)}
    doc = relays.sync_document(engine, relay, None)
    version, current = fleet.newest(engine)
    configs = {}
    for host in sorted(relay.also_hosts):
        got = fleet.effective(current, version, site, host, roles.get(host, []))
        configs[host] = {"etag": f'"{got.etag}"', "body": orjson.dumps(got.to_json(site, host, roles.get(host, []))
                                                                       ).decode()}
    doc.update(format=1, kind="sync", configs=configs)
    payload = zlib.compress(orjson.dumps(doc), 6, wbits=16 + zlib.MAX_WBITS)
    signature = hmac.new(row.token_hash.encode("ascii"), payload, hashlib.sha256).hexdigest().encode("ascii")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"wardround-sync-{site}-{name}-{stamp}.wrs"
    part = folder / f".{path.name}.part"
    part.write_bytes(SYNC_MAGIC + signature + b"\n" + payload)
    os.replace(part, path)
    return path
