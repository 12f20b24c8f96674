"""The local server's "model": a fixed, documented set of instructions recognised in
the prompt, applied as real media operations to the real inputs, and an answer
that fills the requested JSON schema (every ref field gets a real artifact).

`respond()` is the whole seam the HTTP layer uses; `SUPPORTED` is what a 422
lists when a prompt matches nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from . import media

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

REF_KINDS = {
    "ImageRef": "img",
    "VideoRef": "vid",
    "AudioRef": "aud",
    "DocumentRef": "doc",
    "ReconRef": "recon",
    "ArrayRef": "arr",
    "UrlRef": "url",
}
# Which artifact prefix an input kind becomes, and the content type each prefix is stored with.
PREFIX_OF_KIND = {
    "image": "img",
    "video": "vid",
    "audio": "aud",
    "document": "doc",
    "recon": "recon",
}
CONTENT_TYPE = {
    "img": "image/jpeg",
    "vid": "video/mp4",
    "aud": "audio/mpeg",
    "doc": "application/pdf",
}
_PATTERN_PREFIX = re.compile(r"^\^(img|vid|aud|doc|recon|arr|url)_")


class Unsupported(Exception):
    """The prompt asks for something this server cannot do (HTTP 422)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass
class Media:
    kind: str  # image | video | audio | document | recon | array | other
    path: Path
    content_type: str
    name: str
    ref_id: str | None = None


class Store(Protocol):
    workdir: Path

    def add(
        self, prefix: str, data: bytes | Path, content_type: str, filename: str | None = None
    ) -> str: ...

    def url_for(self, object_id_or_name: str) -> str: ...


def media_kind(content_type: str, name: str, path: Path | None = None) -> str:
    """Classify an input by content type, then extension, then magic bytes."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    for prefix, kind in (("image/", "image"), ("video/", "video"), ("audio/", "audio")):
        if ctype.startswith(prefix):
            return kind
    if ctype == "application/pdf":
        return "document"
    ext = Path(name or "").suffix.lower()
    by_ext = {
        ".jpg": "image", ".jpeg": "image", ".png": "image", ".webp": "image", ".gif": "image",
        ".mp4": "video", ".mov": "video", ".webm": "video", ".mkv": "video",
        ".mp3": "audio", ".wav": "audio", ".m4a": "audio", ".ogg": "audio",
        ".pdf": "document", ".spz": "recon", ".npy": "array",
    }  # fmt: skip
    if ext in by_ext:
        return by_ext[ext]
    if path is not None and path.exists():
        with path.open("rb") as f:
            head = f.read(16)
        if head.startswith(b"%PDF"):
            return "document"
        if head[:3] == b"\xff\xd8\xff" or head.startswith(b"\x89PNG"):
            return "image"
        if head[4:8] == b"ftyp":
            return "video"
        if head.startswith(b"\x93NUMPY"):
            return "array"
        if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3"):
            return "audio"
    return "other"


# -- what an operation produced ------------------------------------------------------------------


@dataclass
class Outcome:
    """Artifacts by prefix (in order), per-item records for list fields, scalar facts, prose."""

    ids: dict[str, list[str]] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    primary: tuple[str, Path] | None = None  # (prefix, file) of the main output

    def add(self, prefix: str, object_id: str) -> str:
        self.ids.setdefault(prefix, []).append(object_id)
        return object_id


class Context:
    """One request: inputs, the store, and the outcome being built."""

    def __init__(self, prompt: str, inputs: list[Media], store: Store) -> None:
        self.prompt = prompt
        self.lower = prompt.lower()
        self.inputs = inputs
        self.store = store
        self.out = Outcome()
        self._n = 0

    def first(self, *kinds: str, what: str) -> Media:
        for m in self.inputs:
            if m.kind in kinds:
                return m
        raise Unsupported(f"this instruction needs {what} as input, and the request has none")

    def all(self, *kinds: str) -> list[Media]:
        return [m for m in self.inputs if m.kind in kinds]

    def tmp(self, suffix: str) -> Path:
        self._n += 1
        return self.store.workdir / f"out-{self._n}{suffix}"

    def save(
        self, prefix: str, path: Path, content_type: str, filename: str, primary: bool = True
    ) -> str:
        oid = self.out.add(prefix, self.store.add(prefix, path, content_type, filename))
        if primary and self.out.primary is None:
            self.out.primary = (prefix, path)
        return oid

    def save_image(self, img: Image.Image, filename: str, primary: bool = True) -> str:
        return self.save(
            "img", media.save_image(img, self.tmp(".jpg")), "image/jpeg", filename, primary
        )

    def save_array(self, arr: np.ndarray, filename: str) -> str:
        path = self.tmp(".npy")
        np.save(path, arr, allow_pickle=False)
        return self.save("arr", path, "application/octet-stream", filename)


# -- instructions -----------------------------------------------------------------------------------

_NUM = r"(\d+(?:\.\d+)?)"
_BOX = re.compile(rf"{_NUM}\s*,\s*{_NUM}\s*,\s*{_NUM}\s*,\s*{_NUM}")


def _image(ctx: Context) -> tuple[Media, Image.Image]:
    m = ctx.first("image", what="an image")
    return m, media.open_image(m.path)


def op_key_frames(ctx: Context) -> None:
    m = ctx.first("video", what="a video")
    found = re.search(r"(\d+)\s+(?:key\s*-?\s*)?frames?", ctx.lower)
    n = max(1, min(50, int(found.group(1)) if found else 5))
    frames = media.key_frames(m.path, n)
    for i, (t, img) in enumerate(frames):
        oid = ctx.save_image(img, f"frame_{i + 1}.jpg", primary=i == 0)
        desc = f"key frame {i + 1} of {len(frames)} at {t:.2f} s ({img.width}x{img.height})"
        ctx.out.items.append({"img": oid, "timestamp": t, "description": desc, "index": i})
    ctx.out.facts.update(count=len(frames))
    ctx.out.text = (
        f"Extracted {len(frames)} key frames at " + ", ".join(f"{t:.2f} s" for t, _ in frames) + "."
    )


def op_extract_audio(ctx: Context) -> None:
    m = ctx.first("video", "audio", what="a video")
    dst = ctx.tmp(".mp3")
    try:
        seconds = media.extract_audio(m.path, dst)
    except ValueError as exc:
        raise Unsupported(str(exc)) from None
    ctx.save("aud", dst, "audio/mpeg", Path(m.name).stem + ".mp3")
    ctx.out.facts.update(duration=round(seconds, 3))
    ctx.out.text = f"Extracted {seconds:.2f} s of audio as MP3."


def op_trim(ctx: Context) -> None:
    m = ctx.first("video", what="a video")
    info = media.video_info(m.path)
    span = re.search(rf"from\s+{_NUM}\s*(?:s|sec|seconds)?\s+(?:to|until|-)\s+{_NUM}", ctx.lower)
    first = re.search(rf"first\s+{_NUM}\s*(?:s\b|sec|second)", ctx.lower)
    last = re.search(rf"last\s+{_NUM}\s*(?:s\b|sec|second)", ctx.lower)
    if span:
        start, end = float(span.group(1)), float(span.group(2))
    elif first:
        start, end = 0.0, float(first.group(1))
    elif last:
        start, end = max(0.0, info.duration - float(last.group(1))), info.duration
    else:
        raise Unsupported("say which part to keep: 'the first N seconds' or 'from A to B seconds'")
    if end <= start:
        raise Unsupported(f"the trim range {start:g}-{end:g} s is empty")
    dst = ctx.tmp(".mp4")
    start, end, kept = media.trim(m.path, dst, start, min(end, info.duration))
    ctx.save("vid", dst, "video/mp4", Path(m.name).stem + "_trimmed.mp4")
    ctx.out.facts.update(
        start=start, end=round(end, 3), duration=round(end - start, 3), frames=kept
    )
    ctx.out.text = f"Trimmed the video to {start:g}-{end:.2f} s ({kept} frames)."


def op_video_from_images(ctx: Context) -> None:
    images = [media.open_image(m.path) for m in ctx.all("image")]
    if not images:
        raise Unsupported("making a video needs one or more images as input")
    fps_found = re.search(rf"{_NUM}\s*(?:fps|frames?\s+per\s+second)", ctx.lower)
    each_found = re.search(rf"{_NUM}\s*(?:s|sec|seconds?)\s+(?:per|each|for each)", ctx.lower)
    fps = max(1, min(60, round(float(fps_found.group(1))))) if fps_found else 10
    each = max(1 / fps, min(60.0, float(each_found.group(1)))) if each_found else 1.0
    dst = ctx.tmp(".mp4")
    seconds = media.images_to_video(images, dst, seconds_each=each, fps=fps)
    ctx.save("vid", dst, "video/mp4", "slideshow.mp4")
    ctx.out.facts.update(duration=seconds, count=len(images), fps=fps)
    ctx.out.text = f"Made a {seconds:g} s video at {fps} fps from {len(images)} images."


def op_pdf(ctx: Context) -> None:
    pages: list[Image.Image] = []
    for m in ctx.inputs:
        if m.kind == "image":
            pages.append(media.open_image(m.path))
        elif m.kind == "document":
            pages.extend(media.render_pages(m.path, scale=1.0))
    if not pages:
        raise Unsupported("making a PDF needs images or documents as input")
    dst = ctx.tmp(".pdf")
    n = media.images_to_pdf(pages, dst)
    ctx.save("doc", dst, "application/pdf", "document.pdf")
    ctx.out.facts.update(page_count=n, count=n)
    ctx.out.text = f"Made a {n}-page PDF."


def op_redact(ctx: Context) -> None:
    regions: list[tuple[int, tuple[float, float, float, float]]] = []
    for found in re.finditer(rf"region\s+{_BOX.pattern}(?:\s+on\s+page\s+(\d+))?", ctx.lower):
        box = tuple(float(v) for v in found.groups()[:4])
        page = int(found.group(5)) - 1 if found.group(5) else -1
        regions.append((page, box))  # type: ignore[arg-type]
    if not regions:
        regions = [(-1, (0.08, 0.15, 0.84, 0.2))]  # default: the band under the title on every page
    doc = next((m for m in ctx.inputs if m.kind in ("document", "image")), None)
    if doc is None:
        raise Unsupported("redaction needs a document (PDF) or an image as input")
    src = doc.path
    if doc.kind == "image":
        src = ctx.tmp(".pdf")
        media.images_to_pdf([media.open_image(doc.path)], src)
    dst = ctx.tmp(".pdf")
    n = media.redact(src, dst, regions)
    ctx.save("doc", dst, "application/pdf", Path(doc.name).stem + "_redacted.pdf")
    boxes = [
        {"page": p + 1 if p >= 0 else None, "x": b[0], "y": b[1], "width": b[2], "height": b[3]}
        for p, b in regions
    ]
    ctx.out.facts.update(page_count=n, count=len(regions), regions=boxes)
    ctx.out.text = f"Redacted {len(regions)} region(s) on {n} page(s)."


def op_depth(ctx: Context) -> None:
    m, img = _image(ctx)
    depth = media.depth_map(img)
    ctx.save_array(depth, Path(m.name).stem + "_depth.npy")
    ctx.out.facts.update(width=img.width, height=img.height)
    ctx.out.text = f"Estimated a {img.width}x{img.height} depth map (heuristic: 0 near, 1 far)."


def op_mask(ctx: Context) -> None:
    m, img = _image(ctx)
    mk = media.mask(img)
    ctx.save_array(mk, Path(m.name).stem + "_mask.npy")
    ctx.out.facts.update(count=int(mk.sum()), width=img.width, height=img.height)
    ctx.out.text = f"Segmented the foreground: {int(mk.sum())} of {mk.size} pixels."


def op_recon(ctx: Context) -> None:
    from ..splat import spz
    from ..splat.relief import image_to_splats

    m, img = _image(ctx)
    splats = image_to_splats(img, media.depth_map(img))
    dst = ctx.tmp(".spz")
    dst.write_bytes(spz.encode(splats))
    ctx.save("recon", dst, "application/octet-stream", Path(m.name).stem + ".spz")
    ctx.out.facts.update(count=len(splats), num_points=len(splats))
    ctx.out.text = f"Reconstructed the image as {len(splats)} Gaussian splats (a depth relief)."


def op_blur(ctx: Context) -> None:
    m, img = _image(ctx)
    region = re.search(rf"region\s+{_BOX.pattern}", ctx.lower)
    if "face" in ctx.lower:
        faces = media.detect_faces(img)
        out = media.blur(img, faces) if faces else img
        ctx.out.facts.update(
            count=len(faces), faces=[dict(zip("xywh", f, strict=True)) for f in faces]
        )
        ctx.out.text = (
            f"Blurred {len(faces)} face(s)."
            if faces
            else "No faces were found; the image is unchanged."
        )
    elif region:
        box = tuple(int(float(v)) for v in region.groups())
        out = media.blur(img, [box])  # type: ignore[list-item]
        ctx.out.text = f"Blurred the region {box}."
    else:
        out = media.blur(img)
        ctx.out.text = "Blurred the whole image."
    ctx.save_image(out, Path(m.name).stem + "_blurred.jpg")
    ctx.out.facts.update(width=out.width, height=out.height)


def op_grayscale(ctx: Context) -> None:
    m, img = _image(ctx)
    ctx.save_image(img.convert("L").convert("RGB"), Path(m.name).stem + "_gray.jpg")
    ctx.out.text = "Converted the image to grayscale."


def op_crop(ctx: Context) -> None:
    m, img = _image(ctx)
    box = _BOX.search(ctx.lower)
    if box:
        x, y, w, h = (int(float(v)) for v in box.groups())
    else:
        w, h = img.width // 2, img.height // 2
        x, y = (img.width - w) // 2, (img.height - h) // 2
    x, y = max(0, min(x, img.width - 1)), max(0, min(y, img.height - 1))
    out = img.crop((x, y, min(img.width, x + max(1, w)), min(img.height, y + max(1, h))))
    ctx.save_image(out, Path(m.name).stem + "_crop.jpg")
    ctx.out.facts.update(width=out.width, height=out.height)
    ctx.out.text = f"Cropped to {out.width}x{out.height} at ({x}, {y})."


def op_resize(ctx: Context) -> None:
    m, img = _image(ctx)
    wh = re.search(r"(\d+)\s*x\s*(\d+)", ctx.lower)
    width = re.search(r"width\s+(?:of\s+)?(\d+)", ctx.lower)
    if wh:
        size = (int(wh.group(1)), int(wh.group(2)))
    elif width:
        w = int(width.group(1))
        size = (w, max(1, round(img.height * w / img.width)))
    else:
        size = (max(1, img.width // 2), max(1, img.height // 2))
    size = (max(1, min(size[0], 8192)), max(1, min(size[1], 8192)))
    out = img.resize(size, Image.Resampling.LANCZOS)
    ctx.save_image(out, Path(m.name).stem + "_resized.jpg")
    ctx.out.facts.update(width=out.width, height=out.height)
    ctx.out.text = f"Resized to {out.width}x{out.height}."


def op_link(ctx: Context) -> None:
    if not ctx.inputs:
        raise Unsupported("a link needs an input to point at")
    m = ctx.inputs[0]
    ctx.out.primary = (PREFIX_OF_KIND.get(m.kind, "arr"), m.path)
    ctx.out.text = f"A link to {m.name}."


def op_describe(ctx: Context) -> None:
    if not ctx.inputs:
        raise Unsupported("describe needs an input")
    ctx.out.text = " ".join(_describe(m) for m in ctx.inputs)
    m = ctx.inputs[0]
    if m.kind in PREFIX_OF_KIND:
        ctx.out.primary = (PREFIX_OF_KIND[m.kind], m.path)


def _describe(m: Media) -> str:
    if m.kind == "image":
        img = media.open_image(m.path)
        mean = np.asarray(img).reshape(-1, 3).mean(axis=0)
        faces = len(media.detect_faces(img))
        return f"{m.name}: a {img.width}x{img.height} image, mean colour RGB{tuple(int(v) for v in mean)}, {faces} face(s)."
    if m.kind == "video":
        i = media.video_info(m.path)
        return f"{m.name}: a {i.duration:.2f} s {i.width}x{i.height} video at {i.fps:g} fps{' with audio' if i.has_audio else ''}."
    if m.kind == "document":
        return f"{m.name}: a {media.page_count(m.path)}-page PDF."
    return f"{m.name}: {m.kind}, {m.path.stat().st_size} bytes."


# Order matters: the first instruction whose pattern matches runs.
INSTRUCTIONS: list[tuple[str, re.Pattern[str], Callable[[Context], None]]] = [
    (
        "key frames",
        re.compile(r"key\s*-?\s*frames?|\bframes?\b.*\bextract|extract.*\bframes?\b"),
        op_key_frames,
    ),
    ("extract audio", re.compile(r"\baudio\b|\bsound(track)?\b"), op_extract_audio),
    (
        "trim",
        re.compile(
            r"\b(trim|cut|clip|shorten)\b|first\s+\d+(\.\d+)?\s*s|from\s+\d+(\.\d+)?\s*(s|sec|seconds)?\s+to"
        ),
        op_trim,
    ),
    (
        "video from images",
        re.compile(r"(make|create|assemble|build).*\bvideo\b|\bslideshow\b"),
        op_video_from_images,
    ),
    ("redact", re.compile(r"\bredact"), op_redact),
    ("pdf", re.compile(r"\bpdf\b"), op_pdf),
    ("depth", re.compile(r"\bdepth\b"), op_depth),
    ("mask", re.compile(r"\b(mask|segment(ation)?)\b"), op_mask),
    ("3d", re.compile(r"\b3d\b|reconstruct|gaussian splat|\bsplats?\b"), op_recon),
    ("blur", re.compile(r"\bblur"), op_blur),
    (
        "grayscale",
        re.compile(r"gr[ae]y\s*-?\s*scale|\bgr[ae]y\b|black\s+and\s+white"),
        op_grayscale,
    ),
    ("crop", re.compile(r"\bcrop"), op_crop),
    ("resize", re.compile(r"\b(resize|downscale|upscale|scale)\b"), op_resize),
    ("link", re.compile(r"\b(link|url)\b"), op_link),
    ("describe", re.compile(r"\b(describe|caption|what is|summari[sz]e)\b"), op_describe),
]


def respond(prompt: str, inputs: list[Media], schema: dict[str, Any] | None, store: Store) -> str:
    """Run the instruction the prompt names and answer as JSON for `schema` (or text)."""
    ctx = Context(prompt, inputs, store)
    for _name, pattern, fn in INSTRUCTIONS:
        if pattern.search(ctx.lower):
            fn(ctx)
            break
    else:
        raise Unsupported(
            "the local server does not understand this prompt. It supports: " + "; ".join(SUPPORTED)
        )
    if schema is None:
        return ctx.out.text
    return json.dumps(SchemaFiller(schema, ctx).fill())


# -- schema filling ---------------------------------------------------------------------------------


class SchemaFiller:
    """Walks a pydantic-style JSON schema and fills it from the outcome. A ref field the
    operation did not produce is derived from its main output (a frame, a PDF page, a link...)."""

    def __init__(self, schema: dict[str, Any], ctx: Context) -> None:
        self.root = schema
        self.ctx = ctx
        self.defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
        self.used: dict[str, int] = {}

    def fill(self) -> Any:
        return self.value(self.root, name="", item=None, depth=0)

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        seen = 0
        while isinstance(node, dict) and "$ref" in node and seen < 20:
            node = self.defs.get(node["$ref"].rsplit("/", 1)[-1], {})
            seen += 1
        return node if isinstance(node, dict) else {}

    @staticmethod
    def ref_prefix(node: dict[str, Any]) -> str | None:
        if node.get("title") in REF_KINDS:
            return REF_KINDS[node["title"]]
        pattern = ((node.get("properties") or {}).get("id") or {}).get("pattern", "")
        found = _PATTERN_PREFIX.match(pattern)
        return found.group(1) if found else None

    def value(
        self, node: dict[str, Any], name: str, item: dict[str, Any] | None, depth: int
    ) -> Any:
        if depth > 30:
            return None
        node = self.resolve(node)
        prefix = self.ref_prefix(node)
        if prefix:
            return {"id": self.ref(prefix, item)}
        for key in ("anyOf", "oneOf"):
            if key in node:
                return self.value(self.choose(node[key]), name, item, depth + 1)
        if "allOf" in node and node["allOf"]:
            return self.value(node["allOf"][0], name, item, depth + 1)
        if "const" in node:
            return node["const"]
        if "enum" in node and node["enum"]:
            return node["enum"][0]
        typ = node.get("type")
        if isinstance(typ, list):
            typ = next((t for t in typ if t != "null"), "null")
        if typ == "object" or "properties" in node:
            props = node.get("properties") or {}
            return {k: self.value(v, k, item, depth + 1) for k, v in props.items()}
        if typ == "array":
            return self.array(self.resolve(node.get("items") or {}), name, depth)
        fact = self.fact(name, item)
        if typ in ("number", "integer"):
            number = (
                fact
                if isinstance(fact, (int, float)) and not isinstance(fact, bool)
                else node.get("default", 0)
            )
            return int(round(number)) if typ == "integer" else float(number)
        if typ == "boolean":
            return bool(fact) if fact is not None else bool(node.get("default", True))
        if typ == "string":
            if isinstance(fact, str):
                return fact
            if fact is not None and not isinstance(fact, (dict, list)):
                return str(fact)
            return (
                node.get("default") if isinstance(node.get("default"), str) else self.ctx.out.text
            )
        if typ == "null":
            return None
        return fact if fact is not None else self.ctx.out.text

    def choose(self, options: list[dict[str, Any]]) -> dict[str, Any]:
        resolved = [(o, self.resolve(o)) for o in options]
        real = [(o, r) for o, r in resolved if r.get("type") != "null"]
        if not real:
            return options[0]
        produced = set(self.ctx.out.ids)
        for o, r in real:  # prefer a ref kind the operation actually produced
            if self.ref_prefix(r) in produced:
                return o
        return real[0][0]

    def array(self, items: dict[str, Any], name: str, depth: int) -> list[Any]:
        prefix = self.ref_prefix(items)
        if prefix:
            ids = self.ctx.out.ids.get(prefix) or [self.ref(prefix, None)]
            return [{"id": i} for i in ids]
        if self.ctx.out.items and (items.get("type") == "object" or "properties" in items):
            return [self.value(items, name, it, depth + 1) for it in self.ctx.out.items]
        fact = self.fact(name, None)
        if isinstance(fact, list):
            return fact
        return []

    def fact(self, name: str, item: dict[str, Any] | None) -> Any:
        key = name.lower()
        synonyms = {
            "timestamp": (
                "timestamp",
                "time",
                "t",
                "ts",
                "seconds",
                "time_s",
                "timestamp_s",
                "timestamp_sec",
            ),
            "description": (
                "description",
                "caption",
                "summary",
                "text",
                "explanation",
                "label",
                "message",
                "notes",
            ),
            "count": (
                "count",
                "n",
                "num",
                "number",
                "total",
                "num_faces",
                "face_count",
                "num_frames",
                "num_points",
                "points",
            ),
            "page_count": ("page_count", "pages", "num_pages", "n_pages"),
            "duration": ("duration", "duration_s", "length", "seconds_long"),
            "index": ("index", "idx", "frame_index", "i"),
        }
        sources = [item or {}, self.ctx.out.facts]
        for source in sources:
            if key in source:
                return source[key]
        for canonical, names in synonyms.items():
            if key in names:
                for source in sources:
                    if canonical in source:
                        return source[canonical]
        if key in synonyms["description"]:
            return (item or {}).get("description") or self.ctx.out.text
        return None

    # -- refs ---------------------------------------------------------------------------------
    def ref(self, prefix: str, item: dict[str, Any] | None) -> str:
        if item and prefix in item:
            return item[prefix]
        ids = self.ctx.out.ids.get(prefix)
        if ids:
            k = self.used.get(prefix, 0)
            self.used[prefix] = k + 1
            return ids[k % len(ids)]
        return self.derive(prefix)

    def derive(self, prefix: str) -> str:
        """Make an artifact of kind `prefix` from the main output (or the first input)."""
        ctx = self.ctx
        src = ctx.out.primary
        if src is None and ctx.inputs:
            m = ctx.inputs[0]
            src = (PREFIX_OF_KIND.get(m.kind, "arr"), m.path)
        if src is None:
            raise Unsupported(
                f"the schema asks for a {prefix}_ artifact but there is nothing to make it from"
            )
        src_prefix, path = src
        if prefix == src_prefix:
            return self._store_as(prefix, path)
        if prefix == "url":
            target_id = ctx.out.ids.get(src_prefix, [None])[0]
            if target_id is None:
                target_id = self._store_as(src_prefix, path)
            url = ctx.store.url_for(target_id)
            return ctx.out.add("url", ctx.store.add("url", url.encode(), "text/plain", "link.txt"))
        image = self._image_of(src_prefix, path)
        if prefix == "img":
            return ctx.save_image(image, "preview.jpg", primary=False)
        if prefix == "vid":
            dst = ctx.tmp(".mp4")
            media.images_to_video([image], dst, seconds_each=2.0)
            return ctx.save("vid", dst, "video/mp4", "still.mp4", primary=False)
        if prefix == "doc":
            dst = ctx.tmp(".pdf")
            media.images_to_pdf([image], dst)
            return ctx.save("doc", dst, "application/pdf", "page.pdf", primary=False)
        if prefix == "arr":
            return ctx.save_array(media.depth_map(image), "depth.npy")
        if prefix == "recon":
            from ..splat import spz
            from ..splat.relief import image_to_splats

            dst = ctx.tmp(".spz")
            dst.write_bytes(spz.encode(image_to_splats(image)))
            return ctx.save("recon", dst, "application/octet-stream", "scene.spz", primary=False)
        if prefix == "aud":
            if src_prefix == "vid":
                dst = ctx.tmp(".mp3")
                try:
                    media.extract_audio(path, dst)
                    return ctx.save("aud", dst, "audio/mpeg", "audio.mp3", primary=False)
                except ValueError:
                    pass
            raise Unsupported("the schema asks for audio, but the inputs have no audio track")
        raise Unsupported(f"cannot produce a {prefix}_ artifact")

    def _store_as(self, prefix: str, path: Path) -> str:
        ctype = CONTENT_TYPE.get(prefix, "application/octet-stream")
        return self.ctx.save(prefix, path, ctype, path.name, primary=False)

    def _image_of(self, prefix: str, path: Path) -> Image.Image:
        if prefix == "img":
            return media.open_image(path)
        if prefix == "vid":
            frames = media.key_frames(path, 1)
            if frames:
                return frames[0][1]
        if prefix == "doc":
            return media.render_pages(path, scale=1.0, limit=1)[0]
        if prefix == "arr":
            arr = np.load(path, allow_pickle=False)
            arr = np.nan_to_num(arr.astype(np.float32))
            arr = (255 * (arr - arr.min()) / max(1e-9, float(arr.max() - arr.min()))).astype(
                np.uint8
            )
            return Image.fromarray(arr if arr.ndim == 2 else arr[..., :3]).convert("RGB")
        raise Unsupported(f"cannot make an image from a {prefix}_ artifact")
