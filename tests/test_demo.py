"""The main job: `vlmrun-jupyter demo` executes the notebooks offline and reports every kind."""

from __future__ import annotations

import subprocess
import sys

import nbformat
from htmlcheck import assert_inert_html, shown_media

KINDS = {
    "ImageRef",
    "VideoRef",
    "AudioRef",
    "DocumentRef",
    "ReconRef",
    "ArrayRef",
    "UrlRef",
    "Execution",
    "Completion",
}


def test_demo_renders_every_kind_and_stays_small(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "vlmrun_jupyter.cli", "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the printed table names every kind
    for kind in KINDS:
        assert kind in proc.stdout, f"{kind} missing from the demo summary:\n{proc.stdout}"
    quick = out / "quickstart.ipynb"
    assert quick.stat().st_size < 15 * 1024 * 1024
    nb = nbformat.read(quick, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    html = (out / "quickstart.html").read_text()
    # pictures that decode, a playable video and audio, as a browser would get them
    assert len(shown_media(html, "img")) >= 10
    assert shown_media(html, "video") and shown_media(html, "audio")
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if "text/html" in o.get("data", {}):
                assert_inert_html(o["data"]["text/html"])
