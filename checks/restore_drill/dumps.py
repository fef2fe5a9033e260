"""What the backup file is: its format, compression and source database."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from checks.messages import say
from checks.result import Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any


class DrillError(Exception):
    """The drill cannot go on; ``status`` and ``summary`` say how it ends."""

    def __init__(self, status: Status, summary: str):
        super().__init__(summary)
        self.status, self.summary = status, summary


@dataclass
class Dump:
    format: str                      # "pg_custom", "pg_plain", "mysql", "mssql"
    compression: str = ""            # "", "gzip", "xz", "bzip2"
    database: str = ""               # the source database, where the file says
    host: str = ""                   # the source server, where the file says (mysqldump)


_OPENERS: dict[str, Callable[[str], Any]] = {
    "gzip": lambda p: gzip.open(p, "rb"), "bzip2": lambda p: bz2.open(p, "rb"), "xz": lambda p: lzma.open(p, "rb"),
}


def _compression(head: bytes) -> str:
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh":
        return "bzip2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    return ""


def open_dump(path: str, compression: str) -> IO[bytes]:
    """The dump's bytes, decompressed on the fly."""
    if not compression:
        return open(path, "rb")
    stream: IO[bytes] = _OPENERS[compression](path)
    return stream


_MYSQL_HOST = re.compile(rb"^-- Host: (\S*)\s+Database: (\S*)", re.M)
_PG_CREATE_DB = re.compile(rb"^CREATE DATABASE \"?([^\s\"]+)\"?", re.M)


def identify(path: str) -> Dump:
    """The dump's format and what its header says about the source."""
    with open(path, "rb") as fh:
        raw_head = fh.read(16)
    compression = _compression(raw_head)
    try:
        with open_dump(path, compression) as fh:
            head = fh.read(64 * 1024)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        name = os.path.basename(path)
        raise DrillError(Status.CRITICAL, say("restore_drill.corrupt_compressed", name=name, compression=compression,
                                              error=str(exc)) if compression else
                         say("restore_drill.corrupt_file", name=name, error=str(exc))) from None
    if head.startswith(b"PGDMP"):
        return Dump("pg_custom", compression)
    if head.startswith(b"TAPE"):
        return Dump("mssql", compression)
    if b"-- PostgreSQL database cluster dump" in head[:200]:
        raise DrillError(Status.UNKNOWN, say("restore_drill.dumpall", name=os.path.basename(path),
                                             dumpall="pg_dumpall", dump="pg_dump"))
    if head.startswith(b"--\n-- PostgreSQL database dump") or b"-- PostgreSQL database dump" in head[:200]:
        m = _PG_CREATE_DB.search(head)
        return Dump("pg_plain", compression, database=m.group(1).decode("utf-8", "replace") if m else "")
    if head.startswith((b"-- MySQL dump", b"-- MariaDB dump", b"/*M!999999")):
        m = _MYSQL_HOST.search(head)
        return Dump("mysql", compression, database=m.group(2).decode("utf-8", "replace") if m else "",
                    host=m.group(1).decode("utf-8", "replace") if m else "")
    raise DrillError(Status.UNKNOWN, say("restore_drill.unknown_format", name=os.path.basename(path)))


ENGINE_OF_FORMAT = {"pg_custom": "postgresql", "pg_plain": "postgresql", "mysql": "mysql", "mssql": "sqlserver"}


