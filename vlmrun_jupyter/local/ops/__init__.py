"""The local server's "model": a fixed, documented set of instructions recognised in
the prompt, applied as real media operations to the real inputs, and an answer
that fills the requested JSON schema (every ref field gets a real artifact).

`respond()` is the whole seam the HTTP layer uses; `SUPPORTED` is what a 422
lists when a prompt matches nothing. The operations live in one module per kind
(`image`, `video`, `audio`, `document`, `recon`, `array`, `link`), schema filling
in `schema`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from . import array, audio, document, image, link, recon, video
from .context import Context, Media, Store, Unsupported, media_kind
from .schema import SchemaFiller

SUPPORTED = [
    "blur the faces | blur the image | blur region X,Y,W,H  (image)",
    "grayscale / black and white  (image)",
    "crop to X,Y,W,H | crop the center  (image)",
    "resize to WxH | resize to width W  (image)",
    "trim the video to the first N seconds | from A to B seconds  (video)",
    "extract N key frames  (video; default 5)",
    "extract the audio  (video -> mp3)",
    "make a video from the images [at N fps] [, S seconds per image]  (images -> mp4)",
    "make a PDF from the images / pages  (images or documents -> pdf)",
    "redact the document | redact region X,Y,W,H on page P  (pdf or image; fractions of the page)",
    "depth map  (image -> float32 array)",
    "mask / segment  (image -> uint8 array)",
    "3D reconstruction  (image -> SPZ Gaussian splats)",
    "give me a link / URL  (any input or output -> url artifact)",
    "describe  (any input -> text)",
]

_TRIM = (
    r"\b(trim|cut|clip|shorten)\b"
    r"|first\s+\d+(\.\d+)?\s*s|from\s+\d+(\.\d+)?\s*(s|sec|seconds)?\s+to"
)
_SLIDESHOW = r"(make|create|assemble|build).*\bvideo\b|\bslideshow\b"
_KEY_FRAMES = r"key\s*-?\s*frames?|\bframes?\b.*\bextract|extract.*\bframes?\b"

# Order matters: the first instruction whose pattern matches runs.
INSTRUCTIONS: list[tuple[str, re.Pattern[str], Callable[[Context], None]]] = [
    (name, re.compile(pattern), run)
    for name, pattern, run in (
        ("key frames", _KEY_FRAMES, video.key_frames),
        ("extract audio", r"\baudio\b|\bsound(track)?\b", audio.extract),
        ("trim", _TRIM, video.trim),
        ("video from images", _SLIDESHOW, video.from_images),
        ("redact", r"\bredact", document.redact),
        ("pdf", r"\bpdf\b", document.make_pdf),
        ("depth", r"\bdepth\b", array.depth),
        ("mask", r"\b(mask|segment(ation)?)\b", array.mask),
        ("3d", r"\b3d\b|reconstruct|gaussian splat|\bsplats?\b", recon.reconstruct),
        ("blur", r"\bblur", image.blur),
        ("grayscale", r"gr[ae]y\s*-?\s*scale|\bgr[ae]y\b|black\s+and\s+white", image.grayscale),
        ("crop", r"\bcrop", image.crop),
        ("resize", r"\b(resize|downscale|upscale|scale)\b", image.resize),
        ("link", r"\b(link|url)\b", link.link),
        ("describe", r"\b(describe|caption|what is|summari[sz]e)\b", link.describe),
    )
]  # fmt: skip


def respond(prompt: str, inputs: list[Media], schema: dict[str, Any] | None, store: Store) -> str:
    """Run the instruction the prompt names and answer as JSON for `schema` (or text)."""
    ctx = Context(prompt, inputs, store)
    for _name, pattern, run in INSTRUCTIONS:
        if pattern.search(ctx.lower):
            run(ctx)
            break
    else:
        raise Unsupported(
            "the offline local server does not understand this prompt: it knows a fixed list "
            "of instructions (the real API takes any prompt). It supports:"
            + "".join(f"\n- {item}" for item in SUPPORTED)
        )
    if schema is None:
        return ctx.out.text
    return json.dumps(SchemaFiller(schema, ctx).fill())


__all__ = ["SUPPORTED", "INSTRUCTIONS", "Media", "Store", "Unsupported", "media_kind", "respond"]
