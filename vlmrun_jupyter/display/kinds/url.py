"""URL artifacts: a safe link (http/https only, `rel="noopener noreferrer"`), and if
the downloaded target is media of a known kind (`kinds.sniff_kind`: its bytes, then
its extension), that kind's preview under the link."""

from __future__ import annotations

from pathlib import Path

from ...kinds import HEAD_BYTES, sniff_kind
from ...refs import BaseRef
from ...session import cache_for
from ..budget import Budget, Bundle
from ..html import caption, div, frame, human_size, link, plain
from ..registry import KindRenderer, render_path


def target_url(ref: BaseRef) -> str | None:
    """The URL the artifact points at, as the cache stored it beside the download."""
    try:
        ns = ref.namespace
        return cache_for(ref).url_target(ref, ns) if ns is not None else None
    except Exception:
        return None


def target_kind(path: Path) -> str | None:
    """The artifact kind of the downloaded target (never "url" itself)."""
    with open(path, "rb") as f:
        kind = sniff_kind(f.read(HEAD_BYTES), path.name)
    return kind if kind != "url" else None


def render(ref: BaseRef, path: Path, budget: Budget) -> Bundle:
    url = target_url(ref)
    anchor = div(link(url)) if url else ""
    kind = target_kind(path)
    size = path.stat().st_size
    if kind is not None:
        inner, md = render_path(
            ref, path, budget.shrink(budget.bytes - len(anchor) - 512), kind=kind
        )
        inner["text/html"] = div(anchor, inner.get("text/html", ""))
        inner["text/plain"] = plain(ref, url or "", f"({kind})", human_size(size))
        return inner, md
    facts = [path.name, human_size(size)]
    return {
        "text/plain": plain(ref, url or "", human_size(size)),
        "text/html": frame(anchor, caption(ref, *facts, note="not a media file")),
    }, {}


RENDERER = KindRenderer(render)
