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

from checks.messages import say

TYPE_CHECKING = False
if TYPE_CHECKING:
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
        raise SshFailure("config", say("ssh.secret_unreadable", what=what, path=path, reason=reason)) from None


def connect(host: str, port: int, user: str, *, known_hosts: str, timeout: float,
            key_file: str = "", password_file: str = "", passphrase_file: str = "",
            client_factory: Any = None) -> Any:
    """An authenticated ``paramiko.SSHClient``; :class:`SshFailure` for every way it can fail."""
    try:
        import paramiko
    except ImportError:
        raise SshFailure("config", say("ssh.no_paramiko", install="pip install 'wardround[ssh]'")) from None

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
            raise SshFailure("config", say("ssh.key_encrypted", param="key_file", path=key_file,
                                           passphrase="passphrase_file")) from None
        except (OSError, paramiko.SSHException, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)[:200]
            raise SshFailure("config", say("ssh.key_unusable", param="key_file", path=key_file,
                                           reason=reason)) from None

    client = (client_factory or paramiko.SSHClient)()
    try:
        try:
            client.load_host_keys(known_hosts)
        except (OSError, paramiko.SSHException) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)[:200]
            raise SshFailure("config", say("ssh.secret_unreadable", what="known_hosts", path=known_hosts,
                                           reason=reason)) from None
        client.set_missing_host_key_policy(RejectAndRecord())
        client.connect(hostname=host, port=port, username=user, pkey=pkey, password=password,
                       timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                       channel_timeout=timeout, look_for_keys=False, allow_agent=False)
        return client
    except Exception as exc:
        client.close()
        how = ("ssh.how.both" if pkey is not None and password is not None else "ssh.how.key" if pkey is not None
               else "ssh.how.password" if password is not None else "ssh.how.none")
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
            say("ssh.unknown_host_key", where=where, key_type=exc.key.get_name(), fingerprint=fp,
                known_hosts=known_hosts, line=line),
            fingerprint=fp, key_type=exc.key.get_name(), known_hosts_line=line)
    if isinstance(exc, paramiko.BadHostKeyException):
        got, expected = fingerprint(exc.key), fingerprint(exc.expected_key)
        return SshFailure(
            "host_key_mismatch",
            say("ssh.host_key_mismatch", where=where, key_type=exc.key.get_name(), got=got, known_hosts=known_hosts,
                expected_type=exc.expected_key.get_name(), expected=expected, file="known_hosts"),
            fingerprint=got, expected_fingerprint=expected)
    if isinstance(exc, paramiko.AuthenticationException):
        return SshFailure("auth_failed", say("ssh.auth_failed", user=user, where=where, how=how))
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        errors = list(exc.errors.values())
        if errors and all(isinstance(e, ConnectionRefusedError) for e in errors):
            return SshFailure("refused", say("ssh.refused", where=where))
        return SshFailure("unreachable", say("ssh.cannot_connect", where=where, reason=exc.strerror or str(exc)))
    if isinstance(exc, TimeoutError):
        return SshFailure("timeout", say("ssh.no_answer", where=where, timeout=timeout))
    if isinstance(exc, socket.gaierror):
        return SshFailure("unreachable", say("port.unresolved", host=host, reason=exc.strerror or str(exc)))
    if isinstance(exc, paramiko.SSHException):
        text = str(exc)
        if "banner" in text or "No existing session" in text:  # the port answered TCP but not SSH
            return SshFailure("timeout", say("ssh.no_handshake", where=where, timeout=timeout))
        return SshFailure("ssh_error", say("ssh.handshake_failed", where=where, error=text[:200]))
    if isinstance(exc, OSError):
        return SshFailure("unreachable", say("ssh.cannot_connect", where=where, reason=exc.strerror or str(exc)))
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
        raise SshFailure("ssh_error", say("ssh.closed"))
    try:
        chan = transport.open_session(timeout=timeout)
    except TimeoutError:
        raise SshFailure("timeout", say("ssh.no_channel", timeout=timeout)) from None
    except Exception as exc:  # paramiko.SSHException, EOFError, OSError: the connection failed
        reason = str(exc)[:200] or type(exc).__name__
        raise SshFailure("ssh_error", say("ssh.exec_refused", reason=reason)) from None
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
        raise SshFailure("ssh_error", say("ssh.channel_failed", reason=exc.strerror or str(exc))) from None
    except Exception as exc:  # paramiko.SSHException ("Channel closed."), EOFError: the connection ended
        raise SshFailure("ssh_error", say("ssh.ended", reason=str(exc)[:200] or type(exc).__name__)) from None
    finally:
        chan.close()
    return CommandOutput(
        exit_status=None if status is None or status < 0 else status,
        stdout=out.decode("utf-8", "replace"), stderr=err.decode("utf-8", "replace"),
        timed_out=timed_out, truncated=max(sizes) > max_bytes, seconds=time.monotonic() - t0)
