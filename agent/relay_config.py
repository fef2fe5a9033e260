"""The relay's YAML config (``wardround-agent relay --config relay.yaml``) → a frozen :class:`RelayConfig`.

Keys (docs/deploy.md)::

    site: central-hospital
    listen: 0.0.0.0:8481            # where the site's agents send (HOST:PORT)
    tls_cert: /etc/wardround/relay.crt   # optional, with tls_key: HTTPS for the agents
    tls_key: /etc/wardround/relay.key
    collector:                      # as in the agent: url, token_file (the relay token), ca_file, proxy
      url: https://collector.example:8480
      token_file: /etc/wardround/relay.token
    spool: /var/lib/wardround/relay.db
    spool_max_bytes: 2GiB           # full: the relay answers 503 and the agents keep their results
    sync_every: 30s                 # token hashes fetched this often (a revoked token lasts at most this)
    export: {dir: /mnt/gateway/out, every: 5m, inbox: /mnt/gateway/in}   # the file ferry instead

Every error is reported at once as ``FILE: key: expected ...`` (exit code 2), as for the agent.
"""

from __future__ import annotations

import dataclasses
import os
import ssl
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agent.config import CollectorConfig, ConfigError, _collector, _open_config, _site, parse_size
from checks.entries import Problems, check_keys, read_duration, read_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ExportConfig", "RelayConfig", "load_relay_config", "parse_listen"]

_TOP_KEYS = {"site", "listen", "tls_cert", "tls_key", "collector", "spool", "spool_max_bytes", "export",
             "sync_every"}
DEFAULT_MAX_BYTES = 2 * 2**30
DEFAULT_EXPORT_EVERY_S = 300.0
DEFAULT_FORWARD_BATCH = 2000


@dataclass(frozen=True)
class ExportConfig:
    dir: str
    every_s: float = DEFAULT_EXPORT_EVERY_S
    #: where sync bundles from the collector arrive (``wardround-collector relay bundle``), if the gateway
    #: carries files that way too
    inbox: str | None = None


@dataclass(frozen=True)
class RelayConfig:
    path: str
    site: str
    listen_host: str
    listen_port: int
    collector: CollectorConfig | None
    spool: str
    spool_max_bytes: int = DEFAULT_MAX_BYTES
    tls_cert: str | None = None
    tls_key: str | None = None
    export: ExportConfig | None = None
    #: how often the site's agent token hashes are fetched: a revoked token works at most this long
    sync_every_s: float = 30.0


def default_relay_spool() -> str:
    if sys.platform == "win32":
        return r"C:\ProgramData\Wardround\relay.db"
    return "/var/lib/wardround/relay.db"


def parse_listen(value: Any) -> tuple[str, int]:
    """``0.0.0.0:8481``, ``[::]:8481`` → (host, port); ValueError otherwise."""
    if not isinstance(value, str) or ":" not in value:
        raise ValueError
    host, _, port = value.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError
    return host, int(port)


def _path(value: str, base: Path) -> str:
    return value if os.path.isabs(value) else str(base / value)


def load_relay_config(path: str | os.PathLike[str], *, export_dir: str | None = None) -> RelayConfig:
    """Read and check the relay config; ``export_dir`` (``--export DIR``) turns on the file ferry."""
    file, data, err, base = _open_config(path, _TOP_KEYS, "site, listen, collector, spool, ...")
    site = _site(err, data, "the site whose agents this relay serves, e.g. central-hospital", "cli.config.site_relay")
    host, port = "0.0.0.0", 0
    try:
        host, port = parse_listen(data.get("listen"))
    except ValueError:
        err.add("listen", "required: HOST:PORT the agents send to, e.g. 0.0.0.0:8481", data.get("listen"),
                said=("cli.config.relay_listen", {"format": "HOST:PORT", "example": "0.0.0.0:8481"}))
    cert = key = None
    if ("tls_cert" in data) != ("tls_key" in data):
        err.add("tls_cert" if "tls_key" in data else "tls_key", "tls_cert and tls_key go together",
                said=("cli.collector.together", {"first": "tls_cert", "second": "tls_key"}))
    elif "tls_cert" in data:
        cert = _tls_file(err, "tls_cert", data["tls_cert"], base)
        key = _tls_file(err, "tls_key", data["tls_key"], base)
        if cert and key:
            try:
                ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
            except (ssl.SSLError, OSError) as exc:
                why = str(getattr(exc, "reason", None) or exc)
                err.add("tls_cert", f"expected a PEM certificate and its key ({why})",
                        said=("cli.config.relay_tls_pair", {"error": why}))
    export = _export(err, data.get("export"), base, export_dir)
    collector = _collector(err, data["collector"], base) if "collector" in data else None
    if collector is not None and isinstance(data["collector"], Mapping) and "batch_size" not in data["collector"]:
        # a relay forwards a whole site: larger batches cost the collector less per result
        collector = dataclasses.replace(collector, batch_size=DEFAULT_FORWARD_BATCH)
    if "collector" not in data:
        err.add("collector", "required: url and token_file (the relay token, which also signs ferry bundles)",
                said=("cli.config.relay_collector", {"url": "url", "file": "token_file"}))
    spool = default_relay_spool()
    if "spool" in data:
        spool = _path(read_text(err, "spool", data["spool"]) or spool, base)
    max_bytes = DEFAULT_MAX_BYTES
    if "spool_max_bytes" in data:
        try:
            max_bytes = parse_size(data["spool_max_bytes"])
        except ValueError:
            err.add("spool_max_bytes", "expected a size like 2GiB or a number of bytes", data["spool_max_bytes"],
                    said=("cli.config.size_like", {"a": "2GiB"}))
    sync_every = read_duration(err, "sync_every", data.get("sync_every", "30s"), minimum=1)
    if err.lines:
        raise ConfigError(err.lines, err.said)
    assert site is not None and sync_every is not None
    return RelayConfig(path=file, site=site, listen_host=host, listen_port=port, collector=collector, spool=spool,
                       spool_max_bytes=max_bytes, tls_cert=cert, tls_key=key, export=export,
                       sync_every_s=sync_every)


def _tls_file(err: Problems, key: str, value: Any, base: Path) -> str | None:
    text = read_text(err, key, value)
    if text is None:
        return None
    path = _path(text, base)
    if not os.path.isfile(path):
        err.add(key, f"expected a readable PEM file ({path})", said=("cli.config.pem_file", {"path": path}))
        return None
    return path


def _export(err: Problems, raw: Any, base: Path, export_dir: str | None) -> ExportConfig | None:
    every = DEFAULT_EXPORT_EVERY_S
    folder = export_dir
    box: str | None = None
    if raw is not None:
        if not isinstance(raw, Mapping):
            err.add("export", "expected {dir: DIR, every: 5m}", raw,
                    said=("cli.config.expected", {"example": "{dir: DIR, every: 5m}"}))
            return None
        check_keys(err, "export", raw, {"dir", "every", "inbox"})
        if folder is None:
            folder = read_text(err, "export.dir", raw.get("dir"))
        got = read_duration(err, "export.every", raw.get("every", "5m"), minimum=1)
        every = got if got is not None else every
        if "inbox" in raw and (text := read_text(err, "export.inbox", raw["inbox"])) is not None:
            inbox = _path(text, base)
            if not os.path.isdir(inbox):
                err.add("export.inbox", f"expected an existing directory ({inbox})",
                        said=("cli.config.existing_directory", {"path": inbox}))
            else:
                box = inbox
    if folder is None:
        return None
    folder = _path(folder, base)
    if not os.path.isdir(folder):
        err.add("export.dir", f"expected an existing directory ({folder})",
                said=("cli.config.existing_directory", {"path": folder}))
        return None
    return ExportConfig(dir=folder, every_s=every, inbox=box)
