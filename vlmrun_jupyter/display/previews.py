"""The on-disk preview cache: a rendered bundle stored beside its artifact.

`<object_id>.preview.<budget key>.v<PREVIEW_VERSION>.json` in the artifact cache
(`session.cache_for(ref).preview_path`), so a re-display after a kernel restart, or of
a new ref object for the same artifact, costs a JSON read. A stored preview is used
only for the same download of the artifact (size and inode) and the same renderer
version; anything unreadable is simply rendered again.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from ..refs import BaseRef
from ..session import cache_for
from .budget import Budget, Bundle

PREVIEW_VERSION = 1


def _file(ref: BaseRef, budget: Budget) -> Path | None:
    try:
        return cache_for(ref).preview_path(ref, f"{budget.key}.v{PREVIEW_VERSION}.json")
    except Exception:
        return None


def _stamp(path: Path) -> list[int]:
    """Identifies one download of the artifact (the cache touches mtimes for its LRU,
    and a re-download is a new file)."""
    st = path.stat()
    return [st.st_size, st.st_ino]


def load(ref: BaseRef, path: Path, budget: Budget, renderer: str) -> Bundle | None:
    """The stored bundle of this download of `path` made by `renderer`, else None."""
    pf = _file(ref, budget)
    if pf is None:
        return None
    try:
        saved = json.loads(pf.read_text("utf-8"))
        if saved.get("stamp") != _stamp(path) or saved.get("renderer") != renderer:
            return None
        return dict(saved["data"]), dict(saved.get("metadata") or {})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def store(ref: BaseRef, path: Path, budget: Budget, renderer: str, bundle: Bundle) -> None:
    """Write the bundle atomically (a reader never sees half a file); errors are ignored."""
    pf = _file(ref, budget)
    if pf is None:
        return
    record = {"stamp": _stamp(path), "renderer": renderer, "data": bundle[0], "metadata": bundle[1]}
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=pf.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.replace(tmp, pf)
        cache_for(ref).note(pf)  # counted toward the cache's size cap
    except (OSError, TypeError, ValueError):
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


__all__ = ["PREVIEW_VERSION", "load", "store"]
