"""The fonts a printed record uses: found by fontconfig, measured and subset for embedding in a PDF.

:mod:`collector.records.printer` sets every character in the first font of a
CSS ``font-family`` list (from ``templates/record.css``) that is installed and
has a glyph for it, as a browser does; a list ends with a generic family
(``sans-serif``, ``monospace``), which fontconfig resolves.  Widths come from
the font's own advance widths (no kerning or shaping: the record is CJK and
Latin text, which needs neither), read with the character map straight from
the font's tables (fontTools would decode all 45,000 glyph names of a CJK
font first: 0.3 s).

Embedding keeps the glyph ids of the font file, so the page content can be
written as the text is laid out, before the subset is known:

* TrueType outlines (``glyf``, e.g. WenQuanYi Zen Hei, DejaVu): subset here,
  straight from the tables — the used glyphs (and the glyphs a composite is
  made of) are copied, every other glyph is left empty.  A CJK font of 45,000
  glyphs subsets in milliseconds (fontTools' subsetter needs about a second);
* CFF outlines (``OTTO``, e.g. Noto Sans CJK): fontTools' subsetter with
  ``retain_gids`` (as WeasyPrint does), remembered per set of glyphs.

Errors: :class:`FontsUnavailable` when fontconfig is missing, no font can be
found, or a CFF font is to be embedded without fontTools; a font file that
cannot be read is skipped like a font that is not installed.
"""

from __future__ import annotations

import io
import logging
import mmap
import shutil
import struct
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache

__all__ = ["Face", "FontsUnavailable", "Family", "family_chain", "subset"]

log = logging.getLogger(__name__)

_GENERIC = {"sans-serif", "serif", "monospace", "cursive", "fantasy", "system-ui"}
_BOLD_WEIGHT = 180  # fontconfig: 80 regular, 100 medium, 180 demibold, 200 bold


class FontsUnavailable(RuntimeError):
    """fontTools or fontconfig is not installed, or no font was found."""


@dataclass(eq=False)
class Face:
    """One font file (one face of a collection) read for measuring and embedding."""

    family: str
    path: str
    index: int
    bold: bool
    cff: bool
    units: int  # units per em
    ascent: float  # in em
    descent: float  # in em, positive
    line_gap: float
    cmap: dict[int, int]  # code point -> glyph id
    advances: list[int]  # glyph id -> advance width in font units
    italic_angle: float = 0.0
    _thousandths: dict[int, float] = field(default_factory=dict, repr=False)

    def width(self, gid: int) -> float:
        """Advance of a glyph in thousandths of an em (the unit of a PDF font's /W array)."""
        w = self._thousandths.get(gid)
        if w is None:
            adv = self.advances[gid] if gid < len(self.advances) else self.advances[-1]
            w = self._thousandths[gid] = round(adv * 1000 / self.units, 3)
        return w

    @property
    def postscript_family(self) -> str:
        """``WenQuanYi-Zen-Hei`` (``-Bold`` for a bold face): the name ``pdffonts`` shows."""
        return self.family.replace(" ", "-") + ("-Bold" if self.bold else "")


@dataclass(eq=False)
class Family:
    """A CSS family resolved: its regular face and, where the family has one, its bold face."""

    name: str
    regular: Face
    bold: Face | None


def _fontconfig_list() -> list[tuple[list[str], int, int, str, int]]:
    """Every installed face: (family names, weight, slant, file, index), from ``fc-list``."""
    exe = shutil.which("fc-list")
    if exe is None:
        raise FontsUnavailable("PDF output needs fontconfig (Debian: apt-get install fontconfig) and fonts")
    out = subprocess.run([exe, "--format", "%{family}\t%{weight}\t%{slant}\t%{file}\t%{index}\n"],
                         capture_output=True, text=True, timeout=60, check=False).stdout
    faces = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) != 5:
            continue
        try:
            faces.append(([f.strip() for f in parts[0].split(",")], int(float(parts[1])), int(float(parts[2])),
                          parts[3], int(parts[4])))
        except ValueError:
            continue
    return faces


def _fontconfig_match(pattern: str) -> tuple[str, str, int] | None:
    """fontconfig's choice for a generic family: (family, file, index)."""
    exe = shutil.which("fc-match")
    if exe is None:
        return None
    out = subprocess.run([exe, "--format", "%{family}\t%{file}\t%{index}", pattern],
                         capture_output=True, text=True, timeout=60, check=False).stdout.split("\t")
    if len(out) != 3:
        return None
    return out[0].split(",")[0].strip(), out[1], int(out[2] or 0)


@cache
def _installed() -> dict[str, list[tuple[int, int, str, int]]]:
    """Installed faces by lower-cased family name (any of a face's names, Chinese ones too)."""
    by_family: dict[str, list[tuple[int, int, str, int]]] = {}
    for names, weight, slant, path, index in _fontconfig_list():
        if not path.lower().endswith((".ttf", ".ttc", ".otf", ".otc")):
            continue  # Type 1, bitmap and WOFF files are not embedded here
        for name in names:
            by_family.setdefault(name.lower(), []).append((weight, slant, path, index))
    return by_family


@lru_cache(maxsize=16)
def _face(family: str, path: str, index: int, bold: bool) -> Face | None:
    """Read the metrics and character map of one face straight from its tables (fontTools would
    decode every glyph name first: 0.3 s for a CJK font); ``None`` when the file cannot be read."""
    try:
        data = _font_file(path)
        offset = struct.unpack_from(">I", data, 12 + 4 * index)[0] if data[:4] == b"ttcf" else 0
        tables = _tables(data, offset)
        if b"glyf" not in tables and b"CFF " not in tables:
            return None  # bitmap-only or CFF2 (variable) fonts
        head, hhea = tables[b"head"][0], tables[b"hhea"][0]
        units = struct.unpack_from(">H", data, head + 18)[0]
        ascent, descent, line_gap = struct.unpack_from(">hhh", data, hhea + 4)
        n_metrics = struct.unpack_from(">H", data, hhea + 34)[0]
        n_glyphs = struct.unpack_from(">H", data, tables[b"maxp"][0] + 4)[0]
        hmtx = tables[b"hmtx"][0]
        advances = list(struct.unpack_from(f">{2 * n_metrics}H", data, hmtx)[0::2]) or [0]
        advances += [advances[-1]] * (n_glyphs - len(advances))
        italic = struct.unpack_from(">i", data, tables[b"post"][0] + 4)[0] / 65536 if b"post" in tables else 0.0
        return Face(family=family, path=path, index=index, bold=bold, cff=b"CFF " in tables, units=units,
                    ascent=ascent / units, descent=abs(descent) / units, line_gap=line_gap / units,
                    cmap=_cmap(data, tables[b"cmap"][0], n_glyphs), advances=advances[:n_glyphs],
                    italic_angle=italic)
    except (OSError, ValueError, KeyError, struct.error) as exc:
        log.warning("font %s (%s #%d) cannot be read: %s", family, path, index, exc)
        return None


def _cmap(data: mmap.mmap, at: int, n_glyphs: int) -> dict[int, int]:
    """Code point -> glyph id from the best Unicode subtable: format 12 (all planes), else format 4."""
    count = struct.unpack_from(">H", data, at + 2)[0]
    found: dict[int, int] = {}
    for platform, encoding, offset in sorted(
            (struct.unpack_from(">HHI", data, at + 4 + 8 * i) for i in range(count)),
            key=lambda t: (t[0], t[1]) not in ((3, 10), (0, 4), (0, 6))):  # full-repertoire tables first
        if (platform, encoding) not in ((3, 10), (3, 1), (0, 3), (0, 4), (0, 6)):
            continue
        sub = at + offset
        fmt = struct.unpack_from(">H", data, sub)[0]
        if fmt == 12:
            groups = struct.unpack_from(">I", data, sub + 12)[0]
            for start, end, gid in struct.iter_unpack(">III", data[sub + 16:sub + 16 + 12 * groups]):
                for cp in range(start, end + 1):
                    found.setdefault(cp, gid + cp - start)
        elif fmt == 4:
            segs = struct.unpack_from(">H", data, sub + 6)[0] // 2
            ends = struct.unpack_from(f">{segs}H", data, sub + 14)
            starts = struct.unpack_from(f">{segs}H", data, sub + 16 + 2 * segs)
            deltas = struct.unpack_from(f">{segs}h", data, sub + 16 + 4 * segs)
            range_at = sub + 16 + 6 * segs
            offsets = struct.unpack_from(f">{segs}H", data, range_at)
            for i in range(segs):
                for cp in range(starts[i], ends[i] + 1):
                    if cp == 0xFFFF:
                        continue
                    if offsets[i] == 0:
                        gid = (cp + deltas[i]) & 0xFFFF
                    else:
                        gid = struct.unpack_from(">H", data, range_at + 2 * i + offsets[i]
                                                 + 2 * (cp - starts[i]))[0]
                        gid = (gid + deltas[i]) & 0xFFFF if gid else 0
                    if gid:
                        found.setdefault(cp, gid)
        else:
            continue
        if found:
            break
    return {cp: gid for cp, gid in found.items() if 0 < gid < n_glyphs}


def _pick(faces: list[tuple[int, int, str, int]], bold: bool) -> tuple[str, int] | None:
    """The upright face closest to regular (or bold) weight."""
    upright = [f for f in faces if f[1] == 0] or faces
    if bold:
        upright = [f for f in upright if f[0] >= _BOLD_WEIGHT]
        if not upright:
            return None
    target = 200 if bold else 80
    weight, _, path, index = min(upright, key=lambda f: (abs(f[0] - target), f[2], f[3]))
    return path, index


def _resolve(name: str) -> Family | None:
    if name.lower() in _GENERIC:
        matched = _fontconfig_match(name)
        if matched is None:
            return None
        family_name, path, index = matched
        faces = _installed().get(family_name.lower(), [(80, 0, path, index)])
    else:
        faces = _installed().get(name.lower(), [])
        family_name = name
    if not faces:
        return None
    regular = _pick(faces, bold=False)
    if regular is None or (face := _face(family_name, *regular, False)) is None:
        return None
    bold_at = _pick(faces, bold=True)
    bold = _face(family_name, *bold_at, True) if bold_at and bold_at != regular else None
    return Family(family_name, face, bold)


@cache
def family_chain(families: tuple[str, ...]) -> tuple[Family, ...]:
    """The installed families of a CSS ``font-family`` list, in its order (generic names through
    fontconfig); a family named twice (``sans-serif`` resolving to one already listed) is kept once.
    Raises :class:`FontsUnavailable` when none is installed."""
    chain: list[Family] = []
    seen: set[tuple[str, int]] = set()
    for name in families:
        family = _resolve(name)
        if family is not None and (family.regular.path, family.regular.index) not in seen:
            seen.add((family.regular.path, family.regular.index))
            chain.append(family)
    if not chain:
        raise FontsUnavailable(f"no font of {', '.join(families)} is installed "
                               f"(Debian: apt-get install fonts-wqy-zenhei fonts-dejavu-core)")
    return tuple(chain)


# --- subsetting ------------------------------------------------------------------------------------

def subset(face: Face, gids: Iterable[int]) -> bytes:
    """The font program of ``face`` holding only ``gids`` (and .notdef), glyph ids kept."""
    return _subset(face, frozenset(gids) | {0})


@lru_cache(maxsize=32)
def _subset(face: Face, gids: frozenset[int]) -> bytes:
    return _subset_cff(face, gids) if face.cff else _subset_truetype(face, gids)


def _subset_cff(face: Face, gids: frozenset[int]) -> bytes:
    try:
        from fontTools import subset as ft_subset
        from fontTools.ttLib import TTFont
    except ImportError as exc:
        raise FontsUnavailable(f"a PDF in {face.family} (CFF outlines) needs fontTools "
                               f"(pip install fonttools): {exc}") from exc

    options = ft_subset.Options(retain_gids=True, ignore_missing_glyphs=True, desubroutinize=True,
                                hinting=False, notdef_outline=True, glyph_names=False)
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "SVG ", "vhea", "vmtx", "VORG"]
    font = TTFont(face.path, fontNumber=face.index)
    subsetter = ft_subset.Subsetter(options)
    subsetter.populate(gids=sorted(gids))
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


_KEEP = (b"OS/2", b"cvt ", b"fpgm", b"head", b"hhea", b"hmtx", b"maxp", b"prep")  # + glyf, loca, post


def _tables(data: mmap.mmap, offset: int) -> dict[bytes, tuple[int, int]]:
    """Where the tables of the sfnt at ``offset`` of ``data`` are: tag -> (start, length)."""
    (count,) = struct.unpack_from(">H", data, offset + 4)
    tables = {}
    for i in range(count):
        tag, _, start, length = struct.unpack_from(">4sIII", data, offset + 12 + 16 * i)
        tables[tag] = (start, length)
    return tables


@lru_cache(maxsize=8)
def _font_file(path: str) -> mmap.mmap:
    """The font file mapped, not read: a CJK collection is 10-20 MB, of which a record uses little."""
    with open(path, "rb") as fh:
        return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)


def _subset_truetype(face: Face, gids: frozenset[int]) -> bytes:
    data = _font_file(face.path)
    offset = 0
    if data[:4] == b"ttcf":
        (offset,) = struct.unpack_from(">I", data, 12 + 4 * face.index)
    tables = _tables(data, offset)

    def table(tag: bytes) -> bytes:
        start, length = tables[tag]
        return data[start:start + length]

    head = table(b"head")
    long_loca = struct.unpack_from(">h", head, 50)[0] == 1
    loca_raw = table(b"loca")
    count = len(face.advances)
    if long_loca:
        loca = struct.unpack(f">{count + 1}I", loca_raw[:4 * (count + 1)])
    else:
        loca = tuple(2 * v for v in struct.unpack(f">{count + 1}H", loca_raw[:2 * (count + 1)]))
    glyf = tables[b"glyf"][0]  # glyphs are read from the mapped file, not copied whole
    wanted = set(g for g in gids if g < count)
    todo = list(wanted)
    while todo:  # composite glyphs: their parts too
        gid = todo.pop()
        start, end = loca[gid], loca[gid + 1]
        if end - start < 10 or struct.unpack_from(">h", data, glyf + start)[0] >= 0:
            continue
        pos = glyf + start + 10
        while True:
            flags, part = struct.unpack_from(">HH", data, pos)
            if part < count and part not in wanted:
                wanted.add(part)
                todo.append(part)
            pos += 4 + (4 if flags & 0x0001 else 2)
            pos += 8 if flags & 0x0080 else 4 if flags & 0x0040 else 2 if flags & 0x0008 else 0
            if not flags & 0x0020:
                break
    pieces, offsets, at = [], [], 0
    for gid in range(count):
        offsets.append(at)
        if gid in wanted:
            piece = data[glyf + loca[gid]:glyf + loca[gid + 1]]
            piece += b"\0" * (-len(piece) % 4)
            pieces.append(piece)
            at += len(piece)
    offsets.append(at)
    out = {tag: table(tag) for tag in _KEEP if tag in tables}
    out[b"glyf"] = b"".join(pieces)
    out[b"loca"] = struct.pack(f">{len(offsets)}I", *offsets)
    out[b"head"] = head[:8] + b"\0\0\0\0" + head[12:50] + struct.pack(">h", 1) + head[52:]
    if b"post" in tables:  # format 3: no glyph names
        start, _ = tables[b"post"]
        out[b"post"] = struct.pack(">I", 0x00030000) + data[start + 4:start + 32]
    return _sfnt(out)


def _checksum(data: bytes) -> int:
    data += b"\0" * (-len(data) % 4)
    total: int = sum(struct.unpack(f">{len(data) // 4}I", data))
    return total & 0xFFFFFFFF


def _sfnt(tables: dict[bytes, bytes]) -> bytes:
    """An sfnt file (TrueType) of ``tables``, checksums and head.checkSumAdjustment set."""
    tags = sorted(tables)
    n = len(tags)
    power = 1 << (n.bit_length() - 1)
    header = struct.pack(">IHHHH", 0x00010000, n, power * 16, power.bit_length() - 1, n * 16 - power * 16)
    directory, body = [], []
    at = 12 + 16 * n
    for tag in tags:
        data = tables[tag]
        directory.append(struct.pack(">4sIII", tag, _checksum(data), at, len(data)))
        padded = data + b"\0" * (-len(data) % 4)
        body.append(padded)
        at += len(padded)
    font = bytearray(header + b"".join(directory) + b"".join(body))
    adjustment = (0xB1B0AFBA - _checksum(bytes(font))) & 0xFFFFFFFF
    head_at = 12 + 16 * n + sum(len(b) for b, t in zip(body, tags, strict=True) if t < b"head")
    struct.pack_into(">I", font, head_at + 8, adjustment)
    return bytes(font)

