"""The system's CA store without ``collector.ca_file`` (agent.http.system_trust): the hashed CA
directory, read one certificate at a time, instead of the whole bundle file parsed into memory;
trust stays exactly ``ssl.create_default_context()``'s.  A real TLS server (FakeCollector) and
real certificates (openssl); the system store is pointed at test directories with OpenSSL's own
``SSL_CERT_DIR`` / ``SSL_CERT_FILE``."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.http import Http, HttpError, system_trust
from tests.agent.helpers import FakeCollector
from tests.agent.test_sender import _self_signed
from tests.conftest import missing


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``collector``: the server's self-signed certificate (valid for IP 127.0.0.1 only) and key;
    ``hashed``: a CA directory trusting it, as ``c_rehash`` leaves one; ``stranger``: a hashed
    directory trusting another certificate only; ``unhashed``: a directory holding a bundle only
    (RHEL's ``/etc/pki/tls/certs``)."""
    if shutil.which("openssl") is None:
        missing("openssl", "needed for certificates and `openssl rehash`")
    tmp = tmp_path_factory.mktemp("trust")
    cert, key = _self_signed(tmp, "collector")
    other, _ = _self_signed(tmp, "someone-else")
    out = {"cert": cert, "key": key, "other": other}
    for name, trusted in (("hashed", cert), ("stranger", other)):
        d = tmp / name
        d.mkdir()
        shutil.copy(trusted, d / "trusted.pem")
        subprocess.run(["openssl", "rehash", str(d)], check=True, capture_output=True, timeout=60)
        assert any(p.name.endswith(".0") for p in d.iterdir())
        out[name] = d
    (tmp / "unhashed").mkdir()
    shutil.copy(cert, tmp / "unhashed" / "ca-bundle.crt")
    out["unhashed"] = tmp / "unhashed"
    return out


@pytest.fixture(scope="module")
def collector(certs: dict[str, Path]) -> Iterator[FakeCollector]:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(certs["cert"], certs["key"])
    fake = FakeCollector().start(tls=tls)
    yield fake
    fake.stop()


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The system store as OpenSSL finds it, for this test only (no proxy either)."""
    for name in ("SSL_CERT_DIR", "SSL_CERT_FILE", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def push(url: str, ca_file: str | None = None) -> tuple[Http, int]:
    http = Http(url, "tok", ca_file=ca_file)
    got = http.exchange("POST", http.url("/api/v1/results"), timeout=10, data=b'{"results": []}',
                        headers={"Content-Type": "application/json"})
    return http, got.status


def refused(url: str, ca_file: str | None = None) -> str:
    with pytest.raises(HttpError) as caught:
        push(url, ca_file)
    return str(caught.value)


def test_a_hashed_ca_directory_is_used_alone_and_verifies_strictly(
        certs: dict[str, Path], collector: FakeCollector, store: pytest.MonkeyPatch) -> None:
    store.setenv("SSL_CERT_DIR", str(certs["hashed"]))
    context, lazy = system_trust()
    assert lazy and context.cert_store_stats()["x509_ca"] == 0  # nothing parsed before a handshake
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    http, status = push(collector.url)
    assert status == 200 and http._lazy_trust  # the directory sufficed: the bundle was never loaded
    # the same certificate, asked for by a name it does not carry: refused, no retry needed
    said = refused(collector.url.replace("127.0.0.1", "localhost"))
    assert "TLS certificate verification failed" in said and "host name" in said


def test_an_unknown_ca_is_refused_after_the_whole_system_store_was_tried(
        certs: dict[str, Path], collector: FakeCollector, store: pytest.MonkeyPatch) -> None:
    store.setenv("SSL_CERT_DIR", str(certs["stranger"]))
    received = len(collector.seen)
    http = Http(collector.url, "tok")
    with pytest.raises(HttpError, match="TLS certificate verification failed"):
        http.exchange("POST", http.url("/api/v1/results"), timeout=10, data=b"{}")
    assert not http._lazy_trust  # retried with create_default_context(): the system's bundle too
    assert http._context().cert_store_stats()["x509_ca"] > 0
    assert len(collector.seen) == received  # nothing was sent to an unverified server


def test_an_issuer_only_in_the_bundle_file_is_found_by_the_retry(
        certs: dict[str, Path], collector: FakeCollector, store: pytest.MonkeyPatch) -> None:
    """The hashed directory lacks the issuer, the system's bundle file has it: trusted, as before."""
    store.setenv("SSL_CERT_DIR", str(certs["stranger"]))
    store.setenv("SSL_CERT_FILE", str(certs["cert"]))  # the bundle create_default_context() loads
    assert system_trust()[1]
    http, status = push(collector.url)
    assert status == 200 and not http._lazy_trust  # found by the retry with the whole store


def test_an_explicit_ca_file_is_all_that_is_trusted(
        certs: dict[str, Path], collector: FakeCollector, store: pytest.MonkeyPatch) -> None:
    store.setenv("SSL_CERT_DIR", str(certs["hashed"]))  # the system would trust the collector
    assert push(collector.url, ca_file=str(certs["cert"]))[1] == 200
    said = refused(collector.url, ca_file=str(certs["other"]))
    assert "TLS certificate verification failed" in said


@pytest.mark.parametrize("where", ["missing", "unhashed", "windows"])
def test_without_a_hashed_directory_the_whole_store_is_loaded_as_before(
        where: str, certs: dict[str, Path], collector: FakeCollector, store: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    store.setenv("SSL_CERT_DIR", str({"missing": tmp_path / "none", "unhashed": certs["unhashed"]}
                                     .get(where, certs["hashed"])))
    store.setenv("SSL_CERT_FILE", str(certs["cert"]))  # the system's bundle file: loaded whole
    if where == "windows":  # its certificate store, through load_default_certs as before
        store.setattr(sys, "platform", "win32")
        store.setattr(ssl.SSLContext, "_load_windows_store_certs", lambda self, name, purpose: None,
                      raising=False)
    context, lazy = system_trust()
    assert not lazy
    assert context.cert_store_stats()["x509_ca"] == 1  # parsed at once, before any handshake
    if where != "windows":  # (the Windows store itself cannot be read here)
        assert push(collector.url)[1] == 200
        store.setenv("SSL_CERT_FILE", str(certs["other"]))
        assert "TLS certificate verification failed" in refused(collector.url)
