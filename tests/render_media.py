"""Real media files for the rendering tests, generated small and fast (fixed seeds)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

RNG_SEED = 1234


def photo(path: Path, w: int = 1920, h: int = 1080, alpha: bool = False) -> Path:
    """A gradient with shapes (JPEG, or PNG with transparency)."""
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    rgb = np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], axis=2).astype(np.uint8)
    im = Image.fromarray(rgb, "RGB")
    ImageDraw.Draw(im).ellipse((w // 4, h // 4, w // 2, h // 2), fill=(250, 200, 30))
    if alpha:
        im = im.convert("RGBA")
        im.putalpha(Image.fromarray(np.tile(np.linspace(40, 255, w, dtype=np.uint8), (h, 1)), "L"))
        im.save(path, "PNG")
    else:
        im.save(path, "JPEG", quality=90)
    return path


def _audio_frames(stream: av.audio.stream.AudioStream, seconds: float, rate: int = 44100):
    fmt = stream.codec_context.format.name
    t = np.arange(int(rate * seconds)) / rate
    wave = (0.4 * np.sin(2 * np.pi * 440 * t) * np.linspace(0, 1, t.size)).astype(np.float32)
    for k in range(0, wave.size, 1152):
        chunk = wave[k : k + 1152]
        planar = np.stack([chunk, chunk])
        if fmt.startswith("s32"):
            planar = (planar * (2**31 - 1)).astype(np.int32)
        elif fmt.startswith("s16"):
            planar = (planar * 32767).astype(np.int16)
        arr = planar if fmt.endswith("p") else planar.T.reshape(1, -1)
        fr = av.AudioFrame.from_ndarray(arr, format=fmt, layout="stereo")
        fr.sample_rate = rate
        yield fr


def video(
    path: Path,
    codec: str = "libx264",
    audio: str | None = "aac",
    seconds: float = 2.0,
    size: tuple[int, int] = (320, 240),
    pix_fmt: str = "yuv420p",
    fps: int = 24,
) -> Path:
    """A moving bar (and a tone), e.g. H.264+AAC in MP4, or mjpeg for a non-playable one."""
    w, h = size
    with av.open(str(path), "w") as c:
        vs = c.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        a = c.add_stream(audio, rate=44100) if audio else None
        for i in range(int(seconds * fps)):
            img = np.full((h, w, 3), 40, np.uint8)
            x = (i * 7) % max(1, w - 20)
            img[:, x : x + 20] = (240, 200, 40)
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        if a is not None:
            for fr in _audio_frames(a, seconds):
                for p in a.encode(fr):
                    c.mux(p)
            for p in a.encode():
                c.mux(p)
    return path


def mp3(path: Path, seconds: float = 2.0) -> Path:
    with av.open(str(path), "w", format="mp3") as c:
        a = c.add_stream("libmp3lame", rate=44100)
        for fr in _audio_frames(a, seconds):
            for p in a.encode(fr):
                c.mux(p)
        for p in a.encode():
            c.mux(p)
    return path


def pdf(path: Path, pages: int = 3, title: str | None = None) -> Path:
    ims = []
    for i in range(pages):
        im = Image.new("RGB", (612, 792), "white")
        d = ImageDraw.Draw(im)
        d.rectangle((60, 60, 552, 140), fill=(30, 60, 160))
        d.text((70, 180), f"Page {i + 1}", fill="black")
        ims.append(im)
    extra = {"title": title} if title else {}
    ims[0].save(path, "PDF", save_all=True, append_images=ims[1:], resolution=72, **extra)
    return path


def npy(path: Path, shape: tuple[int, ...] = (120, 160), nan: int = 3) -> Path:
    a = np.random.default_rng(RNG_SEED).random(shape).astype(np.float32)
    a.reshape(-1)[:nan] = np.nan
    np.save(path, a)
    return path


def spz(path: Path, points: int = 1000, sh: int = 0) -> Path:
    """A valid SPZ v2 file (gzip, 16-byte header, attribute blocks)."""
    header = struct.pack("<IIIBBBB", 0x5053474E, 2, points, sh, 12, 0, 0)
    body = bytes(points * (9 + 1 + 3 + 3 + 3))
    with gzip.open(path, "wb") as f:
        f.write(header + body)
    return path
