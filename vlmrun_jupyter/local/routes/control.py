"""Test-only control routes under `/v1/_local/`: set and clear faults, read and reset
the request log. They need the key and answer loopback clients only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..faults import Fault, is_loopback
from ..store import StoreError
from .common import Handler, State, endpoint, error, json_body


def control(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
    @endpoint
    async def wrapped(request: Request, state: State) -> Response:
        if not is_loopback(request.client.host if request.client else ""):
            return error(403, "control routes answer loopback clients only")
        return await fn(request, state)

    return wrapped


def fault_from_dict(body: dict[str, Any]) -> Fault:
    """`{"fault": "status", "status": 503, "times": 1, ...}` -> a Fault (ValueError if bad)."""
    body = dict(body)
    kind = body.pop("fault", None)
    times = body.pop("times", 1)
    probability = float(body.pop("probability", 1.0))
    path = body.pop("path", None)
    return Fault(kind=str(kind), params=body, times=times, probability=probability, path=path)


@control
async def faults_route(request: Request, state: State) -> Response:
    if request.method == "DELETE":
        state.faults.clear()
        return JSONResponse({"faults": []})
    if request.method == "POST":
        body = json_body(await request.body())
        try:
            state.faults.add(fault_from_dict(body))
        except (TypeError, ValueError) as exc:
            raise StoreError(422, str(exc)) from None
    return JSONResponse({"faults": state.faults.snapshot()})


@control
async def requests_route(request: Request, state: State) -> Response:
    if request.method == "DELETE":
        state.recorder.reset()
        return JSONResponse({"requests": []})
    return JSONResponse({"requests": [r.as_dict() for r in state.recorder.all()]})
