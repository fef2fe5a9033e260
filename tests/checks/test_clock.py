"""clock: a real SNTP server on a loopback UDP port that answers with a deliberate offset."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from checks import _sntp, clock
from checks.catalogue import get_check
from checks.context import CheckContext
from checks.messages import render
from checks.params import ParamError, parse_params
from checks.result import Result, Status

REPO = Path(__file__).resolve().parents[2]
PACKET = struct.Struct("!BBbbII4sQQQQ")


@dataclass
class Behaviour:
    offset_s: float = 0.0  # how far the server's clock is ahead of ours
    stratum: int = 2
    leap: int = 0
    kiss: str = ""  # answer with stratum 0 and this code
    silent: bool = False  # never answer
    wrong_origin: bool = False  # answer someone else's request


class SntpServer:
    """Answers client requests like an NTP server whose clock is ``offset_s`` ahead."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.behaviour = Behaviour()
        self.requests = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            b = self.behaviour
            self.requests += 1
            if b.silent or len(data) < 48:
                continue
            first = data[0]
            version, mode = (first >> 3) & 7, first & 7
            if mode != 3:
                continue
            received = time.time() + b.offset_s
            transmit_in = PACKET.unpack(data[:48])[10]
            origin = transmit_in ^ 1 if b.wrong_origin else transmit_in
            stratum = 0 if b.kiss else b.stratum
            ref = b.kiss.encode().ljust(4, b"\0") if b.kiss else socket.inet_aton("127.0.0.9")
            reply = PACKET.pack(b.leap << 6 | version << 3 | 4, stratum, 6, -20, 0, 0, ref,
                                _sntp.to_ntp(received - 30), origin, _sntp.to_ntp(received),
                                _sntp.to_ntp(time.time() + b.offset_s))
            self.sock.sendto(reply, peer)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture(scope="module")
def ntp() -> Iterator[SntpServer]:
    server = SntpServer()
    yield server
    server.stop()


@pytest.fixture
def behave(ntp: SntpServer):
    def set_(**kw) -> None:
        ntp.behaviour = Behaviour(**kw)
    yield set_
    ntp.behaviour = Behaviour()


def check(ntp: SntpServer, ctx: CheckContext | None = None, **params) -> list[Result]:
    raw = {"server": "127.0.0.1", "port": ntp.port, "timeout": "1s", **params}
    results = clock.run(parse_params(clock.ClockParams, raw), ctx or CheckContext())
    for r in results:
        Result.from_wire(r.with_origin(site="s", host="h").to_wire())
    return results


def test_clock_ok_when_the_ntp_server_agrees(ntp, behave):
    behave(offset_s=0.0)
    [r] = check(ntp)
    assert r.status is Status.OK and r.item == f"127.0.0.1:{ntp.port}"
    offset = r.metrics[0]
    assert offset.name == "offset_seconds" and offset.unit == "s" and abs(offset.value) < 0.05
    assert (offset.warn, offset.crit) == (60, 300)
    assert r.standard == "offset < 60 s"
    assert {m.name for m in r.metrics} == {"offset_seconds", "delay_seconds", "stratum"}


def test_clock_warning_behind_when_the_server_is_90_s_ahead(ntp, behave):
    behave(offset_s=90.0)
    [r] = check(ntp)
    assert r.status is Status.WARNING
    assert r.metrics[0].value == pytest.approx(90, abs=0.05)
    assert "behind" in r.summary and "90 s" in r.summary


def test_clock_critical_ahead_when_this_clock_runs_400_s_fast(ntp, behave):
    behave(offset_s=-400.0)
    [r] = check(ntp)
    assert r.status is Status.CRITICAL
    assert r.metrics[0].value == pytest.approx(-400, abs=0.05) and "ahead of" in r.summary


def test_clock_warning_when_the_ntp_server_is_unsynchronised(ntp, behave):
    behave(leap=3)
    [r] = check(ntp)
    assert r.status is Status.WARNING and "not synchronised itself (leap indicator 3)" in r.summary


def test_clock_unknown_when_the_server_sends_a_kiss_of_death(ntp, behave):
    behave(kiss="RATE")
    [r] = check(ntp)
    assert r.status is Status.UNKNOWN and "kiss-o'-death 'RATE'" in r.summary
    zh = render(r.message, "zh_CN")  # keyed: a Chinese reader reads it in Chinese (issue 14)
    assert zh is not None and zh.endswith("：NTP 服务器发来拒绝服务码 'RATE'（要求降低查询频率）")


def test_clock_critical_when_the_ntp_server_does_not_answer(ntp, behave):
    behave(silent=True)
    [r] = check(ntp, timeout="0.3s")
    assert r.status is Status.CRITICAL and "no answer from the NTP server within 300 ms" in r.summary


def test_clock_ignores_answers_to_other_requests_when_the_origin_does_not_match(ntp, behave):
    behave(wrong_origin=True)
    [r] = check(ntp, timeout="0.3s")
    assert r.status is Status.CRITICAL and "no answer" in r.summary


def test_clock_critical_when_nothing_serves_ntp_on_the_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    [r] = clock.run(clock.ClockParams(server="127.0.0.1", port=port, timeout=1.0), CheckContext())
    assert r.status is Status.CRITICAL and "port unreachable" in r.summary


def test_clock_judges_the_collector_offset_when_the_agent_knows_it():
    [r] = clock.run(clock.ClockParams(), CheckContext(collector_offset_s=-75.0))
    assert r.item == "collector" and r.status is Status.WARNING
    assert r.summary == "this clock is 75 s ahead of the collector"


def test_clock_reports_both_sources_when_server_and_collector_are_known(ntp, behave):
    behave(offset_s=0.0)
    results = check(ntp, CheckContext(collector_offset_s=400.0))
    assert [(r.item, r.status) for r in results] == [(f"127.0.0.1:{ntp.port}", Status.OK),
                                                     ("collector", Status.CRITICAL)]


def test_clock_unknown_with_how_to_configure_when_there_is_no_source():
    [r] = clock.run(clock.ClockParams(), CheckContext())
    assert r.status is Status.UNKNOWN and "set server" in r.summary


def test_clock_gets_the_collector_offset_from_the_agent_runner():
    from agent.runner import CheckRun, Runner

    spec = get_check("clock")
    runner = Runner("site", "host", clock_offset=lambda: 0.4)
    [r] = runner.run(CheckRun(spec=spec, params=spec.params(), timeout_s=10))
    assert r.item == "collector" and r.status is Status.OK and r.metrics[0].value == 0.4


def test_clock_config_rejects_warn_above_crit():
    with pytest.raises(ParamError, match="warn"):
        parse_params(clock.ClockParams, {"warn": "10m", "crit": "1m"})


def test_sntp_timestamps_round_trip_when_converted():
    now = time.time()
    assert _sntp.from_ntp(_sntp.to_ntp(now)) == pytest.approx(now, abs=1e-6)
    assert _sntp.from_ntp(5 << 32) == 2085978496 + 5  # era 1: 5 s after 2036-02-07 06:28:16 UTC


def test_clock_check_command_reports_the_ntp_offset(ntp, behave):
    behave(offset_s=120.0)
    proc = subprocess.run([sys.executable, "-m", "agent", "check", "clock", "--param", "server=127.0.0.1",
                           "--param", f"port={ntp.port}", "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    [wire] = json.loads(proc.stdout)
    assert wire["metrics"][0]["value"] == pytest.approx(120, abs=0.1)
