"""Audio instructions: the audio track of a video, as MP3."""

from __future__ import annotations

from pathlib import Path

from .. import media
from .context import Context, Unsupported


def extract(ctx: Context) -> None:
    m = ctx.first("video", "audio", what="a video")
    dst = ctx.tmp(".mp3")
    try:
        seconds = media.extract_audio(m.path, dst)
    except ValueError as exc:
        raise Unsupported(str(exc)) from None
    ctx.save("aud", dst, Path(m.name).stem + ".mp3")
    ctx.out.facts.update(duration=round(seconds, 3))
    ctx.out.text = f"Extracted {seconds:.2f} s of audio as MP3."


def from_video(ctx: Context, path: Path) -> str:
    """A derived audio artifact: the track of the video at `path`, if it has one."""
    dst = ctx.tmp(".mp3")
    try:
        media.extract_audio(path, dst)
    except ValueError:
        raise Unsupported("the schema asks for audio, but the inputs have no audio track") from None
    return ctx.save("aud", dst, "audio.mp3", primary=False)
