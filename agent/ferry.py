"""The file ferry: a relay behind a one-way security gateway (网闸) writes bundle files.

``wardround-agent relay --export DIR`` (or ``export: {dir, every}``) writes, every ``every``
(default 5m), what it would have forwarded as bundle files in DIR, for the gateway to carry;
``wardround-collector import`` reads them on the other side (collector/ferry.py).

A bundle file ``wardround-<site>-<seq>.wrb`` is::

    WRB1 <HMAC-SHA256 hex>\\n
    <gzip of {"format": 1, "site", "seq", "created_at", "backlog", "results": [...]}>

signed with a key only the relay and the collector hold (the SHA-256 of the relay token,
which the collector keeps instead of the token); sequence numbers count up from 1 per relay,
so the collector notices a lost file.  A bundle is written under a hidden name, flushed to
disk and renamed: the gateway never sees half a file, and a name is never written twice.
The sequence number is reserved in the spool before the file is written, and the results
leave the spool only after the rename, so a crash at any point loses nothing (the results go
again in the next bundle; the collector stores each once).
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import logging
import os
import threading
from datetime import UTC, datetime

from agent.relay_config import ExportConfig, RelayConfig
from agent.spool import Spool
from checks.result import format_time

__all__ = ["BUNDLE_MAGIC", "Exporter", "bundle_name", "sign"]

log = logging.getLogger(__name__)

BUNDLE_MAGIC = b"WRB1"
BUNDLE_RESULTS = 5000  # results per bundle at most
_SEQ_STATE = "relay.export"


def bundle_name(site: str, seq: int) -> str:
    return f"wardround-{site}-{seq:010d}.wrb"


def sign(key: bytes, payload: bytes) -> str:
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def signing_key(relay_token: str) -> bytes:
    """The bundle key: the SHA-256 hex of the relay token, as the collector stores it."""
    return hashlib.sha256(relay_token.encode("utf-8", "surrogatepass")).hexdigest().encode("ascii")


class Exporter:
    """Moves the relay's spool into bundle files, oldest first."""

    def __init__(self, spool: Spool, config: RelayConfig, export: ExportConfig, *,
                 stop: threading.Event | None = None):
        if config.collector is None:
            raise ValueError("the relay token (collector.token_file) signs the bundles")
        self.spool = spool
        self.site = config.site
        self.dir = export.dir
        self.every_s = export.every_s
        self.key = signing_key(config.collector.token)
        self.stop = stop or threading.Event()

    def loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.export()
            except OSError as exc:
                log.error("export: cannot write a bundle in %s: %s (the results stay in the spool)", self.dir, exc)
            self.stop.wait(self.every_s)

    def export(self) -> list[str]:
        """Write every spooled result into bundles now; the files written."""
        written: list[str] = []
        while True:
            rows = self.spool.batch(BUNDLE_RESULTS)
            if not rows:
                return written
            state = self.spool.load_state(_SEQ_STATE)
            seq = int(state.get("next", 1))
            self.spool.save_state(_SEQ_STATE, {"next": seq + 1})  # reserved: a number is used once
            doc = {"format": 1, "site": self.site, "seq": seq, "created_at": format_time(datetime.now(UTC)),
                   "backlog": self.spool.backlog() - len(rows), "results": []}
            text = json.dumps(doc, separators=(",", ":"))
            text = text[:-2] + ",".join(r.body for r in rows) + "]}"
            payload = gzip.compress(text.encode("utf-8"), compresslevel=6)
            name = bundle_name(self.site, seq)
            self._write(name, BUNDLE_MAGIC + b" " + sign(self.key, payload).encode("ascii") + b"\n" + payload)
            self.spool.ack([r.id for r in rows])
            log.info("export: %s with %d results", name, len(rows))
            written.append(os.path.join(self.dir, name))

    def _write(self, name: str, data: bytes) -> None:
        final = os.path.join(self.dir, name)
        part = os.path.join(self.dir, f".{name}.part")
        with open(part, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if os.path.exists(final):  # never rewrite a bundle
            os.unlink(part)
            raise OSError(f"{final} exists already; not overwritten")
        os.replace(part, final)
        if hasattr(os, "O_DIRECTORY"):
            dfd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
