"""A browser-playable copy of a video (H.264 yuv420p + AAC in MP4), made with PyAV.

The player streams a video's own bytes when a browser can play them; for other codecs
(or files too large to hand to a browser whole) it streams this copy instead. It is made
one frame at a time (decode, scale down to `max_edge`, encode), so the kernel never holds
more than a few frames whatever the input's length; its frame timestamps are the
source's, so durations, seeks and frame steps match the original. It is written to a
pid-stamped temp file and renamed into place, so a reader (or the cache after a crash)
never sees half a copy.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

from .._files import open_temp

MAX_EDGE = 960  # the copy's longest side; enough for a notebook output
CRF = "26"
PROGRESS_EVERY_S = 0.5


def _size(width: int, height: int, max_edge: int) -> tuple[int, int]:
    """Scaled to fit `max_edge`, both even (yuv420p needs it)."""
    scale = min(1.0, max_edge / max(width, height, 1))
    even = lambda v: max(2, int(round(v * scale / 2)) * 2)  # noqa: E731
    return even(width), even(height)


def _video_encoder() -> str:
    import av

    for name in ("libx264", "h264"):
        if name in av.codecs_available:
            return name
    raise RuntimeError("this PyAV build has no H.264 encoder to make a playable copy")


def _audio_out(out: Any, source: Any) -> tuple[Any, Any] | None:
    """An AAC stream and a resampler feeding it fixed-size frames, or None if this build
    cannot (the copy is then silent rather than missing)."""
    import av

    try:
        stream = out.add_stream("aac", rate=48000)
        stream.layout = "stereo"
        size = stream.codec_context.frame_size or 1024
        return stream, av.AudioResampler(
            format="fltp", layout="stereo", rate=48000, frame_size=size
        )
    except Exception:  # no AAC encoder, or an old PyAV without frame_size
        return None


def transcode(
    src: Path,
    dst: Path,
    *,
    max_edge: int = MAX_EDGE,
    progress: Callable[[float], None] | None = None,
) -> Path:
    """Write a browser-playable copy of `src` to `dst` (atomically) and return `dst`.
    `progress(fraction)` is called about twice a second. Raises `ValueError` for a file
    that holds no decodable video."""
    import av

    fd, tmp_name = open_temp(dst.parent, ".mp4")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with av.open(str(src)) as inp:
            if not inp.streams.video:
                raise ValueError("the file has no video stream")
            vin = inp.streams.video[0]
            vin.thread_type = "AUTO"
            ain = inp.streams.audio[0] if inp.streams.audio else None
            duration = float(inp.duration / av.time_base) if inp.duration else 0.0
            with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
                _copy(inp, vin, ain, out, max_edge, duration, progress)
        if tmp.stat().st_size == 0:
            raise ValueError("no frame could be decoded")
        os.replace(tmp, dst)
        return dst
    except av.error.FFmpegError as exc:
        raise ValueError(f"the video could not be decoded: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _copy(
    inp: Any,
    vin: Any,
    ain: Any,
    out: Any,
    max_edge: int,
    duration: float,
    progress: Callable[[float], None] | None,
) -> None:
    """Decode, scale and encode every frame, keeping the source's timestamps."""
    import av

    rate = vin.average_rate or vin.guessed_rate or Fraction(24)
    vout = out.add_stream(_video_encoder(), rate=rate)
    w, h = _size(vin.codec_context.width, vin.codec_context.height, max_edge)
    vout.width, vout.height, vout.pix_fmt = w, h, "yuv420p"
    vout.codec_context.time_base = vin.time_base or Fraction(1, int(rate) or 24)
    vout.options = {"preset": "veryfast", "crf": CRF}
    audio = _audio_out(out, ain) if ain is not None else None
    streams = [vin] + ([ain] if audio else [])
    last_pts, frames, said = None, 0, time.monotonic()
    for packet in inp.demux(*streams):
        try:
            decoded = packet.decode()
        except av.error.FFmpegError:  # a damaged packet: skip it, as players do
            continue
        for frame in decoded:
            if packet.stream is vin:
                pts = frame.pts
                if pts is None or (last_pts is not None and pts <= last_pts):
                    pts = (last_pts or 0) + 1  # keep them increasing
                last_pts = pts
                small = frame.reformat(width=w, height=h, format="yuv420p")
                small.pts, small.time_base = pts, vout.codec_context.time_base
                for p in vout.encode(small):
                    out.mux(p)
                frames += 1
                now = time.monotonic()
                if progress and duration and frame.time and now - said > PROGRESS_EVERY_S:
                    said = now
                    progress(min(1.0, frame.time / duration))
            elif audio:
                stream, resampler = audio
                frame.pts = None
                for chunk in resampler.resample(frame):
                    for p in stream.encode(chunk):
                        out.mux(p)
    if frames == 0:
        raise ValueError("no frame could be decoded")
    for p in vout.encode():
        out.mux(p)
    if audio:
        stream, resampler = audio
        for chunk in resampler.resample(None):
            for p in stream.encode(chunk):
                out.mux(p)
        for p in stream.encode():
            out.mux(p)
