"""``wardround-agent enrol``: join a site with an enrolment key; write the config and the token file.

1. The arguments are checked before anything is sent (URL, host name, roles, CA file, where
   the files go); a config that exists already is kept unless ``--replace``.
2. ``POST /api/v1/enrol`` with the key as Bearer token and the host's name, roles and facts
   (OS and version, kernel, architecture, addresses, agent version) — never a secret.
3. The agent token the collector answers (once) is written to ``agent.token`` beside the
   config, mode 0600, owned by the invoking user or ``--user`` (Windows: an ACL for SYSTEM,
   the service account and Administrators); then the config (no ``checks:``: the checks come
   from the collector's fleet file), checked by the agent's own config loader.

Exit codes: 0 enrolled; 1 the collector refused (a used-up, expired, revoked or unknown key,
a host enrolled already) or could not be reached; 2 a usage error.  ``wardround-agent run
--config PATH`` then patrols.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from agent import Worded, __version__
from agent.central import write_secret_file
from agent.config import collector_url_problem, default_spool_path, load_config, proxy_url_problem
from agent.http import Http, HttpError, reason, said_reason
from checks.entries import is_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["EnrolFailed", "EnrolRequest", "EnrolUsage", "enrol", "facts"]

ENROL_PATH = "/api/v1/enrol"
TOKEN_NAME = "agent.token"


class EnrolFailed(Worded):
    """The collector refused, or could not be reached (exit code 1); :class:`agent.Worded`."""


class EnrolUsage(ValueError):
    """A bad argument (exit code 2); ``problems``: each one, keyed where it has a command-line message
    (``checks.messages.reader.cli_said``), for the reader's language."""

    def __init__(self, text: str, problems: list[str] | None = None) -> None:
        super().__init__(text)
        self.problems = problems if problems is not None else [text]


@dataclass(frozen=True)
class EnrolRequest:
    url: str
    key: str
    config: Path
    host: str
    roles: tuple[str, ...] = ()
    ca_file: str | None = None
    spool: str | None = None
    replace: bool = False
    proxy: str | None = None
    proxy_credentials_file: str | None = None
    user: str | None = None
    timeout_s: float = 30.0
    host_given: bool = True  # False: ``host`` is this machine's name (no --host)


def facts() -> dict[str, Any]:
    """What the collector's inventory shows about this machine (no secret, nothing slow)."""
    out: dict[str, Any] = {"os": platform.system(), "kernel": platform.release(), "arch": platform.machine(),
                           "hostname": socket.gethostname(), "agent_version": __version__,
                           "python": platform.python_version(), "os_version": _os_version()}
    try:
        import psutil

        ips = [a.address.split("%")[0] for addrs in psutil.net_if_addrs().values() for a in addrs
               if a.family in (socket.AF_INET, socket.AF_INET6)]
        out["ips"] = [ip for ip in dict.fromkeys(ips) if ip not in ("127.0.0.1", "::1")
                      and not ip.startswith("fe80:")][:32]
    except (ImportError, OSError):
        out["ips"] = []
    return out


def _os_version() -> str:
    if sys.platform == "win32":
        return f"Windows {platform.version()}"
    try:
        release = platform.freedesktop_os_release()
    except OSError:
        return platform.platform()
    return release.get("PRETTY_NAME") or release.get("NAME", platform.platform())


# The agent's messages name its config keys; enrol's user typed options, which enrol writes there.
_OPTIONS = (("collector.proxy_credentials_file", "--proxy-credentials-file"), ("collector.ca_file", "--ca-file"),
            ("collector.proxy", "--proxy"), ("collector.url", "--url"))


def _as_typed(message: str) -> str:
    """``message`` naming the enrol options the user typed instead of the config keys they become (a keyed
    text's words too, so it is still told in the reader's language)."""
    from checks.messages import Said

    if isinstance(message, Said):
        from checks.result import Message

        args = {k: _as_typed(v) if isinstance(v, str) else v for k, v in message.message.args.items()}
        return Said(_as_typed(str.__str__(message)), Message(message.message.key, args))
    for key, option in _OPTIONS:
        message = message.replace(key, option)
    return message


def _check(req: EnrolRequest) -> None:
    from checks.messages.reader import cli_said  # each problem keyed, said in the reader's language

    problems = []
    if (p := collector_url_problem(req.url)) is not None:
        problems.append(cli_said("cli.agent.option_problem", option="--url", problem=p))
    if not req.key.strip() or any(c.isspace() for c in req.key.strip()):
        problems.append(cli_said("cli.agent.enrol_key_form", option="--key"))
    if not is_name(req.host):  # the name typed, or this machine's (then: give --host)
        problems.append(cli_said("cli.agent.enrol_name", option="--host", got=repr(req.host)) if req.host_given
                        else cli_said("cli.agent.enrol_host", option="--host", got=repr(req.host), give="--host NAME"))
    for role in req.roles:
        if not is_name(role):
            problems.append(cli_said("cli.agent.enrol_name", option="--role", got=repr(role)))
    if req.ca_file is not None and not os.access(req.ca_file, os.R_OK):
        problems.append(cli_said("cli.agent.enrol_cannot_read", option="--ca-file", path=req.ca_file))
    if req.proxy is not None and (p := proxy_url_problem(req.proxy)) is not None:
        problems.append(cli_said("cli.agent.option_problem", option="--proxy", problem=_as_typed(p)))
    if req.proxy_credentials_file is not None and not os.access(req.proxy_credentials_file, os.R_OK):
        problems.append(cli_said("cli.agent.enrol_cannot_read", option="--proxy-credentials-file",
                                 path=req.proxy_credentials_file))
    parent = req.config.parent
    if not parent.is_dir():
        problems.append(cli_said("cli.agent.enrol_no_directory", option="--config", path=str(parent)))
    elif not req.replace:
        for path in (req.config, parent / TOKEN_NAME):
            if path.exists():
                problems.append(cli_said("cli.agent.enrol_exists", option="--config", path=str(path),
                                         replace="--replace"))
    if req.user is not None and os.name == "posix":
        import pwd

        try:
            pwd.getpwnam(req.user)
        except KeyError:
            problems.append(cli_said("cli.agent.enrol_no_user", option="--user", user=repr(req.user)))
    if problems:
        raise EnrolUsage("; ".join(problems), problems)


def _proxy_credentials(path: str | None) -> str | None:
    if path is None:
        return None
    text = Path(path).read_text(encoding="utf-8").strip()
    if ":" not in text or any(c.isspace() for c in text):
        raise EnrolUsage(f"--proxy-credentials-file: expected user:password on one line ({path})")
    return text


def enrol(req: EnrolRequest) -> dict[str, Any]:
    """Enrol this machine; the collector's answer without the token (see the module docstring)."""
    _check(req)
    base = req.url.strip().rstrip("/")
    http = Http(base, "", ca_file=req.ca_file, proxy=req.proxy,
                proxy_credentials=_proxy_credentials(req.proxy_credentials_file))
    body = json.dumps({"host": req.host, "roles": list(req.roles), "facts": facts(), "replace": req.replace})
    try:
        got = http.exchange("POST", http.url(ENROL_PATH), timeout=req.timeout_s, data=body.encode(),
                            headers={"Content-Type": "application/json"}, token=req.key.strip())
        answer = got.json()
    except HttpError as exc:
        words = {k: _as_typed(v) if isinstance(v, str) else v for k, v in exc.words.items()}
        raise EnrolFailed(_as_typed(str(exc)), exc.key, **words) from None
    if got.status != 200 or not isinstance(answer, dict) or not isinstance(answer.get("token"), str):
        hint = (": check --url, the collector's address without a path (https://collector.example:8480)"
                if got.status == 404 else "")
        raise EnrolFailed(f"the collector refused the enrolment (HTTP {got.status}): {reason(answer)}{hint}",
                          "cli.agent.enrol_not_found" if got.status == 404 else "cli.agent.enrol_refused",
                          status=got.status, reason=said_reason(answer), option="--url",
                          example="https://collector.example:8480")
    token = answer["token"]
    token_path = req.config.parent / TOKEN_NAME
    write_secret_file(token_path, token + "\n")
    _own(token_path, req.user)
    write_secret_file(req.config, _config_text(req, answer, token_path))
    _own(req.config, req.user)
    load_config(req.config, need_collector=True, owner=_uid(req.user))  # what the agent will read: it must load
    return {k: v for k, v in answer.items() if k != "token"} | {"token_file": str(token_path)}


def _config_text(req: EnrolRequest, answer: dict[str, Any], token_path: Path) -> str:
    collector: dict[str, str] = {"url": req.url.strip().rstrip("/"), "token_file": str(token_path.resolve())}
    if req.ca_file is not None:
        collector["ca_file"] = str(Path(req.ca_file).resolve())
    if req.proxy is not None:
        collector["proxy"] = req.proxy.strip()
    if req.proxy_credentials_file is not None:
        collector["proxy_credentials_file"] = str(Path(req.proxy_credentials_file).resolve())
    lines = [
        f"# Written by wardround-agent enrol {__version__}: site {answer.get('site')}, host {req.host}.",
        "# The checks come from the collector's fleet file (wardround-collector fleet apply); add a local",
        "# checks: list to run more, or to replace a central check of the same name.",
        f"site: {json.dumps(answer.get('site'))}",
        f"host: {json.dumps(req.host)}",
        "collector:",
        *[f"  {k}: {json.dumps(v)}" for k, v in collector.items()],
        f"spool: {json.dumps(str(Path(req.spool).resolve()) if req.spool else default_spool_path())}",
    ]
    return "\n".join(lines) + "\n"


def _own(path: Path, user: str | None) -> None:
    """The file belongs to ``user`` (or the invoking user) alone; on Windows an ACL says so."""
    if sys.platform == "win32":  # written against icacls' documentation; not run in the tests here
        import subprocess

        grants = ["*S-1-5-18:F", "*S-1-5-32-544:F"]  # SYSTEM (the service account of WinSW) and Administrators
        if user:
            grants.append(f"{user}:F")
        subprocess.run(["icacls", str(path), "/inheritance:r", "/grant:r", *grants], check=True,
                       capture_output=True, timeout=30)
        return
    if user is not None:
        import pwd

        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    os.chmod(path, 0o600)


def _uid(user: str | None) -> int | None:
    """The uid of ``--user`` (POSIX), whose the files enrol wrote are; None: whoever runs enrol."""
    if user is None or os.name != "posix":
        return None
    import pwd

    return pwd.getpwnam(user).pw_uid
