"""What every route shares: the server state, the key check, JSON errors and bodies."""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..faults import FaultTable, Recorder
from ..store import Namespace, Store, StoreError

Handler = Callable[[Request, "State"], Awaitable[Response]]


class State:
    """Everything the routes share; one per server."""

    def __init__(self, store: Store, api_key: str, faults: FaultTable, recorder: Recorder) -> None:
        self.store = store
        self.api_key = api_key
        self.faults = faults
        self.recorder = recorder
        self.executions: dict[str, dict[str, Any]] = {}
        self.agents: dict[str, dict[str, Any]] = {}  # by name (routes/agents.py)
        self.lock = threading.Lock()


def error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The API's error shape: `{"detail": ...}` saying what to do."""
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _authorized(request: Request, state: State) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), state.api_key.encode()
    )


def endpoint(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a route: require the key, map StoreError to its status, never leak a traceback."""

    async def wrapped(request: Request) -> Response:
        state: State = request.app.state.local
        if not _authorized(request, state):
            return error(
                401,
                "invalid or missing API key: send 'Authorization: Bearer <key>' (check VLMRUN_API_KEY)",
            )
        try:
            return await fn(request, state)
        except StoreError as exc:
            return error(exc.status, exc.detail)

    return wrapped


def json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise StoreError(400, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise StoreError(422, "request body must be a JSON object")
    return body


def paging(request: Request) -> tuple[int, int]:
    """`skip` and `limit` of a listing (the SDK sends both; limit defaults to 10, at most 1000)."""
    try:
        skip = max(0, int(request.query_params.get("skip", 0)))
        limit = max(0, min(1000, int(request.query_params.get("limit", 10))))
    except ValueError:
        raise StoreError(422, "skip and limit must be integers") from None
    return skip, limit


def namespace_of(request: Request, state: State) -> Namespace:
    """The session or execution named by the query (exactly one of the two)."""
    sid = request.query_params.get("session_id")
    eid = request.query_params.get("execution_id")
    if (sid is None) == (eid is None):
        raise StoreError(422, "pass exactly one of session_id or execution_id")
    return (
        state.store.namespace(sid, "session")
        if sid is not None
        else state.store.namespace(eid, "execution")
    )
