"""The inline budget: how many bytes one output may add to a notebook.

A notebook must not grow with the media: whatever an artifact's size, its output
(every MIME entry plus metadata) stays within `inline_budget()` bytes. Renderers get
a `Budget` and must fit it; `registry.render_path` checks the result and falls back to
a summary card if a renderer ever overshoots.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from typing import Any

from .._config import DEFAULT_INLINE_BUDGET, Settings

MIN_BUDGET = 16 * 1024  # below this nothing useful fits; smaller settings are raised to it
CHROME = 6 * 1024  # bytes reserved for captions, tags and styles around the media

MimeDict = dict[str, Any]
Bundle = tuple[MimeDict, MimeDict]  # (data, metadata), as `_repr_mimebundle_` returns

_lock = threading.Lock()
_override: int | None = None


def set_inline_budget(nbytes: int | None) -> None:
    """Set the per-output budget in bytes for this process (None: back to the
    environment, `VLMRUN_INLINE_BUDGET`, default 2 MiB)."""
    global _override
    if nbytes is not None:
        nbytes = int(nbytes)
        if nbytes <= 0:
            raise ValueError("the inline budget must be a positive number of bytes")
    with _lock:
        _override = nbytes


def inline_budget() -> int:
    """The current per-output budget in bytes."""
    with _lock:
        value = _override
    if value is None:
        try:
            value = Settings.from_env().inline_budget
        except Exception:  # a repr never raises because of a bad setting
            value = DEFAULT_INLINE_BUDGET
    return max(MIN_BUDGET, int(value))


@dataclass(frozen=True)
class Budget:
    """What a renderer may produce.

    `bytes`: the whole bundle it returns (all MIME entries). `max_edge`: the longest
    side of any image, in pixels. `html_only`: only `text/html` is wanted (inside a
    result card), so nothing else should be spent on. `thumbnail`: a compact
    rendering for a gallery cell (one poster frame, one page).
    """

    bytes: int
    max_edge: int = 1280
    html_only: bool = False
    thumbnail: bool = False

    def media(self, copies: int = 1) -> int:
        """Raw (pre-base64) bytes available for media that appears `copies` times."""
        room = max(0, self.bytes - CHROME)
        return room * 3 // 4 // max(1, copies)

    def shrink(self, nbytes: int) -> Budget:
        return replace(self, bytes=max(0, int(nbytes)))

    @property
    def key(self) -> str:
        """A file-name-safe key: previews are cached per budget."""
        flags = ("h" if self.html_only else "b") + ("t" if self.thumbnail else "f")
        return f"{self.bytes}-{self.max_edge}-{flags}"


DEFAULT_DECODE_BYTES = 128 * 1024 * 1024


def decode_budget() -> int:
    """Bytes one preview may decode into memory (`VLMRUN_MAX_DECODE_BYTES`): images,
    video frames, PDF pages and splats are checked against it before decoding."""
    import os

    try:
        value = int(os.environ.get("VLMRUN_MAX_DECODE_BYTES") or DEFAULT_DECODE_BYTES)
    except ValueError:
        return DEFAULT_DECODE_BYTES
    return value if value > 0 else DEFAULT_DECODE_BYTES


def over_decode_budget(what: str, needs: int, limit: int) -> Exception:
    """The card's error: which limit, its value, what the file would need."""
    from ..errors import PreviewLimitError

    mib = 1024 * 1024
    return PreviewLimitError(
        f"{what} would need {needs / mib:.0f} MiB to decode, over the preview's decode "
        f"limit of {limit / mib:.0f} MiB (VLMRUN_MAX_DECODE_BYTES)."
    )


def default_budget() -> Budget:
    return Budget(inline_budget())


def bundle_size(data: dict[str, Any], metadata: dict[str, Any] | None = None) -> int:
    """Bytes the bundle adds to a notebook (UTF-8 of every entry plus metadata JSON)."""
    total = 0
    for mime, value in data.items():
        total += len(mime)
        if isinstance(value, bytes):
            total += len(value)
        elif isinstance(value, str):
            total += len(value.encode("utf-8"))
        else:
            total += len(json.dumps(value, default=str).encode("utf-8"))
    if metadata:
        total += len(json.dumps(metadata, default=str).encode("utf-8"))
    return total
