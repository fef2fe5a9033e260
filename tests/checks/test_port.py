"""port: real sockets on loopback — a listener, a closed port, a listener whose backlog is full."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks import port
from checks.context import CheckContext
from checks.params import ParamError, parse_params
from checks.result import Result, Status
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]


def check(**params) -> Result:
    [r] = port.run(parse_params(port.PortParams, params), CheckContext())
    Result.from_wire(r.with_origin(site="s", host="h").to_wire())
    return r


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as srv:
        yield srv.getsockname()[1]


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A listener that never accepts and whose queue is full: the kernel drops further SYNs."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    number = srv.getsockname()[1]
    held = []
    for _ in range(3):
        c = socket.socket()
        c.settimeout(0.3)
        try:
            c.connect(("127.0.0.1", number))
        except TimeoutError:
            pass
        held.append(c)
    yield number
    for c in held:
        c.close()
    srv.close()


def test_port_ok_with_connect_time_when_a_real_listener_accepts(listener):
    r = check(host="127.0.0.1", port=listener)
    assert r.status is Status.OK and r.item == f"127.0.0.1:{listener}"
    connect = r.metrics[0]
    assert connect.name == "connect_seconds" and connect.unit == "s"
    assert 0 <= connect.value < 1 and (connect.warn, connect.crit) == (1, 3)
    assert r.standard == "connects in < 1 s"
    assert r.details["address"] == "127.0.0.1"


def test_port_resolves_names_when_host_is_localhost(listener):
    r = check(host="localhost", port=listener)
    assert r.status is Status.OK
    assert r.metrics[1].name == "resolve_seconds"


def test_port_warning_when_the_handshake_reaches_warn(listener):
    r = check(host="127.0.0.1", port=listener, warn=0, crit=60)
    assert r.status is Status.WARNING and "slow" in r.summary


def test_port_critical_when_the_handshake_reaches_crit(listener):
    r = check(host="127.0.0.1", port=listener, warn=0, crit=0)
    assert r.status is Status.CRITICAL


def test_port_critical_refused_when_nothing_listens():
    r = check(host="127.0.0.1", port=free_port())
    assert r.status is Status.CRITICAL
    assert "connection refused" in r.summary
    assert r.metrics[0].value is None


def test_port_critical_no_answer_when_the_server_never_answers_the_handshake(full_backlog):
    r = check(host="127.0.0.1", port=full_backlog, timeout="0.5s")
    assert r.status is Status.CRITICAL
    assert "no answer within 500 ms" in r.summary
    assert r.details["attempts"] == [{"address": "127.0.0.1", "error": "timeout"}]


def test_port_critical_cannot_resolve_when_dns_fails():
    # the system resolver would ask a real DNS server; the seam keeps the test on this machine
    def no_such_name(host, number):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    [r] = port.run(port.PortParams(host="his-db-99.hospital.invalid", port=1433), CheckContext(),
                   resolve=no_such_name)
    assert r.status is Status.CRITICAL
    assert r.summary == "cannot resolve his-db-99.hospital.invalid: Name or service not known"


def test_port_tries_the_next_address_when_the_first_refuses(listener):
    closed = free_port()
    infos = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", closed)),
             (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", listener))]
    [r] = port.run(port.PortParams(host="his-db", port=1433), CheckContext(),
                   resolve=lambda h, p: infos)
    assert r.status is Status.OK
    assert r.details["failed_attempts"][0]["error"] == "ECONNREFUSED"


def test_port_unknown_with_how_to_configure_when_host_or_port_is_missing():
    r = check(port=1433)
    assert r.status is Status.UNKNOWN and "set host and port" in r.summary


def test_port_config_rejects_a_port_out_of_range_and_warn_above_crit():
    with pytest.raises(ParamError) as err:
        parse_params(port.PortParams, {"port": 70000})
    assert "port" in str(err.value)
    with pytest.raises(ParamError, match="warn"):
        parse_params(port.PortParams, {"warn": "5s", "crit": "1s"})


def test_port_check_command_reports_the_listener(listener):
    proc = subprocess.run([sys.executable, "-m", "agent", "check", "port", "--param", "host=127.0.0.1",
                           "--param", f"port={listener}", "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    [wire] = json.loads(proc.stdout)
    assert wire["check"] == "port" and wire["status"] == 0
