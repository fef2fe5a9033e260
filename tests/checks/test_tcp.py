"""tcp: the port check under its network name — same body, results named ``tcp``."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from checks import port, tcp
from checks.catalogue import CATALOGUE
from checks.context import CheckContext
from checks.params import parse_params
from checks.result import Status
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]


def test_tcp_shares_the_port_parameters_when_registered_under_both_names():
    assert CATALOGUE["tcp"].params is CATALOGUE["port"].params is port.PortParams


def test_tcp_results_are_named_tcp_when_a_listener_accepts():
    with socket.create_server(("127.0.0.1", 0)) as srv:
        params = parse_params(tcp.TcpParams, {"host": "127.0.0.1", "port": srv.getsockname()[1]})
        [r] = tcp.run(params, CheckContext())
    assert r.check == "tcp" and r.status is Status.OK


def test_tcp_critical_when_the_port_is_closed():
    [r] = tcp.run(tcp.TcpParams(host="127.0.0.1", port=free_port()), CheckContext())
    assert r.check == "tcp" and r.status is Status.CRITICAL and "refused" in r.summary


def test_tcp_warning_when_slower_than_warn():
    with socket.create_server(("127.0.0.1", 0)) as srv:
        [r] = tcp.run(tcp.TcpParams(host="127.0.0.1", port=srv.getsockname()[1], warn=0), CheckContext())
    assert r.status is Status.WARNING


def test_tcp_unknown_when_no_host_is_set():
    [r] = tcp.run(tcp.TcpParams(), CheckContext())
    assert r.status is Status.UNKNOWN


def test_tcp_check_command_exits_critical_when_the_port_is_closed():
    proc = subprocess.run([sys.executable, "-m", "agent", "check", "tcp", "--param", "host=127.0.0.1",
                           "--param", f"port={free_port()}", "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert json.loads(proc.stdout)[0]["check"] == "tcp"
