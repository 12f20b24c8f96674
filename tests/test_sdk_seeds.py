"""The official SDK's code, written the way its users write it, runs against the local
server and renders after `%load_ext vlmrun_jupyter`.

Every Python example of the product's documents (`tests/seeds/examples.md`, copied
from ../shared/seeds/) runs in a real kernel (nbclient) in the SDK's own venv
(`compat_python`, vlmrun==0.9.2), with an explicit `VLMRun(base_url=..., api_key=...)`
and no VLMRUN_* variables. What changes, and only that (`adapt`): the base URL and
key; the media URLs (served from loopback); where the documents import `ImageUrl`
(`vlmrun.client.types` in the docs, `vlmrun.types` in the SDK); and in the caching
snippet, the placeholders the document leaves open (`session_id`, `vid_a1b2c3`).
After each example the cell shows what a user would look at, and each output must
show its media (parsed HTML, `htmlcheck.shown_media`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from htmlcheck import shown_media

from vlmrun_jupyter.local import samples

pytestmark = pytest.mark.sdk

EXAMPLES_MD = Path(__file__).parent / "seeds" / "examples.md"


def examples() -> dict[str, str]:
    """`## name` -> the code of its python block."""
    text = EXAMPLES_MD.read_text()
    found = re.findall(r"^## (\w+)\n.*?```python\n(.*?)```", text, re.S | re.M)
    return dict(found)


@pytest.fixture(scope="module")
def media_server(tmp_path_factory):
    """The examples' media, served from loopback (the local server fetches only loopback)."""
    root = tmp_path_factory.mktemp("media")
    samples.sample_image().save(root / "photo.jpg", quality=92)
    samples.sample_video(root / "video.mp4", seconds=4.0)
    samples.sample_garment().save(root / "dress.png")
    samples.sample_person().save(root / "person.png")
    samples.sample_image(faces=False).save(root / "image-11.png")
    handler = partial(QuietHandler, directory=str(root))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output readable
        pass


def _sub(code: str, old: str, new: str, count: int | None = None) -> str:
    """Replace `old`, failing loudly if the example no longer holds it."""
    assert old in code, f"the example changed: {old!r} not found"
    if count is not None:
        assert code.count(old) == count, (old, code.count(old))
    return code.replace(old, new)


MEDIA = {
    "https://example.com/photo.jpg": "photo.jpg",
    "https://example.com/video.mp4": "video.mp4",
    "https://storage.googleapis.com/vlm-data-public-prod/hub/examples/agent_use_cases/"
    "virtual_try_on/dress.png": "dress.png",
    "https://storage.googleapis.com/vlm-data-public-prod/hub/examples/agent_use_cases/"
    "virtual_try_on/person.png": "person.png",
    "https://storage.googleapis.com/vlm-data-public-prod/hub/examples/agent_use_cases/"
    "guided-segmentation/image-11.png": "image-11.png",
}


def adapt(name: str, code: str, base_url: str, api_key: str, media: str) -> str:
    """The example as it runs here: only the changes listed in the module docstring."""
    explicit = f"VLMRun(base_url={base_url!r}, api_key={api_key!r})"
    for doc_client in (
        'VLMRun(base_url="https://agent.vlm.run/v1", api_key="<VLMRUN_API_KEY>")',
        'VLMRun(api_key="<VLMRUN_API_KEY>")',
    ):
        code = code.replace(doc_client, explicit)
    for url, file in MEDIA.items():
        code = code.replace(url, f"{media}/{file}")
    if "ImageUrl" in code:
        code = re.sub(
            r"from vlmrun\.client\.types import (.*), ImageUrl\n",
            r"from vlmrun.client.types import \1\nfrom vlmrun.types import ImageUrl\n",
            code,
        )
    if name == "guide_caching":
        code = "session_id = response.session_id\n" + _sub(
            code, '"vid_a1b2c3"', "result.video.id", 2
        )
    assert "<VLMRUN_API_KEY>" not in code and "example.com" not in code, code
    assert "storage.googleapis.com" not in code
    return code


# What a user looks at after each example (each must show its media). The order is the
# documents' order; `guide_caching` continues `guide_trim` (it uses its response).
RUN_ORDER = [
    "guide_blur", "guide_trim", "guide_caching", "guide_frames", "guide_execution",
    "reference_session", "reference_execution", "announcement_try_on",
    "announcement_redaction", "announcement_recon",
]  # fmt: skip
SHOW = {
    "guide_blur": ["result.image", "blurred_image", "response"],
    "guide_trim": ["result.video", "video_path", "response"],
    "guide_caching": ["video_path"],
    "guide_frames": ["result.frames", "frames", "response"],
    "guide_execution": ["result.image", "image", "execution"],
    "reference_session": ["result.image", "image"],
    "reference_execution": ["result.image", "image", "execution"],
    "announcement_try_on": ["result", "images", "response"],
    "announcement_redaction": ["result.redacted_image", "redacted"],
    "announcement_recon": ["result.recon_path", "recon_path"],
}

# The most common pattern of the cookbook notebooks: a helper hides the ChatCompletion and
# returns (result, session_id); the cell shows the result, then what artifacts.get returns.
HELPER = """
from vlmrun.types import ImageRef as _ImageRef
class Blurred(BaseModel):
    image: _ImageRef

def blur(url):
    response = client.agent.completions.create(
        model="vlmrun-orion-1:auto",
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "Blur all the faces in this image"},
            {"type": "image_url", "image_url": {"url": url}}]}],
        response_format={"type": "json_schema", "schema": Blurred.model_json_schema()},
    )
    return Blurred.model_validate_json(response.choices[0].message.content), response.session_id
"""
HELPER_SHOW = [
    "blur(PHOTO)",
    "helper_result, helper_sid = blur(PHOTO)\nhelper_result.image",
    "client.artifacts.get(session_id=helper_sid, object_id=helper_result.image.id)",
    "client.artifacts.list(session_id=helper_sid)",
]

RUN = r"""
import json, sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
               resources={"metadata": {"path": sys.argv[2]}}).execute()
cells = []
for cell in nb.cells:
    outs = []
    for o in cell.get("outputs", []):
        if o["output_type"] in ("execute_result", "display_data"):
            outs.append({"mimes": sorted(o["data"]), "plain": o["data"].get("text/plain", ""),
                         "html": o["data"].get("text/html", "")})
        elif o["output_type"] == "error":
            outs.append({"error": o["ename"] + ": " + o["evalue"]})
        elif o["output_type"] == "stream":
            outs.append({"stream": o["text"]})
    cells.append({"source": cell.source, "outputs": outs})
print(json.dumps(cells))
"""


def clean_env(home: Path) -> dict[str, str]:
    """The kernel's environment: no VLMRUN_* variables, a private home (the SDK's cache)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLMRUN_")}
    return env | {"HOME": str(home)}


def run_notebook(python: Path, cells: list[str], workdir: Path) -> list[dict]:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    path = workdir / "seeds.ipynb"
    nbformat.write(nb, path)
    proc = subprocess.run(
        [str(python), "-c", RUN, str(path), str(workdir)],
        capture_output=True,
        text=True,
        timeout=1200,
        env=clean_env(workdir / "home"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def seed_server(media_server):
    """A local server that may fetch the examples' media (it fetches only its own URLs
    unless told which others to allow)."""
    from vlmrun_jupyter import LocalServer

    with LocalServer(allow_input_urls=[media_server + "/"]) as srv:
        yield srv


@pytest.fixture(scope="module")
def seeds_run(compat_python, seed_server, media_server, tmp_path_factory):
    """All examples in one kernel, in the documents' order, each followed by its displays."""
    server = seed_server
    work = tmp_path_factory.mktemp("seeds")
    (work / "home").mkdir()
    code = examples()
    assert set(code) == set(RUN_ORDER), sorted(code)
    cells = ["%load_ext vlmrun_jupyter"]
    for name in RUN_ORDER:
        cells.append(f"# example: {name}\n" + adapt(name, code[name], server.base_url,
                                                       server.api_key, media_server))  # fmt: skip
        cells.extend(f"# show: {name}\n{expr}" for expr in SHOW[name])
    cells.append(f"PHOTO = {media_server + '/photo.jpg'!r}\n" + HELPER)
    cells.extend(f"# show: helper\n{expr}" for expr in HELPER_SHOW)
    cells.append("# plain: a path outside the cache\nPath(PHOTO_DIR)")
    cells.insert(1, f"PHOTO_DIR = {str(work)!r}")
    server.reset_requests()
    return run_notebook(compat_python, cells, work), server


def test_every_seed_example_runs_verbatim(seeds_run):
    cells, _ = seeds_run
    errors = [(c["source"][:60], o["error"]) for c in cells for o in c["outputs"] if "error" in o]
    assert not errors, errors


@pytest.mark.parametrize("name", RUN_ORDER)
def test_what_each_example_displays_shows_its_media(seeds_run, name):
    cells, _ = seeds_run
    shown = [c for c in cells if c["source"].startswith(f"# show: {name}\n")]
    assert len(shown) == len(SHOW[name])
    for cell in shown:
        rich = [o for o in cell["outputs"] if "mimes" in o]
        assert rich, (cell["source"], cell["outputs"])
        html = "".join(o["html"] for o in rich)
        assert "Not configured" not in html and "no session" not in html.lower(), cell["source"]
        media = (
            shown_media(html)
            or shown_media(html, "video")
            or [m for o in rich for m in o["mimes"] if m.startswith("image/")]
        )
        assert media, (cell["source"], [o["plain"][:200] for o in rich])


def test_the_helper_returns_result_and_session_id_pattern_renders(seeds_run):
    cells, _ = seeds_run
    shown = [c for c in cells if c["source"].startswith("# show: helper\n")]
    assert len(shown) == len(HELPER_SHOW)
    tuple_cell, result_cell, fetched_cell, listing_cell = shown
    for cell in (tuple_cell, result_cell, fetched_cell):
        html = "".join(o.get("html", "") for o in cell["outputs"])
        mimes = [m for o in cell["outputs"] for m in o.get("mimes", [])]
        assert shown_media(html) or any(m.startswith("image/") for m in mimes), cell
    listing = "".join(o.get("html", "") for o in listing_cell["outputs"])
    assert len(shown_media(listing)) >= 1, listing_cell  # ArtifactListResponse: a gallery


def test_the_key_is_never_shown(seeds_run):
    cells, server = seeds_run
    dumped = json.dumps([c["outputs"] for c in cells])  # the sources hold it, as users' do
    assert server.api_key not in dumped and server.api_key[:8] not in dumped


def test_neither_tool_downloads_what_the_other_already_has(seeds_run):
    """The SDK's `artifacts.get` (twice in the caching snippet, "# No download") and our
    displays of the same refs and `Path`s share one cache: one request per artifact."""
    _, server = seeds_run
    asked = [
        (r.query.get("object_id"), r.query.get("session_id") or r.query.get("execution_id"))
        for r in server.requests
        if r.path == "/v1/artifacts"
    ]
    assert asked and len(asked) == len(set(asked)), sorted(asked)
    videos = [a for a in asked if a[0].startswith("vid_")]
    assert len(videos) == 1  # trim, caching snippet (2 gets), result.video, video_path


def test_other_paths_keep_the_default_display(seeds_run):
    cells, _ = seeds_run
    (cell,) = [c for c in cells if c["source"].startswith("# plain: ")]
    (out,) = cell["outputs"]
    assert out["mimes"] == ["text/plain"] and "PosixPath(" in out["plain"]


LARGE_UPLOAD = r"""
import sys
from pathlib import Path
from PIL import Image
from pydantic import BaseModel
from vlmrun.client import VLMRun
from vlmrun.client.types import AgentExecutionConfig, AgentSkill
from vlmrun.types import ImageRef, MessageContent

base_url, api_key, path = sys.argv[1], sys.argv[2], Path(sys.argv[3])
client = VLMRun(base_url=base_url, api_key=api_key)
uploaded = client.files.upload(path)
assert uploaded.bytes == path.stat().st_size, uploaded

class Inputs(BaseModel):
    photo: MessageContent

class Out(BaseModel):
    image: ImageRef

execution = client.agent.execute(
    name=None,
    inputs=Inputs(photo=MessageContent(type="input_file", file_id=uploaded.id)),
    config=AgentExecutionConfig(prompt="Blur the image", response_model=Out,
                                skills=[AgentSkill(skill_id="pillow")]),
)
done = client.executions.wait(execution.id, timeout=120, sleep=1)
image = client.artifacts.get(execution_id=done.id, object_id=Out.model_validate(done.response).image.id)
assert isinstance(image, Image.Image)
print(uploaded.id, done.status, done.name, done.execution_mode, image.size)
"""


def test_sdk_uploads_40_mb_then_runs_a_skill_on_it(compat_python, live_server, tmp_path):
    """Over 32 MB the SDK uses the presigned flow; the execution names no agent, uses a
    skill, and takes the upload as a `MessageContent` input under its own field name."""
    big = tmp_path / "scan.jpg"
    jpeg = samples.image_bytes(samples.sample_image(320, 240))
    with big.open("wb") as f:  # a real JPEG; decoders ignore what follows its end marker
        f.write(jpeg)
        f.write(b"\0" * (40 * 1024 * 1024))
    proc = subprocess.run(
        [str(compat_python), "-c", LARGE_UPLOAD, live_server.base_url, live_server.api_key,
         str(big)],
        capture_output=True, text=True, timeout=600, env=clean_env(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    file_id, status, name, mode, size = proc.stdout.split(maxsplit=4)
    assert status == "completed" and name == "pillow" and mode == "program"
    assert size.strip() == "(320, 240)"
    assert live_server.count("/v1/files/presigned-url") == 1
    assert live_server.count(f"/v1/files/verify-upload/{file_id}") == 1
    assert live_server.count("/v1/files") == 0  # no direct upload


HOOK = r"""
import json
from IPython.testing.globalipapp import start_ipython
ip = start_ipython()
from vlmrun.client.agent import Agent
from vlmrun.client.artifacts import Artifacts
from vlmrun.client.executions import Executions
import vlmrun_jupyter.ipython.sdk_hook as hook

WRAPPED = [(Artifacts, "get"), (Artifacts, "list"), (Agent, "execute"), (Agent, "completions"),
           (Executions, "get")]
originals = [owner.__dict__[name] for owner, name in WRAPPED]

def same():
    return [owner.__dict__[name] is o for (owner, name), o in zip(WRAPPED, originals)]

out = {}
ip.run_line_magic("load_ext", "vlmrun_jupyter")
out["before_first_use"] = same()  # loading never imports or wraps the SDK by itself
ip.run_cell("import vlmrun")
out["loaded"] = same()
ip.run_line_magic("unload_ext", "vlmrun_jupyter")
out["unloaded"] = same()
hook.KNOWN_VERSIONS = frozenset({"0.0.1"})
ip.run_line_magic("load_ext", "vlmrun_jupyter")
ip.run_cell("import vlmrun")
out["unknown_version"] = same()
print(json.dumps(out))
"""


def test_the_sdk_hook_is_version_guarded_and_undone_by_unload_ext(compat_python, tmp_path):
    proc = subprocess.run([str(compat_python), "-c", HOOK], capture_output=True, text=True,
                          timeout=300, env=clean_env(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["loaded"] == [False] * 5  # every method wrapped
    assert out["unloaded"] == [True] * 5  # every original back
    assert out["unknown_version"] == [True] * 5  # an SDK it does not know: left alone


SDK_GET = r"""
import sys
from vlmrun.client import VLMRun
base_url, api_key, session_id, object_id = sys.argv[1:5]
client = VLMRun(base_url=base_url, api_key=api_key)
print(client.artifacts.get(session_id=session_id, object_id=object_id))
"""


def test_url_artifacts_are_shared_with_the_sdk_both_ways(compat_python, live_server, tmp_path):
    """The SDK names a url_ target `<name>.<ext>` (a doubled extension): whichever tool
    downloads it first, the other finds it and does not download the target again."""
    from pydantic import BaseModel

    from vlmrun_jupyter import Client, UrlRef

    class Link(BaseModel):
        link: UrlRef

    home = tmp_path / "home"
    ours = Client(api_key=live_server.api_key, base_url=live_server.base_url,
                  cache_dir=home / ".vlmrun" / "cache")  # the SDK's default, in this home  # fmt: skip
    photo = samples.data_url(samples.image_bytes(samples.sample_image()), "image/jpeg")

    def link() -> tuple[str, str]:
        done = ours.complete("Give me a link to this image", inputs=[photo], schema=Link)
        return done.session_id, done.result.link.id

    def targets() -> int:
        return sum(r.path.startswith("/v1/_local/public/") for r in live_server.requests)

    def sdk_get(sid: str, oid: str) -> Path:
        proc = subprocess.run([str(compat_python), "-c", SDK_GET, live_server.base_url,
                               live_server.api_key, sid, oid],
                              capture_output=True, text=True, timeout=300, env=clean_env(home))  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        return Path(proc.stdout.strip().splitlines()[-1])

    home.mkdir()
    # the SDK first: ours then adopts its file
    sid, oid = link()
    theirs = sdk_get(sid, oid)
    assert theirs.name.endswith(".jpg.jpg") and targets() == 1
    mine = ours.fetch(UrlRef(id=oid).bind(session_id=sid))
    assert mine.read_bytes() == theirs.read_bytes() and targets() == 1
    # ours first: the SDK then finds the target under its own name
    sid, oid = link()
    mine = ours.fetch(UrlRef(id=oid).bind(session_id=sid))
    assert targets() == 2
    theirs = sdk_get(sid, oid)
    assert theirs.read_bytes() == mine.read_bytes() and targets() == 2
    ours.close()
