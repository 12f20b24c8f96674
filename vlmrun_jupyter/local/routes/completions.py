"""`POST /v1/openai/chat/completions`: the OpenAI shape plus a top-level `session_id`,
answered whole or as server-sent `chat.completion.chunk`s."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..store import NamespaceStore, StoreError
from . import inputs
from .common import State, endpoint, json_body

DEFAULT_MODEL = "vlmrun-orion-1:auto"


def _usage(prompt: str, content: str) -> dict[str, int]:
    p = max(1, len(prompt) // 4)
    c = max(1, len(content) // 4)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


@endpoint
async def chat_completions(request: Request, state: State) -> Response:
    body = json_body(await request.body())
    model = body.get("model") or DEFAULT_MODEL
    schema = inputs.schema_from(body.get("response_format"))
    session_id = body.get("session_id") or (body.get("extra_body") or {}).get("session_id")
    if session_id is not None and not isinstance(session_id, str):
        raise StoreError(422, "session_id must be a string")
    ns = state.store.session(session_id)
    ns_store = NamespaceStore(state.store, ns, str(request.base_url))

    def work() -> tuple[str, str]:
        prompt, media = inputs.from_messages(body.get("messages"), ns_store, state.store)
        return prompt, inputs.answer(prompt, media, schema, ns_store)

    try:
        prompt, content = await run_in_threadpool(work)
    finally:
        state.store.persist(ns)
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


async def _sse(
    cid: str, created: int, model: str, content: str, session_id: str, usage: dict[str, int]
) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
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
