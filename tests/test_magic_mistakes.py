"""The mistakes newcomers make with `%vlmrun`, each with the exact line it shows and the
number of requests it sent (counted at the live local server): in a real IPython shell
and in a real Jupyter kernel. A typo is refused before anything is sent; what does reach
a server comes back as one line under 160 characters that names the HTTP status once."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from IPython.utils.capture import capture_output
from nbclient import NotebookClient

from vlmrun_jupyter.session import set_default_client

SETUP = """
from pydantic import BaseModel
from vlmrun_jupyter import ImageRef
from vlmrun_jupyter.local.samples import sample_image
photo = sample_image()
class BlurredImage(BaseModel):
    image: ImageRef
"""
SENT_NOTHING = "Nothing was sent"
LOCAL_422 = (
    "RequestError (HTTP 422): the offline local server only knows the instructions below. "
    "Rephrase the prompt as one of them (the real API takes any prompt)."
)

# (cell, the exact first line shown, requests sent)
MISTAKES = [
    (
        "%vlmrun locl start",
        "UsageError: unknown subcommand 'locl': did you mean `%vlmrun local start`? "
        "Nothing was sent (`%vlmrun -- locl ...` sends it as a prompt).",
        0,
    ),
    (
        "%vlmrun confg",
        "UsageError: unknown subcommand 'confg': did you mean `%vlmrun config`? "
        "Nothing was sent (`%vlmrun -- confg ...` sends it as a prompt).",
        0,
    ),
    (
        "%vlmrun artifact",
        "UsageError: unknown subcommand 'artifact': did you mean `%vlmrun artifacts`? "
        "Nothing was sent (`%vlmrun -- artifact ...` sends it as a prompt).",
        0,
    ),
    (
        "%vlmrun local strat",
        "UsageError: usage: %vlmrun local start|stop|status. Did you mean start?",
        0,
    ),
    (
        "%vlmrun help me",
        "UsageError: `%vlmrun help` takes no arguments; nothing was sent "
        "(`%vlmrun -- help ...` sends it as a prompt).",
        0,
    ),
    (
        "%vlmrun Blur the faces in {{ phot }}",
        "UsageError: {{ phot }}: NameError: name 'phot' is not defined. Did you mean photo? "
        "Nothing was sent.",
        0,
    ),
    (
        "%vlmrun Blur the faces in {{ photo.sze }}",
        "UsageError: {{ photo.sze }}: AttributeError: 'Image' object has no attribute 'sze'. "
        "Did you mean size? Nothing was sent.",
        0,
    ),
    (
        "%vlmrun Describe {{ 'a': 1 }}",
        "UsageError: {{ 'a': 1 }} is not a Python expression; nothing was sent. "
        "Write \\{{ for a literal {{.",
        0,
    ),
    (
        "%vlmrun Blur the faces in {{ photo }} -s BluredImage",
        "UsageError: schema 'BluredImage' is not defined in the notebook. "
        "Did you mean BlurredImage?",
        0,
    ),
    (
        "%vlmrun Blur the faces -i phot",
        "UsageError: -i phot: no such variable or file (in {cwd}); nothing was sent. "
        "Did you mean photo?",
        0,
    ),
    (
        "%vlmrun --shema BlurredImage Blur the faces",
        "UsageError: unrecognized arguments: --shema. Did you mean --schema? Nothing was sent.",
        0,
    ),
    (
        "%vlmrun get img_zzz",
        "UsageError: 'img_zzz' is not an artifact id (a kind prefix and a suffix, like "
        "img_a1b2c3).",
        0,
    ),
    ("%vlmrun Dance the tango with {{ photo }}", LOCAL_422, 1),
    ("%vlmrun -- confg", LOCAL_422, 1),
]
# Prompts that look like mistakes but are not: each reaches the server once.
PROMPTS = [
    "%vlmrun What is in {{ photo }}?",  # a trailing ? is not IPython's help syntax here
    "x = %vlmrun Describe {{ photo }}?",
    "%vlmrun Local shops: describe {{ photo }}",  # starts with a subcommand's name
    "%vlmrun Configure nothing, just describe {{ photo }}",
]


def check_line(line: str) -> None:
    """The bar: under 160 characters, the status code and the word HTTP at most once."""
    assert len(line) < 160, line
    assert line.count("HTTP") <= 1, line
    for number in set(re.findall(r"\b\d{3}\b", line)):
        assert line.count(number) == 1, line


@pytest.fixture(scope="module")
def ip(ip):
    """conftest's shell (the extension loaded) with this module's names defined."""
    ip.run_cell(SETUP)
    return ip


@pytest.fixture()
def env(live_server, monkeypatch, tmp_path):
    monkeypatch.setenv("VLMRUN_API_KEY", live_server.api_key)
    monkeypatch.setenv("VLMRUN_BASE_URL", live_server.base_url)
    monkeypatch.setenv("VLMRUN_CACHE_DIR", str(tmp_path / "cache"))
    set_default_client(None)
    yield live_server
    set_default_client(None)


def shown_lines(ip, cell: str) -> tuple[list[str], object]:
    with capture_output() as cap:
        result = ip.run_cell(cell)
    lines = [ln for ln in (cap.stderr + cap.stdout).splitlines() if ln.strip()]
    return lines, result


@pytest.mark.parametrize(("cell", "expected", "sent"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_mistake_in_a_shell_shows_one_line(ip, magics, env, cell, expected, sent):
    lines, result = shown_lines(ip, cell)
    assert result.error_in_exec is not None or result.error_before_exec is not None
    assert lines[0] == expected.replace("{cwd}", str(Path.cwd()))
    check_line(lines[0])
    assert env.count() == sent
    if expected == LOCAL_422:  # then the instructions, one short line each
        assert lines[1:] and all(ln.startswith("  - ") and len(ln) < 160 for ln in lines[1:])
    elif expected.startswith("UsageError: usage") or "unrecognized" in expected:
        pass  # argparse's usage follows
    else:
        assert len(lines) == 1, lines


@pytest.mark.parametrize("cell", PROMPTS)
def test_prompts_that_only_look_like_mistakes_are_sent(ip, magics, env, cell):
    lines, result = shown_lines(ip, cell)
    assert result.error_in_exec is None and result.error_before_exec is None, lines
    assert env.count("/v1/openai/chat/completions") == 1


def test_server_failures_say_what_was_tried(ip, magics, env):
    env.inject("status", status=503, times=None, path="/v1/openai")
    lines, _ = shown_lines(ip, "%vlmrun Describe {{ photo }}")
    assert len(lines) == 1 and env.count() == 4
    assert re.fullmatch(
        r"ServerError \(HTTP 503, 4 attempts over \d+\.\d s\): injected fault\. "
        r"The server failed; try again later\.",
        lines[0],
    ), lines
    check_line(lines[0])
    env.clear_faults()
    lines, _ = shown_lines(ip, "%vlmrun error")  # the details on demand
    text = "\n".join(lines)
    assert "attempts        4" in text and "POST openai/chat/completions" in text


def test_wrong_and_missing_keys(ip, magics, env, monkeypatch):
    magics.api_key, magics.base_url = "wrong-key-123", env.base_url
    lines, _ = shown_lines(ip, "%vlmrun Describe {{ photo }}")
    assert lines[0].startswith("AuthenticationError (HTTP 401): ") and env.count() == 1
    assert lines[0].endswith("Check VLMRUN_API_KEY: the server rejected the key.")
    check_line(lines[0])
    magics.api_key = magics.base_url = ""
    monkeypatch.delenv("VLMRUN_API_KEY")
    set_default_client(None)
    env.reset_requests()
    lines, _ = shown_lines(ip, "%vlmrun Describe {{ photo }}")
    assert lines == [
        "ConfigurationError: No VLM Run API key. Set VLMRUN_API_KEY (and VLMRUN_BASE_URL if "
        "needed), or run `%vlmrun local start` to use the offline local server."
    ]
    check_line(lines[0])
    assert env.count() == 0


# -- the same table in a real Jupyter kernel ----------------------------------------------------

KERNEL_CELLS = [
    "%load_ext vlmrun_jupyter",
    "%vlmrun local start",
    SETUP,
    "_srv = get_ipython().magics_manager.registry['VlmRunMagics'].local_server\n"
    "_srv.reset_requests()",
]


def test_the_mistakes_in_a_kernel(kernel_env):
    table = [m for m in MISTAKES if "{cwd}" not in m[1]]
    nb = nbformat.v4.new_notebook()
    cells = list(KERNEL_CELLS)
    for cell, _, _ in table:
        cells += [cell, "print(_srv.count()); _srv.reset_requests()"]
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    for i in range(len(KERNEL_CELLS), len(cells), 2):
        nb.cells[i].metadata["tags"] = ["raises-exception"]
    NotebookClient(
        nb, kernel_name="python3", timeout=60, resources={"metadata": {"path": str(kernel_env)}}
    ).execute()
    for k, (cell, expected, sent) in enumerate(table):
        i = len(KERNEL_CELLS) + 2 * k
        outputs = nb.cells[i].outputs
        text = []
        for out in outputs:
            if out.output_type == "error":
                text += out["traceback"]
            elif out.output_type == "stream":
                text += out["text"].splitlines()
        text = [re.sub(r"\x1b\[[0-9;]*m", "", t) for t in text if t.strip()]
        assert text and text[0] == expected, (cell, text)
        counted = nb.cells[i + 1].outputs[0]["text"].strip()
        assert json.loads(counted) == sent, cell
