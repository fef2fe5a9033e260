"""The ingest counters of ``serve --workers N``, kept in shared memory: every worker's ``/metrics`` shows them all.

The ingest counter and histogram (``wardround_ingest_results_total``, ``wardround_ingest_batch_seconds``)
are the only families a collector counts in memory; everything else ``/metrics`` serves is read from
the database.  With several workers a scrape is answered by whichever worker accepted the connection,
so each worker's own counts went backwards and forwards from one scrape to the next.

:func:`shared_directory` (the serving parent, around uvicorn's supervisor) makes a private directory;
each worker process (spawned by uvicorn: it inherits the directory's name in :data:`SHARED_ENV`)
claims one **slot** there with :class:`SharedIngest`: a small file, mapped into memory, that only it
writes: a sequence number, the count of each outcome, the batches in each bucket of the histogram
and the histogram's sum.  A scrape reads every slot in the directory and adds them up.

* **Claims**: a worker holds an exclusive ``flock`` on its slot's file for as long as it lives; the
  kernel releases it when the process ends, however it ends.  A new worker takes the first slot
  nobody holds, or makes a new one: a worker that replaces a dead one goes on counting from where
  the dead one's slot stood, so no counter goes backwards (slots are never emptied, only added to).
* **Writes**: one process a slot; the process's threads take turns on a lock of its own (uncontended:
  ~0.1 µs).  A batch's histogram fields are written between two increments of the sequence number
  (odd while writing): a scrape that read an odd or changed number reads the slot again, so the
  ``+Inf`` bucket, ``_count`` and ``_sum`` of a slot are of the same batches.
* **Reads**: each slot's values only grow, so a scrape's sum is never below the one before.  A slot
  whose worker was killed in the middle of a batch (its number stays odd; nobody holds the slot) is
  read as it stands, and its next owner evens the number.

A single-process ``serve`` does not use this: its counters are prometheus_client's, as they were.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import mmap
import os
import struct
import tempfile
import threading
import time
from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from collector.metrics.exports import INGEST_BATCH, INGEST_BUCKETS, INGEST_RESULTS, OUTCOMES
from collector.metrics.text import number

__all__ = ["SHARED_ENV", "SharedIngest", "shared_directory"]

#: names the slots' directory to the worker processes (set by the serving parent)
SHARED_ENV = "WARDROUND_COLLECTOR_SHARED_METRICS"

_PREFIX = "slot-"
# a slot: sequence number, one count per outcome, one count per bucket (+Inf last, not cumulative), sum
_OUTCOME_AT = {outcome: 1 + i for i, outcome in enumerate(OUTCOMES)}
_BUCKET_AT = 1 + len(OUTCOMES)
_SUM_AT = _BUCKET_AT + len(INGEST_BUCKETS) + 1
_FIELDS = _SUM_AT + 1
_SIZE = 8 * _FIELDS
_SLOT = struct.Struct(f"={_FIELDS}d")
_SEQ = struct.Struct("=d")
_READ_WAIT = 1.0  # s: a writer holds the sequence odd for a microsecond (or while the OS or the GIL pauses it)


@contextlib.contextmanager
def shared_directory() -> Iterator[str]:
    """A new private directory (mode 0700) for the workers' slots, named to the worker processes in
    :data:`SHARED_ENV`; afterwards the directory, its slots and the name are gone."""
    with tempfile.TemporaryDirectory(prefix="wardround-metrics-") as directory:
        os.environ[SHARED_ENV] = directory
        try:
            yield directory
        finally:
            os.environ.pop(SHARED_ENV, None)


class SharedIngest:
    """This worker's slot in ``directory`` (claimed for the process's lifetime), and the sum of all slots."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.name, self._mm = _claim(directory)
        self._values = (ctypes.c_double * _FIELDS).from_buffer(self._mm)
        if self._values[0] % 2:  # the slot's last owner was killed in the middle of a batch
            self._values[0] += 1
        self._lock = threading.Lock()
        self._maps: dict[str, tuple[mmap.mmap, int | None]] = {self.name: (self._mm, None)}  # fd: another's

    def observe(self, outcome: str, count: int) -> None:
        if count:
            with self._lock:
                self._values[_OUTCOME_AT[outcome]] += count

    def time_batch(self, seconds: float) -> None:
        at = _BUCKET_AT + bisect_left(INGEST_BUCKETS, seconds)  # a bucket counts what is <= its bound
        values = self._values
        with self._lock:
            values[0] += 1  # odd: being written
            values[at] += 1
            values[_SUM_AT] += seconds
            values[0] += 1

    def totals(self) -> list[float]:
        """Every slot's values added up (the sequence number's place holds the number of slots)."""
        total = [0.0] * _FIELDS
        for mm, fd in self._slots():
            values = _read(mm, fd)
            for i in range(1, _FIELDS):
                total[i] += values[i]
            total[0] += 1
        return total

    def collect(self) -> Iterator[Metric]:
        """The two families, as prometheus_client writes its own Counter and Histogram (a registry calls it)."""
        total = self.totals()
        name, help = INGEST_RESULTS
        results = CounterMetricFamily(name, help, labels=["outcome"])
        for outcome, at in _OUTCOME_AT.items():
            results.add_metric([outcome], total[at])
        yield results
        cumulative = 0.0
        buckets = []
        for i, bound in enumerate((*INGEST_BUCKETS, float("inf"))):
            cumulative += total[_BUCKET_AT + i]
            buckets.append((number(bound), cumulative))  # as prometheus_client writes its bounds
        name, help = INGEST_BATCH
        yield HistogramMetricFamily(name, help, buckets=buckets, sum_value=total[_SUM_AT])

    def _slots(self) -> list[tuple[mmap.mmap, int | None]]:
        """Every slot's map, this worker's and the others' (mapped read-only on first sight, with an open
        descriptor to ask whether its worker is alive)."""
        for entry in os.scandir(self.directory):
            if entry.name.startswith(_PREFIX) and entry.name not in self._maps:
                found = _map(entry.path)
                if found is not None:
                    self._maps[entry.name] = found
        return list(self._maps.values())


def _claim(directory: str) -> tuple[str, mmap.mmap]:
    """The first slot nobody holds (or a new one), locked by this process until it ends, and its map."""
    n = 0
    while True:
        name = f"{_PREFIX}{n}"
        fd = os.open(os.path.join(directory, name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            n += 1
            continue
        if os.fstat(fd).st_size < _SIZE:
            os.ftruncate(fd, _SIZE)  # zeros
        # the lock lives as long as the descriptor: it stays open (and locked) for the process's life
        return name, mmap.mmap(fd, _SIZE)


def _map(path: str) -> tuple[mmap.mmap, int] | None:
    """Another worker's slot, read-only, and its descriptor (kept open); None while it is being made (its
    size not yet set)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    if os.fstat(fd).st_size < _SIZE:
        os.close(fd)
        return None
    return mmap.mmap(fd, _SIZE, prot=mmap.PROT_READ), fd


def _read(mm: mmap.mmap, fd: int | None) -> tuple[float, ...]:
    """A slot's values, all of the same batches: read again while its writer is in the middle of one.  A
    slot whose worker died mid-batch (nobody holds it: ``fd``, another's slot) or stays in the middle of
    one for :data:`_READ_WAIT` seconds is read as it stands (its next owner evens the number)."""
    deadline = 0.0
    while True:
        seq = _SEQ.unpack_from(mm)[0]
        values: tuple[float, ...] = _SLOT.unpack_from(mm)
        if seq % 2 == 0 and _SEQ.unpack_from(mm)[0] == seq:
            return values
        if not deadline:
            deadline = time.monotonic() + _READ_WAIT
        elif time.monotonic() > deadline or (fd is not None and _unheld(fd)):
            return values
        time.sleep(0)  # its writer (a thread of this process, or another worker) finishes the batch


def _unheld(fd: int) -> bool:
    """Whether no worker holds the slot (it died): a shared lock is granted, and let go at once."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True
