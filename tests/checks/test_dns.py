"""dns: a real tiny DNS responder on a loopback UDP port, and the system resolver on ``localhost``."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks import dns
from checks.context import CheckContext
from checks.params import ParamError, parse_params
from checks.result import Result, Status

REPO = Path(__file__).resolve().parents[2]

ZONE: dict[str, list[tuple[int, str]]] = {
    "his-db.hospital.test": [(1, "10.20.0.5")],
    "his-web.hospital.test": [(5, "web-lb.hospital.test"), (1, "10.20.0.8"), (1, "10.20.0.9")],
    "pacs.hospital.test": [(28, "fd00::5")],
}


def _name(data: bytes, pos: int) -> tuple[str, int]:
    labels = []
    while data[pos]:
        labels.append(data[pos + 1:pos + 1 + data[pos]].decode())
        pos += 1 + data[pos]
    return ".".join(labels).lower(), pos + 1


def _encode(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


class DnsResponder:
    """Answers A/AAAA queries from ZONE; special names fail in chosen ways."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
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
            qid = data[:2]
            name, end = _name(data, 12)
            qtype = struct.unpack("!H", data[end:end + 2])[0]
            question = data[12:end + 4]
            if name == "silent.hospital.test":
                continue
            if name == "slow.hospital.test":
                time.sleep(0.3)
                name = "his-db.hospital.test"
            if name == "servfail.hospital.test":
                self.sock.sendto(qid + struct.pack("!HHHHH", 0x8182, 1, 0, 0, 0) + question, peer)
                continue
            if name == "stray.hospital.test":  # first a packet for another query id
                self.sock.sendto(bytes([qid[0] ^ 0xFF, qid[1]]) + data[2:], peer)
                name = "his-db.hospital.test"
            records = ZONE.get(name)
            if records is None:
                self.sock.sendto(qid + struct.pack("!HHHHH", 0x8183, 1, 0, 0, 0) + question, peer)
                continue
            answers = b""
            count = 0
            for rtype, value in records:
                if rtype == 5:
                    rdata = _encode(value)
                elif rtype == qtype == 1:
                    rdata = socket.inet_aton(value)
                elif rtype == qtype == 28:
                    rdata = socket.inet_pton(socket.AF_INET6, value)
                else:
                    continue
                # owner: a compression pointer to the question's name at offset 12
                answers += b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, 300, len(rdata)) + rdata
                count += 1
            self.sock.sendto(qid + struct.pack("!HHHHH", 0x8180, 1, count, 0, 0) + question + answers, peer)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture(scope="module")
def responder() -> Iterator[DnsResponder]:
    r = DnsResponder()
    yield r
    r.stop()


def ask(responder: DnsResponder, name: str, **params) -> Result:
    raw = {"name": name, "server": "127.0.0.1", "port": responder.port, "timeout": "1s", **params}
    [r] = dns.run(parse_params(dns.DnsParams, raw), CheckContext())
    Result.from_wire(r.with_origin(site="s", host="h").to_wire())
    return r


def test_dns_ok_with_latency_when_the_server_answers(responder):
    r = ask(responder, "his-db.hospital.test", expect=["10.20.0.5"])
    assert r.status is Status.OK and r.item == "his-db.hospital.test@127.0.0.1"
    assert r.details["addresses"] == ["10.20.0.5"]
    assert r.metrics[0].name == "resolve_seconds" and r.metrics[0].unit == "s" and r.metrics[0].value < 1
    assert r.standard == "resolves in < 1 s to 10.20.0.5"


def test_dns_follows_cnames_when_the_name_is_an_alias(responder):
    r = ask(responder, "his-web.hospital.test", expect=["10.20.0.9", "10.20.0.8"])
    assert r.status is Status.OK and r.details["cnames"] == ["web-lb.hospital.test"]


def test_dns_aaaa_records_when_asked_for_ipv6(responder):
    r = ask(responder, "pacs.hospital.test", record="AAAA")
    assert r.status is Status.OK and r.details["addresses"] == ["fd00::5"]


def test_dns_critical_missing_and_unexpected_when_addresses_differ(responder):
    r = ask(responder, "his-web.hospital.test", expect=["10.20.0.8", "10.20.0.7"])
    assert r.status is Status.CRITICAL
    assert r.details["missing"] == ["10.20.0.7"] and r.details["unexpected"] == ["10.20.0.9"]


def test_dns_critical_when_the_name_does_not_exist(responder):
    r = ask(responder, "his-dbb.hospital.test")
    assert r.status is Status.CRITICAL and "NXDOMAIN" in r.summary


def test_dns_critical_when_there_is_no_record_of_the_type(responder):
    r = ask(responder, "his-db.hospital.test", record="AAAA")
    assert r.status is Status.CRITICAL and "no AAAA record" in r.summary


def test_dns_critical_when_the_server_fails(responder):
    r = ask(responder, "servfail.hospital.test")
    assert r.status is Status.CRITICAL and "SERVFAIL" in r.summary


def test_dns_critical_when_the_server_does_not_answer(responder):
    r = ask(responder, "silent.hospital.test", timeout="0.3s")
    assert r.status is Status.CRITICAL and "no answer from 127.0.0.1 within 300 ms" in r.summary


def test_dns_ignores_stray_packets_when_waiting_for_its_answer(responder):
    assert ask(responder, "stray.hospital.test").status is Status.OK


def test_dns_warning_when_resolving_is_slow(responder):
    assert ask(responder, "slow.hospital.test", warn="0.1s", crit="5s").status is Status.WARNING
    assert ask(responder, "slow.hospital.test", warn="0.1s", crit="0.2s").status is Status.CRITICAL


def test_dns_system_resolver_ok_when_resolving_localhost():
    [r] = dns.run(parse_params(dns.DnsParams, {"name": "localhost", "expect": ["127.0.0.1"]}), CheckContext())
    assert r.status is Status.OK and r.item == "localhost"


def test_dns_system_resolver_critical_when_localhost_is_not_the_expected_address():
    [r] = dns.run(parse_params(dns.DnsParams, {"name": "localhost", "expect": ["10.0.0.1"]}), CheckContext())
    assert r.status is Status.CRITICAL and "unexpected 127.0.0.1" in r.summary


def test_dns_unknown_when_no_name_is_set():
    [r] = dns.run(dns.DnsParams(), CheckContext())
    assert r.status is Status.UNKNOWN and "set name" in r.summary


def test_dns_config_rejects_bad_records_and_addresses():
    with pytest.raises(ParamError) as err:
        parse_params(dns.DnsParams, {"record": "MX"})
    assert "record" in str(err.value)
    with pytest.raises(ParamError, match="expect"):
        parse_params(dns.DnsParams, {"expect": ["his-db"]})


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_dns_answer_parser_only_raises_value_error_when_given_arbitrary_bytes(data):
    try:
        dns.parse_answer(data, int.from_bytes(data[:2] or b"\0\0", "big"), 1)
    except ValueError:
        pass


def test_dns_check_command_resolves_localhost():
    proc = subprocess.run([sys.executable, "-m", "agent", "check", "dns", "--param", "name=localhost",
                           "--param", "expect=127.0.0.1", "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["details"]["addresses"] == ["127.0.0.1"]
