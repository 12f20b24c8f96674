"""The PDF worker process: pdfium runs here, never in the kernel.

pdfium parses a page's content in C when the page is loaded: a 75 KB PDF of 3 million
rectangles takes a gigabyte and many seconds before the first pixel. So the kernel
(`pdf.Worker`) starts this module as a child process, which caps its own address
space (`RLIMIT_AS`: its size after imports plus the memory limit it is given) and
answers one request at a time on stdin/stdout; the kernel kills it when a request
overruns the time limit. An allocation past the cap aborts the worker, not the kernel.

Protocol: a request is one JSON line; the answer is one JSON line (`nbytes` says how
many raw bytes follow it: RGB pixels of a rendered page), or {"error": ...}.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any, BinaryIO

MAX_RUNS = 4000  # text runs one page sends to the viewer's text layer
MAX_CHARS = 200_000  # characters of one page's text
LETTER = (612.0, 792.0)


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def limit_memory(nbytes: int) -> None:
    """Cap this process's address space at its current size plus `nbytes` (Linux, where
    the size can be read; elsewhere the time limit alone bounds the worker)."""
    try:
        import resource

        size = _vm_size()
        if nbytes > 0 and size > 0:
            resource.setrlimit(resource.RLIMIT_AS, (size + nbytes, size + nbytes))
    except (ImportError, OSError, ValueError):
        pass


def _size(w: float, h: float) -> tuple[float, float]:
    """A page's declared size, or Letter when it is nonsense (zero, negative, NaN)."""
    ok = all(math.isfinite(v) and v > 0 for v in (w, h))
    return (float(w), float(h)) if ok else LETTER


class Documents:
    """The open document (reopened when another path is asked for)."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.pdf: Any = None

    def get(self, path: str) -> Any:
        import pypdfium2 as pdfium

        if path != self.path:
            if self.pdf is not None:
                self.pdf.close()
            self.pdf, self.path = None, None
            self.pdf, self.path = pdfium.PdfDocument(path), path
        return self.pdf


def info(pdf: Any, req: dict[str, Any]) -> dict[str, Any]:
    count = len(pdf)
    limit = int(req.get("max_sizes", 10_000))
    sizes = [_size(*pdf.get_page_size(i)) for i in range(min(count, limit))]
    try:
        title = str(pdf.get_metadata_dict().get("Title") or "").strip()[:200]
    except Exception:
        title = ""
    return {"count": count, "sizes": sizes, "title": title}


def render(pdf: Any, req: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """Page `index` with its longest side `edge` pixels: the bitmap's size comes from
    the page's declared size and `edge` alone, whatever the MediaBox says."""
    page = pdf[int(req["index"])]
    try:
        w, h = _size(*page.get_size())
        edge = max(1, int(req["edge"]))
        scale = edge / max(w, h)
        im = page.render(scale=scale, may_draw_forms=True).to_pil().convert("RGB")
    finally:
        page.close()
    return {"width": im.width, "height": im.height, "pt": [w, h]}, im.tobytes()


def text(pdf: Any, req: dict[str, Any]) -> dict[str, Any]:
    """The page's text runs (left, bottom, right, top in points; text), for a layer of
    selectable text over the picture."""
    page = pdf[int(req["index"])]
    try:
        w, h = _size(*page.get_size())
        tp = page.get_textpage()
        try:
            runs, total = [], 0
            n = tp.count_rects()
            for i in range(min(n, MAX_RUNS)):
                left, bottom, right, top = tp.get_rect(i)
                s = tp.get_text_bounded(left, bottom, right, top)
                if s.strip() and total < MAX_CHARS:
                    runs.append([round(v, 2) for v in (left, bottom, right, top)] + [s])
                    total += len(s)
            whole = tp.get_text_range()[:MAX_CHARS]
        finally:
            tp.close()
    finally:
        page.close()
    return {"pt": [w, h], "runs": runs, "text": whole, "more": n > MAX_RUNS}


def page_text(pdf: Any, index: int) -> str:
    page = pdf[index]
    try:
        tp = page.get_textpage()
        try:
            return str(tp.get_text_range()[:MAX_CHARS])
        finally:
            tp.close()
    finally:
        page.close()


def _answer(out: BinaryIO, header: dict[str, Any], payload: bytes = b"") -> None:
    header["nbytes"] = len(payload)
    out.write(json.dumps(header).encode() + b"\n")
    if payload:
        out.write(payload)
    out.flush()


def handle(docs: Documents, req: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """One request's (answer, raw bytes); errors become {"error": ...}."""
    payload = b""
    try:
        pdf = docs.get(req["path"])
        op = req["op"]
        if op == "info":
            header = info(pdf, req)
        elif op == "render":
            header, payload = render(pdf, req)
        elif op == "text":
            header = text(pdf, req)
        elif op == "page_text":
            header = {"text": page_text(pdf, int(req["index"]))}
        else:
            header = {"error": f"unknown request {op!r}"}
    except MemoryError:
        header = {"error": "out of memory", "memory": True}
    except Exception as exc:
        header = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    return header, payload


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    docs = Documents()
    for line in inp:
        try:
            req = json.loads(line)
        except ValueError as exc:
            _answer(out, {"error": f"bad request: {exc}"})
            continue
        _answer(out, *handle(docs, req))


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]  # no shadowing
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints never reach the pipe
    import PIL.Image  # noqa: F401  (imported before the cap is measured)
    import pypdfium2  # noqa: F401

    limit_memory(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    out.write(b'{"ready": true}\n')
    out.flush()
    serve(sys.stdin.buffer, out)


if __name__ == "__main__":
    main()
