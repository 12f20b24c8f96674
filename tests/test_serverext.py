"""The Jupyter server extension (`vlmrun_jupyter.serverext`) through a real `jupyter
server` on loopback, enabled the way an install enables it: an authenticated Range
request gets exactly the asked bytes of a cached video (206), HEAD gives the size and the
ETag the kernel predicts; without the token nothing is served; `..`, absolute paths, a
symlink out of the cache, temp files, integrity records, the ledger and non-video files
are refused.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import httpx
import pytest

from vlmrun_jupyter import _served

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("jupyter_server") is None, reason="jupyter_server is not installed"
)

NAME = "artifacts/sess-1/vid_0123456789abcdef.mp4"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A cache directory with one video and the files that must never be served, and a
    `jupyter server` looking at it (VLMRUN_CACHE_DIR, as a kernel would)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_notebooks_lab_browser import JupyterServer

    tmp = tmp_path_factory.mktemp("serverext")
    cache = tmp / "cache"
    folder = cache / "artifacts" / "sess-1"
    folder.mkdir(parents=True)
    data = os.urandom(3 * 1024 * 1024 + 17)
    video = cache / NAME
    video.write_bytes(data)
    (folder / "vid_0123456789abcdef.mp4.sha256").write_text("0 deadbeef")
    (folder / ".tmp-4242-partial.mp4").write_bytes(data[:1000])
    (folder / "doc_0123456789abcdef.pdf").write_bytes(b"%PDF-1.4 not a video")
    (cache / ".ledger").write_text("ledger")
    outside = tmp / "outside.mp4"
    outside.write_bytes(b"secret bytes outside the cache")
    (folder / "link_0123456789abcdef.mp4").symlink_to(outside)
    root = tmp / "root"
    root.mkdir()
    mp = pytest.MonkeyPatch()
    mp.setenv("VLMRUN_CACHE_DIR", str(cache))
    try:
        server = JupyterServer("server", root, tmp / "jupyter.log")
    finally:
        mp.undo()
    try:
        yield server, cache, data, video
    finally:
        server.stop()


def _url(server, name: str) -> str:
    return f"{server.origin}/vlmrun/cache/{name}"


def _auth(server) -> dict[str, str]:
    return {"Authorization": f"token {server.token}"}


def test_a_range_request_gets_exactly_those_bytes_and_head_the_kernels_tag(served):
    server, cache, data, video = served
    r = httpx.get(_url(server, NAME), headers={**_auth(server), "Range": "bytes=1000-1999"})
    assert r.status_code == 206
    assert r.content == data[1000:2000]
    assert r.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    assert r.headers["Content-Type"] == "video/mp4"
    tail = httpx.get(_url(server, NAME), headers={**_auth(server), "Range": "bytes=-17"})
    assert tail.status_code == 206 and tail.content == data[-17:]

    head = httpx.head(_url(server, NAME), headers=_auth(server))
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(data)
    # what the kernel sends the player for this file (`name_in_cache`, `tag`) matches
    assert _served.name_in_cache(video, cache) == NAME
    assert head.headers["ETag"] == f'"{_served.tag(video.stat())}"'
    # a file replaced under the same name gets another tag: the player falls back
    other = video.with_name("swap.tmp")
    other.write_bytes(data)
    os.replace(other, video)
    again = httpx.head(_url(server, NAME), headers=_auth(server))
    assert again.headers["ETag"] != head.headers["ETag"]
    assert again.headers["ETag"] == f'"{_served.tag(video.stat())}"'


def test_nothing_is_served_without_the_token(served):
    server, *_ = served
    for method in ("GET", "HEAD"):
        r = httpx.request(method, _url(server, NAME), headers={"Range": "bytes=0-99"})
        assert r.status_code in (302, 403), (method, r.status_code)
        assert r.status_code != 206 and len(r.content) < 100_000
    wrong = httpx.get(_url(server, NAME), headers={"Authorization": "token nope"})
    assert wrong.status_code in (302, 403)


@pytest.mark.parametrize(
    "name",
    [
        "artifacts/sess-1/%2e%2e/%2e%2e/outside.mp4",  # .. out of the cache
        "artifacts/%2E%2E/artifacts/sess-1/vid_0123456789abcdef.mp4",  # .. at all
        "%2Fetc%2Fpasswd",  # absolute
        "/etc/passwd",  # absolute (a double slash)
        "artifacts/sess-1/link_0123456789abcdef.mp4",  # a symlink out of the cache
        "artifacts/sess-1/.tmp-4242-partial.mp4",  # a download in progress
        "artifacts/sess-1/vid_0123456789abcdef.mp4.sha256",  # an earlier integrity record
        "artifacts/sess-1/.records",  # the folder's integrity journal
        "artifacts/sess-1/doc_0123456789abcdef.pdf",  # not a video
        ".ledger",
        "artifacts/sess-1/missing_0123456789abcdef.mp4",
        "artifacts/sess-1",  # a folder
        "artifacts\\sess-1\\vid_0123456789abcdef.mp4",
    ],
)
def test_anything_but_a_cached_video_is_refused(served, name):
    server, *_ = served
    r = httpx.get(_url(server, name), headers=_auth(server))
    assert r.status_code in (403, 404), (name, r.status_code)
    assert b"secret bytes" not in r.content and b"root:" not in r.content


def test_the_kernel_names_only_servable_files(served, tmp_path):
    _, cache, _, video = served
    folder = video.parent
    assert _served.name_in_cache(folder / ".tmp-4242-partial.mp4", cache) == ""
    assert _served.name_in_cache(folder / "link_0123456789abcdef.mp4", cache) == ""
    assert _served.name_in_cache(folder / "doc_0123456789abcdef.pdf", cache) == ""
    assert _served.name_in_cache(video, tmp_path) == ""  # another cache directory
