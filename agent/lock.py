"""One agent per spool: an exclusive OS lock on ``<spool>.lock`` held for the process's life.

The lock is the operating system's (``flock`` on POSIX, ``LockFileEx`` through
``msvcrt.locking`` on Windows), so it disappears with its holder: a process
killed with SIGKILL (or a power cut) leaves nothing that blocks the next start.
The holder writes its PID into the file so that a second process can say whom
it is waiting for.  The file itself stays; deleting a lock file races with
the next process that opens it.
"""

from __future__ import annotations

import os
import sys
import time

__all__ = ["LockHeld", "ProcessLock"]

#: Windows locks a byte range; lock one byte far past the PID text so others can still read it.
_WIN_LOCK_OFFSET = 1 << 20


class LockHeld(Exception):
    """Another process holds the lock; ``pid`` is its PID when it could be read."""

    def __init__(self, path: str, pid: int | None):
        self.path = path
        self.pid = pid
        super().__init__(f"{path} is locked by {'PID ' + str(pid) if pid else 'another process'}")


class ProcessLock:
    """An exclusive, non-blocking lock on ``path`` (created 0600 if missing)."""

    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock(self._fd)
        except OSError:
            os.close(self._fd)
            self._fd = None
            raise LockHeld(path, _read_pid(path)) from None
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        fd, self._fd = getattr(self, "_fd", None), None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the lock

    def __del__(self) -> None:
        self.release()


def _read_pid(path: str) -> int | None:
    # The holder writes its PID right after it takes the lock: give it a moment.
    for _ in range(5):
        try:
            with open(path, encoding="ascii", errors="replace") as fh:
                text = fh.read(32).strip()
        except OSError:
            return None
        if text.isdigit():
            return int(text)
        time.sleep(0.02)
    return None


if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int) -> None:
        os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
