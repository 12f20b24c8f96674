"""`/v1/agent/execute` and `/v1/agent/executions`: an execution runs in a background
thread (`pending` -> `running` -> `completed` or `failed`) and is polled by id."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..store import NamespaceStore, Store, StoreError, iso
from . import inputs
from .common import State, endpoint, json_body


def _view(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if not k.startswith("_")}


def _run(
    rec: dict[str, Any],
    prompt: str,
    raw_inputs: Any,
    schema: dict[str, Any] | None,
    ns_store: NamespaceStore,
    store: Store,
) -> None:
    """The execution itself; every outcome, a crash included, ends in a final status."""
    start = time.time()
    rec["status"] = "running"
    try:
        extra, media = inputs.from_execution(raw_inputs, ns_store, store)
        text = f"{prompt}\n{extra}".strip()
        content = inputs.answer(text, media, schema, ns_store)
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


@endpoint
async def execute(request: Request, state: State) -> Response:
    body = json_body(await request.body())
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
    threading.Thread(
        target=_run,
        args=(rec, prompt, body.get("inputs"), schema, ns_store, state.store),
        name=f"execution-{ns.id[:8]}",
        daemon=True,
    ).start()
    return JSONResponse(_view(rec))


@endpoint
async def get_execution(request: Request, state: State) -> Response:
    eid = request.path_params["execution_id"]
    state.store.namespace(eid, "execution")  # validates, 404 unknown / expired
    with state.lock:
        rec = state.executions.get(eid)
    if rec is None:
        raise StoreError(404, f"execution {eid} not found")
    return JSONResponse(_view(rec))


@endpoint
async def list_executions(request: Request, state: State) -> Response:
    try:
        skip = max(0, int(request.query_params.get("skip", 0)))
        limit = max(0, min(1000, int(request.query_params.get("limit", 10))))
    except ValueError:
        raise StoreError(422, "skip and limit must be integers") from None
    with state.lock:
        recs = sorted(state.executions.values(), key=lambda r: r["created_at"], reverse=True)
    return JSONResponse([_view(r) for r in recs[skip : skip + limit]])
