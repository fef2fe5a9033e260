"""The reports of ``wardround-collector key``, ``record``, ``audit`` and ``import``, in the reader's language
(``cli.collector.*`` texts of checks/messages/cli.{zh_CN,en}.json, :func:`checks.messages.reader.tell`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import orjson
from sqlalchemy import Engine

from checks.messages.reader import cli_said, reader_language, tell, told
from collector import audit
from collector.auth import AuthError
from collector.config import Settings
from collector.keys import Keyring, PublicKey, create_key, load_keyring, parse_public_key, rotate_key
from collector.messages import ticket_templates
from collector.policy import load_policies

__all__ = ["ReportError", "audit_verify", "export_record", "import_bundles", "key", "verify_export"]


class ReportError(Exception):
    """A runtime fault of these commands, said in one line (its text may be keyed: :func:`cli_said`); exit code 1."""


def _said(text: str) -> str:
    """A keyed text (the command line's or the collector's own, e.g. a record's integrity problem) for the reader."""
    return told(text, ticket_templates(reader_language()))


def describe_key(public: PublicKey) -> str:
    """The key's id, fingerprint and public key, one a line (``key show``)."""
    return "\n".join([tell("cli.collector.key_id", key_id=public.key_id),
                      tell("cli.collector.key_fingerprint", fingerprint=public.fingerprint),
                      tell("cli.collector.key_public", public_key=public.base64)])


def key(action: str, settings: Settings) -> int:
    """``key create | rotate | show``."""
    if action == "create":
        keys = create_key(settings.key_file)
        print(tell("cli.collector.key_written", file=settings.key_file))
    elif action == "rotate":
        keys, old = rotate_key(settings.key_file)
        print(tell("cli.collector.key_rotated", key_id=old.key_id, file=settings.key_file,
                   retired=f"{settings.key_file}.retired"))
    else:
        keys = load_keyring(settings.key_file)
        for old in keys.retired:
            print(tell("cli.collector.key_retired", key_id=old.key_id, fingerprint=old.fingerprint))
    print(describe_key(keys.public))
    print(keys.public.pem(), end="")
    return 0


def verify_export(file: str, public_key: str) -> int:
    """``record verify FILE --public-key K``: 0 verified, 1 otherwise."""
    from collector.records import integrity

    pub = parse_public_key(public_key)
    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        raise ReportError(cli_said("cli.collector.cannot_read", file=file, error=exc.strerror or str(exc))) from exc
    try:
        checked = integrity.check_export(data, pub)
    except ValueError as exc:
        raise ReportError(f"{file}: {_said(exc.args[0] if exc.args else str(exc))}") from exc
    if checked.status == integrity.VERIFIED:
        print(tell("cli.collector.record_verified", file=file, key_id=pub.key_id, fingerprint=pub.fingerprint))
        return 0
    if checked.status == integrity.DIGEST_ONLY:
        print(tell("cli.collector.record_digest_only", file=file))
        return 1
    print(tell("cli.collector.record_failed", file=file, problems=[_said(p) for p in checked.problems]))
    return 1


def export_record(engine: Engine, keys: Keyring | None, record_id: int, out: Path) -> None:
    """``record export ID --out F``."""
    from collector.records.service import RecordNotFound, Records

    try:
        data = Records(engine, keys=keys).export(record_id)
        out.write_bytes(data)
    except RecordNotFound as exc:
        raise ReportError(_said(exc.args[0] if exc.args else str(exc))) from exc
    except OSError as exc:
        raise ReportError(cli_said("cli.collector.cannot_write", file=out, error=exc.strerror or str(exc))) from exc
    # the key that signed it, from this collector's keyring (Records.export names it; never a file's own)
    signed_by = orjson.loads(data).get("public_key")
    print(tell("cli.collector.record_written", id=record_id, file=out,
               command=f"wardround-collector record verify {out} --public-key",
               public_key=signed_by["base64"] if signed_by else tell("cli.collector.public_key_placeholder")))


def audit_verify(engine: Engine, keys: Keyring) -> int:
    """``audit verify``: 0 intact (or empty), 1 broken."""
    report = audit.verify_chain(engine, keys)
    if not report.intact:
        print(tell("cli.collector.audit_broken", seq=report.broken_seq, problem=_said(report.problem or ""),
                   n=report.entries))
        return 1
    if report.head_seq is None:
        print(tell("cli.collector.audit_empty"))
    elif report.first_seq and report.first_seq > 1:
        print(tell("cli.collector.audit_intact_pruned", n=report.entries, last=report.first_seq - 1,
                   head=report.head_seq, hash=report.head_hash, marker="'audit #'"))
    else:
        print(tell("cli.collector.audit_intact", n=report.entries, head=report.head_seq, hash=report.head_hash,
                   marker="'audit #'"))
    return 0


def import_bundles(args: argparse.Namespace, settings: Settings, engine: Engine, keys: Keyring | None) -> int:
    """``import FILE...`` / ``import --watch DIR``: 1 when a bundle was refused, else 0 (gaps are reported)."""
    from collector import ferry
    from collector.ingest import Ingestor
    from collector.tickets import Tickets

    if not args.files and not args.watch:
        raise AuthError(cli_said("cli.collector.import_nothing", command="import", watch="--watch DIR"))
    if args.watch and not Path(args.watch).is_dir():
        raise AuthError(cli_said("cli.collector.not_a_directory", command="import --watch", path=args.watch))
    for f in args.files:  # a mistyped path is the operator's slip, not a refused (forged, corrupt) bundle
        if not Path(f).is_file():
            raise AuthError(cli_said("cli.collector.not_a_file", command="import", path=f))
    policies = load_policies(settings.policy_file) if settings.policy_file else None
    ingestor = Ingestor(engine, tickets=Tickets(engine, policies, keys=keys))
    refused = 0
    for f in args.files:
        try:
            print(_said(ferry.describe(ferry.import_bundle(engine, ingestor, f, keys=keys))))
        except ferry.BundleRefused as exc:
            refused += 1
            print(tell("cli.collector.bundle_refused", file=os.path.basename(f), why=exc.args[0]),
                  file=sys.stderr)
    if args.watch:
        for done in ferry.watch(engine, ingestor, Path(args.watch), keys=keys):
            if isinstance(done, tuple):
                print(tell("cli.collector.bundle_refused", file=done[0], why=done[1]), file=sys.stderr,
                      flush=True)
            else:
                print(_said(ferry.describe(done)), flush=True)
                for line in ferry.gap_lines(engine):
                    print(_said(line), file=sys.stderr, flush=True)
    for line in ferry.gap_lines(engine):
        print(_said(line), file=sys.stderr)
    return 1 if refused else 0
