"""The local server's HTTP layer: the VLM Run wire protocol over Starlette.

This module is the route table; the routes live in `routes/` by group and the media
operations in `ops/`. Everything a client can get wrong answers a JSON
`{"detail": ...}` that says what to do.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .faults import FaultMiddleware
from .routes import artifacts, completions, control, executions, files
from .routes.common import State, error
from .routes.control import fault_from_dict


def build_app(state: State) -> tuple[FaultMiddleware, Starlette]:
    """The ASGI app wrapped in fault injection and request recording, and the bare app."""
    routes = [
        Route("/v1/health", artifacts.health),
        Route("/v1/openai/chat/completions", completions.chat_completions, methods=["POST"]),
        Route("/v1/artifacts", artifacts.get_artifact),
        Route("/v1/artifacts/list", artifacts.list_artifacts),
        Route("/v1/agent/execute", executions.execute, methods=["POST"]),
        Route("/v1/agent/executions", executions.list_executions),
        Route("/v1/agent/executions/{execution_id}", executions.get_execution),
        Route("/v1/files", files.upload_file, methods=["POST"]),
        Route("/v1/files", files.list_files, methods=["GET"]),
        Route("/v1/files/hash/{md5}", files.file_by_hash),
        Route("/v1/files/{file_id}", files.get_file),
        Route("/v1/_local/public/{token}/{name}", artifacts.public_file),
        Route("/v1/_local/faults", control.faults_route, methods=["GET", "POST", "DELETE"]),
        Route("/v1/_local/requests", control.requests_route, methods=["GET", "DELETE"]),
    ]
    app = Starlette(routes=routes)
    app.state.local = state

    async def not_found(request: Request, exc: Exception) -> Response:
        return error(404, f"no route {request.url.path}")

    app.add_exception_handler(404, not_found)
    return FaultMiddleware(app, state.faults, state.recorder), app


__all__ = ["State", "build_app", "fault_from_dict"]
