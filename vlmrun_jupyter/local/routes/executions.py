"""`/v1/agent/execute` and `/v1/agent/executions`: an execution runs in a background
thread (`pending` -> `running` -> `completed` or `failed`) and is polled by id."""

from __future__ import annotations

import contextvars
import json
import threading
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..store import NamespaceStore, Store, StoreError, iso
from . import agents, inputs
from .common import State, endpoint, json_body, paging


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
    store.persist(ns_store.ns)
    rec["completed_at"] = iso(time.time())
    rec["usage"] = {"credits_used": 1, "steps": 1, "duration_seconds": int(time.time() - start)}


def _skill_name(skills: Any) -> str | None:
    """The name of the first skill of `config.skills` (a reference or an inline skill)."""
    if not isinstance(skills, list) or not skills:
        return None
    if not all(isinstance(s, dict) for s in skills):
        raise StoreError(422, "config.skills must be a list of skill objects")
    first = skills[0]
    found = first.get("skill_id") or first.get("skill_name") or first.get("name")
    return str(found) if found else "inline-skill"


@endpoint
async def execute(request: Request, state: State) -> Response:
    body = json_body(await request.body())
    name = body.get("name")
    config = body.get("config") or {}
    if not isinstance(config, dict):
        raise StoreError(422, "config must be an object")
    if name is not None and (not isinstance(name, str) or not name):
        raise StoreError(422, "name must be a non-empty string or null")
    skill = _skill_name(config.get("skills"))
    agent = agents.named(state, name) if name else None
    prompt = config.get("prompt") or (agent or {}).get("prompt")
    if not name and not prompt:
        raise StoreError(
            422, "say what to run: a name (an agent), or config.prompt (with or without skills)"
        )
    prompt = prompt or str(name).replace("/", " ").replace("-", " ")
    schema = config.get("json_schema") or (agent or {}).get("json_schema")
    if schema is not None and not isinstance(schema, dict):
        raise StoreError(422, "config.json_schema must be a JSON schema object")
    mode = config.get("mode")
    if mode is not None and mode not in ("agent", "program"):
        raise StoreError(422, "config.mode must be 'agent' or 'program'")
    ns = state.store.new_namespace("execution")
    ns_store = NamespaceStore(state.store, ns, str(request.base_url))
    rec: dict[str, Any] = {
        "id": ns.id,
        "name": name or skill or "agent",
        "status": "pending",
        "created_at": iso(time.time()),
        "completed_at": None,
        "response": None,
        # The mode asked for, else `program` when skills are given (the skill's pipeline
        # runs), else `agent` (the agent loop): the two values the SDK documents.
        "execution_mode": mode or ("program" if skill else "agent"),
        "usage": {"credits_used": 0, "steps": 0, "duration_seconds": 0},
    }
    with state.lock:
        state.executions[ns.id] = rec
    threading.Thread(  # in this request's context: its input-URL policy (faults.py)
        target=contextvars.copy_context().run,
        args=(_run, rec, prompt, body.get("inputs"), schema, ns_store, state.store),
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
    skip, limit = paging(request)
    with state.lock:
        recs = sorted(state.executions.values(), key=lambda r: r["created_at"], reverse=True)
    return JSONResponse([_view(r) for r in recs[skip : skip + limit]])
