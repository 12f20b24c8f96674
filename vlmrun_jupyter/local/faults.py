"""Fault injection and request recording for the local server.

Tests prove the client copes with a misbehaving API by asking the server to
misbehave: add latency, answer 429/5xx, truncate a body, lie about the content
type, slow the body down, or drop the connection. Faults are set for the whole
server (`FaultTable.add`, for the next N requests or with a probability) or per
request with the `X-Vlmrun-Fault` header. Everything received is recorded
(never the Authorization header) so tests can count requests at the server.

Bounds (issue 14): the record is a ring buffer (`RECORD_MAX` requests) holding JSON
bodies with long strings summarised, so a kernel running the server does not grow with
its traffic; a fault applies only to a request carrying the key (or to the token-guarded
`/v1/_local/public|uploads` routes), so nobody without it can make the server misbehave;
a body over `MAX_BODY` (`MAX_JSON_BODY` for JSON) is answered 413 before it is read.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import ipaddress
import json
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

FAULT_KINDS = ("latency", "status", "truncate", "content_type", "drop", "slow_body")
HEADER = "x-vlmrun-fault"
_JSON_RECORD_LIMIT = 8 * 1024 * 1024
RECORD_MAX = 10_000  # requests kept in the record (oldest dropped first)
RECORD_STR_MAX = 256  # longer strings in recorded bodies keep this prefix and their length
MAX_JSON_BODY = 64 * 1024 * 1024  # a JSON request body (parsed in memory)
MAX_BODY = 2 * 1024**3  # any request body (uploads stream to disk)
TOKEN_PATHS = ("/v1/_local/public/", "/v1/_local/uploads/")  # guarded by a token, not the key
#: (port of the server handling this request, URL prefixes its inputs may come from):
#: set per request, read by `routes/inputs.py` to fetch only the server's own files.
INPUT_POLICY: contextvars.ContextVar[tuple[int | None, tuple[str, ...]]] = contextvars.ContextVar(
    "vlmrun_local_input_policy", default=(None, ())
)


def summarise(value: Any, depth: int = 0) -> Any:
    """A recorded body: the same shape, long strings cut to a prefix plus their length."""
    if depth > 32:
        return "..."
    if isinstance(value, str) and len(value) > RECORD_STR_MAX:
        return f"{value[:RECORD_STR_MAX]}...(+{len(value) - RECORD_STR_MAX} chars)"
    if isinstance(value, dict):
        return {k: summarise(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [summarise(v, depth + 1) for v in value]
    return value


def has_key(headers: dict[str, str], api_key: str) -> bool:
    """Whether a request carries this server's key (`Authorization: Bearer <key>`)."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), api_key.encode()
    )


def may_fault(path: str, headers: dict[str, str], api_key: str | None) -> bool:
    """Faults apply to requests with the key (checked first) or to token-guarded routes."""
    return api_key is None or path.startswith(TOKEN_PATHS) or has_key(headers, api_key)


@dataclass
class Fault:
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    times: int | None = 1  # None: until cleared
    probability: float = 1.0
    path: str | None = None  # URL path prefix

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}"
            )
        if not 0.0 <= float(self.probability) <= 1.0:
            raise ValueError("probability must be between 0 and 1")

    def describe(self) -> str:
        args = ";".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.kind}({args})" if args else self.kind


def parse_header(value: str) -> Fault | None:
    """`status=429;retry_after=1` | `latency=0.05` | `truncate=0.5` | `drop` | ..."""
    items = [p.strip() for p in value.split(";") if p.strip()]
    if not items:
        return None
    params: dict[str, Any] = {}
    kind = None
    for item in items:
        key, _, raw = item.partition("=")
        key = key.strip().lower()
        if kind is None:
            kind = key
        if raw:
            params[key] = _number(raw.strip())
    assert kind is not None
    # The first key names the fault; its value is the main parameter under a canonical name.
    main = {
        "latency": "seconds",
        "truncate": "fraction",
        "content_type": "value",
        "slow_body": "seconds",
    }
    if kind in main and kind in params:
        params[main[kind]] = params.pop(kind)
    try:
        return Fault(kind=kind, params=params)
    except ValueError:
        return None


def _number(raw: str) -> Any:
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


class FaultTable:
    """Server-wide faults, consumed in order of insertion."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._rng = random.Random(seed)

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def has_drop(self) -> bool:
        """Whether a `drop` fault is waiting (the protocol layer looks closer only then)."""
        with self._lock:
            return any(f.kind == "drop" for f in self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pick(self, path: str, drop: bool = False) -> Fault | None:
        """The next matching fault, consumed. The protocol layer asks for `drop` faults
        (applied before HTTP parsing), the middleware for all the others."""
        with self._lock:
            for fault in list(self._faults):
                if (fault.kind == "drop") != drop:
                    continue
                if fault.path and not path.startswith(fault.path):
                    continue
                if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "fault": f.kind,
                    **f.params,
                    "times": f.times,
                    "probability": f.probability,
                    "path": f.path,
                }
                for f in self._faults
            ]


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    json: Any = None
    status: int | None = None
    fault: str | None = None
    time: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "json": self.json,
            "status": self.status,
            "fault": self.fault,
        }


class Recorder:
    """The last `RECORD_MAX` requests the server received, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: deque[RecordedRequest] = deque(maxlen=RECORD_MAX)

    def add(self, item: RecordedRequest) -> None:
        with self._lock:
            self._items.append(item)

    def all(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def reset(self) -> None:
        with self._lock:
            self._items.clear()

    def count(self, path: str | None = None, **query: str) -> int:
        return sum(
            1
            for r in self.all()
            if (path is None or r.path == path)
            and all(r.query.get(k) == str(v) for k, v in query.items())
        )


class _Abort(Exception):
    """Raised from the wrapped `send` to stop the app mid-body (the connection is then closed)."""


class FaultMiddleware:
    """ASGI middleware: records requests and applies faults (all but `drop`, which the
    protocol layer applies before the request reaches the app)."""

    def __init__(
        self,
        app: Any,
        table: FaultTable,
        recorder: Recorder,
        api_key: str | None = None,
        allow_input_urls: list[str] | None = None,
    ) -> None:
        self.app = app
        self.table = table
        self.recorder = recorder
        self.api_key = api_key
        self.allow_input_urls = allow_input_urls if allow_input_urls is not None else []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        send = _title_case_headers(send)
        path = scope["path"]
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        record = RecordedRequest(scope["method"], path, query, time=time.time())
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        port = (scope.get("server") or (None, None))[1]
        INPUT_POLICY.set((port, tuple(self.allow_input_urls)))
        if await self._too_large(headers, send, record):
            return
        fault = None
        allowed = may_fault(path, headers, self.api_key)  # the key first, then any fault
        if allowed and HEADER in headers and is_loopback((scope.get("client") or ("",))[0]):
            fault = parse_header(headers[HEADER])
            if fault is not None and fault.kind == "drop":
                fault = None  # already applied by the protocol layer
        if allowed and fault is None and not path.startswith("/v1/_local/"):
            fault = self.table.pick(path)
        record.fault = fault.describe() if fault else None
        self.recorder.add(record)

        receive = self._recording_receive(receive, record, headers)
        if fault is None:
            await self.app(scope, receive, self._status_send(send, record))
            return
        if fault.kind == "latency":
            await asyncio.sleep(float(fault.params.get("seconds", 0.1)))
            await self.app(scope, receive, self._status_send(send, record))
            return
        if fault.kind == "status":
            await self._fault_status(fault, send, record)
            return
        await self._body_fault(fault, scope, receive, send, record)

    # -- helpers -----------------------------------------------------------------------
    async def _too_large(self, headers: dict[str, str], send: Any, record: RecordedRequest) -> bool:
        """Answer 413 (and record it) for an announced body over the limit, unread."""
        is_json = headers.get("content-type", "").startswith("application/json")
        limit = MAX_JSON_BODY if is_json else MAX_BODY
        try:
            announced = int(headers.get("content-length", "0"))
        except ValueError:
            announced = 0
        if announced <= limit:
            return False
        record.status = 413
        self.recorder.add(record)
        body = json.dumps(
            {"detail": f"request body of {announced} bytes is over this server's {limit}"}
        ).encode()
        head = [(b"content-type", b"application/json"), (b"connection", b"close")]
        head.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 413, "headers": head})
        await send({"type": "http.response.body", "body": body})
        return True

    def _recording_receive(self, receive: Any, record: RecordedRequest, headers: dict) -> Any:
        is_json = headers.get("content-type", "").startswith("application/json")
        chunks: list[bytes] = []
        size = 0

        async def wrapped() -> dict:
            nonlocal size
            message = await receive()
            if is_json and message.get("type") == "http.request":
                body = message.get("body", b"")
                size += len(body)
                if size <= _JSON_RECORD_LIMIT:
                    chunks.append(body)
                if not message.get("more_body"):
                    try:
                        record.json = summarise(json.loads(b"".join(chunks) or b"null"))
                    except (ValueError, RecursionError):
                        record.json = None
            return message

        return wrapped

    @staticmethod
    def _status_send(send: Any, record: RecordedRequest) -> Any:
        async def wrapped(message: dict) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
            await send(message)

        return wrapped

    async def _fault_status(self, fault: Fault, send: Any, record: RecordedRequest) -> None:
        status = int(fault.params.get("status", 500))
        body = json.dumps({"detail": f"injected fault: HTTP {status}"}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if "retry_after" in fault.params:
            headers.append((b"retry-after", str(fault.params["retry_after"]).encode()))
        record.status = status
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _body_fault(
        self, fault: Fault, scope: dict, receive: Any, send: Any, record: RecordedRequest
    ) -> None:
        total: int | None = None
        sent = 0

        async def wrapped(message: dict) -> None:
            nonlocal total, sent
            if message["type"] == "http.response.start":
                record.status = message["status"]
                headers = list(message.get("headers", []))
                if fault.kind == "content_type":
                    value = str(fault.params.get("value", "text/html")).encode()
                    headers = [(k, v) for k, v in headers if k.lower() != b"content-type"]
                    headers.append((b"content-type", value))
                for k, v in headers:
                    if k.lower() == b"content-length":
                        total = int(v)
                message = {**message, "headers": headers}
                await send(message)
                return
            if message["type"] == "http.response.body":
                body = message.get("body", b"")
                if fault.kind == "slow_body":
                    await asyncio.sleep(float(fault.params.get("seconds", 0.5)))
                if fault.kind == "truncate" and total is not None:
                    limit = int(total * float(fault.params.get("fraction", 0.5)))
                    if sent + len(body) >= limit:
                        await send(
                            {
                                "type": "http.response.body",
                                "body": body[: limit - sent],
                                "more_body": True,
                            }
                        )
                        raise _Abort
                sent += len(body)
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        except _Abort:
            return  # response incomplete: the server closes the connection


def _title_case_headers(send: Any) -> Any:
    """`Content-Type`, not `content-type`: HTTP names are case-insensitive, but the
    official SDK reads `dict(response.headers)["Content-Type"]`."""

    async def wrapped(message: dict) -> None:
        if message["type"] == "http.response.start":
            headers = [
                (k.decode("latin-1").title().encode("latin-1"), v)
                for k, v in message.get("headers", [])
            ]
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


def is_loopback(host: str) -> bool:
    """Whether a peer or URL host is this machine (fault headers, control routes and input
    URLs are honoured only then)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
