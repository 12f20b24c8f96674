"""Bounded PDF rendering: every pdfium call runs in a worker process with limits.

`Worker` owns one `_worker` child process (started on first use, reused while it
lives): its address space is capped at `render_memory()` over its size after imports,
and a request that runs past `render_seconds()` kills it (the next request starts a
fresh one). A page's bitmap is sized from the longest edge asked for, never from the
page's declared size, and the edge is capped (`MAX_EDGE`). Where a limit stops a
render, `PreviewLimitError` names the limit, its value and how to raise it.

`Pages` is one PDF as the viewer and `DocumentRef.page` see it: page count and sizes,
page pictures (encoded, kept in a small in-memory LRU and, when given a `store`, as
files in the artifact cache), page text and search.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._files import write_atomic
from ..errors import PreviewLimitError, VlmRunError

MIB = 1024 * 1024
DEFAULT_SECONDS = 5.0
DEFAULT_MEMORY = 256 * MIB
MAX_EDGE = 2400  # pixels of a page's longest side, whatever is asked
MIN_EDGE = 16
START_SECONDS = 60.0  # for the worker's imports on a busy machine
STEP = 128  # edges are rounded up to a multiple of this (cache hits across window sizes)
RAISE = "or open the file yourself (`ref.fetch()` gives its path)"


class DocumentError(VlmRunError, title="Cannot read the document"):
    """pdfium could not open the file or a page of it."""


class PageRangeError(VlmRunError, IndexError, title="No such page"):
    """A page number outside 1..page count."""


def _env_number(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        return default
    return value if value > 0 else default


def render_seconds() -> float:
    """Seconds one preview or viewer request may spend in pdfium (`VLMRUN_PDF_SECONDS`)."""
    return _env_number("VLMRUN_PDF_SECONDS", DEFAULT_SECONDS)


def render_memory() -> int:
    """Bytes of memory the PDF worker may grow by (`VLMRUN_PDF_MEMORY`)."""
    return int(_env_number("VLMRUN_PDF_MEMORY", DEFAULT_MEMORY))


def over_time(what: str, seconds: float) -> PreviewLimitError:
    return PreviewLimitError(
        f"{what} took longer than the PDF render time limit of {seconds:g} s "
        "(VLMRUN_PDF_SECONDS); it was stopped.",
        hint=f"Raise it with VLMRUN_PDF_SECONDS=<seconds>, {RAISE}.",
    )


def over_memory(what: str, nbytes: int) -> PreviewLimitError:
    return PreviewLimitError(
        f"{what} needed more than the PDF render memory limit of {nbytes / MIB:.0f} MiB "
        "(VLMRUN_PDF_MEMORY), or crashed the renderer; it was stopped.",
        hint=f"Raise it with VLMRUN_PDF_MEMORY=<bytes>, {RAISE}.",
    )


class Worker:
    """One pdfium worker process; requests are serialised (one at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._memory = 0

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def _start(self, memory: int, deadline: float) -> subprocess.Popen[bytes]:
        proc = self._proc
        if proc is not None and proc.poll() is None and self._memory == memory:
            return proc
        self.stop()
        # the script by path, not `-m`: importing the package would cost the start-up
        cmd = [sys.executable, str(Path(__file__).with_name("_worker.py")), str(memory)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("VLMRUN_API")}
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
        )
        self._proc, self._memory = proc, memory
        self._read_line(proc, deadline)  # {"ready": true}
        return proc

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            proc.kill()
        with contextlib.suppress(Exception):
            proc.wait(1)
        for pipe in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                pipe.close()  # type: ignore[union-attr]

    def _read(self, proc: subprocess.Popen[bytes], n: int, deadline: float) -> bytes:
        fd = proc.stdout.fileno()  # type: ignore[union-attr]
        chunks, left = [], n
        while left:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _read_line(self, proc: subprocess.Popen[bytes], deadline: float) -> dict[str, Any]:
        line = bytearray()
        while not line.endswith(b"\n"):
            line += self._read(proc, 1, deadline)
        return json.loads(line)

    def request(
        self, what: str, req: dict[str, Any], seconds: float | None = None
    ) -> tuple[dict[str, Any], bytes]:
        """(answer, raw bytes) for one request, within the time and memory limits;
        `what` names the work in a limit's message ("rendering page 3")."""
        seconds = render_seconds() if seconds is None else seconds
        memory = render_memory()
        with self._lock:
            try:  # starting (imports) is not the file's doing: its own generous deadline
                proc = self._start(memory, time.monotonic() + START_SECONDS)
            except (TimeoutError, EOFError, OSError, ValueError) as exc:
                self.stop()
                raise DocumentError(f"{what}: the PDF worker did not start ({exc!r})") from None
            deadline = time.monotonic() + seconds
            try:
                proc.stdin.write(json.dumps(req).encode() + b"\n")  # type: ignore[union-attr]
                proc.stdin.flush()  # type: ignore[union-attr]
                header = self._read_line(proc, deadline)
                payload = self._read(proc, int(header.get("nbytes") or 0), deadline)
            except TimeoutError:
                self.stop()
                raise over_time(what, render_seconds()) from None  # the limit as configured
            except (EOFError, OSError, ValueError):
                self.stop()
                raise over_memory(what, memory) from None
        if header.get("memory"):
            self.stop()
            raise over_memory(what, memory)
        if "error" in header:
            raise DocumentError(f"{what}: {header['error']}")
        return header, payload


class InProcess(Worker):
    """Where pipes cannot be waited on with a deadline (Windows): pdfium in this process,
    bounded only by the bitmap's size. Same answers as the worker."""

    def __init__(self) -> None:
        super().__init__()
        from . import _worker as w

        self._w, self._docs = w, w.Documents()

    def request(
        self, what: str, req: dict[str, Any], seconds: float | None = None
    ) -> tuple[dict[str, Any], bytes]:
        with self._lock:
            header, payload = self._w.handle(self._docs, req)
        if "error" in header:
            raise DocumentError(f"{what}: {header['error']}")
        return header, payload


_worker: Worker = Worker() if os.name == "posix" else InProcess()


def worker() -> Worker:
    """The process-wide worker (one pdfium process per kernel)."""
    return _worker


def edge_for(pixels: float) -> int:
    """An edge in pixels rounded up to `STEP`, within `MIN_EDGE`..`MAX_EDGE`."""
    edge = int(-(-max(MIN_EDGE, float(pixels)) // STEP) * STEP)
    return max(MIN_EDGE, min(MAX_EDGE, edge))


@dataclass(frozen=True)
class Info:
    count: int
    sizes: list[tuple[float, float]]  # points, per page (the first ones in a huge file)
    title: str

    def size(self, index: int) -> tuple[float, float]:
        if 0 <= index < len(self.sizes):
            return self.sizes[index]
        return self.sizes[0] if self.sizes else (612.0, 792.0)


Store = Callable[[str], Path | None]  # a file name -> where to keep it (None: nowhere)
Saved = Callable[[Path], None]  # told about each file written there


class Pages:
    """One PDF file: info, pictures, text and search, all through the worker."""

    MEMORY_LRU = 6 * MIB  # per open file; pictures are also kept on disk

    def __init__(self, path: Path, store: Store | None = None, saved: Saved | None = None) -> None:
        self.path = Path(path)
        self._store, self._saved = store, saved
        self._info: Info | None = None
        self._lru: OrderedDict[tuple[Any, ...], tuple[Any, int]] = OrderedDict()
        self._lru_bytes = 0
        self._lock = threading.Lock()

    def _req(self, op: str, what: str, seconds: float | None = None, **kw: Any) -> Any:
        return worker().request(what, {"op": op, "path": str(self.path), **kw}, seconds)

    def _cached(self, key: tuple[Any, ...]) -> Any:
        with self._lock:
            hit = self._lru.get(key)
            if hit is not None:
                self._lru.move_to_end(key)
                return hit[0]
        return None

    def _keep(self, key: tuple[Any, ...], value: Any, nbytes: int) -> None:
        with self._lock:
            if key in self._lru:
                return
            self._lru[key] = (value, nbytes)
            self._lru_bytes += nbytes
            while self._lru_bytes > self.MEMORY_LRU and len(self._lru) > 1:
                _, (_, size) = self._lru.popitem(last=False)
                self._lru_bytes -= size

    def info(self) -> Info:
        """Page count, sizes and title: kept beside the artifact (with `store`), so a
        re-display after a kernel restart starts no worker."""
        if self._info is not None:
            return self._info
        st = self.path.stat()
        stamp = [st.st_size, st.st_ino]  # this download of the file
        target = self._store("info.v1.json") if self._store is not None else None
        header: dict[str, Any] | None = None
        if target is not None:
            with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
                saved = json.loads(target.read_text("utf-8"))
                header = saved if saved.get("stamp") == stamp else None
        if header is None:
            header, _ = self._req("info", "opening the document")
            header = {k: header[k] for k in ("count", "sizes", "title")}
            if target is not None:
                _write(target, json.dumps({**header, "stamp": stamp}).encode(), self._saved)
        try:
            sizes = [(float(w), float(h)) for w, h in header["sizes"]]
            self._info = Info(int(header["count"]), sizes, str(header.get("title") or ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise DocumentError(f"opening the document: a malformed answer ({exc!r})") from None
        return self._info

    def check(self, number: int) -> int:
        """The 0-based index of page `number` (1-based), or PageRangeError."""
        count = self.info().count
        if isinstance(number, bool) or not isinstance(number, int):
            raise PageRangeError(f"a page number is an int (1 to {count}), not {number!r}")
        if not 1 <= number <= count:
            pages = f"{count} page{'s' if count != 1 else ''}"
            raise PageRangeError(
                f"page {number} is out of range: the document has {pages} (1 to {count})",
                hint="Pages are numbered from 1, as in a PDF reader.",
            )
        return number - 1

    def image(self, index: int, edge: int, seconds: float | None = None) -> Any:
        """Page `index` (0-based) as a PIL image whose longest side is `edge` pixels
        (capped at `MAX_EDGE`)."""
        from PIL import Image

        edge = max(MIN_EDGE, min(MAX_EDGE, int(edge)))
        what = f"rendering page {index + 1}"
        header, raw = self._req("render", what, seconds, index=index, edge=edge)
        return Image.frombytes("RGB", (header["width"], header["height"]), raw)

    def picture(self, index: int, edge: int) -> tuple[bytes, int, int]:
        """Page `index` as JPEG bytes, longest side `edge_for(edge)`: from memory, from
        the artifact cache, or rendered (then kept in both)."""
        edge = edge_for(edge)
        key = ("picture", index, edge)
        hit = self._cached(key)
        if hit is not None:
            return hit
        name = f"page{index + 1}.{edge}.v1.jpg"
        target = self._store(name) if self._store is not None else None
        if target is not None and target.is_file():
            with contextlib.suppress(OSError, ValueError):
                from PIL import Image

                data = target.read_bytes()
                with Image.open(io.BytesIO(data)) as im:
                    found = (data, im.width, im.height)
                self._keep(key, found, len(data))
                return found
        im = self.image(index, edge)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=88)
        found = (buf.getvalue(), im.width, im.height)
        self._keep(key, found, len(found[0]))
        if target is not None:
            _write(target, found[0], self._saved)
        return found

    def text_layer(self, index: int) -> dict[str, Any]:
        """The page's text runs in points (see `_worker.text`)."""
        key = ("text", index)
        hit = self._cached(key)
        if hit is None:
            hit, _ = self._req("text", f"reading the text of page {index + 1}", index=index)
            hit.pop("nbytes", None)
            self._keep(key, hit, len(hit.get("text", "")) * 4 + 64 * len(hit.get("runs", [])))
            self._keep(("page_text", index), hit.get("text", ""), len(hit.get("text", "")))
        return hit

    def text(self, index: int, seconds: float | None = None) -> str:
        key = ("page_text", index)
        hit = self._cached(key)
        if hit is None:
            what = f"reading the text of page {index + 1}"
            header, _ = self._req("page_text", what, seconds, index=index)
            hit = str(header.get("text") or "")
            self._keep(key, hit, len(hit) * 4)
        return hit

    def search(self, query: str, limit: int = 200) -> dict[str, Any]:
        """Pages whose text holds `query` (case-insensitive): [{page, count, snippet}],
        within one time limit for the whole search (`stopped` says where it ran out)."""
        needle = " ".join(query.split()).casefold()
        hits: list[dict[str, Any]] = []
        if not needle:
            return {"query": query, "hits": hits, "stopped": None}
        budget = render_seconds()
        start = time.monotonic()
        for index in range(self.info().count):
            left = budget - (time.monotonic() - start)
            try:
                if left <= 0:
                    raise over_time("searching", budget)
                page = " ".join(self.text(index, left).split())
            except PreviewLimitError as exc:
                return {"query": query, "hits": hits, "stopped": f"page {index + 1}: {exc}"}
            except DocumentError:
                continue
            folded = page.casefold()
            at = folded.find(needle)
            if at >= 0:
                snippet = page[max(0, at - 40) : at + len(needle) + 40]
                hits.append({"page": index + 1, "count": folded.count(needle), "snippet": snippet})
                if len(hits) >= limit:
                    break
        return {"query": query, "hits": hits, "stopped": None}


def _write(target: Path, payload: bytes, saved: Saved | None) -> None:
    """Atomically (a reader never sees half a file); a failure only skips the file."""
    try:
        write_atomic(target, payload)
    except OSError:
        return
    if saved is not None:
        saved(target)


__all__ = [
    "DocumentError",
    "PageRangeError",
    "Pages",
    "Info",
    "Worker",
    "worker",
    "edge_for",
    "render_seconds",
    "render_memory",
]
