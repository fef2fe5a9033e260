"""The file ferry: a relay behind a one-way security gateway (网闸) writes bundle files.

``wardround-agent relay --export DIR`` (or ``export: {dir, every}``) writes, every ``every``
(default 5m), what it would have forwarded as bundle files in DIR, for the gateway to carry;
``wardround-collector import`` reads them on the other side (collector/ferry.py).

A bundle file ``wardround-<site>-<seq>.wrb`` is::

    WRB1 <HMAC-SHA256 hex>\\n
    <gzip of {"format": 1, "site", "seq", "created_at", "backlog", "results": [...]}>

signed with a key only the relay and the collector hold (the SHA-256 of the relay token,
which the collector keeps instead of the token); sequence numbers count up from 1 per relay,
so the collector notices a lost file.  A bundle is written under a hidden name and flushed to
disk; then, in one spool transaction, its results leave the spool and its number is used; then
it is renamed: the gateway never sees half a file, and a name is never written twice.  A crash
before that transaction leaves the results spooled (the hidden file is dropped and they go again
under the same number); a crash after it leaves a complete hidden file, published at the next
start.  Nothing is lost and no number is skipped.

The other way, where the gateway carries files in too: ``wardround-collector relay bundle``
writes a sync bundle (``WRS1``, signed with the same key) with the site's agent token hashes
and each host's central config; the relay applies those it finds in ``export.inbox`` (the
newest wins) and keeps the last it had where nothing comes.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from agent import logs
from agent.relay_config import ExportConfig, RelayConfig
from agent.spool import Spool
from checks.result import format_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["BUNDLE_MAGIC", "Exporter", "bundle_name", "sign"]

log = logs.get(__name__)

BUNDLE_MAGIC = b"WRB1"
SYNC_MAGIC = b"WRS1 "
MAX_SYNC_BYTES = 64 * 2**20
_SYNC_STATE = "relay.inbox"
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
                 stop: threading.Event | None = None, apply: Callable[[dict[str, Any]], None] | None = None):
        if config.collector is None:
            raise ValueError("the relay token (collector.token_file) signs the bundles")
        self.spool = spool
        self.site = config.site
        self.dir = export.dir
        self.every_s = export.every_s
        self.key = signing_key(config.collector.token)
        self.stop = stop or threading.Event()
        self.inbox = export.inbox
        self.apply = apply  # takes a verified sync document (tokens, configs)

    def loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.take_inbox()
                self.export()
            except OSError as exc:
                log.error("export: cannot write a bundle in %s: %s (the results stay in the spool)", self.dir, exc)
            self.stop.wait(self.every_s)

    def export(self) -> list[str]:
        """Write every spooled result into bundles now; the files written."""
        written = self._complete()
        while True:
            rows = self.spool.batch(BUNDLE_RESULTS)
            if not rows:
                return written
            seq = int(self.spool.load_state(_SEQ_STATE).get("next", 1))
            doc = {"format": 1, "site": self.site, "seq": seq, "created_at": format_time(datetime.now(UTC)),
                   "backlog": self.spool.backlog() - len(rows), "results": []}
            text = json.dumps(doc, separators=(",", ":"))
            text = text[:-2] + ",".join(r.body for r in rows) + "]}"
            payload = gzip.compress(text.encode("utf-8"), compresslevel=6)
            name = bundle_name(self.site, seq)
            if os.path.exists(os.path.join(self.dir, name)):  # another relay of this site writes here too?
                raise OSError(f"{os.path.join(self.dir, name)} exists already; not overwritten (one relay "
                              "per export folder)")
            part = self._part(name, BUNDLE_MAGIC + b" " + sign(self.key, payload).encode("ascii") + b"\n" + payload)
            # the results leave the spool and the number is used in one transaction, once the file is on disk
            self.spool.ack_with_state([r.id for r in rows], _SEQ_STATE, {"next": seq + 1})
            self._publish(part, name)
            log.info("export: %s with %d results", name, len(rows))
            written.append(os.path.join(self.dir, name))

    def _complete(self) -> list[str]:
        """Publish a bundle a crash left hidden after its results left the spool (its number is used)."""
        done = []
        used = int(self.spool.load_state(_SEQ_STATE).get("next", 1))
        for entry in sorted(os.listdir(self.dir)):
            if entry.startswith(".wardround-") and entry.endswith(".wrb.part"):
                name = entry[1:-len(".part")]
                if int(name.rsplit("-", 1)[-1].split(".")[0]) < used:
                    self._publish(os.path.join(self.dir, entry), name)
                    log.warning("export: %s completed after an interruption", name)
                    done.append(os.path.join(self.dir, name))
                else:  # written, but its results are still spooled: they go again
                    os.unlink(os.path.join(self.dir, entry))
        return done

    def take_inbox(self) -> int:
        """Apply the sync bundles in the inbox, oldest name first (moved to applied/ or refused/)."""
        if self.inbox is None or self.apply is None:
            return 0
        applied = 0
        for name in sorted(n for n in os.listdir(self.inbox) if n.endswith(".wrs")):
            path = os.path.join(self.inbox, name)
            try:
                doc = self.open_sync(path)
            except ValueError as exc:
                log.error("inbox: %s refused: %s", name, exc)
                _move(path, os.path.join(self.inbox, "refused"))
                continue
            done = self.spool.load_state(_SYNC_STATE).get("created_at", "")
            if str(doc.get("server_time", "")) > done:  # an older file that arrives late changes nothing
                self.apply(doc)
                self.spool.save_state(_SYNC_STATE, {"created_at": str(doc.get("server_time", ""))})
                applied += 1
                log.info("inbox: %s applied: %d agent tokens, %d configs", name, len(doc.get("tokens", [])),
                         len(doc.get("configs", {})))
            _move(path, os.path.join(self.inbox, "applied"))
        return applied

    def open_sync(self, path: str) -> dict[str, Any]:
        """A verified sync document; ValueError when it is not one signed for this relay."""
        with open(path, "rb") as fh:
            data = fh.read(MAX_SYNC_BYTES + 1)
        head, newline, payload = data.partition(b"\n")
        if not newline or not head.startswith(SYNC_MAGIC) or len(data) > MAX_SYNC_BYTES:
            raise ValueError("not a Wardround sync bundle")
        if not hmac.compare_digest(head[len(SYNC_MAGIC):], sign(self.key, payload).encode("ascii")):
            raise ValueError("the signature does not match this relay's key (forged, altered, or for another relay)")
        try:
            doc = json.loads(gzip.decompress(payload))
        except (OSError, EOFError, ValueError) as exc:
            raise ValueError(f"corrupt: {exc}") from None
        if not isinstance(doc, dict) or doc.get("kind") != "sync" or doc.get("site") != self.site:
            raise ValueError(f"not a sync bundle for site {self.site}")
        return doc

    def _part(self, name: str, data: bytes) -> str:
        """The bundle under a hidden name, flushed to disk."""
        part = os.path.join(self.dir, f".{name}.part")
        with open(part, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return part

    def _publish(self, part: str, name: str) -> None:
        """Rename the hidden file to its name (never over an existing bundle) and flush the folder."""
        final = os.path.join(self.dir, name)
        if os.path.exists(final):
            raise OSError(f"{final} exists already; not overwritten")
        os.replace(part, final)
        if hasattr(os, "O_DIRECTORY"):
            dfd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

def _move(path: str, folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    os.replace(path, os.path.join(folder, os.path.basename(path)))
