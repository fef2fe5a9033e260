"""The collector's signing key: Ed25519, in a file outside the database.

Inspection records, their sign-offs and the audit log are signed with this
key (:mod:`collector.records.integrity`, :mod:`collector.audit`), so someone
who can write the database but cannot read the key file cannot forge or
change them unnoticed: changing a row and recomputing its digest is no
longer enough.

Files (``key_file`` in the collector config, ``--key-file`` on every
command, else ``$WARDROUND_KEY_FILE``, else ``wardround-collector.key`` in
the current directory — the same rule as the default database)::

    wardround-collector.key          the private key, PEM (PKCS#8), mode 0600; refused if
                                     the group or others may read it
    wardround-collector.key.retired  public keys of earlier (rotated) keys, PEM, one after
                                     another: records they signed still verify

A key is named by its *fingerprint*, the SHA-256 of its 32 raw public-key
bytes (64 hex digits, shown in groups of four), and its *key id*, the first
16 of those digits, stored next to each signature.  Every collector behind a
load balancer must load the same key file (and ``.retired`` file).  The
commands that sign (``serve``, ``token create``, ``user create``) make the key
on first use when no file is there and the database holds nothing signed yet
(:func:`ensure_keyring`, with a warning to back it up and copy it to the other
collectors); a collector whose key is missing or differs from the key the
database was signed with refuses to start (``wardround-collector`` checks the
newest audit entry), so a second collector cannot quietly sign with a key of
its own.

Exceptions::

    KeyFileError   a key file that is missing, unreadable, too open or not an Ed25519 key
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import stat
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from checks.messages.reader import cli_said

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_KEY_FILE",
    "KEY_ENV",
    "KeyFileError",
    "Keyring",
    "PublicKey",
    "create_key",
    "default_key_file",
    "default_keyring",
    "load_keyring",
    "parse_public_key",
    "retired_file",
    "rotate_key",
]

KEY_ENV = "WARDROUND_KEY_FILE"
DEFAULT_KEY_FILE = "wardround-collector.key"
_PUBLIC_PEM_END = "-----END PUBLIC KEY-----"


class KeyFileError(Exception):
    """A key file the collector cannot use (exit code 2, like a bad config file)."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An Ed25519 public key with its names."""

    key: Ed25519PublicKey = field(repr=False)
    raw: bytes

    @classmethod
    def of(cls, key: Ed25519PublicKey) -> PublicKey:
        return cls(key, key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the raw key, hex in groups of four: what a person compares."""
        hexed = hashlib.sha256(self.raw).hexdigest()
        return " ".join(hexed[i:i + 4] for i in range(0, 64, 4))

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()[:16]

    @property
    def base64(self) -> str:
        """The raw key in base64 (44 characters): short enough to print on a record."""
        return base64.b64encode(self.raw).decode("ascii")

    def pem(self) -> str:
        return self.key.public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")

    def verify(self, data: bytes, signature: str) -> bool:
        try:
            self.key.verify(base64.b64decode(signature, validate=True), data)
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


@dataclass(frozen=True, slots=True)
class Keyring:
    """The signing key and every public key whose signatures are trusted (the current one and retired ones)."""

    signing: Ed25519PrivateKey = field(repr=False)
    public: PublicKey
    retired: tuple[PublicKey, ...] = ()
    path: str = ""

    @classmethod
    def of(cls, signing: Ed25519PrivateKey, retired: tuple[PublicKey, ...] = (), path: str = "") -> Keyring:
        return cls(signing, PublicKey.of(signing.public_key()), retired, path)

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, data: bytes) -> str:
        """The Ed25519 signature of ``data``, base64."""
        return base64.b64encode(self.signing.sign(data)).decode("ascii")

    def derive(self, purpose: str) -> bytes:
        """A 32-byte secret key for ``purpose``, derived (HKDF-SHA256) from the signing key.

        Every collector with the same key file derives the same one; the database never
        holds it.  A rotated key derives a different one.
        """
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        raw = self.signing.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                         serialization.NoEncryption())
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=f"wardround {purpose}".encode()).derive(raw)

    def trusted(self, key_id: str | None) -> PublicKey | None:
        """The trusted public key with this id, or None."""
        for key in (self.public, *self.retired):
            if key.key_id == key_id:
                return key
        return None

    def verify(self, key_id: str | None, data: bytes, signature: str | None) -> bool:
        """Whether ``signature`` over ``data`` was made by the trusted key ``key_id``."""
        key = self.trusted(key_id)
        return key is not None and signature is not None and key.verify(data, signature)


def default_key_file() -> str:
    """``$WARDROUND_KEY_FILE``, else ``wardround-collector.key`` in the current directory."""
    return os.environ.get(KEY_ENV) or DEFAULT_KEY_FILE


def retired_file(path: str | os.PathLike[str]) -> Path:
    """Where the public keys of earlier keys are kept: next to the key, ``.retired`` appended."""
    return Path(f"{os.fspath(path)}.retired")


def _private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to a file that must not exist yet, mode 0600, flushed to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def create_key(path: str | os.PathLike[str]) -> Keyring:
    """Make a new key at ``path`` (mode 0600); refused if the file exists."""
    target = Path(path)
    if target.exists():
        raise KeyFileError(cli_said("cli.collector.key_exists", file=str(target), show="key show", rotate="key rotate"))
    key = Ed25519PrivateKey.generate()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_new(target, _private_pem(key))
    except OSError as exc:
        raise KeyFileError(cli_said("cli.collector.key_unwritable", file=str(target),
                                    error=exc.strerror or str(exc))) from exc
    return Keyring.of(key, path=str(target))


def rotate_key(path: str | os.PathLike[str]) -> tuple[Keyring, PublicKey]:
    """Replace the key at ``path`` by a new one; the old public key is appended to the ``.retired`` file.

    Returns the new keyring and the retired public key.  The new key is written
    beside the old one first and renamed over it, so a crash leaves one of the two.
    """
    old = load_keyring(path)
    target = Path(path)
    retired = retired_file(target)
    key = Ed25519PrivateKey.generate()
    fresh = target.with_name(target.name + ".new")
    try:
        with open(retired, "a", encoding="ascii") as f:
            f.write(old.public.pem())
            f.flush()
            os.fsync(f.fileno())
        fresh.unlink(missing_ok=True)
        _write_new(fresh, _private_pem(key))
        os.replace(fresh, target)
    except OSError as exc:
        raise KeyFileError(cli_said("cli.collector.key_unrotatable", file=str(target),
                                    error=exc.strerror or str(exc))) from exc
    return Keyring.of(key, (*old.retired, old.public), str(target)), old.public


def _read_retired(path: Path) -> tuple[PublicKey, ...]:
    if not path.exists():
        return ()
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(cli_said("cli.collector.key_retired_unreadable", file=str(path), error=str(exc))) from exc
    keys = []
    for block in text.split(_PUBLIC_PEM_END)[:-1]:
        keys.append(_public_from_pem((block + _PUBLIC_PEM_END).strip().encode("ascii"), str(path)))
    return tuple(keys)


def _public_from_pem(data: bytes, where: str) -> PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyFileError(cli_said("cli.collector.key_not_pem_public", file=where, error=str(exc))) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(cli_said("cli.collector.key_not_ed25519_public", file=where))
    return PublicKey.of(key)


def load_keyring(path: str | os.PathLike[str]) -> Keyring:
    """The key at ``path`` and the retired public keys beside it; :class:`KeyFileError` otherwise."""
    target = Path(path)
    try:
        st = target.stat()
    except FileNotFoundError:
        raise KeyFileError(cli_said("cli.collector.no_key", file=str(target),
                                    command=f"wardround-collector key create --key-file {target}")) from None
    except OSError as exc:
        raise KeyFileError(cli_said("cli.collector.key_unreadable", file=str(target),
                                    error=exc.strerror or str(exc))) from exc
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(cli_said("cli.collector.key_not_file", file=str(target)))
    if os.name == "posix" and st.st_mode & 0o077:
        raise KeyFileError(cli_said("cli.collector.key_too_open", file=str(target),
                                    mode=f"{stat.S_IMODE(st.st_mode):04o}", command=f"chmod 600 {target}"))
    try:
        data = target.read_bytes()
    except OSError as exc:
        raise KeyFileError(cli_said("cli.collector.key_unreadable", file=str(target),
                                    error=exc.strerror or str(exc))) from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(cli_said("cli.collector.key_not_pem_private", file=str(target), error=str(exc))) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(cli_said("cli.collector.key_not_ed25519", file=str(target)))
    return Keyring.of(key, _read_retired(retired_file(target)), str(target))


def ensure_keyring(path: str | os.PathLike[str], signed_by: str | None = None) -> Keyring:
    """The key at ``path``, made (mode 0600, with a warning) when no file is there yet.

    ``signed_by`` is the key id the database was last signed with (None for a
    database with nothing signed).  A missing key is made only for such a fresh
    database; a key that cannot check what the database holds is refused: several
    collectors on one database must share one key file.
    """
    target = Path(path)
    if target.exists() or signed_by is not None:
        if not target.exists():
            raise KeyFileError(cli_said("cli.collector.no_key_signed", file=str(target), key=signed_by,
                                        command="wardround-collector key show", retired=".retired"))
        keys = load_keyring(target)
        if signed_by is not None and keys.trusted(signed_by) is None:
            raise KeyFileError(cli_said("cli.collector.key_not_signers", file=str(target), key=keys.key_id,
                                        signed=signed_by, command="wardround-collector key show", retired=".retired"))
        return keys
    keys = create_key(target)
    log.warning("created the collector's signing key %s (key id %s, mode 0600): back it up; every collector "
                "sharing this database must use a copy of this file (wardround-collector key show)",
                os.path.abspath(path), keys.key_id)
    return keys


@cache
def _cached_keyring(path: str) -> Keyring:
    return load_keyring(path)


def default_keyring() -> Keyring:
    """The keyring at :func:`default_key_file` (loaded once per path): for services built without one."""
    return _cached_keyring(os.path.abspath(default_key_file()))


def parse_public_key(value: str) -> PublicKey:
    """A public key given by a person: a PEM file's path, or the 44-character base64 printed on a record."""
    text = value.strip()
    if text.startswith("-----BEGIN"):
        return _public_from_pem(text.encode("ascii", "replace"), "public key")
    path = Path(text)
    if path.is_file():
        return _public_from_pem(path.read_bytes(), str(path))
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise KeyFileError(cli_said("cli.collector.public_key_bad", got=repr(text[:60])))
    return PublicKey.of(Ed25519PublicKey.from_public_bytes(raw))
