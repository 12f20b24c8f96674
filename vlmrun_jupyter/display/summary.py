"""The summary card: what any artifact shows when no richer preview is available.

Used for kinds without a renderer, for url targets of unknown type, and when a
renderer overshoots the budget. Tiny and cheap: file size, and for SPZ files the
point count from the header.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Any

from ..kinds import sniff
from ..refs import BaseRef
from .budget import Budget
from .html import caption, frame, human_size, plain


def spz_points(path: Path) -> tuple[int, int, int] | None:
    """(version, point count, SH degree) from an SPZ header, reading <= 32 bytes."""
    from ..splat.spz import MAGIC  # the codec (numpy, zstd) only when a summary needs it

    try:
        with open(path, "rb") as f:
            head = f.read(32)
            if sniff(head) == "application/gzip":
                f.seek(0)
                with gzip.GzipFile(fileobj=f) as gz:
                    head = gz.read(16)
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    if len(head) < 16:
        return None
    magic, version, count = struct.unpack_from("<III", head)
    if magic != MAGIC:
        return None
    return version, count, head[12]


def facts_for(ref: BaseRef, path: Path) -> list[str]:
    facts = [human_size(path.stat().st_size)]
    if ref.kind == "recon" or path.suffix == ".spz":
        info = spz_points(path)
        if info is not None:
            version, count, sh = info
            facts = [f"{count:,} points", f"SH degree {sh}", f"SPZ v{version}", *facts]
    return facts


def render(
    ref: BaseRef, path: Path, budget: Budget, note: str = ""
) -> tuple[dict[str, Any], dict[str, Any]]:
    """File size (and an SPZ header's facts) in a bordered caption; `note` says why."""
    facts = facts_for(ref, path)
    html = frame("", caption(ref, *facts, note=note), bordered=True)
    return {"text/plain": plain(ref, *facts), "text/html": html}, {}
