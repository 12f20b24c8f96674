"""The quickstart where people use it: JupyterLab and Notebook 7 in headless Chromium.

A real Jupyter server on loopback (token auth), a real kernel, every cell run from the
browser; then what a person would see is checked in the page: pictures decoded, the
video playing, PDF pages visible, no error output, no console error, and no request
leaving loopback. The executed notebook reopened untrusted, and the demo's exported
HTML, still show the static previews. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from browser import LAB_MARKS, chromium
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "notebooks" / "quickstart.ipynb"
KINDS = (
    "ImageRef",
    "VideoRef",
    "AudioRef",
    "DocumentRef",
    "ReconRef",
    "ArrayRef",
    "UrlRef",
    "KeyFrames",
)

pytestmark = LAB_MARKS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterServer:
    """`jupyter lab` or `jupyter notebook` on loopback with a random token."""

    def __init__(self, app: str, root: Path, log: Path) -> None:
        self.app, self.root = app, root
        state = root.parent / f"{app}-state"  # fresh settings and workspaces: nothing restored
        # Render every cell (no windowing), so the page holds every output we check.
        tracker = (
            state
            / "settings"
            / "@jupyterlab"
            / "notebook-extension"
            / "tracker.jupyterlab-settings"
        )
        tracker.parent.mkdir(parents=True, exist_ok=True)
        tracker.write_text('{"windowingMode": "none"}')
        # No "get notified about Jupyter news?" toast over the screenshots (and no fetch).
        news = tracker.parent.parent / "apputils-extension" / "notification.jupyterlab-settings"
        news.parent.mkdir(parents=True, exist_ok=True)
        news.write_text('{"fetchNews": "false"}')
        self.port, self.token = _free_port(), secrets.token_hex(16)
        # Both front ends are exposed: either server also serves the other's pages
        # (`url(..., app=)`), so one server can carry a test through Lab and Notebook 7.
        expose = [
            "--LabApp.expose_app_in_browser=True",
            "--JupyterNotebookApp.expose_app_in_browser=True",
        ]
        cmd = [
            sys.executable, "-m", "jupyter", app, "--no-browser", "--allow-root",
            f"--IdentityProvider.token={self.token}", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}", f"--ServerApp.root_dir={root}", *expose,
            f"--LabServerApp.workspaces_dir={state / 'workspaces'}",
            f"--LabServerApp.user_settings_dir={state / 'settings'}",
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if (
                    httpx.get(f"{self.origin}/api/status", params={"token": self.token}).status_code
                    == 200
                ):
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter {app} exited: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"jupyter {app} did not start: {log.read_text()[-2000:]}")

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, notebook: str, app: str | None = None) -> str:
        # `reset`: open only this notebook, whatever the workspace held
        if (app or self.app) == "lab":
            return f"{self.origin}/lab/tree/{notebook}?reset&token={self.token}"
        return f"{self.origin}/notebooks/{notebook}?token={self.token}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> tuple[Path, Path]:
    """The quickstart executed headless (as the demo does) and its HTML export."""
    from vlmrun_jupyter.demo import execute

    out = tmp_path_factory.mktemp("executed")
    nb, html, _ = execute(QUICKSTART, out)
    return nb, html


class Page:
    """A browser page that records what leaves loopback and what the console says."""

    def __init__(self, browser, origin: str | None) -> None:
        # a fresh context per page: no cache or cookies shared between servers on reused ports
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.origin = origin
        self.requests: list[str] = []
        self.console_errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on(
            "response",
            lambda r: r.status >= 400 and self.console_errors.append(f"HTTP {r.status} {r.url}"),
        )
        self.page.on("pageerror", lambda e: self.console_errors.append(f"{e}\n{e.stack}"))

    def external_requests(self) -> list[str]:
        local = ("data:", "blob:", "about:") + ((self.origin,) if self.origin else ())
        return [u for u in self.requests if not u.startswith(local)]


def _template_hosts() -> set[str]:
    """Hosts that nbconvert's HTML template itself loads from (an empty notebook exported)."""
    import re

    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.v4.new_notebook())
    urls = re.findall(r"""(?:src|href)\s*=\s*["'](https?://[^"']+)""", body)
    return {urlsplit(u).hostname for u in urls}


def _images(page) -> list[dict]:
    return page.evaluate(
        """() => [...document.querySelectorAll('.jp-OutputArea-output img, body img')].map(i => {
              const r = i.getBoundingClientRect();
              return {w: i.naturalWidth, complete: i.complete, shownW: r.width, shownH: r.height};
          })"""
    )


def _wait_all_ran(page, timeout_ms: int = 180_000) -> None:
    page.wait_for_function(
        """() => {
            const ps = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent.trim());
            return ps.length > 0 && ps.every(t => /\\[\\d+\\]/.test(t));
        }""",
        timeout=timeout_ms,
    )


def _video_plays(page) -> float:
    """Seconds the first inline video advanced after play() (muted)."""
    return page.evaluate(
        """async () => {
            const v = document.querySelector('.jp-OutputArea-output video');
            if (!v) return -1;
            v.muted = true;
            await v.play();
            await new Promise(r => setTimeout(r, 1200));
            v.pause();
            return v.currentTime;
        }"""
    )


def _screenshot_kinds(page, folder: Path, prefix: str) -> list[Path]:
    """One screenshot per artifact kind, with its output scrolled into view."""
    shots = []
    outputs = page.locator(".jp-OutputArea-output")
    for i in range(outputs.count()):
        out = outputs.nth(i)
        text = (out.text_content() or "")[:2000]
        kind = next((k for k in KINDS if k in text), None)
        if out.locator(".vlmrun-splat").count():  # the 3D viewer (its text names no class)
            kind = "ReconRef"
        if kind is None or any(p.stem.endswith(kind) for p in shots):
            continue
        out.scroll_into_view_if_needed()
        page.wait_for_timeout(200)
        path = folder / f"{prefix}-{len(shots):02d}-{kind}.png"
        page.screenshot(path=str(path))
        shots.append(path)
    return shots


KERNEL_IDLE = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    return k && k.status === 'idle'; }"""


def write_notebook(path: Path, cells: Iterable[str]) -> Path:
    """A notebook of these code cells for the python3 kernel (the one the test venv runs),
    so that Lab and Notebook 7 start it without asking."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def open_notebook(page, url: str) -> None:
    """Go to a notebook in Lab or Notebook 7 and wait until its kernel is idle."""
    page.goto(url)
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)


def dark_theme(page) -> None:
    """Switch the app to JupyterLab Dark and wait until the page says so."""
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme', "
        "{theme: 'JupyterLab Dark'})"
    )
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=30_000)


def _open_and_run(p: Page, server: JupyterServer, name: str) -> None:
    page = p.page
    page.goto(server.url(name))
    page.wait_for_function(
        "() => window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')", timeout=60_000
    )
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    _wait_all_ran(page)
    page.wait_for_timeout(1000)


def _first_lines(errors: list[str]) -> set[str]:
    return {e.splitlines()[0] for e in errors if e}


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_quickstart_runs_and_renders_in_the_browser(app, browser, tmp_path, artifacts_dir):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(QUICKSTART, root / "quickstart.ipynb")
    write_notebook(root / "baseline.ipynb", ["1 + 1"])
    server = JupyterServer(app, root, tmp_path / "jupyter.log")
    try:
        # The frontend's own console noise, measured on a one-cell notebook, is not ours
        # (Notebook 7.6 logs a TypeError about a settings 'schema' on every start).
        base = Page(browser, server.origin)
        _open_and_run(base, server, "baseline.ipynb")
        baseline = _first_lines(base.console_errors)
        base.page.close()

        p = Page(browser, server.origin)
        page = p.page
        _open_and_run(p, server, "quickstart.ipynb")

        errors = page.locator(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
        )
        assert errors.count() == 0, errors.all_inner_texts()
        images = _images(page)
        assert len(images) >= 14, images
        assert all(i["complete"] and i["w"] > 0 for i in images), images
        # every kind is on the page, named in its caption
        # textContent, not innerText: Lab skips rendering cells scrolled out of view
        text = page.evaluate("() => document.querySelector('.jp-Notebook').textContent")
        for kind in KINDS:
            assert kind in text, kind
        # the PDF pages are visible pictures
        doc = page.locator(".jp-OutputArea-output", has_text="DocumentRef").first
        doc.scroll_into_view_if_needed()
        pages = doc.locator("img")
        assert pages.count() >= 3 and all(pages.nth(i).is_visible() for i in range(3))
        assert _video_plays(page) > 0.3
        assert (
            page.evaluate("() => document.querySelector('.jp-OutputArea-output audio').readyState")
            >= 1
        )
        # the 3D viewer draws the reconstruction: a canvas that is not blank
        viewer = page.locator(".jp-OutputArea-output .vlmrun-splat").first
        viewer.scroll_into_view_if_needed()
        page.wait_for_function(
            "() => Number(document.querySelector('.vlmrun-splat')?.dataset.frames || 0) >= 1",
            timeout=120_000,
        )
        assert "splats" in viewer.inner_text()
        assert viewer.locator("img.picture").count() == 0  # the live view replaced the picture
        canvas = np.asarray(
            Image.open(io.BytesIO(viewer.locator("canvas").screenshot())).convert("RGB"), np.int16
        )
        painted = np.abs(canvas - np.array([250, 250, 250])).sum(axis=2) > 40
        assert painted.mean() > 0.05, f"the 3D viewer painted {painted.mean():.1%} of its canvas"
        assert canvas.std() > 10
        shots = _screenshot_kinds(page, artifacts_dir, f"{app}-quickstart")
        assert len(shots) >= 7
        assert p.external_requests() == []
        assert _first_lines(p.console_errors) - baseline == set(), p.console_errors
    finally:
        server.stop()


def test_saved_notebook_reopened_untrusted_still_shows_previews(
    browser, executed, tmp_path, artifacts_dir
):
    nb, _ = executed
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(nb, root / "executed.ipynb")  # executed headless: not signed, so untrusted here
    server = JupyterServer("lab", root, tmp_path / "jupyter.log")
    try:
        p = Page(browser, server.origin)
        page = p.page
        page.goto(server.url("executed.ipynb"))
        page.wait_for_function(
            "() => document.querySelectorAll('.jp-OutputArea-output img').length >= 10",
            timeout=60_000,
        )
        page.wait_for_timeout(1500)
        trusted = page.evaluate(
            "() => window.jupyterapp.shell.currentWidget.content.model.cells.get(1).trusted"
        )
        assert trusted is False
        images = _images(page)
        page.screenshot(path=str(artifacts_dir / "lab-untrusted.png"))
        assert len(images) >= 12 and all(i["w"] > 0 for i in images), (page.url, images)
        assert page.locator(".jp-OutputArea-output script").count() == 0
        # the 3D reconstruction falls back to its static picture (no live widget here)
        recon = page.locator(".jp-OutputArea-output", has_text="ReconRef").first
        recon.scroll_into_view_if_needed()
        assert recon.locator("img").evaluate("i => i.naturalWidth") > 0
        assert "Error displaying widget" not in page.locator(".jp-Notebook").inner_text()
        page.screenshot(path=str(artifacts_dir / "lab-untrusted.png"))
        assert p.external_requests() == []
    finally:
        server.stop()


def test_exported_html_shows_every_preview(browser, executed, artifacts_dir):
    _, html = executed
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html.parent))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        origin = f"http://127.0.0.1:{httpd.server_address[1]}"
        p = Page(browser, origin)
        p.page.goto(f"{origin}/{html.name}")
        p.page.wait_for_load_state("load")
        images = _images(p.page)
        assert len(images) >= 14 and all(i["w"] > 0 for i in images), (
            p.page.url,
            p.page.title(),
            images,
        )
        assert p.page.locator("video").count() == 1 and p.page.locator("audio").count() == 1
        p.page.screenshot(path=str(artifacts_dir / "exported-html.png"), full_page=True)
        # nbconvert's own template references CDN assets (MathJax, require.js): those hosts
        # are allowed; any other request leaving the page's origin came from our outputs
        template = _template_hosts()
        ours = [u for u in p.external_requests() if urlsplit(u).hostname not in template]
        assert ours == []
    finally:
        httpd.shutdown()


def test_saved_widget_state_stays_small_and_shows_the_picture(browser, tmp_path, artifacts_dir):
    """A notebook saved with its widget state (JupyterLab's "save widget state", nbclient's
    store_widget_state) carries the viewer's settings and picture but not the splats, and
    reopened later the restored viewer shows the picture."""
    import nbformat
    from nbclient import NotebookClient

    root = tmp_path / "root"
    root.mkdir()
    nb = nbformat.read(QUICKSTART, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", store_widget_state=True).execute()
    path = root / "saved.ipynb"
    nbformat.write(nb, path)
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert len(state) >= 1
    assert len(json.dumps(state)) < 600_000  # picture + module + settings; no splats
    assert path.stat().st_size < 15 * 1024 * 1024
    subprocess.run([sys.executable, "-m", "jupyter", "trust", str(path)], check=True)
    server = JupyterServer("lab", root, tmp_path / "jupyter.log")
    try:
        p = Page(browser, server.origin)
        page = p.page
        page.goto(server.url("saved.ipynb"))
        picture = page.locator(".jp-OutputArea-output .vlmrun-splat img.picture").first
        picture.wait_for(timeout=60_000)
        picture.scroll_into_view_if_needed()
        page.wait_for_function(
            "i => i.complete && i.naturalWidth > 0", arg=picture.element_handle()
        )
        assert "Error displaying widget" not in page.locator(".jp-Notebook").inner_text()
        page.screenshot(path=str(artifacts_dir / "lab-saved-widget-state.png"))
        assert p.external_requests() == []
    finally:
        server.stop()
