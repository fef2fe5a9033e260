"""What every source (apt, dnf/yum, Windows) gives: pending updates, the last install, reboot markers."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from checks.messages import say

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeAlias

Run: TypeAlias = "Callable[..., Any]"  # subprocess.run or a test's stand-in


@dataclass
class Pending:
    """One update that is offered but not installed."""

    name: str
    candidate: str
    security: bool
    source: str = ""               # archive ("Debian-Security:12/stable-security") or advisory id
    installed: str = ""
    published: datetime | None = None  # when the source says it was released
    severity: str = ""


@dataclass
class Inventory:
    manager: str
    pending: list[Pending] | None = None       # None: could not be listed (pending_error says why)
    pending_error: str = ""
    last_update: datetime | None = None
    last_update_what: str = ""
    last_update_source: str = ""
    history_since: datetime | None = None     # the oldest entry of the logs read (when none had an update)
    history_error: str = ""
    lists_updated: datetime | None = None
    lists_what: str = ""
    reboot: bool | None = None
    reboot_since: datetime | None = None
    reboot_evidence: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class SourceError(Exception):
    """The package manager could not be asked; ``message`` says why (a keyed text when ours)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def run_text(run: Run, argv: list[str], timeout: float, env: Mapping[str, str] | None,
              ok: tuple[int, ...] = (0,)) -> tuple[int, str]:
    """``argv``'s exit code and output (stdout then stderr); SourceError when it cannot answer."""
    try:
        proc = run(argv, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL,
                   env=dict(env) if env is not None else None)
    except FileNotFoundError:
        raise SourceError(say("patches.not_installed", tool=os.path.basename(argv[0]))) from None
    except PermissionError:
        raise SourceError(say("patches.denied", tool=argv[0])) from None
    except subprocess.TimeoutExpired:
        raise SourceError(say("patches.no_answer", tool=os.path.basename(argv[0]), timeout=timeout)) from None
    out = proc.stdout.decode("utf-8", "replace") if isinstance(proc.stdout, bytes) else str(proc.stdout or "")
    err = proc.stderr.decode("utf-8", "replace") if isinstance(proc.stderr, bytes) else str(proc.stderr or "")
    if proc.returncode not in ok:
        lines = [ln.strip() for ln in (err or out).splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith(("E:", "Error", "error"))] or lines
        raise SourceError(say("results.tool_failed", command=" ".join(argv[:2]), code=proc.returncode,
                              error=errors[0][:300] if errors else say("results.no_message")))
    return proc.returncode, out + ("\n" + err if err else "")


def c_env(environ: Mapping[str, str]) -> dict[str, str]:
    return {**environ, "LC_ALL": "C", "LANG": "C"}


def local(naive: datetime) -> datetime:
    """A naive local time (as logs write it) made aware, in UTC."""
    return naive.astimezone().astimezone(UTC)


