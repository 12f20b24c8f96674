"""The local server's HTTP layer: the VLM Run wire protocol over Starlette.

Routes, authentication, input resolution and response shapes live here; the
media operations live in `ops.py`. Everything a client can get wrong answers a
JSON `{"detail": ...}` that says what to do.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import ipaddress
import json
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .faults import Fault, FaultMiddleware, FaultTable, Recorder
from .store import (
    CONTENT_TYPES,
    NamespaceStore,
    Store,
    StoreError,
    iso,
    public_file_info,
    safe_filename,
)

_REF_IN_TEXT = re.compile(r"\b(?:img|vid|aud|doc|recon|arr|url)_\w{6}\b", re.ASCII)
_MAX_INLINE_INPUT = 512 * 1024 * 1024
_MEDIA_EXT = {
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


class State:
    """Everything the routes share; one per server."""

    def __init__(self, store: Store, api_key: str, faults: FaultTable, recorder: Recorder) -> None:
        self.store = store
        self.api_key = api_key
        self.faults = faults
        self.recorder = recorder
        self.executions: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _authorized(request: Request, state: State) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), state.api_key.encode()
    )


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def endpoint(fn: Any) -> Any:
    """Wrap a route: require the key, map StoreError to its status, never leak a traceback."""

    async def wrapped(request: Request) -> Response:
        state: State = request.app.state.local
        if not _authorized(request, state):
            return _error(
                401,
                "invalid or missing API key: send 'Authorization: Bearer <key>' (check VLMRUN_API_KEY)",
            )
        try:
            return await fn(request, state)
        except StoreError as exc:
            return _error(exc.status, exc.detail)

    return wrapped


def _json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise StoreError(400, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise StoreError(422, "request body must be a JSON object")
    return body


def _namespace_params(request: Request, state: State):
    sid = request.query_params.get("session_id")
    eid = request.query_params.get("execution_id")
    if (sid is None) == (eid is None):
        raise StoreError(422, "pass exactly one of session_id or execution_id")
    return (
        state.store.namespace(sid, "session")
        if sid is not None
        else state.store.namespace(eid, "execution")
    )


# -- health and artifacts ------------------------------------------------------------------


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "server": "vlmrun-jupyter local"})


@endpoint
async def get_artifact(request: Request, state: State) -> Response:
    object_id = request.query_params.get("object_id")
    if object_id is None:
        raise StoreError(422, "object_id is required")
    ns = _namespace_params(request, state)
    art = state.store.artifact(ns, object_id)
    if not art.path.exists():
        raise StoreError(404, f"artifact {object_id} is no longer available")
    return FileResponse(art.path, media_type=art.content_type, filename=None)


@endpoint
async def list_artifacts(request: Request, state: State) -> Response:
    ns = _namespace_params(request, state)
    items = [
        {"object_id": a.object_id, "filename": a.filename, "source": "store"}
        for a in ns.artifacts.values()
    ]
    return JSONResponse({"namespace_id": ns.id, "items": items})


async def public_file(request: Request) -> Response:
    state: State = request.app.state.local
    try:
        path = state.store.public(request.path_params["token"])
    except StoreError as exc:
        return _error(exc.status, exc.detail)
    return FileResponse(path, media_type=_guess_type(path))


def _guess_type(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    for ctype, e in _MEDIA_EXT.items():
        if e == ext:
            return ctype
    return {"spz": "application/octet-stream", "npy": "application/octet-stream"}.get(
        ext, "application/octet-stream"
    )


# -- inputs --------------------------------------------------------------------------------


def _ops():
    from . import ops

    return ops


def _save_input(workdir: Path, data: bytes, content_type: str) -> Path:
    ext = _MEDIA_EXT.get(content_type.split(";")[0].strip().lower(), "bin")
    path = workdir / f"input-{uuid.uuid4().hex[:8]}.{ext}"
    path.write_bytes(data)
    return path


def _is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _resolve_url(url: str, ns_store: NamespaceStore, state: State, hint: str) -> Any:
    """A data: URL or a loopback http(s) URL -> ops.Media. Other hosts are refused."""
    ops = _ops()
    if not isinstance(url, str) or not url:
        raise StoreError(422, f"{hint}: missing url")
    if url.startswith("data:"):
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
        path = _save_input(ns_store.workdir, data, ctype)
        return ops.Media(ops.media_kind(ctype, path.name, path), path, ctype, path.name)
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise StoreError(422, f"{hint}: only data:, http and https URLs are accepted")
    if not _is_loopback_url(url):
        raise StoreError(
            422, f"{hint}: the local server is offline and only fetches loopback URLs ({url[:80]})"
        )
    with httpx.stream("GET", url, timeout=30.0, follow_redirects=False) as resp:
        if resp.status_code != 200:
            raise StoreError(422, f"{hint}: fetching the URL answered HTTP {resp.status_code}")
        ctype = resp.headers.get("content-type", "application/octet-stream").split(";")[0]
        name = safe_filename(urlsplit(url).path.rsplit("/", 1)[-1], "download")
        path = ns_store.workdir / f"input-{uuid.uuid4().hex[:8]}-{name}"
        size = 0
        with path.open("wb") as out:
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > _MAX_INLINE_INPUT:
                    raise StoreError(413, f"{hint}: input larger than {_MAX_INLINE_INPUT} bytes")
                out.write(chunk)
    return ops.Media(ops.media_kind(ctype, path.name, path), path, ctype, path.name)


def _resolve_file(file_id: str, state: State) -> Any:
    ops = _ops()
    info = state.store.file(file_id)
    path: Path = info["_path"]
    ctype = _guess_type(path)
    return ops.Media(ops.media_kind(ctype, path.name, path), path, ctype, info["filename"])


def _resolve_refs(text: str, ns_store: NamespaceStore) -> list[Any]:
    ops = _ops()
    found = []
    for oid in dict.fromkeys(_REF_IN_TEXT.findall(text)):
        art = ns_store.get(oid)
        if art is not None:
            kind = ops.media_kind(art.content_type, art.path.name, art.path)
            found.append(ops.Media(kind, art.path, art.content_type, art.filename, ref_id=oid))
    return found


def _parse_messages(messages: Any, ns_store: NamespaceStore, state: State) -> tuple[str, list[Any]]:
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
    inputs: list[Any] = []
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
            inputs.append(_resolve_url(url, ns_store, state, hint))
        elif ptype == "input_file":
            inputs.append(_resolve_file(part.get("file_id") or "", state))
        else:
            raise StoreError(
                422,
                f"{hint}: unsupported type; use text, image_url, video_url, audio_url, file_url or input_file",
            )
    prompt = "\n".join(texts)
    inputs.extend(_resolve_refs(prompt, ns_store))
    return prompt, inputs


def _schema_from(response_format: Any) -> dict[str, Any] | None:
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


def _run_ops(prompt: str, inputs: list[Any], schema: dict | None, ns_store: NamespaceStore) -> str:
    ops = _ops()
    try:
        return ops.respond(prompt, inputs, schema, ns_store)
    except ops.Unsupported as exc:
        raise StoreError(422, exc.detail) from None


def _usage(prompt: str, content: str) -> dict[str, int]:
    p = max(1, len(prompt) // 4)
    c = max(1, len(content) // 4)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


# -- chat completions ----------------------------------------------------------------------


@endpoint
async def chat_completions(request: Request, state: State) -> Response:
    body = _json_body(await request.body())
    model = body.get("model") or "vlmrun-orion-1:auto"
    schema = _schema_from(body.get("response_format"))
    session_id = body.get("session_id") or (body.get("extra_body") or {}).get("session_id")
    if session_id:
        ns = state.store.namespace(str(session_id), "session")
    else:
        ns = state.store.new_namespace("session")
    ns_store = NamespaceStore(state.store, ns, str(request.base_url))

    def work() -> tuple[str, str]:
        prompt, inputs = _parse_messages(body.get("messages"), ns_store, state)
        return prompt, _run_ops(prompt, inputs, schema, ns_store)

    prompt, content = await run_in_threadpool(work)
    created = int(time.time())
    cid = "chatcmpl-" + uuid.uuid4().hex[:24]
    usage = _usage(prompt, content)
    if body.get("stream"):
        return StreamingResponse(
            _sse(cid, created, model, content, ns.id, usage), media_type="text/event-stream"
        )
    return JSONResponse(
        {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
            "session_id": ns.id,
        }
    )


async def _sse(cid: str, created: int, model: str, content: str, session_id: str, usage: dict):
    def chunk(delta: dict, finish: str | None = None, **extra: Any) -> bytes:
        obj = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            "session_id": session_id,
            **extra,
        }
        return f"data: {json.dumps(obj)}\n\n".encode()

    yield chunk({"role": "assistant", "content": ""})
    step = max(1, len(content) // 4)
    for i in range(0, len(content), step):
        yield chunk({"content": content[i : i + step]})
        await asyncio.sleep(0)
    yield chunk({}, "stop", usage=usage)
    yield b"data: [DONE]\n\n"


# -- agent executions ------------------------------------------------------------------------


def _execution_inputs(inputs: Any, ns_store: NamespaceStore, state: State) -> tuple[str, list[Any]]:
    """Execution inputs: a dict whose values are URLs, data: URLs, file ids or text."""
    media: list[Any] = []
    texts: list[str] = []
    values = list(inputs.values()) if isinstance(inputs, dict) else (inputs or [])
    for i, value in enumerate(values):
        hint = f"input {i}"
        if isinstance(value, dict):
            value = value.get("url") or value.get("file_id") or value.get("text")
        if not isinstance(value, str):
            continue
        if value.startswith("file-"):
            media.append(_resolve_file(value, state))
        elif value.startswith(("data:", "http://", "https://")):
            media.append(_resolve_url(value, ns_store, state, hint))
        else:
            texts.append(value)
    return "\n".join(texts), media


def _execution_view(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if not k.startswith("_")}


@endpoint
async def execute(request: Request, state: State) -> Response:
    body = _json_body(await request.body())
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise StoreError(422, "name is required (the agent to run, e.g. 'image/blur-image')")
    config = body.get("config") or {}
    if not isinstance(config, dict):
        raise StoreError(422, "config must be an object")
    prompt = config.get("prompt") or name.replace("/", " ").replace("-", " ")
    schema = config.get("json_schema")
    if schema is not None and not isinstance(schema, dict):
        raise StoreError(422, "config.json_schema must be a JSON schema object")
    ns = state.store.new_namespace("execution")
    ns_store = NamespaceStore(state.store, ns, str(request.base_url))
    rec: dict[str, Any] = {
        "id": ns.id,
        "name": name,
        "status": "pending",
        "created_at": iso(time.time()),
        "completed_at": None,
        "response": None,
        "execution_mode": "batch",
        "usage": {"credits_used": 0, "steps": 0, "duration_seconds": 0},
    }
    with state.lock:
        state.executions[ns.id] = rec
    inputs = body.get("inputs")

    def run() -> None:
        start = time.time()
        rec["status"] = "running"
        try:
            extra, media = _execution_inputs(inputs, ns_store, state)
            text = f"{prompt}\n{extra}".strip()
            content = _run_ops(text, media, schema, ns_store)
            try:
                rec["response"] = json.loads(content)
            except ValueError:
                rec["response"] = {"text": content}
            rec["status"] = "completed"
        except StoreError as exc:
            rec["response"] = {"error": exc.detail}
            rec["status"] = "failed"
        except Exception as exc:  # an operation crashed: report, never hang the poller
            rec["response"] = {"error": f"execution failed: {type(exc).__name__}: {exc}"}
            rec["status"] = "failed"
        rec["completed_at"] = iso(time.time())
        rec["usage"] = {"credits_used": 1, "steps": 1, "duration_seconds": int(time.time() - start)}

    threading.Thread(target=run, name=f"execution-{ns.id[:8]}", daemon=True).start()
    return JSONResponse(_execution_view(rec))


@endpoint
async def get_execution(request: Request, state: State) -> Response:
    eid = request.path_params["execution_id"]
    state.store.namespace(eid, "execution")  # validates, 404 unknown / expired
    with state.lock:
        rec = state.executions.get(eid)
    if rec is None:
        raise StoreError(404, f"execution {eid} not found")
    return JSONResponse(_execution_view(rec))


@endpoint
async def list_executions(request: Request, state: State) -> Response:
    try:
        skip = max(0, int(request.query_params.get("skip", 0)))
        limit = max(0, min(1000, int(request.query_params.get("limit", 10))))
    except ValueError:
        raise StoreError(422, "skip and limit must be integers") from None
    with state.lock:
        recs = sorted(state.executions.values(), key=lambda r: r["created_at"], reverse=True)
    return JSONResponse([_execution_view(r) for r in recs[skip : skip + limit]])


# -- files -----------------------------------------------------------------------------------


@endpoint
async def upload_file(request: Request, state: State) -> Response:
    purpose = request.query_params.get("purpose", "assistants")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise StoreError(422, "upload a file as multipart/form-data with a 'file' field")
    form = await request.form(max_files=1, max_fields=10)
    try:
        upload = form.get("file")
        if upload is None or not hasattr(upload, "file"):
            raise StoreError(422, "multipart body needs a 'file' field")
        purpose = str(form.get("purpose") or purpose)
        info = await run_in_threadpool(
            state.store.save_upload, upload.file, upload.filename, purpose
        )
    finally:
        await form.close()
    return JSONResponse(public_file_info(info))


@endpoint
async def get_file(request: Request, state: State) -> Response:
    return JSONResponse(public_file_info(state.store.file(request.path_params["file_id"])))


@endpoint
async def file_by_hash(request: Request, state: State) -> Response:
    info = state.store.file_by_hash(request.path_params["md5"])
    if info is None:
        raise StoreError(404, "no file with that hash")
    return JSONResponse(public_file_info(info))


@endpoint
async def list_files(request: Request, state: State) -> Response:
    return JSONResponse([public_file_info(i) for i in state.store.files()])


# -- control (tests only: loopback + key) ------------------------------------------------------


def control(fn: Any) -> Any:
    @endpoint
    async def wrapped(request: Request, state: State) -> Response:
        if not _loopback(request):
            return _error(403, "control routes answer loopback clients only")
        return await fn(request, state)

    return wrapped


@control
async def faults_route(request: Request, state: State) -> Response:
    if request.method == "DELETE":
        state.faults.clear()
        return JSONResponse({"faults": []})
    if request.method == "POST":
        body = _json_body(await request.body())
        try:
            state.faults.add(fault_from_dict(body))
        except (TypeError, ValueError) as exc:
            raise StoreError(422, str(exc)) from None
    return JSONResponse({"faults": state.faults.snapshot()})


def fault_from_dict(body: dict[str, Any]) -> Fault:
    body = dict(body)
    kind = body.pop("fault", None)
    times = body.pop("times", 1)
    probability = float(body.pop("probability", 1.0))
    path = body.pop("path", None)
    return Fault(kind=str(kind), params=body, times=times, probability=probability, path=path)


@control
async def requests_route(request: Request, state: State) -> Response:
    if request.method == "DELETE":
        state.recorder.reset()
        return JSONResponse({"requests": []})
    return JSONResponse({"requests": [r.as_dict() for r in state.recorder.all()]})


def build_app(state: State) -> Any:
    routes = [
        Route("/v1/health", health),
        Route("/v1/openai/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/artifacts", get_artifact),
        Route("/v1/artifacts/list", list_artifacts),
        Route("/v1/agent/execute", execute, methods=["POST"]),
        Route("/v1/agent/executions", list_executions),
        Route("/v1/agent/executions/{execution_id}", get_execution),
        Route("/v1/files", upload_file, methods=["POST"]),
        Route("/v1/files", list_files, methods=["GET"]),
        Route("/v1/files/hash/{md5}", file_by_hash),
        Route("/v1/files/{file_id}", get_file),
        Route("/v1/_local/public/{token}/{name}", public_file),
        Route("/v1/_local/faults", faults_route, methods=["GET", "POST", "DELETE"]),
        Route("/v1/_local/requests", requests_route, methods=["GET", "DELETE"]),
    ]
    app = Starlette(routes=routes)
    app.state.local = state

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(404, f"no route {request.url.path}")

    app.add_exception_handler(404, not_found)
    return FaultMiddleware(app, state.faults, state.recorder), app


__all__ = ["State", "build_app", "CONTENT_TYPES"]
