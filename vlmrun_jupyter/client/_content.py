"""Turning Python inputs into chat content parts.

Accepted inputs: PIL images, numpy arrays, file paths, http(s)/data URLs, raw
bytes, and refs (ours or the SDK's). Each becomes the part the server expects:
`image_url` / `video_url` / `audio_url` / `file_url` with a `data:` URL for small
inputs, or an upload through `POST /files` sent as `input_file` for large ones.

A ref from the session being continued is passed back by naming its id in a text
part (the server resolves it within the session); a ref from elsewhere is fetched
and sent as a file.
"""

from __future__ import annotations

import base64
import io
import mimetypes
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..errors import RequestError
from ..kinds import HEAD_BYTES, sniff
from ..refs import BaseRef, coerce_ref

INLINE_MAX = 4 * 1024 * 1024  # larger inputs are uploaded through POST /files

Upload = Callable[[bytes | Path, str], str]  # (data or path, filename) -> file id
Fetch = Callable[[BaseRef], Path]


def part_for_url(url: str, mime: str | None) -> dict[str, Any]:
    """The content part for a URL of the given media type."""
    major = (mime or "").split("/", 1)[0]
    if major == "image":
        return {"type": "image_url", "image_url": {"url": url, "detail": "auto"}}
    if major in ("video", "audio"):
        return {"type": f"{major}_url", f"{major}_url": {"url": url}}
    return {"type": "file_url", "file_url": {"url": url}}


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _size_label(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


class PartBuilder:
    """Builds the parts of one request; collects the session its refs belong to."""

    def __init__(
        self,
        *,
        session_id: str | None = None,
        upload: Upload | None = None,
        fetch: Fetch | None = None,
        inline_max: int = INLINE_MAX,
    ) -> None:
        self.session_id = session_id
        self._upload = upload  # None: dry run, show what would be uploaded
        self._fetch = fetch
        self.inline_max = inline_max

    # -- entry point ------------------------------------------------------------------------
    def parts(self, inputs: Iterable[Any]) -> list[dict[str, Any]]:
        return [self.part(x) for x in inputs]

    def part(self, value: Any) -> dict[str, Any]:
        """One input -> one content part (raises RequestError for what we cannot send)."""
        if isinstance(value, dict) and "type" in value:
            return value  # already a content part
        ref = coerce_ref(value) if isinstance(value, BaseModel) else None
        if ref is not None:  # ours, or the official SDK's (by id)
            return self._ref(ref)
        if is_pil(value):
            return self._pil(value)
        if is_ndarray(value):
            return self._array(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
            mime = sniff(data[:HEAD_BYTES]) or "application/octet-stream"
            ext = mimetypes.guess_extension(mime) or ".bin"
            return self._bytes(data, mime, f"input{ext}")
        if isinstance(value, os.PathLike):  # a Path as it is: Path(path) parses it again
            return self._path(value if isinstance(value, Path) else Path(value))
        if isinstance(value, str):
            low = value[:8].lower()
            if low.startswith(("http://", "https://")):
                mime, _ = mimetypes.guess_type(value.split("?", 1)[0])
                return part_for_url(value, mime)
            if low.startswith("data:"):
                mime = value[5:].split(";", 1)[0].split(",", 1)[0]
                return part_for_url(value, mime)
            if len(value) < 4096 and os.path.isfile(os.path.expanduser(value)):
                return self._path(Path(value).expanduser())
            raise RequestError(
                f"input {value[:60]!r} is not an existing file or an http(s)/data: URL.",
                hint="Put text in the prompt; pass files, URLs, images, arrays or refs as inputs.",
            )
        raise RequestError(
            f"cannot send an input of type {type(value).__name__}.",
            hint="Inputs may be PIL images, numpy arrays, paths, URLs, bytes or artifact refs.",
        )

    def execution_inputs(self, inputs: Any) -> dict[str, Any] | None:
        """The `inputs` of /agent/execute: a model dumped; in a dict, JSON values as they
        are, refs (ours or the SDK's) as their ids, media as a URL or an uploaded file id."""
        if inputs is None:
            return None
        if isinstance(inputs, BaseModel):
            return inputs.model_dump(mode="json", exclude_none=True)
        if not isinstance(inputs, dict):
            raise RequestError("execution inputs must be a dict or a pydantic model.")
        out: dict[str, Any] = {}
        for key, value in inputs.items():
            ref = coerce_ref(value)
            if value is None or isinstance(value, (str, int, float, bool, list, dict)):
                out[key] = value
            elif ref is not None:
                out[key] = ref.id
            else:
                part = self.part(value)
                kind = part["type"]
                out[key] = part["file_id"] if kind == "input_file" else part[kind]["url"]
        return out

    # -- kinds --------------------------------------------------------------------------------
    def _ref(self, ref: BaseRef) -> dict[str, Any]:
        ns = ref.namespace
        if ns is not None and ns.kind == "session" and self.session_id in (None, ns.id):
            self.session_id = ns.id
            return {"type": "text", "text": f"Input {ref.kind}: {ref.id}"}
        if self._fetch is None:  # dry run: say what would happen
            return {"type": "text", "text": f"<{ref.id} will be fetched and sent as a file>"}
        return self._path(self._fetch(ref))

    def _path(self, path: Path) -> dict[str, Any]:
        try:
            size = path.stat().st_size
            with open(path, "rb") as f:
                head = f.read(HEAD_BYTES)
        except OSError as exc:
            raise RequestError(f"cannot read input file {path.name!r}: {exc.strerror}.") from None
        mime = mimetypes.guess_type(path.name)[0] or sniff(head) or "application/octet-stream"
        if size > self.inline_max:
            return {"type": "input_file", "file_id": self._send_file(path, path.name, size)}
        return part_for_url(data_url(path.read_bytes(), mime), mime)

    def _bytes(self, data: bytes, mime: str, filename: str) -> dict[str, Any]:
        if len(data) > self.inline_max:
            return {"type": "input_file", "file_id": self._send_file(data, filename, len(data))}
        return part_for_url(data_url(data, mime), mime)

    def _send_file(self, data: bytes | Path, filename: str, size: int) -> str:
        if self._upload is None:
            return f"<to upload: {filename}, {_size_label(size)}>"
        return self._upload(data, filename)

    def _pil(self, image: Any) -> dict[str, Any]:
        # Keep JPEGs as JPEG (small); everything else lossless PNG.
        fmt = "JPEG" if image.format == "JPEG" and image.mode in ("RGB", "L") else "PNG"
        buf = io.BytesIO()
        image.save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
        mime = "image/jpeg" if fmt == "JPEG" else "image/png"
        return self._bytes(buf.getvalue(), mime, "image." + ("jpg" if fmt == "JPEG" else "png"))

    def _array(self, arr: Any) -> dict[str, Any]:
        import numpy as np

        if image_like(arr):
            from PIL import Image

            img = np.asarray(arr)
            if img.dtype == bool:
                img = img.astype(np.uint8) * 255
            img = img.astype(np.uint8)
            if img.ndim == 3 and img.shape[2] == 1:
                img = img[:, :, 0]
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="PNG")
            return self._bytes(buf.getvalue(), "image/png", "array.png")
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
        data = buf.getvalue()
        return {"type": "input_file", "file_id": self._send_file(data, "array.npy", len(data))}


def is_pil(value: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        return False
    return isinstance(value, Image.Image)


def is_ndarray(value: Any) -> bool:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        return False
    return isinstance(value, np.ndarray)


def image_like(arr: Any) -> bool:
    """2D, or 3D with 1/3/4 channels, holding bytes (uint8, bool, or ints within 0..255)."""
    import numpy as np

    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4)):
        if min(arr.shape[:2]) == 0:
            return False
        if arr.dtype in (np.uint8, np.bool_):
            return True
        if arr.dtype.kind in "iu" and arr.size and arr.min() >= 0 and arr.max() <= 255:
            return True
    return False
