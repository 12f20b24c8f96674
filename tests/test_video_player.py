"""The video player's protocol in Python, against the live LocalServer: what a view gets
when it asks ("open?", then "chunk?" ranges) reassembles to the exact bytes it should
play; a video browsers cannot play is streamed as a playable copy (made once, kept beside
the artifact, decoding to the same duration and frames); streaming holds one chunk at a
time in the kernel; a broken file and a bad request get a clear message, never an
exception. The browser side is tests/test_video_player_browser.py.
"""

from __future__ import annotations

import hashlib
import threading
import time
import tracemalloc
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from vlmrun_jupyter import VideoRef, _served
from vlmrun_jupyter.display.kinds import video as video_kind
from vlmrun_jupyter.player import proxy
from vlmrun_jupyter.player import video as player

pytestmark = pytest.mark.skipif(not player.available(), reason="the player's JS is not built")


def write_video(
    path: Path,
    *,
    seconds: float,
    fps: int = 24,
    size: tuple[int, int] = (320, 240),
    codec: str = "libx264",
    qp: int | None = None,
    audio: bool = False,
    faststart: bool = True,
) -> Path:
    """A test video: random noise (so the encoder cannot shrink it: `qp` low makes it
    large fast) with a white bar that moves one step per frame. `libx264` gives a
    browser-playable MP4; `mpeg4` one browsers cannot play."""
    import av

    w, h = size
    rng = np.random.default_rng(0)
    opts = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", options=opts) as c:
        vs = c.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        if codec == "libx264":
            vs.options = {"preset": "ultrafast", "g": str(fps), "qp": str(qp if qp else 23)}
        elif qp:
            vs.options = {"qscale": str(qp)}
        if audio:  # every stream is added before the first packet
            a = c.add_stream("aac", rate=44100)
            a.layout = "mono"
        frames = int(round(seconds * fps))
        for i in range(frames):
            img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            x = (i * 4) % max(1, w - 40)
            img[:, x : x + 40] = 255
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        if audio:
            n = a.codec_context.frame_size or 1024
            for j in range(int(seconds * 44100 / n)):
                tone = np.sin(np.arange(j * n, (j + 1) * n) * 2 * np.pi * 440 / 44100)
                fr = av.AudioFrame.from_ndarray(
                    (0.2 * tone).astype(np.float32)[None], format="fltp", layout="mono"
                )
                fr.sample_rate, fr.pts = 44100, j * n
                for p in a.encode(fr):
                    c.mux(p)
            for p in a.encode():
                c.mux(p)
    return path


class View:
    """One browser view of a player, as js/src/video.js behaves: "open?", wait for
    "ready" (through "progress" while a copy is made), then "chunk?" requests, a few in
    flight, each answer put at its offset."""

    def __init__(self, widget: player.VideoPlayer, name: str = "view1") -> None:
        self.widget, self.name = widget, name
        self.inbox: list[tuple[dict, list]] = []
        self.arrived = threading.Condition()
        widget.send = self._receive  # what the comm would carry to the browser

    def _receive(self, content, buffers=None) -> None:
        with self.arrived:
            self.inbox.append((content, list(buffers or [])))
            self.arrived.notify_all()

    def ask(self, **content) -> None:
        self.widget._on_message(self.widget, {"view": self.name, **content}, [])

    def wait_for(self, *kinds: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                for content, _ in self.inbox:
                    if content["type"] in kinds:
                        return content
                left = deadline - time.monotonic()
                assert left > 0, f"no {kinds} within {timeout} s: {self.inbox}"
                self.arrived.wait(left)

    def open(self) -> dict:
        self.ask(type="open?")
        return self.wait_for("ready", "error")

    def stream(self, size: int, sink) -> int:
        """Ask for every chunk (three in flight); `sink(offset, data)` gets each in
        order. Returns the largest buffer received."""
        chunk, offset, largest = self.widget.chunk, 0, 0
        while offset < size:
            self.inbox.clear()
            asked = [o for o in range(offset, size, chunk)][:3]
            for o in asked:
                self.ask(type="chunk?", offset=o, length=min(chunk, size - o))
            for (content, buffers), o in zip(list(self.inbox), asked, strict=True):
                assert content == {"type": "chunk", "view": self.name, "offset": o, "size": size}
                largest = max(largest, len(buffers[0]))
                sink(o, bytes(buffers[0]))
            offset = asked[-1] + chunk
        return largest


def _ref(client, live_server, path: Path) -> VideoRef:
    sid, oid = live_server.add_artifact("vid", path)
    return VideoRef(id=oid).bind(session_id=sid, client=client)


def _player(ref, monkeypatch) -> player.VideoPlayer:
    """The player `live` adds to a display in a kernel (this test process is none)."""
    made: list[player.VideoPlayer] = []
    build = player.VideoPlayer.for_file.__func__
    monkeypatch.setattr(
        player.VideoPlayer,
        "for_file",
        classmethod(lambda cls, *a, **k: made.append(build(cls, *a, **k)) or made[-1]),
    )
    monkeypatch.setattr(video_kind, "in_kernel", lambda: True)
    parts = video_kind.live(ref, {})
    assert parts[video_kind.WIDGET_VIEW]["model_id"] == made[-1].model_id
    return made[-1]


def test_a_playable_video_streams_in_chunks_that_are_the_file(
    client, live_server, tmp_path, monkeypatch
):
    src = write_video(tmp_path / "clip.mp4", seconds=4, qp=2)  # ~11 MB: several chunks
    ref = _ref(client, live_server, src)
    widget = _player(ref, monkeypatch)
    assert (widget.fps, widget.width, widget.height) == (24.0, 320, 240)
    assert widget.duration == pytest.approx(4.0, abs=0.05) and widget.note == ""
    # the state a saved notebook may hold is the traits, never the video
    state = {k: v for k, v in widget.get_state().items() if k not in ("_esm", "_css")}
    assert len(str(state)) < 4096

    view = View(widget)
    ready = view.open()
    size = src.stat().st_size
    # "ready" also names the cached file and its tag, for the Jupyter server extension
    path = ref.fetch()
    assert ready == {
        "type": "ready", "view": "view1", "size": size, "mime": "video/mp4", "copy": False,
        "url": f"artifacts/{path.parent.name}/{path.name}", "tag": _served.tag(path.stat()),
    }  # fmt: skip
    got = bytearray(size)
    tracemalloc.start()
    try:
        largest = view.stream(size, lambda o, d: got.__setitem__(slice(o, o + len(d)), d))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert bytes(got) == src.read_bytes() == ref.fetch().read_bytes()
    assert largest == player.CHUNK < size
    # the kernel held the chunks in flight, not the file (the View keeps 3 of them)
    assert peak < 5 * player.CHUNK, peak
    widget.close()


def test_requests_out_of_protocol_get_a_reason_not_an_exception(
    client, live_server, tmp_path, monkeypatch
):
    src = write_video(tmp_path / "clip.mp4", seconds=1)
    widget = _player(_ref(client, live_server, src), monkeypatch)
    view = View(widget)
    for bad in ({"offset": -1, "length": 10}, {"offset": "0", "length": 10}, {"offset": 0}):
        view.inbox.clear()
        view.ask(type="chunk?", **bad)
        (content, buffers), *_ = view.inbox
        assert content["type"] == "error" and "offset" in content["message"] and not buffers
    view.inbox.clear()  # a greedy length is cut to MAX_CHUNK; past the end gives b""
    view.ask(type="chunk?", offset=0, length=10**12)
    assert len(view.inbox[0][1][0]) == min(src.stat().st_size, player.MAX_CHUNK)
    view.inbox.clear()
    widget._on_message(widget, "not a dict", [])
    widget._on_message(widget, {"type": "unknown"}, [])
    assert view.inbox == []
    ref_file = widget.streamed
    ref_file.unlink()  # evicted from the cache since the display
    view.inbox.clear()
    view.ask(type="chunk?", offset=0, length=10)
    assert "no longer in the cache" in view.inbox[0][0]["message"]
    widget.close()


def _decoded(path: Path) -> tuple[str, str, float, int, list[str]]:
    import av

    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        frames = sum(1 for _ in c.decode(vs))
        seconds = float(c.duration / av.time_base)
        audio = [a.codec_context.name for a in c.streams.audio]
        return vs.codec_context.name, vs.codec_context.pix_fmt, seconds, frames, audio


def test_an_unplayable_video_streams_a_playable_copy_made_once(
    client, live_server, tmp_path, monkeypatch
):
    src = write_video(tmp_path / "old.mp4", seconds=3, fps=25, codec="mpeg4", audio=True)
    ref = _ref(client, live_server, src)
    widget = _player(ref, monkeypatch)
    assert widget.note == "a playable copy (mpeg4)"
    view = View(widget)
    view.ask(type="open?")
    assert view.inbox[0][0]["type"] == "progress"  # answered at once; the copy is made aside
    ready = view.wait_for("ready", "error")
    assert ready["type"] == "ready" and ready["copy"] is True
    copy = widget.streamed
    assert copy.parent == ref.fetch().parent and copy.name == f"{ref.id}.preview.player.v1.mp4"
    got = bytearray(ready["size"])
    view.stream(ready["size"], lambda o, d: got.__setitem__(slice(o, o + len(d)), d))
    assert bytes(got) == copy.read_bytes()
    received = tmp_path / "received.mp4"
    received.write_bytes(got)
    codec, pix, seconds, frames, audio = _decoded(received)
    _, _, src_seconds, src_frames, _ = _decoded(src)
    assert (codec, pix, audio) == ("h264", "yuv420p", ["aac"])
    assert frames == src_frames == 75
    assert seconds == pytest.approx(src_seconds, abs=2 / 25)
    assert video_kind.probe(received).playable
    widget.close()

    # shown again (a new ref object, as after a restart): the copy is reused, not remade
    def no_transcoding(*_a, **_k):
        raise AssertionError("transcoded again")

    monkeypatch.setattr(proxy, "transcode", no_transcoding)
    again = _player(VideoRef(id=ref.id).bind(session_id=ref.session_id, client=client), monkeypatch)
    view = View(again)
    assert view.open()["size"] == copy.stat().st_size
    again.close()


def test_a_broken_video_says_so_in_the_player(client, live_server, tmp_path, monkeypatch):
    """Headers intact, frames gone: the player's message says the video could not be
    made playable; the cache keeps no half copy."""
    src = write_video(tmp_path / "old.mp4", seconds=2, codec="mpeg4")
    data = src.read_bytes()
    mdat = data.index(b"mdat") + 4
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[:mdat] + bytes(len(data) - mdat))  # every frame zeroed
    ref = _ref(client, live_server, broken)
    widget = _player(ref, monkeypatch)
    reply = View(widget).open()
    assert reply["type"] == "error"
    assert reply["message"] == ("This video could not be made playable: no frame could be decoded.")
    folder = ref.fetch().parent
    assert not [p.name for p in folder.iterdir() if p.suffix == ".mp4" and p != ref.fetch()]
    widget.close()


def test_huge_frames_are_never_decoded_for_a_copy(client, live_server, tmp_path, monkeypatch):
    src = write_video(tmp_path / "old.mp4", seconds=0.5, codec="mpeg4", size=(640, 480))
    ref = _ref(client, live_server, src)
    monkeypatch.setenv("VLMRUN_MAX_DECODE_BYTES", str(640 * 480 * 4))
    monkeypatch.setattr(video_kind, "in_kernel", lambda: True)
    with pytest.raises(Exception, match="VLMRUN_MAX_DECODE_BYTES"):
        video_kind.live(ref, {})


def test_no_player_outside_a_kernel(client, live_server, tmp_path):
    src = write_video(tmp_path / "clip.mp4", seconds=1)
    assert video_kind.live(_ref(client, live_server, src), {}) == {}


def test_the_copy_keeps_the_source_timestamps(tmp_path):
    """A variable-rate source: the copy's frames keep their times (seeks and frame steps
    match the original), and it is scaled to fit MAX_EDGE with even sides."""
    import av

    src = tmp_path / "vfr.mp4"
    with av.open(str(src), "w") as c:
        vs = c.add_stream("mpeg4", rate=10)
        vs.width, vs.height, vs.pix_fmt = 1922, 1080, "yuv420p"
        vs.codec_context.time_base = Fraction(1, 1000)
        for i, ms in enumerate([0, 100, 150, 400, 1000]):
            f = av.VideoFrame.from_ndarray(np.full((1080, 1922, 3), i * 40, np.uint8), "rgb24")
            f.pts, f.time_base = ms, Fraction(1, 1000)
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
    out = proxy.transcode(src, tmp_path / "copy.mp4")
    with av.open(str(out)) as c:
        vs = c.streams.video[0]
        times = [round(float(f.time), 3) for f in c.decode(vs)]
        assert (vs.width, vs.height) == (960, 540)
    assert times == [0.0, 0.1, 0.15, 0.4, 1.0]
    assert hashlib.sha256(out.read_bytes()).hexdigest()  # a whole file, renamed into place
    assert [p.name for p in tmp_path.iterdir()] and not list(tmp_path.glob(".tmp-*"))


def test_two_players_of_one_file_make_one_copy(client, live_server, tmp_path, monkeypatch):
    """Displayed twice before the first copy is done: one copy is made, both views get
    the same bytes (never a file replaced while a view streams it)."""
    src = write_video(tmp_path / "old.mp4", seconds=2, codec="mpeg4")
    ref = _ref(client, live_server, src)
    made = []
    real = proxy.transcode

    def counted(*a, **k):
        made.append(a[1])
        time.sleep(0.3)  # long enough for the second view to ask meanwhile
        return real(*a, **k)

    monkeypatch.setattr(proxy, "transcode", counted)
    first, second = _player(ref, monkeypatch), _player(ref, monkeypatch)
    views = [View(first, "a"), View(second, "b")]
    for view in views:
        view.ask(type="open?")
    sizes = {view.wait_for("ready", "error").get("size") for view in views}
    assert len(made) == 1 and sizes == {first.streamed.stat().st_size}
    assert first.streamed == second.streamed
    first.close()
    second.close()


def test_a_contact_sheet_inside_a_card_says_where_the_player_is(tmp_path):
    from vlmrun_jupyter.display.budget import Budget
    from vlmrun_jupyter.display.registry import render_path

    src = write_video(tmp_path / "old.mp4", seconds=1, codec="mpeg4")
    ref = VideoRef(id="vid_card01")
    inside = render_path(ref, src, Budget(512 * 1024, html_only=True))[0]["text/html"]
    alone = render_path(ref, src, Budget(512 * 1024))[0]["text/html"]
    assert video_kind.INSIDE_A_CARD in inside and video_kind.INSIDE_A_CARD not in alone
    assert "not browser-playable" in inside


def test_the_static_output_stays_under_the_player(client, live_server, tmp_path, monkeypatch):
    """In a kernel a video over the inline budget displays as the player's widget view
    plus the contact sheet (what exporters, GitHub and a reopened notebook show), and the
    whole output stays within the budget."""
    import json

    from vlmrun_jupyter.display import kernel, pipeline
    from vlmrun_jupyter.display.budget import bundle_size

    monkeypatch.setenv("VLMRUN_INLINE_BUDGET", str(256 * 1024))
    src = write_video(tmp_path / "clip.mp4", seconds=2, qp=10)  # ~3 MB: over the budget
    ref = _ref(client, live_server, src)
    for module in (kernel, pipeline, video_kind):
        if hasattr(module, "in_kernel"):
            monkeypatch.setattr(module, "in_kernel", lambda: True)
    data, md = ref._repr_mimebundle_()
    assert set(data) >= {"text/plain", "text/html", video_kind.WIDGET_VIEW}
    assert "too large to embed" in data["text/html"] and "<img" in data["text/html"]
    assert "<video" not in data["text/html"]
    assert bundle_size(data, md) <= 256 * 1024
    assert len(json.dumps(data[video_kind.WIDGET_VIEW])) < 200  # a model id, no video


def test_a_view_gets_the_first_frame_as_a_poster_at_once(
    client, live_server, tmp_path, monkeypatch
):
    """Shown while the video loads (or its copy is made): a JPEG of the first frame,
    within the decode budget (over it: an empty poster, the video still plays)."""
    import io

    from PIL import Image

    src = write_video(tmp_path / "old.mp4", seconds=1, codec="mpeg4", size=(640, 480))
    widget = _player(_ref(client, live_server, src), monkeypatch)
    view = View(widget)
    view.ask(type="poster?")
    (content, buffers), *_ = view.inbox
    assert content == {"type": "poster", "view": "view1"}
    picture = Image.open(io.BytesIO(bytes(buffers[0])))
    assert (picture.format, picture.size) == ("JPEG", (640, 480))
    assert widget._making is None  # asked before "open?": no copy started for it
    monkeypatch.setenv("VLMRUN_MAX_DECODE_BYTES", str(640 * 480))
    view.inbox.clear()
    view.ask(type="poster?")
    assert view.inbox[0][0]["type"] == "poster" and bytes(view.inbox[0][1][0]) == b""
    widget.close()
