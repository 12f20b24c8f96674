"""How the browser tests start Chromium: Debian's package, driven by Playwright (which
cannot download its own browser here), headless, with WebGL2 through SwiftShader and
no background traffic."""

from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
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
HAVE_CHROMIUM = Path(CHROMIUM).exists()
