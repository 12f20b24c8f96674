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
from browser import CHROMIUM, CHROMIUM_ARGS, HAVE_CHROMIUM
from PIL import Image

from vlmrun_jupyter.splat import viewer
from vlmrun_jupyter.splat.spz import Splats

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not HAVE_CHROMIUM, reason="needs /usr/bin/chromium"),
    pytest.mark.skipif(not viewer.available(), reason="viewer.js not built (npm run build)"),
]

ORIGIN = "http://viewer.test"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>splat viewer</title></head>
<body style="margin:0;background:#fff">
<div id="host" style="width:640px"></div>
<script type="module">
  const state = await (await fetch("/state.json")).json();
  const data = new DataView(await (await fetch("/data.bin")).arrayBuffer());
  const listeners = {};
  const model = {
    get: (name) => (name === "data" ? data : state[name]),
    set: (name, value) => {
      state[name] = value;
      (listeners["change:" + name] || []).forEach((f) => f());
    },
    save_changes: () => {},
    on: (event, f) => (listeners[event] = [...(listeners[event] || []), f]),
    off: (event, f) => (listeners[event] = (listeners[event] || []).filter((g) => g !== f)),
    send: () => {},
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


def test_viewer_draws_a_million_splats_and_orbits(artifacts_dir):
    from playwright.sync_api import sync_playwright

    widget = viewer.SplatViewer.from_splats(three_blobs(1_000_000), height=400)
    state = {
        name: getattr(widget, name)
        for name in ("count", "total", "center", "radius", "cov_unit", "up", "height")
    }
    bundle = viewer.STATIC.read_bytes()
    print(f"viewer.js: {len(bundle):,} bytes ({len(bundle) / 1024:.1f} KiB; target < 200 KiB)")
    assert len(bundle) < 200 * 1024
    files = {
        "/index.html": ("text/html", PAGE.encode()),
        "/viewer.js": ("text/javascript", bundle),
        "/state.json": ("application/json", json.dumps(state).encode()),
        "/data.bin": ("application/octet-stream", widget.data),
    }
    requested: list[str] = []

    def serve(route):
        url = route.request.url
        requested.append(url)
        path = url[len(ORIGIN) :] if url.startswith(ORIGIN) else None
        if path in files:
            mime, body = files[path]
            route.fulfill(status=200, content_type=mime, body=body)
        else:
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 700, "height": 520})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.route("**/*", serve)
            page.goto(f"{ORIGIN}/index.html")
            page.wait_for_function("window.viewerStarted === true", timeout=120_000)
            root = page.locator(".vlmrun-splat")
            page.wait_for_function(
                "Number(document.querySelector('.vlmrun-splat')?.dataset.frames || 0) >= 1",
                timeout=240_000,
            )
            assert "1,000,000 splats" in root.inner_text()
            assert root.get_attribute("data-sort-in-worker") == "true"
            canvas = page.locator(".vlmrun-splat canvas")
            before = pixels(canvas.screenshot())
            page.screenshot(path=str(artifacts_dir / "splat_viewer_1M.png"))

            # non-blank: many pixels differ from the background, and all three colours show
            background = np.array([250, 250, 250])
            painted = np.abs(before - background).sum(axis=2) > 40
            assert painted.mean() > 0.05, f"only {painted.mean():.1%} of the canvas is painted"
            r, g, b = before[..., 0], before[..., 1], before[..., 2]
            assert ((r > g + 60) & (r > b + 60)).sum() > 500, "no red blob"
            assert ((g > r + 40) & (g > b + 20)).sum() > 500, "no green blob"
            assert ((b > r + 60) & (b > g + 40)).sum() > 500, "no blue blob"

            # orbit: drag across the canvas, wait for the re-sorted frame
            frames = int(root.get_attribute("data-frames"))
            box = canvas.bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x + 180, y + 40, steps=3)  # each move redraws a million splats
            page.mouse.up()
            page.wait_for_function(
                f"Number(document.querySelector('.vlmrun-splat').dataset.frames) > {frames}",
                timeout=240_000,
            )
            page.wait_for_timeout(500)
            after = pixels(canvas.screenshot())
            page.screenshot(path=str(artifacts_dir / "splat_viewer_1M_orbit.png"))
            changed = np.abs(after - before).sum(axis=2) > 40
            assert changed.mean() > 0.02, f"orbit changed only {changed.mean():.1%} of pixels"

            # the up-axis toggle flips the view
            page.locator(".vlmrun-splat button.up").click()
            assert "up: -y" in root.inner_text()
            assert not errors, errors
        finally:
            browser.close()
    assert sorted(set(requested)) == sorted(ORIGIN + path for path in files), requested
