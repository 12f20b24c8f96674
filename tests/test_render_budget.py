"""One output stays within the inline budget, whatever the artifact's size, and still
shows something useful: a 30 MB PNG, a 300 MB video, a 300-page PDF and a
50M-element array, displayed through refs (client + cache) and measured as the
whole bundle (every MIME entry plus metadata)."""

from __future__ import annotations

import shutil
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import render_media as media
from htmlcheck import assert_inert_html, tags
from PIL import Image

from vlmrun_jupyter import ArrayRef, Client, DocumentRef, ImageRef, VideoRef
from vlmrun_jupyter.display import bundle_size, inline_budget, set_inline_budget

pytestmark = pytest.mark.slow
SID = "sess-budget"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("big")


@pytest.fixture()
def offline(tmp_path):
    c = Client(api_key="k", base_url="http://127.0.0.1:9/v1", cache_dir=tmp_path, max_retries=0)
    yield c
    c.close()


def seed(client: Client, cls, src: Path, object_id: str):
    d = client.cache.root / SID
    d.mkdir(parents=True, exist_ok=True)
    dest = d / f"{object_id}.{cls.ext}"
    try:
        dest.hardlink_to(src)  # the big files are not copied
    except OSError:
        shutil.copyfile(src, dest)
    return cls(id=object_id).bind(session_id=SID, client=client)


def display(ref) -> tuple[dict, dict, str]:
    t0 = time.monotonic()
    data, md = ref._repr_mimebundle_()
    elapsed = time.monotonic() - t0
    html = data["text/html"]
    assert_inert_html(html)
    assert "Cannot" not in html and "error" not in data["text/plain"].lower(), data["text/plain"]
    assert elapsed < 30, f"display took {elapsed:.1f} s"
    return data, md, html


def within(data: dict, md: dict, budget: int) -> None:
    size = bundle_size(data, md)
    assert size <= budget, f"{size:,} bytes > budget {budget:,}"


def _noise_png(path: Path) -> Path:
    """A 30 MB PNG of noise (3250x3250), made once per module."""
    if not path.exists():
        rng = np.random.default_rng(7)
        Image.fromarray(rng.integers(0, 256, (3250, 3250, 3), dtype=np.uint8)).save(
            path, compress_level=1
        )
    return path


def test_30mb_png(big, offline):
    path = _noise_png(big / "noise.png")
    assert path.stat().st_size > 30 * MB
    data, md, html = display(seed(offline, ImageRef, path, "img_big001"))
    within(data, md, inline_budget())
    assert md["image/jpeg"] == {"width": 1280, "height": 1280}
    assert "3250x3250" in data["text/plain"] and "30.2 MB" in data["text/plain"]


def _big_video(path: Path, target: int = 300 * MB) -> Path:
    """A real 300 MB H.264 MP4, fast: encode one near-lossless 1080p intra frame of noise,
    then mux that keyframe packet again and again with increasing timestamps."""
    if path.exists():
        return path
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    with av.open(str(path), "w") as c:
        # crf 1, not 0: lossless x264 (High 4:4:4 Predictive) is not browser-playable
        s = c.add_stream("libx264", rate=25, options={"crf": "1", "preset": "ultrafast"})
        s.width, s.height, s.pix_fmt = 1920, 1080, "yuv420p"
        packets = list(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        packets += list(s.encode())
        data = bytes(packets[0])
        for i in range(target // len(data) + 1):
            p = av.Packet(data)
            p.stream, p.time_base, p.pts, p.dts, p.is_keyframe = s, Fraction(1, 25), i, i, True
            c.mux(p)
    return path


def test_300mb_video(big, offline):
    path = _big_video(big / "big.mp4")
    assert path.stat().st_size >= 300 * MB
    data, md, html = display(seed(offline, VideoRef, path, "vid_big001"))
    within(data, md, inline_budget())
    assert "<video" not in html and "too large to embed" in html
    (img,) = [a for t, a in tags(html) if t == "img"]
    assert int(img["width"]) > int(img["height"])  # a contact sheet of several frames
    for fact in ("1920x1080", "h264", f"{path.stat().st_size / MB:.1f} MB", "s"):
        assert fact in data["text/plain"]


def _long_pdf(path: Path) -> Path:
    return path if path.exists() else media.pdf(path, pages=300)


def test_300_page_pdf(big, offline):
    path = _long_pdf(big / "long.pdf")
    data, md, html = display(seed(offline, DocumentRef, path, "doc_big001"))
    within(data, md, inline_budget())
    pages = [a for t, a in tags(html) if t == "img"]
    assert 1 <= len(pages) <= 6 and "300 pages" in html
    assert f"first {len(pages)} of 300 pages shown" in html


def _big_npy(path: Path) -> Path:
    """50M float32 values (a gradient with NaNs), written in blocks through a memmap."""
    if path.exists():
        return path
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(5000, 10000))
    for i in range(0, 5000, 500):
        arr[i : i + 500] = np.linspace(0, 1, 10000, dtype=np.float32)[None, :] * (i / 5000)
    arr[0, :5] = np.nan
    arr.flush()
    del arr
    return path


def test_50m_element_array(big, offline):
    path = _big_npy(big / "big.npy")
    data, md, html = display(seed(offline, ArrayRef, path, "arr_big001"))
    within(data, md, inline_budget())
    assert "50,000,000 values" in html and "5000x10000" in html
    assert "statistics from a sample" in html
    assert any(t == "img" for t, _ in tags(html))  # the heatmap


def test_a_smaller_budget_is_respected_by_every_kind(big, offline):
    set_inline_budget(200 * 1024)
    try:
        for cls, name, make in (
            (ImageRef, "noise.png", _noise_png),
            (VideoRef, "big.mp4", _big_video),
            (DocumentRef, "long.pdf", _long_pdf),
            (ArrayRef, "big.npy", _big_npy),
        ):
            make(big / name)  # made here if this test runs alone
            data, md, _ = display(seed(offline, cls, big / name, f"{cls.prefix}_small1"))
            within(data, md, 200 * 1024)
    finally:
        set_inline_budget(None)
