"""PDFs written at test time by a tiny PDF writer: real text (Helvetica, so pdfium finds
and searches it), any page size, and raw content streams for hostile files."""

from __future__ import annotations

import zlib
from pathlib import Path


def write(pages: list[tuple[bytes, tuple[float, float]]], title: str | None = None) -> bytes:
    """A PDF of `pages` (content stream, (width, height) in points), Helvetica as /F1."""
    n = len(pages)
    objs: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")  # object 3
    kids = []
    for content, (w, h) in pages:
        stream = zlib.compress(content, 9)
        page_no = len(objs) + 1
        kids.append(b"%d 0 R" % page_no)
        objs.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %s %s] /Contents %d 0 R "
            b"/Resources << /Font << /F1 3 0 R >> >> >>"
            % (str(w).encode(), str(h).encode(), page_no + 1)
        )
        objs.append(
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream)
            + stream
            + b"\nendstream"
        )
    objs[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), n)
    info = b""
    if title:
        objs.append(b"<< /Title (%s) >>" % title.encode("latin-1"))
        info = b" /Info %d 0 R" % len(objs)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objs) + 1,
        info,
        xref,
    )
    return bytes(out)


def numbered(path: Path, pages: int = 60, title: str | None = None) -> Path:
    """Each page shows its number huge (drawn as text) and the line "This is page N of
    M." plus a coloured band whose hue depends on N (so pixels tell pages apart)."""
    out = []
    for i in range(1, pages + 1):
        r, g, b = (i * 37 % 255) / 255, (i * 91 % 255) / 255, (i * 53 % 255) / 255
        content = (
            b"%.3f %.3f %.3f rg 40 660 532 80 re f\n" % (r, g, b)
            + b"0 g BT /F1 220 Tf 120 300 Td (%d) Tj ET\n" % i
            + b"BT /F1 24 Tf 72 200 Td (This is page %d of %d.) Tj ET\n" % (i, pages)
        )
        out.append((content, (612, 792)))
    path.write_bytes(write(out, title))
    return path


def rectangles(count: int = 3_000_000) -> bytes:
    """One page of `count` 1-point rectangles: 75 KB on disk, a gigabyte in pdfium."""
    return write([(b"0 0 1 1 re f\n" * count, (612, 792))])


def huge_page(edge: float = 200_000) -> bytes:
    """One page whose MediaBox is `edge` x `edge` points (a 2.8 km square)."""
    return write([(b"0 0 1 rg 0 0 %d %d re f\n" % (edge // 2, edge // 2), (edge, edge))])
