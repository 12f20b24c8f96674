"""The agent routes the SDK calls (`client.agent.get/list/create/get_by_id`):
`POST /agent/lookup`, `GET /agent`, `POST /agent/create`, `GET /agents/{id}`.

The local server's agents are its instructions (one built-in agent per supported
instruction, named `local/<instruction>`) plus those created with `/agent/create`,
whose prompt must name a supported instruction. An execution that names an agent
runs with that agent's prompt and schema unless its config overrides them.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import ops
from ..ops.matching import RULES, closest, find
from ..store import StoreError, iso
from .common import State, endpoint, json_body

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./:-]{0,127}\Z")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "agent"


def _agent(name: str, prompt: str, schema: dict[str, Any] | None, when: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"vlmrun-local:{name}")),
        "name": name,
        "description": f"Local server agent: {prompt}",
        "prompt": prompt,
        "json_schema": schema,
        "json_sample": None,
        "created_at": when,
        "updated_at": when,
        "status": "completed",
    }


def catalogue(state: State) -> dict[str, dict[str, Any]]:
    """Every agent by name: the built-in ones, then the created ones."""
    with state.lock:
        if not state.agents:
            when = iso(time.time())
            for rule in RULES:
                agent = _agent(f"local/{_slug(rule.name)}", rule.example, None, when)
                state.agents[agent["name"]] = agent
        return dict(state.agents)


def named(state: State, name: str) -> dict[str, Any] | None:
    return catalogue(state).get(name)


def _refuse(prompt: str) -> StoreError:
    return StoreError(
        422,
        f"no local agent does this; closest supported instruction: '{closest(prompt).example}'. "
        "Supported: " + "; ".join(ops.SUPPORTED),
    )


@endpoint
async def lookup(request: Request, state: State) -> Response:
    body = json_body(await request.body())
    given = [k for k in ("id", "name", "prompt") if body.get(k)]
    if len(given) != 1:
        raise StoreError(422, "pass exactly one of id, name or prompt")
    key = given[0]
    value = str(body[key])
    agents = catalogue(state).values()
    if key == "prompt":
        rule = find(value)
        if rule is None:
            raise _refuse(value)
        found = next((a for a in agents if a["name"] == f"local/{_slug(rule.name)}"), None)
    else:
        found = next((a for a in agents if a[key] == value), None)
    if found is None:
        raise StoreError(404, f"agent {value!r} not found: GET /v1/agent lists them")
    return JSONResponse(found)


@endpoint
async def list_agents(request: Request, state: State) -> Response:
    return JSONResponse(list(catalogue(state).values()))


@endpoint
async def get_agent(request: Request, state: State) -> Response:
    agent_id = request.path_params["agent_id"]
    found = next((a for a in catalogue(state).values() if a["id"] == agent_id), None)
    if found is None:
        raise StoreError(404, f"agent {agent_id} not found")
    return JSONResponse(found)


@endpoint
async def create(request: Request, state: State) -> Response:
    body = json_body(await request.body())
    config = body.get("config") or {}
    prompt = config.get("prompt") if isinstance(config, dict) else None
    if not isinstance(prompt, str) or not prompt.strip():
        raise StoreError(422, "config.prompt is required")
    if find(prompt) is None:
        raise _refuse(prompt)
    schema = config.get("json_schema")
    if schema is not None and not isinstance(schema, dict):
        raise StoreError(422, "config.json_schema must be a JSON schema object")
    name = body.get("name") or f"custom/{_slug(prompt)[:60]}"
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise StoreError(422, "name: letters, digits and . _ - / : (at most 128)")
    catalogue(state)
    with state.lock:
        if name in state.agents:
            raise StoreError(409, f"agent {name} already exists")
        agent = _agent(name, prompt, schema, iso(time.time()))
        state.agents[name] = agent
    keys = ("id", "name", "created_at", "updated_at", "status")
    return JSONResponse({k: agent[k] for k in keys})
