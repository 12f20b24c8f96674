"""What every operation works with: its inputs (`Media`), where it writes (`Store`), the
request being answered (`Context`) and what it produced (`Outcome`).

Kind facts (prefixes, sniffing) come from `kinds.py`; nothing here knows about HTTP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from ... import kinds
from .. import media

NUM = r"(\d+(?:\.\d+)?)"
BOX = re.compile(rf"{NUM}\s*,\s*{NUM}\s*,\s*{NUM}\s*,\s*{NUM}")  # X,Y,W,H in a prompt


class Unsupported(Exception):
    """The prompt asks for something this server cannot do (HTTP 422)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass
class Media:
    """One input of a request, already on disk."""

    kind: str  # a `kinds.KINDS` name (image, video, ...) or "other"
    path: Path
    content_type: str
    name: str
    ref_id: str | None = None


class Store(Protocol):
    """Where an operation writes artifacts (one session or execution)."""

    workdir: Path

    def add(
        self, prefix: str, data: bytes | Path, content_type: str | None, filename: str | None = None
    ) -> str: ...

    def url_for(self, object_id_or_name: str) -> str: ...


def read_head(path: Path | None) -> bytes:
    """The first bytes of a file, as many as `kinds.sniff` needs (none if it is missing)."""
    if path is None or not path.exists():
        return b""
    with path.open("rb") as f:
        return f.read(kinds.HEAD_BYTES)


def media_kind(content_type: str, name: str, path: Path | None = None) -> str:
    """Classify an input by its content type, else by its bytes, else by its file name."""
    kind = kinds.kind_of_mime(content_type) or kinds.sniff_kind(read_head(path), name or "")
    return kind or "other"


def prefix_of(kind: str) -> str:
    """The artifact prefix an input of `kind` is stored as (unknown inputs: an array)."""
    found = kinds.KINDS.get(kind)
    return found.prefix if found else kinds.KINDS["array"].prefix


@dataclass
class Outcome:
    """Artifacts by prefix (in order), per-item records for list fields, scalar facts, prose."""

    ids: dict[str, list[str]] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    named: dict[str, str] = field(default_factory=dict)  # object id by field name ("front")
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

    def image(self) -> tuple[Media, Image.Image]:
        """The first image input, decoded."""
        m = self.first("image", what="an image")
        return m, media.open_image(m.path)

    def tmp(self, suffix: str) -> Path:
        self._n += 1
        return self.store.workdir / f"out-{self._n}{suffix}"

    def save(self, prefix: str, path: Path, filename: str, primary: bool = True) -> str:
        """Store `path` as an artifact (the store picks its content type from the kind)."""
        oid = self.out.add(prefix, self.store.add(prefix, path, None, filename))
        if primary and self.out.primary is None:
            self.out.primary = (prefix, path)
        return oid

    def save_image(self, img: Image.Image, filename: str, primary: bool = True) -> str:
        return self.save("img", media.save_image(img, self.tmp(".jpg")), filename, primary)

    def save_array(self, arr: np.ndarray, filename: str, primary: bool = True) -> str:
        path = self.tmp(".npy")
        np.save(path, arr, allow_pickle=False)
        return self.save("arr", path, filename, primary)
