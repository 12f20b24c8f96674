"""The local server's HTTP contract, checked with a plain HTTP client: every bad request
gets the right status and a detail a person can act on, every fault is observable,
and nothing escapes the data directory."""

from __future__ import annotations

import io
import json
import time

import httpx
import pytest
from PIL import Image

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


def test_health_validates_the_key_as_the_sdk_expects(live_server):
    ok = httpx.get(f"{live_server.base_url}/health", headers=auth(live_server))
    assert ok.status_code == 200 and ok.json()["status"] == "ok"
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        r = httpx.get(f"{live_server.base_url}/health", headers=headers)
        assert r.status_code == 401 and "API key" in r.json()["detail"]


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
    # the store's clock is moved by hand: the outcome depends on the session's age, not on
    # how fast a loaded machine answers
    now = [1_000_000.0]
    with LocalServer(ttl=60, data_dir=tmp_path / "data") as server:
        server.store.clock = lambda: now[0]
        sid, oid = server.add_artifact("img", JPEG, content_type="image/jpeg")
        now[0] += 59
        assert get_artifact(server, object_id=oid, session_id=sid).status_code == 200
        now[0] += 2
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
    # saved with the session once each completion returned
    assert all(i["source"] == "manifest" for i in listed["items"])


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


# -- what the official SDK sends (vlmrun 0.9.2) ----------------------------------------------


def test_upload_is_201_and_listing_pages_newest_first(live_server):
    base, h = live_server.base_url, auth(live_server)
    ids = []
    for i in range(3):
        r = httpx.post(f"{base}/files", params={"purpose": "assistants"},
                       files={"file": (f"f{i}.bin", f"payload {i} {time.time()}".encode())}, headers=h)  # fmt: skip
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    page = httpx.get(f"{base}/files", params={"skip": 1, "limit": 2}, headers=h).json()
    assert [f["id"] for f in page] == [ids[1], ids[0]]
    assert len(httpx.get(f"{base}/files", params={"limit": 1}, headers=h).json()) == 1
    bad = httpx.post(
        f"{base}/files", params={"purpose": "poetry"}, files={"file": ("x", b"x")}, headers=h
    )
    assert bad.status_code == 422 and "purpose must be one of" in bad.json()["detail"]
    gone = httpx.delete(f"{base}/files/{ids[0]}", headers=h)
    assert gone.status_code == 200 and gone.json()["id"] == ids[0]
    assert httpx.get(f"{base}/files/{ids[0]}", headers=h).status_code == 404


def test_presigned_upload_flow(live_server):
    import hashlib

    base, h = live_server.base_url, auth(live_server)
    payload = bytes(range(256)) * 4096  # 1 MiB
    pre = httpx.post(f"{base}/files/presigned-url", headers=h,
                     json={"filename": "big clip.mp4", "purpose": "assistants", "expiration": 600})  # fmt: skip
    assert pre.status_code == 200
    info = pre.json()
    assert info["content_type"] == "video/mp4" and info["url"].startswith(live_server.base_url)
    early = httpx.get(f"{base}/files/verify-upload/{info['id']}", headers=h)
    assert early.status_code == 400 and "PUT it" in early.json()["detail"]
    # the URL is the secret: the SDK PUTs without the key
    put = httpx.put(info["url"], content=payload, headers={"Content-Type": info["content_type"]})
    assert put.status_code == 200
    done = httpx.get(f"{base}/files/verify-upload/{info['id']}", headers=h).json()
    assert done["id"] == info["id"] and done["bytes"] == len(payload)
    assert done["filename"] == "big_clip.mp4" and done["purpose"] == "assistants"
    md5 = hashlib.md5(payload).hexdigest()
    assert httpx.get(f"{base}/files/hash/{md5}", headers=h).json()["id"] == info["id"]
    again = httpx.put(info["url"], content=b"overwrite")
    assert again.status_code == 404  # one upload per URL
    assert httpx.put(f"{base}/_local/uploads/{'0' * 32}", content=b"x").status_code == 404


def test_client_chosen_session_id_creates_the_session(live_server):
    photo = samples.data_url(JPEG, "image/jpeg")
    sid = "my-notebook-session-1"
    first = _chat(live_server, [{"type": "text", "text": "Blur the image"},
                                {"type": "image_url", "image_url": {"url": photo}}],
                  session_id=sid, response_format={"type": "json_schema", "schema": SCHEMA})  # fmt: skip
    assert first.status_code == 200 and first.json()["session_id"] == sid
    oid = json.loads(first.json()["choices"][0]["message"]["content"])["image"]["id"]
    second = _chat(live_server, f"make {oid} grayscale", session_id=sid,
                   response_format={"type": "json_schema", "schema": SCHEMA})  # fmt: skip
    assert second.json()["session_id"] == sid
    bad = _chat(live_server, "describe", session_id="../etc")
    assert bad.status_code == 422 and "malformed session_id" in bad.json()["detail"]


def test_artifacts_by_filename(seeded):
    server, sid, oid = seeded
    server.add_artifact("img", JPEG, session_id=sid, content_type="image/jpeg", filename="a.jpg")
    server.add_artifact("img", JPEG, session_id=sid, content_type="image/jpeg", filename="a.jpg")
    listed = httpx.get(f"{server.base_url}/artifacts/list", params={"session_id": sid},
                       headers=auth(server)).json()  # fmt: skip
    names = [i["filename"] for i in listed["items"]]
    assert len(set(names)) == len(names) and {"a.jpg", "a-2.jpg"} <= set(names)
    for item in listed["items"]:
        r = get_artifact(server, filename=item["filename"], session_id=sid)
        assert r.status_code == 200 and r.content == get_artifact(
            server, object_id=item["object_id"], session_id=sid).content  # fmt: skip
    both = get_artifact(server, object_id=oid, filename="a.jpg", session_id=sid)
    assert (
        both.status_code == 422 and "exactly one of object_id or filename" in both.json()["detail"]
    )
    assert get_artifact(server, filename="nope.jpg", session_id=sid).status_code == 404


def test_unknown_method_is_a_json_405(live_server):
    r = httpx.delete(f"{live_server.base_url}/openai/chat/completions", headers=auth(live_server))
    assert r.status_code == 405 and "POST" in r.headers["allow"]
    assert "not allowed" in r.json()["detail"]


def _execute(server, body) -> httpx.Response:
    return httpx.post(f"{server.base_url}/agent/execute", json=body, headers=auth(server))


def test_skill_execution_with_no_name_and_message_content_inputs(live_server):
    photo = samples.data_url(JPEG, "image/jpeg")
    body = {
        "model": "vlmrun-orion-1:auto", "name": None, "batch": True,
        "inputs": {"portrait": {"type": "image_url", "image_url": {"url": photo, "detail": "auto"}}},
        "config": {"prompt": "Blur the image", "json_schema": SCHEMA,
                   "skills": [{"type": "skill_reference", "skill_id": "pillow", "skill_version": "latest"}]},
    }  # fmt: skip
    started = _execute(live_server, body)
    assert started.status_code == 200, started.text
    assert started.json()["name"] == "pillow" and started.json()["execution_mode"] == "program"
    done = _wait(live_server, started.json()["id"])
    assert done["status"] == "completed", done
    r = get_artifact(
        live_server, object_id=done["response"]["image"]["id"], execution_id=done["id"]
    )
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (160, 120)
    listed = httpx.get(f"{live_server.base_url}/artifacts/list", params={"execution_id": done["id"]},
                       headers=auth(live_server)).json()  # fmt: skip
    assert {i["source"] for i in listed["items"]} == {"manifest"}
    agent_mode = _execute(
        live_server, {**body, "config": {"prompt": "Blur the image", "mode": "agent"}}
    )
    assert agent_mode.json()["execution_mode"] == "agent"
    nothing = _execute(live_server, {"name": None, "inputs": {}, "batch": True})
    assert nothing.status_code == 422 and "config.prompt" in nothing.json()["detail"]


def test_agent_routes(live_server):
    base, h = live_server.base_url, auth(live_server)
    agents = httpx.get(f"{base}/agent", headers=h).json()
    assert {"local/blur", "local/try-on"} <= {a["name"] for a in agents}
    blur = httpx.post(f"{base}/agent/lookup", json={"name": "local/blur"}, headers=h).json()
    assert set(blur) >= {
        "id",
        "name",
        "description",
        "prompt",
        "created_at",
        "updated_at",
        "status",
    }
    by_id = httpx.get(f"{base}/agents/{blur['id']}", headers=h).json()
    assert by_id == blur
    by_prompt = httpx.post(f"{base}/agent/lookup", json={"prompt": "Blur all the faces"}, headers=h)
    assert by_prompt.json()["name"] == "local/blur"
    refused = httpx.post(f"{base}/agent/lookup", json={"prompt": "This PDF is a scan"}, headers=h)
    assert refused.status_code == 422 and "make a PDF" in refused.json()["detail"]
    assert httpx.post(f"{base}/agent/lookup", json={"name": "nope"}, headers=h).status_code == 404
    created = httpx.post(f"{base}/agent/create", headers=h, json={
        "name": "team/blur-photos", "inputs": None,
        "config": {"prompt": "Blur the image", "json_schema": SCHEMA}})  # fmt: skip
    assert created.status_code == 200 and created.json()["name"] == "team/blur-photos"
    photo = samples.data_url(JPEG, "image/jpeg")
    run = _execute(live_server, {"name": "team/blur-photos", "inputs": {"x": photo}, "batch": True})
    done = _wait(live_server, run.json()["id"])
    assert done["status"] == "completed" and done["response"]["image"]["id"].startswith("img_")
    dup = httpx.post(f"{base}/agent/create", headers=h,
                     json={"name": "team/blur-photos", "config": {"prompt": "Blur the image"}})  # fmt: skip
    assert dup.status_code == 409
