"""The local server's HTTP contract, checked with a plain HTTP client: every bad request
gets the right status and a detail a person can act on, every fault is observable,
and nothing escapes the data directory."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from vlmrun_jupyter import LocalServer
from vlmrun_jupyter.local import samples

JPEG = samples.image_bytes(samples.sample_image(160, 120, faces=False))


def auth(server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.api_key}"}


def get_artifact(server, headers=None, **params) -> httpx.Response:
    return httpx.get(
        f"{server.base_url}/artifacts",
        params=params,
        headers=headers if headers is not None else auth(server),
    )


@pytest.fixture()
def seeded(live_server):
    sid, oid = live_server.add_artifact("img", JPEG, content_type="image/jpeg")
    return live_server, sid, oid


# -- authentication and validation ---------------------------------------------------------


def test_health_needs_no_key(live_server):
    assert httpx.get(f"{live_server.base_url}/health").json()["status"] == "ok"


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}]
)
def test_missing_or_wrong_key_is_401(seeded, headers):
    server, sid, oid = seeded
    r = get_artifact(server, headers=headers, object_id=oid, session_id=sid)
    assert r.status_code == 401
    assert "VLMRUN_API_KEY" in r.json()["detail"]


def test_both_or_neither_namespace_is_422(seeded):
    server, sid, oid = seeded
    both = get_artifact(server, object_id=oid, session_id=sid, execution_id=sid)
    neither = get_artifact(server, object_id=oid)
    for r in (both, neither):
        assert r.status_code == 422
        assert "exactly one of session_id or execution_id" in r.json()["detail"]


@pytest.mark.parametrize(
    "bad", ["img_12", "img_1234567", "pic_abcdef", "img_ab/def", "../img_abcdef"]
)
def test_malformed_object_id_is_422(seeded, bad):
    server, sid, _ = seeded
    r = get_artifact(server, object_id=bad, session_id=sid)
    assert r.status_code == 422
    assert "malformed object_id" in r.json()["detail"]


def test_unknown_ids_are_404(seeded):
    server, sid, _ = seeded
    r = get_artifact(server, object_id="img_zzzzzz", session_id=sid)
    assert r.status_code == 404 and "img_zzzzzz" in r.json()["detail"]
    r = get_artifact(
        server, object_id="img_zzzzzz", session_id="5f0c8a52-0000-4000-8000-000000000000"
    )
    assert r.status_code == 404 and "not found" in r.json()["detail"]


def test_expired_session_is_404_saying_so(seeded):
    server, sid, oid = seeded
    assert get_artifact(server, object_id=oid, session_id=sid).status_code == 200
    server.expire(sid)
    r = get_artifact(server, object_id=oid, session_id=sid)
    assert r.status_code == 404 and "expired" in r.json()["detail"]


def test_sessions_expire_after_the_ttl(tmp_path):
    with LocalServer(ttl=0.5, data_dir=tmp_path / "data") as server:
        sid, oid = server.add_artifact("img", JPEG, content_type="image/jpeg")
        assert get_artifact(server, object_id=oid, session_id=sid).status_code == 200
        time.sleep(0.7)
        r = get_artifact(server, object_id=oid, session_id=sid)
        assert r.status_code == 404 and "expired" in r.json()["detail"]
        assert not (tmp_path / "data" / "ns" / sid).exists(), "expired artifacts are deleted"


def _tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_ids_and_filenames_cannot_leave_the_data_dir(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("keep")
    with LocalServer(data_dir=tmp_path / "data") as server:
        before = _tree(tmp_path)
        for sid in ("../outside", "../../etc", "..", "a/../../outside"):
            r = get_artifact(server, object_id="img_abcdef", session_id=sid)
            assert r.status_code in (404, 422), (sid, r.status_code)
        r = httpx.get(f"{server.base_url}/agent/executions/..%2F..%2Foutside", headers=auth(server))
        assert r.status_code in (404, 422)
        r = httpx.get(f"{server.base_url}/files/..%2Foutside", headers=auth(server))
        assert r.status_code in (404, 422)
        up = httpx.post(
            f"{server.base_url}/files",
            files={"file": ("../../outside/evil.txt", b"x")},
            headers=auth(server),
        ).json()
        assert up["filename"] == "evil.txt"
        assert _tree(outside) == ["secret.txt"]
        after = [p for p in _tree(tmp_path) if p not in before]
        assert after and all(p.startswith("data/") for p in after), after
        assert (outside / "secret.txt").read_text() == "keep"


def test_public_route_with_a_bad_token_is_404(live_server):
    for token in ("nope", "0" * 32, "../../etc/passwd"):
        r = httpx.get(f"{live_server.base_url}/_local/public/{token}/x.jpg")
        assert r.status_code == 404


# -- faults ----------------------------------------------------------------------------------


def test_latency(seeded):
    server, sid, oid = seeded
    server.inject("latency", seconds=0.3)
    t0 = time.monotonic()
    assert get_artifact(server, object_id=oid, session_id=sid).status_code == 200
    assert time.monotonic() - t0 >= 0.3


@pytest.mark.parametrize("status", [429, 500, 503])
def test_status_faults(seeded, status):
    server, sid, oid = seeded
    server.inject("status", status=status, retry_after=2)
    r = get_artifact(server, object_id=oid, session_id=sid)
    assert r.status_code == status and r.headers["Retry-After"] == "2"
    assert get_artifact(server, object_id=oid, session_id=sid).status_code == 200  # times=1


def test_truncated_body_announces_more_than_it_sends(seeded):
    server, sid, oid = seeded
    server.inject("truncate", fraction=0.5)
    with pytest.raises(httpx.RemoteProtocolError, match="incomplete|closed"):
        get_artifact(server, object_id=oid, session_id=sid)


def test_wrong_content_type(seeded):
    server, sid, oid = seeded
    server.inject("content_type", value="text/html")
    r = get_artifact(server, object_id=oid, session_id=sid)
    assert r.headers["Content-Type"] == "text/html" and r.content == JPEG


def test_dropped_connection(seeded):
    server, sid, oid = seeded
    server.inject("drop")
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        get_artifact(server, object_id=oid, session_id=sid)


def test_slow_body_trips_a_read_timeout(seeded):
    server, sid, oid = seeded
    server.inject("slow_body", seconds=1.0)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(
            f"{server.base_url}/artifacts",
            params={"object_id": oid, "session_id": sid},
            headers=auth(server),
            timeout=httpx.Timeout(5.0, read=0.3),
        )


def test_next_n_probability_and_path(seeded):
    server, sid, oid = seeded
    server.inject("status", status=503, times=2, path="/v1/artifacts")
    # a path prefix: /v1/artifacts also covers /v1/artifacts/list, but not /v1/files
    assert httpx.get(f"{server.base_url}/files", headers=auth(server)).status_code == 200
    codes = [get_artifact(server, object_id=oid, session_id=sid).status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    server.inject("status", status=500, times=None, probability=0.0)
    assert all(
        get_artifact(server, object_id=oid, session_id=sid).status_code == 200 for _ in range(5)
    )
    server.clear_faults()
    server.inject("status", status=500, times=None, probability=1.0)
    assert all(
        get_artifact(server, object_id=oid, session_id=sid).status_code == 500 for _ in range(3)
    )


def test_fault_header_per_request(seeded):
    server, sid, oid = seeded
    r = get_artifact(
        server,
        headers={**auth(server), "X-Vlmrun-Fault": "status=429;retry_after=1"},
        object_id=oid,
        session_id=sid,
    )
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert get_artifact(server, object_id=oid, session_id=sid).status_code == 200


def test_control_routes_need_the_key_and_work(seeded):
    server, sid, oid = seeded
    url = f"{server.base_url}/_local/faults"
    assert httpx.post(url, json={"fault": "status", "status": 503}).status_code == 401
    r = httpx.post(url, json={"fault": "status", "status": 503, "times": 1}, headers=auth(server))
    assert r.status_code == 200 and r.json()["faults"][0]["fault"] == "status"
    assert get_artifact(server, object_id=oid, session_id=sid).status_code == 503
    httpx.post(url, json={"fault": "latency", "seconds": 5, "times": None}, headers=auth(server))
    assert httpx.delete(url, headers=auth(server)).json() == {"faults": []}
    assert httpx.post(url, json={"fault": "explode"}, headers=auth(server)).status_code == 422
    log = httpx.get(f"{server.base_url}/_local/requests", headers=auth(server)).json()["requests"]
    assert any(r["path"] == "/v1/artifacts" and r["status"] == 503 for r in log)
    assert httpx.delete(f"{server.base_url}/_local/requests", headers=auth(server)).json() == {
        "requests": []
    }


def test_the_request_log_never_holds_the_key(seeded):
    server, sid, oid = seeded
    get_artifact(server, object_id=oid, session_id=sid)
    httpx.post(
        f"{server.base_url}/openai/chat/completions", json={"messages": []}, headers=auth(server)
    )
    dumped = json.dumps([r.as_dict() for r in server.requests])
    assert server.api_key not in dumped and "authorization" not in dumped.lower()
    assert server.count("/v1/artifacts", object_id=oid) == 1


# -- files, completions, executions -------------------------------------------------------


def test_files_upload_get_and_hash(live_server):
    import hashlib

    r = httpx.post(
        f"{live_server.base_url}/files?purpose=assistants",
        files={"file": ("photo.jpg", JPEG)},
        headers=auth(live_server),
    )
    info = r.json()
    assert set(info) >= {"id", "filename", "bytes", "purpose", "created_at", "object"}
    assert info["bytes"] == len(JPEG) and info["object"] == "file"
    assert (
        httpx.get(f"{live_server.base_url}/files/{info['id']}", headers=auth(live_server)).json()[
            "id"
        ]
        == info["id"]
    )
    md5 = hashlib.md5(JPEG).hexdigest()
    assert (
        httpx.get(f"{live_server.base_url}/files/hash/{md5}", headers=auth(live_server)).json()[
            "id"
        ]
        == info["id"]
    )


def _chat(server, content, **extra) -> httpx.Response:
    body = {
        "model": "vlmrun-orion-1:auto",
        "messages": [{"role": "user", "content": content}],
        **extra,
    }
    return httpx.post(
        f"{server.base_url}/openai/chat/completions", json=body, headers=auth(server), timeout=60
    )


SCHEMA = {
    "$defs": {
        "ImageRef": {
            "properties": {"id": {"pattern": "^img_\\w{6}$", "title": "Id", "type": "string"}},
            "required": ["id"],
            "title": "ImageRef",
            "type": "object",
        }
    },
    "properties": {"image": {"$ref": "#/$defs/ImageRef"}},
    "required": ["image"],
    "type": "object",
}


def test_chat_completion_shape_and_session_continuation(live_server):
    photo = samples.data_url(JPEG, "image/jpeg")
    first = _chat(live_server, [{"type": "text", "text": "Blur the image"}, {"type": "image_url", "image_url": {"url": photo}}],
                  response_format={"type": "json_schema", "schema": SCHEMA}).json()  # fmt: skip
    assert first["object"] == "chat.completion" and first["session_id"]
    assert (
        first["choices"][0]["message"]["role"] == "assistant" and first["usage"]["total_tokens"] > 0
    )
    image_id = json.loads(first["choices"][0]["message"]["content"])["image"]["id"]
    second = _chat(live_server, f"make {image_id} grayscale", session_id=first["session_id"],
                   response_format={"type": "json_schema", "schema": SCHEMA}).json()  # fmt: skip
    assert second["session_id"] == first["session_id"]
    listed = httpx.get(
        f"{live_server.base_url}/artifacts/list",
        params={"session_id": first["session_id"]},
        headers=auth(live_server),
    ).json()
    assert listed["namespace_id"] == first["session_id"]
    assert {i["object_id"] for i in listed["items"]} >= {image_id}
    assert all(i["source"] == "store" for i in listed["items"])


def test_streaming_chunks_carry_the_session(live_server):
    photo = samples.data_url(JPEG, "image/jpeg")
    with httpx.stream("POST", f"{live_server.base_url}/openai/chat/completions", headers=auth(live_server), timeout=60,
                      json={"stream": True, "messages": [{"role": "user", "content": [{"type": "text", "text": "describe"}, {"type": "image_url", "image_url": {"url": photo}}]}]}) as r:  # fmt: skip
        assert r.headers["Content-Type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all(
        c["object"] == "chat.completion.chunk" and c["session_id"] == chunks[0]["session_id"]
        for c in chunks
    )
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert "160x120 image" in text


def test_unsupported_prompt_is_422_listing_what_works(live_server):
    r = _chat(live_server, "write a haiku")
    assert r.status_code == 422 and "blur the faces" in r.json()["detail"]


def test_non_loopback_urls_are_refused_without_fetching(live_server):
    r = _chat(
        live_server,
        [
            {"type": "text", "text": "blur"},
            {"type": "image_url", "image_url": {"url": "http://example.com/a.jpg"}},
        ],
    )
    assert r.status_code == 422 and "loopback" in r.json()["detail"]
    r = _chat(
        live_server,
        [
            {"type": "text", "text": "blur"},
            {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}},
        ],
    )
    assert r.status_code == 422


def test_input_file_parts_resolve_to_uploads(live_server):
    fid = httpx.post(
        f"{live_server.base_url}/files", files={"file": ("p.jpg", JPEG)}, headers=auth(live_server)
    ).json()["id"]
    r = _chat(
        live_server, [{"type": "text", "text": "describe"}, {"type": "input_file", "file_id": fid}]
    )
    assert "160x120 image" in r.json()["choices"][0]["message"]["content"]
    r = _chat(
        live_server,
        [
            {"type": "text", "text": "describe"},
            {"type": "input_file", "file_id": "file-" + "0" * 24},
        ],
    )
    assert r.status_code == 404


def _wait(server, eid, timeout=30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        rec = httpx.get(f"{server.base_url}/agent/executions/{eid}", headers=auth(server)).json()
        if rec["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return rec
        time.sleep(0.1)


def test_execution_lifecycle(live_server):
    photo = samples.data_url(JPEG, "image/jpeg")
    body = {
        "name": "image/blur-image",
        "inputs": {"image": photo},
        "config": {"prompt": "Blur the image", "json_schema": SCHEMA},
        "batch": True,
    }
    started = httpx.post(
        f"{live_server.base_url}/agent/execute", json=body, headers=auth(live_server)
    ).json()
    assert started["status"] in ("pending", "running", "completed") and started["id"]
    done = _wait(live_server, started["id"])
    assert done["status"] == "completed" and done["completed_at"]
    image_id = done["response"]["image"]["id"]
    r = get_artifact(live_server, object_id=image_id, execution_id=started["id"])
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"
    listing = httpx.get(
        f"{live_server.base_url}/agent/executions", headers=auth(live_server)
    ).json()
    assert any(e["id"] == started["id"] for e in listing)


def test_failed_execution_reports_why(live_server):
    body = {"name": "poem", "inputs": {}, "config": {"prompt": "write a sonnet"}, "batch": True}
    started = httpx.post(
        f"{live_server.base_url}/agent/execute", json=body, headers=auth(live_server)
    ).json()
    done = _wait(live_server, started["id"])
    assert done["status"] == "failed" and "supports" in done["response"]["error"]
