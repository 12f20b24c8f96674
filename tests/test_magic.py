"""%vlmrun / %%vlmrun in a real IPython shell, against the live local server."""

from __future__ import annotations

import _thread
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from IPython.utils.capture import capture_output

from vlmrun_jupyter.ipython import formatters
from vlmrun_jupyter.local.samples import sample_pdf, sample_video
from vlmrun_jupyter.session import set_default_client

SETUP = """
from pydantic import BaseModel
from vlmrun_jupyter import ImageRef, VideoRef
from vlmrun_jupyter.local.samples import sample_image
img = sample_image()
class Blurred(BaseModel):
    image: ImageRef
class Frames(BaseModel):
    frames: list[ImageRef]
"""


@pytest.fixture(scope="module")
def ip(ip):
    """conftest's shell (the extension loaded) with this module's names defined."""
    ip.run_cell(SETUP)
    return ip


@pytest.fixture()
def env(live_server, monkeypatch, tmp_path):
    """The user's setup: key and base URL in the environment."""
    monkeypatch.setenv("VLMRUN_API_KEY", live_server.api_key)
    monkeypatch.setenv("VLMRUN_BASE_URL", live_server.base_url)
    monkeypatch.setenv("VLMRUN_CACHE_DIR", str(tmp_path / "cache"))
    set_default_client(None)
    yield live_server
    set_default_client(None)


def run(ip, source: str):
    """Run a cell; returns (ExecutionResult, captured output)."""
    with capture_output() as cap:
        result = ip.run_cell(source, store_history=True)
    return result, cap


def posts(server, path: str = "/v1/openai/chat/completions") -> list[dict]:
    return [r.json for r in server.requests if r.method == "POST" and r.path == path]


def parts(server) -> list[dict]:
    return posts(server)[-1]["messages"][-1]["content"]


def texts(server) -> str:
    return "\n".join(p["text"] for p in parts(server) if p["type"] == "text")


def everything(ip, cap, result=None) -> str:
    """All a user could see: captured streams and displays, history, Out, the error."""
    shown = [cap.stdout, cap.stderr]
    for out in cap.outputs:
        shown.extend(str(v) for v in out.data.values())
    shown.extend(ip.history_manager.input_hist_raw)
    shown.extend(repr(v) for v in ip.history_manager.output_hist.values())
    if result is not None and result.error_in_exec is not None:
        shown.append(str(result.error_in_exec))
        shown.append(repr(result.error_in_exec))
    return "\n".join(shown)


# -- inputs become the right content parts -------------------------------------------------------


def test_cell_with_image_returns_bound_result(ip, magics, env):
    res, cap = run(ip, "%%vlmrun -s Blurred -o out\nBlur the faces in {{ img }}")
    assert res.error_in_exec is None, cap.stdout
    p = parts(env)
    assert [x["type"] for x in p] == ["text", "image_url"]
    assert p[0]["text"] == "Blur the faces in the attached image"
    assert p[1]["image_url"]["url"].startswith("data:image/png;base64,")
    out = ip.user_ns["out"]
    assert ip.user_ns["_vlmrun"] is out and res.result is out
    assert type(out).__name__ == "Blurred"
    assert out.image.session_id == magics.last_session is not None
    assert out.image.load().size == (640, 480)


def test_each_input_type_is_its_own_part(ip, magics, env, tmp_path):
    clip = sample_video(tmp_path / "clip.mp4", seconds=1.0, fps=8)
    pdf = sample_pdf(tmp_path / "doc.pdf", pages=1)
    ip.user_ns.update(clip=str(clip), pdf=Path(pdf), arr=np.zeros((32, 48, 3), np.uint8), n=3)
    res, cap = run(
        ip, "%%vlmrun -s Frames --session new\nExtract {{ n }} key frames from {{ clip }}"
    )
    assert res.error_in_exec is None, cap.stdout
    assert [x["type"] for x in parts(env)] == ["text", "video_url"]
    assert texts(env) == "Extract 3 key frames from the attached video"
    assert parts(env)[1]["video_url"]["url"].startswith("data:video/mp4;base64,")
    assert len(ip.user_ns["_vlmrun"].frames) == 3

    res, cap = run(ip, '%vlmrun "describe {{ arr }} and {{ pdf }}" --session new')
    assert res.error_in_exec is None, cap.stdout
    p = parts(env)
    assert [x["type"] for x in p] == ["text", "image_url", "file_url"]
    assert texts(env) == "describe the attached image and the attached document"
    assert p[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert p[2]["file_url"]["url"].startswith("data:application/pdf;base64,")

    # -i: a variable name and a path; URLs travel as they are (shown with --dry-run)
    res, cap = run(ip, f'%vlmrun "describe" -i img -i {pdf} --session new')
    assert res.error_in_exec is None, cap.stdout
    assert [x["type"] for x in parts(env)] == ["text", "image_url", "file_url"]
    ip.user_ns["link"] = "https://example.com/clip.mp4?sig=1"
    res, _ = run(ip, '%vlmrun "describe {{ link }}" -i https://example.com/a.jpg --dry-run')
    body = res.result["json"]
    content = body["messages"][0]["content"]
    assert content[1] == {"type": "video_url", "video_url": {"url": ip.user_ns["link"]}}
    assert content[2]["image_url"]["url"] == "https://example.com/a.jpg"


def test_ref_from_an_earlier_result_is_passed_back_in_its_session(ip, magics, env):
    res, cap = run(ip, "%%vlmrun -s Blurred -o first --session new\nBlur the faces in {{ img }}")
    assert res.error_in_exec is None, cap.stdout
    first = ip.user_ns["first"]
    res, cap = run(ip, "x = %vlmrun 'Grayscale {{ first.image }}' -s Blurred --session new")
    assert res.error_in_exec is None, cap.stdout
    body = posts(env)[-1]
    assert body["session_id"] == first.image.session_id
    assert texts(env) == f"Grayscale {first.image.id}\nInput image: {first.image.id}"
    assert [x["type"] for x in parts(env)] == ["text", "text"]  # no bytes re-sent
    gray = ip.user_ns["x"].image.load()
    r, g, b = gray.convert("RGB").getpixel((5, 5))
    assert r == g == b


def test_literal_braces_reach_the_server_unchanged(ip, magics, env):
    ip.user_ns["who"] = "faces"
    body = (
        'Describe the {{ who }} as JSON like {"faces": [{"x": 1, "y": {"z": 2}}]}\n'
        "like {k: v for k, v in d.items()} and \\{{ not_evaluated }}"
    )
    res, cap = run(ip, "%%vlmrun -i img\n" + body)
    assert res.error_in_exec is None, cap.stdout
    assert texts(env) == (
        'Describe the faces as JSON like {"faces": [{"x": 1, "y": {"z": 2}}]}\n'
        "like {k: v for k, v in d.items()} and {{ not_evaluated }}"
    )
    # the line form too (IPython's own $var / {var} expansion is off)
    ip.user_ns["d"] = {"a": 1}
    res, _ = run(ip, """%vlmrun 'describe {"a": {"b": [1, 2]}} and {d} and $d' --dry-run""")
    sent = res.result["json"]["messages"][0]["content"][0]["text"]
    assert sent == 'describe {"a": {"b": [1, 2]}} and {d} and $d'


def test_a_failing_expression_is_a_clear_error(ip, magics, env):
    res, cap = run(ip, '%vlmrun "describe {{ no_such_name }}"')
    assert "UsageError: {{ no_such_name }}: NameError" in cap.stderr  # the user's, not the API's
    assert "Traceback" not in cap.stdout + cap.stderr
    assert posts(env) == []


# -- sessions, agents, results --------------------------------------------------------------------


def test_session_new_last_and_id(ip, magics, env):
    run(ip, '%vlmrun "describe {{ img }}" --session new')
    s1 = magics.last_session
    assert s1 and "session_id" not in posts(env)[-1]
    run(ip, '%vlmrun "describe {{ img }}"')
    assert posts(env)[-1]["session_id"] == s1 == magics.last_session
    run(ip, '%vlmrun "describe {{ img }}" --session new')
    s2 = magics.last_session
    assert s2 != s1 and "session_id" not in posts(env)[-1]
    run(ip, '%vlmrun "describe {{ img }}" --session last')
    assert posts(env)[-1]["session_id"] == s2
    run(ip, f'%vlmrun "describe {{{{ img }}}}" --session {s1}')
    assert posts(env)[-1]["session_id"] == s1
    res, cap = run(ip, '%vlmrun "describe" --session ../etc')
    assert "UsageError" in cap.stdout + cap.stderr and len(posts(env)) == 5


def test_agent_runs_an_execution_and_binds_refs_to_it(ip, magics, env):
    res, cap = run(
        ip, "%%vlmrun --agent image/blur-image -s Blurred -o res\nBlur the faces in {{ img }}"
    )
    assert res.error_in_exec is None, cap.stdout
    body = posts(env, "/v1/agent/execute")[-1]
    assert body["name"] == "image/blur-image" and body["config"]["prompt"].startswith("Blur")
    assert body["inputs"]["img"].startswith("data:image/png;base64,")
    polled = {r.path.rsplit("/", 1)[-1] for r in env.requests if "/agent/executions/" in r.path}
    image = ip.user_ns["res"].image
    assert image.execution_id in polled and image.session_id is None
    assert image.load().size == (640, 480)
    assert posts(env) == []  # no chat completion was sent


def test_return_value_out_var_and_semicolon(ip, magics, env):
    res, _ = run(ip, 'x = %vlmrun "describe {{ img }}"')
    assert isinstance(ip.user_ns["x"], str) and "640x480" in ip.user_ns["x"]
    res, _ = run(ip, '%vlmrun "describe {{ img }}" -o y')
    assert res.result == ip.user_ns["y"] == ip.user_ns["_vlmrun"]
    n = ip.execution_count
    res, cap = run(ip, '%vlmrun "describe the image {{ img }}";')
    assert res.result is None and "Out[" not in cap.stdout and n not in ip.user_ns["Out"]
    assert "describe the image the attached image" == texts(env)  # the ';' is not sent
    assert "640x480" in ip.user_ns["_vlmrun"]
    res, _ = run(ip, "%%vlmrun --no-display -o z\ndescribe {{ img }}")
    assert res.result is None and "640x480" in ip.user_ns["z"]


def test_status_line_updates_in_place_and_clears(ip, magics, env):
    magics.status_line = "always"
    env.inject("latency", seconds=0.7)
    res, cap = run(ip, '%vlmrun "describe {{ img }}" -m my-model')
    assert res.error_in_exec is None
    shown = [o for o in cap.outputs if "vlmrun" in o.data.get("text/plain", "")]
    assert shown and all("my-model" in o.data["text/plain"] for o in shown)
    assert shown[0].data["text/plain"].endswith("0 s") and not shown[0].update
    # updated in place once the request is out (the client's "waiting" phase), then cleared
    assert any(o.update and "waiting for the answer" in o.data["text/plain"] for o in shown[1:])
    assert cap.outputs[-1].update and cap.outputs[-1].data == {"text/plain": ""}


def test_the_status_line_counts_against_the_deadline(ip, magics, env, monkeypatch):
    """The one total deadline shows on the status line: the run's --timeout while it
    waits for the answer, the client's deadline (VLMRUN_DEADLINE) while it downloads."""
    monkeypatch.setenv("VLMRUN_DEADLINE", "45")
    set_default_client(None)
    magics.status_line = "always"
    env.inject("latency", seconds=0.7, path="/v1/openai")
    env.inject("latency", seconds=0.2, path="/v1/artifacts")
    env.inject("slow_body", seconds=0.1, path="/v1/artifacts")
    res, cap = run(ip, "%%vlmrun -s Blurred --timeout 30\nBlur the faces in {{ img }}")
    assert res.error_in_exec is None, cap.stdout
    lines = [o.data.get("text/plain", "") for o in cap.outputs if "vlmrun" in str(o.data)]
    assert lines[0].endswith("· 0.0 s of 30 s"), lines
    waiting = [ln for ln in lines if "waiting for the answer" in ln]
    assert waiting and all(re.search(r"· \d+(\.\d)? s of 30 s$", ln) for ln in waiting), lines
    spent = [float(re.search(r"· (\S+) s of", ln).group(1)) for ln in waiting]
    assert spent == sorted(spent) and spent[-1] >= 0.5  # its own clock, counting up
    downloading = [ln for ln in lines if "downloading" in ln]
    assert downloading and all(ln.endswith(" s of 45 s") for ln in downloading), lines
    assert cap.outputs[-1].data == {"text/plain": ""}  # cleared when done


# -- subcommands --------------------------------------------------------------------------------


def test_get_and_artifacts(ip, magics, env):
    run(ip, "%%vlmrun -s Blurred -o b --session new\nBlur the faces in {{ img }}")
    ref_id, session = ip.user_ns["b"].image.id, magics.last_session
    res, _ = run(ip, "%vlmrun artifacts")
    assert [r.id for r in res.result] == [ref_id]
    res, cap = run(ip, f"%vlmrun get {ref_id} --session {session}")
    assert res.result.id == ref_id and res.result.session_id == session
    assert res.result.load().size == (640, 480)
    res, cap = run(ip, "%vlmrun get not_an_id")
    assert "UsageError" in cap.stdout + cap.stderr


def test_config_shows_settings_but_never_the_key(ip, magics, env):
    magics.default_model = "vlmrun-orion-1:fast"
    res, cap = run(ip, "%vlmrun config")
    assert env.base_url in cap.stdout and "set (VLMRUN_API_KEY)" in cap.stdout
    assert "vlmrun-orion-1:fast" in cap.stdout and "cache" in cap.stdout
    magics.api_key = env.api_key  # set programmatically, never typed into a cell
    res2, cap2 = run(ip, "%config VlmRunMagics")
    assert "short_errors" in cap2.stdout
    for c, r in ((cap, res), (cap2, res2)):
        assert env.api_key not in everything(ip, c, r)


def test_config_names_a_cache_under_home_as_tilde(ip, magics, env, monkeypatch, tmp_path):
    """A saved notebook's `%vlmrun config` output carries no home directory (and with it
    no user name), as cached files' paths in outputs do not."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("VLMRUN_CACHE_DIR", str(home / ".vlmrun" / "cache"))
    _, cap = run(ip, "%vlmrun config")
    assert "~/.vlmrun/cache" in cap.stdout and str(home) not in cap.stdout


def test_help_and_pinfo_show_usage_with_examples(ip, magics):
    for source in ("%vlmrun help", "%vlmrun?"):
        _, cap = run(ip, source)
        shown = cap.stdout + "".join(o.data.get("text/plain", "") for o in cap.outputs)
        assert "%%vlmrun" in shown and "Examples" in shown, source
        assert "--session" in shown and "local start" in shown
        if source == "%vlmrun help":  # (IPython's own `%vlmrun?` layout keeps its `::`)
            assert "::" not in shown and "``" not in shown  # no raw reST


def test_unknown_flag_is_an_error_with_usage(ip, magics, env):
    res, cap = run(ip, '%vlmrun "describe" --bogus')
    out = cap.stdout + cap.stderr
    assert "unrecognized arguments: --bogus" in out and "[--session new|last|ID]" in out
    assert posts(env) == []


def test_local_start_works_without_a_key(ip, magics, monkeypatch, tmp_path):
    monkeypatch.delenv("VLMRUN_API_KEY", raising=False)
    monkeypatch.setenv("VLMRUN_CACHE_DIR", str(tmp_path))
    set_default_client(None)
    try:
        res, cap = run(ip, "%vlmrun local start")
        server = magics.local_server
        assert server is not None and server.base_url in cap.stdout
        assert server.api_key not in cap.stdout
        res, cap = run(ip, "%%vlmrun -s Blurred -o loc\nBlur the faces in {{ img }}")
        assert res.error_in_exec is None, cap.stdout
        assert ip.user_ns["loc"].image.load().size == (640, 480)
        _, cap = run(ip, "%vlmrun local status")
        assert "running at" in cap.stdout
        _, cap = run(ip, "%vlmrun local stop")
        assert "stopped" in cap.stdout and magics.local_server is None and not server.running
    finally:
        magics.stop_local()
        set_default_client(None)


# -- errors: one short line each, nothing stored ------------------------------------------------


def error_line(cap) -> str:
    lines = [ln for ln in cap.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, cap.stdout
    return lines[0]


def test_no_key_names_the_variable_and_local_start(ip, magics, monkeypatch):
    monkeypatch.delenv("VLMRUN_API_KEY", raising=False)
    set_default_client(None)
    res, cap = run(ip, '%vlmrun "describe {{ img }}" -o nokey')
    line = error_line(cap)
    assert line.startswith("ConfigurationError: ")
    assert "VLMRUN_API_KEY" in line and "%vlmrun local start" in line
    assert "nokey" not in ip.user_ns


def test_wrong_key_is_a_short_401(ip, magics, env):
    magics.api_key, magics.base_url = "wrong-key-123", env.base_url
    res, cap = run(ip, '%vlmrun "describe {{ img }}"')
    line = error_line(cap)
    assert line.startswith("AuthenticationError (HTTP 401): ") and "VLMRUN_API_KEY" in line
    assert "wrong-key-123" not in everything(ip, cap, res)


def test_unsupported_prompt_shows_the_servers_422_detail(ip, magics, env):
    ip.user_ns.pop("bad", None)
    res, cap = run(ip, '%vlmrun "dance the tango with {{ img }}" -o bad')
    first, *listed = [ln for ln in cap.stdout.splitlines() if ln.strip()]
    assert first.startswith("RequestError (HTTP 422): the offline local server only knows")
    assert any("blur the faces" in ln for ln in listed)
    assert all(ln.startswith("  - ") for ln in listed)
    assert "bad" not in ip.user_ns


def test_timeout_is_a_short_error(ip, magics, env):
    env.inject("latency", seconds=2, path="/v1/openai")
    res, cap = run(ip, '%vlmrun "describe {{ img }}" --timeout 0.5 -o slow')
    line = error_line(cap)
    assert line.startswith("VlmRunTimeoutError: ") and "--timeout" in line and len(line) < 160
    assert "slow" not in ip.user_ns


def test_ctrl_c_cancels_cleanly(ip, magics, env):
    ip.user_ns["_vlmrun"] = "before"
    env.inject("latency", seconds=2, path="/v1/openai")
    # Ctrl-C arrives while the request is in flight: when the server has received it (it
    # then holds it for 2 s), not after a fixed delay that a loaded machine may overrun
    stop = threading.Event()

    def interrupt_once_sent() -> None:
        while not stop.wait(0.02):
            if any(r.path == "/v1/openai/chat/completions" for r in env.requests):
                _thread.interrupt_main()
                return

    watcher = threading.Thread(target=interrupt_once_sent, daemon=True)
    watcher.start()
    try:
        res, cap = run(ip, '%vlmrun "describe {{ img }}" -o cancelled')
    finally:
        stop.set()
        watcher.join()
    line = error_line(cap)
    assert line.startswith("CancelledError: interrupted after")
    assert "nothing was stored" in line
    assert "cancelled" not in ip.user_ns and ip.user_ns["_vlmrun"] == "before"


def test_full_tracebacks_on_request_still_hide_the_key(ip, magics, env):
    run(ip, "%config VlmRunMagics.short_errors = False")
    try:
        assert magics.short_errors is False
        res, cap = run(ip, '%vlmrun "dance {{ img }}"')
        assert "Traceback" in cap.stdout or len(cap.stdout.splitlines()) > 3
        assert "RequestError" in cap.stdout
        assert env.api_key not in everything(ip, cap, res)
    finally:  # %config stays in the shell's config: later magics instances would read it
        run(ip, "%config VlmRunMagics.short_errors = True")


def test_nothing_shown_ever_contains_the_key(ip, magics, env):
    cells = [
        "%vlmrun config",
        '%vlmrun "describe {{ img }}" --dry-run',
        "%%vlmrun -s Blurred -o kb\nBlur the faces in {{ img }}",
        "kb",
        "kb.image",
        "%vlmrun artifacts",
        '%vlmrun "dance"',
        "%vlmrun help",
    ]
    for cell in cells:
        res, cap = run(ip, cell)
        seen = everything(ip, cap, res)
        assert env.api_key not in seen, cell
    dry = run(ip, '%vlmrun "describe {{ img }}" --dry-run')[0].result
    assert dry["headers"] == {"Authorization": "Bearer ***"}
    res, _ = run(ip, '%vlmrun "Blur the faces" -i img --agent image/blur-image --dry-run')
    assert res.result["url"].endswith("/agent/execute")
    assert res.result["json"]["inputs"]["img"].startswith("data:image/png;base64,")
    assert env.api_key not in everything(ip, _, res)
    assert "<" in dry["json"]["messages"][0]["content"][1]["image_url"]["url"][-20:]


# -- loading and unloading ----------------------------------------------------------------------


class _Theirs(Exception):
    pass


def test_reload_registers_once_and_unload_restores(ip, magics):
    ip.run_line_magic("unload_ext", "vlmrun_jupyter")
    assert "vlmrun" not in ip.magics_manager.magics["line"]
    seen = []

    def theirs(shell, etype, value, tb, tb_offset=None):
        seen.append(value)
        return ["theirs"]

    ip.set_custom_exc((_Theirs,), theirs)
    before = (ip.custom_exceptions, ip.CustomTB)
    printers = dict(ip.display_formatter.mimebundle_formatter.type_printers)
    try:
        ip.run_line_magic("load_ext", "vlmrun_jupyter")
        ip.run_line_magic("reload_ext", "vlmrun_jupyter")
        assert "vlmrun" in ip.magics_manager.magics["cell"]
        assert sum(c.__class__.__name__ == "VlmRunMagics" for c in ip.configurables) == 1
        assert formatters.registered(ip) == len(formatters.TYPES)
        ip.user_ns["_Theirs"] = _Theirs
        _, cap = run(ip, "raise _Theirs('x')")
        assert seen and isinstance(seen[0], _Theirs)  # their handler still runs for theirs
        ip.run_line_magic("unload_ext", "vlmrun_jupyter")
        assert "vlmrun" not in ip.magics_manager.magics["line"]
        assert "vlmrun" not in ip.magics_manager.magics["cell"]
        assert (ip.custom_exceptions, ip.CustomTB) == before
        assert dict(ip.display_formatter.mimebundle_formatter.type_printers) == printers
    finally:
        ip.set_custom_exc((), None)
        ip.run_line_magic("load_ext", "vlmrun_jupyter")


def test_agent_status_changes_show_in_the_status_line(ip, magics, env):
    magics.status_line = "always"
    res, cap = run(ip, "%%vlmrun --agent image/blur-image -s Blurred\nBlur the faces in {{ img }}")
    assert res.error_in_exec is None, cap.stdout
    lines = [o.data.get("text/plain", "") for o in cap.outputs]
    assert any(("pending" in t or "running" in t) for t in lines), lines
    assert lines[-1] == ""  # cleared when done
