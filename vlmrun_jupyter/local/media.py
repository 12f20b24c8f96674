"""Real media operations of the local server (Pillow, OpenCV, PyAV, pypdfium2).

Each function reads input files and writes output files; nothing here knows
about HTTP or schemas. Outputs are deterministic for the same inputs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

Box = tuple[int, int, int, int]  # x, y, w, h in pixels


# -- images --------------------------------------------------------------------------------


def open_image(path: Path) -> Image.Image:
    with Image.open(path) as im:
        im.load()
        return ImageOps.exif_transpose(im).convert("RGB")


def save_image(img: Image.Image, path: Path) -> Path:
    img.save(path, "JPEG", quality=92)
    return path


_cv2_lock = threading.Lock()


def _cv2() -> Any:
    """OpenCV, imported under a lock: its first import is not thread-safe (requests arriving
    together saw a half-initialised module without `cv2.data` and answered 500)."""
    with _cv2_lock:
        import cv2
        import cv2.data  # noqa: F401

    return cv2


def detect_faces(img: Image.Image) -> list[Box]:
    """Frontal faces with OpenCV's bundled Haar cascade (sorted, deterministic)."""
    cv2 = _cv2()
    gray = cv2.cvtColor(np.asarray(img.convert("RGB")), cv2.COLOR_RGB2GRAY)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_alt2.xml")
    found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3, minSize=(24, 24))
    return sorted((int(x), int(y), int(w), int(h)) for x, y, w, h in (found if len(found) else []))


def blur(
    img: Image.Image, boxes: list[Box] | None = None, radius: float | None = None
) -> Image.Image:
    """Gaussian blur of the whole image, or only inside `boxes` (slightly enlarged)."""
    if boxes is None:
        return img.filter(ImageFilter.GaussianBlur(radius or max(4.0, img.width / 80)))
    out = img.copy()
    for x, y, w, h in boxes:
        pad = int(0.1 * max(w, h))
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(img.width, x + w + pad), min(img.height, y + h + pad)
        region = img.crop((x0, y0, x1, y1)).filter(
            ImageFilter.GaussianBlur(radius or max(6.0, w / 6))
        )
        out.paste(region, (x0, y0))
    return out


def depth_map(img: Image.Image) -> np.ndarray:
    from ..splat.relief import estimate_depth

    return estimate_depth(img)


def mask(img: Image.Image) -> np.ndarray:
    """Foreground mask by Otsu's threshold on luminance (uint8, 0/1)."""
    cv2 = _cv2()
    gray = cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2GRAY)
    _, m = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    return m.astype(np.uint8)


# -- video and audio -------------------------------------------------------------------------


@dataclass
class VideoInfo:
    duration: float
    width: int
    height: int
    fps: float
    frames: int
    has_audio: bool


def video_info(path: Path) -> VideoInfo:
    import av

    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        fps = float(vs.average_rate or vs.guessed_rate or 25)
        duration = (
            float(c.duration / 1_000_000) if c.duration else float(vs.duration * vs.time_base)
        )
        frames = vs.frames or int(round(duration * fps))
        return VideoInfo(
            duration,
            vs.codec_context.width,
            vs.codec_context.height,
            fps,
            frames,
            bool(c.streams.audio),
        )


# x264's macroblock-tree rate control gave different bytes for the same frames from run to
# run (measured with this PyAV/FFmpeg build); without it the output is byte-for-byte stable.
X264_OPTIONS = {"crf": "23", "preset": "veryfast", "x264-params": "mbtree=0"}


def video_writer(out, fps: Fraction | int, width: int, height: int):
    """An H.264/yuv420p stream on `out` that gives the same bytes for the same frames."""
    vs = out.add_stream("libx264", rate=fps)
    vs.width, vs.height, vs.pix_fmt = width - width % 2, height - height % 2, "yuv420p"
    vs.options = dict(X264_OPTIONS)
    return vs


def mux(out: Any, stream: Any, frame: Any = None) -> None:
    """Encode `frame` on `stream` and write its packets to `out` (no frame: flush)."""
    for packet in stream.encode(frame):
        out.mux(packet)


def trim(src: Path, dst: Path, start: float, end: float) -> tuple[float, float, int]:
    """Re-encode [start, end) as H.264/yuv420p + AAC. Returns (start, end, frames kept)."""
    import av

    kept = 0
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4") as out:
        ivs = inp.streams.video[0]
        rate = ivs.average_rate or Fraction(25)
        ovs = video_writer(out, rate, ivs.codec_context.width, ivs.codec_context.height)
        oas = None
        if inp.streams.audio:
            ias = inp.streams.audio[0]
            oas = out.add_stream("aac", rate=ias.codec_context.sample_rate or 44100)
            oas.layout = "mono" if ias.codec_context.channels == 1 else "stereo"
        first_t = None
        for frame in inp.decode(video=0):
            t = frame.time or 0.0
            if t < start - 1e-6:
                continue
            if t >= end - 1e-6:
                break
            if first_t is None:
                first_t = t
            img = frame.reformat(width=ovs.width, height=ovs.height, format="yuv420p")
            img.pts = kept
            img.time_base = 1 / Fraction(rate)
            mux(out, ovs, img)
            kept += 1
        mux(out, ovs)
        if oas is not None:
            inp.seek(0)
            for frame in inp.decode(audio=0):
                t = frame.time or 0.0
                if t + frame.samples / frame.sample_rate <= start or t >= end:
                    continue
                frame.pts = None
                mux(out, oas, frame)
            mux(out, oas)
    return start, min(end, start + kept / float(rate)), kept


def key_frames(src: Path, n: int) -> list[tuple[float, Image.Image]]:
    """`n` frames evenly spread over the video, with their real presentation times."""
    import av

    info = video_info(src)
    targets = [info.duration * (i + 0.5) / n for i in range(n)]
    frames: list[tuple[float, Image.Image]] = []
    with av.open(str(src)) as c:
        vs = c.streams.video[0]
        for target in targets:
            c.seek(int(target / vs.time_base), stream=vs, backward=True, any_frame=False)
            chosen = None
            for frame in c.decode(vs):
                chosen = frame
                if (frame.time or 0.0) >= target - 1e-6:
                    break
            if chosen is not None:
                frames.append(
                    (round(float(chosen.time or 0.0), 3), chosen.to_image().convert("RGB"))
                )
    return frames


def extract_audio(src: Path, dst: Path) -> float:
    """The audio track as MP3 (libmp3lame). Returns its duration in seconds."""
    import av

    samples = 0
    rate = 44100
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp3") as out:
        if not inp.streams.audio:
            raise ValueError("the video has no audio track")
        ias = inp.streams.audio[0]
        rate = ias.codec_context.sample_rate or 44100
        oas = out.add_stream("libmp3lame", rate=rate)
        oas.layout = "mono" if ias.codec_context.channels == 1 else "stereo"
        for frame in inp.decode(audio=0):
            samples += frame.samples
            frame.pts = None
            mux(out, oas, frame)
        mux(out, oas)
    return samples / rate


def images_to_video(
    images: list[Image.Image], dst: Path, seconds_each: float = 1.0, fps: int = 10
) -> float:
    """A slideshow mp4 (H.264) at the first image's size."""
    import av

    w, h = images[0].size
    w, h = w - w % 2, h - h % 2
    index = 0
    with av.open(str(dst), "w", format="mp4") as out:
        vs = video_writer(out, Fraction(fps), w, h)
        for img in images:
            frame_img = img.convert("RGB").resize((w, h))
            for _ in range(max(1, int(round(seconds_each * fps)))):
                vf = av.VideoFrame.from_image(frame_img)
                vf.pts = index
                vf.time_base = Fraction(1, fps)
                index += 1
                mux(out, vs, vf)
        mux(out, vs)
    return index / fps


# -- documents -------------------------------------------------------------------------------


def images_to_pdf(images: list[Image.Image], dst: Path, title: str = "Document") -> int:
    pages = [im.convert("RGB") for im in images]
    pages[0].save(dst, "PDF", save_all=True, append_images=pages[1:], resolution=72.0, title=title)
    return len(pages)


def render_pages(src: Path, scale: float = 2.0, limit: int | None = None) -> list[Image.Image]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(src))
    try:
        count = len(pdf) if limit is None else min(limit, len(pdf))
        return [pdf[i].render(scale=scale).to_pil().convert("RGB") for i in range(count)]
    finally:
        pdf.close()


def page_count(src: Path) -> int:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(src))
    try:
        return len(pdf)
    finally:
        pdf.close()


def redact(
    src: Path, dst: Path, regions: list[tuple[int, tuple[float, float, float, float]]]
) -> int:
    """Rasterise every page and paint black boxes, so the redacted content is really gone.

    `regions` are (page index or -1 for every page, (x, y, w, h) as fractions of the page).
    """
    pages = render_pages(src, scale=2.0)
    for i, page in enumerate(pages):
        draw = ImageDraw.Draw(page)
        for p, (x, y, w, h) in regions:
            if p in (-1, i):
                W, H = page.size
                draw.rectangle(
                    [int(x * W), int(y * H), int((x + w) * W) - 1, int((y + h) * H) - 1],
                    fill=(0, 0, 0),
                )
    pages[0].save(
        dst,
        "PDF",
        save_all=True,
        append_images=pages[1:],
        resolution=144.0,
        title="Redacted document",
    )
    return len(pages)
