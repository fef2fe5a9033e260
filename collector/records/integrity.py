"""What a record's keyed signatures cover, and how a record is checked — in the collector and offline.

A record is signed when it is issued, and each sign-off when it is appended,
with the collector key (:mod:`collector.keys`, Ed25519).  The signed bytes
are canonical JSON (keys sorted, UTF-8, no whitespace):

record (:func:`record_payload`)::

    {"v": 1, "type": "wardround-record", "id": 12, "site": ..., "kind": ..., "period_start": ...,
     "period_end": ..., "period_from": ..., "period_to": ..., "language": ..., "origin": ...,
     "issued_by": ..., "issued_at": ..., "digest": <SHA-256 of the stored content>, "key_id": ...}

sign-off (:func:`signoff_payload`), chained to the record and to the sign-off before it::

    {"v": 1, "type": "wardround-signoff", "id": 31, "record_id": 12,
     "record_signature": <the record's signature>, "previous": <the previous sign-off's signature or null>,
     "signer": ..., "role": ..., "signed_at": ..., "note": ..., "signed_by": ..., "digest": ..., "key_id": ...}

Times are ISO-8601 UTC with microseconds and ``Z``.  The content is covered
through its digest, which is recomputed from the stored bytes at every check.

Outcomes of a check (:func:`check`), worst first:

``failed``       the content does not match its digest, a signature does not
                 verify with a trusted key, a sign-off is missing from or out
                 of its chain, or the audit log names a signature the record no
                 longer has (someone changed the database)
``digest_only``  stored before keyed signatures existed: only the digest is
                 checked, which anyone who can write the database can recompute
``verified``     every field and every sign-off is signed by a trusted key

An *export* (:func:`export`) is one JSON file holding the record as stored,
its sign-offs and the exact signed bytes, for a customer to check offline
with nothing but the collector's public key (``wardround-collector record
verify FILE --public-key KEY``, or the few lines of Python in docs/records.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from checks.result import format_time
from collector.keys import Keyring, PublicKey
from collector.messages import ticket_templates, tsay

__all__ = [
    "DIGEST_ONLY",
    "EXPORT_FORMAT",
    "FAILED",
    "VERIFIED",
    "Check",
    "check",
    "check_export",
    "export",
    "record_fields",
    "record_payload",
    "sign_record",
    "sign_signoff",
    "signoff_fields",
    "signoff_payload",
]

VERIFIED, DIGEST_ONLY, FAILED = "verified", "digest_only", "failed"
EXPORT_FORMAT = "wardround-record-export"
_RECORD_FIELDS = ("id", "site", "kind", "period_start", "period_end", "period_from", "period_to", "language",
                  "origin", "issued_by", "issued_at", "digest")
_SIGNOFF_FIELDS = ("id", "record_id", "signer", "role", "signed_at", "note", "signed_by", "digest")


def _text(value: Any) -> Any:
    return format_time(value) if isinstance(value, datetime) else value


def record_fields(row: Any) -> dict[str, Any]:
    """A stored record (a row or a mapping) as plain JSON values: what is signed, plus content and signature."""
    m = row._mapping if hasattr(row, "_mapping") else row
    out = {k: _text(m[k]) for k in _RECORD_FIELDS}
    out["id"] = int(out["id"])
    out.update(content=m["content"], signature=m.get("signature"), key_id=m.get("key_id"))
    return out


def signoff_fields(row: Any) -> dict[str, Any]:
    m = row._mapping if hasattr(row, "_mapping") else row
    out = {k: _text(m[k]) for k in _SIGNOFF_FIELDS}
    out["id"], out["record_id"] = int(out["id"]), int(out["record_id"])
    out.update(signature=m.get("signature"), key_id=m.get("key_id"))
    return out


def _canonical(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def record_payload(r: Mapping[str, Any], key_id: str | None) -> bytes:
    """The bytes a record's signature covers (``r`` as :func:`record_fields` gives it)."""
    return _canonical({"v": 1, "type": "wardround-record", **{k: r[k] for k in _RECORD_FIELDS}, "key_id": key_id})


def signoff_payload(s: Mapping[str, Any], key_id: str | None, *, record_signature: str | None,
                    previous: str | None) -> bytes:
    """The bytes a sign-off's signature covers: its fields, the record's signature and the previous sign-off's."""
    return _canonical({"v": 1, "type": "wardround-signoff", **{k: s[k] for k in _SIGNOFF_FIELDS},
                       "record_signature": record_signature, "previous": previous, "key_id": key_id})


def sign_record(keys: Keyring, r: Mapping[str, Any]) -> str:
    return keys.sign(record_payload(r, keys.key_id))


def sign_signoff(keys: Keyring, s: Mapping[str, Any], *, record_signature: str | None,
                 previous: str | None) -> str:
    return keys.sign(signoff_payload(s, keys.key_id, record_signature=record_signature, previous=previous))


@dataclass(slots=True)
class Check:
    """The outcome of checking one record and its sign-offs."""

    status: str
    computed: str  # SHA-256 of the stored content, recomputed now
    key: PublicKey | None  # the trusted key that signed the record, if any
    problems: list[str] = field(default_factory=list)
    signoffs: list[str] = field(default_factory=list)  # the status of each sign-off, in order


def check(record: Mapping[str, Any], signoffs: Sequence[Mapping[str, Any]],
          trusted: Callable[[str | None], PublicKey | None],
          audit: Sequence[Mapping[str, Any]] = (), *, given: PublicKey | None = None) -> Check:
    """Check a record (:func:`record_fields`) and its sign-offs, oldest first, against ``trusted`` keys.

    ``audit``: the audit-log entries about this record (``action``, ``detail``
    as a dict), if the checker has them — they catch a signature or sign-off
    removed from the database.  ``given``: the one public key a person gave (an export checked offline, no
    collector involved): what another key signed is said to be signed by another key than that one.
    """
    problems: list[str] = []
    computed = hashlib.sha256(record["content"].encode("utf-8")).hexdigest()
    if computed != record["digest"]:
        problems.append(tsay("errors.integrity.content"))
    digest_only = False
    key = None
    signature = record.get("signature")
    if signature is None:
        digest_only = True
    else:
        key = trusted(record.get("key_id"))
        if key is None:
            problems.append(tsay("errors.integrity.untrusted_key", key_id=record.get("key_id")) if given is None else
                            tsay("errors.integrity.other_key", key_id=record.get("key_id"), given=given.key_id))
        elif not key.verify(record_payload(record, record.get("key_id")), signature):
            problems.append(tsay("errors.integrity.signature"))
    statuses = []
    previous = None
    for s in signoffs:
        status = VERIFIED
        if s["digest"] != computed:
            status = FAILED
            problems.append(tsay("errors.integrity.signoff_digest", id=s["id"]))
        if s.get("signature") is None:
            status = DIGEST_ONLY if status != FAILED else status
        else:
            signer_key = trusted(s.get("key_id"))
            payload = signoff_payload(s, s.get("key_id"), record_signature=signature, previous=previous)
            if signer_key is None and given is not None:
                status = FAILED
                problems.append(tsay("errors.integrity.signoff_other_key", id=s["id"], key_id=s.get("key_id"),
                                     given=given.key_id))
            elif signer_key is None or not signer_key.verify(payload, s["signature"]):
                status = FAILED
                problems.append(_signoff_unverified(s))
        statuses.append(status)
        previous = s.get("signature")
    by_id = {int(s["id"]): s.get("signature") for s in signoffs}
    for entry in audit:
        raw = entry.get("detail")
        detail: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
        logged = detail.get("signature")
        if entry.get("action") == "record.issue" and logged is not None and logged != signature:
            problems.append(tsay("errors.integrity.audit_record"))
        elif entry.get("action") == "record.sign" and logged is not None:
            sid = detail.get("signature_id")
            if not isinstance(sid, int) or by_id.get(sid, "") != logged:
                problems.append(tsay("errors.integrity.audit_signoff", id=sid))
    if problems:
        status = FAILED
    elif digest_only or DIGEST_ONLY in statuses:
        status = DIGEST_ONLY
    else:
        status = VERIFIED
    return Check(status, computed, key, problems, statuses)


def _signoff_unverified(s: Mapping[str, Any]) -> str:
    """A sign-off that does not verify; its role said as a word when it is one of ours (an export may hold any)."""
    role = s.get("role")
    word = f"errors.integrity.role.{role}"
    if word in ticket_templates("en"):
        return tsay("errors.integrity.signoff_unverified", id=s["id"], role=word)
    return (f"sign-off {s['id']} ({role}) does not verify: it was changed, moved, reordered or is not chained "
            "to this record")


def export(record: Mapping[str, Any], signoffs: Sequence[Mapping[str, Any]], key: PublicKey | None) -> bytes:
    """A record with its sign-offs as one JSON document to check offline (:func:`check_export`).

    ``signed`` holds the exact bytes each signature covers (as text), for
    checking with other tools; ``public_key`` names the key that signed it —
    check against your own copy of the collector's public key, never this one.
    """
    previous = None
    signed = []
    for s in signoffs:
        signed.append(signoff_payload(s, s.get("key_id"), record_signature=record.get("signature"),
                                      previous=previous).decode("utf-8"))
        previous = s.get("signature")
    doc = {
        "format": EXPORT_FORMAT, "version": 1, "record": dict(record), "signatures": [dict(s) for s in signoffs],
        "signed": {"record": record_payload(record, record.get("key_id")).decode("utf-8"), "signatures": signed},
        "public_key": None if key is None else {"key_id": key.key_id, "fingerprint": key.fingerprint,
                                                "base64": key.base64},
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def check_export(data: bytes, public: PublicKey) -> Check:
    """Check an export with the collector's public key ``public`` (given by the person, not the file)."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(tsay("errors.integrity.export_json", error=str(exc))) from exc
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
        raise ValueError(tsay("errors.integrity.export_format", expected=f'"format": "{EXPORT_FORMAT}"'))
    record, signoffs = doc.get("record"), doc.get("signatures")
    try:
        if not isinstance(record, dict) or not isinstance(signoffs, list):
            raise TypeError("record and signatures")
        return check(record, signoffs, lambda key_id: public if key_id == public.key_id else None, given=public)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(tsay("errors.integrity.export_field", error=str(exc))) from exc
