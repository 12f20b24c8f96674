"""A notebook saved without widget state (JupyterLab's default) and reopened after a
kernel restart shows each live viewer's static picture (3D, document, video), not "Error
displaying widget: model not found" (headless Chromium, JupyterLab 4 and Notebook 7 off
one real server, a real kernel and the LocalServer). Before the restart the live viewers
show, so the package's JupyterLab extension (labext/) leaves live widgets alone; with the
extension's code blocked, the same reopened page shows ipywidgets' error (the problem is
real in the installed JupyterLab). A widget with only a text repr (an ipywidgets slider)
keeps ipywidgets' behaviour, live and reopened. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import test_notebooks_lab_browser as lab_browser
from test_notebooks_lab_browser import KERNEL_IDLE, JupyterServer, Page, write_notebook

pytestmark = lab_browser.pytestmark
browser = lab_browser.browser  # the module-scoped Chromium fixture

EXTENSION = "vlmrun-jupyter-widget-fallback"  # labext/package.json "name"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

SETUP = """\
import os

os.environ["VLMRUN_CACHE_DIR"] = {cache!r}

import tempfile
from pathlib import Path

from pydantic import BaseModel

from vlmrun_jupyter import Client, DocumentRef, LocalServer, ReconRef, VideoRef
from vlmrun_jupyter.local import samples
from vlmrun_jupyter.session import set_default_client

server = LocalServer().start()
client = Client(api_key=server.api_key, base_url=server.base_url)
set_default_client(client)
inputs = Path(tempfile.mkdtemp())
"""
# one output per live viewer: 3D, document, video
VIEWERS = {
    "ReconRef": """\
class Reconstruction(BaseModel):
    recon: ReconRef


recon = client.complete(
    "3D reconstruction of this photo", inputs=[samples.sample_image()], schema=Reconstruction
)
recon.result.recon
""",
    "DocumentRef": """\
class Redacted(BaseModel):
    document: DocumentRef


report = samples.sample_pdf(inputs / "report.pdf", pages=3)
client.complete("Redact the document", inputs=[report], schema=Redacted).result.document
""",
    "VideoRef": """\
class Trimmed(BaseModel):
    video: VideoRef


clip = samples.sample_video(inputs / "clip.mp4", seconds=2.0)
client.complete("Trim the video to its first 1 seconds", inputs=[clip], schema=Trimmed).result.video
""",
}
# a result card holding a recon: in a live kernel it offers the 3D viewer (issue 16.3)
CARD = """\
class Reconstruction(BaseModel):
    recon: ReconRef


client.complete(
    "3D reconstruction of this photo", inputs=[samples.sample_image()], schema=Reconstruction
)
"""
# a widget with only a text repr beside its view: the extension leaves it to ipywidgets
SLIDER = "import ipywidgets\n\nipywidgets.IntSlider(value=7, description='plain')\n"


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    """One `jupyter lab` server; it serves Notebook 7's pages too."""
    root = tmp_path_factory.mktemp("reopen")
    notebooks = root / "root"
    notebooks.mkdir()
    for app in ("lab", "notebook"):
        setup = SETUP.format(cache=str(root / f"cache-{app}"))
        write_notebook(notebooks / f"{app}.ipynb", [setup, *VIEWERS.values(), SLIDER])
    write_notebook(notebooks / "card.ipynb", [SETUP.format(cache=str(root / "c")), CARD])
    jupyter = JupyterServer("lab", notebooks, root / "jupyter.log")
    yield jupyter
    jupyter.stop()


def _open(p: Page, server: JupyterServer, name: str, app: str) -> None:
    p.page.goto(server.url(name, app=app))
    p.page.wait_for_function(KERNEL_IDLE, timeout=60_000)


ALL_LIVE = """() => { const ws = [...document.querySelectorAll('.vlmrun-live-or-static')];
    return ws.length === %d && ws.every(w => !w.querySelector('.vlmrun-static-fallback'))
        && Number(document.querySelector('.vlmrun-splat')?.dataset.frames || 0) >= 1
        && ws[ws.length - 1].querySelector('.widget-slider'); }"""
# The widget manager (with the restarted kernel) reported every model missing: each
# wrapped widget renderer was dropped, only the picture is left.
ALL_STATIC = """() => { const ws = [...document.querySelectorAll('.vlmrun-live-or-static')];
    return ws.length === %d + 1 && ws.slice(0, -1).every(w => w.children.length === 1
        && w.firstElementChild.classList.contains('vlmrun-static-fallback')); }"""


def _run_save_and_restart(p: Page, server: JupyterServer, app: str, shots: Path) -> str:
    """Run the notebook in the page, check the live viewers show, save (JupyterLab's
    default: no widget state), restart the kernel from the page, close the page."""
    name = f"{app}.ipynb"
    page = p.page
    _open(p, server, name, app)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    # every viewer shows live in its wrapped output (the picture underneath is gone)
    page.wait_for_function(ALL_LIVE % (len(VIEWERS) + 1), timeout=180_000)
    splat = page.locator(".vlmrun-live-or-static .vlmrun-splat canvas").first
    splat.scroll_into_view_if_needed()
    assert splat.is_visible()
    page.screenshot(path=str(shots / f"{app}-reopen-1-live.png"))
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function(
        "() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000
    )
    saved = json.loads((server.root / name).read_text("utf-8"))
    assert "widgets" not in saved["metadata"], "the default save stored widget state"
    for cell in saved["cells"][1:-1]:
        data = cell["outputs"][-1]["data"]
        assert WIDGET_VIEW in data and "text/html" in data, list(data)
    page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart()"
    )
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    # ipywidgets keeps the views of a restarted kernel's models: the viewers stay
    assert splat.is_visible()
    assert "model not found" not in page.evaluate("() => document.body.textContent")
    p.context.close()
    return name


@pytest.fixture(scope="module")
def saved(jupyter, browser):
    """app -> its notebook, run, saved without widget state and its kernel restarted
    (once per app for the module)."""
    done: dict[str, str] = {}

    def get(app: str, shots: Path) -> str:
        if app not in done:
            done[app] = _run_save_and_restart(Page(browser, jupyter.origin), jupyter, app, shots)
        return done[app]

    return get


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_reopened_without_widget_state_shows_the_picture(
    app, jupyter, saved, browser, artifacts_dir
):
    name = saved(app, artifacts_dir)
    p = Page(browser, jupyter.origin)  # a fresh page load of the saved notebook
    page = p.page
    _open(p, jupyter, name, app)
    page.wait_for_function(ALL_STATIC % len(VIEWERS), timeout=60_000)
    outputs = page.locator(".vlmrun-live-or-static")
    for i, kind in enumerate(VIEWERS):
        picture = outputs.nth(i).locator(".vlmrun-static-fallback")
        picture.scroll_into_view_if_needed()
        assert picture.is_visible() and picture.bounding_box()["height"] > 100, kind
        assert kind in picture.inner_text(), kind  # the picture's caption
        for img in picture.locator("img").element_handles():
            page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img)
        if kind == "ReconRef":  # the 3D scene's picture, where the viewer was
            img = picture.locator("img").first
            box = img.bounding_box()
            assert img.is_visible() and box["width"] > 200 and box["height"] > 150, box
            page.screenshot(path=str(artifacts_dir / f"{app}-reopen-2-picture.png"))
        assert "Error displaying widget" not in outputs.nth(i).text_content(), kind
    # ipywidgets' own behaviour for a widget with only a text repr, the page's only error
    slider = outputs.nth(len(VIEWERS))
    page.wait_for_function(
        "w => w.textContent === 'Error displaying widget: model not found'",
        arg=slider.element_handle(),
    )
    assert page.evaluate("() => document.body.textContent").count("model not found") == 1
    # no viewer without its model
    assert page.locator(".vlmrun-splat, .vlmrun-doc, .vlmrun-video").count() == 0
    assert p.external_requests() == []
    p.context.close()


def test_without_the_extension_the_reopened_notebook_shows_ipywidgets_error(
    jupyter, saved, browser, artifacts_dir
):
    """The control: the same reopen with the extension's code blocked shows the error the
    extension exists for (if ipywidgets ever falls back by itself, this says so)."""
    name = saved("lab", artifacts_dir)
    p = Page(browser, jupyter.origin)
    p.page.route(f"**/extensions/{EXTENSION}/**", lambda route: route.abort())
    _open(p, jupyter, name, "lab")
    p.page.wait_for_function(
        """n => [...document.querySelectorAll('.jp-OutputArea-output')].filter(
               e => e.textContent === 'Error displaying widget: model not found').length === n""",
        arg=len(VIEWERS) + 1,
        timeout=60_000,
    )
    p.page.screenshot(path=str(artifacts_dir / "lab-reopen-without-extension.png"))
    assert p.page.locator(".vlmrun-live-or-static").count() == 0
    p.context.close()


def test_the_extension_is_installed_and_enabled():
    """`pip install -e ".[test,lab]"` put the prebuilt extension where Jupyter finds it."""
    listing = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    out = listing.stdout + listing.stderr
    line = next((ln for ln in out.splitlines() if EXTENSION in ln), "")
    assert "enabled" in line and "OK" in line and "vlmrun-jupyter" in line, out


def test_a_card_offers_the_3d_viewer_live_and_stays_a_card_reopened(
    jupyter, browser, artifacts_dir
):
    """In JupyterLab a result card holding a recon shows the static card and an offer; a
    click on the offer shows the 3D viewer under the card (a canvas that draws). Saved
    without widget state and reopened after a restart, the output is the static card
    (whose hint names the offer), with no error."""
    p = Page(browser, jupyter.origin)
    page = p.page
    _open(p, jupyter, "card.ipynb", "lab")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    offer = page.get_by_role("button", name="open 3D viewer · ReconRef recon_", exact=False)
    offer.wait_for(timeout=120_000)
    card = page.locator(".vlmrun-live-card")
    assert card.count() == 1 and "Reconstruction" in card.inner_text()
    assert page.locator(".vlmrun-splat").count() == 0  # no viewer up front
    offer.click()
    page.wait_for_function(
        "() => Number(document.querySelector('.vlmrun-live-card .vlmrun-splat')"
        "?.dataset.frames || 0) >= 1",
        timeout=60_000,
    )
    canvas = card.locator(".vlmrun-splat canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert canvas.is_visible() and box["width"] > 200 and box["height"] > 150, box
    page.screenshot(path=str(artifacts_dir / "lab-card-3d-viewer-opened.png"))
    page.get_by_role("button", name="close 3D viewer · ReconRef recon_", exact=False).wait_for()

    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function(
        "() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000
    )
    saved = json.loads((jupyter.root / "card.ipynb").read_text("utf-8"))
    (out,) = [o for o in saved["cells"][1]["outputs"] if WIDGET_VIEW in o.get("data", {})]
    assert "“open 3D viewer” under the card" in "".join(out["data"]["text/html"])
    page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart()"
    )
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    p.context.close()

    p = Page(browser, jupyter.origin)
    _open(p, jupyter, "card.ipynb", "lab")
    fallback = p.page.locator(".vlmrun-live-or-static .vlmrun-static-fallback")
    fallback.wait_for(timeout=60_000)
    assert "Reconstruction" in fallback.inner_text()
    assert "“open 3D viewer” under the card" in fallback.inner_text()
    assert "model not found" not in p.page.evaluate("() => document.body.textContent")
    p.page.screenshot(path=str(artifacts_dir / "lab-card-reopened.png"))
    assert p.external_requests() == []
    p.context.close()
