"""Build hook: bundle the 3D viewer's JavaScript (js/) into the wheel.

`npm ci` installs the pinned build tools from js/package-lock.json and esbuild writes
vlmrun_jupyter/splat/static/viewer.js (git-ignored, shipped as a build artifact). The
bundle is rebuilt only when a source is newer. Without npm, an existing bundle (an sdist
carries one) is used; failing that, an editable install still works (3D refs then show
their static picture only) and a wheel refuses to build.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ROOT = Path(__file__).parent
JS = ROOT / "js"
# Every bundle `npm run build` writes (one per viewer; js/package.json "build:*" scripts).
OUTPUTS = [
    ROOT / "vlmrun_jupyter" / "splat" / "static" / "viewer.js",
    ROOT / "vlmrun_jupyter" / "document" / "static" / "document.js",
    ROOT / "vlmrun_jupyter" / "player" / "static" / "video.js",
]


def _stale() -> bool:
    if not all(out.is_file() for out in OUTPUTS):
        return True
    sources = [*JS.joinpath("src").rglob("*.js"), JS / "package.json", JS / "package-lock.json"]
    built = min(out.stat().st_mtime for out in OUTPUTS)
    return any(s.stat().st_mtime > built for s in sources)


class ViewerBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel" or not JS.is_dir() or not _stale():
            return
        try:
            _build()
        except (OSError, subprocess.CalledProcessError) as exc:
            message = f"the 3D viewer's JavaScript (js/) could not be built: {exc}"
            if all(out.is_file() for out in OUTPUTS):  # e.g. an sdist, which carries them
                print(f"warning: {message}; using the existing bundles", file=sys.stderr)
            elif version == "editable":
                print(f"warning: {message}; 3D refs will show static previews", file=sys.stderr)
            else:
                raise RuntimeError(f"{message}; install Node.js and npm") from exc


def _build() -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm not found")
    quiet = ["--no-audit", "--no-fund", "--loglevel=error"]
    if not (JS / "node_modules" / ".bin" / "esbuild").exists():
        subprocess.run([npm, "ci", *quiet], cwd=JS, check=True)
    subprocess.run([npm, "run", "build", "--silent"], cwd=JS, check=True)
