"""Log files: the new lines since the last run, across rotation, matched against the patterns."""

from __future__ import annotations

import glob
import hashlib
import os
import re
from collections.abc import MutableMapping
from dataclasses import dataclass, field

from checks._params.logscan import LINE_SHOWN, MAX_SHOWN, NAME, LogscanParams
from checks.messages import fit_summary, say
from checks.result import Metric, Result, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

HEAD_BYTES = 256


@dataclass
class _Scan:
    lines: int = 0
    critical: list[str] = field(default_factory=list)
    warning: list[str] = field(default_factory=list)
    critical_count: int = 0
    warning_count: int = 0
    capped: bool = False

    def feed(self, raw: bytes, params: LogscanParams) -> None:
        warn_re, crit_re, ignore_re = (tuple(re.compile(p) for p in ps) for ps in
                                       (params.patterns, params.critical_patterns, params.ignore))
        for line in raw.decode(params.encoding, errors="replace").splitlines():
            self.lines += 1
            if any(r.search(line) for r in ignore_re):
                continue
            if any(r.search(line) for r in crit_re):
                self.critical_count += 1
                if len(self.critical) < MAX_SHOWN:
                    self.critical.append(line[:LINE_SHOWN])
            elif any(r.search(line) for r in warn_re):
                self.warning_count += 1
                if len(self.warning) < MAX_SHOWN:
                    self.warning.append(line[:LINE_SHOWN])


def _head_hash(fh: BinaryIO, size: int) -> tuple[str, int]:
    fh.seek(0)
    head = fh.read(min(size, HEAD_BYTES))
    return hashlib.sha256(head).hexdigest(), len(head)


def _read_lines(fh: BinaryIO, offset: int, budget_lines: int, budget_bytes: int,
                to_end: bool) -> tuple[bytes, int, bool]:
    """Complete lines from ``offset``: (bytes, new offset, capped).

    ``to_end``: also take a last line without a newline (the file will not grow).
    """
    fh.seek(offset)
    data = fh.read(budget_bytes + 1)
    capped = len(data) > budget_bytes
    data = data[:budget_bytes]
    end = data.rfind(b"\n") + 1
    if to_end and not capped:
        end = len(data)
    data = data[:end]
    # the line budget
    count = 0
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        nxt = len(data) if nl < 0 else nl + 1
        count += 1
        if count > budget_lines:
            capped = True
            break
        pos = nxt
    data = data[:pos]
    return data, offset + len(data), capped


def _find_rotated(path: str, inode: int, dev: int) -> str | None:
    """The renamed old file, found by its inode beside the new one."""
    candidates = [f"{path}.1", *sorted(glob.glob(glob.escape(path) + "[.-]*"))]
    for cand in candidates:
        if cand.endswith((".gz", ".bz2", ".xz", ".zst", ".zip")):
            continue
        try:
            st = os.stat(cand)
        except OSError:
            continue
        if st.st_ino == inode and st.st_dev == dev:
            return cand
    return None


def scan_file(params: LogscanParams, state: MutableMapping[str, Any]) -> Result:
    path = params.path
    standard = _file_standard(params)
    item = path
    previous = state.get("file")
    if not isinstance(previous, dict) or previous.get("path") != path:
        previous = None
    try:
        fh = open(path, "rb")  # noqa: SIM115 (closed below, after the stat)
    except OSError as exc:
        return Result(check=NAME, item=item, status=Status.UNKNOWN, standard=standard,
                      summary=say("results.cannot_read", what=path, error=exc.strerror or str(exc)))
    with fh:
        st = os.fstat(fh.fileno())
        head, head_len = _head_hash(fh, st.st_size)
        scan = _Scan()
        notes: list[str] = []
        if previous is None and not params.from_start:
            state["file"] = {"path": path, "inode": st.st_ino, "dev": st.st_dev, "offset": st.st_size,
                             "head": head, "head_len": head_len}
            return _file_result(item, standard, scan, [say("logscan.first_run", size=st.st_size)])
        offset = 0
        if previous is not None:
            offset = int(previous.get("offset", 0))
            same_file = previous.get("inode") == st.st_ino and previous.get("dev") == st.st_dev
            if not same_file:
                old = _find_rotated(path, int(previous.get("inode", -1)), int(previous.get("dev", -1)))
                if old is not None:
                    try:
                        with open(old, "rb") as ofh:
                            data, _, capped = _read_lines(ofh, offset, params.max_lines, params.max_bytes,
                                                          to_end=True)
                        scan.feed(data, params)
                        scan.capped |= capped
                        notes.append(say("logscan.rotated", old=os.path.basename(old)))
                    except OSError as exc:
                        notes.append(say("logscan.rotated_unreadable", old=old, error=str(exc.strerror)))
                else:
                    notes.append(say("logscan.rotated_gone"))
                offset = 0
            elif st.st_size < offset:
                notes.append(say("logscan.truncated", size=st.st_size, offset=offset))
                offset = 0
            elif previous.get("head_len", 0) and head_len >= previous["head_len"] \
                    and hashlib.sha256(_peek(fh, previous["head_len"])).hexdigest() != previous.get("head"):
                notes.append(say("logscan.rewritten"))
                offset = 0
        budget_lines = max(1, params.max_lines - scan.lines)
        budget_bytes = params.max_bytes
        data, new_offset, capped = _read_lines(fh, offset, budget_lines, budget_bytes, to_end=False)
        scan.feed(data, params)
        scan.capped |= capped
        if scan.capped:
            notes.append(say("logscan.capped", lines=params.max_lines, size=params.max_bytes))
        state["file"] = {"path": path, "inode": st.st_ino, "dev": st.st_dev, "offset": new_offset,
                         "head": head, "head_len": head_len}
    return _file_result(item, standard, scan, notes)


def _peek(fh: BinaryIO, n: int) -> bytes:
    fh.seek(0)
    return fh.read(n)


def _file_standard(params: LogscanParams) -> str:
    n = len(params.patterns) + len(params.critical_patterns)
    return say("logscan.standard_one" if n == 1 else "logscan.standard", n=n)


def _file_result(item: str, standard: str, scan: _Scan, notes: list[str]) -> Result:
    # the matched line is data: an argument, quoted as Python quotes it
    if scan.critical_count:
        status = Status.CRITICAL
        n = scan.critical_count
        head = say("logscan.critical_one" if n == 1 else "logscan.critical", n=n, line=repr(scan.critical[0]))
    elif scan.warning_count:
        status = Status.WARNING
        n = scan.warning_count
        head = say("logscan.matching_one" if n == 1 else "logscan.matching", n=n, line=repr(scan.warning[0]))
    else:
        status = Status.OK
        head = say("logscan.none_one" if scan.lines == 1 else "logscan.none", n=scan.lines)
    if scan.critical_count and scan.warning_count:
        head = say("logscan.and_warning", head=head, n=scan.warning_count)
    summary = say("logscan.item", item=item, head=head)
    if notes:
        summary = say("results.joined", parts=[summary, *notes])
    return Result(
        check=NAME, item=item, status=status, standard=standard, summary=fit_summary(summary),
        metrics=(Metric("lines", float(scan.lines), "count", min=0),
                 Metric("critical_matches", float(scan.critical_count), "count", crit=1, min=0),
                 Metric("warning_matches", float(scan.warning_count), "count", warn=1, min=0)),
        details={"critical": scan.critical, "warning": scan.warning, "notes": [str.__str__(n) for n in notes]},
    )


