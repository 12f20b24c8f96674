"""The API key never reaches a saved notebook (issue 14, item 3).

Notebooks are executed in a real kernel with nbclient, saved as .ipynb, and the saved
file is searched for the key: whatever the exception type (a ValueError echoing it, a
`{{ }}` that evaluates it, a UsageError, our own errors in short and full form), the
traceback, the message (`evalue`) and the streams hold `***` instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
KEY = "sk-hostile-0123456789abcdef"

CELLS = [
    "%load_ext vlmrun_jupyter",
    "import os\nraise ValueError('the server echoed ' + os.environ['VLMRUN_API_KEY'])",
    "%vlmrun What is {{ int(os.environ['VLMRUN_API_KEY']) }}?",
    "%vlmrun -i {{ os.environ['VLMRUN_API_KEY'] + '/nope.png' }} describe",
    "from vlmrun_jupyter.errors import ServerError\n"
    "raise ServerError('echo: ' + os.environ['VLMRUN_API_KEY'])",
    "%config VlmRunMagics.short_errors = False",
    "raise ServerError('echo: ' + os.environ['VLMRUN_API_KEY'])",
    "def deep(n):\n    return deep(n - 1) if n else {}[os.environ['VLMRUN_API_KEY']]\ndeep(3)",
    "raise OSError(2, 'No such file', os.environ['VLMRUN_API_KEY'])",
    "from IPython.core.error import UsageError\n"
    "raise UsageError('bad ' + os.environ['VLMRUN_API_KEY'])",
    "print('still running')",
]


def _env(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VLMRUN_API_KEY", KEY)
    monkeypatch.setenv("VLMRUN_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens
    monkeypatch.setenv("VLMRUN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv(
        "PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    )


def test_the_key_is_in_no_saved_notebook(monkeypatch, tmp_path):
    _env(monkeypatch, tmp_path)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=60,
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    saved = tmp_path / "saved.ipynb"
    nbformat.write(nb, saved)
    text = saved.read_text("utf-8")
    assert KEY not in text and KEY[3:] not in text
    outputs = [c.outputs for c in nb.cells]
    errors = {i: o for i, outs in enumerate(outputs) for o in outs if o.output_type == "error"}
    # each failing cell still says what happened, with the key replaced
    assert errors[1].ename == "ValueError" and errors[1].evalue == "the server echoed ***"
    assert errors[4].ename == "ServerError" and "***" in "".join(errors[4].traceback)
    assert errors[6].ename == "ServerError" and len(errors[6].traceback) > 1  # full form
    assert errors[7].ename == "KeyError" and "***" in errors[7].evalue
    assert errors[8].ename == "FileNotFoundError" and "***" in errors[8].evalue
    streams = {
        i: "".join(o.text for o in outs if o.output_type == "stream")
        for i, outs in enumerate(outputs)
    }
    assert "UsageError" in streams[2] and "ValueError" in streams[2] and "***" in streams[2]
    assert "UsageError: bad ***" in streams[9]
    assert streams[10].strip() == "still running"
