"""SSH connections for checks: verified host keys, secrets from files, every step time-boxed.

Host keys are checked against the configured ``known_hosts`` file only and
are never added: an unknown key fails with its SHA256 fingerprint and the
exact line to add once it has been verified out of band; a changed key fails
as a mismatch.  Each failure is an :class:`SshFailure` whose ``kind`` tells
them apart and whose ``summary`` is fit for a result (no secrets)::

    SshFailure
      kind: config             our configuration cannot be used (UNKNOWN)
            unknown_host_key   the server's key is not in known_hosts
            host_key_mismatch  the server's key differs from known_hosts
            auth_failed        the user, key or password was refused
            refused            nothing listens on the port
            timeout            no answer within the timeout
            unreachable        DNS or network error
            ssh_error          the SSH handshake failed otherwise

:func:`run_command` runs one command on an open connection in its own
channel, time-boxed, and returns its exit status and (size-capped) output.

paramiko is an optional dependency (``pip install wardround[ssh]``); it is
imported when a connection is made.
"""

from __future__ import annotations

import base64
import hashlib
import select
import socket
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["CommandOutput", "SshFailure", "connect", "fingerprint", "known_hosts_line", "read_secret",
           "run_command"]

#: output kept per stream; a runaway command is read to the end (or the timeout) but not stored
MAX_OUTPUT_BYTES = 256 * 1024


class SshFailure(Exception):
    def __init__(self, kind: str, summary: str, **details: Any):
        super().__init__(summary)
        self.kind = kind
        self.summary = summary
        self.details = details


class _UnknownHostKey(Exception):
    def __init__(self, hostname: str, key: Any):
        super().__init__(hostname)
        self.hostname = hostname
        self.key = key


def fingerprint(key: Any) -> str:
    """``SHA256:...`` as ``ssh-keygen -l`` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def host_entry(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def known_hosts_line(host: str, port: int, key: Any) -> str:
    return f"{host_entry(host, port)} {key.get_name()} {key.get_base64()}"


def read_secret(path: str, what: str) -> str:
    """The first line of a secret file; its content never appears in an error."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise SshFailure("config", f"{what} {path} cannot be read: {reason}") from None


def connect(host: str, port: int, user: str, *, known_hosts: str, timeout: float,
            key_file: str = "", password_file: str = "", passphrase_file: str = "",
            client_factory: Any = None) -> Any:
    """An authenticated ``paramiko.SSHClient``; :class:`SshFailure` for every way it can fail."""
    try:
        import paramiko
    except ImportError:
        raise SshFailure("config", "paramiko is not installed (pip install 'wardround[ssh]')") from None

    class RejectAndRecord(paramiko.MissingHostKeyPolicy):  # type: ignore[misc,unused-ignore]  # paramiko is untyped
        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            raise _UnknownHostKey(hostname, key)

    password = read_secret(password_file, "password_file") if password_file else None
    passphrase = read_secret(passphrase_file, "passphrase_file") if passphrase_file else None
    pkey = None
    if key_file:
        try:
            pkey = paramiko.PKey.from_path(key_file, password=passphrase)
        except paramiko.PasswordRequiredException:
            raise SshFailure("config", f"key_file {key_file} is encrypted: give passphrase_file") from None
        except (OSError, paramiko.SSHException, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)[:200]
            raise SshFailure("config", f"key_file {key_file} cannot be used: {reason}") from None

    client = (client_factory or paramiko.SSHClient)()
    try:
        try:
            client.load_host_keys(known_hosts)
        except (OSError, paramiko.SSHException) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)[:200]
            raise SshFailure("config", f"known_hosts {known_hosts} cannot be read: {reason}") from None
        client.set_missing_host_key_policy(RejectAndRecord())
        client.connect(hostname=host, port=port, username=user, pkey=pkey, password=password,
                       timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                       channel_timeout=timeout, look_for_keys=False, allow_agent=False)
        return client
    except Exception as exc:
        client.close()
        how = " and ".join(w for w, on in (("key", pkey is not None), ("password", password is not None)) if on)
        failure = _connect_failure(paramiko, exc, host=host, port=port, user=user, known_hosts=known_hosts,
                                   timeout=timeout, how=how)
        if failure is None:
            raise  # not a way connecting fails: a bug, for the runner's error boundary
        raise failure from None


def _connect_failure(paramiko: Any, exc: Exception, *, host: str, port: int, user: str, known_hosts: str,
                     timeout: float, how: str) -> SshFailure | None:
    """What a failed connect means, as an :class:`SshFailure` (None: not a connection failure)."""
    where = f"{host}:{port}"
    if isinstance(exc, SshFailure):
        return exc
    if isinstance(exc, _UnknownHostKey):
        fp = fingerprint(exc.key)
        line = known_hosts_line(host, port, exc.key)
        return SshFailure(
            "unknown_host_key",
            f"unknown host key for {where}: {exc.key.get_name()} {fp}; after checking this fingerprint "
            f"with the server's administrator, add this line to {known_hosts}: {line}",
            fingerprint=fp, key_type=exc.key.get_name(), known_hosts_line=line)
    if isinstance(exc, paramiko.BadHostKeyException):
        got, expected = fingerprint(exc.key), fingerprint(exc.expected_key)
        return SshFailure(
            "host_key_mismatch",
            f"host key mismatch for {where}: the server offers {exc.key.get_name()} {got} but {known_hosts} "
            f"has {exc.expected_key.get_name()} {expected} (possible man-in-the-middle, or a reinstalled "
            "server: verify before changing known_hosts)",
            fingerprint=got, expected_fingerprint=expected)
    if isinstance(exc, paramiko.AuthenticationException):
        return SshFailure("auth_failed", f"authentication failed for {user}@{where} ({how} refused)")
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        errors = list(exc.errors.values())
        if errors and all(isinstance(e, ConnectionRefusedError) for e in errors):
            return SshFailure("refused", f"connection refused by {where} (is sshd running?)")
        return SshFailure("unreachable", f"cannot connect to {where}: {exc.strerror or exc}")
    if isinstance(exc, TimeoutError):
        return SshFailure("timeout", f"no answer from {where} within {timeout:g} s")
    if isinstance(exc, socket.gaierror):
        return SshFailure("unreachable", f"cannot resolve {host}: {exc.strerror or exc}")
    if isinstance(exc, paramiko.SSHException):
        text = str(exc)
        if "banner" in text or "No existing session" in text:  # the port answered TCP but not SSH
            return SshFailure("timeout", f"no SSH handshake from {where} within {timeout:g} s "
                                         "(not an SSH server, or overloaded)")
        return SshFailure("ssh_error", f"SSH handshake with {where} failed: {text[:200]}")
    if isinstance(exc, OSError):
        return SshFailure("unreachable", f"cannot connect to {where}: {exc.strerror or exc}")
    return None


@dataclass(frozen=True)
class CommandOutput:
    """What one remote command did.

    ``exit_status`` is None when the command gave none: it timed out, or the
    server reported a signal instead of an exit code.  ``truncated`` tells
    that more than :data:`MAX_OUTPUT_BYTES` came on a stream.
    """

    exit_status: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    truncated: bool = False
    seconds: float = 0.0


def run_command(client: Any, command: str, *, timeout: float,
                max_bytes: int = MAX_OUTPUT_BYTES) -> CommandOutput:
    """Run ``command`` in a new channel of ``client``'s connection, for at most ``timeout`` s.

    ``command`` is shell text for the remote side: quote what goes into it
    (``shlex.join``).  On the timeout the channel is closed (sshd then ends
    the command with SIGHUP) and ``timed_out`` is set.  A channel that cannot
    be opened is an :class:`SshFailure` (``ssh_error``, or ``timeout``).
    """
    t0 = time.monotonic()
    deadline = t0 + timeout
    transport = client.get_transport()
    if transport is None or not transport.is_active():
        raise SshFailure("ssh_error", "the SSH connection was closed by the server")
    try:
        chan = transport.open_session(timeout=timeout)
    except TimeoutError:
        raise SshFailure("timeout", f"the server did not open a channel within {timeout:g} s") from None
    except Exception as exc:  # paramiko.SSHException, EOFError, OSError: the connection failed
        reason = str(exc)[:200] or type(exc).__name__
        raise SshFailure("ssh_error", f"the server refused to run commands: {reason}") from None
    out, err = bytearray(), bytearray()
    sizes = [0, 0]
    timed_out = False

    def keep(buf: bytearray, data: bytes, which: int) -> None:
        sizes[which] += len(data)
        if len(buf) < max_bytes:
            buf += data[: max_bytes - len(buf)]

    try:
        chan.settimeout(timeout)
        chan.exec_command(command)
        chan.settimeout(0.0)
        while True:
            got = False
            while chan.recv_ready():
                keep(out, chan.recv(65536), 0)
                got = True
            while chan.recv_stderr_ready():
                keep(err, chan.recv_stderr(65536), 1)
                got = True
            if (chan.exit_status_ready() or chan.closed) and not got:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            if not got:
                # the channel's pipe wakes select on stdout data and on close; stderr is polled
                select.select([chan], [], [], min(remaining, 0.05))
        status = None if timed_out else chan.recv_exit_status()
    except TimeoutError:
        timed_out, status = True, None
    except OSError as exc:
        raise SshFailure("ssh_error", f"the command's channel failed: {exc.strerror or exc}") from None
    except Exception as exc:  # paramiko.SSHException ("Channel closed."), EOFError: the connection ended
        raise SshFailure("ssh_error", f"the connection ended while the command ran: "
                                      f"{str(exc)[:200] or type(exc).__name__}") from None
    finally:
        chan.close()
    return CommandOutput(
        exit_status=None if status is None or status < 0 else status,
        stdout=out.decode("utf-8", "replace"), stderr=err.decode("utf-8", "replace"),
        timed_out=timed_out, truncated=max(sizes) > max_bytes, seconds=time.monotonic() - t0)
