"""Hostile inputs built at run time, a hostile API server, and a probe that measures them.

Shared by tests/test_hostile_display.py (asserts the card, the cache and peak memory)
and bench/hostile.py (prints the table, also against an older checkout). Each bomb is
made here, small on the wire and huge once decoded; nothing is stored in the repo.

The probe runs one case in a fresh Python process (the checkout under test first on
`sys.path`): it warms up (imports, one normal render), resets the kernel's high-water
mark (`/proc/self/clear_refs` <- 5; `ru_maxrss` would be inherited across exec), runs
the case through the display path (`ref._repr_mimebundle_()`, which fetches into the
cache and renders) or `client.complete`, and prints JSON: peak RSS growth, seconds,
the error or the card's text.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from peak_rss import probe_env

SID = "sess-hostile"
KEY = "hostile-key"
MIB = 1024 * 1024


# -- bombs ------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16(edge: int = 13000) -> bytes:
    """A 16-bit grey PNG of edge x edge zero pixels: ~300 KB, 322 MiB of pixels."""
    z = zlib.compressobj(9)
    row = b"\0" + b"\0" * (edge * 2)  # filter byte + the row
    idat = b"".join(z.compress(row) for _ in range(edge)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", edge, edge, 16, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def small_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def gzip_of_zeros(head: bytes, mib: int) -> bytes:
    """A gzip stream of `head` then `mib` MiB of zeros (about 1 KB on the wire per MiB)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zero = b"\0" * MIB
    return z.compress(head) + b"".join(z.compress(zero) for _ in range(mib)) + z.flush()


def zstd_json_bomb(mib: int = 1024) -> bytes:
    """A zstd frame of a JSON string of `mib` MiB (32 KB or so on the wire)."""
    import zstandard

    c = zstandard.ZstdCompressor(level=6).compressobj()
    chunk = b"a" * MIB
    out = [c.compress(b'{"choices": [{"message": {"content": "')]
    out += [c.compress(chunk) for _ in range(mib)]
    out.append(c.compress(b'"}}]}'))
    out.append(c.flush())
    return b"".join(out)


def spz_v4_bomb(points: int = 4_000_000) -> bytes:
    """An SPZ v4 file of `points` points at SH degree 0, every stream zstd of zeros."""
    import zstandard

    from vlmrun_jupyter.splat import spz

    widths = [w for w in spz._widths(4, 0) if w]
    streams = []
    for w in widths:
        c = zstandard.ZstdCompressor(level=19).compressobj()
        left, parts = w * points, []
        while left:
            n = min(left, 4 * MIB)
            parts.append(c.compress(b"\0" * n))
            left -= n
        parts.append(c.flush())
        streams.append((b"".join(parts), w * points))
    toc_at = spz.HEADER_V4.size
    header = spz.HEADER_V4.pack(spz.MAGIC, 4, points, 0, 12, 0, len(streams), toc_at)
    toc = b"".join(spz.TOC_ENTRY.pack(len(s), size) for s, size in streams)
    return header + toc + b"".join(s for s, _ in streams)


def mjpeg_mp4(edge: int = 12000) -> bytes:
    """An MP4 holding one black edge x edge MJPEG frame (2 MB at 12000: 430 MB decoded)."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        s = c.add_stream("mjpeg", rate=1)
        s.width = s.height = edge
        s.pix_fmt = "yuvj420p"
        frame = av.VideoFrame(edge, edge, "yuvj420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        for packet in [*s.encode(frame), *s.encode(None)]:
            c.mux(packet)
    return buf.getvalue()


def pdf_rectangles(count: int = 3_000_000) -> bytes:
    """A PDF page of `count` 1-point rectangles: 75 KB, a gigabyte once pdfium parses it."""
    import pdfs

    return pdfs.rectangles(count)


def pdf_huge_page(edge: float = 200_000) -> bytes:
    """A PDF page whose MediaBox is `edge` x `edge` points."""
    import pdfs

    return pdfs.huge_page(edge)


def cut_jpeg() -> bytes:
    """A real JPEG cut in half: sent with no length, the end of the body looks normal."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (10, 120, 200)).save(buf, "JPEG")
    data = buf.getvalue()
    return data[: len(data) // 2]


# -- the hostile server -----------------------------------------------------------------------


@dataclass
class Answer:
    """What the server sends for one object id (or for the completions route)."""

    body: bytes
    headers: dict[str, str]
    trickle: float = 0.0  # seconds between single bytes (a slow-loris download)
    announce_length: bool = True


class HostileServer:
    """A ThreadingHTTPServer playing the VLM Run API with the answers it is given."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, answer: Answer | None) -> None:
                if answer is None:
                    body = b'{"detail": "no such artifact"}'
                    answer = Answer(body, {"Content-Type": "application/json"})
                    self.send_response(404)
                else:
                    self.send_response(200)
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                if answer.announce_length:
                    self.send_header("Content-Length", str(len(answer.body)))
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                try:
                    if answer.trickle:
                        for i in range(len(answer.body)):
                            self.wfile.write(answer.body[i : i + 1])
                            self.wfile.flush()
                            time.sleep(answer.trickle)
                    else:
                        self.wfile.write(answer.body)
                except OSError:
                    pass

            def do_GET(self) -> None:  # noqa: N802
                query = parse_qs(urlsplit(self.path).query)
                self._send(owner.answers.get((query.get("object_id") or [""])[0]))

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._send(owner.answers.get("completion"))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- the cases --------------------------------------------------------------------------------


@dataclass
class Case:
    name: str  # as printed in the bench table
    object_id: str  # "completion" for the completions route
    build: Callable[[], Answer]
    deadline: float = 30.0


def cases(full: bool = True) -> list[Case]:
    """The bombs; `full` at the sizes of the issue (slower to build), else just over
    every limit (the tests)."""
    png = {"Content-Type": "image/png"}
    big = 1024 if full else 300  # MiB decoded
    return [
        Case(
            f"JSON answer, zstd ({big} MiB decoded)",
            "completion",
            lambda: Answer(
                zstd_json_bomb(big),
                {"Content-Type": "application/json", "Content-Encoding": "zstd"},
            ),
        ),
        Case(
            "JSON answer nested 100,000 deep",
            "completion",
            lambda: Answer(b"[" * 100_000 + b"]" * 100_000, {"Content-Type": "application/json"}),
        ),
        Case(
            f"image, gzip-encoded ({big} MiB decoded)",
            "img_gzbomb",
            lambda: Answer(
                gzip_of_zeros(small_png()[:64], big), {**png, "Content-Encoding": "gzip"}
            ),
        ),
        Case("PNG 13000x13000 16-bit", "img_png16x", lambda: Answer(png16(), png)),
        Case(
            "SPZ v4, 4M points",
            "recon_spzbmb",
            lambda: Answer(spz_v4_bomb(), {"Content-Type": "application/octet-stream"}),
        ),
        Case(
            f"MP4, one {12000 if full else 6000}x{12000 if full else 6000} MJPEG frame",
            "vid_mjpegx",
            lambda: Answer(mjpeg_mp4(12000 if full else 6000), {"Content-Type": "video/mp4"}),
        ),
        Case(
            "PDF, 3 million rectangles on a page",
            "doc_rects3",
            lambda: Answer(pdf_rectangles(), {"Content-Type": "application/pdf"}),
        ),
        Case(
            "PDF, a 200000x200000 pt page",
            "doc_huge01",
            lambda: Answer(pdf_huge_page(), {"Content-Type": "application/pdf"}),
        ),
        Case(
            "JPEG cut short, no length",
            "img_cutjpg",
            lambda: Answer(cut_jpeg(), {"Content-Type": "image/jpeg"}, announce_length=False),
        ),
        Case(
            "slow loris (1 byte / 0.25 s), deadline 2 s",
            "img_trickl",
            lambda: Answer(small_png(), png, trickle=0.25),
            deadline=2.0,
        ),
    ]


PROBE = r"""
import json, sys, time
case, base, cache, oid, deadline, warm_path = sys.argv[1:]
from peak_rss import growth, mark

from vlmrun_jupyter.client import Client
from vlmrun_jupyter.refs import make_ref
import PIL.Image, numpy  # noqa: F401  (warm: the codecs a render imports)

kw = dict(api_key="hostile-key", base_url=base, cache_dir=cache, max_retries=0, timeout=10.0)
try:
    client = Client(deadline=float(deadline), **kw)
except TypeError:  # a checkout from before deadlines
    client = Client(**kw)
warm = make_ref("img_warmup")
warm.bind(session_id="sess-hostile", client=client)
warm._repr_mimebundle_()
base_rss = mark()
t0 = time.monotonic()
out = {"error": None, "card": None}
try:
    if oid == "completion":
        client.complete("hostile")
    else:
        ref = make_ref(oid)
        ref.bind(session_id="sess-hostile", client=client)
        data = ref._repr_mimebundle_()
        data = data[0] if isinstance(data, tuple) else data
        out["card"] = data.get("text/html", "") or data.get("text/plain", "")
except BaseException as exc:
    out["error"] = f"{type(exc).__name__}: {exc}"
out["seconds"] = time.monotonic() - t0
out["peak"] = growth(base_rss)
print(json.dumps(out))
"""


def run_probe(
    checkout: Path,
    server: HostileServer,
    case: Case,
    cache_dir: Path,
    timeout: float = 300,
    max_memory: int | None = None,
) -> dict:
    """Run `case` in a fresh process importing the package from `checkout` (with at most
    `max_memory` bytes of address space when given: an old checkout may try for GBs)."""
    server.answers["img_warmup"] = Answer(small_png(), {"Content-Type": "image/png"})
    server.answers[case.object_id] = case.build()
    env = probe_env(checkout, VLMRUN_CACHE_DIR=str(cache_dir))
    env.pop("VLMRUN_API_KEY", None)
    args = [case.name, server.base_url, str(cache_dir), case.object_id, str(case.deadline), ""]

    def limit() -> None:
        if max_memory is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (max_memory, max_memory))

    try:
        proc = subprocess.run(
            [sys.executable, "-c", PROBE, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=str(checkout),
            preexec_fn=limit if max_memory is not None else None,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"still running after {timeout:.0f} s (killed)", "peak": None}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"error": f"probe died (exit {proc.returncode}): {proc.stderr[-300:]}", "peak": None}
    return json.loads(lines[-1])


def cache_files(cache_dir: Path, object_id: str) -> list[str]:
    """Files of `object_id` (and any temp file) left in the cache."""
    root = cache_dir / "artifacts"
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.rglob("*")
        if p.is_file() and (p.name.startswith(object_id) or p.name.startswith(".tmp-"))
    )


def iter_cases() -> Iterator[Case]:
    yield from cases()
