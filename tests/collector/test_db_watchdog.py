"""The watchdog that cuts a PostgreSQL connection held past its deadline (collector/store/db.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from collector.store.db import _Watchdog


class Conn:
    """What the watchdog needs of a driver connection: its socket's descriptor."""

    def __init__(self) -> None:
        self.ours, self.server = socket.socketpair()

    def fileno(self) -> int:
        return self.ours.fileno()

    def cut(self, within: float) -> bool:
        """True if our side was shut down (the server side reads EOF) within ``within`` seconds."""
        self.server.settimeout(within)
        try:
            return self.server.recv(1) == b""
        except TimeoutError:
            return False


class CountingEvent(threading.Event):
    def __init__(self) -> None:
        super().__init__()
        self.sets = 0

    def set(self) -> None:
        self.sets += 1
        super().set()


@pytest.fixture
def conns() -> Iterator[list[Conn]]:
    made: list[Conn] = []
    yield made
    for c in made:
        c.ours.close()
        c.server.close()


def test_a_connection_held_past_its_deadline_is_cut_while_others_stay(conns):
    dog = _Watchdog()
    short, long_ = Conn(), Conn()
    conns += [short, long_]
    dog.arm(long_, 30)
    dog.arm(short, 0.05)
    assert short.cut(within=5)
    assert not long_.cut(within=0.3)


def test_extending_in_the_same_checkout_moves_the_deadline(conns):
    dog = _Watchdog()
    c = Conn()
    conns.append(c)
    dog.arm(c, 0.05)  # the ping's deadline
    dog.extend(c, 30)  # the ping answered: the hold's deadline
    assert not c.cut(within=0.5)
    dog.disarm(c)
    assert not c.cut(within=0.1)


def test_a_busy_watchdog_is_not_woken_by_every_checkout(conns):
    """Arming wakes the thread from its idle sleep only: 100 checkouts, one wake-up (not 200)."""
    dog = _Watchdog()
    dog._wake = wake = CountingEvent()
    first = Conn()
    conns.append(first)
    dog.arm(first, 30)
    deadline = time.monotonic() + 5
    while dog._until == float("inf") and time.monotonic() < deadline:  # the thread took its first look
        time.sleep(0.01)
    for _ in range(100):
        c = Conn()
        conns.append(c)
        dog.arm(c, 1)
        dog.extend(c, 6)
        dog.disarm(c)
    assert wake.sets == 1
    dog.arm(short := Conn(), 0.05)
    conns.append(short)
    assert short.cut(within=5)


def test_an_idle_watchdog_wakes_for_the_next_arm(conns):
    dog = _Watchdog()
    a = Conn()
    conns.append(a)
    dog.arm(a, 30)
    dog.disarm(a)
    deadline = time.monotonic() + 5
    while dog._until != float("inf") and time.monotonic() < deadline:  # idle again after its tick
        time.sleep(0.01)
    b = Conn()
    conns.append(b)
    dog.arm(b, 0.05)
    assert b.cut(within=5)
