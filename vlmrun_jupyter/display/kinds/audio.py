"""Audio: an inline player (`audio` element with controls) within budget, else a waveform image
computed by a streaming decode (one frame at a time, constant memory), plus duration."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ...kinds import HEAD_BYTES, sniff
from ...refs import BaseRef
from ..budget import CHROME, Budget, Bundle
from ..html import ACCENT, b64_len, caption, frame, human_duration, human_size, plain, player
from ..pictures import picture
from ..registry import KindRenderer
from .video import codec_name, duration_of, too_large

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image

WAVE_W, WAVE_H = 800, 120


def browser_mime(path: Path) -> str | None:
    """The media type an `<audio>` element plays the file as, from its first bytes (an
    ISO media file is audio/mp4 here, whatever its brand), or None."""
    with open(path, "rb") as f:
        mime = sniff(f.read(HEAD_BYTES))
    if mime == "video/mp4":
        return "audio/mp4"
    return mime if mime is not None and mime.startswith("audio/") else None


def probe(path: Path) -> tuple[float | None, str, int, int]:
    """(duration seconds, codec, sample rate, channels) from the headers."""
    import av

    with av.open(str(path)) as c:
        if not c.streams.audio:
            raise ValueError("the file has no audio stream")
        s = c.streams.audio[0]
        cc = s.codec_context
        return duration_of(c, s), codec_name(cc.name), cc.sample_rate or 0, cc.channels or 0


def peaks(path: Path) -> tuple[np.ndarray, float]:
    """Per decoded frame (min, max) of the samples in [-1, 1]; and seconds decoded."""
    import av
    import numpy as np

    lows: list[float] = []
    highs: list[float] = []
    seconds = 0.0
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        for fr in c.decode(s):
            a = fr.to_ndarray()
            if a.dtype.kind in "iu":
                info = np.iinfo(a.dtype)
                a = a.astype(np.float32) / max(abs(info.min), info.max)
            if a.size:
                lows.append(float(a.min()))
                highs.append(float(a.max()))
            if fr.sample_rate:
                seconds += fr.samples / fr.sample_rate
    return np.array([lows, highs], dtype=np.float32).reshape(2, -1), seconds


def waveform(path: Path, width: int = WAVE_W, height: int = WAVE_H) -> tuple[Image.Image, float]:
    """A transparent PNG-able waveform (reads on light and dark backgrounds)."""
    import numpy as np
    from PIL import Image, ImageDraw

    pk, seconds = peaks(path)
    im = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(im)
    mid = height / 2
    draw.line((0, mid, width, mid), fill=(128, 128, 128, 160))
    n = pk.shape[1]
    if n:
        cols = np.array_split(np.arange(n), min(width, n))
        step = width / len(cols)
        color = tuple(int(ACCENT[i : i + 2], 16) for i in (1, 3, 5)) + (255,)
        for i, idx in enumerate(cols):
            lo, hi = float(pk[0, idx].min()), float(pk[1, idx].max())
            x = int(i * step)
            draw.rectangle(
                (
                    x,
                    int(mid - hi * (mid - 1)),
                    max(x, int((i + 1) * step) - 1),
                    int(mid - lo * (mid - 1)),
                ),
                fill=color,
            )
    return im, seconds


def render(ref: BaseRef, path: Path, budget: Budget) -> Bundle:
    duration, codec, rate, channels = probe(path)
    size = path.stat().st_size
    mime = browser_mime(path)
    facts = [human_duration(duration), codec, f"{rate} Hz" if rate else "", human_size(size)]
    if mime is not None and b64_len(size) + CHROME <= budget.bytes:
        body = player("audio", mime, path.read_bytes())
        return {
            "text/plain": plain(ref, *facts),
            "text/html": frame(body, caption(ref, *facts)),
        }, {}
    why = too_large(size, budget) if mime is not None else "not a browser-playable format"
    im, seconds = waveform(path, width=min(WAVE_W, budget.max_edge))
    if duration is None and seconds:
        duration = seconds
        facts[0] = human_duration(duration)
    body = picture(im, budget.media(), budget.max_edge, alt=f"waveform of {ref.id}")
    return {
        "text/plain": plain(ref, *facts),
        "text/html": frame(body, caption(ref, *facts, note=why)),
    }, {}


RENDERER = KindRenderer(render)
