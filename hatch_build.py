"""Build hook: the package's JavaScript, built from npm projects into the wheel.

- js/: the live viewers' bundles. `npm ci` installs the pinned build tools from
  js/package-lock.json and esbuild writes one bundle per viewer (OUTPUTS).
- labext/: a prebuilt JupyterLab 4 / Notebook 7 extension (widget outputs whose model is
  gone show their static picture). `npm ci` installs @jupyter/builder and JupyterLab's
  core metadata (labext/package-lock.json) and the builder writes
  vlmrun_jupyter/labextension/, which the wheel installs as shared data into
  share/jupyter/labextensions/ (editable installs too), where Jupyter finds it.

Outputs are git-ignored build artifacts, rebuilt only when a source is newer. Without
npm, existing outputs (an sdist carries them) are used; failing that, an editable install
still works (refs show their static pictures; reopened widget outputs show ipywidgets'
error) and a wheel refuses to build.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ROOT = Path(__file__).parent
JS = ROOT / "js"
LABEXT = ROOT / "labext"
LABEXT_OUT = ROOT / "vlmrun_jupyter" / "labextension"
LABEXT_NAME = "vlmrun-jupyter-widget-fallback"  # labext/package.json "name"


class NpmBuild(NamedTuple):  # not a dataclass: hatch loads this file outside sys.modules
    """One npm project whose `npm run build` writes files the wheel ships."""

    what: str  # for messages
    folder: Path
    outputs: tuple[Path, ...]  # every file the build writes that proves it ran
    tool: str  # installed by `npm ci` (node_modules/...): skip the install when present
    without: str  # what a user loses when an editable install has no build

    def stale(self) -> bool:
        if not all(out.is_file() for out in self.outputs):
            return True
        src = self.folder / "src"
        sources = [
            *src.rglob("*.js"),
            *(self.folder / n for n in ("package.json", "package-lock.json")),
        ]
        built = min(out.stat().st_mtime for out in self.outputs)
        return any(s.stat().st_mtime > built for s in sources)

    def build(self) -> None:
        npm = shutil.which("npm")
        if npm is None:
            raise FileNotFoundError("npm not found")
        quiet = ["--no-audit", "--no-fund", "--loglevel=error"]
        if not (self.folder / "node_modules" / self.tool).exists():
            subprocess.run([npm, "ci", *quiet], cwd=self.folder, check=True)
        subprocess.run([npm, "run", "build", "--silent"], cwd=self.folder, check=True)


# Every bundle js/'s `npm run build` writes (one per viewer; js/package.json "build:*").
OUTPUTS = [
    ROOT / "vlmrun_jupyter" / "splat" / "static" / "viewer.js",
    ROOT / "vlmrun_jupyter" / "document" / "static" / "document.js",
    ROOT / "vlmrun_jupyter" / "player" / "static" / "video.js",
]
BUILDS = (
    NpmBuild(
        "the viewers' JavaScript (js/)",
        JS,
        tuple(OUTPUTS),
        ".bin/esbuild",
        "refs will show static previews, no live viewers",
    ),
    NpmBuild(
        "the JupyterLab extension (labext/)",
        LABEXT,
        (LABEXT_OUT / "package.json",),  # the builder writes it last, naming remoteEntry
        "@jupyter/builder/lib/build-labextension.js",
        "reopened notebooks will show ipywidgets' 'model not found' for live viewers",
    ),
)


class ViewerBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel":
            return
        for job in BUILDS:
            if job.folder.is_dir() and job.stale():
                _run(job, version)
        if (LABEXT_OUT / "package.json").is_file():
            build_data["shared_data"].update(_labextension_files())


def _run(job: NpmBuild, version: str) -> None:
    try:
        job.build()
    except (OSError, subprocess.CalledProcessError) as exc:
        message = f"{job.what} could not be built: {exc}"
        if all(out.is_file() for out in job.outputs):  # e.g. an sdist, which carries them
            print(f"warning: {message}; using the existing build", file=sys.stderr)
        elif version == "editable":
            print(f"warning: {message}; {job.without}", file=sys.stderr)
        else:
            raise RuntimeError(f"{message}; install Node.js and npm") from exc


def _labextension_files() -> dict[str, str]:
    """Built extension file -> its place under the environment's data directory."""
    target = f"share/jupyter/labextensions/{LABEXT_NAME}"
    files = {
        str(f): f"{target}/{f.relative_to(LABEXT_OUT).as_posix()}"
        for f in sorted(LABEXT_OUT.rglob("*"))
        if f.is_file()
    }
    files[str(LABEXT / "install.json")] = f"{target}/install.json"  # `labextension list`
    return files
