"""The 3D viewer inside JupyterLab 4 and Notebook 7 (headless Chromium, a real server and
kernel): in the dark theme its controls are readable (contrast measured from pixels) and
its background is dark; right-drag pans without JupyterLab's context menu; a wheel over a
viewer nobody clicked scrolls the notebook, and after a click the wheel zooms; the
keyboard orbits and resets; the caption can be selected. Screenshots go to
test-artifacts/.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from browser import LAB_MARKS, chromium
from PIL import Image
from test_notebooks_lab_browser import (
    JupyterServer,
    Page,
    dark_theme,
    open_notebook,
    write_notebook,
)

pytestmark = LAB_MARKS

SCENE = """\
import numpy as np
from vlmrun_jupyter.splat.spz import Splats
from vlmrun_jupyter.splat.viewer import SplatViewer

rng = np.random.default_rng(0)
n = 20_000
which = rng.integers(0, 3, n)
centres = np.array([[-1.2, 0, 0], [0, 0.3, -0.6], [1.2, 0, 0.6]], np.float32)
palette = np.array([[0.9, 0.1, 0.1], [0.1, 0.8, 0.2], [0.15, 0.25, 0.95]], np.float32)
q = rng.normal(size=(n, 4)).astype(np.float32)
splats = Splats(
    positions=(centres[which] + rng.normal(0, 0.35, (n, 3))).astype(np.float32),
    opacities=np.full(n, 0.8, np.float32),
    colors=palette[which],
    log_scales=np.log(rng.uniform(0.004, 0.02, (n, 3))).astype(np.float32),
    rotations=q / np.linalg.norm(q, axis=1, keepdims=True),
    sh=np.zeros((n, 0, 3), np.float32),
)
SplatViewer.from_splats(splats, height=360, preview_png=b"", title="ReconRef · rec_demo01")
"""


def _notebook(path: Path) -> None:
    filler = "\n".join(f"# line {i}" for i in range(40))
    write_notebook(path, [f"{filler}\n1 + 1", SCENE, f"{filler}\n1 + 1"])


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.float64)


def _scene(canvas) -> np.ndarray:
    """The canvas pixels, without its top quarter (the notebook's sticky toolbar may lie
    over it once the page scrolled) and a 3-pixel rim (borders at fractional offsets)."""
    img = _pixels(canvas.screenshot())
    return img[img.shape[0] // 4 : -3, 3:-3]


def _luminance(rgb: np.ndarray) -> np.ndarray:
    c = rgb / 255
    c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return c @ np.array([0.2126, 0.7152, 0.0722])


def contrast(png: bytes) -> float:
    """WCAG contrast between a control's background (its most common colour) and its
    text (the pixel farthest from that in luminance), measured on a screenshot."""
    img = _pixels(png).reshape(-1, 3)
    colours, counts = np.unique(img, axis=0, return_counts=True)
    background = _luminance(colours[counts.argmax()])
    lum = _luminance(img)
    text = lum[np.abs(lum - background).argmax()]
    hi, lo = max(background, text), min(background, text)
    return (hi + 0.05) / (lo + 0.05)


def _frames(page) -> int:
    return page.evaluate(
        "() => Number(document.querySelector('.vlmrun-splat')?.dataset.frames || 0)"
    )


def _wait_frame_after(page, frames: int) -> None:
    page.wait_for_function(
        f"() => Number(document.querySelector('.vlmrun-splat')?.dataset.frames || 0) > {frames}",
        timeout=120_000,
    )
    page.wait_for_timeout(300)


def _scroll_top(page) -> float:
    """How far the notebook's scrolling container has scrolled."""
    return page.evaluate(
        """() => {
            let n = document.querySelector('.vlmrun-splat');
            while (n && !(n.scrollHeight > n.clientHeight + 1 &&
                          /(auto|scroll)/.test(getComputedStyle(n).overflowY))) n = n.parentElement;
            return n ? n.scrollTop : -1;
        }"""
    )


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_viewer_fits_the_app_dark_theme_pointer_wheel_keys(app, tmp_path, artifacts_dir):
    root = tmp_path / "root"
    root.mkdir()
    _notebook(root / "scene.ipynb")
    server = JupyterServer(app, root, tmp_path / "jupyter.log")
    try:
        with chromium() as browser:
            p = Page(browser, server.origin)
            page = p.page
            page.set_viewport_size({"width": 1100, "height": 700})
            open_notebook(page, server.url("scene.ipynb"))
            dark_theme(page)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            _wait_frame_after(page, 0)
            viewer = page.locator(".jp-OutputArea-output .vlmrun-splat").first
            canvas = viewer.locator("canvas")
            viewer.scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            page.screenshot(path=str(artifacts_dir / f"{app}-viewer-dark.png"))

            # dark theme: a dark scene background, readable buttons and caption
            scene = _scene(canvas)
            assert np.median(_luminance(scene)) < 0.1, "the scene background is not dark"
            for selector in ("button.up", "button.reset", ".bar .info", ".bar .title"):
                ratio = contrast(viewer.locator(selector).screenshot())
                print(f"{app} dark theme {selector}: contrast {ratio:.1f}")
                assert ratio >= 4.5, f"{selector}: contrast {ratio:.2f} in the dark theme"

            # the caption is selectable text (copy the id)
            selected = page.evaluate(
                """() => { const t = document.querySelector('.vlmrun-splat .bar .title');
                   const r = document.createRange(); r.selectNodeContents(t);
                   const s = getSelection(); s.removeAllRanges(); s.addRange(r);
                   return s.toString(); }"""
            )
            assert selected == "ReconRef · rec_demo01"
            assert page.evaluate(
                "() => getComputedStyle(document.querySelector('.vlmrun-splat .bar')).userSelect"
            ) in ("text", "auto")

            # a wheel over a viewer nobody clicked scrolls the notebook, the scene stays
            box = canvas.bounding_box()
            middle = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.move(*middle)
            before_scroll, frames = _scroll_top(page), _frames(page)
            page.mouse.wheel(0, 200)
            page.wait_for_timeout(600)
            assert _scroll_top(page) > before_scroll, "the wheel did not scroll the notebook"
            assert _frames(page) == frames, "an idle viewer zoomed on the wheel"
            viewer.scroll_into_view_if_needed()
            page.wait_for_timeout(300)

            # right-drag pans and no context menu opens
            box = canvas.bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            home = _scene(canvas)
            frames = _frames(page)
            page.mouse.move(x, y)
            page.mouse.down(button="right")
            page.mouse.move(x + 120, y, steps=3)
            page.mouse.up(button="right")
            _wait_frame_after(page, frames)
            page.wait_for_timeout(300)
            page.screenshot(path=str(artifacts_dir / f"{app}-viewer-dark-right-drag.png"))
            assert page.locator(".lm-Menu").count() == 0, "a context menu opened"
            panned = _scene(canvas)
            dark = np.median(home.reshape(-1, 3), axis=0)
            cols = np.nonzero((np.abs(home - dark).sum(axis=2) > 60).any(axis=0))[0]
            moved = np.nonzero((np.abs(panned - dark).sum(axis=2) > 60).any(axis=0))[0]
            assert moved.mean() > cols.mean() + 40, (cols.mean(), moved.mean())

            # clicked: now the wheel zooms and the notebook stays put
            top, frames = _scroll_top(page), _frames(page)
            page.mouse.move(x, y)
            page.mouse.wheel(0, -400)
            _wait_frame_after(page, frames)
            assert abs(_scroll_top(page) - top) < 2, "the notebook scrolled while zooming"
            zoomed = _scene(canvas)
            lit = lambda img: (np.abs(img - dark).sum(axis=2) > 60).mean()  # noqa: E731
            assert lit(zoomed) > lit(panned) * 1.2

            # keyboard: focus is on the canvas; arrows orbit, 0 resets, notebook untouched
            assert page.evaluate(
                "() => document.activeElement === document.querySelector('.vlmrun-splat canvas')"
            ), "the canvas did not keep keyboard focus"
            cells = page.locator(".jp-Notebook .jp-Cell").count()
            frames = _frames(page)
            page.keyboard.press("ArrowLeft")
            page.keyboard.press("ArrowLeft")
            _wait_frame_after(page, frames)
            orbited = _scene(canvas)
            assert (np.abs(orbited - zoomed).sum(axis=2) > 40).mean() > 0.01
            frames = _frames(page)
            page.keyboard.press("0")
            _wait_frame_after(page, frames)
            reset = _scene(canvas)
            assert (np.abs(reset - home).sum(axis=2) > 40).mean() < 0.01, "0 did not reset"
            page.keyboard.press("b")  # a notebook shortcut (insert cell below) must not fire
            page.wait_for_timeout(300)
            assert page.locator(".jp-Notebook .jp-Cell").count() == cells
            assert "Error displaying widget" not in page.locator(".jp-Notebook").inner_text()
    finally:
        server.stop()
