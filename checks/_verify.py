"""Is a backup file complete?  As far as its format lets us tell without restoring it.

========================= ===================================================
format (by magic or name) test
========================= ===================================================
gzip / bzip2 / xz         decompress the whole stream (CRC and length checked
                          by the library) within a time budget; a compressed
                          SQL dump is then also checked for its trailer
mysqldump / mariadb-dump  ends with ``-- Dump completed`` (written unless
                          ``--skip-comments``); newer mariadb-dump files start
                          with a ``/*M!999999\\- enable the sandbox mode */`` line
pg_dump plain SQL         ends with ``-- PostgreSQL database dump complete``
pg_dump custom (PGDMP)    ``pg_restore --list`` (the table of contents), then
                          ``pg_restore -f <null>`` reads every data block
zip                       the central directory at the end of the file opens
SQL Server ``.bak``       starts with the Microsoft Tape Format ``TAPE`` block;
                          the contents need ``RESTORE VERIFYONLY`` (not here)
anything else             not verified
========================= ===================================================

The answer is a :class:`Verification`: ``ok`` True (complete), False
(incomplete or corrupt: the caller makes it CRITICAL) or None (could not be
verified, with the reason).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import subprocess
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

from checks.messages import say

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

__all__ = ["Verification", "verify_file"]

CHUNK = 1 << 20
TAIL = 4096
_MYSQL_HEADS = (b"-- MySQL dump", b"-- MariaDB dump")
#: mariadb-dump since 10.5.25 / 10.6.18 / 10.11.8 (May 2024) starts with this line, then its header
_MARIADB_SANDBOX = b"/*M!999999"
_MYSQL_TRAILER = b"-- Dump completed"
_PG_HEAD = b"-- PostgreSQL database dump"
_PG_TRAILER = b"-- PostgreSQL database dump complete"
_PG_RESTORE_DIRS = ("/usr/lib/postgresql/*/bin",)


@dataclass(frozen=True)
class Verification:
    ok: bool | None
    text: str  # "gzip intact", "corrupt gzip: ...", "not verified: ...": a keyed text (say)


def _ok(text: str) -> Verification:
    return Verification(True, text)


def _bad(text: str) -> Verification:
    return Verification(False, text)


def _unverified(why: str) -> Verification:
    return Verification(None, say("verify.not_verified", why=why))


def find_pg_restore() -> str | None:
    """``pg_restore`` on PATH, else the newest Debian/Ubuntu PostgreSQL install."""
    found = shutil.which("pg_restore")
    if found:
        return found
    import glob
    for pattern in _PG_RESTORE_DIRS:
        candidates = sorted(glob.glob(os.path.join(pattern, "pg_restore")), reverse=True)
        if candidates:
            return candidates[0]
    return None


def verify_file(path: str, *, budget_s: float,
                pg_restore: Callable[[], str | None] = find_pg_restore,
                run: Callable[..., Any] = subprocess.run) -> Verification:
    """Test one backup file; never raises for the file's own faults."""
    deadline = time.monotonic() + budget_s
    name = os.path.basename(path).lower()
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
            fh.seek(0)
            if head[:2] == b"\x1f\x8b":
                return _stream(gzip.GzipFile(fileobj=fh, mode="rb"), fh, "gzip", name, deadline, budget_s)
            if head[:3] == b"BZh":
                return _stream(bz2.BZ2File(fh), fh, "bzip2", name, deadline, budget_s)
            if head[:6] == b"\xfd7zXZ\x00":
                return _stream(lzma.LZMAFile(fh), fh, "xz", name, deadline, budget_s)
            if name.endswith((".gz", ".tgz")):
                return _bad(say("verify.no_gzip_header"))
            if head[:5] == b"PGDMP":
                return _pg_custom(path, deadline, pg_restore, run)
            if head[:4] == b"PK\x03\x04" or name.endswith(".zip"):
                return _zip(fh)
            if head[:4] == b"TAPE":
                return _ok(say("verify.mtf"))
            if name.endswith(".bak"):
                return _bad(say("verify.not_mtf"))
            if _sql_head(head).startswith(_MYSQL_HEADS + (_PG_HEAD,)) or name.endswith(".sql"):
                fh.seek(max(0, os.fstat(fh.fileno()).st_size - TAIL))  # only the end matters
                return _sql_trailer(head, fh.read(TAIL), name)
    except OSError as exc:
        return _unverified(say("verify.unreadable", error=exc.strerror or str(exc)))
    return _unverified(say("verify.no_test"))


def _sql_head(head: bytes) -> bytes:
    """The dump's header, after mariadb-dump's sandbox-mode line."""
    if head.startswith(_MARIADB_SANDBOX):
        return head.partition(b"\n")[2]
    return head


def _sql_trailer(head: bytes, tail: bytes, name: str) -> Verification:
    head = _sql_head(head)
    if head.startswith(_MYSQL_HEADS):
        if _MYSQL_TRAILER in tail.rstrip()[-200:]:
            return _ok(say("verify.dump_complete"))
        return _bad(say("verify.incomplete_dump", marker=_MYSQL_TRAILER.decode()))
    if head.startswith(_PG_HEAD):
        if _PG_TRAILER in tail.rstrip()[-200:]:
            return _ok(say("verify.dump_complete"))
        return _bad(say("verify.incomplete_dump", marker=_PG_TRAILER.decode()))
    if _MYSQL_TRAILER in tail[-200:]:
        return _ok(say("verify.dump_complete"))
    return _unverified(say("verify.sql_no_header"))


def _stream(reader: io.BufferedIOBase, raw: IO[bytes], kind: str, name: str, deadline: float,
            budget_s: float) -> Verification:
    """Decompress everything; the library checks CRC and length at the end."""
    first = b""
    tail = b""
    total = 0
    try:
        with reader:
            while True:
                if time.monotonic() > deadline:
                    return _unverified(say("verify.stopped", kind=kind, budget=budget_s, read=raw.tell()))
                chunk = reader.read(CHUNK)
                if not chunk:
                    break
                if total == 0:
                    first = chunk[:512]
                total += len(chunk)
                tail = (tail + chunk)[-TAIL:]
    except EOFError:
        return _bad(say("verify.truncated", kind=kind))
    except (OSError, lzma.LZMAError, ValueError) as exc:
        # gzip.BadGzipFile and zlib.error; CRC or length mismatch
        return _bad(say("verify.corrupt", kind=kind, error=str(exc)))
    inner = name.rsplit(".", 1)[0]
    if _sql_head(first).startswith(_MYSQL_HEADS + (_PG_HEAD,)):
        sql = _sql_trailer(first, tail, inner)
        return Verification(sql.ok, say("verify.intact_and", kind=kind, then=sql.text) if sql.ok is not None
                            else sql.text)
    return _ok(say("verify.intact", kind=kind))


def _zip(fh: IO[bytes]) -> Verification:
    try:
        with zipfile.ZipFile(fh) as z:
            n = len(z.infolist())
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return _bad(say("verify.corrupt", kind="zip", error=str(exc)))
    return _ok(say("verify.zip_intact", n=n))


def _pg_custom(path: str, deadline: float, pg_restore: Callable[[], str | None],
               run: Callable[..., Any]) -> Verification:
    tool = pg_restore()
    if not tool:
        return _unverified(say("verify.no_pg_restore", tool="pg_restore"))
    # --list reads the table of contents; a full run to the null device reads every
    # data block, which is what finds a dump cut off in its data.
    for args, what in (([tool, "--list", path], "verify.part.toc"),
                       ([tool, "--file", os.devnull, path], "verify.part.data")):
        left = deadline - time.monotonic()
        if left <= 0:
            return _unverified(say("verify.no_time", tool="pg_restore"))
        try:
            proc = run(args, capture_output=True, timeout=left, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return _unverified(say("verify.pg_slow", tool="pg_restore", what=what))
        except OSError as exc:
            return _unverified(say("verify.cannot_run", tool="pg_restore", error=exc.strerror or str(exc)))
        if proc.returncode != 0:
            err = (proc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
            reason = err[-1][:200] if err else say("verify.exit_code", code=proc.returncode)
            return _bad(say("verify.pg_corrupt", what=what, reason=reason))
    return _ok(say("verify.pg_reads", tool="pg_restore"))
