"""The client's wire protocol and error mapping, through `httpx.MockTransport`: no server,
no sockets, exact request counts. (tests/test_client.py proves the same against the real
local server over HTTP.)"""

from __future__ import annotations

import base64
import io
import json
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from email.utils import format_datetime

import httpx
import pytest
from PIL import Image
from pydantic import BaseModel

from vlmrun_jupyter import refs
from vlmrun_jupyter.client import Client, _protocol
from vlmrun_jupyter.errors import (
    AuthenticationError,
    ConfigurationError,
    ExecutionFailedError,
    ExpiredError,
    IntegrityError,
    NetworkError,
    NotFoundError,
    RateLimitError,
    RequestError,
    ServerError,
    VlmRunError,
    VlmRunTimeoutError,
)

KEY = "sk-mock-0123456789-very-secret"
BASE = "https://api.test/v1"

Handler = Callable[[httpx.Request], httpx.Response]


class Api:
    """A MockTransport handler: per (host, path) a queue of answers (the last one repeats);
    every request is recorded with its body read."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Handler | httpx.Response]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, path: str, *answers: Handler | httpx.Response, host: str = "api.test") -> Api:
        self.routes[(host, path)] = list(answers)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        queue = self.routes.get((request.url.host, request.url.path))
        if not queue:
            return httpx.Response(404, json={"detail": f"no route {request.url.path}"})
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return answer(request) if callable(answer) else _fresh(answer)

    def hits(self, path: str, host: str = "api.test") -> list[httpx.Request]:
        return [r for r in self.requests if r.url.host == host and r.url.path == path]


class _Chunks(httpx.SyncByteStream):
    """A body that arrives as a stream, as from a socket (a `content=` Response is pre-read)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __iter__(self) -> Iterator[bytes]:
        yield from (self.data[i : i + 1000] for i in range(0, len(self.data), 1000))


def _fresh(resp: httpx.Response) -> httpx.Response:
    """A new streamed copy of a canned answer, so one answer can be served many times."""
    if not isinstance(resp.stream, httpx.ByteStream):
        return resp
    return httpx.Response(resp.status_code, headers=resp.headers, stream=_Chunks(resp.content))


@pytest.fixture()
def api() -> Api:
    return Api()


@pytest.fixture()
def sleeps(monkeypatch) -> list[float]:
    """Backoff and polling waits, recorded instead of slept."""
    seen: list[float] = []
    monkeypatch.setattr(time, "sleep", seen.append)
    return seen


@pytest.fixture()
def client(api, tmp_path, sleeps):
    c = Client(
        api_key=KEY,
        base_url=BASE,
        cache_dir=tmp_path / "cache",
        max_retries=2,
        retry_after_max=5.0,
        transport=httpx.MockTransport(api),
    )
    yield c
    c.close()


def _completion(content: str, session_id: str | None = "sess-m1", **extra) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "vlmrun-orion-1:auto",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
        "usage": {"total_tokens": 7},
        **({"session_id": session_id} if session_id else {}),
        **extra,
    }


def _body(request: httpx.Request) -> dict:
    return json.loads(request.content)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (3, 2), "blue").save(buf, "PNG")
    return buf.getvalue()


def _secret_free(exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc)) + repr(exc) + str(getattr(exc, "detail", ""))
    assert KEY not in text


class Blurred(BaseModel):
    image: refs.ImageRef
    note: str


# -- request bodies ------------------------------------------------------------------------------


def test_a_completion_with_a_schema_sends_the_api_body_and_binds_refs_to_the_session(client, api):
    answer = json.dumps({"image": {"id": "img_mock01"}, "note": "done"})
    api.on("/v1/openai/chat/completions", httpx.Response(200, json=_completion(answer)))
    out = client.complete("Blur the faces", schema=Blurred, extra={"toolsets": ["image"]})

    (req,) = api.requests
    assert req.method == "POST" and str(req.url) == f"{BASE}/openai/chat/completions"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert _body(req) == {
        "model": "vlmrun-orion-1:auto",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Blur the faces"}]}],
        "response_format": {"type": "json_schema", "schema": Blurred.model_json_schema()},
        "toolsets": ["image"],
    }
    assert isinstance(out.result, Blurred) and out.result.note == "done"
    assert out.session_id == "sess-m1" and out.result.image.session_id == "sess-m1"
    assert out.result.image._client is client
    assert out.usage == {"total_tokens": 7} and out.id == "chatcmpl-1"


def test_a_continued_session_and_stream_flag_are_in_the_body(client, api):
    api.on(
        "/v1/openai/chat/completions",
        httpx.Response(200, text="data: [DONE]\n\n", headers={"content-type": "text/event-stream"}),
    )
    client.complete("again", session_id="sess-old", model="m-2", stream=True)
    body = _body(api.requests[0])
    assert body["session_id"] == "sess-old" and body["stream"] is True and body["model"] == "m-2"
    assert "response_format" not in body


def test_the_session_of_the_request_binds_refs_when_the_answer_names_none(client, api):
    answer = json.dumps({"image": {"id": "img_mock02"}, "note": ""})
    api.on("/v1/openai/chat/completions", httpx.Response(200, json=_completion(answer, None)))
    out = client.complete("x", schema=Blurred, session_id="sess-asked")
    assert out.session_id == "sess-asked" and out.result.image.session_id == "sess-asked"


def test_build_request_is_the_body_complete_sends(client, api):
    answer = json.dumps({"image": {"id": "img_mock03"}, "note": ""})
    api.on("/v1/openai/chat/completions", httpx.Response(200, json=_completion(answer)))
    image = Image.new("RGB", (4, 4), "red")
    dry = client.build_request("look", inputs=[image], schema=Blurred, session_id="s-9")
    client.complete("look", inputs=[image], schema=Blurred, session_id="s-9")
    assert _body(api.requests[0]) == dry
    assert dry["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/png;")


def test_an_execution_sends_the_agent_body_polls_and_binds_refs_to_it(client, api, sleeps):
    image = Image.new("RGB", (4, 4), "red")
    done = {
        "id": "exec-m1",
        "name": "image/blur",
        "status": "completed",
        "response": {"image": {"id": "img_exec01"}, "note": "ok"},
        "usage": {"credits": 1},
    }
    api.on("/v1/agent/execute", httpx.Response(200, json={"id": "exec-m1", "status": "pending"}))
    api.on(
        "/v1/agent/executions/exec-m1",
        httpx.Response(200, json={"id": "exec-m1", "status": "running"}),
        httpx.Response(200, json=done),
    )
    seen: list[str] = []
    inputs = {"image": image, "n": 3, "ref": refs.ImageRef(id="img_given1")}
    out = client.execute(
        "image/blur",
        prompt="blur",
        inputs=inputs,
        schema=Blurred,
        poll_interval=0.25,
        on_status=lambda status, _t: seen.append(status),
    )
    body = _body(api.hits("/v1/agent/execute")[0])
    assert body == client.build_execution_request(
        "image/blur", prompt="blur", inputs=inputs, schema=Blurred
    )
    assert body["name"] == "image/blur" and body["batch"] is True
    assert body["model"] == "vlmrun-orion-1:auto"
    assert body["config"] == {"prompt": "blur", "json_schema": Blurred.model_json_schema()}
    assert body["inputs"]["n"] == 3 and body["inputs"]["ref"] == "img_given1"
    assert body["inputs"]["image"].startswith("data:image/png;base64,")
    assert len(api.hits("/v1/agent/executions/exec-m1")) == 2
    assert seen == ["pending", "running", "completed"] and sleeps == [0.25, 0.25]
    assert out.id == "exec-m1" and out.status == "completed"
    assert out.result.image.execution_id == "exec-m1"


def test_an_execution_request_without_prompt_or_schema_has_no_config(client):
    body = client.build_execution_request("doc/x", inputs={"url": "https://e.test/a.pdf"})
    assert body == {
        "name": "doc/x",
        "inputs": {"url": "https://e.test/a.pdf"},
        "batch": True,
        "model": "vlmrun-orion-1:auto",
    }


def test_a_dry_run_execution_uploads_nothing(client, api, tmp_path):
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * (5 * 1024 * 1024))
    body = client.build_execution_request("video/trim", inputs={"video": big})
    assert body["inputs"]["video"] == "<to upload: big.mp4, 5.0 MB>"
    assert api.requests == []


def test_a_failed_execution_is_final_with_the_server_message_redacted(client, api):
    failed = {"id": "exec-f", "status": "failed", "error": f"boom with Bearer {KEY}"}
    api.on("/v1/agent/execute", httpx.Response(200, json=failed))
    with pytest.raises(ExecutionFailedError, match="boom") as info:
        client.execute("x/y")
    assert KEY not in str(info.value)
    assert len(api.requests) == 1


def test_an_execution_past_its_deadline_times_out(client, api, monkeypatch):
    api.on("/v1/agent/execute", httpx.Response(200, json={"id": "exec-t", "status": "running"}))
    api.on("/v1/agent/executions/exec-t", httpx.Response(200, json={"status": "running"}))
    clock = iter(range(0, 1000, 10))  # every look at the clock: 10 s later
    monkeypatch.setattr(time, "monotonic", lambda: float(next(clock)))
    with pytest.raises(VlmRunTimeoutError, match="exec-t still running after 30 s"):
        client.execute("x/y", timeout=30)


def test_an_execution_response_without_a_valid_id_is_a_server_error(client, api):
    api.on("/v1/agent/execute", httpx.Response(200, json={"id": "../../etc", "status": "ok"}))
    with pytest.raises(ServerError, match="no valid id"):
        client.execute("x/y")


# -- streaming -------------------------------------------------------------------------------------


def _sse(*events: dict | str) -> str:
    return "".join(f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events)


def test_sse_chunks_assemble_into_one_completion(client, api):
    stream = _sse(
        {"id": "c-s", "model": "m", "session_id": "sess-sse", "choices": [{"delta": {}}]},
        {"choices": [{"delta": {"content": '{"image": {"id": '}}]},
        "not json at all",
        {"choices": [{"delta": {"content": '"img_sse001"}, "note": "x"}'}}]},
        {"choices": [{"delta": {}, "finish_reason": "stop"}], "usage": {"total_tokens": 3}},
        "[DONE]",
        {"choices": [{"delta": {"content": "after done: ignored"}}]},
    )
    api.on(
        "/v1/openai/chat/completions",
        httpx.Response(
            200, text=": comment\n" + stream, headers={"content-type": "text/event-stream"}
        ),
    )
    pieces: list[str] = []
    out = client.complete("x", schema=Blurred, stream=True, on_chunk=pieces.append)
    assert pieces == ['{"image": {"id": ', '"img_sse001"}, "note": "x"}']
    assert out.text == "".join(pieces) and out.session_id == "sess-sse"
    assert out.result.image.session_id == "sess-sse"
    assert out.raw["choices"][0]["finish_reason"] == "stop" and out.usage == {"total_tokens": 3}
    assert out.id == "c-s" and len(api.requests) == 1


class _Broken(httpx.SyncByteStream):
    """A body that sends `before` and then loses the connection."""

    def __init__(self, before: bytes) -> None:
        self.before = before

    def __iter__(self) -> Iterator[bytes]:
        if self.before:
            yield self.before
        raise httpx.ReadError("connection reset")


def test_a_stream_dropped_before_any_text_is_retried(client, api):
    api.on(
        "/v1/openai/chat/completions",
        httpx.Response(200, stream=_Broken(b"")),
        httpx.Response(200, text=_sse({"choices": [{"delta": {"content": "hi"}}]}, "[DONE]")),
    )
    assert client.complete("x", stream=True).text == "hi"
    assert len(api.requests) == 2


def test_a_stream_dropped_after_text_was_shown_is_not_repeated(client, api):
    first = _sse({"choices": [{"delta": {"content": "par"}}]}).encode()
    api.on("/v1/openai/chat/completions", httpx.Response(200, stream=_Broken(first)))
    shown: list[str] = []
    with pytest.raises(NetworkError):
        client.complete("x", stream=True, on_chunk=shown.append)
    assert shown == ["par"] and len(api.requests) == 1


def test_the_sse_assembler_on_its_own():
    sse = _protocol.SseAssembler()
    assert sse.feed("event: ping") is None and not sse.started
    assert sse.feed('data: {"choices": [{"delta": {"content": "a"}}, {"delta": {"content": "b"}}]}')
    assert sse.started and sse.feed("data: [DONE]") is None and sse.done
    assert sse.result()["choices"][0]["message"] == {"role": "assistant", "content": "ab"}


# -- error mapping and retries -----------------------------------------------------------------------

ART = "/v1/artifacts"


def _ref(oid: str = "img_err001", sid: str = "sess-e") -> refs.BaseRef:
    return refs.make_ref(oid).bind(session_id=sid)


@pytest.mark.parametrize(
    "status,detail,error",
    [
        (401, "invalid API key", AuthenticationError),
        (403, "forbidden", AuthenticationError),
        (404, "artifact not found", NotFoundError),
        (404, "session expired (artifacts live 24 hours)", ExpiredError),
        (400, "bad request", RequestError),
        (422, "unsupported prompt: try blur", RequestError),
    ],
)
def test_final_errors_map_to_the_tree_and_are_sent_once(client, api, status, detail, error):
    api.on(ART, httpx.Response(status, json={"detail": detail}))
    with pytest.raises(error) as info:
        client.fetch(_ref())
    assert type(info.value) is error
    assert info.value.status == status and detail in str(info.value)
    assert f"HTTP {status}" in str(info.value)
    assert len(api.requests) == 1
    assert not list(client.cache.root.rglob("*.jpg"))


def test_a_422_with_structured_detail_keeps_it_readable(client, api):
    detail = [{"loc": ["body", "messages"], "msg": "field required"}]
    api.on("/v1/openai/chat/completions", httpx.Response(422, json={"detail": detail}))
    with pytest.raises(RequestError, match="field required") as info:
        client.complete("x")
    assert info.value.status == 422 and len(api.requests) == 1


def test_429_honours_retry_after_then_succeeds(client, api, sleeps):
    png = _png()
    api.on(
        ART,
        httpx.Response(429, headers={"Retry-After": "2"}, json={"detail": "slow down"}),
        httpx.Response(200, content=png, headers={"content-type": "image/png"}),
    )
    path = client.fetch(_ref())
    assert path.name == "img_err001.png" and path.read_bytes() == png
    assert len(api.requests) == 2 and sleeps == [2.0]


def test_retry_after_is_capped_and_reported(client, api, sleeps):
    api.on(ART, httpx.Response(429, headers={"Retry-After": "120"}, json={"detail": "later"}))
    with pytest.raises(RateLimitError) as info:
        client.fetch(_ref())
    assert info.value.retry_after == 120 and info.value.status == 429
    assert len(api.requests) == 3 and sleeps == [5.0, 5.0]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried_a_bounded_number_of_times(client, api, sleeps, status):
    api.on(ART, httpx.Response(status, text="upstream exploded"))
    with pytest.raises(ServerError) as info:
        client.fetch(_ref())
    assert info.value.status == status and "upstream exploded" in str(info.value)
    assert len(api.requests) == 1 + client.max_retries == 3
    assert len(sleeps) == 2 and all(0 < s <= 8.0 for s in sleeps)


def test_a_5xx_then_success_returns_the_answer(client, api):
    api.on(
        "/v1/openai/chat/completions",
        httpx.Response(503, json={"detail": "busy"}),
        httpx.Response(200, json=_completion("plain words")),
    )
    assert client.complete("x").result == "plain words"
    assert len(api.requests) == 2


def test_no_retries_means_one_attempt(api, tmp_path, sleeps):
    with Client(
        api_key=KEY, base_url=BASE, cache_dir=tmp_path, max_retries=0,
        transport=httpx.MockTransport(api.on(ART, httpx.Response(500))),
    ) as c:  # fmt: skip
        with pytest.raises(ServerError):
            c.fetch(_ref())
    assert len(api.requests) == 1 and sleeps == []


def test_a_completion_answered_200_with_invalid_json_is_not_sent_again(client, api):
    # The server did (paid) work: repeating the POST would do it again.
    api.on("/v1/openai/chat/completions", httpx.Response(200, text="<html>oops</html>"))
    with pytest.raises(ServerError, match="invalid JSON"):
        client.complete("x")
    assert len(api.requests) == 1


def test_a_get_answered_with_invalid_json_is_retried_a_bounded_number_of_times(client, api):
    api.on("/v1/artifacts/list", httpx.Response(200, text="<html>oops</html>"))
    with pytest.raises(ServerError, match="invalid JSON"):
        client.artifacts(session_id="sess-j")
    assert len(api.requests) == 3


def test_a_completion_without_choices_is_a_server_error(client, api):
    api.on("/v1/openai/chat/completions", httpx.Response(200, json={"id": "c", "choices": []}))
    with pytest.raises(ServerError, match=r"no choices\[0\]\.message"):
        client.complete("x")
    assert len(api.requests) == 1


def test_dropped_connections_are_retried_timeouts_are_not(client, api):
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused (Authorization: Bearer {KEY})", request=request)

    api.on(ART, drop)
    with pytest.raises(NetworkError, match="could not talk to api.test") as info:
        client.fetch(_ref())
    assert len(api.requests) == 3
    _secret_free(info.value)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("too slow", request=request)

    api.requests.clear()
    api.on(ART, slow)
    with pytest.raises(VlmRunTimeoutError, match="timed out"):
        client.fetch(_ref())
    assert len(api.requests) == 1


def test_a_truncated_download_is_retried_and_never_cached(client, api):
    png = _png()
    short = httpx.Response(
        200,
        content=png[:20],
        headers={"content-type": "image/png", "content-length": str(len(png))},
    )
    api.on(ART, short, httpx.Response(200, content=png, headers={"content-type": "image/png"}))
    assert client.fetch(_ref()).read_bytes() == png
    assert len(api.requests) == 2
    files = sorted(p.name for p in client.cache.root.rglob("*") if p.is_file())
    assert files == [".records", "img_err001.png"]  # the folder's integrity journal
    journal = client.cache.root.joinpath(_ref().namespace.id, ".records").read_text()
    assert journal.split()[:2] == ["img_err001.png", str(len(png))]  # one line: the whole file


def test_a_wrong_content_type_is_refused(client, api):
    api.on(ART, httpx.Response(200, content=b"<html>", headers={"content-type": "text/html"}))
    with pytest.raises(IntegrityError, match="text/html"):
        client.fetch(_ref())
    assert len(api.requests) == 1


def test_the_key_never_appears_in_error_text(client, api):
    echo = {"detail": f"bad key {KEY} (Authorization: Bearer {KEY})"}
    for status in (401, 404, 422, 500):
        api.requests.clear()
        api.on(ART, httpx.Response(status, json=echo))
        with pytest.raises(VlmRunError) as info:
            client.fetch(_ref())
        assert "bad key ***" in str(info.value)
        _secret_free(info.value)
    assert KEY not in repr(client) and KEY not in json.dumps(client.build_request("x"))


def test_without_a_key_nothing_is_sent(api, tmp_path, monkeypatch):
    monkeypatch.delenv("VLMRUN_API_KEY", raising=False)
    with Client(base_url=BASE, cache_dir=tmp_path, transport=httpx.MockTransport(api)) as c:
        assert c.build_request("x")["messages"]  # a dry run needs no key
        with pytest.raises(ConfigurationError, match="no API key"):
            c.complete("x")
    assert api.requests == []


# -- artifacts: redirects and url_ targets never carry the key ---------------------------------------


def test_an_artifact_redirect_is_followed_without_the_key(client, api):
    pdf = b"%PDF-1.4 stored"
    api.on(ART, httpx.Response(302, headers={"location": "https://store.test/b/one"}))
    api.on("/b/one", httpx.Response(301, headers={"location": "/b/two"}), host="store.test")
    api.on(
        "/b/two",
        httpx.Response(200, content=pdf, headers={"content-type": "application/pdf"}),
        host="store.test",
    )
    ref = _ref(oid="doc_redir2", sid="s-redir")
    path = client.fetch(ref)
    assert path.name == "doc_redir2.pdf" and path.read_bytes() == pdf
    (first,) = api.hits(ART)
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert dict(first.url.params) == {"object_id": "doc_redir2", "session_id": "s-redir"}
    stored = api.hits("/b/one", "store.test") + api.hits("/b/two", "store.test")
    assert len(stored) == 2
    assert all("authorization" not in r.headers for r in stored)
    assert all(KEY not in str(r.headers) + str(r.url) for r in stored)


def test_a_redirect_to_another_scheme_is_refused(client, api):
    api.on(ART, httpx.Response(302, headers={"location": "file:///etc/passwd"}))
    with pytest.raises(IntegrityError, match="non-http"):
        client.fetch(_ref(oid="doc_redir3"))
    assert len(api.requests) == 1


def test_a_url_artifact_is_downloaded_without_the_key(client, api):
    target = "https://cdn.test/files/photo.png?sig=1"
    api.on(ART, httpx.Response(200, text=target + "\n"))
    api.on(
        "/files/photo.png",
        httpx.Response(200, content=_png(), headers={"content-type": "image/png"}),
        host="cdn.test",
    )
    ref = _ref(oid="url_link01", sid="s-url")
    path = client.fetch(ref)
    assert path.name == "url_link01.photo.png.png" and path.read_bytes() == _png()
    (cdn,) = api.hits("/files/photo.png", "cdn.test")
    assert "authorization" not in cdn.headers and cdn.url.params["sig"] == "1"
    api.requests.clear()
    assert client.fetch(ref) == path and api.requests == []  # the sidecar remembers the target


@pytest.mark.parametrize("body", ["file:///etc/passwd", "javascript:alert(1)", "not a url", ""])
def test_a_url_artifact_that_is_not_http_is_refused(client, api, body):
    api.on(ART, httpx.Response(200, text=body))
    with pytest.raises(IntegrityError, match="not an http"):
        client.fetch(_ref(oid="url_link02"))
    assert len(api.requests) == 1  # nothing fetched from anywhere else


def test_a_url_artifact_body_is_size_capped(client, api):
    api.on(ART, httpx.Response(200, text="https://cdn.test/" + "a" * 70_000))
    with pytest.raises(IntegrityError, match="too large"):
        client.fetch(_ref(oid="url_link03"))


def test_artifacts_list_binds_the_refs_and_skips_plain_files(client, api):
    items = [
        {"object_id": "img_list01", "filename": "a.jpg"},
        {"object_id": "file-xyz", "filename": "input.png"},
        {"object_id": "doc_list02", "filename": "b.pdf"},
    ]
    api.on("/v1/artifacts/list", httpx.Response(200, json={"namespace_id": "s", "items": items}))
    listed = client.artifacts(execution_id="exec-l")
    assert [(type(r), r.id, r.execution_id) for r in listed] == [
        (refs.ImageRef, "img_list01", "exec-l"),
        (refs.DocumentRef, "doc_list02", "exec-l"),
    ]
    assert dict(api.requests[0].url.params) == {"execution_id": "exec-l"}


# -- uploads -----------------------------------------------------------------------------------------


def test_a_large_input_is_uploaded_and_sent_as_a_file_id(client, api, tmp_path):
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-1.4\n" + b"x" * (5 * 1024 * 1024))
    api.on("/v1/files", httpx.Response(200, json={"id": "file-up1", "filename": "big.pdf"}))
    api.on("/v1/openai/chat/completions", httpx.Response(200, json=_completion("ok")))
    client.complete("read", inputs=[big])
    (upload,) = api.hits("/v1/files")
    assert upload.url.params["purpose"] == "assistants"
    assert upload.headers["content-type"].startswith("multipart/form-data")
    assert b'filename="big.pdf"' in upload.content and len(upload.content) > 5 * 1024 * 1024
    (sent,) = api.hits("/v1/openai/chat/completions")
    assert _body(sent)["messages"][0]["content"][1] == {"type": "input_file", "file_id": "file-up1"}


def test_an_upload_answer_without_an_id_is_a_server_error(client, api):
    api.on("/v1/files", httpx.Response(200, json={"filename": "x"}))
    with pytest.raises(ServerError, match="no file id"):
        client.upload(b"bytes")


# -- pure parsers ------------------------------------------------------------------------------------


def test_retry_after_reads_seconds_and_http_dates():
    assert _protocol.retry_after("3") == 3.0
    assert _protocol.retry_after("-4") == 0.0
    assert _protocol.retry_after(None) is None and _protocol.retry_after("soon") is None
    now = 1_700_000_000.0
    later = format_datetime(datetime.fromtimestamp(now + 30, tz=timezone.utc), usegmt=True)
    assert _protocol.retry_after(later, now=now) == pytest.approx(30.0)


def test_error_bodies_that_are_not_json_still_make_a_message():
    err = _protocol.error_for(502, b"<h1>Bad gateway</h1>", what="GET artifacts")
    assert isinstance(err, ServerError) and "Bad gateway" in str(err) and err.status == 502
    empty = _protocol.error_for(404, b"", what="GET artifacts")
    assert isinstance(empty, NotFoundError) and str(empty).startswith("GET artifacts -> HTTP 404.")
    assert not _protocol.is_retryable(404) and _protocol.is_retryable(429)


def test_a_data_url_part_holds_the_image_bytes(client):
    raw = _png()
    part = client.build_request(None, inputs=[raw])["messages"][0]["content"][0]
    assert part["type"] == "image_url" and part["image_url"]["detail"] == "auto"
    assert base64.b64decode(part["image_url"]["url"].split(",", 1)[1]) == raw
