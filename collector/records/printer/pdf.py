"""The PDF file itself: strings, the ToUnicode map of a font subset, objects and the cross-reference table."""

from __future__ import annotations

import zlib


def _pdf_string(text: str) -> str:
    """A PDF text string: UTF-16BE with a byte-order mark, as hex."""
    return "<feff" + text.encode("utf-16-be").hex() + ">"


def _to_unicode(used: dict[int, str]) -> bytes:
    lines = ["/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
             "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
             "/CMapName /Adobe-Identity-UCS def", "/CMapType 2 def",
             "1 begincodespacerange", "<0000> <ffff>", "endcodespacerange"]
    items = sorted(used.items())
    for i in range(0, len(items), 100):
        chunk = items[i:i + 100]
        lines.append(f"{len(chunk)} beginbfchar")
        lines.extend(f"<{gid:04x}> <{ch.encode('utf-16-be').hex()}>" for gid, ch in chunk)
        lines.append("endbfchar")
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode("ascii")


class _PdfWriter:
    """PDF objects numbered in order of reservation, written with a cross-reference table."""

    def __init__(self) -> None:
        self.objects: list[bytes | None] = []

    def reserve(self) -> int:
        self.objects.append(None)
        return len(self.objects)

    def set(self, ref: int, body: str) -> None:
        self.objects[ref - 1] = body.encode("latin-1")

    def add(self, body: str) -> int:
        ref = self.reserve()
        self.set(ref, body)
        return ref

    def stream(self, data: bytes, extra: str = "", packed: bool = False) -> int:
        """A stream object of ``data`` (already compressed when ``packed``)."""
        if not packed:
            data = zlib.compress(data, 6)
        ref = self.reserve()
        self.objects[ref - 1] = (f"<< /Length {len(data)} /Filter /FlateDecode {extra}>>\nstream\n"
                                 .encode("latin-1") + data + b"\nendstream")
        return ref

    def finish(self, root: int, info: int) -> bytes:
        parts = [b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"]
        offsets, at = [], len(parts[0])
        for number, body in enumerate(self.objects, 1):
            chunk = f"{number} 0 obj\n".encode("latin-1") + (body or b"null") + b"\nendobj\n"
            offsets.append(at)
            parts.append(chunk)
            at += len(chunk)
        xref = [f"xref\n0 {len(self.objects) + 1}\n", "0000000000 65535 f \n"]
        xref += [f"{o:010d} 00000 n \n" for o in offsets]
        parts.append("".join(xref).encode("latin-1"))
        parts.append(f"trailer\n<< /Size {len(self.objects) + 1} /Root {root} 0 R /Info {info} 0 R >>\n"
                     f"startxref\n{at}\n%%EOF\n".encode("latin-1"))
        return b"".join(parts)
