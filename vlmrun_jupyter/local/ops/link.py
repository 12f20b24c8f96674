"""Instructions for any input: a link to it (a `url_` artifact) or a description of it."""

from __future__ import annotations

from . import document, image, video
from .context import Context, Media, Unsupported, prefix_of

# What `describe` says about an input, by kind (others: kind and size).
_DESCRIBE = {"image": image.describe, "video": video.describe, "document": document.describe}


def link(ctx: Context) -> None:
    if not ctx.inputs:
        raise Unsupported("a link needs an input to point at")
    m = ctx.inputs[0]
    ctx.out.primary = (prefix_of(m.kind), m.path)
    ctx.out.text = f"A link to {m.name}."


def describe(ctx: Context) -> None:
    if not ctx.inputs:
        raise Unsupported("describe needs an input")
    ctx.out.text = " ".join(_describe(m) for m in ctx.inputs)
    m = ctx.inputs[0]
    ctx.out.primary = (prefix_of(m.kind), m.path)


def _describe(m: Media) -> str:
    if m.kind in _DESCRIBE:
        return _DESCRIBE[m.kind](m)
    return f"{m.name}: {m.kind}, {m.path.stat().st_size} bytes."


def link_to(ctx: Context, object_id: str) -> str:
    """A `url_` artifact whose body is a public link to `object_id` on this server."""
    url = ctx.store.url_for(object_id)
    return ctx.out.add("url", ctx.store.add("url", url.encode(), None, "link.txt"))
