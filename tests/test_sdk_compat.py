"""Code written for the official SDK works unchanged after `%load_ext vlmrun_jupyter`.

Builds a venv holding both packages (the SDK pins its own dependencies), checks they
install together, then runs notebooks/sdk_style.ipynb there: under nbval, and once
more with nbclient to look at what every output rendered. Skipped, with the reason,
when the SDK cannot be installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "sdk_style.ipynb"

pytestmark = pytest.mark.sdk

INSPECT = r"""
import json, sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
cells = []
for cell in nb.cells:
    if cell.cell_type != "code":
        continue
    outs = []
    for o in cell.get("outputs", []):
        if o["output_type"] in ("execute_result", "display_data"):
            outs.append({"mimes": sorted(o["data"]), "plain": o["data"].get("text/plain", ""),
                         "html": o["data"].get("text/html", "")})
        elif o["output_type"] == "error":
            outs.append({"error": o["ename"] + ": " + o["evalue"]})
    cells.append({"source": cell.source, "outputs": outs})
print(json.dumps(cells))
"""


@pytest.fixture(scope="module")
def compat_python(tmp_path_factory) -> Path:
    """A venv with vlmrun + openai + this package (editable) + nbval; reused via $VLMRUN_COMPAT_VENV."""
    given = os.environ.get("VLMRUN_COMPAT_VENV")
    root = Path(given) if given else tmp_path_factory.mktemp("compat") / "venv"
    python = root / "bin" / "python"
    ready = root / ".ready"
    if not ready.exists():
        venv.create(root, with_pip=True, clear=True)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        sdk = subprocess.run(
            [*pip, "vlmrun", "openai"], capture_output=True, text=True, timeout=600
        )
        if sdk.returncode != 0:
            pytest.skip(f"the official SDK could not be installed: {sdk.stderr.strip()[-400:]}")
        ours = subprocess.run(
            [*pip, "-e", str(ROOT), "nbval", "nbclient", "ipykernel", "pytest"],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert ours.returncode == 0, (
            f"vlmrun-jupyter does not install beside the SDK:\n{ours.stderr[-2000:]}"
        )
        ready.touch()
    return python


def test_installs_alongside_the_sdks_pinned_dependencies(compat_python):
    check = subprocess.run(
        [str(compat_python), "-m", "pip", "check"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    versions = subprocess.run(
        [str(compat_python), "-c", "import vlmrun.types, vlmrun.client, vlmrun_jupyter.sdk"],
        capture_output=True,
        text=True,
    )
    assert versions.returncode == 0, versions.stderr


def test_sdk_style_notebook_passes_nbval(compat_python, tmp_path):
    proc = subprocess.run(
        [str(compat_python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "-o", "addopts=", "-o", "timeout=0", str(NOTEBOOK)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout


def test_sdk_objects_render_inline(compat_python, tmp_path):
    proc = subprocess.run(
        [str(compat_python), "-c", INSPECT, str(NOTEBOOK), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    cells = json.loads(proc.stdout.strip().splitlines()[-1])
    errors = [o["error"] for c in cells for o in c["outputs"] if "error" in o]
    assert not errors, errors

    def outputs_of(snippet: str) -> list[dict]:
        found = [c for c in cells if c["source"].strip().endswith(snippet)]
        assert found, snippet
        return [o for o in found[0]["outputs"] if "mimes" in o]

    # an SDK ImageRef at the end of a cell: the picture, found through the ChatCompletion's session
    (image,) = outputs_of("result.image")
    assert "image/jpeg" in image["mimes"] and image["plain"].startswith("<ImageRef img_")
    assert "no session" not in image["html"]
    # the video the SDK downloaded plays inline
    video = outputs_of('== before, "fetched again"')
    assert any("<video" in o["html"] for o in video)
    # a list of SDK objects holding refs is a gallery; the ChatCompletion itself is a card
    (frames,) = outputs_of("key_frames")
    assert frames["html"].count("<img") >= 5
    (completion,) = outputs_of("frames_response")
    assert completion["html"].count("<img") >= 5 and "session" in completion["html"]
    # an AgentExecutionResponse renders as an execution card; its refs bind to the execution id
    (execution,) = outputs_of("execution")
    assert "execution" in execution["html"] and "<img" in execution["html"]
    (blurred,) = outputs_of("blurred.image")
    assert "image/jpeg" in blurred["mimes"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
