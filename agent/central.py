"""What the collector tells an agent about itself: its central config, and its rotated token.

**Central config.**  ``GET /api/v1/agent/config`` answers the host's checks from the
collector's fleet file with an ETag.  The agent fetches it at start and every
``config_every`` (default 5m; ``off`` never), sends ``If-None-Match`` so an unchanged config
costs a 304, and validates what it gets with the same validator as its own file
(:func:`checks.entries.check_entries`).  A config that does not validate (say, a check this
agent version does not know) is refused whole and the last good one stays.  The last good
config is kept beside the spool (``<spool>.central.json``, mode 0600: it may name DSNs), so
an agent restarted while the collector is down still patrols with it.  The checks that run
are the central ones plus the local ``checks:`` of agent.yaml; a local entry with the same
name replaces the central one.  An old collector without the endpoint (404) means: no
central checks.

**Token rotation.**  An answer to a rotated token carries ``Wardround-Token-Expires``.  The
agent then fetches its successor (``GET /api/v1/agent/token``, authenticated with the old
token), writes it to ``collector.token_file`` (a new file renamed over the old one, mode
0600) and uses it from the next request.  If the file cannot be written, the agent says so
(ERROR) and keeps the old token, which works until its grace ends.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agent import logs
from agent.config import AgentConfig, CheckConfig
from agent.http import Http, HttpError, reason, said_reason
from checks.entries import Problems, check_entries

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Central", "Fetched", "merge", "pick_up_token", "write_secret_file"]

log = logs.get(__name__)

CONFIG_PATH = "/api/v1/agent/config"
TOKEN_PATH = "/api/v1/agent/token"


@dataclass(frozen=True)
class Fetched:
    """How one fetch went: ``changed`` (new checks to apply), ``unchanged``, ``refused`` (403
    awaiting approval, 401), ``rejected`` (did not validate), ``failed`` (no answer),
    ``absent`` (an older collector without central config)."""

    outcome: str
    message: str = ""
    key: str = ""  # ``message`` as a command-line message with ``words`` (:class:`agent.Worded`); "" without
    words: dict[str, object] | None = None


def merge(central: Sequence[CheckConfig], local: Sequence[CheckConfig]) -> tuple[CheckConfig, ...]:
    """The central checks with the local ones added; a local entry replaces a central one of its name."""
    names = {c.name for c in local}
    return tuple([c for c in central if c.name not in names] + list(local))


def write_secret_file(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically, mode 0600, owned by whoever runs this.

    The temporary file beside it is made here (``O_CREAT | O_EXCL``, mode 0600 from the start), not
    with ``tempfile``, which brings ``shutil``, ``bz2`` and ``lzma`` (about 0.6 MB of an agent).
    """
    target = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{os.urandom(6).hex()}"
        try:
            fd = os.open(tmp, flags, 0o600)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(errno.EEXIST, "no unused temporary file name", str(target.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class Central:
    """The collector's config for this agent: fetched, validated, kept on disk, merged with the local one."""

    def __init__(self, config: AgentConfig, http: Http, *, timeout_s: float = 10.0):
        self.config = config
        self.http = http
        self.timeout_s = timeout_s
        self.path = Path(f"{config.spool}.central.json")
        self.etag: str | None = None
        self.checks: tuple[CheckConfig, ...] = ()
        self._rejected: str | None = None  # the ETag last refused, to say so once

    @property
    def version(self) -> str | None:
        """What the agent reports running (the ETag without quotes), None before any central config."""
        return self.etag

    def effective(self) -> tuple[CheckConfig, ...]:
        return merge(self.checks, self.config.checks)

    # -- the copy on disk ------------------------------------------------------------------

    def load_stored(self) -> bool:
        """Take the last good config kept on disk, if it is for this site and host and still validates."""
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as exc:
            log.warning("central config: the kept copy %s cannot be read (%s); waiting for the collector's",
                        self.path, exc)
            return False
        if not isinstance(doc, dict) or (doc.get("site"), doc.get("host")) != (self.config.site, self.config.host):
            return False
        checks = self._validate(doc.get("checks"), f"{self.path}")
        if checks is None:
            return False
        self.etag, self.checks = str(doc.get("etag") or ""), checks
        log.info("central config %s from the kept copy (fetched %s): %d checks", self.etag,
                 doc.get("fetched_at", "?"), len(checks))
        return True

    def _keep(self, raw: Sequence[Mapping[str, Any]]) -> None:
        doc = {"site": self.config.site, "host": self.config.host, "etag": self.etag,
               "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"), "checks": list(raw)}
        try:
            write_secret_file(self.path, json.dumps(doc, ensure_ascii=False, indent=1))
        except OSError as exc:
            log.error("central config: cannot keep a copy at %s (%s): a restart while the collector is away "
                      "would start without the central checks", self.path, exc.strerror or exc)

    # -- fetching --------------------------------------------------------------------------

    def fetch(self, *, timeout_s: float | None = None) -> Fetched:
        """Ask the collector for this host's config; apply it to ``checks`` if it changed and validates."""
        headers = {"If-None-Match": f'"{self.etag}"'} if self.etag else {}
        url = self.http.url(CONFIG_PATH)
        try:
            got = self.http.exchange("GET", url, timeout=timeout_s or self.timeout_s, headers=headers)
            answer = got.json() if got.status != 304 else None
        except HttpError as exc:
            return Fetched("failed", str(exc), exc.key, exc.words)
        if got.status == 304:
            return Fetched("unchanged")
        if got.status == 404:
            return Fetched("absent", "the collector serves no central config (an older version)")
        if got.status in (401, 403):
            return Fetched("refused", f"HTTP {got.status}: {reason(answer)}", "cli.agent.central_http",
                           {"status": got.status, "reason": said_reason(answer)})
        if got.status != 200 or not isinstance(answer, dict) or not isinstance(answer.get("etag"), str):
            return Fetched("failed", f"HTTP {got.status}: {reason(answer)}", "cli.agent.central_http",
                           {"status": got.status, "reason": said_reason(answer)})
        etag = answer["etag"][:64]
        if etag == self.etag:
            return Fetched("unchanged")
        raw = answer.get("checks")
        checks = self._validate(raw, f"collector config {etag}")
        if checks is None:
            if self._rejected != etag:
                self._rejected = etag
                return Fetched("rejected", f"central config {etag} does not validate here; keeping "
                                           f"{self.etag or 'none'}")
            return Fetched("unchanged")
        assert isinstance(raw, list)
        self.etag, self.checks = etag, checks
        self._keep(raw)
        return Fetched("changed")

    def _validate(self, raw: Any, where: str) -> tuple[CheckConfig, ...] | None:
        problems = Problems(where)
        if not isinstance(raw, list):
            problems.add("checks", "expected a list of check entries", raw)
            checks = []
        else:
            checks = check_entries(problems, "checks", raw)
        if problems.lines:
            from agent.runner import sanitize

            for line in problems.lines[:20]:
                log.error("central config refused: %s", sanitize(line, one_line=True))
            return None
        return tuple(checks)


def _write_token(path: str, text: str) -> None:
    """A new file renamed over the old one; where the directory is read-only to the agent (systemd's
    ProtectSystem with only the token file writable), the file is rewritten in place."""
    try:
        write_secret_file(path, text)
    except PermissionError:
        pass
    except OSError as exc:
        if exc.errno != errno.EROFS:
            raise
    else:
        return
    with open(path, "r+", encoding="utf-8") as fh:
        fh.seek(0)
        fh.write(text)
        fh.truncate()
        fh.flush()
        os.fsync(fh.fileno())


def pick_up_token(http: Http, token_file: str | None, *, timeout_s: float) -> bool:
    """Fetch the successor of a rotated token, keep it in ``token_file`` and use it; True when done."""
    if token_file is None:
        log.error("token rotation: the collector rotated this agent's token, but the config gives it inline "
                  "(collector.token): put the new one there by hand, or use token_file")
        return False
    try:
        got = http.exchange("GET", http.url(TOKEN_PATH), timeout=timeout_s)
        answer = got.json()
    except HttpError as exc:
        log.warning("token rotation: cannot fetch the new token yet: %s", exc)
        return False
    token = answer.get("token") if isinstance(answer, dict) else None
    if got.status != 200 or not isinstance(token, str) or not token or any(c.isspace() for c in token):
        log.warning("token rotation: the collector did not hand over a new token (HTTP %d: %s)", got.status,
                    reason(answer))
        return False
    try:
        _write_token(token_file, token + "\n")
    except OSError as exc:
        log.error("token rotation: cannot write the new token to %s (%s): the agent keeps the old one, which "
                  "works until %s; make the file writable by the agent's user", token_file,
                  exc.strerror or exc, answer.get("old_token_expires_at", "its grace ends"))
        return False
    http.token = token
    log.info("token rotation: new agent token written to %s and in use (the old one works until %s)",
             token_file, answer.get("old_token_expires_at", "?"))
    return True
