"""`/v1/files`: multipart uploads (201), presigned uploads for large files (the SDK's
flow above 32 MB: `POST /files/presigned-url`, a `PUT` of the bytes to the URL it
returns, then `GET /files/verify-upload/{id}`), lookups by id or MD5, listing, delete."""

from __future__ import annotations

import mimetypes
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..store import StoreError, public_file_info
from .common import State, endpoint, error, json_body, paging

MAX_UPLOAD = 2 * 1024**3  # bytes a presigned upload may carry


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
    return JSONResponse(public_file_info(info), status_code=201)


@endpoint
async def presigned_url(request: Request, state: State) -> Response:
    body = json_body(await request.body())
    filename = body.get("filename")
    if not isinstance(filename, str) or not filename:
        raise StoreError(422, "filename is required")
    expiration = body.get("expiration") or 24 * 3600
    if not isinstance(expiration, (int, float)) or expiration <= 0:
        raise StoreError(422, "expiration must be a positive number of seconds")
    pending = state.store.presign(filename, str(body.get("purpose") or "assistants"), expiration)
    ctype = mimetypes.guess_type(pending["filename"])[0] or "application/octet-stream"
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {
            "id": pending["id"],
            "url": f"{base}/v1/_local/uploads/{pending['token']}",
            "filename": pending["filename"],
            "content_type": ctype,
            "upload_method": "PUT",
            "method": "PUT",
            "public_url": None,
            "created_at": pending["created_at"],
            "expiration": int(expiration),
        }
    )


async def put_upload(request: Request) -> Response:
    """The presigned URL: no key (the token is the secret), the body is the file's bytes."""
    state: State = request.app.state.local
    token = request.path_params["token"]
    try:
        pending = state.store.pending_upload(token)
        writer = state.store.file_writer(pending["id"], pending["filename"], pending["purpose"])
    except StoreError as exc:
        return error(exc.status, exc.detail)
    try:
        with writer:
            async for chunk in request.stream():
                writer.write(chunk)
                if writer.size > MAX_UPLOAD:
                    raise StoreError(413, f"uploads are limited to {MAX_UPLOAD} bytes")
    except StoreError as exc:
        return error(exc.status, exc.detail)
    state.store.drop_pending(token)
    return Response(status_code=200)


@endpoint
async def verify_upload(request: Request, state: State) -> Response:
    info = state.store.verify_upload(request.path_params["file_id"])
    return JSONResponse(public_file_info(info))


@endpoint
async def file_route(request: Request, state: State) -> Response:
    file_id = request.path_params["file_id"]
    if request.method == "DELETE":
        return JSONResponse(public_file_info(state.store.delete_file(file_id)))
    return JSONResponse(public_file_info(state.store.file(file_id)))


@endpoint
async def file_by_hash(request: Request, state: State) -> Response:
    info = state.store.file_by_hash(request.path_params["md5"])
    if info is None:
        raise StoreError(404, "no file with that hash")
    return JSONResponse(public_file_info(info))


@endpoint
async def list_files(request: Request, state: State) -> Response:
    skip, limit = paging(request)
    files: list[dict[str, Any]] = state.store.files()[skip : skip + limit]
    return JSONResponse([public_file_info(i) for i in files])
