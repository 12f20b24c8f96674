"""Progress a user sees: the client's `on_progress` callback (phases and byte counts
matching the real transfer), the notebook ProgressBar and the magic's status line
(phases and sizes, a spinner and a bar, no emoji), against the live local server."""

from __future__ import annotations

import threading

import numpy as np
from bs4 import BeautifulSoup
from IPython.utils.capture import capture_output
from PIL import Image
from pydantic import BaseModel

from vlmrun_jupyter import VideoRef
from vlmrun_jupyter.display.progress import Progress, ProgressBar
from vlmrun_jupyter.ipython import get_magics
from vlmrun_jupyter.local.samples import sample_video
from vlmrun_jupyter.session import set_default_client

MB = 1024 * 1024


class Clip(BaseModel):
    video: VideoRef


def big_png(path, side=1800):
    """A PNG over the 4 MB inline limit (noise does not compress), so it is uploaded."""
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (side, side, 3), np.uint8)).save(path)
    return path


def test_client_reports_upload_waiting_and_download_bytes(client, live_server, tmp_path):
    png = big_png(tmp_path / "big.png")
    events: list[tuple] = []
    client.complete("describe", inputs=[str(png)], on_progress=lambda *e: events.append(e))
    ups = [e for e in events if e[0] == "uploading"]
    size = png.stat().st_size
    assert ups and all(t == size for _, _, t in ups)
    assert [d for _, d, _ in ups] == sorted(d for _, d, _ in ups) and ups[-1][1] == size
    assert events[-1] == ("waiting", None, None)
    assert live_server.count("/v1/files") == 1

    clip = sample_video(tmp_path / "clip.mp4", seconds=2.0, fps=12)
    done = client.complete("Trim the video to the first 1 seconds", inputs=[str(clip)], schema=Clip)
    events.clear()
    path = client.fetch(done.result.video, on_progress=lambda *e: events.append(e))
    got = path.stat().st_size
    assert events[0] == ("downloading", 0, got) and events[-1] == ("downloading", got, got)
    events.clear()
    client.fetch(done.result.video, on_progress=lambda *e: events.append(e))
    assert events == []  # cached: nothing to download, nothing reported


def test_progress_sums_concurrent_transfers_and_words_them():
    p = Progress()
    assert p.text() == (None, None)
    p("waiting", None, None)
    assert p.text() == ("waiting for the answer", None)
    p("downloading", 0, 40 * MB)
    p("downloading", 16 * MB, 40 * MB)

    def other():
        p("downloading", 0, 28 * MB)
        p("downloading", 11 * MB, 28 * MB)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    text, share = p.text()
    assert text == "downloading 40% of 68.0 MB" and abs(share - 27 / 68) < 1e-9
    p("downloading", 0, None)  # this thread's next transfer, size unknown: bytes only
    assert p.text() == ("downloading 27.0 MB", None)  # 16 + 11 + 0 so far
    q = Progress()
    q("uploading", 12 * MB, None)
    assert q.text() == ("uploading 12.0 MB", None)


def test_progress_bar_updates_one_line_in_a_notebook(ipython, client, live_server, tmp_path):
    clip = sample_video(tmp_path / "c.mp4", seconds=2.0, fps=12)
    done = client.complete("Trim the video to the first 1 seconds", inputs=[str(clip)], schema=Clip)
    with capture_output() as cap:
        client.fetch(done.result.video, on_progress=ProgressBar(every=0))
    assert cap.outputs
    last = cap.outputs[-1].data
    assert last["text/plain"].startswith("vlmrun · downloading 100% of ")
    assert last["text/plain"].endswith(f" s of {client.deadline:g} s")  # the fetch's deadline
    soup = BeautifulSoup(last["text/html"], "html.parser")
    assert soup.find("progress")["value"] == "1.000"
    assert not soup.find("script") and not soup.find("style")


def test_the_magic_status_line_shows_phases_sizes_and_no_emoji(
    ipython, live_server, tmp_path, monkeypatch
):
    monkeypatch.setenv("VLMRUN_API_KEY", live_server.api_key)
    monkeypatch.setenv("VLMRUN_BASE_URL", live_server.base_url)
    monkeypatch.setenv("VLMRUN_CACHE_DIR", str(tmp_path / "cache"))
    set_default_client(None)
    ip = ipython
    ip.run_line_magic("load_ext", "vlmrun_jupyter")
    magics = get_magics(ip)
    try:
        magics.status_line = "always"
        ip.user_ns.update(Clip=Clip, png=str(big_png(tmp_path / "big.png")))
        ip.user_ns["clip"] = str(sample_video(tmp_path / "clip.mp4", seconds=3.0, fps=12))
        # a slow answer, so the status line is drawn while waiting
        live_server.inject("latency", seconds=0.6, path="/v1/openai")
        with capture_output() as cap:
            ip.run_cell("%%vlmrun -s Clip\nTrim the video to the first 2 seconds {{ clip }}")
        lines = [o.data.get("text/plain", "") for o in cap.outputs]
        assert any("waiting for the answer" in ln for ln in lines), lines
        assert any("downloading 100% of" in ln for ln in lines), lines
        # the server reads the upload late: the bytes wait in the socket, as on a slow link
        live_server.inject("latency", seconds=1.0, path="/v1/files")
        with capture_output() as cap:
            ip.run_cell("%vlmrun describe {{ png }}")
        lines = [o.data.get("text/plain", "") for o in cap.outputs]
        assert any("uploading" in ln for ln in lines), (
            lines,
            [(r.method, r.path) for r in live_server.requests],
        )
        htmls = [o.data["text/html"] for o in cap.outputs if "text/html" in o.data]
        assert htmls and all(max(map(ord, h)) < 0x2000 for h in htmls)  # no emoji
        spinner = BeautifulSoup(htmls[0], "html.parser").find("span").find("span")
        assert "border-radius: 50%" in spinner["style"] and "rotate(" in spinner["style"]
    finally:
        ip.run_line_magic("unload_ext", "vlmrun_jupyter")
        set_default_client(None)
