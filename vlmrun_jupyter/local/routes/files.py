"""`/v1/files`: multipart uploads streamed to disk, looked up by id or by MD5."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..store import StoreError, public_file_info
from .common import State, endpoint


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
