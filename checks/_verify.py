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
from typing import IO, Any

from checks._units import format_bytes

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
    text: str  # "gzip intact", "corrupt gzip: ...", "not verified: ..."


def _ok(text: str) -> Verification:
    return Verification(True, text)


def _bad(text: str) -> Verification:
    return Verification(False, text)


def _unverified(why: str) -> Verification:
    return Verification(None, f"not verified: {why}")


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
                return _bad("corrupt gzip: no gzip header")
            if head[:5] == b"PGDMP":
                return _pg_custom(path, deadline, pg_restore, run)
            if head[:4] == b"PK\x03\x04" or name.endswith(".zip"):
                return _zip(fh)
            if head[:4] == b"TAPE":
                return _ok("MTF header present (contents need RESTORE VERIFYONLY)")
            if name.endswith(".bak"):
                return _bad("not a SQL Server backup: no Microsoft Tape Format 'TAPE' header")
            if _sql_head(head).startswith(_MYSQL_HEADS + (_PG_HEAD,)) or name.endswith(".sql"):
                fh.seek(max(0, os.fstat(fh.fileno()).st_size - TAIL))  # only the end matters
                return _sql_trailer(head, fh.read(TAIL), name)
    except OSError as exc:
        return _unverified(f"cannot read the file ({exc.strerror or exc})")
    return _unverified("no completeness test for this format")


def _sql_head(head: bytes) -> bytes:
    """The dump's header, after mariadb-dump's sandbox-mode line."""
    if head.startswith(_MARIADB_SANDBOX):
        return head.partition(b"\n")[2]
    return head


def _sql_trailer(head: bytes, tail: bytes, name: str) -> Verification:
    head = _sql_head(head)
    if head.startswith(_MYSQL_HEADS):
        if _MYSQL_TRAILER in tail.rstrip()[-200:]:
            return _ok("dump complete")
        return _bad("incomplete dump: no '-- Dump completed' line at the end (truncated?)")
    if head.startswith(_PG_HEAD):
        if _PG_TRAILER in tail.rstrip()[-200:]:
            return _ok("dump complete")
        return _bad("incomplete dump: no '-- PostgreSQL database dump complete' line at the end (truncated?)")
    if _MYSQL_TRAILER in tail[-200:]:
        return _ok("dump complete")
    return _unverified("SQL file without a mysqldump or pg_dump header")


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
                    return _unverified(f"{kind} test stopped after {budget_s:g} s "
                                       f"({format_bytes(raw.tell())} read)")
                chunk = reader.read(CHUNK)
                if not chunk:
                    break
                if total == 0:
                    first = chunk[:512]
                total += len(chunk)
                tail = (tail + chunk)[-TAIL:]
    except EOFError:
        return _bad(f"corrupt {kind}: the file ends before the end of the compressed stream (truncated)")
    except (OSError, lzma.LZMAError, ValueError) as exc:
        # gzip.BadGzipFile and zlib.error; CRC or length mismatch
        return _bad(f"corrupt {kind}: {exc}")
    inner = name.rsplit(".", 1)[0]
    if _sql_head(first).startswith(_MYSQL_HEADS + (_PG_HEAD,)):
        sql = _sql_trailer(first, tail, inner)
        return Verification(sql.ok, f"{kind} intact, {sql.text}" if sql.ok is not None else sql.text)
    return _ok(f"{kind} intact")


def _zip(fh: IO[bytes]) -> Verification:
    try:
        with zipfile.ZipFile(fh) as z:
            n = len(z.infolist())
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return _bad(f"corrupt zip: {exc}")
    return _ok(f"zip directory intact ({n} entries; contents not tested)")


def _pg_custom(path: str, deadline: float, pg_restore: Callable[[], str | None],
               run: Callable[..., Any]) -> Verification:
    tool = pg_restore()
    if not tool:
        return _unverified("pg_restore not installed")
    # --list reads the table of contents; a full run to the null device reads every
    # data block, which is what finds a dump cut off in its data.
    for args, what in (([tool, "--list", path], "table of contents"),
                       ([tool, "--file", os.devnull, path], "data")):
        left = deadline - time.monotonic()
        if left <= 0:
            return _unverified("no time left to run pg_restore")
        try:
            proc = run(args, capture_output=True, timeout=left, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return _unverified(f"pg_restore did not finish reading the {what} in time")
        except OSError as exc:
            return _unverified(f"pg_restore could not run ({exc.strerror or exc})")
        if proc.returncode != 0:
            err = (proc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
            reason = err[-1] if err else f"exit code {proc.returncode}"
            return _bad(f"corrupt pg_dump archive ({what}): {reason[:200]}")
    return _ok("pg_restore reads it")
