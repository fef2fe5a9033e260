"""The site relay: the one machine of a closed network that the site's agents send to.

``wardround-agent relay --config relay.yaml`` (:mod:`agent.relay_config`) serves the agents'
API for its site on ``listen:`` (:mod:`agent.relay_http`) and is built from the agent's own
parts: the durable spool (:mod:`agent.spool`) and the sender (:mod:`agent.sender`).

* **Tokens.**  It checks each agent token against the hashes of its site's live tokens, which
  it fetches every ``sync_every`` (default 30 s) with its relay token (``GET /api/v1/relay/sync``) and
  keeps in its spool file, so a restart without the uplink still knows them.  A wrong token is
  refused at once (401), a revoked one within ``sync_every``.
* **Results.**  An accepted batch is committed to the spool before it is acknowledged
  (acknowledged = on disk, as in the agent).  The spool is bounded by ``spool_max_bytes``; at the
  bound, or when the disk is full, the relay answers 503 and the agents keep the results in
  their own spools: the relay itself never drops a result.
* **Forwarding.**  A sender with the relay token moves the spool to the collector, oldest
  first, through ``collector.proxy`` if set; it backs off while the collector is unreachable.
  Results the collector refuses for a host it no longer takes (retired, 403) are isolated by
  bisection and quarantined, so one host cannot stop the site.
* **Passing through.**  Enrolment (``POST /api/v1/enrol``) and token pickup
  (``GET /api/v1/agent/token``) go to the collector as they are.  Central configs
  (``GET /api/v1/agent/config``) too, and each host's last answer is kept: while the uplink
  is down the agents get their kept config, and keep their checks.
* **File ferry.**  With ``export:`` (or ``--export DIR``) the relay writes signed bundle files
  instead of forwarding (:mod:`agent.ferry`).

Log lines never contain a token or a result body.
"""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from agent import __version__, logs
from agent.http import Http, HttpError, reason
from agent.relay_config import RelayConfig
from agent.sender import Backoff, Sender, collector_base
from agent.spool import Spool, SpooledResult, SpoolError
from checks.result import Result, ResultError, format_time, parse_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Answer", "Relay", "RelaySender", "refusal"]

log = logs.get(__name__)

SYNC_PATH = "/api/v1/relay/sync"
_TOKENS_STATE = "relay.tokens"
_CONFIG_STATE = "relay.config."
_AGENTS_STATE = "relay.agents"
NEVER_S = 100 * 365 * 86400.0  # the relay's spool has no age bound: it refuses (503), it never drops


@dataclass(frozen=True)
class Answer:
    """What the relay answers an agent: a status, a JSON document, extra headers."""

    status: int
    doc: Any
    headers: tuple[tuple[str, str], ...] = ()
    raw: bytes | None = None  # passed through from the collector as it is


@dataclass(frozen=True)
class Grant:
    host: str
    also_hosts: frozenset[str]
    expires_at: datetime | None

    def may_write(self, host: str) -> bool:
        return host == self.host or host in self.also_hosts


def hash_token(token: str) -> str:
    """As the collector stores it: SHA-256 hex of the token (256 random bits: a fast hash is right)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Tokens:
    """The site's live agent token hashes, as the collector last said, kept in the spool file."""

    def __init__(self, spool: Spool):
        self.spool = spool
        self.synced_at: float | None = None
        self._grants: dict[str, Grant] = {}
        self._load(spool.load_state(_TOKENS_STATE))

    def _load(self, doc: dict[str, Any]) -> int:
        grants: dict[str, Grant] = {}
        for t in doc.get("tokens", []) if isinstance(doc.get("tokens"), list) else []:
            if not isinstance(t, dict) or not isinstance(t.get("hash"), str) or not isinstance(t.get("host"), str):
                continue
            expires = None
            if isinstance(t.get("expires_at"), str):
                try:
                    expires = parse_time(t["expires_at"])
                except ResultError:
                    continue
            also = t.get("also_hosts")
            hosts = frozenset(h for h in also if isinstance(h, str)) if isinstance(also, list) else frozenset()
            grants[t["hash"]] = Grant(t["host"], hosts, expires)
        self._grants = grants
        return len(grants)

    def replace(self, doc: dict[str, Any]) -> int:
        """Take the collector's sync answer; returns how many tokens it holds."""
        n = self._load(doc)
        self.spool.save_state(_TOKENS_STATE, {"tokens": doc.get("tokens", []), "synced_at": time.time()})
        self.synced_at = time.time()
        return n

    def __len__(self) -> int:
        return len(self._grants)

    def lookup(self, token: str) -> Grant | None:
        grant = self._grants.get(hash_token(token))  # a hash of 256 random bits: nothing to time
        if grant is None or (grant.expires_at is not None and grant.expires_at <= datetime.now(UTC)):
            return None
        return grant


class RelaySender(Sender):
    """The agent's sender with the relay token: a 403 (a host the collector no longer takes) is
    bisected and quarantined like a 422, so one retired host cannot hold up the site."""

    def _post(self, rows: Sequence[SpooledResult], deadline: float | None) -> tuple[int, Any]:
        status, answer = super()._post(rows, deadline)
        if status == 403:
            log.warning("forward: the collector refused results of this batch (403): %s", reason(answer))
            return 422, answer
        return status, answer


def refusal(why: str) -> dict[str, Any]:
    """A refusal's body as the collector's: the English ``detail`` and, for a keyed text
    (checks.messages.reader.cli_said), its ``message``, so an agent says it in its reader's language."""
    from checks.messages import answer_body

    return answer_body(why)


class Relay:
    """The relay's state and its loops; :mod:`agent.relay_http` serves it."""

    def __init__(self, config: RelayConfig, *, http: Http | None = None):
        self.config = config
        self.site = config.site
        self.spool = Spool(config.spool, max_age_s=NEVER_S, max_bytes=config.spool_max_bytes)
        self.tokens = Tokens(self.spool)
        self.stop = threading.Event()
        self.wake = threading.Event()  # new results: forward without waiting
        self.http: Http | None = http
        self.sender: RelaySender | None = None
        c = config.collector
        if c is not None:
            if self.http is None:
                self.http = Http(collector_base(c.url), c.token, ca_file=c.ca_file, proxy=c.proxy,
                                 proxy_credentials=c.proxy_credentials)
            self.sender = RelaySender(self.spool, c.url, c.token, http=self.http, timeout_s=c.timeout_s,
                                      batch_size=c.batch_size, site=config.site, host="relay")
            self.sender.envelope_extra = lambda: {"agents": dict(self.agents)}
        self.timeout_s = c.timeout_s if c is not None else 10.0
        self.forwarded = 0
        self.last_forward_error = ""
        #: what each agent last said about itself (version, config version, backlog), passed on with each
        #: forwarded batch so the inventory shows it as for an agent that reports directly
        kept = self.spool.load_state(_AGENTS_STATE).get("agents")
        self.agents: dict[str, dict[str, Any]] = dict(kept) if isinstance(kept, dict) else {}

    def close(self) -> None:
        self.spool.close()

    # -- results from the agents ----------------------------------------

    def accept(self, grant: Grant, doc: Any) -> Answer:
        """Spool an agent's batch (already decoded); 422, 403 or 503 when it cannot."""
        if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
            from checks.messages.reader import cli_said

            return Answer(422, refusal(cli_said("cli.refusal.relay.not_batch")))
        results: list[Result] = []
        errors: list[dict[str, Any]] = []
        for i, raw in enumerate(doc["results"]):
            try:
                results.append(Result.from_wire(raw))
            except ResultError as exc:
                rid = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
                errors.append({"index": i, "id": rid, "error": str(exc)})
        if errors:
            return Answer(422, {"detail": errors})
        foreign = sorted({f"{r.site}/{r.host}" for r in results
                          if r.site != self.site or not grant.may_write(r.host)})
        if foreign:
            from checks.messages.reader import cli_said

            also = cli_said("cli.refusal.also", hosts=", ".join(sorted(grant.also_hosts))) if grant.also_hosts else ""
            return Answer(403, refusal(cli_said("cli.refusal.relay.foreign", site=self.site,
                                                host=f"{self.site}/{grant.host}", also=also,
                                                others=", ".join(foreign[:5]))))
        full = self._full()
        if full:
            return Answer(503, refusal(full), (("Retry-After", "60"),))
        ids = [r.id for r in results]
        try:
            known = self.spool.contains(ids)
            self.spool.put(results)
        except (SpoolError, sqlite3.Error, OSError) as exc:
            log.error("relay: cannot spool a batch of %d results: %s", len(results), exc)
            from checks.messages.reader import cli_said

            return Answer(503, refusal(cli_said("cli.refusal.relay.cannot_store", why=_one_line(exc))),
                          (("Retry-After", "60"),))
        self.wake.set()
        self._note_agent(grant.host, doc.get("agent"))
        fresh = [i for i in dict.fromkeys(ids) if i not in known]
        dupes = [i for i in dict.fromkeys(ids) if i in known]
        return Answer(200, {"accepted": fresh, "duplicates": dupes, "server_time": format_time(datetime.now(UTC))})

    def _note_agent(self, host: str, report: Any) -> None:
        """Keep what the agent said about itself; kept in the spool file when its versions change."""
        if not isinstance(report, dict):
            return
        now = {k: report[k] for k in ("version", "config_version", "spool_backlog")
               if isinstance(report.get(k), str | int) and not isinstance(report[k], bool)}
        before = self.agents.get(host, {})
        self.agents[host] = now
        if (before.get("version"), before.get("config_version")) != (now.get("version"), now.get("config_version")):
            try:
                self.spool.save_state(_AGENTS_STATE, {"agents": self.agents})
            except (SpoolError, sqlite3.Error, OSError, ValueError) as exc:
                log.warning("relay: cannot keep the agents' versions: %s", _one_line(exc))

    def _full(self) -> str:
        used = self.spool.counters().get("outbox_bytes", 0)
        if used >= self.config.spool_max_bytes:
            from checks.messages.reader import cli_said

            return cli_said("cli.refusal.relay.spool_full", used=used, key="spool_max_bytes",
                            most=self.config.spool_max_bytes)
        return ""

    # -- passing through ------------------------------------------------

    def pass_through(self, method: str, path: str, token: str, body: bytes | None,
                     headers: dict[str, str]) -> Answer:
        """One request to the collector with the agent's own credentials; 503 when it is unreachable."""
        from checks.messages.reader import cli_said, worded_said

        if self.http is None or self.config.export is not None:
            return Answer(503, refusal(cli_said("cli.refusal.relay.file_gateway",
                                                command="`wardround-collector token create`")))
        try:
            got = self.http.exchange(method, self.http.url(path), timeout=self.timeout_s, data=body,
                                     headers=headers, token=token)
        except HttpError as exc:
            return Answer(503, refusal(cli_said("cli.refusal.relay.unreachable", why=worded_said(exc))),
                          (("Retry-After", "30"),))
        keep = tuple((k, v) for k in ("ETag", "Cache-Control", "Wardround-Token-Expires", "Content-Type",
                                      "Content-Encoding", "Retry-After") if (v := got.header(k)))
        return Answer(got.status, None, keep, raw=got.raw)

    def agent_config(self, grant: Grant, token: str, if_none_match: str) -> Answer:
        """The host's central config from the collector, kept; the kept one while the uplink is down."""
        headers = {"If-None-Match": if_none_match} if if_none_match else {}
        got = self.pass_through("GET", "/api/v1/agent/config", token, None, headers)
        key = _CONFIG_STATE + grant.host
        if got.status == 200 and got.raw is not None:
            etag = dict(got.headers).get("ETag", "")
            try:
                self.spool.save_state(key, {"etag": etag, "body": got.raw.decode("utf-8"),
                                            "encoding": dict(got.headers).get("Content-Encoding", "")})
            except (SpoolError, sqlite3.Error, OSError, UnicodeDecodeError) as exc:
                log.warning("relay: cannot keep the config of %s: %s", grant.host, _one_line(exc))
            return got
        if got.status != 503 and got.status < 500:
            return got
        kept = self.spool.load_state(key)
        if not kept:
            return got
        etag = str(kept.get("etag", ""))
        hdrs = (("ETag", etag), ("Cache-Control", "no-cache"))
        if etag and etag.strip('"') in [t.strip().removeprefix("W/").strip('"') for t in if_none_match.split(",")]:
            return Answer(304, None, hdrs, raw=b"")
        enc = str(kept.get("encoding", ""))
        return Answer(200, None, hdrs + ((("Content-Encoding", enc),) if enc else ())
                      + (("Content-Type", "application/json"),), raw=str(kept.get("body", "")).encode("utf-8"))

    # -- loops ----------------------------------------------------------

    def sync_once(self) -> bool:
        """Fetch the site's token hashes; False when the collector could not be asked."""
        if self.http is None:
            return False
        query = urlencode({"backlog": self.spool.backlog(), "version": __version__})
        try:
            got = self.http.exchange("GET", self.http.url(f"{SYNC_PATH}?{query}"), timeout=self.timeout_s)
        except HttpError as exc:
            log.warning("sync: %s (the relay keeps the tokens it has)", exc)
            return False
        doc = got.json()
        if got.status != 200 or not isinstance(doc, dict):
            log.error("sync: the collector answered HTTP %d: %s%s", got.status, reason(doc),
                      " (check the relay's collector.token_file: `wardround-collector token create --relay "
                      f"--site {self.site}`)" if got.status in (401, 403) else "")
            return False
        if doc.get("site") != self.site:
            log.error("sync: the relay token is for site %r, this relay serves %r: fix site: or the token",
                      doc.get("site"), self.site)
            return False
        n = self.tokens.replace(doc)
        log.debug("sync: %d agent tokens of site %s", n, self.site)
        return True

    def apply_sync(self, doc: dict[str, Any]) -> None:
        """A sync bundle from the file ferry: the site's tokens, and each host's config to keep."""
        self.tokens.replace(doc)
        configs = doc.get("configs")
        for host, kept in (configs.items() if isinstance(configs, dict) else []):
            if isinstance(kept, dict) and isinstance(kept.get("body"), str):
                self.spool.save_state(_CONFIG_STATE + str(host), {"etag": str(kept.get("etag", "")),
                                                                   "body": kept["body"], "encoding": ""})

    def sync_loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.sync_once()
            except (SpoolError, sqlite3.Error, OSError) as exc:  # a full disk: keep the tokens in memory
                log.error("sync: cannot keep the tokens in the spool: %s", _one_line(exc))
            self.stop.wait(self.config.sync_every_s)

    def forward_loop(self) -> None:
        assert self.sender is not None
        backoff = Backoff(base=1.0, cap=60.0)
        while not self.stop.is_set():
            self.wake.clear()
            try:
                out = self.sender.push(stop=self.stop)
            except (SpoolError, sqlite3.Error, OSError) as exc:
                log.error("forward: the spool cannot be used: %s", _one_line(exc))
                self.stop.wait(10.0)
                continue
            self.forwarded += out.acknowledged
            if out.ok:
                backoff.reset()
                self.last_forward_error = ""
                self.wake.wait(1.0)
                continue
            if out.error != self.last_forward_error and not out.logged:
                log.warning("forward: %s (the results stay in the relay's spool)", out.error)
            self.last_forward_error = out.error
            delay = out.retry_after if out.retry_after is not None else backoff.next_delay()
            self.stop.wait(min(delay, 60.0))

    def threads(self) -> list[threading.Thread]:
        """The relay's background work: token sync, and forwarding or exporting."""
        out = []
        if self.http is not None and self.config.export is None:  # behind a file gateway: no uplink
            out.append(threading.Thread(target=self.sync_loop, name="relay-sync", daemon=True))
        if self.config.export is not None:
            from agent.ferry import Exporter

            exporter = Exporter(self.spool, self.config, self.config.export, stop=self.stop, apply=self.apply_sync)
            out.append(threading.Thread(target=exporter.loop, name="relay-export", daemon=True))
        elif self.sender is not None:
            out.append(threading.Thread(target=self.forward_loop, name="relay-forward", daemon=True))
        return out


def serve(config: RelayConfig) -> int:
    """Run the relay until SIGTERM/SIGINT; 0 on a clean stop."""
    from agent.relay_http import make_server

    relay = Relay(config)
    server = make_server(relay)
    host, port = server.server_address[:2]
    log.info("relay for site %s listening on %s:%s (%s); %s", config.site, host, port,
             "https" if config.tls_cert else "http",
             f"exporting bundles to {config.export.dir}" if config.export else
             f"forwarding to {config.collector.url if config.collector else '?'}")

    def stop(*_: Any) -> None:
        relay.stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for t in relay.threads():
        t.start()
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        relay.stop.set()
        server.server_close()
        relay.close()
    return 0


def _one_line(exc: object) -> str:
    return " ".join(str(exc).split())[:300]
