"""http: real HTTP and HTTPS servers on loopback (http.server, certificates made for the test)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks import http
from checks.context import CheckContext
from checks.messages import render
from checks.params import ParamError, parse_params
from checks.result import Result, Status
from tests.checks.tls_server import TlsServers, tls_servers
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServers]:
    yield from tls_servers(tmp_path_factory.mktemp("pki"))


def check(**params) -> Result:
    [r] = http.run(parse_params(http.HttpParams, params), CheckContext())
    Result.from_wire(r.with_origin(site="s", host="h").to_wire())
    return r


def plain(web: TlsServers, path: str = "/") -> str:
    return f"http://127.0.0.1:{web.plain_port}{path}"


def test_http_ok_with_latency_metrics_when_the_page_answers_200(web):
    r = check(url=plain(web), contains="ready")
    assert r.status is Status.OK
    assert r.summary.startswith(f"{plain(web)}: HTTP 200 OK in ") and "'ready' found" in r.summary
    metrics = {m.name: m for m in r.metrics}
    assert set(metrics) == {"response_seconds", "connect_seconds", "first_byte_seconds", "size_bytes",
                            "status_code"}
    assert metrics["response_seconds"].unit == "s" and metrics["response_seconds"].warn == 2
    assert metrics["size_bytes"].value == len("HIS outpatient service: ready \u2713".encode())
    assert r.standard == "HTTP 2xx/3xx in < 2 s, contains 'ready'"
    assert render(r.standard_message, "zh_CN") == "HTTP 2xx/3xx，响应时间 < 2 秒，包含 'ready'"
    assert render(r.message, "zh_CN").startswith(f"{plain(web)}：HTTP 200 OK，用时 ")
    assert render(r.message, "zh_CN").endswith("，已找到 'ready'")


def test_http_critical_when_the_status_is_not_expected(web):
    r = check(url=plain(web, "/missing"))
    assert r.status is Status.CRITICAL
    assert "HTTP 404 Not Found" in r.summary and "expected 2xx/3xx" in r.summary


def test_http_ok_when_an_expected_404_answers(web):
    assert check(url=plain(web, "/missing"), expect=["404"]).status is Status.OK


def test_http_critical_when_the_server_fails_with_500(web):
    assert check(url=plain(web, "/broken")).status is Status.CRITICAL


def test_http_redirect_is_an_answer_unless_followed(web):
    r = check(url=plain(web, "/moved"))
    assert r.status is Status.OK and "HTTP 302" in r.summary
    r = check(url=plain(web, "/moved"), follow_redirects=True, contains="ready")
    assert r.status is Status.OK and "HTTP 200" in r.summary
    assert r.details["redirects"] == [{"url": plain(web, "/moved"), "status": 302}]


def test_http_critical_when_the_body_lacks_the_text(web):
    r = check(url=plain(web), contains="maintenance mode off")
    assert r.status is Status.CRITICAL and "not in the body" in r.summary
    assert r.details["body_start"].startswith("HIS outpatient")


def test_http_warning_then_critical_when_the_answer_is_slow(web):
    assert check(url=plain(web, "/slow"), warn="0.1s", crit="10s").status is Status.WARNING
    assert check(url=plain(web, "/slow"), warn="0.1s", crit="0.2s").status is Status.CRITICAL


def test_http_critical_when_nothing_listens():
    r = check(url=f"http://127.0.0.1:{free_port()}/")
    assert r.status is Status.CRITICAL and "connection refused" in r.summary


def test_http_critical_when_the_server_speaks_tls_to_plain_http(web):
    r = check(url=f"http://127.0.0.1:{web.ports['days40']}/", timeout="2s")
    assert r.status is Status.CRITICAL


def test_https_ok_with_certificate_days_when_trusted(web):
    r = check(url=f"https://localhost:{web.ports['days40']}/", ca_file=str(web.pki.ca_file))
    assert r.status is Status.OK, r.summary
    metrics = {m.name: m for m in r.metrics}
    assert 39.9 < metrics["days_left"].value <= 40 and metrics["days_left"].unit == "d"
    assert r.details["verification"]["outcome"] == "ok"
    assert "certificate expires in 40 days" in r.summary
    assert r.standard.endswith("certificate > 30 days")


def test_https_warning_when_the_certificate_has_20_days_left(web):
    r = check(url=f"https://localhost:{web.ports['days20']}/", ca_file=str(web.pki.ca_file))
    assert r.status is Status.WARNING and "HTTP 200" in r.summary


def test_https_critical_untrusted_with_days_left_when_self_signed(web):
    r = check(url=f"https://localhost:{web.ports['selfsigned']}/")
    assert r.status is Status.CRITICAL
    assert r.details["verification"]["outcome"] == "untrusted"
    assert "no request made" in r.summary
    assert 39 < {m.name: m for m in r.metrics}["days_left"].value <= 40


def test_https_critical_expired_when_the_certificate_expired(web):
    r = check(url=f"https://localhost:{web.ports['expired']}/", ca_file=str(web.pki.ca_file))
    assert r.status is Status.CRITICAL and r.details["verification"]["outcome"] == "expired"


def test_https_answers_when_verification_is_off(web):
    r = check(url=f"https://localhost:{web.ports['selfsigned']}/", verify=False)
    assert r.status is Status.OK and r.details["verification"]["outcome"] == "not_checked"


def test_http_credentials_in_the_url_are_never_shown(web):
    r = check(url=f"http://his:s3cret@127.0.0.1:{web.plain_port}/")
    assert r.status is Status.OK
    assert "s3cret" not in json.dumps(r.with_origin(site="s", host="h").to_wire())


def test_http_secrets_in_the_query_are_never_shown(web):
    r = check(url=plain(web, "/?access_token=s3cret&apikey=k3y&page=1"))
    assert r.status is Status.OK
    wire = json.dumps(r.with_origin(site="s", host="h").to_wire())
    assert "s3cret" not in wire and "k3y" not in wire
    assert r.item.endswith("/?access_token=***&apikey=***&page=1")


def test_http_unknown_when_no_url_is_set():
    r = check()
    assert r.status is Status.UNKNOWN and "set url" in r.summary


def test_http_config_rejects_a_bad_url_and_bad_expectations():
    with pytest.raises(ParamError) as err:
        parse_params(http.HttpParams, {"url": "ftp://x/", "expect": ["2x"]})
    assert "url" in str(err.value) or "expect" in str(err.value)
    with pytest.raises(ParamError, match="expect"):
        parse_params(http.HttpParams, {"expect": ["2x"]})


def test_http_check_command_exits_critical_when_the_page_is_missing(web):
    proc = subprocess.run([sys.executable, "-m", "agent", "check", "http", "--param",
                           f"url={plain(web, '/missing')}", "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert json.loads(proc.stdout)[0]["details"]["status_code"] == 404
