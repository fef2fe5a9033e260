"""The compact form of a stored result: what repeats is stored once, a row keeps what changed.

A steady patrol sends the same texts again and again with only numbers changing
("/ 37.1 % used, 63.9 GiB free"), so each result's texts (``summary``,
``standard``, the ``details`` JSON and the ``metrics`` JSON) are split at their
numbers: the parts between the numbers (the *skeleton*) and the numbers of the
first result with that skeleton (the *defaults*) form a template, stored once in
``result_texts``; a row keeps only the numbers that differ from the defaults
(``3:37.06 5:68565598208.0``).  The split is textual, so joining the parts and
numbers gives back exactly the text that came in.

The ``results`` view (migration 0013) hands each packed text out as
``template || '\\n' || diff``; :class:`PackedText` turns that back into the text
when a row is read, so readers see the columns they always saw.  Site, host,
check and item are interned in ``result_series``; the result id is kept as its
16 bytes (:class:`UidBytes`); times are integer microseconds on SQLite
(:class:`Stamp`) and ``timestamptz`` on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import compress
from operator import itemgetter, ne
from typing import Any

import orjson
from sqlalchemy import BigInteger, DateTime, Dialect, LargeBinary, Text, TypeDecorator
from sqlalchemy.types import TypeEngine

__all__ = ["TEXTS", "Packed", "PackedText", "Stamp", "UidBytes", "defaults", "diff", "from_micros", "micros", "pack",
           "packed", "packed_diff", "split", "template_key", "template_text", "unpack"]

TEXTS = ("summary", "standard", "details", "metrics", "messages")  # messages: since migration 0015
_NUMBER = re.compile(r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SEP = "\n"  # neither a template (JSON) nor a diff (numbers, ':' and ' ') holds one


def split(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``text`` as (the parts between its numbers, its numbers); ``len(parts) == len(numbers) + 1``."""
    held = _SPLITS.get(text)
    if held is None:
        held = _split(text)
    return held


def _split(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """:data:`_NUMBER`'s split of ``text``, remembered; an ASCII text by its *layout* too.

    The layout is the text with every digit written ``0``: where the numbers are depends only on which
    characters are digits and on the others (``-``, ``.``, ``e``, ``+``), so two texts of one layout
    split at the same places.  A patrol's next texts differ in numbers of the same width ("41.5 %" →
    "41.7 %"), so their layout is known and the split is a few slices (in C), not a pattern
    search character by character (6 µs for a result's metrics as JSON).  Non-ASCII texts (whose
    digits may be other scripts' too) are always searched."""
    layout = None
    if text.isascii():
        layout = text.encode().translate(_ZEROS)
        known = _LAYOUTS.get(layout)
        if known is not None:
            parts, take, count = known
            numbers = take(text) if count > 1 else (take(text),) if count else ()
            return _remember(text, (parts, numbers))
    pieces = _NUMBER.split(text)
    held = tuple(pieces[0::2]), tuple(pieces[1::2])
    if layout is not None:
        if len(_LAYOUTS) >= _LAYOUTS_KEPT:
            _LAYOUTS.clear()
        _LAYOUTS[layout] = _layout(*held)
    return _remember(text, held)


def _layout(parts: tuple[str, ...], numbers: tuple[str, ...]) -> tuple[tuple[str, ...], Any, int]:
    """(the parts, a getter of the numbers' slices, how many numbers) of a split text."""
    spans = []
    at = 0
    for part, number in zip(parts, numbers, strict=False):
        at += len(part)
        spans.append(slice(at, at + len(number)))
        at += len(number)
    return parts, itemgetter(*spans) if spans else None, len(spans)


def _remember(text: str, held: tuple[tuple[str, ...], tuple[str, ...]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if len(_SPLITS) >= _SPLITS_KEPT:
        _SPLITS.clear()
    _SPLITS[text] = held
    return held


# standards, details and many summaries repeat exactly: remembered (a dict is cheaper than lru_cache per text)
_SPLITS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
_SPLITS_KEPT = 65536
# ASCII texts by layout (digits as "0"): the parts, and where the numbers are
_LAYOUTS: dict[bytes, tuple[tuple[str, ...], Any, int]] = {}
_LAYOUTS_KEPT = 16384
_ZEROS = bytes.maketrans(b"123456789", b"000000000")


Skeletons = tuple[tuple[str, ...], ...]


@lru_cache(maxsize=16384)
def template_key(skeletons: Skeletons) -> bytes:
    """The 16-byte digest naming a template by its skeletons."""
    return hashlib.sha256(orjson.dumps(skeletons)).digest()[:16]


def pack(texts: Iterable[str | None]) -> tuple[Skeletons, list[str]]:
    """The skeletons of ``texts`` (None: an empty text) and all their numbers, in order."""
    skeletons = []
    numbers: list[str] = []
    held = _SPLITS.get
    for text in texts:
        text = text or ""
        parts, nums = held(text) or _split(text)
        skeletons.append(parts)
        numbers += nums
    return tuple(skeletons), numbers


Packed = tuple[bytes, Skeletons, list[str]]  # (the template's key, the skeletons, all numbers) of a result's texts


def packed(texts: tuple[str | None, ...]) -> Packed:
    """One result's :data:`TEXTS` packed (:func:`pack`) with their template's key.  Texts seen before are
    remembered (a steady patrol sends the same texts again and again: one dict lookup instead of five
    splits and a key); a texts' first sight is only noted, so results whose numbers change every time
    cost a set entry more, not an object more."""
    held = _PACKED.get(texts)
    if held is not None:
        return held
    skeletons, numbers = pack(texts)
    held = (template_key(skeletons), skeletons, numbers)
    if texts in _ONCE:
        if len(_PACKED) >= _PACKED_KEPT:
            _PACKED.clear()
        _PACKED[texts] = held
    else:
        if len(_ONCE) >= _PACKED_KEPT:
            _ONCE.clear()
        _ONCE.add(texts)
    return held


def packed_diff(texts: tuple[str | None, ...], defaults: list[str], numbers: list[str]) -> str:
    """:func:`diff` of remembered texts (:func:`packed`) against their template's ``defaults``, remembered
    for the same list of defaults (the one its store remembers; another store's is another object)."""
    last = _DIFFS.get(texts)
    if last is not None and last[0] is defaults:
        return last[1]
    changed = diff(defaults, numbers)
    if texts in _PACKED:
        if len(_DIFFS) >= _PACKED_KEPT:
            _DIFFS.clear()
        _DIFFS[texts] = (defaults, changed)
    return changed


_PACKED: dict[tuple[str | None, ...], Packed] = {}
_ONCE: set[tuple[str | None, ...]] = set()
_DIFFS: dict[tuple[str | None, ...], tuple[list[str], str]] = {}
_PACKED_KEPT = 16384


def template_text(skeletons: Skeletons, numbers: list[str]) -> str:
    """The stored template: each text's skeleton with its default numbers."""
    out: list[Any] = []
    at = 0
    for parts in skeletons:
        n = len(parts) - 1
        out.append([list(parts), numbers[at:at + n]])
        at += n
    return orjson.dumps(out).decode()


def diff(defaults: list[str], numbers: list[str]) -> str:
    """The numbers that differ from the template's defaults, as ``position:number`` words."""
    if defaults == numbers:  # the usual case on the ingest path: nothing to list
        return ""
    if len(defaults) != len(numbers):
        raise ValueError(f"{len(numbers)} numbers for a template of {len(defaults)}")
    # the positions compared in C; only the few that differ are written
    return " ".join([f"{i}:{numbers[i]}" for i in compress(range(len(numbers)), map(ne, defaults, numbers))])


@lru_cache(maxsize=8192)
def _template(template: str) -> tuple[tuple[tuple[str, ...], tuple[str, ...], int], ...]:
    texts = []
    at = 0
    for parts, nums in orjson.loads(template):
        texts.append((tuple(parts), tuple(nums), at))
        at += len(nums)
    return tuple(texts)


def defaults(template: str) -> list[str]:
    """All default numbers of a stored template, in order."""
    return [n for _, nums, _ in _template(template) for n in nums]


def unpack(packed: str, which: int) -> str:
    """Text number ``which`` (an index into :data:`TEXTS`) of a ``template\\ndiff`` value."""
    template, _, changed = packed.partition(_SEP)
    texts = _template(template)
    if which >= len(texts):
        return ""  # a template stored before that text existed (messages, before migration 0015)
    parts, defaults, start = texts[which]
    if not defaults:
        return parts[0]
    nums = list(defaults)
    if changed:
        end = start + len(nums)
        for word in changed.split(" "):
            pos, _, number = word.partition(":")
            i = int(pos)
            if start <= i < end:
                nums[i - start] = number
    out = [parts[0]]
    for number, part in zip(nums, parts[1:], strict=True):
        out.append(number)
        out.append(part)
    return "".join(out)


class PackedText(TypeDecorator[str]):
    """A column of the ``results`` view that holds a packed text (read only)."""

    impl = Text
    cache_ok = True

    def __init__(self, which: int) -> None:
        super().__init__()
        self.which = which

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else unpack(value, self.which)


class UidBytes(TypeDecorator[str]):
    """A result id (32 lowercase hex digits, the wire rule) stored as its 16 bytes."""

    impl = LargeBinary(16)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else bytes.fromhex(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else bytes(value).hex()


class Stamp(TypeDecorator[datetime]):
    """A UTC time: integer microseconds since 1970 on SQLite (8 bytes, not 26), ``timestamptz`` on PostgreSQL."""

    impl = BigInteger
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the store only takes timezone-aware times")
        if dialect.name == "sqlite":
            return micros(value)
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return from_micros(int(value))


def micros(value: datetime) -> int:
    """``value`` as integer microseconds since 1970-01-01 UTC."""
    d = value - _EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)
