"""Filling the requested JSON schema from what an operation produced.

Every ref field gets a real artifact of its kind: one the operation made, or one
derived from its main output (a frame of a video, a page of a PDF, a depth array,
a link...). Ref fields are recognised by their `$defs` title or their id pattern,
both read from `kinds.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from ... import kinds
from .. import media
from . import array, audio, document, image, link, recon, video
from .context import Context, Unsupported, prefix_of

_PREFIX_OF_CLASS = {k.ref_class: k.prefix for k in kinds.KINDS.values()}

# How to see an artifact of a prefix as a picture, and how to make each prefix from one.
_TO_IMAGE: dict[str, Callable[[Path], Image.Image | None]] = {
    "img": media.open_image,
    "vid": video.to_image,
    "doc": document.to_image,
    "arr": array.to_image,
}
_FROM_IMAGE: dict[str, Callable[[Context, Image.Image], str]] = {
    "img": image.from_image,
    "vid": video.from_image,
    "doc": document.from_image,
    "arr": array.from_image,
    "recon": recon.from_image,
}

# Field names that mean the same fact (keys of `Outcome.facts` / `Outcome.items`).
_SYNONYMS = {
    "timestamp": ("timestamp", "time", "t", "ts", "seconds", "time_s", "timestamp_s",
                  "timestamp_sec"),
    "description": ("description", "caption", "summary", "text", "explanation", "label",
                    "message", "notes"),
    "count": ("count", "n", "num", "number", "total", "num_faces", "face_count", "num_frames",
              "num_points", "points"),
    "page_count": ("page_count", "pages", "num_pages", "n_pages"),
    "duration": ("duration", "duration_s", "length", "seconds_long"),
    "index": ("index", "idx", "frame_index", "i"),
    "start": ("start", "start_time", "begin", "from"),
    "end": ("end", "end_time", "stop", "to"),
}  # fmt: skip


def clock(t: float) -> str:
    """Seconds as HH:MM:SS (with milliseconds when not whole), for fields that ask for it."""
    whole, ms = divmod(round(max(0.0, t) * 1000), 1000)
    text = f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    return text + (f".{ms:03d}" if ms else "")


def ref_prefix(node: dict[str, Any]) -> str | None:
    """The artifact prefix of a ref schema (by class title, else by its id pattern)."""
    if node.get("title") in _PREFIX_OF_CLASS:
        return _PREFIX_OF_CLASS[node["title"]]
    pattern = ((node.get("properties") or {}).get("id") or {}).get("pattern", "")
    if not isinstance(pattern, str):
        return None
    return next((p for p in kinds.BY_PREFIX if pattern.startswith(f"^{p}_")), None)


class SchemaFiller:
    """Walks a pydantic-style JSON schema and fills it from the outcome."""

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

    def value(
        self, node: dict[str, Any], name: str, item: dict[str, Any] | None, depth: int
    ) -> Any:
        if depth > 30:
            return None
        node = self.resolve(node)
        prefix = ref_prefix(node)
        if prefix:
            return {"id": self.ref(prefix, item, name)}
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
        return self.scalar(typ, node, self.fact(name, item))

    def scalar(self, typ: Any, node: dict[str, Any], fact: Any) -> Any:
        """A number, boolean or string field: the fact if it fits, else a default."""
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
            if (
                isinstance(fact, (int, float))
                and "hh:mm:ss" in str(node.get("description", "")).lower()
            ):
                return clock(float(fact))
            if fact is not None and not isinstance(fact, (dict, list)):
                return str(fact)
            default = node.get("default")
            return default if isinstance(default, str) else self.ctx.out.text
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
            if ref_prefix(r) in produced:
                return o
        return real[0][0]

    def array(self, items: dict[str, Any], name: str, depth: int) -> list[Any]:
        prefix = ref_prefix(items)
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
        sources = [item or {}, self.ctx.out.facts]
        for source in sources:
            if key in source:
                return source[key]
        for canonical, names in _SYNONYMS.items():
            if key in names:
                for source in sources:
                    if canonical in source:
                        return source[canonical]
        if key in _SYNONYMS["description"]:
            return (item or {}).get("description") or self.ctx.out.text
        return None

    # -- refs ---------------------------------------------------------------------------------
    def ref(self, prefix: str, item: dict[str, Any] | None, name: str = "") -> str:
        if item and prefix in item:
            return item[prefix]
        named = self.ctx.out.named.get(name.lower())
        if named and named.startswith(prefix + "_"):
            return named
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
            src = (prefix_of(ctx.inputs[0].kind), ctx.inputs[0].path)
        if src is None:
            raise Unsupported(
                f"the schema asks for a {prefix}_ artifact but there is nothing to make it from"
            )
        src_prefix, path = src
        if prefix == src_prefix:
            return ctx.save(prefix, path, path.name, primary=False)
        if prefix == "url":
            target_id = ctx.out.ids.get(src_prefix, [None])[0]
            if target_id is None:
                target_id = ctx.save(src_prefix, path, path.name, primary=False)
            return link.link_to(ctx, target_id)
        if prefix == "aud":
            if src_prefix == "vid":
                return audio.from_video(ctx, path)
            raise Unsupported("the schema asks for audio, but the inputs have no audio track")
        if prefix not in _FROM_IMAGE:
            raise Unsupported(f"cannot produce a {prefix}_ artifact")
        picture = _TO_IMAGE[src_prefix](path) if src_prefix in _TO_IMAGE else None
        if picture is None:
            raise Unsupported(f"cannot make an image from a {src_prefix}_ artifact")
        return _FROM_IMAGE[prefix](ctx, picture)
