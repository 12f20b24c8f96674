"""`/v1/artifacts` (one artifact's bytes, a namespace's listing), the public links of
`url_` artifacts, and `/v1/health`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from ..store import StoreError
from .common import State, endpoint, error, namespace_of


@endpoint
async def health(request: Request, state: State) -> Response:
    """Needs the key, like the real API: the SDK's `VLMRun()` validates keys with it."""
    return JSONResponse({"status": "ok", "server": "vlmrun-jupyter local"})


@endpoint
async def get_artifact(request: Request, state: State) -> Response:
    object_id = request.query_params.get("object_id")
    filename = request.query_params.get("filename")
    if (object_id is None) == (filename is None):
        raise StoreError(422, "pass exactly one of object_id or filename")
    ns = namespace_of(request, state)
    if object_id is not None:
        art = state.store.artifact(ns, object_id)
    else:
        art = state.store.by_filename(ns, str(filename))
    if not art.path.exists():
        raise StoreError(404, f"artifact {object_id} is no longer available")
    return FileResponse(art.path, media_type=art.content_type, filename=None)


@endpoint
async def list_artifacts(request: Request, state: State) -> Response:
    ns = namespace_of(request, state)
    items = [
        {"object_id": a.object_id, "filename": a.filename, "source": a.source}
        for a in ns.artifacts.values()
    ]
    return JSONResponse({"namespace_id": ns.id, "items": items})


async def public_file(request: Request) -> Response:
    """A published artifact, without the key: the token is the secret."""
    state: State = request.app.state.local
    try:
        art = state.store.public(request.path_params["token"])
    except StoreError as exc:
        return error(exc.status, exc.detail)
    return FileResponse(art.path, media_type=art.content_type)
