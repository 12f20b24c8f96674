"""The video player in JupyterLab 4 and Notebook 7 (headless Chromium, a real Jupyter
server and kernel, the video from the live LocalServer): a 68 MB video, far over the
inline budget (so the static output is a contact sheet), plays (in Lab from the Jupyter
server's extension over HTTP with Range requests, since the server looks at the kernel's
cache directory; in Notebook 7 over the widget's comm, since that server looks at another
cache directory, which the player detects); a seek to 60% lands
within a frame; the next/previous frame buttons and keys move one frame; the timestamp
text follows. A video whose frames are damaged says so in the player. Screenshots go to
test-artifacts/.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from browser import LAB_MARKS, chromium
from test_notebooks_lab_browser import (
    JupyterServer,
    Page,
    dark_theme,
    open_notebook,
    write_notebook,
)
from test_video_player import write_video
from test_viewer_lab_browser import contrast

from vlmrun_jupyter.display.budget import inline_budget
from vlmrun_jupyter.player import video as player

pytestmark = [
    *LAB_MARKS,
    pytest.mark.skipif(not player.available(), reason="the player's JS is not built"),
]

FPS = 24
SECONDS = 21

CELL = """\
from vlmrun_jupyter import Client, VideoRef

client = Client(api_key={key!r}, base_url={base!r}, cache_dir={cache!r})
big = VideoRef(id={big!r}).bind(session_id={big_session!r}, client=client)
broken = VideoRef(id={broken!r}).bind(session_id={broken_session!r}, client=client)
"""


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    """A ~68 MB H.264 video (noise at a tiny quantiser: ~2 s to make) and a copy of a
    small one whose frames are zeroed (its headers say it is playable)."""
    folder = tmp_path_factory.mktemp("videos")
    big = write_video(folder / "big.mp4", seconds=SECONDS, fps=FPS, qp=1)
    small = write_video(folder / "small.mp4", seconds=2, fps=FPS).read_bytes()
    mdat = small.index(b"mdat") + 4
    broken = folder / "broken.mp4"
    broken.write_bytes(small[:mdat] + bytes(len(small) - mdat))
    return {"big": big, "broken": broken}


def _notebook(path: Path, server, videos: dict[str, Path], cache: Path) -> None:

    big_session, big = server.add_artifact("vid", videos["big"])
    broken_session, broken = server.add_artifact("vid", videos["broken"])
    setup = CELL.format(
        key=server.api_key,
        base=server.base_url,
        cache=str(cache),
        big=big,
        big_session=big_session,
        broken=broken,
        broken_session=broken_session,
    )
    write_notebook(path, [setup, "big", "broken"])


def _video_state(page, index: int = 0) -> dict:
    return page.evaluate(
        """(i) => { const root = document.querySelectorAll('.vlmrun-video')[i];
            const v = root.querySelector('video');
            return {t: v.currentTime, ready: v.readyState, paused: v.paused,
                    duration: v.duration, time: root.querySelector('.time').textContent,
                    frame: root.querySelector('.frame').textContent,
                    state: root.dataset.state, status: root.querySelector('.status').textContent,
                    firstFrameMs: Number(root.dataset.firstFrameMs || -1),
                    posterMs: Number(root.dataset.posterMs || -1), poster: v.poster,
                    via: root.dataset.via, src: v.currentSrc}; }""",
        index,
    )


def _after_seeked(page, action: str) -> dict:
    """Run `action` (JS, with `root` and `v` bound) and wait for the seek it causes."""
    page.evaluate(
        """async (action) => { const root = document.querySelector('.vlmrun-video');
            const v = root.querySelector('video');
            const seeked = new Promise(r => v.addEventListener('seeked', r, {once: true}));
            new Function('root', 'v', action)(root, v);
            await seeked; await new Promise(r => requestAnimationFrame(() => r())); }""",
        action,
    )
    return _video_state(page)


def _frame_number(text: str) -> int:
    return int(re.match(r"frame (\d+) / \d+", text).group(1))


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_a_68_mb_video_plays_seeks_and_steps_frames(
    app, live_server, videos, tmp_path, artifacts_dir, monkeypatch
):
    size = videos["big"].stat().st_size
    assert size > 60e6 and size > 10 * inline_budget()  # today: a contact sheet only
    root = tmp_path / "root"
    root.mkdir()
    _notebook(root / "video.ipynb", live_server, videos, tmp_path / "cache")
    # the server extension serves the cache the server's environment names: in Lab the
    # kernel's (HTTP), in Notebook 7 another one (the player falls back to the comm)
    served = tmp_path / ("cache" if app == "lab" else "another-cache")
    monkeypatch.setenv("VLMRUN_CACHE_DIR", str(served))
    server = JupyterServer(app, root, tmp_path / "jupyter.log")
    monkeypatch.delenv("VLMRUN_CACHE_DIR")
    try:
        with chromium() as browser:
            p = Page(browser, server.origin)
            page = p.page
            page.set_viewport_size({"width": 1100, "height": 900})
            open_notebook(page, server.url("video.ipynb"))
            dark = app == "notebook"  # Lab keeps the light theme: both are checked
            if dark:
                dark_theme(page)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_selector(".vlmrun-video", timeout=120_000)
            player_el = page.locator(".vlmrun-video").first
            player_el.scroll_into_view_if_needed()
            page.wait_for_function(
                "() => ['ready', 'error'].includes(document.querySelector('.vlmrun-video').dataset.state)",
                timeout=120_000,
            )
            state = _video_state(page)
            assert state["state"] == "ready", state
            print(
                f"{app}: {size / 1e6:.1f} MB video via {state['via']}, poster after "
                f"{state['posterMs']} ms, playable first frame after {state['firstFrameMs']} ms"
            )
            if app == "lab":  # streamed by the browser from the server, with Range requests
                assert state["via"] == "http", state
                assert state["src"].startswith(f"{server.origin}/vlmrun/cache/artifacts/")
            else:  # the whole file over the comm; the first frame shows as a poster first
                assert state["via"] == "comm" and state["src"].startswith("blob:"), state
                assert state["poster"].startswith("blob:")
                assert 0 < state["posterMs"] < state["firstFrameMs"]
            assert state["ready"] >= 2 and state["duration"] == pytest.approx(SECONDS, abs=0.05)
            assert state["time"] == "00:00.000 / 00:21.000"

            # plays: time advances and the timestamp text follows
            page.evaluate("() => { document.querySelector('.vlmrun-video video').muted = true; }")
            player_el.locator("button.play").click()
            page.wait_for_function(
                "() => document.querySelector('.vlmrun-video video').currentTime > 0.8",
                timeout=30_000,
            )
            playing = _video_state(page)
            assert not playing["paused"] and playing["ready"] >= 2
            assert re.fullmatch(r"00:0\d\.\d{3} / 00:21\.000", playing["time"])
            assert playing["time"] != state["time"]
            player_el.locator("button.play").click()
            page.screenshot(path=str(artifacts_dir / f"{app}-video-player-playing.png"))

            # a seek to 60% lands within a frame of its target
            target = 0.6 * SECONDS
            seeked = _after_seeked(
                page,
                f"const s = root.querySelector('.seek'); s.value = '{target}';"
                "s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change'));",
            )
            assert seeked["paused"] and abs(seeked["t"] - target) <= 1 / FPS, seeked
            assert seeked["time"].startswith("00:12.")
            frame = _frame_number(seeked["frame"])
            assert frame == round(target * FPS) + 1  # frames count from 1

            # next frame (button): to the start of the next frame, then exactly one frame
            # on; previous frame (the ',' key once focused) one frame back
            nxt = _after_seeked(page, "root.querySelector('button.next').click()")
            start_of_next = (math.floor(seeked["t"] * FPS + 1e-3) + 1) / FPS
            assert nxt["t"] == pytest.approx(start_of_next, abs=0.001), (seeked, nxt)
            assert _frame_number(nxt["frame"]) == frame + 1 and nxt["time"] != seeked["time"]
            again = _after_seeked(page, "root.querySelector('button.next').click()")
            assert again["t"] - nxt["t"] == pytest.approx(1 / FPS, abs=0.001), (nxt, again)
            assert _frame_number(again["frame"]) == frame + 2
            ms = math.floor(again["t"] * 1000 + 1e-6)  # mm:ss.mmm, milliseconds truncated
            assert again["time"] == f"00:{ms // 1000:02d}.{ms % 1000:03d} / 00:21.000"
            page.screenshot(path=str(artifacts_dir / f"{app}-video-player-stepped.png"))
            # the theme's colours: controls and text readable (contrast measured from pixels)
            for selector in ("button.next", ".bar .time", ".bar .frame", ".caption .title"):
                ratio = contrast(player_el.locator(selector).screenshot())
                print(f"{app} {'dark' if dark else 'light'} theme {selector}: contrast {ratio:.1f}")
                assert ratio >= 4.5, f"{selector}: contrast {ratio:.2f}"
            background = page.evaluate(
                "() => getComputedStyle(document.querySelector('.vlmrun-video .bar')).backgroundColor"
            )
            levels = [int(v) for v in re.findall(r"\d+", background)[:3]]
            assert (max(levels) < 90) if dark else (min(levels) > 200), background
            cells = page.locator(".jp-Notebook .jp-Cell").count()
            page.evaluate("() => document.querySelector('.vlmrun-video').focus()")
            page.keyboard.press(",")
            page.wait_for_function(
                f"() => Math.abs(document.querySelector('.vlmrun-video video').currentTime - {again['t']}) > 0.01"
            )
            page.wait_for_timeout(200)
            back = _video_state(page)
            assert _frame_number(back["frame"]) == frame + 1
            assert back["t"] == pytest.approx(nxt["t"], abs=0.001)
            page.keyboard.press("b")  # a notebook shortcut (insert cell below) must not fire
            page.wait_for_timeout(300)
            assert page.locator(".jp-Notebook .jp-Cell").count() == cells

            # the damaged video: a clear message in its player
            broken = page.locator(".vlmrun-video").nth(1)
            broken.scroll_into_view_if_needed()
            page.wait_for_function(
                "() => document.querySelectorAll('.vlmrun-video')[1]?.dataset.state === 'error'",
                timeout=60_000,
            )
            message = _video_state(page, 1)["status"]
            # its headers parse but no frame decodes: the kernel's copy says so
            assert message == "This video could not be made playable: no frame could be decoded."
            page.screenshot(path=str(artifacts_dir / f"{app}-video-player-broken.png"))
            text = page.locator(".jp-Notebook").inner_text()
            assert "Error displaying widget" not in text
    finally:
        server.stop()
