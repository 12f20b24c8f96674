"""The on-disk preview cache: a rendered bundle stored beside its artifact.

`<object_id>.preview.<budget key>.v<PREVIEW_VERSION>.bin` in the artifact cache
(`session.cache_for(ref).preview_path`), so a re-display after a kernel restart, or of
a new ref object for the same artifact, costs one file read. A stored preview is used
only for the same download of the artifact (size and inode) and the same renderer
version; anything unreadable is simply rendered again.

The file is one line of JSON (stamp, renderer, metadata, and each MIME entry as a list
of pieces) followed by the large strings as raw UTF-8, each stored once: a picture's
base64 is both `image/jpeg` and the `src` inside `text/html`, so it was written twice
and parsed as JSON twice (a 30 MB PNG's preview was a 1.6 MB JSON). Reading is now one
read and a slice per large string, no JSON parsing of the media.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._files import write_atomic
from ..refs import BaseRef
from ..session import cache_for
from .budget import Budget, Bundle

PREVIEW_VERSION = 2  # 2: large strings stored raw and once, after a JSON header line
MAGIC = b"vlmrun-preview 2\n"
BLOB_MIN = 4096  # strings at least this long are stored raw (smaller ones stay in the JSON)


def _file(ref: BaseRef, budget: Budget) -> Path | None:
    try:
        return cache_for(ref).preview_path(ref, f"{budget.key}.v{PREVIEW_VERSION}.bin")
    except Exception:
        return None


def _stamp(path: Path) -> list[int]:
    """Identifies one download of the artifact (the cache touches mtimes for its LRU,
    and a re-download is a new file)."""
    st = path.stat()
    return [st.st_size, st.st_ino]


def _pieces(value: str, media: list[str]) -> list[str]:
    """`value` cut around every occurrence of the large strings in `media` (which stay
    whole pieces), so each is stored once however many entries embed it."""
    out = [value]
    for blob in media:
        cut: list[str] = []
        for piece in out:
            if piece is blob or len(piece) <= len(blob) or blob not in piece:
                cut.append(piece)
                continue
            parts = piece.split(blob)
            for i, part in enumerate(parts):
                if i:
                    cut.append(blob)
                cut.append(part)
        out = cut
    return [p for p in out if p]


def encode(record: dict[str, Any], data: dict[str, Any]) -> bytes:
    """`record` (stamp, renderer, metadata) plus `data` in the stored form."""
    media = sorted(
        (v for v in data.values() if isinstance(v, str) and len(v) >= BLOB_MIN),
        key=len,
        reverse=True,
    )
    blobs: dict[str, int] = {}
    chunks: list[bytes] = []
    offset = 0
    entries: dict[str, Any] = {}
    spans: list[list[int]] = []
    for mime, value in data.items():
        if not isinstance(value, str) or len(value) < BLOB_MIN:
            entries[mime] = {"v": value}
            continue
        parts: list[str | int] = []
        for piece in _pieces(value, media):
            if len(piece) < BLOB_MIN:
                parts.append(piece)
                continue
            if piece not in blobs:
                raw = piece.encode("utf-8")
                blobs[piece] = len(spans)
                spans.append([offset, offset + len(raw)])
                chunks.append(raw)
                offset += len(raw)
            parts.append(blobs[piece])
        entries[mime] = {"p": parts}
    header = json.dumps({**record, "data": entries, "blobs": spans}).encode("utf-8")
    return MAGIC + header + b"\n" + b"".join(chunks)


def decode(raw: bytes) -> dict[str, Any]:
    """The record `encode` wrote, with `data` whole again. Raises ValueError if damaged."""
    if not raw.startswith(MAGIC):
        raise ValueError("not a stored preview")
    end = raw.index(b"\n", len(MAGIC))
    record = json.loads(raw[len(MAGIC) : end])
    body = memoryview(raw)[end + 1 :]
    spans = record.pop("blobs")
    if any(b > len(body) for _, b in spans):
        raise ValueError("a stored preview cut short")
    texts = [str(body[a:b], "utf-8") for a, b in spans]
    data: dict[str, Any] = {}
    for mime, entry in record["data"].items():
        if "v" in entry:
            data[mime] = entry["v"]
        else:
            data[mime] = "".join(p if isinstance(p, str) else texts[p] for p in entry["p"])
    record["data"] = data
    return record


def load(ref: BaseRef, path: Path, budget: Budget, renderer: str) -> Bundle | None:
    """The stored bundle of this download of `path` made by `renderer`, else None."""
    pf = _file(ref, budget)
    if pf is None:
        return None
    try:
        saved = decode(pf.read_bytes())
        if saved.get("stamp") != _stamp(path) or saved.get("renderer") != renderer:
            return None
        return dict(saved["data"]), dict(saved.get("metadata") or {})
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None


def store(ref: BaseRef, path: Path, budget: Budget, renderer: str, bundle: Bundle) -> None:
    """Write the bundle atomically (a reader never sees half a file); errors are ignored."""
    pf = _file(ref, budget)
    if pf is None:
        return
    try:
        record = {"stamp": _stamp(path), "renderer": renderer, "metadata": bundle[1]}
        write_atomic(pf, encode(record, bundle[0]))
        cache_for(ref).note(pf)  # counted toward the cache's size cap
    except (OSError, TypeError, ValueError):
        pass


__all__ = ["PREVIEW_VERSION", "load", "store", "encode", "decode"]
