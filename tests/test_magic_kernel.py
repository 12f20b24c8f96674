"""The magic in a real Jupyter kernel: a notebook executed with nbclient, offline."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

CELLS = [
    "%load_ext vlmrun_jupyter",
    "%vlmrun local start",
    """from pydantic import BaseModel
from vlmrun_jupyter import ImageRef
from vlmrun_jupyter.local.samples import sample_image
img = sample_image()
class Blurred(BaseModel):
    image: ImageRef""",
    '%%vlmrun -s Blurred -o out\nBlur the faces in {{ img }} and answer like {"image": {"id": "..."}}',
    "out.image",
    "%vlmrun config",
    '%vlmrun "dance the tango with {{ img }}"',  # tagged raises-exception below
    # the test reads the server's key from a file (never an output) to scan the notebook for it
    "from pathlib import Path\n"
    "Path('key.txt').write_text("
    "get_ipython().magics_manager.registry['VlmRunMagics'].local_server.api_key);",
]


def test_notebook_runs_the_magic_offline_in_a_kernel(kernel_env):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nb.cells[6].metadata["tags"] = ["raises-exception"]
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=60,
        resources={"metadata": {"path": str(kernel_env)}},
    )
    client.execute()

    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    errors = [o for o in outputs if o.output_type == "error"]
    assert len(errors) == 1 and errors[0] in nb.cells[6].outputs, errors

    # the unsupported prompt: one short line, then the offline server's instructions as a
    # short list; no Python traceback
    (err,) = errors
    assert err["ename"] == "RequestError"
    first, *listed = err["traceback"]
    assert first.startswith("RequestError (HTTP 422): the offline local server only knows")
    assert len(first) < 160 and listed and all(ln.startswith("  - ") for ln in listed)

    # the magic's cell: the status line was cleared in place, the result shown as a card
    magic_cell = nb.cells[3].outputs
    status = [o for o in magic_cell if o.output_type == "display_data"]
    assert [o["data"] for o in status] == [{"text/plain": ""}]
    results = [o for o in magic_cell if o.output_type == "execute_result"]
    assert results and "Blurred" in results[0]["data"]["text/plain"]

    # `out.image` displays the blurred image inline
    shown = nb.cells[4].outputs
    assert any(
        "image/jpeg" in o.get("data", {}) or "<img" in o.get("data", {}).get("text/html", "")
        for o in shown
    ), shown

    # config says a key is set, from the local server, without showing it
    config_text = "".join(o.get("text", "") for o in nb.cells[5].outputs)
    assert "set (local server)" in config_text

    # the key never appears anywhere in the notebook, outputs included
    key = (kernel_env / "key.txt").read_text()
    assert len(key) > 16
    assert key not in nbformat.writes(nb)
