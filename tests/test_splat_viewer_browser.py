"""The interactive 3D viewer in a real browser: headless Chromium (WebGL2 through
SwiftShader) loads the built widget module with a million splats, draws a non-blank
canvas, and the picture changes when the user drags to orbit. The page is served from
memory by the test (a stand-in for the widget's comm channel): every request it makes is
recorded, and nothing else may be asked for. Screenshots go to the artifacts dir.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, HAVE_CHROMIUM, launch
from PIL import Image

from vlmrun_jupyter.splat import viewer
from vlmrun_jupyter.splat.spz import Splats

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not HAVE_CHROMIUM, reason=f"Chromium is not installed ({CHROMIUM})"),
]


@pytest.fixture(scope="module", autouse=True)
def built_viewer():
    """The widget's JavaScript is built by `pip install` (hatch_build.py runs npm); a
    missing bundle is a broken install, not a reason to skip."""
    assert viewer.available(), (
        f"{viewer.STATIC} is not built: run `pip install -e .` with npm available "
        "(or `npm ci && npm run build` in js/)"
    )


ORIGIN = "http://viewer.test"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>splat viewer</title></head>
<body style="margin:0;background:#fff">
<div id="host" style="width:640px"></div>
<script type="module">
  // A stand-in for the widget's model: traits from state.json, and the kernel's answer
  // to the view's "splats?" message from data.bin, as anywidget delivers them.
  const state = await (await fetch("/state.json")).json();
  const data = new DataView(await (await fetch("/data.bin")).arrayBuffer());
  const preview = new DataView(await (await fetch("/preview.png")).arrayBuffer());
  const listeners = {};
  const emit = (event, ...args) => (listeners[event] || []).forEach((f) => f(...args));
  const model = {
    get: (name) => (name === "preview" ? preview : state[name]),
    set: (name, value) => {
      state[name] = value;
      emit("change:" + name);
    },
    save_changes: () => {},
    on: (event, f) => (listeners[event] = [...(listeners[event] || []), f]),
    off: (event, f) => (listeners[event] = (listeners[event] || []).filter((g) => g !== f)),
    send: (msg) => {
      window.sent = [...(window.sent || []), msg];
      if (!state.kernel) throw new Error("Cannot send: no kernel");
      setTimeout(() => emit("msg:custom", { type: "splats", count: state.count }, [data]), 0);
    },
  };
  const widget = (await import("/viewer.js")).default;
  widget.render({ model, el: document.getElementById("host") });
  window.viewerStarted = true;
</script>
</body></html>
"""


def three_blobs(n: int, seed: int = 0) -> Splats:
    """Red, green and blue clouds side by side (x), stacked in depth a little (z)."""
    rng = np.random.default_rng(seed)
    which = rng.integers(0, 3, n)
    centres = np.array([[-1.2, 0.0, 0.0], [0.0, 0.3, -0.6], [1.2, 0.0, 0.6]], np.float32)
    palette = np.array([[0.9, 0.1, 0.1], [0.1, 0.8, 0.2], [0.15, 0.25, 0.95]], np.float32)
    positions = centres[which] + rng.normal(0, 0.35, (n, 3)).astype(np.float32) * [1, 1.4, 1]
    q = rng.normal(size=(n, 4)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return Splats(
        positions=positions.astype(np.float32),
        opacities=np.full(n, 0.8, np.float32),
        colors=palette[which],
        log_scales=np.log(rng.uniform(0.004, 0.02, (n, 3))).astype(np.float32),
        rotations=q,
        sh=np.zeros((n, 0, 3), np.float32),
    )


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.int16)


class ViewerPage:
    """The viewer module on a page served from memory; records every request."""

    def __init__(self, browser, widget, viewport=(700, 520), kernel=True) -> None:
        state = {
            name: getattr(widget, name)
            for name in ("count", "total", "center", "radius", "cov_unit", "up", "height", "title")
        }
        state["kernel"] = kernel
        self.files = {
            "/index.html": ("text/html", PAGE.encode()),
            "/viewer.js": ("text/javascript", viewer.STATIC.read_bytes()),
            "/state.json": ("application/json", json.dumps(state).encode()),
            "/data.bin": ("application/octet-stream", widget.data),
            "/preview.png": ("image/png", widget.preview),
        }
        self.requested: list[str] = []
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.route("**/*", self._serve)
        self.page.goto(f"{ORIGIN}/index.html")
        self.page.wait_for_function("window.viewerStarted === true", timeout=120_000)
        self.root = self.page.locator(".vlmrun-splat")
        self.canvas = self.page.locator(".vlmrun-splat canvas")

    def _serve(self, route) -> None:
        url = route.request.url
        self.requested.append(url)
        path = url[len(ORIGIN) :] if url.startswith(ORIGIN) else None
        if path in self.files:
            mime, body = self.files[path]
            route.fulfill(status=200, content_type=mime, body=body)
        else:
            route.abort()

    def frames(self) -> int:
        return int(self.root.get_attribute("data-frames") or 0)

    def wait_frame_after(self, frames: int) -> np.ndarray:
        """Wait for a sorted frame newer than `frames`, then return the canvas pixels."""
        self.page.wait_for_function(
            f"Number(document.querySelector('.vlmrun-splat')?.dataset.frames || 0) > {frames}",
            timeout=240_000,
        )
        self.page.wait_for_timeout(300)
        return pixels(self.canvas.screenshot())

    def drag(self, dx: float, dy: float, button: str = "left") -> None:
        box = self.canvas.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        self.page.mouse.move(x, y)
        self.page.mouse.down(button=button)
        self.page.mouse.move(x + dx, y + dy, steps=3)  # each move redraws every splat
        self.page.mouse.up(button=button)

    def only_own_requests(self) -> bool:
        return set(self.requested) <= {ORIGIN + path for path in self.files}


def painted(img: np.ndarray) -> np.ndarray:
    return np.abs(img - np.array([250, 250, 250])).sum(axis=2) > 40


def changed(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.abs(a - b).sum(axis=2) > 40).mean())


@pytest.fixture(scope="module")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    b = launch(playwright)
    yield b
    b.close()


def test_viewer_draws_a_million_splats_and_orbits(browser, artifacts_dir):
    widget = viewer.SplatViewer.from_splats(three_blobs(1_000_000), height=400, preview_png=b"")
    bundle = viewer.STATIC.read_bytes()
    print(f"viewer.js: {len(bundle):,} bytes ({len(bundle) / 1024:.1f} KiB; target < 200 KiB)")
    assert len(bundle) < 200 * 1024
    v = ViewerPage(browser, widget)
    try:
        before = v.wait_frame_after(0)
        v.page.screenshot(path=str(artifacts_dir / "splat_viewer_1M.png"))
        assert "1,000,000 splats" in v.root.inner_text()
        assert v.root.get_attribute("data-sort-in-worker") == "true"
        # non-blank: many pixels differ from the background, and all three colours show
        assert painted(before).mean() > 0.05, f"only {painted(before).mean():.1%} painted"
        r, g, b = before[..., 0], before[..., 1], before[..., 2]
        assert ((r > g + 60) & (r > b + 60)).sum() > 500, "no red blob"
        assert ((g > r + 40) & (g > b + 20)).sum() > 500, "no green blob"
        assert ((b > r + 60) & (b > g + 40)).sum() > 500, "no blue blob"

        frames = v.frames()
        v.drag(180, 40)
        after = v.wait_frame_after(frames)
        v.page.screenshot(path=str(artifacts_dir / "splat_viewer_1M_orbit.png"))
        assert changed(before, after) > 0.02, "orbiting did not change the picture"
        assert not v.errors, v.errors
        assert v.only_own_requests(), v.requested
    finally:
        v.page.close()


def test_viewer_controls_pan_zoom_up_axis_and_reset(browser, artifacts_dir):
    hostile = '<img src=x onerror="window.pwned=1"> scene'
    widget = viewer.SplatViewer.from_splats(
        three_blobs(30_000, seed=3), height=300, title=hostile, preview_png=b""
    )
    v = ViewerPage(browser, widget, viewport=(700, 420))
    try:
        home = v.wait_frame_after(0)
        # the caption is text, never markup
        assert v.page.locator(".vlmrun-splat .bar .title").inner_text() == hostile
        assert v.page.locator(".vlmrun-splat img").count() == 0
        assert v.page.evaluate("() => window.pwned") is None
        cols = np.nonzero(painted(home).any(axis=0))[0]
        # pan (right-drag) moves the subject sideways
        frames = v.frames()
        v.drag(120, 0, button="right")
        panned = v.wait_frame_after(frames)
        moved = np.nonzero(painted(panned).any(axis=0))[0]
        assert moved.mean() > cols.mean() + 40, (cols.mean(), moved.mean())
        # zoom in: the subject covers more of the canvas
        frames = v.frames()
        box = v.canvas.bounding_box()
        v.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        v.page.mouse.wheel(0, -600)
        zoomed = v.wait_frame_after(frames)
        assert painted(zoomed).mean() > painted(panned).mean() * 1.3
        # reset brings the first view back
        frames = v.frames()
        v.page.locator(".vlmrun-splat button.reset").click()
        assert changed(home, v.wait_frame_after(frames)) < 0.01
        # the up-axis toggle (y -> -y) turns the view upside down: red moves from left to right
        frames = v.frames()
        v.page.locator(".vlmrun-splat button.up").click()
        assert "up: -y" in v.root.inner_text()
        flipped = v.wait_frame_after(frames)
        v.page.screenshot(path=str(artifacts_dir / "splat_viewer_up_minus_y.png"))

        def red_columns(img: np.ndarray) -> np.ndarray:
            return np.nonzero((img[..., 0] > img[..., 1] + 60) & (img[..., 0] > img[..., 2] + 60))[
                1
            ]

        assert red_columns(home).mean() < home.shape[1] / 2 < red_columns(flipped).mean()
        assert not v.errors, v.errors
        assert v.only_own_requests(), v.requested
    finally:
        v.page.close()


def test_viewer_without_webgl_shows_the_static_picture(playwright, artifacts_dir):
    from vlmrun_jupyter.splat import preview

    splats = three_blobs(5_000, seed=4)
    png = io.BytesIO()
    preview.render(splats, 320, 240).save(png, format="PNG")
    widget = viewer.SplatViewer.from_splats(splats, preview_png=png.getvalue())
    args = [a for a in CHROMIUM_ARGS if "swiftshader" not in a] + [
        "--disable-webgl",
        "--disable-webgl2",
    ]
    b = launch(playwright, args)
    try:
        v = ViewerPage(b, widget)
        img = v.page.locator(".vlmrun-splat img.picture")
        img.wait_for(timeout=30_000)
        v.page.wait_for_function(
            "() => document.querySelector('.vlmrun-splat').classList.contains('unavailable')"
        )
        assert "Interactive 3D view unavailable: WebGL2" in v.root.inner_text()
        v.page.wait_for_function(
            "i => i.complete && i.naturalWidth === 320", arg=img.element_handle()
        )
        v.page.screenshot(path=str(artifacts_dir / "splat_viewer_no_webgl.png"))
        assert v.only_own_requests(), v.requested
        assert v.errors == []  # the fallback is a designed path: no exception, no console error
    finally:
        b.close()


def test_viewer_without_a_kernel_shows_the_static_picture(browser):
    """Widget state restored from a saved notebook has no kernel behind it: the view's
    request for the splats fails, and it shows the picture the state carries."""
    from vlmrun_jupyter.splat import preview

    splats = three_blobs(5_000, seed=5)
    png = io.BytesIO()
    preview.render(splats, 320, 240).save(png, format="PNG")
    widget = viewer.SplatViewer.from_splats(splats, preview_png=png.getvalue())
    v = ViewerPage(browser, widget, kernel=False)
    try:
        img = v.page.locator(".vlmrun-splat img.picture")
        img.wait_for(timeout=30_000)
        assert "unavailable: no kernel is connected" in v.root.inner_text()
        v.page.wait_for_function(
            "i => i.complete && i.naturalWidth === 320", arg=img.element_handle()
        )
        assert v.page.evaluate("() => window.sent") == [{"type": "splats?"}]
        assert v.page.locator(".vlmrun-splat canvas").count() == 0
    finally:
        v.page.close()
