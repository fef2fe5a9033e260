"""Test PKI and TLS servers on loopback: a private CA, leaf certificates with chosen lifetimes.

Certificates are made with ``cryptography`` (a test dependency only; the
agent reads certificates with the standard library). Each server completes
the TLS handshake and then serves HTTP (``http.server``), so the same
servers back the ``certificate`` and ``http`` tests.
"""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test Hospital"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Pki:
    dir: Path
    ca_file: Path
    _ca_key: ec.EllipticCurvePrivateKey
    _ca_cert: x509.Certificate

    @classmethod
    def create(cls, where: Path) -> Pki:
        key = ec.generate_private_key(ec.SECP256R1())
        ca_name = _name("Test Hospital CA")
        cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(NOW - dt.timedelta(days=365)).not_valid_after(NOW + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        ca_file = where / "ca.pem"
        ca_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(where, ca_file, key, cert)

    def leaf(self, name: str, *, days: float, starts: float = -30, dns: tuple[str, ...] = ("localhost",),
             self_signed: bool = False) -> tuple[Path, Path]:
        """A certificate valid from ``starts`` to ``days`` days from now; returns (cert, key) files."""
        key = ec.generate_private_key(ec.SECP256R1())
        issuer_key, issuer = (key, _name(dns[0])) if self_signed else (self._ca_key, self._ca_cert.subject)
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        if "localhost" in dns:
            sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        cert = (x509.CertificateBuilder().subject_name(_name(dns[0])).issuer_name(issuer)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(NOW + dt.timedelta(days=starts))
                .not_valid_after(NOW + dt.timedelta(days=days))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .sign(issuer_key, hashes.SHA256()))
        cert_file, key_file = self.dir / f"{name}.pem", self.dir / f"{name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_file, key_file


class Handler(http.server.BaseHTTPRequestHandler):
    """/ → 200 with a body naming the HIS; /missing → 404; /moved → 302; /slow → 0.3 s delay."""

    def do_GET(self) -> None:  # noqa: N802
        import time

        if self.path == "/missing":
            self._answer(404, b"not here")
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/broken":
            self._answer(500, b"Internal Server Error")
        elif self.path == "/slow":
            time.sleep(0.3)
            self._answer(200, b"HIS outpatient service: ready (slow)")
        else:
            self._answer(200, "HIS outpatient service: ready \u2713".encode())

    def _answer(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Server:
    """An HTTP server on 127.0.0.1, with TLS when given a certificate."""

    def __init__(self, cert: tuple[Path, Path] | None = None):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
        if cert is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(cert[0]), str(cert[1]))
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True,
                                                do_handshake_on_connect=False)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


LIFETIMES = {"days40": dict(days=40), "days20": dict(days=20), "days3": dict(days=3),
             "expired": dict(days=-1, starts=-60), "notyet": dict(days=60, starts=2),
             "wrongname": dict(days=40, dns=("intranet.other-hospital.test",)),
             "selfsigned": dict(days=40, self_signed=True)}


@dataclass
class TlsServers:
    pki: Pki
    ports: dict[str, int]
    plain_port: int


def tls_servers(tmp: Path) -> Iterator[TlsServers]:
    pki = Pki.create(tmp)
    servers = {name: Server(pki.leaf(name, **kw)) for name, kw in LIFETIMES.items()}  # type: ignore[arg-type]
    plain = Server()
    try:
        yield TlsServers(pki, {n: s.port for n, s in servers.items()}, plain.port)
    finally:
        for s in [*servers.values(), plain]:
            s.stop()
