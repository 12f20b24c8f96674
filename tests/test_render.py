"""Inline previews: every artifact kind, text/plain, include/exclude, caching, result
cards and galleries, error cards, and the extension's formatters.

The per-kind renderers are pure functions of a local file, tested on real media
generated here. Display through a ref goes through the real client and cache: a
file placed in the cache (the SDK's layout) is a cache hit, and the client points
at a closed port, so any request it tried would show up as a network error card.
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import render_media as media
from htmlcheck import assert_inert_html, download_links, tags, thumbnails
from PIL import Image
from pydantic import BaseModel

from vlmrun_jupyter import (
    ArrayRef,
    AudioRef,
    Client,
    DocumentRef,
    ImageRef,
    ReconRef,
    UrlRef,
    VideoRef,
)
from vlmrun_jupyter.display import (
    Budget,
    bundle_size,
    inline_budget,
    ref_bundle,
    render_path,
    result_bundle,
    set_inline_budget,
)
from vlmrun_jupyter.results import Completion, Execution

BUDGET = Budget(2 * 1024 * 1024)
SID = "sess-render"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    return {
        "jpg": media.photo(d / "photo.jpg"),
        "png": media.photo(d / "alpha.png", 800, 600, alpha=True),
        "mp4": media.video(d / "clip.mp4"),
        "mp4_mp3": media.video(d / "clip_mp3.mp4", audio="libmp3lame"),
        "mjpeg": media.video(d / "mjpeg.mp4", codec="mjpeg", audio=None, pix_fmt="yuvj420p"),
        "mp3": media.mp3(d / "tone.mp3"),
        "pdf": media.pdf(d / "doc.pdf", pages=3, title="Quarterly <report>"),
        "npy": media.npy(d / "depth.npy"),
        "spz": media.spz(d / "scene.spz", points=1234),
    }


@pytest.fixture()
def offline(tmp_path):
    """A client whose server does not exist: only cache hits can succeed."""
    c = Client(
        api_key="test-key", base_url="http://127.0.0.1:9/v1", cache_dir=tmp_path, max_retries=0
    )
    yield c
    c.close()


def seed(client: Client, cls, src: Path, object_id: str, ext: str | None = None, sid: str = SID):
    """Put `src` in the cache where a fetch of `object_id` would store it; a bound ref."""
    d = client.cache.root / sid
    d.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, d / f"{object_id}.{ext or cls.ext}")
    return cls(id=object_id).bind(session_id=sid, client=client)


def html_of(bundle) -> str:
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    html = data["text/html"]
    assert_inert_html(html)
    return html


def decoded_image(src: str) -> Image.Image:
    assert src.startswith("data:image/")
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))


# -- per kind --------------------------------------------------------------------------------


def test_image_is_jpeg_within_1280_with_size_metadata(files):
    ref = ImageRef(id="img_jpg001")
    data, md = render_path(ref, files["jpg"], BUDGET)
    assert data["text/plain"] == f"<ImageRef img_jpg001 1920x1080 jpeg {_kb(files['jpg'])}>"
    im = Image.open(io.BytesIO(base64.b64decode(data["image/jpeg"])))
    assert im.format == "JPEG" and max(im.size) == 1280
    assert md["image/jpeg"] == {"width": 1280, "height": 720}
    (img,) = [a for t, a in tags(html_of(data)) if t == "img"]
    assert decoded_image(img["src"]).size == (1280, 720)


def test_image_with_alpha_stays_png(files):
    data, md = render_path(ImageRef(id="img_png001"), files["png"], BUDGET)
    assert "image/png" in data and "image/jpeg" not in data
    im = Image.open(io.BytesIO(base64.b64decode(data["image/png"])))
    assert im.mode in ("RGBA", "P") and im.size == (800, 600)
    assert md["image/png"]["width"] == 800


def test_image_steps_down_to_fit_a_small_budget(tmp_path):
    noisy = tmp_path / "noise.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (1500, 2000, 3), dtype=np.uint8)).save(noisy)
    small = Budget(100 * 1024)
    data, md = render_path(ImageRef(id="img_noise1"), noisy, small)
    assert bundle_size(data, md) <= small.bytes
    assert "image/jpeg" in data and md["image/jpeg"]["width"] <= 1280


def test_playable_video_is_a_player_with_src_on_the_element(files):
    for key, codec in (("mp4", "h264+aac"), ("mp4_mp3", "h264+mp3")):
        data, _ = render_path(VideoRef(id="vid_play01"), files[key], BUDGET)
        html = html_of(data)
        (video,) = [a for t, a in tags(html) if t == "video"]
        assert video["src"].startswith("data:video/mp4;base64,")
        assert "controls" in video and video["preload"] == "metadata"
        assert not [t for t, _ in tags(html) if t == "source"]
        assert codec in data["text/plain"] and "320x240" in data["text/plain"]


def test_unplayable_video_shows_a_contact_sheet_and_says_why(files):
    data, _ = render_path(VideoRef(id="vid_mjpg01"), files["mjpeg"], BUDGET)
    html = html_of(data)
    assert not [t for t, _ in tags(html) if t == "video"]
    (img,) = [a for t, a in tags(html) if t == "img"]
    sheet = decoded_image(img["src"])
    assert sheet.width > 320  # several frames side by side
    assert "mjpeg" in html and "not browser-playable" in html and "2.0 s" in html
    # each frame's time sits on a black label tall enough to read once the sheet is
    # shown at the output's width (~960 px): over 2% of the sheet's width (it was 1.5%)
    px = np.asarray(sheet.convert("RGB"), np.int16)
    corner = px[: px.shape[0] // 4, : px.shape[1] // 4]
    label_rows = np.nonzero(((corner.max(axis=2) < 8).sum(axis=1)) > 12)[0]
    assert len(label_rows) and (label_rows.max() - label_rows.min()) > 0.02 * sheet.width


def test_video_over_budget_shows_frames_not_a_player(files):
    tight = Budget(40 * 1024)  # the 2 s clip is ~40 KB: its base64 does not fit
    data, _ = render_path(VideoRef(id="vid_big001"), files["mp4"], tight)
    html = html_of(data)
    assert "too large to embed" in html and "<video" not in html and "<img" in html
    assert bundle_size(data) <= tight.bytes


def test_audio_player_within_budget_else_waveform(files):
    data, _ = render_path(AudioRef(id="aud_tone01"), files["mp3"], BUDGET)
    (audio,) = [a for t, a in tags(html_of(data)) if t == "audio"]
    assert audio["src"].startswith("data:audio/mpeg;base64,") and "controls" in audio
    assert data["text/plain"].startswith("<AudioRef aud_tone01 2.0 s mp3")

    data, _ = render_path(AudioRef(id="aud_tone01"), files["mp3"], Budget(24 * 1024))
    html = html_of(data)
    assert "<audio" not in html
    (img,) = [a for t, a in tags(html) if t == "img"]
    wave = np.asarray(decoded_image(img["src"]).convert("RGBA"))
    # the tone fades in: the drawn band is taller at the end than at the start
    drawn = (wave[..., 3] > 0) & (wave[..., 2] > 150)
    assert drawn[:, -20:].sum() > drawn[:, :20].sum()


def test_document_pages_as_images_never_a_pdf(files):
    data, _ = render_path(DocumentRef(id="doc_rep001"), files["pdf"], BUDGET)
    html = html_of(data)
    imgs = [a for t, a in tags(html) if t == "img"]
    assert len(imgs) == 3 and all(a["src"].startswith("data:image/") for a in imgs)
    page = np.asarray(decoded_image(imgs[0]["src"]).convert("RGB"))
    assert (page[..., 2] > page[..., 0] + 60).any()  # the blue banner was rendered
    assert "application/pdf" not in html and "<iframe" not in html
    assert "3 pages" in html and "Quarterly &lt;report&gt;" in html


def test_array_summary_stats_preview_and_heatmap(files):
    data, _ = render_path(ArrayRef(id="arr_dep001"), files["npy"], BUDGET)
    html = html_of(data)
    a = np.load(files["npy"])
    assert data["text/plain"].startswith("<ArrayRef arr_dep001 shape=(120, 160) float32")
    for word in ("120x160", "float32", "19,200 values", "NaN", "min", "max", "mean"):
        assert word in html
    assert f"{np.nanmax(a):.6g}" in html and ">3<" in html  # three NaNs
    assert "<pre" in html and "..." in html  # numpy's edge-item summary
    (img,) = [x for t, x in tags(html) if t == "img"]
    assert decoded_image(img["src"]).size == (320, 240)  # 160x120, scaled up 2x


def test_json_array_and_1d_array_have_no_heatmap(tmp_path):
    p = tmp_path / "a.json"
    p.write_text("[1, 2, 3, 4]")
    data, _ = render_path(ArrayRef(id="arr_json01"), p, BUDGET)
    html = html_of(data)
    assert "<img" not in html and "int64" in html and "[1, 2, 3, 4]" in html


def test_recon_is_a_picture_with_its_point_count(files):
    data, _ = render_path(ReconRef(id="recon_sc0001"), files["spz"], BUDGET)
    html = html_of(data)
    assert "1,234 points" in data["text/plain"] and "1,234 points" in html
    assert any(t == "img" for t, _ in tags(html))


def test_a_kind_without_a_renderer_gets_the_summary_card(files):
    data, _ = render_path(ReconRef(id="recon_sc0002"), files["spz"], BUDGET, kind="hologram")
    html = html_of(data)
    assert "1,234 points" in html and not any(t == "img" for t, _ in tags(html))


def test_renderer_versions_are_read_without_importing_codecs():
    """A stored preview is checked against its renderer's version: after a kernel
    restart that check must not cost PyAV, PIL, pdfium or the widget library."""
    code = (
        "import sys\n"
        "from vlmrun_jupyter.display import registry\n"
        "from vlmrun_jupyter.kinds import KINDS\n"
        "print([registry.renderer_id(k) for k in KINDS])\n"
        "print([m for m in ('av', 'PIL', 'pypdfium2', 'anywidget') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    ids, loaded = out.stdout.splitlines()
    from vlmrun_jupyter.display.kinds import recon

    assert f"'recon:{recon.VERSION}'" in ids and "summary" not in ids and "broken" not in ids
    assert loaded == "[]"


def seed_url(client: Client, object_id: str, url: str, target: Path) -> UrlRef:
    """A url_ artifact already downloaded: its target where the cache puts it, its URL in
    the sidecar beside it; a bound ref."""
    ref = UrlRef(id=object_id).bind(session_id=SID, client=client)
    ns = ref.namespace
    dest = client.cache.url_dest(ref, ns, url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(target, dest)
    client.cache.write_url_sidecar(ref, ns, url)
    return ref


def test_url_ref_renders_its_target_kind_under_a_safe_link(files, offline):
    url = "https://example.com/media/photo.jpg"
    data, _ = ref_bundle(seed_url(offline, "url_pho001", url, files["jpg"]))
    html = html_of(data)
    (a,) = [x for t, x in tags(html) if t == "a" and "download" not in x]  # + the download
    assert a["href"] == url and a["rel"] == "noopener noreferrer"
    assert any(t == "img" for t, _ in tags(html))
    assert url in data["text/plain"] and "(image)" in data["text/plain"]


def test_url_ref_with_a_javascript_target_is_not_linked(files, offline):
    data, _ = ref_bundle(
        seed_url(offline, "url_bad001", "javascript:alert(1)//x.bin", files["pdf"])
    )
    html = html_of(data)
    assert not [t for t, x in tags(html) if t == "a" and "download" not in x]
    assert "only http/https" in html


# -- display through a ref -------------------------------------------------------------------


def test_text_plain_is_deterministic_and_has_no_address(files, offline):
    one = seed(offline, ImageRef, files["jpg"], "img_det001")
    two = ImageRef(id="img_det001").bind(session_id=SID, client=offline)
    p1, p2 = one._repr_mimebundle_()[0]["text/plain"], two._repr_mimebundle_()[0]["text/plain"]
    assert p1 == p2 == f"<ImageRef img_det001 1920x1080 jpeg {_kb(files['jpg'])}>"
    assert not re.search(r"0x[0-9a-f]{6,}", p1)


def test_repr_html_is_the_bundle_html_and_is_not_recomputed(files, offline):
    ref = seed(offline, ImageRef, files["jpg"], "img_html01")
    data, md = ref._repr_mimebundle_()
    cached = Path(offline.cache.root / SID / "img_html01.jpg")
    cached.unlink()  # any re-fetch or re-render would now fail
    assert ref._repr_html_() == data["text/html"]
    assert ref._repr_mimebundle_() == (data, md)


def test_include_and_exclude(files, offline):
    ref = seed(offline, ImageRef, files["jpg"], "img_inc001")
    data, md = ref._repr_mimebundle_(include={"image/jpeg"})
    assert set(data) == {"image/jpeg"} and set(md) == {"image/jpeg"}
    data, md = ref._repr_mimebundle_(exclude={"image/jpeg", "text/html"})
    assert set(data) == {"text/plain"} and md == {}


def test_previews_are_cached_beside_the_artifact(files, offline):
    ref = seed(offline, VideoRef, files["mjpeg"], "vid_prv001")
    first = ref._repr_mimebundle_()
    previews = list((offline.cache.root / SID).glob("vid_prv001.preview.*"))
    assert len(previews) == 1
    stamp = previews[0].stat().st_mtime_ns
    again = VideoRef(id="vid_prv001").bind(session_id=SID, client=offline)  # a new object
    assert again._repr_mimebundle_() == first
    assert previews[0].stat().st_mtime_ns == stamp  # read, not rewritten


def test_a_stored_preview_holds_its_picture_once_and_a_damaged_one_is_redone(files, offline):
    """The picture's base64 is both `image/jpeg` and the `src` in the HTML: stored once
    (half the bytes to read after a restart); a file cut short is rendered again."""
    ref = seed(offline, ImageRef, files["jpg"], "img_once01")
    data, md = ref._repr_mimebundle_()
    (stored,) = (offline.cache.root / SID).glob("img_once01.preview.*")
    raw = stored.read_bytes()
    assert data["image/jpeg"] in data["text/html"]
    assert raw.count(data["image/jpeg"].encode()) == 1 and len(raw) < len(data["text/html"]) + 4096
    again = ImageRef(id="img_once01").bind(session_id=SID, client=offline)
    assert again._repr_mimebundle_() == (data, md)
    stored.write_bytes(raw[: len(raw) // 2])
    cut = ImageRef(id="img_once01").bind(session_id=SID, client=offline)
    assert cut._repr_mimebundle_() == (data, md) and stored.read_bytes() == raw


def _cache_file(client: Client, ref) -> Path:
    (found,) = (client.cache.root / SID).glob(f"{ref.id}.{ref.ext}")
    return found


def test_a_small_artifact_is_offered_as_a_download_of_its_own_bytes(files, offline):
    ref = seed(offline, ImageRef, files["jpg"], "img_dl0001")
    html = html_of(ref._repr_mimebundle_())
    (a,) = download_links(html)
    assert a["download"] == "img_dl0001.jpg" and a["rel"] == "noopener noreferrer"
    head, payload = a["href"].split(",", 1)
    assert head == "data:application/octet-stream;base64"
    assert base64.b64decode(payload) == files["jpg"].read_bytes()
    assert str(_cache_file(offline, ref)) not in html  # never both


def test_a_large_artifact_offers_its_cache_path_as_selectable_text(files, offline):
    from bs4 import BeautifulSoup

    ref = seed(offline, VideoRef, files["mp4"], "vid_dl0001")
    budget = Budget(max(64 * 1024, files["mp4"].stat().st_size // 2))
    data, md = ref_bundle(ref, budget=budget)
    html = html_of(data)
    assert not download_links(html) and bundle_size(data, md) <= budget.bytes
    where = str(_cache_file(offline, ref))
    found = [c for c in BeautifulSoup(html, "html.parser").find_all("code") if c.text == where]
    assert len(found) == 1 and "user-select: all" in found[0]["style"]


def test_an_artifact_over_the_embed_limit_is_named_not_embedded(tmp_path, monkeypatch):
    """A saved notebook must stay small: a 256 KB depth map fits the budget but is not
    embedded; its place in the cache is shown, under the home directory as `~/`, so the
    saved output does not carry the user's name."""
    from bs4 import BeautifulSoup

    from vlmrun_jupyter.display.pipeline import EMBED_MAX

    monkeypatch.setenv("HOME", str(tmp_path))
    src = media.npy(tmp_path / "depth.npy", shape=(256, 256))
    assert EMBED_MAX < src.stat().st_size < inline_budget() // 4
    client = Client(api_key="k", base_url="http://127.0.0.1:9/v1", cache_dir=tmp_path / "c")
    try:
        data, _ = seed(client, ArrayRef, src, "arr_big001")._repr_mimebundle_()
    finally:
        client.close()
    html = html_of(data)
    assert not download_links(html) and str(tmp_path) not in html
    (where,) = BeautifulSoup(html, "html.parser").find_all("code", title="the cached file")
    assert where.text == "~/c/artifacts/sess-render/arr_big001.npy"
    assert "not embedded; ref.load() reads it" in html


def test_a_file_the_player_already_carries_is_not_embedded_twice(files, offline):
    """A small playable video or audio file is the player's source: a download link would
    be a second copy of the same bytes in the saved notebook; its path is named instead."""
    for cls, src, oid in (
        (VideoRef, files["mp4"], "vid_once01"),
        (AudioRef, files["mp3"], "aud_once01"),
    ):
        html = html_of(seed(offline, cls, src, oid)._repr_mimebundle_())
        assert html.count(base64.b64encode(src.read_bytes()).decode()) == 1, cls
        assert not download_links(html) and "the same bytes as shown above" in html


def test_the_offer_is_added_after_the_stored_preview_not_stored(files, offline):
    ref = seed(offline, ImageRef, files["jpg"], "img_dl0002")  # re-encoded: a link offered
    first = ref._repr_mimebundle_()
    (stored,) = (offline.cache.root / SID).glob("img_dl0002.preview.*")
    text = stored.read_text("utf-8")
    assert "download" not in text and str(_cache_file(offline, ref)) not in text
    again = ImageRef(id="img_dl0002").bind(session_id=SID, client=offline)  # from the disk
    assert again._repr_mimebundle_() == first and download_links(html_of(first))


def test_card_gallery_thumbnails_open_a_larger_view_that_offers_the_artifact(files, offline):
    from bs4 import BeautifulSoup

    result = _highlights(files, offline, n=3)
    data = result_bundle(result)
    soup = BeautifulSoup(html_of(data), "html.parser")
    views = soup.find_all("details")
    assert len(views) == 3 and bundle_size(data) <= inline_budget()
    for view in views:
        (thumb,) = view.summary.find_all("img")
        (large,) = view.find("div", recursive=False).find_all("img")
        assert int(large["width"]) > 2 * int(thumb["width"])
        assert not download_links(str(view.summary))  # the offer sits in the larger view
        (a,) = download_links(str(view))
        assert base64.b64decode(a["href"].split(",", 1)[1]) == files["jpg"].read_bytes()


def test_budget_setting_and_env(monkeypatch, files, offline):
    monkeypatch.setenv("VLMRUN_INLINE_BUDGET", str(300 * 1024))
    assert inline_budget() == 300 * 1024
    try:
        set_inline_budget(64 * 1024)
        assert inline_budget() == 64 * 1024
        ref = seed(offline, ImageRef, files["jpg"], "img_bud001")
        data, md = ref._repr_mimebundle_()
        assert bundle_size(data, md) <= 64 * 1024 and "image/jpeg" in data
    finally:
        set_inline_budget(None)
    assert inline_budget() == 300 * 1024
    with pytest.raises(ValueError):
        set_inline_budget(0)


# -- error cards (local) ---------------------------------------------------------------------


def _assert_error_card(bundle, title: str, *words: str) -> str:
    data, _ = bundle
    html = html_of(data)
    assert title in html, html
    for w in words:
        assert w in html, (w, html)
    assert "Traceback" not in html and "Traceback" not in data["text/plain"]
    assert title in data["text/plain"]
    return html


def test_unbound_ref_error_card():
    ref = ImageRef(id="img_unb001")
    _assert_error_card(ref._repr_mimebundle_(), "Ref has no session", "bind")


def test_network_error_card(offline):
    ref = ImageRef(id="img_net001").bind(session_id=SID, client=offline)
    _assert_error_card(ref._repr_mimebundle_(), "Network error", "VLMRUN_BASE_URL")


def test_not_configured_error_card(monkeypatch, tmp_path):
    from vlmrun_jupyter import session

    monkeypatch.delenv("VLMRUN_API_KEY", raising=False)
    monkeypatch.setenv("VLMRUN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(session, "_default", None)
    ref = ImageRef(id="img_cfg001").bind(session_id=SID)
    _assert_error_card(ref._repr_mimebundle_(), "Not configured", "VLMRUN_API_KEY")


@pytest.mark.parametrize(
    "cls,ext,junk",
    [
        # complete as far as the cache can tell (a JPEG's end marker, a PDF's %%EOF),
        # so it is served, and only the decoder finds it broken
        (ImageRef, "jpg", b"\xff\xd8\xff\xe0" + b"garbage" * 100 + b"\xff\xd9"),
        (VideoRef, "mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500),
        (AudioRef, "mp3", b"ID3" + b"\x00" * 30),
        (DocumentRef, "pdf", b"%PDF-1.7\n" + b"nonsense" * 50 + b"\n%%EOF\n"),
        (ArrayRef, "npy", b"\x93NUMPY\x01\x00" + b"z" * 60),
    ],
)
def test_corrupt_file_error_card(offline, tmp_path, cls, ext, junk):
    src = tmp_path / f"junk.{ext}"
    src.write_bytes(junk)
    ref = seed(offline, cls, src, f"{cls.prefix}_bad001")
    html = _assert_error_card(ref._repr_mimebundle_(), "Cannot read the artifact", "delete")
    assert f"{cls.prefix}_bad001.{ext}" in html


# -- result cards ----------------------------------------------------------------------------


class KeyFrame(BaseModel):
    image: ImageRef
    timestamp: float
    description: str


class Highlights(BaseModel):
    video: VideoRef
    frames: list[KeyFrame]
    summary: str
    score: float | None = None


def _highlights(files, offline, n: int = 4) -> Highlights:
    frames = [
        KeyFrame(
            image=seed(offline, ImageRef, files["jpg"], f"img_kf{i:04d}"),
            timestamp=1.5 * i,
            description=f"frame number {i}",
        )
        for i in range(n)
    ]
    video = seed(offline, VideoRef, files["mp4"], "vid_hl0001")
    return Highlights(video=video, frames=frames, summary="two <b>people</b> talking", score=0.5)


def test_result_card_fields_refs_inline_and_gallery(files, offline):
    result = _highlights(files, offline)
    data = result_bundle(result)
    html = html_of(data)
    for word in ("Highlights", "video", "frames", "summary", "score", "0.5"):
        assert word in html
    assert "two &lt;b&gt;people&lt;/b&gt; talking" in html
    found = tags(html)
    assert sum(t == "video" for t, _ in found) == 1
    thumbs = [decoded_image(a["src"]) for a in thumbnails(html)]
    assert len(thumbs) == 4 and all(max(im.size) <= 360 for im in thumbs)
    for i in range(4):
        assert f"frame number {i}" in html
    assert "4.5 s" in html  # a timestamp caption
    assert "inline-block" in html and data["text/plain"].startswith("Highlights(")


def test_completion_and_execution_cards_have_a_quiet_footer(files, offline):
    result = _highlights(files, offline, n=2)
    comp = Completion(
        id="chatcmpl-1",
        model="vlmrun-orion-1:auto",
        session_id=SID,
        text="",
        result=result,
        usage={"prompt_tokens": 12, "completion_tokens": 34},
        latency_s=1.234,
    )
    html = html_of(comp._repr_mimebundle_())
    for word in ("vlmrun-orion-1:auto", SID, "prompt tokens 12", "completion tokens 34", "1.23 s"):
        assert word in html
    ex = Execution(
        id="exec-1",
        name="video/highlights",
        status="completed",
        result=result,
        usage=None,
        latency_s=2.5,
    )
    html = html_of(ex._repr_mimebundle_())
    assert "exec-1" in html and "video/highlights" in html and "completed" in html


def test_list_of_refs_is_a_gallery_and_card_fits_budget(files, offline):
    refs = [seed(offline, ImageRef, files["jpg"], f"img_gal{i:03d}") for i in range(30)]
    budget = Budget(512 * 1024)
    data = result_bundle(refs, budget=budget)
    html = html_of(data)
    assert sum(t == "img" for t, _ in tags(html)) == 30
    assert bundle_size(data) <= budget.bytes


def test_gallery_with_too_many_refs_shows_chips_not_over_budget(files, offline):
    refs = [seed(offline, ImageRef, files["jpg"], f"img_chp{i:03d}") for i in range(60)]
    budget = Budget(200 * 1024)
    data = result_bundle(refs, budget=budget)
    html = html_of(data)
    assert bundle_size(data) <= budget.bytes
    assert "img_chp059" in html and "no room for a preview" in html
    assert sum(t == "img" for t, _ in tags(html)) >= 10  # the first ones still get previews


def test_a_failed_item_in_a_gallery_is_an_error_card_not_a_failure(files, offline):
    good = seed(offline, ImageRef, files["jpg"], "img_ok0001")
    missing = ImageRef(id="img_gone01").bind(session_id=SID, client=offline)
    html = html_of(result_bundle([good, missing]))
    assert "Network error" in html and len(thumbnails(html)) == 1


def test_result_bundle_never_raises():
    class Bad:
        def __repr__(self):
            raise RuntimeError("no repr")

    data = result_bundle({"x": Bad(), "y": [Bad()]})
    assert "text/plain" in data
    assert_inert_html(data.get("text/html", ""))


def test_sdk_style_ref_models_render_by_id(files, offline, monkeypatch):
    from vlmrun_jupyter import session

    monkeypatch.setattr(session, "_default", offline)  # refs found by id use the default

    class ImageRefSDK(BaseModel):  # the official SDK's shape: a model named *Ref with an id
        id: str

    ImageRefSDK.__name__ = "ImageRef"
    seed(offline, ImageRef, files["jpg"], "img_sdk001")

    class Out(BaseModel):
        image: ImageRefSDK

    html = html_of(result_bundle(Out(image=ImageRefSDK(id="img_sdk001"))))
    assert any(t == "img" for t, _ in tags(html)), html


# -- the extension ---------------------------------------------------------------------------


@pytest.fixture()
def shell(ipython):
    """The process's shell (conftest), the extension unloaded again even if the test failed
    halfway: the next module's tests start from a shell without it."""
    yield ipython
    if "vlmrun_jupyter" in ipython.extension_manager.loaded:
        ipython.run_line_magic("unload_ext", "vlmrun_jupyter")


def test_load_reload_unload_formatters(shell, files, offline):
    from vlmrun_jupyter.ipython import formatters

    fmt = shell.display_formatter.mimebundle_formatter
    sentinel = lambda obj: None  # noqa: E731  # a user's own printer for lists
    fmt.for_type(list, sentinel)
    try:
        result = _highlights(files, offline, n=1)
        before, _ = shell.display_formatter.format(result)
        assert "text/html" not in before

        shell.run_line_magic("load_ext", "vlmrun_jupyter")
        shell.run_line_magic("load_ext", "vlmrun_jupyter")
        assert formatters.registered(shell) == len(formatters.TYPES)
        shell.run_line_magic("reload_ext", "vlmrun_jupyter")
        assert formatters.registered(shell) == len(formatters.TYPES)

        data, _ = shell.display_formatter.format(result)
        assert "Highlights" in data["text/html"] and "<video" in data["text/html"]
        data, _ = shell.display_formatter.format([result.video])
        assert "<video" in data["text/html"]
        plain, _ = shell.display_formatter.format([1, 2, 3])
        assert plain == {"text/plain": "[1, 2, 3]"}  # lists without refs are untouched

        shell.run_line_magic("unload_ext", "vlmrun_jupyter")
        assert formatters.registered(shell) == 0
        assert fmt.type_printers[list] is sentinel  # the user's printer is back
        assert BaseModel not in fmt.type_printers
        after, _ = shell.display_formatter.format(result)
        assert "text/html" not in after
        # refs render without the extension: the repr lives on the class
        data, _ = shell.display_formatter.format(result.video)
        assert "<video" in data["text/html"]
    finally:
        fmt.type_printers.pop(list, None)


def _kb(path: Path) -> str:
    from vlmrun_jupyter.display.html import human_size

    return human_size(path.stat().st_size)


def test_nothing_unsafe_in_any_kind(files):
    for cls, key in [
        (ImageRef, "jpg"),
        (ImageRef, "png"),
        (VideoRef, "mp4"),
        (VideoRef, "mjpeg"),
        (AudioRef, "mp3"),
        (DocumentRef, "pdf"),
        (ArrayRef, "npy"),
        (ReconRef, "spz"),
    ]:
        for b in (BUDGET, Budget(32 * 1024, max_edge=360, html_only=True, thumbnail=True)):
            data, md = render_path(cls(id=f"{cls.prefix}_safe01"), files[key], b)
            assert_inert_html(data["text/html"])
            assert bundle_size(data, md) <= b.bytes, (cls, b)
            assert re.match(rf"^<{cls.__name__} {cls.prefix}_safe01 .+>$", data["text/plain"])


# -- against the live local server: lazy, cached, and every fault gives a card ----------------

ART = "/v1/artifacts"


@pytest.fixture()
def quick(live_server, tmp_path):
    """A client that gives up fast (one retry, tiny backoff) so fault tests stay quick."""
    c = Client(
        api_key=live_server.api_key,
        base_url=live_server.base_url,
        cache_dir=tmp_path / "quick",
        max_retries=1,
        backoff_base=0.01,
        retry_after_max=0.05,
        timeout=5,
    )
    yield c
    c.close()


def _served(server, cls, src: Path, session_id: str | None = None):
    sid, oid = server.add_artifact(cls.prefix, src, session_id=session_id)
    return sid, oid


def test_display_is_lazy_then_fetches_once_then_never(live_server, files, quick):
    sid, img = _served(live_server, ImageRef, files["jpg"])
    _, vid = _served(live_server, VideoRef, files["mp4"], sid)
    _, doc = _served(live_server, DocumentRef, files["pdf"], sid)
    live_server.reset_requests()
    from vlmrun_jupyter.refs import make_ref

    refs = [make_ref(oid).bind(session_id=sid, client=quick) for oid in (img, vid, doc)]
    assert live_server.count(ART) == 0  # parsing and binding do no I/O
    for ref in refs:
        html_of(ref._repr_mimebundle_())
        ref._repr_html_()
    for oid in (img, vid, doc):
        assert live_server.count(ART, object_id=oid) == 1
    again = [make_ref(oid).bind(session_id=sid, client=quick) for oid in (img, vid, doc)]
    for ref in again:  # new objects: served from the disk cache and the stored previews
        html_of(ref._repr_mimebundle_())
    assert live_server.count(ART) == 3


def test_gallery_fetches_each_ref_once(live_server, files, quick):
    sid, _ = _served(live_server, ImageRef, files["jpg"])
    ids = [_served(live_server, ImageRef, files["jpg"], sid)[1] for _ in range(8)]
    live_server.reset_requests()
    frames = [
        KeyFrame(
            image=ImageRef(id=oid).bind(session_id=sid, client=quick),
            timestamp=float(i),
            description=f"frame {i}",
        )
        for i, oid in enumerate(ids)
    ]
    html = html_of(result_bundle(frames))
    assert len(thumbnails(html)) == 8
    assert [live_server.count(ART, object_id=oid) for oid in ids] == [1] * 8
    result_bundle(frames)
    assert live_server.count(ART) == 8


FAULTS = [
    ("status", {"status": 500}, "Server error"),
    ("status", {"status": 503}, "Server error"),
    ("status", {"status": 429, "retry_after": 0}, "Rate limited"),
    ("drop", {}, "Network error"),
    ("truncate", {"fraction": 0.5}, "Corrupt download"),
    ("content_type", {"value": "text/html"}, "Corrupt download"),
]


@pytest.mark.parametrize("fault,params,title", FAULTS, ids=[f[0] + str(f[1]) for f in FAULTS])
def test_every_injected_fault_gives_an_error_card(live_server, files, quick, fault, params, title):
    sid, oid = _served(live_server, ImageRef, files["jpg"])
    live_server.inject(fault, times=None, path=ART, **params)
    ref = ImageRef(id=oid).bind(session_id=sid, client=quick)
    _assert_error_card(ref._repr_mimebundle_(), title)
    live_server.clear_faults()
    fresh = ImageRef(id=oid).bind(session_id=sid, client=quick)  # the error is not cached
    data, _ = fresh._repr_mimebundle_()
    assert "image/jpeg" in data


def test_timeout_error_card(live_server, files, tmp_path):
    sid, oid = _served(live_server, ImageRef, files["jpg"])
    live_server.inject("latency", times=None, path=ART, seconds=2)
    c = Client(
        api_key=live_server.api_key,
        base_url=live_server.base_url,
        cache_dir=tmp_path,
        timeout=0.3,
        max_retries=0,
    )
    try:
        ref = ImageRef(id=oid).bind(session_id=sid, client=c)
        _assert_error_card(ref._repr_mimebundle_(), "Timed out")
    finally:
        c.close()


def test_bad_key_error_card(live_server, files, tmp_path):
    sid, oid = _served(live_server, ImageRef, files["jpg"])
    c = Client(api_key="wrong-key", base_url=live_server.base_url, cache_dir=tmp_path)
    try:
        ref = ImageRef(id=oid).bind(session_id=sid, client=c)
        html = _assert_error_card(
            ref._repr_mimebundle_(), "Authentication failed", "VLMRUN_API_KEY"
        )
        assert "wrong-key" not in html
    finally:
        c.close()


def test_expired_session_error_card(live_server, files, quick):
    sid, oid = _served(live_server, ImageRef, files["jpg"])
    live_server.expire(sid)
    ref = ImageRef(id=oid).bind(session_id=sid, client=quick)
    _assert_error_card(ref._repr_mimebundle_(), "Session expired", "24 hours")


def test_not_found_error_card(live_server, files, quick):
    sid, _ = _served(live_server, ImageRef, files["jpg"])
    ref = ImageRef(id="img_nope00").bind(session_id=sid, client=quick)
    _assert_error_card(ref._repr_mimebundle_(), "Not found")


def test_url_ref_from_the_server_is_lazy_linked_and_cached(live_server, files, quick):
    sid, img = _served(live_server, ImageRef, files["jpg"])
    stored = live_server.store.namespace(sid, "session").artifacts[img]
    token = live_server.store.publish(stored)  # the server's own public link, as ops use
    url = f"{live_server.base_url}/_local/public/{token}/photo.jpg"
    _, oid = live_server.add_artifact(
        "url", url.encode(), session_id=sid, content_type="text/plain"
    )
    live_server.reset_requests()
    ref = UrlRef(id=oid).bind(session_id=sid, client=quick)
    assert live_server.count() == 0
    data, _ = ref._repr_mimebundle_()
    html = html_of(data)
    (a,) = [x for t, x in tags(html) if t == "a" and "download" not in x]
    assert a["href"] == url and any(t == "img" for t, _ in tags(html))
    assert live_server.count(ART, object_id=oid) == 1
    assert sum(r.path.startswith("/v1/_local/public/") for r in live_server.requests) == 1
    UrlRef(id=oid).bind(session_id=sid, client=quick)._repr_mimebundle_()
    assert live_server.count() == 2
