"""Request inputs -> `ops.Media` files in the namespace's work directory.

Inputs are `data:` URLs, loopback http(s) URLs (the server is offline: other hosts
are refused), uploaded file ids, and ids of earlier artifacts named in the prompt.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

import httpx

from ... import kinds
from .. import ops
from ..faults import INPUT_POLICY, is_loopback
from ..ops.context import read_head
from ..store import FILE_RE, NamespaceStore, Store, StoreError, safe_filename

MAX_INPUT = 512 * 1024 * 1024
# File extension of a saved data: URL, so decoders and descriptions see a familiar name.
# (kinds.py has extensions per kind, not per media type.)
_EXT_OF_TYPE = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "application/pdf": "pdf",
}


def _media(path: Path, ctype: str, name: str, ref_id: str | None = None) -> ops.Media:
    return ops.Media(ops.media_kind(ctype, path.name, path), path, ctype, name, ref_id=ref_id)


def _from_data_url(url: str, workdir: Path, hint: str) -> ops.Media:
    header, sep, payload = url.partition(",")
    if not sep:
        raise StoreError(422, f"{hint}: malformed data: URL")
    meta = header[5:].split(";")
    ctype = meta[0] or "application/octet-stream"
    try:
        data = (
            base64.b64decode(payload, validate=False)
            if "base64" in meta[1:]
            else unquote_to_bytes(payload)
        )
    except (binascii.Error, ValueError):
        raise StoreError(422, f"{hint}: data: URL is not valid base64") from None
    ext = _EXT_OF_TYPE.get(kinds.media_type(ctype), "bin")
    path = workdir / f"input-{uuid.uuid4().hex[:8]}.{ext}"
    path.write_bytes(data)
    return _media(path, ctype, path.name)


def _download(url: str, workdir: Path, hint: str) -> ops.Media:
    """A loopback URL streamed to disk (bounded by MAX_INPUT)."""
    with httpx.stream("GET", url, timeout=30.0, follow_redirects=False) as resp:
        if resp.status_code != 200:
            raise StoreError(422, f"{hint}: fetching the URL answered HTTP {resp.status_code}")
        ctype = resp.headers.get("content-type", "application/octet-stream").split(";")[0]
        name = safe_filename(urlsplit(url).path.rsplit("/", 1)[-1], "download")
        path = workdir / f"input-{uuid.uuid4().hex[:8]}-{name}"
        size = 0
        with path.open("wb") as out:
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > MAX_INPUT:
                    raise StoreError(413, f"{hint}: input larger than {MAX_INPUT} bytes")
                out.write(chunk)
    return _media(path, ctype, path.name)


def from_url(url: Any, workdir: Path, hint: str) -> ops.Media:
    """A data: URL or a loopback http(s) URL. Other hosts are refused."""
    if not isinstance(url, str) or not url:
        raise StoreError(422, f"{hint}: missing url")
    if url.startswith("data:"):
        return _from_data_url(url, workdir, hint)
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise StoreError(422, f"{hint}: only data:, http and https URLs are accepted")
    port, allowed = INPUT_POLICY.get()
    parts = urlsplit(url)
    own = (
        is_loopback(parts.hostname or "")
        and port is not None
        and parts.port == port
        and parts.path.startswith("/v1/_local/public/")
    )
    if not own and not any(url.startswith(prefix) for prefix in allowed):
        raise StoreError(
            422,
            f"{hint}: the local server is offline and only fetches its own files "
            f"(loopback URLs under /v1/_local/public/), not {url[:80]}; start it with "
            "--allow-input-url <prefix> (LocalServer(allow_input_urls=[...])) to allow others",
        )
    return _download(url, workdir, hint)


def from_file(file_id: str, store: Store) -> ops.Media:
    """An uploaded file (`POST /v1/files`), typed by its bytes."""
    info = store.file(file_id)
    path: Path = info["_path"]
    ctype = kinds.sniff(read_head(path)) or "application/octet-stream"
    return _media(path, ctype, info["filename"])


def named_refs(text: str, ns_store: NamespaceStore) -> list[ops.Media]:
    """Artifacts of this namespace whose ids the prompt mentions, in order."""
    found = []
    for oid in dict.fromkeys(kinds.ID_IN_TEXT_RE.findall(text)):
        art = ns_store.get(oid)
        if art is not None:
            found.append(_media(art.path, art.content_type, art.filename, ref_id=oid))
    return found


def from_messages(
    messages: Any, ns_store: NamespaceStore, store: Store
) -> tuple[str, list[ops.Media]]:
    """The last user message's text and media (plus refs its text names)."""
    if not isinstance(messages, list) or not messages:
        raise StoreError(422, "messages must be a non-empty list")
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        raise StoreError(422, "messages need at least one user message")
    content = users[-1].get("content")
    parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
    if not isinstance(parts, list):
        raise StoreError(422, "message content must be a string or a list of content parts")
    texts: list[str] = []
    inputs: list[ops.Media] = []
    for i, part in enumerate(parts):
        if not isinstance(part, dict):
            raise StoreError(422, f"content part {i} must be an object")
        ptype = part.get("type")
        hint = f"content part {i} ({ptype})"
        if ptype in ("text", "input_text"):
            texts.append(str(part.get("text", "")))
        elif ptype in ("image_url", "video_url", "audio_url", "file_url"):
            value = part.get(ptype)
            url = value.get("url") if isinstance(value, dict) else value
            inputs.append(from_url(url, ns_store.workdir, hint))
        elif ptype == "input_file":
            inputs.append(from_file(part.get("file_id") or "", store))
        else:
            raise StoreError(
                422,
                f"{hint}: unsupported type; use text, image_url, video_url, audio_url, file_url or input_file",
            )
    prompt = "\n".join(texts)
    inputs.extend(named_refs(prompt, ns_store))
    return prompt, inputs


_URL_PARTS = ("image_url", "video_url", "audio_url", "file_url")


def _leaves(value: Any, depth: int = 0) -> list[Any]:
    """Every input value under any field: strings, content parts (`MessageContent`
    dumps, `{"type": "image_url", "image_url": {"url": ...}}`), `{url}` / `{file_id}` /
    `{text}` objects; other objects and lists are searched (bounded depth)."""
    if depth > 8:
        return []
    if isinstance(value, dict):
        if value.get("type") in (*_URL_PARTS, "input_file", "text") or any(
            k in value for k in ("url", "file_id", "text")
        ):
            return [value]
        return [leaf for v in value.values() for leaf in _leaves(v, depth + 1)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v, depth + 1)]
    return [value]


def _part_value(part: dict[str, Any]) -> Any:
    """A content part or `{url|file_id|text}` object -> its URL, file id or text."""
    ptype = part.get("type")
    if ptype in _URL_PARTS:
        inner = part.get(ptype)
        return inner.get("url") if isinstance(inner, dict) else inner
    if ptype == "input_file":
        return part.get("file_id")
    return part.get("url") or part.get("file_id") or part.get("text")


def from_execution(
    inputs: Any, ns_store: NamespaceStore, store: Store
) -> tuple[str, list[ops.Media]]:
    """Execution inputs, under any field names: URLs, data: URLs, uploaded file ids, text,
    and content parts in the SDK's `MessageContent` form."""
    media: list[ops.Media] = []
    texts: list[str] = []
    for i, leaf in enumerate(_leaves(inputs or {})):
        value = _part_value(leaf) if isinstance(leaf, dict) else leaf
        if not isinstance(value, str):
            continue
        is_file = isinstance(leaf, dict) and leaf.get("type") == "input_file"
        if is_file or FILE_RE.match(value):
            media.append(from_file(value, store))
        elif value.startswith(("data:", "http://", "https://")):
            media.append(from_url(value, ns_store.workdir, f"input {i}"))
        else:
            texts.append(value)
    return "\n".join(texts), media


def schema_from(response_format: Any) -> dict[str, Any] | None:
    """The JSON schema of `response_format` (ours or OpenAI's nested shape), if any."""
    if response_format is None:
        return None
    if not isinstance(response_format, dict):
        raise StoreError(422, "response_format must be an object")
    if response_format.get("type") == "json_schema":
        schema = response_format.get("schema")
        if schema is None and isinstance(response_format.get("json_schema"), dict):
            schema = response_format["json_schema"].get("schema")
        if not isinstance(schema, dict):
            raise StoreError(422, "response_format.schema must be a JSON schema object")
        return schema
    return None


def answer(
    prompt: str, inputs: list[ops.Media], schema: dict | None, ns_store: NamespaceStore
) -> str:
    """Run the operations; a prompt they cannot serve is a 422 listing what they can."""
    try:
        return ops.respond(prompt, inputs, schema, ns_store)
    except ops.Unsupported as exc:
        raise StoreError(422, exc.detail) from None
