"""`LocalServer`: the local VLM Run server on a free loopback port, in a background thread.

One line in a kernel or a pytest fixture: `with LocalServer() as server: ...`.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .app import State, build_app, fault_from_dict
from .faults import (
    HEADER,
    TOKEN_PATHS,
    FaultTable,
    RecordedRequest,
    Recorder,
    has_key,
    is_loopback,
)
from .store import Store

DEFAULT_TTL = 24 * 3600.0
_REQUEST_LINE = re.compile(rb"^([A-Z]{3,7}) (\S+) HTTP/1\.[01]\r?\n")
_DROP_HEADER = re.compile(rb"\r\n" + re.escape(HEADER.encode()) + rb": drop", re.IGNORECASE)


def _has_key(data: bytes, api_key: str) -> bool:
    """Whether the request head in `data` carries `Authorization: Bearer <api_key>`."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = (line.partition(":") for line in head.split("\r\n")[1:])
    return has_key({k.strip().lower(): v.strip() for k, _, v in lines}, api_key)


def _drop_protocol(table: FaultTable, recorder: Recorder, api_key: str) -> type[H11Protocol]:
    """An h11 protocol that can close a connection before answering (the `drop` fault),
    only for a request that carries the key (checked before any fault)."""

    class DroppingProtocol(H11Protocol):
        def data_received(self, data: bytes) -> None:
            m = _REQUEST_LINE.match(data)
            # Most requests ask for no drop: skip the key check and head parsing for them.
            header_drop = m is not None and _DROP_HEADER.search(data) is not None
            if m and (header_drop or table.has_drop()):
                target = m.group(2).decode("latin-1")
                path = target.split("?", 1)[0]
                loopback = is_loopback(self.client[0] if self.client else "")
                keyed = _has_key(data, api_key) or path.startswith(TOKEN_PATHS)
                if keyed and (
                    (header_drop and loopback) or table.pick(path, drop=True) is not None
                ):
                    recorder.add(
                        RecordedRequest(
                            m.group(1).decode(),
                            path,
                            {},
                            status=None,
                            fault="drop",
                            time=time.time(),
                        )
                    )
                    self.transport.close()
                    return
            super().data_received(data)

    return DroppingProtocol


class LocalServer:
    """The local server. `base_url` ends in `/v1`; `api_key` is generated unless given."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ttl: float = DEFAULT_TTL,
        data_dir: str | Path | None = None,
        allow_input_urls: list[str] | None = None,
    ) -> None:
        self.api_key = api_key or "local-" + secrets.token_urlsafe(18)
        # URL prefixes (besides this server's own /v1/_local/public files) inputs may name
        self.allow_input_urls: list[str] = list(allow_input_urls or [])
        self.host = host
        self._requested_port = port
        self._own_dir = data_dir is None
        self.data_dir = (
            Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="vlmrun-local-"))
        )
        self.faults = FaultTable()
        self.recorder = Recorder()
        self.store = Store(self.data_dir, ttl)
        self.state = State(self.store, self.api_key, self.faults, self.recorder)
        self.asgi, self.app = build_app(self.state, self.allow_input_urls)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def uvicorn_config(self, port: int | None = None) -> uvicorn.Config:
        return uvicorn.Config(
            self.asgi,
            host=self.host,
            port=self._requested_port if port is None else port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http=_drop_protocol(self.faults, self.recorder, self.api_key),
            timeout_graceful_shutdown=1,
        )

    def start(self) -> LocalServer:
        if self._thread is not None:
            return self
        self._server = uvicorn.Server(self.uvicorn_config())
        self._thread = threading.Thread(
            target=self._server.run, name="vlmrun-local-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the local server failed to start")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Stop serving and remove the temporary data directory (idempotent)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError(
                "the server is not running: call start() or use it as a context manager"
            )
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __repr__(self) -> str:
        where = self.base_url if self.port else "stopped"
        return f"<LocalServer {where}>"

    # -- test hooks --------------------------------------------------------------------------
    def inject(
        self,
        fault: str,
        *,
        times: int | None = 1,
        probability: float = 1.0,
        path: str | None = None,
        **params: Any,
    ) -> None:
        """Misbehave for the next `times` matching requests (None: until cleared)."""
        self.faults.add(
            fault_from_dict(
                {"fault": fault, "times": times, "probability": probability, "path": path, **params}
            )
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.recorder.all()

    def count(self, path: str | None = None, **query: str) -> int:
        return self.recorder.count(path, **query)

    def reset_requests(self) -> None:
        self.recorder.reset()

    def add_artifact(
        self,
        prefix: str,
        data: bytes | str | Path,
        *,
        session_id: str | None = None,
        content_type: str | None = None,
        filename: str | None = None,
    ) -> tuple[str, str]:
        """Seed an artifact (bytes or a file, linked not read); returns (session_id, object_id)."""
        ns = (
            self.store.namespace(session_id, "session")
            if session_id
            else self.store.new_namespace("session")
        )
        payload = data if isinstance(data, (bytes, bytearray)) else Path(data)
        oid = self.store.add_artifact(ns, prefix, payload, content_type, filename)
        return ns.id, oid

    def expire(self, session_id: str) -> None:
        """Make a session (or execution) expired now."""
        self.store.expire(session_id)

    def health(self) -> bool:
        try:
            headers = {"Authorization": f"Bearer {self.api_key}"}
            return (
                httpx.get(f"{self.base_url}/health", headers=headers, timeout=2).status_code == 200
            )
        except httpx.HTTPError:
            return False
