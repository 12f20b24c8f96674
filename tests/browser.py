"""How the browser tests start Chromium: Debian's package, driven by Playwright (which
cannot download its own browser here), headless, with WebGL2 through SwiftShader and
no background traffic."""

import contextlib
import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# Debian's chromium, found on PATH (.ci/run installs it); $CHROMIUM names another build.
_FOUND = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM = _FOUND or "chromium: not on PATH, and $CHROMIUM is not set"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
HAVE_CHROMIUM = _FOUND is not None and Path(_FOUND).exists()


def launch(playwright, args: list[str] | None = None):
    """Chromium as every browser test (and bench) runs it, from a running Playwright:
    CHROMIUM_ARGS unless `args` (say, without WebGL) replaces them."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS if args is None else args
    )


@contextlib.contextmanager
def chromium(args: list[str] | None = None) -> Iterator:
    """Playwright started and Chromium launched (see `launch`), both stopped on the way
    out. One at a time: Playwright's sync API cannot run inside another one; a test that
    needs a second browser launches it from the same Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw, args)
        try:
            yield browser
        finally:
            browser.close()


# The marks of every test that drives JupyterLab or Notebook 7 in Chromium.
LAB_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not HAVE_CHROMIUM, reason=f"Chromium is not installed ({CHROMIUM})"),
    pytest.mark.skipif(
        importlib.util.find_spec("jupyterlab") is None,
        reason="jupyterlab is not installed (the lab extra)",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None, reason="playwright is not installed"
    ),
]
