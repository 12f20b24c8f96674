"""The client: request building (no server), then everything over real HTTP against the
LocalServer, including every injected fault."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image
from pydantic import BaseModel

from vlmrun_jupyter import client as client_mod
from vlmrun_jupyter import refs
from vlmrun_jupyter.client import Client, Completion
from vlmrun_jupyter.errors import ConfigurationError, RequestError

KEY = "sk-test-very-secret-key-123"


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


def test_bad_inputs_are_clear_errors(offline):
    with pytest.raises(RequestError, match="not an existing file"):
        offline.build_request("x", inputs=["/no/such/file.png"])
    with pytest.raises(RequestError, match="cannot send an input of type object"):
        offline.build_request("x", inputs=[object()])


def test_the_key_never_shows(offline):
    assert KEY not in repr(offline) and "127.0.0.1:9" in repr(offline)
    assert KEY not in json.dumps(offline.build_request("x"))
    assert KEY not in repr(offline.settings)


def test_default_client_without_a_key_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.delenv("VLMRUN_API_KEY", raising=False)
    client_mod.set_default_client(None)
    with pytest.raises(ConfigurationError) as info:
        client_mod.default_client()
    assert "VLMRUN_API_KEY" in str(info.value) and "%vlmrun local start" in str(info.value)
    mine = Client(api_key=KEY, base_url="http://127.0.0.1:9/v1", cache_dir=tmp_path)
    client_mod.set_default_client(mine)
    try:
        assert client_mod.default_client() is mine
    finally:
        client_mod.set_default_client(None)
        mine.close()


def test_completion_repr_and_bundle_never_raise():
    c = Completion(
        id="c1", model="m", session_id="s", text="{}", result={}, usage=None, latency_s=0.1
    )
    bundle = c._repr_mimebundle_()
    assert "text/plain" in bundle and "Completion" in repr(c)
