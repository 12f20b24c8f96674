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
from .routes import agents, artifacts, completions, control, executions, files
from .routes.common import State, error
from .routes.control import fault_from_dict


def build_app(
    state: State, allow_input_urls: list[str] | None = None
) -> tuple[FaultMiddleware, Starlette]:
    """The ASGI app wrapped in fault injection and request recording, and the bare app.
    `allow_input_urls`: URL prefixes inputs may name besides the server's own files."""
    routes = [
        Route("/v1/health", artifacts.health),
        Route("/v1/openai/chat/completions", completions.chat_completions, methods=["POST"]),
        Route("/v1/artifacts", artifacts.get_artifact),
        Route("/v1/artifacts/list", artifacts.list_artifacts),
        Route("/v1/agent/execute", executions.execute, methods=["POST"]),
        Route("/v1/agent/lookup", agents.lookup, methods=["POST"]),
        Route("/v1/agent/create", agents.create, methods=["POST"]),
        Route("/v1/agent", agents.list_agents, methods=["GET"]),
        Route("/v1/agents/{agent_id}", agents.get_agent, methods=["GET"]),
        Route("/v1/agent/executions", executions.list_executions),
        Route("/v1/agent/executions/{execution_id}", executions.get_execution),
        Route("/v1/files", files.upload_file, methods=["POST"]),
        Route("/v1/files", files.list_files, methods=["GET"]),
        Route("/v1/files/presigned-url", files.presigned_url, methods=["POST"]),
        Route("/v1/files/verify-upload/{file_id}", files.verify_upload, methods=["GET"]),
        Route("/v1/files/hash/{md5}", files.file_by_hash),
        Route("/v1/files/{file_id}", files.file_route, methods=["GET", "DELETE"]),
        Route("/v1/_local/uploads/{token}", files.put_upload, methods=["PUT"]),
        Route("/v1/_local/public/{token}/{name}", artifacts.public_file),
        Route("/v1/_local/faults", control.faults_route, methods=["GET", "POST", "DELETE"]),
        Route("/v1/_local/requests", control.requests_route, methods=["GET", "DELETE"]),
    ]
    app = Starlette(routes=routes)
    app.state.local = state

    async def not_found(request: Request, exc: Exception) -> Response:
        return error(404, f"no route {request.url.path}")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        allow = getattr(exc, "headers", None) or {}
        methods = allow.get("Allow", "")
        return error(
            405,
            f"{request.method} is not allowed on {request.url.path} (allowed: {methods})",
            allow,
        )

    app.add_exception_handler(404, not_found)
    app.add_exception_handler(405, not_allowed)
    middleware = FaultMiddleware(app, state.faults, state.recorder, state.api_key, allow_input_urls)
    return middleware, app


__all__ = ["State", "build_app", "fault_from_dict"]
