"""URL artifacts: a safe link (http/https only, `rel="noopener noreferrer"`), and if
the downloaded target is media of a known kind (sniffed from its bytes, then its
extension), that kind's preview under the link."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .budget import Budget
from .html import caption, frame, human_size, link, plain

_EXT_KIND = {
    "jpg": "image",
    "jpeg": "image",
    "png": "image",
    "gif": "image",
    "webp": "image",
    "bmp": "image",
    "mp4": "video",
    "mov": "video",
    "webm": "video",
    "mkv": "video",
    "mp3": "audio",
    "wav": "audio",
    "ogg": "audio",
    "flac": "audio",
    "m4a": "audio",
    "pdf": "document",
    "npy": "array",
    "spz": "recon",
}


def sniff_kind(path: Path) -> str | None:
    """The artifact kind of a file from its first bytes, else its extension."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM")) or (
        head.startswith(b"RIFF") and head[8:12] == b"WEBP"
    ):
        return "image"
    if head.startswith(b"%PDF"):
        return "document"
    if head.startswith(b"\x93NUMPY"):
        return "array"
    if head.startswith(b"NGSP"):
        return "recon"
    if head[4:8] == b"ftyp":
        return "audio" if head[8:11] in (b"M4A", b"M4B") else "video"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video"
    if head.startswith((b"ID3", b"OggS", b"fLaC")) or (
        head.startswith(b"RIFF") and head[8:12] == b"WAVE"
    ):
        return "audio"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "audio"
    return _EXT_KIND.get(path.name.rsplit(".", 1)[-1].lower())


def target_url(ref: Any) -> str | None:
    try:
        from ..cache import cache_for

        ns = ref.namespace
        return cache_for(ref).url_target(ref, ns) if ns is not None else None
    except Exception:
        return None


def render(ref: Any, path: Path, budget: Budget) -> tuple[dict[str, Any], dict[str, Any]]:
    from . import render_path

    url = target_url(ref)
    anchor = f"<div>{link(url)}</div>" if url else ""
    kind = sniff_kind(path)
    size = path.stat().st_size
    if kind is not None:
        inner, md = render_path(
            ref, path, budget.shrink(budget.bytes - len(anchor) - 512), kind=kind
        )
        html = f"<div>{anchor}{inner.get('text/html', '')}</div>"
        inner["text/html"] = html
        inner["text/plain"] = plain(ref, url or "", f"({kind})", human_size(size))
        return inner, md
    facts = [path.name, human_size(size)]
    return (
        {
            "text/plain": plain(ref, url or "", human_size(size)),
            "text/html": frame(anchor, caption(ref, *facts, note="not a media file")),
        },
        {},
    )
