"""One ref's display: fetch -> stored preview -> render -> budget -> memo.

`ref_bundle(ref)` is what `BaseRef._repr_mimebundle_` returns. The first display
fetches the artifact (through the cache), renders it with its kind's renderer
(`registry`) and keeps the bundle on the ref object (`memo`, per budget) and on disk
beside the artifact (`previews`), so `_repr_html_` right after, or a re-display after
a kernel restart, costs nothing. A repr never raises: every failure becomes an error
card (`errors`).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Container
from pathlib import Path

from ..refs import BaseRef
from . import html as h
from . import memo, previews
from .budget import Budget, Bundle, bundle_size, default_budget
from .errors import error_bundle
from .html import b64_len
from .kernel import in_kernel
from .registry import disk_cacheable, live_hook, render_path, renderer_id

log = logging.getLogger(__name__)

ERROR_TTL = 2.0  # seconds an error card is reused (IPython may ask twice in a row)
LIVE = "live"  # the memo key of a ref's kernel-bound parts


def filter_bundle(
    bundle: Bundle, include: Container[str] | None, exclude: Container[str] | None
) -> Bundle:
    """Keep the MIME types IPython asked for (`include`), drop the ones it did not want."""
    data, md = bundle
    if include:
        data = {k: v for k, v in data.items() if k in include}
        md = {k: v for k, v in md.items() if k in include}
    if exclude:
        data = {k: v for k, v in data.items() if k not in exclude}
        md = {k: v for k, v in md.items() if k not in exclude}
    return data, md


def is_rendered(ref: BaseRef, budget: Budget) -> bool:
    """Whether `ref_bundle(ref, budget=budget)` would answer from the memo."""
    return memo.get(ref, memo.key_for(ref, budget)) is not None


def _compute(ref: BaseRef, budget: Budget, path: Path | BaseException | None = None) -> Bundle:
    """Fetch (unless given), then render from the stored preview or afresh; errors become
    cards (kept for `ERROR_TTL` only)."""
    key = memo.key_for(ref, budget)
    if path is None:
        try:
            ref.require_namespace()  # say "unbound" before "not configured"
            path = ref.fetch()
        except Exception as exc:
            path = exc
    if isinstance(path, BaseException):
        bundle: Bundle = (error_bundle(path, ref), {})
        memo.put(ref, key, bundle, ttl=ERROR_TTL)
        return bundle
    try:
        made_by = renderer_id(ref.kind)
        on_disk = disk_cacheable(ref.kind)
        stored = previews.load(ref, path, budget, made_by) if on_disk else None
        bundle = stored or render_path(ref, path, budget)
        if on_disk and stored is None:
            previews.store(ref, path, budget, made_by, bundle)
        bundle = with_artifact(ref, path, budget, bundle)
        memo.put(ref, key, bundle)
        return bundle
    except Exception as exc:
        bundle = (error_bundle(exc, ref, path), {})
        memo.put(ref, key, bundle, ttl=ERROR_TTL)
        return bundle


OFFER_SLACK = 512  # bytes kept for the link's tag, label and style around the base64
#: The largest artifact embedded as a download link (raw bytes): a saved notebook must stay
#: small (the quickstart under 1 MB), and a warm display must not read a large file.
EMBED_MAX = 128 * 1024


def shown_path(path: Path) -> str:
    """The cached file's path as shown in an output: under the home directory as `~/...`,
    so a saved or shared notebook does not carry the user's name."""
    try:
        return "~/" + path.relative_to(Path.home()).as_posix()
    except (ValueError, RuntimeError, OSError):  # not under home, or no home at all
        return str(path)


def with_artifact(ref: BaseRef, path: Path, budget: Budget, bundle: Bundle) -> Bundle:
    """The preview plus the artifact itself: a download link when its bytes are at most
    `EMBED_MAX` and fit what the preview left of the budget, else its path in the cache as
    selectable text (with how to load it). When the preview already embeds the very bytes
    (a small video or audio file in its player), no second copy: the path only. Added
    after the stored preview is read, never stored: the path belongs to this machine's
    cache. Thumbnails get none (the larger view a click opens carries it)."""
    data, md = bundle
    html = data.get("text/html")
    if not html or budget.thumbnail:
        return bundle
    try:
        room = budget.bytes - bundle_size(data, md)
        size = path.stat().st_size
        offer, label = "", f"file ({h.human_size(size)}, not embedded; ref.load() reads it): "
        if size <= EMBED_MAX and b64_len(size) + OFFER_SLACK <= room:
            raw = path.read_bytes()
            if base64.b64encode(raw).decode("ascii") in html:  # e.g. a player's source
                label = f"file ({h.human_size(size)}, the same bytes as shown above): "
            else:
                offer = h.download_link(ref.id, path.suffix.lstrip(".") or ref.ext, raw)
        if not offer or len(offer.encode("utf-8")) > room:
            offer = h.cache_file(shown_path(path), label)
        if len(offer.encode("utf-8")) > room:
            return bundle
    except Exception as exc:  # the preview stands alone
        log.debug("no artifact offer for %s: %s", ref.id, exc)
        return bundle
    return {**data, "text/html": h.with_offer(html, offer)}, md


def _with_live(ref: BaseRef, bundle: Bundle) -> Bundle:
    """`bundle` plus the kind's kernel-bound parts (`Renderer.live`); failures there are
    ignored (the static bundle stands alone). Outside a kernel no hook is asked: nobody
    could see a live view, and building one would import widget libraries and codecs."""
    if not in_kernel():
        return bundle
    live = live_hook(ref.kind)
    if live is None:
        return bundle
    hit = memo.get(ref, LIVE)
    if hit is None:
        try:
            hit = (dict(live(ref, bundle[0]) or {}), {})
            memo.put(ref, LIVE, hit)
        except Exception as exc:
            log.debug("no live view for %s: %s", ref.id, exc)
            hit = ({}, {})
            memo.put(ref, LIVE, hit, ttl=ERROR_TTL)
    if not hit[0]:
        return bundle
    return {**bundle[0], **hit[0]}, bundle[1]


def ref_bundle(
    ref: BaseRef,
    include: Container[str] | None = None,
    exclude: Container[str] | None = None,
    *,
    budget: Budget | None = None,
    path: Path | BaseException | None = None,
) -> Bundle:
    """`(data, metadata)` for one ref; never raises. `path`: an already fetched file (or
    the exception fetching it raised), as galleries pass after `fetch_all`."""
    try:
        budget = budget or default_budget()
        cached = memo.get(ref, memo.key_for(ref, budget))
        bundle = cached if cached is not None else _compute(ref, budget, path)
        if not (budget.html_only or budget.thumbnail):
            bundle = _with_live(ref, bundle)
        return filter_bundle(bundle, include, exclude)
    except Exception as exc:  # the last line of defence
        try:
            return filter_bundle((error_bundle(exc, ref), {}), include, exclude)
        except Exception:
            return {"text/plain": f"<{type(ref).__name__}>"}, {}


def ref_html(ref: BaseRef, budget: Budget | None = None) -> str:
    """The HTML of `ref_bundle` (what `_repr_html_` returns)."""
    return ref_bundle(ref, budget=budget)[0].get("text/html", "")


__all__ = ["ref_bundle", "ref_html", "filter_bundle", "is_rendered", "ERROR_TTL"]
