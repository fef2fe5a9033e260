"""A real OpenSSH server on a free loopback port, for tests that need SSH/SFTP.

``start_sshd(directory)`` writes a host key, a client key, ``authorized_keys``
and a ``known_hosts`` holding the host key, starts ``sshd -D -e`` on
127.0.0.1 and returns an :class:`Sshd`; ``stop()`` ends exactly that
process.  ``StrictModes no`` because the keys live under the temp
directory, whose 1777 parent sshd would otherwise refuse.  The pytest
fixture ``sshd`` (module scope) skips, or fails under CI, when
``/usr/sbin/sshd`` is missing (Debian package ``openssh-server``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port, missing

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


@dataclass
class Sshd:
    host: str
    port: int
    dir: Path
    user: str
    client_key: Path
    known_hosts: Path
    host_key_pub: Path
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self) -> str:
        return (self.dir / "sshd.log").read_text(errors="replace")


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
                   check=True, timeout=30)
    return path


def start_sshd(directory: Path) -> Sshd:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    host_key = keygen(directory / "host_ed25519")
    client_key = keygen(directory / "client_ed25519")
    (directory / "authorized_keys").write_text((directory / "client_ed25519.pub").read_text())
    os.chmod(directory / "authorized_keys", 0o600)
    port = free_port()
    pub = (directory / "host_ed25519.pub").read_text().split()
    known_hosts = directory / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {pub[0]} {pub[1]}\n")
    cfg = directory / "sshd_config"
    cfg.write_text("\n".join([
        "ListenAddress 127.0.0.1", f"Port {port}", f"HostKey {host_key}", f"PidFile {directory}/sshd.pid",
        f"AuthorizedKeysFile {directory}/authorized_keys", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password", "UsePAM no",
        "StrictModes no", "Subsystem sftp internal-sftp", "LogLevel VERBOSE", "",
    ]))
    os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
    check = subprocess.run([SSHD, "-t", "-f", str(cfg)], capture_output=True, timeout=30)
    if check.returncode != 0:
        raise RuntimeError(f"sshd -t: {check.stderr.decode(errors='replace')}")
    log = open(directory / "sshd.log", "wb")  # noqa: SIM115 - handed to the process
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {(directory / 'sshd.log').read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                if s.recv(4).startswith(b"SSH-"):
                    break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        raise RuntimeError("sshd did not answer within 10 s")
    import getpass
    return Sshd(host="127.0.0.1", port=port, dir=directory, user=getpass.getuser(), client_key=client_key,
                known_hosts=known_hosts, host_key_pub=directory / "host_ed25519.pub", proc=proc)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if not os.path.exists(SSHD) or not shutil.which("ssh-keygen"):
        missing("sshd", "install the Debian package openssh-server")
    try:
        import paramiko  # noqa: F401
    except ImportError:
        missing("paramiko", "pip install 'wardround[ssh]'")
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        server.stop()
