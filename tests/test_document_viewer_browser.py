"""The document viewer inside JupyterLab 4 and Notebook 7 (headless Chromium, a real
Jupyter server and kernel, the local server in the kernel): a 60-page PDF written at test
time, displayed as a `DocumentRef`; jumping to page 40 shows page 40 (its pixels, its
text layer, its search hit), the keyboard steps pages, the thumbnails load lazily, and a
notebook shortcut does not fire inside the viewer. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import io
from pathlib import Path

import pdfs
import pytest
from browser import LAB_MARKS, chromium
from PIL import Image, ImageStat
from test_notebooks_lab_browser import (
    JupyterServer,
    Page,
    dark_theme,
    open_notebook,
    write_notebook,
)
from test_viewer_lab_browser import contrast

pytestmark = LAB_MARKS

CELL = """\
from vlmrun_jupyter import Client, LocalServer
from vlmrun_jupyter.refs import DocumentRef

srv = LocalServer().start()
sid, oid = srv.add_artifact("doc", "sixty.pdf")
client = Client(api_key=srv.api_key, base_url=srv.base_url, cache_dir="cache")
DocumentRef(id=oid).bind(session_id=sid, client=client)
"""
ROOT = ".jp-OutputArea-output .vlmrun-doc"


def _notebook(path: Path) -> None:
    write_notebook(path, [CELL])


def _band(n: int) -> tuple[int, int, int]:
    return (n * 37 % 255, n * 91 % 255, n * 53 % 255)  # pdfs.numbered's band colour


def _shows(page, n: int) -> None:
    page.wait_for_function(
        f"() => document.querySelector('{ROOT}')?.dataset.shown === '{n}'", timeout=60_000
    )


def _band_colour(img) -> tuple[int, ...]:
    """The band's colour on the page picture as drawn on screen."""
    shot = Image.open(io.BytesIO(img.screenshot())).convert("RGB")
    w, h = shot.size
    return shot.getpixel((w // 2, int(h * (1 - 700 / 792))))


def _near(a, b, tol: int = 16) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_page_40_of_60_after_a_jump_and_the_keyboard(app, tmp_path, artifacts_dir):
    root = tmp_path / "root"
    root.mkdir()
    pdfs.numbered(root / "sixty.pdf", 60, title="Sixty pages")
    _notebook(root / "doc.ipynb")
    server = JupyterServer(app, root, tmp_path / "jupyter.log")
    try:
        with chromium() as browser:
            p = Page(browser, server.origin)
            page = p.page
            page.set_viewport_size({"width": 1200, "height": 900})
            open_notebook(page, server.url("doc.ipynb"))
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            _shows(page, 1)
            viewer = page.locator(ROOT).first
            assert viewer.locator(".of").inner_text() == "/ 60"
            assert viewer.locator(".bar .title").inner_text().startswith("DocumentRef · doc_")
            # the thumbnails near the top load, the far ones wait until scrolled to
            page.wait_for_function(
                f"() => document.querySelectorAll('{ROOT} .thumb img').length >= 3",
                timeout=60_000,
            )
            assert viewer.locator(".thumb").count() == 60
            assert viewer.locator(".thumb img").count() < 30

            # jump: type 40 in the page box
            box = viewer.locator("input.pageno")
            box.fill("40")
            box.press("Enter")
            _shows(page, 40)
            img = viewer.locator(".page img")
            assert img.get_attribute("alt") == "page 40 of 60"
            assert img.get_attribute("data-page") == "40"
            assert _near(_band_colour(img), _band(40)), _band_colour(img)
            # the page's own picture at the size shown: width in device pixels, not a thumbnail
            natural = page.evaluate(
                f"() => document.querySelector('{ROOT} .page img').naturalWidth"
            )
            assert natural >= img.bounding_box()["width"] - 1
            # its text layer holds the page's words (selectable text over the picture)
            page.wait_for_function(
                f"() => [...document.querySelectorAll('{ROOT} .page .text span')]"
                ".some(s => s.textContent === 'This is page 40 of 60.')",
                timeout=30_000,
            )
            # search lists page 40 and only it
            query = viewer.locator("input.query")
            query.fill("page 40")
            query.press("Enter")
            page.wait_for_function(
                f"() => document.querySelector('{ROOT}')?.dataset.hits === '40'", timeout=30_000
            )
            assert "p. 40" in viewer.locator(".results").inner_text()
            page.wait_for_function(  # the words found are marked on the page itself
                f"() => document.querySelectorAll('{ROOT} .page .text span.hit').length >= 1",
                timeout=30_000,
            )
            page.screenshot(path=str(artifacts_dir / f"{app}-document-page40.png"))

            # keyboard: click the page (focus), then arrows and Home/End; notebook keys stay out
            cells = page.locator(".jp-Notebook .jp-Cell").count()
            viewer.locator(".page").click(position={"x": 10, "y": 10})
            page.keyboard.press("ArrowRight")
            _shows(page, 41)
            assert _near(_band_colour(viewer.locator(".page img")), _band(41))
            page.keyboard.press("PageUp")
            _shows(page, 40)
            page.keyboard.press("End")
            _shows(page, 60)
            page.keyboard.press("b")  # insert-cell-below in the notebook, not here
            page.wait_for_timeout(300)
            assert page.locator(".jp-Notebook .jp-Cell").count() == cells
            # a result in the search list jumps back to its page
            viewer.locator(".results button[data-page='40']").click()
            _shows(page, 40)
            # zoom: + doubles... by steps, and the page is asked for again at the larger size
            before = img.bounding_box()["width"]
            viewer.locator("button[title^='Zoom in']").click()
            _shows(page, 40)
            assert viewer.locator(".page img").bounding_box()["width"] > before * 1.2
            page.screenshot(path=str(artifacts_dir / f"{app}-document-zoomed.png"))

            # the dark theme: the viewer's chrome follows it and stays readable
            dark_theme(page)
            page.wait_for_timeout(500)
            page.screenshot(path=str(artifacts_dir / f"{app}-document-dark.png"))
            bar = Image.open(io.BytesIO(viewer.locator(".bar").screenshot())).convert("L")
            assert ImageStat.Stat(bar).median[0] < 90, "the bar is not dark"
            for selector in ("button.find", ".bar .of", ".info", ".results .head"):
                ratio = contrast(viewer.locator(selector).screenshot())
                assert ratio >= 4.5, f"{selector}: contrast {ratio:.2f} in the dark theme"
            assert "Error displaying widget" not in page.locator(".jp-Notebook").inner_text()
    finally:
        server.stop()
