"""certificate: real TLS servers on loopback with certificates made for each case."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks import certificate
from checks._tls import parse_der
from checks.context import CheckContext
from checks.messages import render
from checks.params import ParamError, parse_params
from checks.result import Result, Status
from tests.checks.tls_server import TlsServers, tls_servers
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServers]:
    yield from tls_servers(tmp_path_factory.mktemp("pki"))


def check(tls: TlsServers, name: str, **params) -> Result:
    raw = {"host": "127.0.0.1", "port": tls.ports[name], "server_name": "localhost",
           "ca_file": str(tls.pki.ca_file), **params}
    [r] = certificate.run(parse_params(certificate.CertificateParams, raw), CheckContext())
    Result.from_wire(r.with_origin(site="s", host="h").to_wire())
    return r


def test_certificate_ok_with_days_left_when_40_days_remain(tls):
    r = check(tls, "days40")
    assert r.status is Status.OK
    days = r.metrics[0]
    assert days.name == "days_left" and days.unit == "d" and 39.9 < days.value <= 40
    assert (days.warn, days.crit) == (30, 7)
    assert r.metrics[1].name == "expires_timestamp" and r.metrics[1].unit == "s"
    assert r.standard == "more than 30 days left, trusted"
    assert r.details["verification"]["outcome"] == "ok"
    assert r.details["certificate"]["subject"] == "O=Test Hospital, CN=localhost"
    assert r.item == f"127.0.0.1:{tls.ports['days40']}/localhost"
    assert "expires in 40 days" in r.summary


def test_certificate_warning_when_20_days_remain(tls):
    assert check(tls, "days20").status is Status.WARNING


def test_certificate_critical_when_3_days_remain(tls):
    r = check(tls, "days3")
    assert r.status is Status.CRITICAL and "expires in 3 days" in r.summary


def test_certificate_critical_expired_with_negative_days_when_it_expired_yesterday(tls):
    r = check(tls, "expired")
    assert r.status is Status.CRITICAL
    assert r.details["verification"]["outcome"] == "expired"
    assert "expired 1 days ago" in r.summary
    assert -1.01 < r.metrics[0].value < -0.99


def test_certificate_critical_not_yet_valid_when_it_starts_in_two_days(tls):
    r = check(tls, "notyet")
    assert r.status is Status.CRITICAL
    assert r.details["verification"]["outcome"] == "not_yet_valid"
    assert "not valid until" in r.summary


def test_certificate_critical_hostname_mismatch_when_issued_for_another_name(tls):
    r = check(tls, "wrongname")
    assert r.status is Status.CRITICAL
    assert r.details["verification"]["outcome"] == "hostname"
    assert "hostname mismatch" in r.summary and "intranet.other-hospital.test" in r.summary
    assert 39 < r.metrics[0].value <= 40  # days still reported


def test_certificate_critical_untrusted_but_days_reported_when_self_signed(tls):
    r = check(tls, "selfsigned")
    assert r.status is Status.CRITICAL
    assert r.details["verification"]["outcome"] == "untrusted"
    assert "not trusted" in r.summary and "expires in 40 days" in r.summary
    assert 39 < r.metrics[0].value <= 40


def test_certificate_untrusted_when_the_private_ca_is_not_given(tls):
    r = check(tls, "days40", ca_file="")
    assert r.status is Status.CRITICAL and r.details["verification"]["outcome"] == "untrusted"


def test_certificate_only_dates_judged_when_verify_is_off(tls):
    r = check(tls, "selfsigned", verify=False)
    assert r.status is Status.OK
    assert r.details["verification"]["outcome"] == "not_checked"
    assert r.standard == "more than 30 days left"


def test_certificate_critical_when_the_port_is_closed():
    [r] = certificate.run(certificate.CertificateParams(host="127.0.0.1", port=free_port()), CheckContext())
    assert r.status is Status.CRITICAL and "connection refused" in r.summary


def test_certificate_critical_when_the_server_does_not_speak_tls(tls):
    params = certificate.CertificateParams(host="127.0.0.1", port=tls.plain_port)
    [r] = certificate.run(params, CheckContext())
    assert r.status is Status.CRITICAL and "TLS handshake failed" in r.summary


def test_certificate_unknown_when_no_host_is_set():
    [r] = certificate.run(certificate.CertificateParams(), CheckContext())
    assert r.status is Status.UNKNOWN and "set host" in r.summary


def test_certificate_unknown_when_the_ca_file_is_not_pem(tls, tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    r = check(tls, "days40", ca_file=str(bad))
    assert r.status is Status.UNKNOWN and "ca_file" in r.summary
    assert render(r.message, "zh_CN").startswith(f"{r.item}：ca_file {bad} 无法使用：")


def test_certificate_config_rejects_days_crit_above_days_warn():
    with pytest.raises(ParamError, match="days_crit"):
        parse_params(certificate.CertificateParams, {"days_warn": 7, "days_crit": 30})


def test_certificate_der_reader_agrees_with_cryptography(tls):
    from cryptography import x509

    pem = (tls.pki.dir / "wrongname.pem").read_bytes()
    cert = x509.load_pem_x509_certificate(pem)
    from cryptography.hazmat.primitives.serialization import Encoding
    info = parse_der(cert.public_bytes(Encoding.DER))
    assert info.not_after == cert.not_valid_after_utc and info.not_before == cert.not_valid_before_utc
    assert info.dns_names == ("intranet.other-hospital.test",)
    assert info.issuer == "O=Test Hospital, CN=Test Hospital CA"
    with pytest.raises(ValueError):
        parse_der(b"\x30\x82\x01")


def test_certificate_check_command_warns_when_20_days_remain(tls):
    proc = subprocess.run([sys.executable, "-m", "agent", "check", "certificate", "--param", "host=127.0.0.1",
                           "--param", f"port={tls.ports['days20']}", "--param", "server_name=localhost",
                           "--param", f"ca_file={tls.pki.ca_file}", "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)[0]["metrics"][0]["name"] == "days_left"
