"""The outputs work in a real browser: a notebook-like page holding every kind's
output (refs fetched from the live local server) is loaded in headless Chromium. Images decode, the video plays, the audio
loads, PDF pages and the array summary are visible, links are safe, and hostile
content runs nothing. Screenshots (light and dark theme) go to the artifacts dir.
"""

from __future__ import annotations

import html as htmllib
from pathlib import Path

import pytest
import render_media as media
from browser import CHROMIUM, HAVE_CHROMIUM, chromium
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
from vlmrun_jupyter.display import result_bundle
from vlmrun_jupyter.results import Completion

pytestmark = pytest.mark.browser
SID = "sess-browser"
DARK = (
    "--jp-ui-font-color1: #e6e6e6; --jp-ui-font-color2: #a0a0a0; --jp-layout-color0: #111; "
    "--jp-layout-color2: #2a2a2a; "
    "--jp-border-color2: #444; --jp-content-link-color: #7fb0ff; background: #111; color: #e6e6e6;"
)


class KeyFrame(BaseModel):
    image: ImageRef
    timestamp: float
    description: str


class Highlights(BaseModel):
    clip: VideoRef
    frames: list[KeyFrame]
    summary: str


@pytest.fixture(scope="module")
def outputs(server, tmp_path_factory) -> dict[str, str]:
    """name -> the text/html a notebook would show, for refs fetched from the live server."""
    d = tmp_path_factory.mktemp("browser")
    c = Client(api_key=server.api_key, base_url=server.base_url, cache_dir=d / "cache")
    sid, _ = server.add_artifact("img", media.photo(d / "seed.jpg", 64, 64))

    def ref(cls, src: Path, **kw):
        _, oid = server.add_artifact(cls.prefix, src, session_id=sid, **kw)
        return cls(id=oid).bind(session_id=sid, client=c)

    photo = media.photo(d / "photo.jpg", 1280, 720)
    clip = media.video(d / "v.mp4", seconds=3)
    out: dict[str, str] = {}
    out["image"] = ref(ImageRef, photo)._repr_html_()
    out["image_alpha"] = ref(
        ImageRef, media.photo(d / "a.png", 400, 300, alpha=True), content_type="image/png"
    )._repr_html_()
    out["video"] = ref(VideoRef, clip)._repr_html_()
    mjpeg = media.video(d / "m.mp4", codec="mjpeg", audio=None, pix_fmt="yuvj420p")
    out["video_sheet"] = ref(VideoRef, mjpeg)._repr_html_()
    out["audio"] = ref(AudioRef, media.mp3(d / "a.mp3"))._repr_html_()
    out["document"] = ref(DocumentRef, media.pdf(d / "d.pdf", 4))._repr_html_()
    out["array"] = ref(ArrayRef, media.npy(d / "x.npy"))._repr_html_()
    out["recon"] = ref(ReconRef, media.spz(d / "s.spz"))._repr_html_()
    _, img = server.add_artifact("img", photo, session_id=sid)
    token = server.store.publish(server.store.namespace(sid, "session").artifacts[img])
    url = f"{server.base_url}/_local/public/{token}/photo.jpg"
    out["url"] = ref(UrlRef, url.encode(), content_type="text/plain")._repr_html_()
    frames = [
        KeyFrame(
            image=ref(ImageRef, photo),
            timestamp=i * 1.5,
            description=f'<img src=x onerror="window.__pwned=1"> frame {i}',
        )
        for i in range(4)
    ]
    result = Highlights(
        clip=ref(VideoRef, clip), frames=frames, summary="<script>window.__pwned=1</script>"
    )
    comp = Completion(
        id="c",
        model="vlmrun-orion-1:auto",
        session_id=sid,
        text="",
        result=result,
        usage={"total_tokens": 42},
        latency_s=1.5,
    )
    out["card"] = result_bundle(comp)["text/html"]
    out["error"] = ImageRef(id="img_miss01").bind(session_id=sid, client=c)._repr_html_()
    out["_url"] = url
    c.close()
    return out


def _page(outputs: dict[str, str]) -> str:
    cells = "".join(
        f'<div class="cell"><div class="prompt">Out[{htmllib.escape(name)}]:</div>'
        f'<div class="output" id="out-{name}">{body}</div></div>'
        for name, body in outputs.items()
        if not name.startswith("_")
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<style>body{margin:16px;max-width:1000px;font-family:sans-serif}"
        ".cell{margin:0 0 18px 0}.prompt{color:#999;font-size:11px}</style></head>"
        f"<body id='body'>{cells}</body></html>"
    )


@pytest.fixture(scope="module")
def page(outputs, artifacts_dir):
    if not HAVE_CHROMIUM:
        pytest.skip(f"Chromium is not installed ({CHROMIUM})")
    with chromium() as browser:
        pg = browser.new_page(viewport={"width": 1100, "height": 900})
        dialogs: list[str] = []
        pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        pg.set_content(_page(outputs), wait_until="load")
        pg.dialogs = dialogs  # type: ignore[attr-defined]
        yield pg
        pg.screenshot(path=str(artifacts_dir / "render_all_light.png"), full_page=True)
        pg.evaluate(f"() => document.body.setAttribute('style', {DARK!r})")
        pg.screenshot(path=str(artifacts_dir / "render_all_dark.png"), full_page=True)


def test_every_image_decodes(page):
    bad = page.evaluate(
        """() => Array.from(document.images)
                .filter(i => !(i.complete && i.naturalWidth > 0))
                .map(i => i.closest('.output').id)"""
    )
    count = page.evaluate("() => document.images.length")
    # 1+1+1 sheet+4 pages+1 heatmap+1 url+1 splat preview+4 thumbs+their 4 larger views
    assert count == 18 and bad == []


def test_video_plays(page):
    result = page.evaluate(
        """async () => {
            const v = document.querySelector('#out-video video');
            v.muted = true;
            await v.play();
            const t0 = v.currentTime;
            await new Promise(r => setTimeout(r, 800));
            return {t0, t1: v.currentTime, err: v.error && v.error.code, w: v.videoWidth};
        }"""
    )
    assert result["err"] is None and result["w"] == 320
    assert result["t1"] > result["t0"]


def test_unplayable_video_shows_frames_instead(page):
    assert page.locator("#out-video_sheet video").count() == 0
    box = page.locator("#out-video_sheet img").bounding_box()
    assert box and box["width"] > 200


def test_audio_loads(page):
    state = page.evaluate(
        """async () => {
            const a = document.querySelector('#out-audio audio');
            a.muted = true;
            try { await a.play(); } catch (e) {}
            for (let i = 0; i < 50 && a.readyState < 2; i++) await new Promise(r => setTimeout(r, 100));
            a.pause();
            return {ready: a.readyState, duration: a.duration, err: a.error && a.error.code};
        }"""
    )
    assert state["err"] is None and state["ready"] >= 2 and 1.5 < state["duration"] < 2.5


def test_document_pages_visible(page):
    pages = page.locator("#out-document img")
    assert pages.count() == 4
    for i in range(4):
        assert pages.nth(i).is_visible()
        assert pages.nth(i).bounding_box()["height"] > 100


def test_array_summary_shown(page):
    text = page.locator("#out-array").inner_text()
    for word in ("120x160", "float32", "NaN", "min", "max", "mean"):
        assert word in text
    assert page.locator("#out-array pre").is_visible()


def test_links_are_safe_and_card_is_inert(page, outputs):
    links = page.evaluate(
        "() => Array.from(document.links).map(a => [a.href, a.rel, a.target, a.download])"
    )
    saves = [x for x in links if x[3]]  # the artifacts themselves, as inert downloads
    assert saves and all(
        x[0].startswith("data:application/octet-stream;base64,") and x[1] == "noopener noreferrer"
        for x in saves
    )
    assert [x for x in links if not x[3]] == [
        [outputs["_url"], "noopener noreferrer", "_blank", ""]
    ]
    assert page.evaluate("() => window.__pwned") is None
    assert page.dialogs == []  # type: ignore[attr-defined]
    card = page.locator("#out-card").inner_text()
    assert "<script>window.__pwned=1</script>" in card  # shown as text
    assert "vlmrun-orion-1:auto" in card and "total tokens 42" in card
    assert page.locator("#out-card summary img").count() == 4
    assert page.locator("#out-card video").count() == 1
    assert "Not found" in page.locator("#out-error").inner_text()


CONTRAST_JS = """() => {
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const [r, g, b, a = 1] = parse(getComputedStyle(e).backgroundColor);
      if (a > 0.5) return [r, g, b];
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const el of document.querySelectorAll('.output *')) {
    const own = Array.from(el.childNodes).some(
      (n) => n.nodeType === 3 && n.textContent.trim().length > 1);
    const box = el.getBoundingClientRect();
    if (!own || box.width === 0 || box.height === 0) continue;
    out.push({text: el.textContent.trim().slice(0, 40),
              fg: parse(getComputedStyle(el).color).slice(0, 3), bg: background(el)});
  }
  return out;
}"""


def _luminance(rgb) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg, bg) -> float:
    """The WCAG contrast ratio of two sRGB colours (1 to 21)."""
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_text_is_readable_in_light_and_dark_themes(page, theme, artifacts_dir):
    """Every piece of text our outputs show keeps a WCAG contrast of at least 3:1 against
    what is really behind it, measured from computed styles in both themes (JupyterLab's
    dark theme sets the page colours; our inline styles must follow, not fight it)."""
    page.evaluate(f"() => document.body.setAttribute('style', {DARK if theme == 'dark' else ''!r})")
    try:
        texts = page.evaluate(CONTRAST_JS)
        assert len(texts) > 20
        poor = [(t["text"], round(contrast(t["fg"], t["bg"]), 2)) for t in texts]
        poor = [p for p in poor if p[1] < 3.0]
        page.screenshot(path=str(artifacts_dir / f"render_text_{theme}.png"), full_page=True)
        assert poor == []
    finally:
        page.evaluate("() => document.body.removeAttribute('style')")


def test_contrast_measure():
    assert round(contrast((0, 0, 0), (255, 255, 255)), 1) == 21.0
    assert contrast((119, 119, 119), (255, 255, 255)) > 4.4  # #777 on white
    assert contrast((102, 102, 102), (17, 17, 17)) < 3.5  # #666 on #111: poor
