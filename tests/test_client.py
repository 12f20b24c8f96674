"""The client: request building (no server), then everything over real HTTP against the
LocalServer, including every injected fault."""

from __future__ import annotations

import base64
import gc
import io
import json
import logging
import re
import subprocess
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
from peak_rss import probe_env
from PIL import Image
from pydantic import BaseModel

from vlmrun_jupyter import refs
from vlmrun_jupyter import session as session_mod
from vlmrun_jupyter.client import Client, Completion
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
    UnboundRefError,
    VlmRunError,
    VlmRunTimeoutError,
)

KEY = "sk-test-very-secret-key-123"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture()
def offline(tmp_path):
    c = Client(api_key=KEY, base_url="http://127.0.0.1:9/v1", cache_dir=tmp_path / "cache")
    yield c
    c.close()


def _parts(body):
    return body["messages"][-1]["content"]


def _decode(url: str) -> bytes:
    return base64.b64decode(url.split(",", 1)[1])


# -- building requests (no server) ---------------------------------------------------------


def test_inputs_become_the_right_content_parts(offline, tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    (tmp_path / "song.mp3").write_bytes(b"ID3\x03")
    (tmp_path / "paper.pdf").write_bytes(b"%PDF-1.4")
    body = offline.build_request(
        "describe",
        inputs=[
            Image.new("RGBA", (5, 4)),
            np.zeros((6, 7, 3), np.uint8),
            tmp_path / "clip.mp4",
            str(tmp_path / "song.mp3"),
            tmp_path / "paper.pdf",
            "https://example.com/a.png?x=1",
            b"\xff\xd8\xff\xe0jpeg",
        ],
    )
    parts = _parts(body)
    assert parts[0] == {"type": "text", "text": "describe"}
    assert [p["type"] for p in parts[1:]] == [
        "image_url",
        "image_url",
        "video_url",
        "audio_url",
        "file_url",
        "image_url",
        "image_url",
    ]
    assert Image.open(io.BytesIO(_decode(parts[1]["image_url"]["url"]))).size == (5, 4)
    assert Image.open(io.BytesIO(_decode(parts[2]["image_url"]["url"]))).size == (7, 6)
    assert parts[3]["video_url"]["url"].startswith("data:video/mp4;base64,")
    assert parts[5]["file_url"]["url"].startswith("data:application/pdf;base64,")
    assert parts[6]["image_url"]["url"] == "https://example.com/a.png?x=1"
    assert parts[7]["image_url"]["url"].startswith("data:image/jpeg;base64,")


def test_large_inputs_and_non_image_arrays_are_uploaded_not_inlined(offline, tmp_path):
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * (5 * 1024 * 1024))
    body = offline.build_request("x", inputs=[big, np.zeros((4, 4), np.float32)])
    parts = _parts(body)
    assert parts[1] == {"type": "input_file", "file_id": "<to upload: big.mp4, 5.0 MB>"}
    assert parts[2]["type"] == "input_file" and "array.npy" in parts[2]["file_id"]
    assert len(json.dumps(body)) < 10_000


def test_a_ref_from_a_session_continues_that_session(offline):
    ref = refs.ImageRef(id="img_cont01").bind(session_id="sess-cont")
    body = offline.build_request("blur it", inputs=[ref])
    assert body["session_id"] == "sess-cont"
    assert "img_cont01" in _parts(body)[1]["text"]


def test_schema_goes_out_as_json_schema_response_format(offline):
    class Out(BaseModel):
        image: refs.ImageRef

    body = offline.build_request("x", schema=Out, session_id="s1", extra={"toolsets": ["image"]})
    assert body["response_format"] == {"type": "json_schema", "schema": Out.model_json_schema()}
    assert body["session_id"] == "s1" and body["toolsets"] == ["image"]
    assert body["model"] == "vlmrun-orion-1:auto"
    as_dict = offline.build_request("x", schema={"type": "object"})
    assert as_dict["response_format"]["schema"] == {"type": "object"}
    with pytest.raises(RequestError):
        offline.build_request("x", schema=42)


def test_bad_inputs_are_clear_errors(offline, tmp_path):
    with pytest.raises(RequestError, match="not an existing file"):
        offline.build_request("x", inputs=[str(tmp_path / "no-such-file.png")])
    with pytest.raises(RequestError, match="cannot send an input of type object"):
        offline.build_request("x", inputs=[object()])


def test_the_key_never_shows(offline):
    assert KEY not in repr(offline) and "127.0.0.1:9" in repr(offline)
    assert KEY not in json.dumps(offline.build_request("x"))
    assert KEY not in repr(offline.settings)


def test_default_client_without_a_key_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.delenv("VLMRUN_API_KEY", raising=False)
    session_mod.set_default_client(None)
    with pytest.raises(ConfigurationError) as info:
        session_mod.default_client()
    assert "VLMRUN_API_KEY" in str(info.value) and "%vlmrun local start" in str(info.value)
    mine = Client(api_key=KEY, base_url="http://127.0.0.1:9/v1", cache_dir=tmp_path)
    session_mod.set_default_client(mine)
    try:
        assert session_mod.default_client() is mine
    finally:
        session_mod.set_default_client(None)
        mine.close()


def test_completion_repr_and_bundle_never_raise():
    c = Completion(
        id="c1", model="m", session_id="s", text="{}", result={}, usage=None, latency_s=0.1
    )
    bundle = c._repr_mimebundle_()
    assert "text/plain" in bundle and "Completion" in repr(c)


# -- against the live LocalServer -----------------------------------------------------------

ART = "/v1/artifacts"


def _jpeg(seed: int = 0, side: int = 64) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _pdf() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(buf, "PDF")
    return buf.getvalue()


def _cache_files(client: Client) -> list[Path]:
    return sorted(p for p in client.cache.root.rglob("*") if p.is_file())


@pytest.fixture()
def fast_client(live_server, tmp_path):
    """A client with a tiny backoff and a short timeout, so fault tests run quickly."""
    c = Client(
        api_key=live_server.api_key,
        base_url=live_server.base_url,
        cache_dir=tmp_path / "cache",
        timeout=2.0,
        max_retries=2,
        backoff_base=0.01,
        retry_after_max=5.0,
    )
    yield c
    c.close()


@pytest.fixture()
def image_ref(live_server):
    data = _jpeg(1)
    sid, oid = live_server.add_artifact("img", data, content_type="image/jpeg")
    return refs.ImageRef(id=oid).bind(session_id=sid), data


def _assert_secret_free(server, exc: BaseException | None = None, logs: str = "") -> None:
    key = server.api_key
    assert key not in logs
    if exc is not None:
        text = (
            "".join(traceback.format_exception(exc)) + repr(exc) + str(getattr(exc, "detail", ""))
        )
        assert key not in text


def test_fetch_streams_into_the_sdk_layout_and_load_returns_sdk_types(fast_client, image_ref):
    ref, data = image_ref
    path = fast_client.fetch(ref)
    assert path == fast_client.cache.root / ref.session_id / f"{ref.id}.jpg"
    assert path.read_bytes() == data
    img = ref.load(fast_client)
    assert isinstance(img, Image.Image) and img.size == (64, 64)
    out = ref.save(fast_client.cache.cache_dir.parent / "copy.jpg", fast_client)
    assert out.read_bytes() == data


def test_a_cached_artifact_is_served_without_any_request(fast_client, image_ref, live_server):
    ref, _ = image_ref
    first = fast_client.fetch(ref)
    live_server.reset_requests()
    assert fast_client.fetch(ref) == first
    with Client(
        api_key=live_server.api_key,
        base_url=live_server.base_url,
        cache_dir=fast_client.cache.cache_dir,
    ) as other:
        assert other.fetch(ref) == first
    assert live_server.count(ART) == 0


def test_an_unbound_ref_parsed_from_text_finds_its_session(fast_client, image_ref):
    ref, data = image_ref
    fast_client.fetch(ref)  # the client has now seen the id

    class Out(BaseModel):
        image: refs.ImageRef

    parsed = Out.model_validate_json(json.dumps({"image": {"id": ref.id}}))
    assert parsed.image.fetch(fast_client).read_bytes() == data
    stranger = refs.ImageRef(id="img_zzzzzz")
    with pytest.raises(UnboundRefError, match="img_zzzzzz is not bound"):
        fast_client.fetch(stranger)


def test_429_with_retry_after_is_honoured_then_succeeds(fast_client, image_ref, live_server):
    ref, data = image_ref
    live_server.inject("status", status=429, retry_after=1, times=1, path=ART)
    t0 = time.monotonic()
    assert fast_client.fetch(ref).read_bytes() == data
    assert time.monotonic() - t0 >= 0.9
    assert live_server.count(ART, object_id=ref.id) == 2


def test_retry_after_is_capped(live_server, image_ref, tmp_path):
    ref, _ = image_ref
    live_server.inject("status", status=429, retry_after=120, times=None, path=ART)
    with Client(
        api_key=live_server.api_key,
        base_url=live_server.base_url,
        cache_dir=tmp_path,
        max_retries=1,
        retry_after_max=0.1,
    ) as c:
        with pytest.raises(RateLimitError) as info:
            c.fetch(ref)
    # retried after the cap (0.1 s), not after the 120 s the server asked for
    arrived = [r.time for r in live_server.requests if r.path.endswith("/artifacts")]
    assert len(arrived) == 2 and arrived[1] - arrived[0] < 60
    assert info.value.status == 429 and info.value.retry_after == 120
    assert live_server.count(ART, object_id=ref.id) == 2


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_retries_stop_at_the_bound_then_a_clean_request_succeeds(
    fast_client, image_ref, live_server, status
):
    ref, data = image_ref
    live_server.inject("status", status=status, times=None, path=ART)
    with pytest.raises(ServerError) as info:
        fast_client.fetch(ref)
    assert info.value.status == status and f"HTTP {status}" in str(info.value)
    assert live_server.count(ART, object_id=ref.id) == 1 + fast_client.max_retries
    assert _cache_files(fast_client) == []
    _assert_secret_free(live_server, info.value)
    live_server.clear_faults()
    assert fast_client.fetch(ref).read_bytes() == data


def test_a_truncated_body_is_retried_and_never_cached(fast_client, image_ref, live_server):
    ref, data = image_ref
    live_server.inject("truncate", fraction=0.5, times=None, path=ART)
    with pytest.raises(IntegrityError, match="nothing was cached") as info:
        fast_client.fetch(ref)
    assert live_server.count(ART, object_id=ref.id) == 1 + fast_client.max_retries
    assert [p for p in _cache_files(fast_client) if ref.id in p.name] == []
    assert not list(fast_client.cache.root.rglob(".tmp-*"))
    _assert_secret_free(live_server, info.value)
    live_server.clear_faults()
    live_server.inject("truncate", fraction=0.3, times=1, path=ART)
    assert fast_client.fetch(ref).read_bytes() == data  # one bad try, then a good one


def test_a_wrong_content_type_is_refused_and_not_cached(fast_client, live_server):
    sid, oid = live_server.add_artifact("doc", _pdf(), content_type="application/pdf")
    ref = refs.DocumentRef(id=oid).bind(session_id=sid)
    live_server.inject("content_type", value="text/html", times=1, path=ART)
    with pytest.raises(IntegrityError, match="text/html"):
        fast_client.fetch(ref)
    assert live_server.count(ART, object_id=oid) == 1  # not worth retrying
    assert _cache_files(fast_client) == []
    assert fast_client.fetch(ref).read_bytes().startswith(b"%PDF")


def test_a_dropped_connection_is_retried(fast_client, image_ref, live_server):
    ref, data = image_ref
    live_server.inject("drop", times=1, path=ART)
    assert fast_client.fetch(ref).read_bytes() == data
    # exactly two attempts: the dropped one (recorded before parsing, so without a query)
    dropped = [r for r in live_server.requests if r.path == ART and r.fault == "drop"]
    assert len(dropped) == 1 and live_server.count(ART, object_id=ref.id) == 1
    live_server.inject("drop", times=None, path=ART)
    with pytest.raises(NetworkError) as info:
        fast_client.fetch(refs.ImageRef(id="img_drop01").bind(session_id=ref.session_id))
    _assert_secret_free(live_server, info.value)


def test_a_slow_body_past_the_timeout_is_a_timeout_and_leaves_nothing(live_server, tmp_path):
    sid, oid = live_server.add_artifact("img", _jpeg(2, side=600), content_type="image/jpeg")
    ref = refs.ImageRef(id=oid).bind(session_id=sid)
    live_server.inject("slow_body", seconds=1.0, times=1, path=ART)
    with Client(
        api_key=live_server.api_key, base_url=live_server.base_url, cache_dir=tmp_path, timeout=0.3
    ) as c:
        with pytest.raises(VlmRunTimeoutError) as info:
            c.fetch(ref)
        assert "timed out" in str(info.value) or "stalled" in str(info.value)
        assert not [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]
        assert c.fetch(ref).stat().st_size > 0


def test_an_expired_session_says_so(fast_client, live_server):
    sid, oid = live_server.add_artifact("img", _jpeg(3), content_type="image/jpeg")
    live_server.expire(sid)
    with pytest.raises(ExpiredError) as info:
        fast_client.fetch(refs.ImageRef(id=oid).bind(session_id=sid))
    assert info.value.status == 404 and "expire" in str(info.value).lower()
    with pytest.raises(NotFoundError) as missing:
        fast_client.fetch(refs.ImageRef(id="img_nope00").bind(session_id=sid + "x"))
    assert not isinstance(missing.value, ExpiredError)


def test_a_bad_key_is_an_authentication_error_without_the_key(
    live_server, image_ref, tmp_path, caplog
):
    ref, _ = image_ref
    wrong = "sk-wrong-key-that-must-not-leak-999"
    caplog.set_level(logging.DEBUG)
    with Client(api_key=wrong, base_url=live_server.base_url, cache_dir=tmp_path) as c:
        with pytest.raises(AuthenticationError) as info:
            c.fetch(ref)
        assert wrong not in repr(c)
    text = "".join(traceback.format_exception(info.value)) + caplog.text
    assert info.value.status == 401 and wrong not in text
    assert live_server.count(ART, object_id=ref.id) == 1  # a 401 is not retried


def test_no_key_in_logs_or_errors_across_faults(fast_client, image_ref, live_server, caplog):
    ref, _ = image_ref
    caplog.set_level(logging.DEBUG)
    for fault, params in [
        ("status", {"status": 500}),
        ("drop", {}),
        ("truncate", {"fraction": 0.5}),
    ]:
        live_server.inject(fault, times=None, path=ART, **params)
        with pytest.raises(VlmRunError) as info:
            fast_client.fetch(ref)
        _assert_secret_free(live_server, info.value, caplog.text)
        live_server.clear_faults()


def test_fetch_all_is_concurrent_ordered_and_can_return_exceptions(fast_client, live_server):
    sid = None
    made = []
    for i in range(6):
        sid, oid = live_server.add_artifact(
            "img", _jpeg(10 + i), session_id=sid, content_type="image/jpeg"
        )
        made.append(refs.ImageRef(id=oid).bind(session_id=sid))
    live_server.inject("latency", seconds=1.0, times=None, path=ART)
    paths = fast_client.fetch_all(made, max_workers=6)
    # concurrent: the server held the first request for 1 s, and all six had arrived
    # before it let go (in a row, each would arrive after the previous one's second)
    arrived = sorted(r.time for r in live_server.requests if r.path.endswith("/artifacts"))
    assert len(arrived) == 6 and arrived[-1] - arrived[0] < 1.0
    assert [p.name for p in paths] == [f"{r.id}.jpg" for r in made]
    live_server.clear_faults()
    missing = refs.ImageRef(id="img_miss00").bind(session_id=sid)
    out = fast_client.fetch_all([made[0], missing], return_exceptions=True)
    assert out[0] == paths[0] and isinstance(out[1], NotFoundError)
    with pytest.raises(NotFoundError):
        fast_client.fetch_all([missing])


def test_artifacts_lists_bound_refs(fast_client, live_server):
    sid, a = live_server.add_artifact("img", _jpeg(4), content_type="image/jpeg")
    _, b = live_server.add_artifact("doc", _pdf(), session_id=sid, content_type="application/pdf")
    listed = fast_client.artifacts(session_id=sid)
    assert {r.id for r in listed} == {a, b}
    assert all(r.session_id == sid for r in listed)
    assert {type(r) for r in listed} == {refs.ImageRef, refs.DocumentRef}


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_GET(self):  # noqa: N802
        type(self).seen.append(dict(self.headers))
        body = b"%PDF-1.4 target"
        self.send_response(200)
        self.send_header("Content-Type", "application/pdf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_url_refs_download_their_target_without_our_key(fast_client, live_server):
    other = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{other.server_address[1]}/files/report.pdf?sig=abc"
        sid, oid = live_server.add_artifact("url", url.encode(), content_type="text/plain")
        ref = refs.UrlRef(id=oid).bind(session_id=sid)
        path = fast_client.fetch(ref)
        assert path.name.endswith(".report.pdf.pdf") and path.read_bytes() == b"%PDF-1.4 target"
        assert _Recorder.seen and all("Authorization" not in h for h in _Recorder.seen)
        assert all(live_server.api_key not in json.dumps(h) for h in _Recorder.seen)
        live_server.reset_requests()
        assert fast_client.fetch(ref) == path and live_server.count(ART) == 0
    finally:
        other.shutdown()
    sid, oid = live_server.add_artifact("url", b"file:///etc/passwd", content_type="text/plain")
    with pytest.raises(IntegrityError, match="not an http"):
        fast_client.fetch(refs.UrlRef(id=oid).bind(session_id=sid))


CONCURRENT = r"""
import json, sys
from vlmrun_jupyter import Client, ImageRef
args = json.loads(sys.argv[1])
with Client(api_key=args["key"], base_url=args["base"], cache_dir=args["cache"]) as c:
    refs = [ImageRef(id=i).bind(session_id=args["sid"]) for i in args["ids"]]
    paths = c.fetch_all(refs * 2, max_workers=16)
print(json.dumps([str(p) for p in paths]))
"""


def test_threads_and_processes_download_each_artifact_once(live_server, tmp_path):
    sid = None
    ids, blobs = [], {}
    for i in range(20):
        data = _jpeg(100 + i, side=96)
        sid, oid = live_server.add_artifact("img", data, session_id=sid, content_type="image/jpeg")
        ids.append(oid)
        blobs[oid] = data
    live_server.inject("latency", seconds=0.05, times=None, path=ART)
    args = json.dumps(
        {
            "key": live_server.api_key,
            "base": live_server.base_url,
            "cache": str(tmp_path),
            "ids": ids,
            "sid": sid,
        }
    )
    env = probe_env(REPO)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT, args], stdout=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    outs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0] == outs[1]
    for oid in ids:
        assert live_server.count(ART, object_id=oid) == 1, oid
        assert (tmp_path / "artifacts" / sid / f"{oid}.jpg").read_bytes() == blobs[oid]
    assert not list(tmp_path.rglob(".tmp-*"))


SMALL_ANSWERS = r"""
import json, sys, tracemalloc
from vlmrun_jupyter import Client
args = json.loads(sys.argv[1])
with Client(api_key=args["key"], base_url=args["base"], cache_dir=args["cache"]) as c:
    for _ in range(3):  # the pool, the imports
        c.complete("Make the image grayscale", inputs=[args["image"]])
    tracemalloc.start()
    peaks = []
    for _ in range(10):
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        c.complete("Make the image grayscale", inputs=[args["image"]])
        peaks.append(tracemalloc.get_traced_memory()[1] - before)
print(json.dumps(peaks))
"""


def test_small_answers_are_read_without_64_kib_buffers(live_server, tmp_path):
    """httpcore asks the socket for 64 KiB per read, and a thread pool of such reads
    fragments the heap: a 10,000-item batch ended 6.5 MiB bigger (bench/batch.py). Our
    connections ask for what arrives (client/_reads.py), so a whole completion, request
    and answer, allocates far less than one such buffer. Measured in a process of its
    own: the server's allocations would count in this one."""
    image = tmp_path / "red.png"
    Image.new("RGB", (16, 16), "red").save(image)
    args = {
        "key": live_server.api_key,
        "base": live_server.base_url,
        "cache": str(tmp_path / "cache"),
        "image": str(image),
    }
    env = probe_env(REPO)
    out = subprocess.run(
        [sys.executable, "-c", SMALL_ANSWERS, json.dumps(args)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    peaks = json.loads(out.stdout)
    assert max(peaks) < 48 * 1024, peaks  # with 64 KiB reads: 78-81 KB every time


def test_answers_downloads_and_errors_are_freed_without_the_garbage_collector(
    client, live_server, tmp_path
):
    """httpx's response and its body stream refer to each other; a closed response left
    so waits, with its request and buffers, for the cyclic collector, and a batch had
    hundreds waiting at a time. Every way a response ends in the client lets it go."""
    image = tmp_path / "in.png"
    Image.new("RGB", (16, 16), "red").save(image)

    def work(i: int) -> None:
        client.complete("Make the image grayscale", inputs=[image])
        client.complete("Make the image grayscale", inputs=[image], stream=True)
        sid, oid = live_server.add_artifact("img", _jpeg(i), content_type="image/jpeg")
        assert client.fetch(refs.ImageRef(id=oid).bind(session_id=sid)).read_bytes()
        client.upload(image)
        with pytest.raises(RequestError):
            client.complete("qqq zzz nothing the server supports")

    work(1)  # imports, the pool
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for i in range(3):
            work(2 + i)
        gc.collect()
        left = [type(o) for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    ours = [t.__qualname__ for t in left if t.__module__.startswith(("httpx", "httpcore"))]
    assert not ours, sorted(set(ours))


def test_a_failed_execution_is_final_and_raises_the_server_message(fast_client, live_server):
    seen = []
    with pytest.raises(ExecutionFailedError) as info:
        fast_client.execute(
            "x/unknown-agent",
            prompt="qqq zzz nothing the server supports",
            timeout=30,
            poll_interval=0.05,
            on_status=lambda status, elapsed: seen.append(status),
        )
    assert "failed" in str(info.value) and "x/unknown-agent" in str(info.value)
    assert seen[-1] == "failed"
    polls = live_server.count("/v1/agent/executions/" + info.value.detail["id"])
    assert polls == len(seen) - 1  # one status report per poll, plus the final one
    assert live_server.count("/v1/agent/execute") == 1


def test_upload_streams_a_file_and_returns_its_id(fast_client, live_server, tmp_path):
    big = tmp_path / "clip.mp4"
    big.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20_000)
    file_id = fast_client.upload(big)
    info = fast_client._json("GET", f"files/{file_id}")
    assert info["id"] == file_id and info["filename"] == "clip.mp4"
    assert info["bytes"] == big.stat().st_size
    assert fast_client.upload(b"%PDF-1.4 tiny", filename="t.pdf") != file_id
    live_server.inject("status", status=503, times=1, path="/v1/files")
    assert fast_client.upload(big)  # retried, the file re-opened for the second try
    assert live_server.count("/v1/files") == 4
    with pytest.raises(RequestError, match="no such file"):
        fast_client.upload(tmp_path / "missing.bin")


class Gray(BaseModel):
    image: refs.ImageRef


def _photo() -> Image.Image:
    rng = np.random.default_rng(7)
    return Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))


def test_complete_with_a_schema_returns_bound_refs_that_fetch(fast_client, live_server):
    done = fast_client.complete("Convert this image to grayscale", inputs=[_photo()], schema=Gray)
    assert isinstance(done.result, Gray) and done.session_id
    assert done.result.image.session_id == done.session_id
    assert done.usage["total_tokens"] > 0 and done.latency_s > 0 and done.model
    sent = [r for r in live_server.requests if r.path == "/v1/openai/chat/completions"][-1].json
    assert sent["response_format"] == {"type": "json_schema", "schema": Gray.model_json_schema()}
    assert sent["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/png")
    img = done.result.image.load(fast_client)
    arr = np.asarray(img.convert("RGB")).astype(int)
    assert img.size == (64, 48) and np.abs(arr[..., 0] - arr[..., 1]).max() <= 2


def test_a_ref_passed_back_continues_its_session(fast_client):
    first = fast_client.complete("Convert this image to grayscale", inputs=[_photo()], schema=Gray)
    again = fast_client.complete("Blur the image", inputs=[first.result.image], schema=Gray)
    assert again.session_id == first.session_id
    assert again.result.image.id != first.result.image.id
    assert again.result.image.load(fast_client).size == (64, 48)


def test_streaming_assembles_the_same_answer(fast_client):
    chunks = []
    streamed = fast_client.complete(
        "Convert this image to grayscale",
        inputs=[_photo()],
        schema=Gray.model_json_schema(),
        stream=True,
        on_chunk=chunks.append,
    )
    assert len(chunks) > 1 and "".join(chunks) == streamed.text
    assert streamed.session_id and streamed.usage
    image = streamed.result["image"]  # a JSON-schema dict gives a dict, refs made objects
    assert isinstance(image, refs.ImageRef) and image.session_id == streamed.session_id
    assert image.fetch(fast_client).stat().st_size > 0


def test_an_unsupported_prompt_is_a_request_error_with_the_server_detail(fast_client, live_server):
    with pytest.raises(RequestError) as info:
        fast_client.complete("qqq zzz nothing the server supports")
    assert info.value.status == 422 and "grayscale" in str(info.value)
    assert live_server.count("/v1/openai/chat/completions") == 1  # a 422 is not retried


def test_execute_returns_refs_bound_to_the_execution(fast_client):
    statuses = []
    done = fast_client.execute(
        "image/grayscale",
        prompt="Convert this image to grayscale",
        inputs={"image": _photo()},
        schema=Gray,
        timeout=60,
        poll_interval=0.05,
        on_status=lambda s, t: statuses.append(s),
    )
    assert done.status == "completed" and statuses[-1] == "completed"
    assert isinstance(done.result, Gray) and done.result.image.execution_id == done.id
    assert done.result.image.load(fast_client).size == (64, 48)
    assert [r.id for r in fast_client.artifacts(execution_id=done.id)] == [done.result.image.id]


class _SlowImage(BaseHTTPRequestHandler):
    """Serves a JPEG after a delay, so an execution that reads it stays running."""

    def do_GET(self):  # noqa: N802
        time.sleep(1.5)
        body = _jpeg(5)
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_an_execution_past_its_timeout_raises_a_timeout(fast_client, live_server):
    slow = ThreadingHTTPServer(("127.0.0.1", 0), _SlowImage)
    threading.Thread(target=slow.serve_forever, daemon=True).start()
    allowed = f"http://127.0.0.1:{slow.server_address[1]}/"
    live_server.allow_input_urls.append(allowed)  # not the server's own file: allow-listed
    try:
        with pytest.raises(VlmRunTimeoutError, match="still") as info:
            fast_client.execute(
                "image/grayscale",
                prompt="Convert this image to grayscale",
                inputs={"image": f"http://127.0.0.1:{slow.server_address[1]}/photo.jpg"},
                timeout=0.4,
                poll_interval=0.1,
            )
        assert "poll it later" in str(info.value)
        # it gave up while the server was still working (the input is served after 1.5 s)
        exec_id = re.search(r"execution (\S+) still", str(info.value)).group(1)
        state = httpx.get(
            f"{live_server.base_url}/agent/executions/{exec_id}",
            headers={"Authorization": f"Bearer {live_server.api_key}"},
        ).json()
        assert state["status"] in ("pending", "running")
    finally:
        live_server.allow_input_urls.remove(allowed)
        slow.shutdown()


def test_an_artifact_redirect_is_followed_without_our_key(tmp_path):
    """Real deployments may redirect artifact downloads to object storage: the key must
    not follow. The storage host here records the headers it receives."""
    storage = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=storage.serve_forever, daemon=True).start()
    _Recorder.seen = []
    storage_url = f"http://127.0.0.1:{storage.server_address[1]}/bucket/doc.pdf"

    class Api(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            assert self.headers.get("Authorization") == f"Bearer {KEY}"
            self.send_response(302)
            self.send_header("Location", storage_url)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    api = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{api.server_address[1]}/v1"
        with Client(api_key=KEY, base_url=base, cache_dir=tmp_path) as c:
            ref = refs.DocumentRef(id="doc_redir1").bind(session_id="s-redirect")
            path = c.fetch(ref)
        assert path.name == "doc_redir1.pdf" and path.read_bytes() == b"%PDF-1.4 target"
        assert len(_Recorder.seen) == 1
        assert not any(k.lower() == "authorization" for k in _Recorder.seen[0])
        assert KEY not in json.dumps(_Recorder.seen)
    finally:
        api.shutdown()
        storage.shutdown()


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


@pytest.mark.parametrize(
    "prefix,body,ctype,ext",
    [
        ("vid", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100, "video/mp4", "mp4"),
        ("aud", b"ID3\x03\x00" + b"\x00" * 100, "audio/mpeg", "mp3"),
        ("doc", b"%PDF-1.4\n" + b"x" * 100, "application/pdf", "pdf"),
        ("recon", b"\x1f\x8b\x08\x00" + b"\x00" * 100, "application/octet-stream", "spz"),
        (
            "arr",
            _npy(np.arange(6, dtype=np.int16).reshape(2, 3)),
            "application/octet-stream",
            "npy",
        ),
        ("arr", b"[[0, 1, 2], [3, 4, 5]]", "application/json", "npy"),
    ],
)
def test_every_kind_lands_where_the_sdk_puts_it(fast_client, live_server, prefix, body, ctype, ext):
    sid, oid = live_server.add_artifact(prefix, body, content_type=ctype)
    ref = refs.make_ref(oid).bind(session_id=sid)
    path = fast_client.fetch(ref)
    assert path == fast_client.cache.root / sid / f"{oid}.{ext}" and path.read_bytes() == body
    value = ref.load(fast_client)
    if prefix == "arr":
        assert value.tolist() == [[0, 1, 2], [3, 4, 5]]
    else:
        assert value == path


def test_an_array_body_that_is_neither_npy_nor_json_is_refused(fast_client, live_server):
    sid, oid = live_server.add_artifact(
        "arr", b"\x80\x04pickle", content_type="application/octet-stream"
    )
    with pytest.raises(IntegrityError, match="not a valid array"):
        fast_client.fetch(refs.ArrayRef(id=oid).bind(session_id=sid))
    assert _cache_files(fast_client) == []


def test_a_damaged_cache_file_is_fetched_again(fast_client, image_ref, live_server):
    ref, data = image_ref
    path = fast_client.fetch(ref)
    path.write_bytes(b"\x00" * 10)  # e.g. a crash of some other tool mid-write
    live_server.reset_requests()
    assert fast_client.fetch(ref).read_bytes() == data
    assert live_server.count(ART, object_id=ref.id) == 1
