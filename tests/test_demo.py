"""The main job: `vlmrun-jupyter demo` executes the notebooks offline and reports every kind."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
from htmlcheck import assert_inert_html, shown_media

from vlmrun_jupyter.display import bundle_size, inline_budget

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
    home = tmp_path / "home"  # the notebooks' default cache is under it: ~/.vlmrun/cache
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "VLMRUN_CACHE_DIR"}
    proc = subprocess.run(
        [sys.executable, "-m", "vlmrun_jupyter.cli", "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**env, "HOME": str(home)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "over TCP" not in proc.stderr  # a quiet log: no kernel warning per notebook
    # the printed table names every kind
    for kind in KINDS:
        assert kind in proc.stdout, f"{kind} missing from the demo summary:\n{proc.stdout}"
    quick = out / "quickstart.ipynb"
    assert quick.stat().st_size < 1_000_000  # the saved quickstart stays under 1 MB
    # a cached file too large to embed is named as ~/..., without the user's home in it;
    # no saved notebook names it (magic_tour's `%vlmrun config` shows the cache as ~/...)
    assert "~/.vlmrun/cache/artifacts/" in quick.read_text("utf-8")
    for saved in out.glob("*.ipynb"):
        assert str(home) not in saved.read_text("utf-8"), saved.name
    budget = inline_budget()  # every output of every notebook within the inline budget
    for saved in out.glob("*.ipynb"):
        for i, cell in enumerate(nbformat.read(saved, as_version=4).cells):
            for o in cell.get("outputs", []):
                size = bundle_size(o.get("data", {}), o.get("metadata"))
                assert size <= budget, f"{saved.name} cell {i}: {size:,} B over {budget:,} B"
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


def test_the_demo_log_is_quiet(tmp_path):
    """No kernel warning per notebook: the demo's kernels talk over private Unix sockets."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(6 * 7)")]
    src = tmp_path / "tiny.ipynb"
    nbformat.write(nb, src)
    code = (
        "import sys; from pathlib import Path; from vlmrun_jupyter.demo import execute; "
        f"execute(Path({str(src)!r}), Path({str(tmp_path / 'out')!r}))"
    )
    (tmp_path / "out").mkdir()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "TCP" not in proc.stderr and "WARNING" not in proc.stderr, proc.stderr
    done = nbformat.read(tmp_path / "out" / "tiny.ipynb", as_version=4)
    assert done.cells[0].outputs[0]["text"] == "42\n"


def test_demo_lab_copies_the_notebooks_and_passes_arguments_to_jupyter(tmp_path):
    from jupyterlab import __version__ as lab_version

    from vlmrun_jupyter.demo import NOTEBOOKS_DIR, find_notebooks, lab_command

    work = tmp_path / "work"
    cmd = [sys.executable, "-m", "vlmrun_jupyter.cli", "demo", "--lab", "--workdir", str(work)]
    # `--version` reaches `jupyter lab` itself (after --, or as any argument the demo lacks)
    for extra in (["--", "--version"], ["--version"]):
        proc = subprocess.run(cmd + extra, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.strip().splitlines()[-1] == lab_version
    names = sorted(p.name for p in find_notebooks(NOTEBOOKS_DIR))
    assert sorted(p.name for p in work.glob("*.ipynb")) == names
    # an edited copy is kept; the package's own notebooks are never the ones opened
    (work / "quickstart.ipynb").write_text("edited")
    subprocess.run(cmd + ["--version"], capture_output=True, timeout=120, check=True)
    assert (work / "quickstart.ipynb").read_text() == "edited"
    built = lab_command(work, ["--port", "9999", "--no-browser"], root=True)
    assert built[3:5] == ["lab", str(work / "quickstart.ipynb")]
    assert "--allow-root" in built and built[-3:] == ["--port", "9999", "--no-browser"]
    assert f"--ServerApp.root_dir={work}" in built
    assert "--allow-root" not in lab_command(work, [], root=False)
    # without --lab, an unknown argument is still an error
    bad = subprocess.run(
        [sys.executable, "-m", "vlmrun_jupyter.cli", "demo", "--port", "1"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "unrecognized arguments: --port 1" in bad.stderr


def test_the_quickstart_link_points_at_the_blurred_photo(client, live_server):
    """The quickstart's "Give me a link to the blurred photo <id>" links to those bytes; it
    does not blur the photo again (no new image artifact is made)."""
    from pydantic import BaseModel

    from vlmrun_jupyter import ImageRef, UrlRef
    from vlmrun_jupyter.local.samples import sample_image

    class Blurred(BaseModel):
        image: ImageRef

    class Link(BaseModel):
        link: UrlRef

    blurred = client.complete("Blur all the faces", inputs=[sample_image()], schema=Blurred)
    before = {r.id for r in client.artifacts(session_id=blurred.session_id)}
    link = client.complete(
        "Give me a link to the blurred photo " + blurred.result.image.id,
        schema=Link,
        session_id=blurred.session_id,
    )
    made = [r for r in client.artifacts(session_id=blurred.session_id) if r.id not in before]
    assert link.result.link.id in {r.id for r in made}
    photo = client.fetch(blurred.result.image).read_bytes()
    for ref in made:  # the link and anything else made are those bytes: not blurred again
        assert client.fetch(ref).read_bytes() == photo, ref.id
