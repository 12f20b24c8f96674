"""The summary card: what any artifact shows when no richer preview is available.

Used for kinds without a renderer module (recon until `render/recon.py` exists), for
url targets of unknown type, and when a renderer overshoots the budget. Tiny and
cheap: file size, and for SPZ files the point count from the header.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Any

from .budget import Budget
from .html import caption, frame, human_size, plain

SPZ_MAGIC = 0x5053474E


def spz_points(path: Path) -> tuple[int, int, int] | None:
    """(version, point count, SH degree) from an SPZ header, reading <= 32 bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(32)
            if head[:2] == b"\x1f\x8b":
                f.seek(0)
                with gzip.GzipFile(fileobj=f) as gz:
                    head = gz.read(16)
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    if len(head) < 16:
        return None
    magic, version, count = struct.unpack_from("<III", head)
    if magic != SPZ_MAGIC:
        return None
    return version, count, head[12]


def facts_for(ref: Any, path: Path) -> list[str]:
    facts = [human_size(path.stat().st_size)]
    if getattr(ref, "kind", "") == "recon" or path.suffix == ".spz":
        info = spz_points(path)
        if info is not None:
            version, count, sh = info
            facts = [f"{count:,} points", f"SH degree {sh}", f"SPZ v{version}", *facts]
    return facts


def render(ref: Any, path: Path, budget: Budget, note: str = "") -> dict[str, Any]:
    facts = facts_for(ref, path)
    return {
        "text/plain": plain(ref, *facts),
        "text/html": frame("", caption(ref, *facts, note=note), bordered=True),
    }
