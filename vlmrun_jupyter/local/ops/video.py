"""Video instructions: key frames, trim, a video made from images."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from .. import media
from .context import NUM, Context, Media, Unsupported
from .matching import TIME, seconds


def key_frames(ctx: Context) -> None:
    m = ctx.first("video", what="a video")
    found = re.search(r"(\d+)\s+(?:key\s*-?\s*)?frames?", ctx.lower)
    n = max(1, min(50, int(found.group(1)) if found else 5))
    frames = media.key_frames(m.path, n)
    for i, (t, img) in enumerate(frames):
        oid = ctx.save_image(img, f"frame_{i + 1}.jpg", primary=i == 0)
        desc = f"key frame {i + 1} of {len(frames)} at {t:.2f} s ({img.width}x{img.height})"
        ctx.out.items.append({"img": oid, "timestamp": t, "description": desc, "index": i})
    ctx.out.facts.update(count=len(frames))
    ctx.out.text = (
        f"Extracted {len(frames)} key frames at " + ", ".join(f"{t:.2f} s" for t, _ in frames) + "."
    )


def trim(ctx: Context) -> None:
    m = ctx.first("video", what="a video")
    info = media.video_info(m.path)
    t = rf"({TIME})"
    unit = r"\s*(?:s\b|sec|secs|seconds?)?"
    span = re.search(rf"(?:from|between)\s+{t}{unit}\s+(?:to|until|and|-)\s+{t}", ctx.lower)
    first = re.search(rf"first\s+(?:{t}\s*(?:s\b|sec|second)|(\d+:[\d:.]+))", ctx.lower)
    last = re.search(rf"last\s+(?:{t}\s*(?:s\b|sec|second)|(\d+:[\d:.]+))", ctx.lower)
    if span:
        start, end = seconds(span.group(1)), seconds(span.group(2))
    elif first:
        start, end = 0.0, seconds(first.group(1) or first.group(2))
    elif last:
        start, end = (
            max(0.0, info.duration - seconds(last.group(1) or last.group(2))),
            info.duration,
        )
    else:
        raise Unsupported(
            "say which part to keep: 'the first N seconds', 'the last N seconds' or "
            "'from A to B' (seconds or mm:ss)"
        )
    if end <= start:
        raise Unsupported(f"the trim range {start:g}-{end:g} s is empty")
    dst = ctx.tmp(".mp4")
    start, end, kept = media.trim(m.path, dst, start, min(end, info.duration))
    ctx.save("vid", dst, Path(m.name).stem + "_trimmed.mp4")
    ctx.out.facts.update(
        start=start, end=round(end, 3), duration=round(end - start, 3), frames=kept
    )
    ctx.out.text = f"Trimmed the video to {start:g}-{end:.2f} s ({kept} frames)."


def from_images(ctx: Context) -> None:
    images = [media.open_image(m.path) for m in ctx.all("image")]
    if not images:
        raise Unsupported("making a video needs one or more images as input")
    fps_found = re.search(rf"{NUM}\s*(?:fps|frames?\s+per\s+second)", ctx.lower)
    each_found = re.search(rf"{NUM}\s*(?:s|sec|seconds?)\s+(?:per|each|for each)", ctx.lower)
    fps = max(1, min(60, round(float(fps_found.group(1))))) if fps_found else 10
    each = max(1 / fps, min(60.0, float(each_found.group(1)))) if each_found else 1.0
    dst = ctx.tmp(".mp4")
    seconds = media.images_to_video(images, dst, seconds_each=each, fps=fps)
    ctx.save("vid", dst, "slideshow.mp4")
    ctx.out.facts.update(duration=seconds, count=len(images), fps=fps)
    ctx.out.text = f"Made a {seconds:g} s video at {fps} fps from {len(images)} images."


def describe(m: Media) -> str:
    i = media.video_info(m.path)
    sound = " with audio" if i.has_audio else ""
    return f"{m.name}: a {i.duration:.2f} s {i.width}x{i.height} video at {i.fps:g} fps{sound}."


def from_image(ctx: Context, image: Image.Image) -> str:
    """A derived video: the image held still for two seconds."""
    dst = ctx.tmp(".mp4")
    media.images_to_video([image], dst, seconds_each=2.0)
    return ctx.save("vid", dst, "still.mp4", primary=False)


def to_image(path: Path) -> Image.Image | None:
    """The video's first key frame, if it has one."""
    frames = media.key_frames(path, 1)
    return frames[0][1] if frames else None
