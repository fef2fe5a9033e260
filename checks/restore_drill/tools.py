"""Running the engines' client tools (pg_restore, psql, mysql) with a deadline, and feeding them the dump."""

from __future__ import annotations

import glob
import lzma
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from checks.messages import say
from checks.nagios import kill_group
from checks.restore_drill.dumps import DrillError
from checks.result import Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any


def find_tool(names: tuple[str, ...], client_bin: str, which: Callable[[str], str | None]) -> str:
    for name in names:
        if client_bin:
            candidate = os.path.join(client_bin, name)
            if os.access(candidate, os.X_OK):
                return candidate
            continue
        found = which(name)
        if found:
            return found
        for candidate in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True):
            return candidate
    where = client_bin or "PATH"
    raise DrillError(Status.UNKNOWN, say("restore_drill.no_tool", names="/".join(names), where=where,
                                         param="client_bin"))


@dataclass
class Finished:
    returncode: int | None   # None: stopped at the time limit
    stderr: str
    stopped: str = ""        # why the input was stopped early ("several databases ...")
    stopped_status: Status = Status.CRITICAL


def run_tool(argv: list[str], env: Mapping[str, str], deadline: float,
             feed: Iterator[bytes] | None = None) -> Finished:
    """Run ``argv`` in its own process group; ``feed`` streamed to its stdin; killed at ``deadline``."""
    with tempfile.TemporaryFile() as err:
        kwargs: dict[str, Any] = {}
        if sys.platform == "win32":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]  # Windows only
        else:
            kwargs["start_new_session"] = True
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if feed is not None else subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err, env=dict(env), **kwargs)
        stopped: list[tuple[Status, str]] = []

        def write() -> None:
            assert proc.stdin is not None and feed is not None
            try:
                for chunk in feed:
                    if time.monotonic() > deadline:
                        break
                    proc.stdin.write(chunk)
            except BrokenPipeError:
                pass  # the tool stopped on an error: its exit code and stderr say which
            except DrillError as exc:
                stopped.append((exc.status, exc.summary))
                kill_group(proc)
            except (OSError, EOFError, lzma.LZMAError) as exc:
                stopped.append((Status.CRITICAL, say("restore_drill.read_short", error=str(exc))))
                kill_group(proc)
            finally:
                try:
                    proc.stdin.close()
                except OSError:
                    pass

        writer = threading.Thread(target=write, name="restore-feed", daemon=True) if feed is not None else None
        if writer:
            writer.start()
        try:
            code: int | None = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill_group(proc)
            proc.wait(timeout=10)
            code = None
        if writer:
            writer.join(timeout=10)
        err.seek(0)
        text = err.read()[-8192:].decode("utf-8", "replace")
    if stopped:
        return Finished(code or 1, text, stopped[0][1], stopped[0][0])
    return Finished(code, text)


_PG_SKIP = re.compile(rb"^(CREATE DATABASE |ALTER DATABASE |\\connect |\\c |ALTER [^;]* OWNER TO |GRANT |REVOKE )")
_MY_USE = re.compile(rb"^USE `((?:[^`]|``)+)`;")
_MY_CREATE_DB = re.compile(rb"^CREATE DATABASE (?:/\*!\d+ IF NOT EXISTS\*/ )?`((?:[^`]|``)+)`")


def pg_plain_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """A plain pg_dump without what would tie it to the source database (its own CREATE DATABASE,
    ``\\connect``, owners and grants: pg_restore's --no-owner --no-privileges for SQL text)."""
    copying = False
    with stream:
        for line in stream:
            if copying:  # COPY data: never a statement, never filtered
                copying = line != b"\\.\n"
                yield line
                continue
            if line.startswith(b"COPY ") and line.rstrip().endswith(b"FROM stdin;"):
                copying = True
            elif _PG_SKIP.match(line):
                continue
            yield line


def mysql_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """A mysqldump without its ``CREATE DATABASE`` / ``USE`` of the source; several databases stop it."""
    seen: set[bytes] = set()
    with stream:
        for line in stream:
            m = _MY_USE.match(line) or _MY_CREATE_DB.match(line)
            if m:
                seen.add(m.group(1))
                if len(seen) > 1:
                    raise DrillError(Status.UNKNOWN, say("restore_drill.several", names=", ".join(
                        sorted(s.decode("utf-8", "replace") for s in seen))))
                continue
            yield line


