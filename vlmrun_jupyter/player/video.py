"""`VideoPlayer`: a video of any size, played and seeked in a live kernel, an anywidget.

The browser side (built from `js/src/video.js` into `static/video.js`) asks for the
file's bytes in chunks ("open?", then "chunk?" with an offset and a length) and gets each
as one binary buffer, never as widget state, so a saved notebook stays small whatever the
video's size. The kernel reads one chunk at a time (at most `MAX_CHUNK` bytes), so
streaming a 2 GB file holds a few MB in the kernel; the browser assembles the chunks into
a Blob and plays it with its own `<video>`, which gives exact seeking and frame stepping
on every frame (the stream's frame rate comes from PyAV).

A faster path where it exists: "ready" also names the file relative to its cache
directory, with its tag (`_served.py`); a page whose Jupyter server runs our extension
(`serverext.py`) on the same cache plays it from there over HTTP (Range requests: playable
at once, seeks fetch what they need), and falls back to the chunks when it does not.

What is streamed: the file itself when a browser can play it, else a playable copy
(`proxy.transcode`) made the first time a view asks, in a background thread (the kernel
stays free; the view shows its progress), and kept where the caller said (beside the
artifact in the cache), so a re-display streams it at once. Replies carry the asking
view's id: several views of one widget each get their own stream.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from .. import _served
from . import proxy

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static") / "video.js"
CHUNK = 4 * 1024 * 1024  # what a view asks for at a time
MAX_CHUNK = 16 * 1024 * 1024  # the most one request may read into the kernel's memory
MIME = "video/mp4"


_copying: dict[str, threading.Lock] = {}  # one copy of a file is made at a time
_copying_lock = threading.Lock()


def _copy_lock(target: Path) -> threading.Lock:
    with _copying_lock:
        return _copying.setdefault(str(target), threading.Lock())


def available() -> bool:
    """Whether the player's JavaScript was built into this installation."""
    return STATIC.is_file()


_MISSING = (
    "export default { render({ el }) { el.textContent = 'The video player was not built.'; } };"
)


class VideoPlayer(anywidget.AnyWidget):
    """Play, pause, seek, step one frame at a time (buttons, or `,` `.` and the arrows
    once clicked), with the current time as mm:ss.mmm. Build one with
    `VideoPlayer.for_file(path)`; `proxy=` says where a playable copy goes if needed."""

    _esm = STATIC if available() else _MISSING
    title = traitlets.Unicode("").tag(sync=True)  # plain text, shown as text (never HTML)
    fps = traitlets.Float(0.0).tag(sync=True)  # 0: unknown (frame steps then use 1/30 s)
    duration = traitlets.Float(0.0).tag(sync=True)
    width = traitlets.Int(0).tag(sync=True)
    height = traitlets.Int(0).tag(sync=True)
    chunk = traitlets.Int(CHUNK).tag(sync=True)
    note = traitlets.Unicode("").tag(sync=True)  # why a copy is streamed, if it is

    def __init__(
        self,
        source: Path,
        *,
        proxy_to: Path | None = None,
        on_copy: Callable[[Path], None] | None = None,
        poster: Callable[[], bytes] | None = None,
        cache_dir: Path | None = None,
        **traits: Any,
    ) -> None:
        super().__init__(**traits)
        self._cache_dir = cache_dir
        self._poster = poster
        self._source = Path(source)
        self._proxy_to = Path(proxy_to) if proxy_to is not None else None
        self._on_copy = on_copy
        self._lock = threading.Lock()
        self._making: threading.Thread | None = None
        self._waiting: list[str] = []  # views that asked while the copy is being made
        self._failed = ""
        self.on_msg(self._on_message)

    @classmethod
    def for_file(
        cls,
        path: Path,
        *,
        fps: float | None,
        duration: float | None,
        width: int,
        height: int,
        proxy_to: Path | None = None,
        on_copy: Callable[[Path], None] | None = None,
        poster: Callable[[], bytes] | None = None,
        note: str = "",
        title: str = "",
        cache_dir: Path | None = None,
    ) -> VideoPlayer:
        """A player of `path` (played as is), or of a playable copy made at `proxy_to`
        (kept there; reused if it is already there; `on_copy(path)` once made). `poster()`
        gives a picture (JPEG bytes, or b"") views show while the video loads. Files under
        `cache_dir` may be played from the Jupyter server (`serverext.py`)."""
        if not available():
            raise RuntimeError(
                "the video player's JavaScript is missing from this installation "
                "(build it with `npm --prefix js ci && npm --prefix js run build`)"
            )
        return cls(
            path,
            proxy_to=proxy_to,
            on_copy=on_copy,
            poster=poster,
            fps=float(fps or 0.0),
            duration=float(duration or 0.0),
            width=int(width),
            height=int(height),
            note=note,
            title=title,
            cache_dir=cache_dir,
        )

    @property
    def streamed(self) -> Path:
        """The file views receive: the copy if one is wanted, else the source."""
        return self._proxy_to if self._proxy_to is not None else self._source

    # -- the protocol ---------------------------------------------------------------------
    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        view = str(content.get("view", ""))[:64]
        kind = content.get("type")
        try:
            if kind == "open?":
                self._open(view)
            elif kind == "chunk?":
                self._chunk(view, content.get("offset"), content.get("length"))
            elif kind == "poster?":
                self._send_poster(view)
        except Exception as exc:  # a view gets the reason, the kernel carries on
            log.debug("video player: %s", exc, exc_info=True)
            self._reply(view, "error", message=str(exc) or type(exc).__name__)

    def _reply(
        self, view: str, kind: str, buffers: list[bytes] | None = None, **fields: Any
    ) -> None:
        self.send({"type": kind, "view": view, **fields}, buffers=buffers)

    def _open(self, view: str) -> None:
        if self._proxy_to is None or self._proxy_to.is_file():
            self._ready(view)
            return
        with self._lock:
            if self._failed:
                self._reply(view, "error", message=self._failed)
                return
            self._waiting.append(view)
            if self._making is None:
                self._making = threading.Thread(target=self._make_copy, daemon=True)
                self._making.start()
        self._reply(view, "progress", fraction=0.0, message="making a playable copy")

    def _ready(self, view: str) -> None:
        try:
            st = self.streamed.stat()
        except OSError:
            raise RuntimeError(
                "the video is no longer in the cache (evicted?): display the ref again"
            ) from None
        name = _served.name_in_cache(self.streamed, self._cache_dir) if self._cache_dir else ""
        served = {"url": name, "tag": _served.tag(st)} if name else {}
        copy = self._proxy_to is not None
        self._reply(view, "ready", size=st.st_size, mime=MIME, copy=copy, **served)

    def _make_copy(self) -> None:
        assert self._proxy_to is not None
        views = lambda: list(self._waiting)  # noqa: E731

        def said(fraction: float) -> None:
            for v in views():
                self._reply(
                    v, "progress", fraction=round(fraction, 3), message="making a playable copy"
                )

        try:
            with _copy_lock(self._proxy_to):  # another player of the same file may be at it
                if not self._proxy_to.is_file():
                    proxy.transcode(self._source, self._proxy_to, progress=said)
                    if self._on_copy is not None:
                        self._on_copy(self._proxy_to)
            failed = ""
        except Exception as exc:
            failed = f"This video could not be made playable: {exc}."
        with self._lock:
            self._failed, waiting, self._waiting = failed, self._waiting, []
            self._making = None
        for v in waiting:
            if failed:
                self._reply(v, "error", message=failed)
            else:
                try:
                    self._ready(v)
                except RuntimeError as exc:
                    self._reply(v, "error", message=str(exc))

    def _send_poster(self, view: str) -> None:
        """The picture shown while the video loads (an empty buffer: none)."""
        try:
            data = self._poster() if self._poster is not None else b""
        except Exception as exc:  # no picture is no reason to stop the video
            log.debug("video player poster: %s", exc)
            data = b""
        self._reply(view, "poster", [data])

    def _chunk(self, view: str, offset: Any, length: Any) -> None:
        if not isinstance(offset, int) or not isinstance(length, int):
            raise ValueError("a chunk request needs an integer offset and length")
        if offset < 0 or length <= 0:
            raise ValueError("a chunk request needs offset >= 0 and length > 0")
        length = min(length, MAX_CHUNK)
        try:
            with open(self.streamed, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                f.seek(offset)
                data = f.read(length)
        except OSError:
            raise RuntimeError(
                "the video is no longer in the cache (evicted?): display the ref again"
            ) from None
        self._reply(view, "chunk", [data], offset=offset, size=size)
