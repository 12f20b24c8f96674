"""The local server under hostile requests (issue 14, item 6), over real HTTP.

Its request record stays bounded and summarised, a fault needs the key first, an
oversized body is answered 413 before it is read, and input URLs reach only the
server's own files unless allow-listed (no SSRF into other services on the machine).
"""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from vlmrun_jupyter.local import faults
from vlmrun_jupyter.local.samples import sample_image

COMPLETIONS = "/v1/openai/chat/completions"


def _auth(server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.api_key}"}


def _png() -> bytes:
    import io

    buf = io.BytesIO()
    sample_image().save(buf, "PNG")
    return buf.getvalue()


def _ask(server, url: str) -> httpx.Response:
    body = {
        "model": "vlmrun-orion-1:auto",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Convert this image to grayscale"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
    }
    return httpx.post(
        f"{server.base_url}/openai/chat/completions", json=body, headers=_auth(server)
    )


def test_the_request_record_is_a_ring_of_summarised_bodies(live_server, monkeypatch):
    monkeypatch.setattr(live_server.recorder, "_items", type(live_server.recorder._items)(maxlen=5))
    data_url = "data:image/png;base64," + base64.b64encode(_png()).decode()
    for _ in range(8):
        assert _ask(live_server, data_url).status_code == 200
    kept = [r for r in live_server.requests if r.path == COMPLETIONS]
    assert len(live_server.requests) == 5 and len(kept) == 5
    url = kept[-1].json["messages"][0]["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,") and url.endswith("chars)")
    assert len(url) < faults.RECORD_STR_MAX + 40 < len(data_url)
    assert faults.RECORD_MAX == 10_000  # the default ring


def test_a_fault_needs_the_key_before_it_applies(seeded_server):
    server, sid, oid = seeded_server
    server.inject("status", status=503, times=None)
    try:
        no_key = httpx.get(f"{server.base_url}/artifacts", params={"object_id": oid})
        assert no_key.status_code == 401  # the key check answered, not the fault
        header = {faults.HEADER: "status=500"}
        assert httpx.get(f"{server.base_url}/health", headers=header).status_code == 401
        keyed = httpx.get(
            f"{server.base_url}/artifacts",
            params={"object_id": oid, "session_id": sid},
            headers=_auth(server),
        )
        assert keyed.status_code == 503
    finally:
        server.clear_faults()


def test_a_drop_fault_needs_the_key_too(seeded_server):
    server, sid, oid = seeded_server
    server.inject("drop", times=None)
    try:
        answer = httpx.get(f"{server.base_url}/artifacts", params={"object_id": oid})
        assert answer.status_code == 401
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(
                f"{server.base_url}/artifacts",
                params={"object_id": oid, "session_id": sid},
                headers=_auth(server),
            )
    finally:
        server.clear_faults()


def test_an_oversized_body_is_answered_413_unread(live_server, monkeypatch):
    monkeypatch.setattr(faults, "MAX_JSON_BODY", 1000)
    live_server.reset_requests()
    answer = httpx.post(
        f"{live_server.base_url}/openai/chat/completions",
        content=b"{" + b" " * 5000 + b"}",
        headers={**_auth(live_server), "content-type": "application/json"},
    )
    assert answer.status_code == 413 and "over this server's 1000" in answer.json()["detail"]
    assert [r.status for r in live_server.requests] == [413]
    # the server keeps answering
    assert httpx.get(f"{live_server.base_url}/health", headers=_auth(live_server)).is_success


class _Secret(BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:  # noqa: N802
        _Secret.hits += 1
        body = _png()
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def other_service():
    """Another service on this machine (an admin page, a metadata endpoint...)."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Secret)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    _Secret.hits = 0
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_input_urls_reach_only_the_servers_own_files(live_server, other_service):
    answer = _ask(live_server, f"{other_service}/admin.png")
    assert answer.status_code == 422 and "--allow-input-url" in answer.json()["detail"]
    assert _Secret.hits == 0  # never contacted
    live_server.allow_input_urls.append(other_service + "/")
    try:
        assert _ask(live_server, f"{other_service}/photo.png").status_code == 200
        assert _Secret.hits == 1
    finally:
        live_server.allow_input_urls.remove(other_service + "/")


def test_the_servers_own_public_files_are_accepted_as_inputs(live_server):
    sid, oid = live_server.add_artifact("img", _png(), content_type="image/png")
    store = live_server.store
    token = store.publish(store.artifact(store.namespace(sid), oid))
    public = f"{live_server.base_url}/_local/public/{token}/photo.png"
    assert _ask(live_server, public).status_code == 200


@pytest.fixture()
def seeded_server(live_server):
    sid, oid = live_server.add_artifact("img", _png(), content_type="image/png")
    return live_server, sid, oid
