"""The local server's "model": a fixed, documented set of instructions recognised in
the prompt, applied as real media operations to the real inputs, and an answer
that fills the requested JSON schema (every ref field gets a real artifact).

`respond()` is the whole seam the HTTP layer uses; `SUPPORTED` is what a 422
lists when a prompt asks for nothing it knows (with the closest instruction named).
Which instruction a prompt asks for is decided in `matching`; the operations live
in one module per kind (`image`, `video`, `audio`, `document`, `recon`, `array`,
`link`, `tryon`), schema filling in `schema`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from . import array, audio, document, image, link, recon, tryon, video
from .context import Context, Media, Store, Unsupported, media_kind
from .matching import RULES, closest, find
from .schema import SchemaFiller

# The operation behind each instruction of the prompt grammar (`matching.RULES`).
RUN: dict[str, Callable[[Context], None]] = {
    "try-on": tryon.try_on,
    "key frames": video.key_frames,
    "extract audio": audio.extract,
    "trim": video.trim,
    "video from images": video.from_images,
    "redact": document.redact,
    "pdf": document.make_pdf,
    "depth": array.depth,
    "mask": array.mask,
    "3d": recon.reconstruct,
    "blur": image.blur,
    "grayscale": image.grayscale,
    "crop": image.crop,
    "resize": image.resize,
    "link": link.link,
    "describe": link.describe,
}
SUPPORTED = [rule.example for rule in RULES]


def respond(prompt: str, inputs: list[Media], schema: dict[str, Any] | None, store: Store) -> str:
    """Run the instruction the prompt names and answer as JSON for `schema` (or text)."""
    ctx = Context(prompt, inputs, store)
    rule = find(prompt)
    if rule is None:
        near = closest(prompt)
        raise Unsupported(
            "the offline local server found no instruction it knows in this prompt: it runs "
            "no model and does not guess (the real API takes any prompt). Closest supported "
            f"instruction: '{near.example}'. It supports:"
            + "".join(f"\n- {item}" for item in SUPPORTED)
        )
    RUN[rule.name](ctx)
    if schema is None:
        return ctx.out.text
    return json.dumps(SchemaFiller(schema, ctx).fill())


__all__ = ["SUPPORTED", "RUN", "Media", "Store", "Unsupported", "media_kind", "respond"]
