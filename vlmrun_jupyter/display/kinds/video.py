"""Videos: an inline player when the file fits the budget and browsers can play it,
else a contact sheet (frames found by seeking, never decoding the whole file) plus
duration, resolution, codec and size.

Browser-playable means an MP4 holding H.264 in yuv420p (not the lossless High 4:4:4
profile) with AAC or MP3 audio (or none). Debian's Chromium plays these (checked by
tests/test_render_browser.py). `codec_name` and `duration_of` are shared with the audio
renderer.

In a live kernel `live` adds a player on top (`player.video.VideoPlayer`, `kinds.KINDS
["video"].viewer`) that plays and seeks a video of any size: the file's bytes streamed
in chunks when a browser can play it, else a playable copy made on first play and kept
beside the artifact. The static bundle stays underneath for exporters and saved
notebooks.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...refs import BaseRef
from ...session import cache_for
from ..budget import CHROME, Budget, Bundle, decode_budget, over_decode_budget
from ..html import b64_len, caption, frame, human_duration, human_size, note, plain, player
from ..kernel import WIDGET_VIEW as WIDGET_VIEW  # tests read it here
from ..kernel import in_kernel, widget_view
from ..pictures import picture
from ..registry import KindRenderer

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

PLAYABLE_VIDEO = {"h264"}
PLAYABLE_PIX = {"yuv420p", "yuvj420p"}
PLAYABLE_AUDIO = {None, "aac", "mp3"}
SHEET_FRAMES = 6
FRAME_BYTES_PER_PIXEL = 8  # YUV + RGB + the PIL copy of one decoded frame, with slack
SHEET_COLUMNS = 3
VIEWER_NAME = "video player"
INSIDE_A_CARD = (
    f"in a live kernel, “open {VIEWER_NAME}” under the card (or the ref displayed alone) plays it"
)


@dataclass
class VideoInfo:
    container: str
    duration: float | None
    width: int
    height: int
    codec: str
    pix_fmt: str | None
    audio: str | None
    fps: float | None
    profile: str | None = None

    @property
    def playable(self) -> bool:
        return (
            "mp4" in self.container.split(",")
            and self.codec in PLAYABLE_VIDEO
            and (self.pix_fmt or "") in PLAYABLE_PIX
            and "4:4:4" not in (self.profile or "")  # lossless x264: browsers refuse it
            and self.audio in PLAYABLE_AUDIO
        )

    def facts(self, size: int) -> list[str]:
        codec = self.codec + (f"+{self.audio}" if self.audio else "")
        return [
            f"{self.width}x{self.height}",
            human_duration(self.duration),
            codec,
            human_size(size),
        ]


def codec_name(decoder: str) -> str:
    """Decoder names to codec names ('mp3float' -> 'mp3', 'aac_fixed' -> 'aac')."""
    for base in ("mp3", "aac"):
        if decoder.startswith(base):
            return base
    return decoder


def duration_of(container: Any, stream: Any) -> float | None:
    """Seconds, from the stream's header, else the container's (PyAV objects)."""
    import av

    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def probe(path: Path) -> VideoInfo:
    """Container metadata only (reads headers, decodes nothing)."""
    import av

    with av.open(str(path)) as c:
        if not c.streams.video:
            raise ValueError("the file has no video stream")
        vs = c.streams.video[0]
        aud = codec_name(c.streams.audio[0].codec_context.name) if c.streams.audio else None
        return VideoInfo(
            container=c.format.name,
            duration=duration_of(c, vs),
            width=vs.codec_context.width,
            height=vs.codec_context.height,
            codec=vs.codec_context.name,
            pix_fmt=vs.codec_context.pix_fmt,
            audio=aud,
            fps=float(vs.average_rate) if vs.average_rate else None,
            profile=vs.codec_context.profile,
        )


def frames_at(path: Path, times: list[float], tile: int) -> list[tuple[float, Image.Image]]:
    """One frame near each time (the keyframe at or before it), downscaled to `tile` px.
    Seeks for each, so a 300 MB file costs a handful of frame decodes."""
    import av
    from PIL import Image

    out: list[tuple[float, Image.Image]] = []
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        tb = vs.time_base
        for t in times:
            try:
                if t > 0 and tb:
                    c.seek(int(t / tb), stream=vs, backward=True, any_frame=False)
                frame = next(c.decode(vs), None)
            except (av.error.FFmpegError, StopIteration):
                frame = None
            if frame is None:
                continue
            im = frame.to_image()
            im.thumbnail((tile, tile), Image.Resampling.BILINEAR)
            when = float(frame.pts * tb) if frame.pts is not None and tb else t
            out.append((when, im))
    return out


def contact_sheet(path: Path, info: VideoInfo, n: int, tile: int) -> Image.Image | None:
    """Frames at evenly spaced times, in a grid, each labelled with its time."""
    from PIL import Image, ImageDraw, ImageFont

    d = info.duration or 0.0
    times = [d * (i + 0.5) / n for i in range(n)] if d > 0 and n > 1 else [0.0]
    shots = frames_at(path, times, tile)
    if not shots:
        return None
    if len(shots) == 1:
        return shots[0][1]
    cols = min(SHEET_COLUMNS, len(shots))
    rows = -(-len(shots) // cols)
    w = max(im.width for _, im in shots)
    h = max(im.height for _, im in shots)
    gap = 4
    sheet = Image.new(
        "RGB", (cols * w + (cols - 1) * gap, rows * h + (rows - 1) * gap), (24, 24, 24)
    )
    draw = ImageDraw.Draw(sheet)
    # Pillow's bundled scalable font, sized to the tile: the sheet is shown shrunk to the
    # output's width, and the 11-pixel bitmap default became unreadable there.
    font = ImageFont.load_default(size=max(16, w // 12))
    pad = max(3, w // 100)
    for i, (when, im) in enumerate(shots):
        x, y = (i % cols) * (w + gap), (i // cols) * (h + gap)
        sheet.paste(im, (x, y))
        label = human_duration(when)
        left, top, right, bottom = draw.textbbox((x + 2 * pad, y + 2 * pad), label, font=font)
        draw.rectangle((left - pad, top - pad, right + pad, bottom + pad), fill=(0, 0, 0))
        draw.text((x + 2 * pad, y + 2 * pad), label, fill=(255, 255, 255), font=font)
    return sheet


def too_large(size: int, budget: Budget) -> str:
    """Why a playable file is not embedded (shared with the audio renderer)."""
    return f"too large to embed ({human_size(size)} > {human_size(budget.bytes)} budget)"


def render(ref: BaseRef, path: Path, budget: Budget) -> Bundle:
    info = probe(path)
    size = path.stat().st_size
    facts = info.facts(size)
    text = plain(ref, *facts)
    if info.playable and b64_len(size) + CHROME <= budget.bytes:
        body = player("video", "video/mp4", path.read_bytes(), min(info.width, 960) or None)
        return {"text/plain": text, "text/html": frame(body, caption(ref, *facts))}, {}
    if not info.playable:
        box = "mp4" if "mp4" in info.container.split(",") else info.container.split(",")[0]
        why = f"{info.codec}/{info.pix_fmt} in {box} is not browser-playable"
    else:
        why = too_large(size, budget)
    if budget.html_only:  # inside a result card: say where the player is
        why = f"{why}; {INSIDE_A_CARD}"
    # a frame is decoded whole (YUV, then RGB, then a PIL copy) before it is shrunk:
    # its declared size is checked first (12000x12000 MJPEG frames took 2 GB)
    needs, limit = info.width * info.height * FRAME_BYTES_PER_PIXEL, decode_budget()
    if needs > limit:
        raise over_decode_budget(f"a {info.width}x{info.height} video frame", needs, limit)
    n = 1 if budget.thumbnail else SHEET_FRAMES
    tile = min(budget.max_edge, 480 if n == 1 else 400)
    sheet = contact_sheet(path, info, n, tile)
    body = (
        picture(sheet, budget.media(), budget.max_edge, alt=f"frames of {ref.id}")
        if sheet is not None
        else note("no frame could be decoded")
    )
    return {"text/plain": text, "text/html": frame(body, caption(ref, *facts, note=why))}, {}


PROXY = "player.v1"  # the playable copy's file names beside the artifact
DIRECT_BYTES = 512 * 1024 * 1024  # larger playable files stream as a copy (browser memory)


def _proxy_for(ref: BaseRef, path: Path) -> tuple[Path, Any]:
    """Where the playable copy of this download lives, and the cache to tell once it is
    made. A copy made from an earlier download of the artifact is removed."""
    cache = cache_for(ref)
    target = cache.preview_path(ref, f"{PROXY}.mp4")
    stamp_file = cache.preview_path(ref, f"{PROXY}.json")
    st = path.stat()
    stamp = [st.st_size, st.st_ino]
    try:
        known = json.loads(stamp_file.read_text("utf-8")) == stamp
    except (OSError, ValueError):
        known = False
    if not known:
        with contextlib.suppress(OSError):
            target.unlink()
        stamp_file.write_text(json.dumps(stamp), "utf-8")
        cache.note(stamp_file)
    return target, cache


POSTER_EDGE = 960


def _poster(path: Path, info: VideoInfo) -> Callable[[], bytes]:
    """The first frame as a JPEG, made when a view asks (shown while the video loads);
    b"" where the frame would not fit the decode budget or does not decode."""

    def poster() -> bytes:
        import io

        if info.width * info.height * FRAME_BYTES_PER_PIXEL > decode_budget():
            return b""
        shots = frames_at(path, [0.0], POSTER_EDGE)
        if not shots:
            return b""
        out = io.BytesIO()
        shots[0][1].convert("RGB").save(out, format="JPEG", quality=85)
        return out.getvalue()

    return poster


def make_viewer(ref: BaseRef, data: dict[str, Any]) -> Any:
    """A player of the video (None outside a kernel). Its frames are decoded in the
    kernel only for a copy, and only within the decode budget."""
    if not in_kernel():
        return None
    from ...player import video as player_video

    if not player_video.available():
        return None
    path = ref.fetch()
    info = probe(path)
    size = path.stat().st_size
    proxy_to, on_copy, why = None, None, ""
    if not info.playable or size > DIRECT_BYTES:
        needs, limit = info.width * info.height * FRAME_BYTES_PER_PIXEL, decode_budget()
        if needs > limit:
            raise over_decode_budget(f"a {info.width}x{info.height} video frame", needs, limit)
        proxy_to, cache = _proxy_for(ref, path)
        on_copy = cache.note
        why = "a playable copy" if info.playable else f"a playable copy ({info.codec})"
    return player_video.VideoPlayer.for_file(
        path,
        fps=info.fps,
        duration=info.duration,
        width=info.width,
        height=info.height,
        proxy_to=proxy_to,
        on_copy=on_copy,
        poster=_poster(path, info),
        note=why,
        title=f"{type(ref).__name__} · {ref.id}",
        cache_dir=cache_for(ref).cache_dir,
    )


def live(ref: BaseRef, data: dict[str, Any]) -> dict[str, Any]:
    """The widget view of `make_viewer` (empty outside a kernel)."""
    return widget_view(make_viewer(ref, data))


# 2: readable contact-sheet times; 3: lossless H.264 is not embedded as playable, and a
# contact sheet inside a card says where the player is; 4: ... and that the card offers it
RENDERER = KindRenderer(render, version=4, live=live, viewer=make_viewer, viewer_name=VIEWER_NAME)
