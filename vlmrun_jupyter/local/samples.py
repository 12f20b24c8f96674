"""Deterministic sample media for demos, notebooks and tests (no downloads).

Every function returns the same bytes for the same arguments, so outputs of the
local server built from them are reproducible too.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .media import mux, video_writer


def _face(draw: ImageDraw.ImageDraw, cx: int, cy: int, r: int) -> None:
    """A frontal face simple enough to draw, real enough for a Haar face detector."""
    skin, dark = (224, 182, 150), (40, 28, 24)
    draw.ellipse([cx - r, cy - int(r * 1.25), cx + r, cy + int(r * 1.25)], fill=skin)
    draw.ellipse(
        [cx - r, cy - int(r * 1.35), cx + r, cy - int(r * 0.55)], fill=(70, 45, 30)
    )  # hair
    ey, ex, ew, eh = cy - int(r * 0.2), int(r * 0.42), int(r * 0.22), int(r * 0.11)
    for side in (-1, 1):
        x = cx + side * ex
        draw.rectangle([x - ew, ey - int(eh * 2.6), x + ew, ey - int(eh * 1.8)], fill=dark)  # brow
        draw.ellipse([x - ew, ey - eh, x + ew, ey + eh], fill=(250, 250, 250))
        draw.ellipse([x - eh, ey - eh, x + eh, ey + eh], fill=dark)
    draw.polygon(
        [
            (cx, ey),
            (cx - int(r * 0.14), cy + int(r * 0.3)),
            (cx + int(r * 0.14), cy + int(r * 0.3)),
        ],
        fill=(196, 150, 120),
    )
    my = cy + int(r * 0.62)
    draw.ellipse(
        [cx - int(r * 0.36), my - int(r * 0.1), cx + int(r * 0.36), my + int(r * 0.1)],
        fill=(150, 60, 60),
    )


def sample_image(width: int = 640, height: int = 480, faces: bool = True) -> Image.Image:
    """A scene: sky gradient, ground, a sun, a house, and (optionally) two faces."""
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    sky = np.stack([90 + 80 * y, 150 + 70 * y, 230 - 20 * y], axis=-1) * np.ones((1, width, 1))
    img = Image.fromarray(sky.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, int(height * 0.72), width, height], fill=(70, 140, 60))
    draw.ellipse([width - 120, 30, width - 50, 100], fill=(255, 220, 80))
    draw.rectangle([40, int(height * 0.45), 200, int(height * 0.75)], fill=(180, 80, 60))
    draw.polygon(
        [(30, int(height * 0.46)), (120, int(height * 0.3)), (210, int(height * 0.46))],
        fill=(110, 50, 40),
    )
    if faces:
        r = max(24, height // 8)
        _face(draw, int(width * 0.5), int(height * 0.48), r)
        _face(draw, int(width * 0.78), int(height * 0.55), int(r * 0.9))
    return img.filter(ImageFilter.GaussianBlur(0.8))


def sample_person(width: int = 360, height: int = 640) -> Image.Image:
    """A standing figure on a plain studio backdrop: a detectable face, a body, arms, legs."""
    img = Image.new("RGB", (width, height), (236, 236, 240))
    draw = ImageDraw.Draw(img)
    cx, r = width // 2, max(24, width // 9)
    head_y = int(height * 0.16)
    body = (120, 120, 130)  # a plain grey undershirt the garment goes over
    draw.rectangle(
        [cx - int(r * 0.45), head_y + r, cx + int(r * 0.45), head_y + int(r * 1.7)],
        fill=(214, 172, 140),
    )  # neck
    top, hip = head_y + int(r * 1.6), int(height * 0.62)
    draw.rounded_rectangle([cx - int(r * 1.6), top, cx + int(r * 1.6), hip], r // 2, fill=body)
    for side in (-1, 1):  # arms, legs
        x = cx + side * int(r * 1.9)
        draw.rounded_rectangle(
            [x - r // 3, top + r // 4, x + r // 3, int(height * 0.6)], r // 4, fill=(214, 172, 140)
        )
        lx = cx + side * int(r * 0.7)
        draw.rectangle([lx - r // 2, hip, lx + r // 2, int(height * 0.95)], fill=(50, 60, 90))
    _face(draw, cx, head_y, r)
    return img.filter(ImageFilter.GaussianBlur(0.6))


def sample_garment(width: int = 300, height: int = 420) -> Image.Image:
    """A dress on a white background (no alpha, as product photos usually are)."""
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    cx = width // 2
    red, trim = (200, 40, 70), (120, 20, 40)
    draw.polygon(
        [
            (cx - width * 0.22, height * 0.05),
            (cx + width * 0.22, height * 0.05),
            (cx + width * 0.28, height * 0.35),
            (cx + width * 0.46, height * 0.95),
            (cx - width * 0.46, height * 0.95),
            (cx - width * 0.28, height * 0.35),
        ],
        fill=red,
    )
    draw.rectangle([cx - width * 0.28, height * 0.33, cx + width * 0.28, height * 0.38], fill=trim)
    for i in range(6):  # a pattern, so views and scaling are visible
        y = height * (0.45 + i * 0.08)
        draw.ellipse([cx - 10, y - 10, cx + 10, y + 10], fill=(250, 220, 230))
    return img


def image_bytes(img: Image.Image, format: str = "JPEG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=format, quality=92) if format.upper() == "JPEG" else img.save(
        buf, format=format
    )
    return buf.getvalue()


def sample_video(
    path: str | Path,
    seconds: float = 4.0,
    fps: int = 24,
    size: tuple[int, int] = (320, 240),
    tone_hz: float = 440.0,
) -> Path:
    """An H.264/AAC mp4: a moving bar over the sample scene with a frame counter, and a tone."""
    import av

    path = Path(path)
    w, h = size
    base = np.asarray(sample_image(w, h, faces=True))
    n = int(round(seconds * fps))
    with av.open(str(path), "w", format="mp4") as out:
        vs = video_writer(out, fps, w, h)
        aus = out.add_stream("aac", rate=44100)
        aus.layout = "mono"
        for i in range(n):
            frame = base.copy()
            x = int((i / max(1, n - 1)) * (w - 24))
            frame[:, x : x + 24] = (255 - 8 * (i % 24), 40, 40 + 8 * (i % 24))
            # a per-frame stripe encodes the frame index, so tests can check which frames survived
            frame[: h // 16, : w // 4] = (i * 37) % 256
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = i
            vf.time_base = Fraction(1, fps)
            mux(out, vs, vf)
        mux(out, vs)
        sr = 44100
        total = int(seconds * sr)
        t = np.arange(total, dtype=np.float64) / sr
        tone = (0.25 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
        for start in range(0, total, 4410):
            chunk = tone[start : start + 4410][None, :]
            af = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            af.sample_rate = sr
            af.pts = start
            mux(out, aus, af)
        mux(out, aus)
    return path


def sample_pdf(path: str | Path, pages: int = 3) -> Path:
    """A text-like multi-page PDF (title band, paragraphs of bars, a page number)."""
    path = Path(path)
    images = []
    for p in range(pages):
        page = Image.new("RGB", (612, 792), "white")
        d = ImageDraw.Draw(page)
        d.rectangle([60, 60, 552, 110], fill=(30, 60, 120))
        for line in range(18):
            y = 150 + line * 30
            width = 380 + ((line * 53 + p * 17) % 100)
            d.rectangle([60, y, 60 + width, y + 12], fill=(60, 60, 60))
        d.text((290, 740), f"page {p + 1}", fill=(0, 0, 0))
        images.append(page)
    images[0].save(path, "PDF", save_all=True, append_images=images[1:], resolution=72.0)
    return path


def data_url(data: bytes, content_type: str) -> str:
    import base64

    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"
