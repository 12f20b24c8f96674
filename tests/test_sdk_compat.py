"""The official SDK works unchanged: against our local server (every artifact kind it
returns, fetched with `client.artifacts.get`), and in notebooks after
`%load_ext vlmrun_jupyter`.

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
from pathlib import Path

import pytest
from htmlcheck import shown_media

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


def test_installs_alongside_the_sdks_pinned_dependencies(compat_python):
    check = subprocess.run(
        [str(compat_python), "-m", "pip", "check"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    versions = subprocess.run(
        [str(compat_python), "-c", "import vlmrun.types, vlmrun.client, vlmrun_jupyter"],
        capture_output=True,
        text=True,
    )
    assert versions.returncode == 0, versions.stderr


def _notebook_env(home: Path) -> dict[str, str]:
    """As the notebook's readers run it: no VLMRUN_* variables (it builds its client
    explicitly); a private home for the SDK's cache."""
    home.mkdir(exist_ok=True)
    return {k: v for k, v in os.environ.items() if not k.startswith("VLMRUN_")} | {
        "HOME": str(home)
    }


def test_sdk_style_notebook_passes_nbval(compat_python, tmp_path):
    proc = subprocess.run(
        [str(compat_python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "-o", "addopts=", "-o", "timeout=0", str(NOTEBOOK)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
        env=_notebook_env(tmp_path / "home"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout


def test_sdk_objects_render_inline(compat_python, tmp_path):
    proc = subprocess.run(
        [str(compat_python), "-c", INSPECT, str(NOTEBOOK), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        env=_notebook_env(tmp_path / "home"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    cells = json.loads(proc.stdout.strip().splitlines()[-1])
    errors = [o["error"] for c in cells for o in c["outputs"] if "error" in o]
    assert not errors, errors

    def outputs_of(snippet: str) -> list[dict]:
        found = [c for c in cells if c["source"].strip().endswith(snippet)]
        assert found, snippet
        return [o for o in found[0]["outputs"] if "mimes" in o]

    def media(out: dict) -> int:
        """Pictures and players the output shows (PIL images show as their own image/*)."""
        html = out["html"]
        shown = len(shown_media(html)) + len(shown_media(html, "video"))
        return shown or sum(m.startswith("image/") for m in out["mimes"])

    # every display cell of the notebook shows its artifacts (written the seeds' way)
    shows = [c for c in cells if c["outputs"] and any("mimes" in o for o in c["outputs"])]
    assert len(shows) >= 12
    for cell in shows:
        outs = [o for o in cell["outputs"] if "mimes" in o]
        assert all(media(o) for o in outs), cell["source"][-80:]
        assert not any("Not configured" in o["html"] or "no session" in o["html"] for o in outs)
    # an SDK ImageRef at the end of a cell: the picture, found through the ChatCompletion's session
    (image,) = outputs_of("result.image")
    assert "image/jpeg" in image["mimes"] and image["plain"].startswith("<ImageRef img_")
    # the Path the SDK returned plays inline, and displaying the ref again costs no request
    assert shown_media(outputs_of("video_path")[0]["html"], "video")
    video = outputs_of('== before, "fetched again"')
    assert any(shown_media(o["html"], "video") for o in video)
    # a list of SDK objects holding refs is a gallery; the ChatCompletion itself is a card
    (frames,) = outputs_of("key_frames.frames")
    assert len(shown_media(frames["html"])) >= 5
    (completion,) = outputs_of("frames_response")
    assert len(shown_media(completion["html"])) >= 5 and "session" in completion["html"]
    # the try-on's three views, the helper's (result, session_id), the listing as a gallery
    assert len(shown_media(outputs_of("views")[0]["html"])) == 3
    assert shown_media(outputs_of("blur(PHOTO_URL)")[0]["html"])
    assert len(shown_media(outputs_of("session_id=try_on.session_id)")[0]["html"])) >= 3
    # an AgentExecutionResponse renders as an execution card; its refs bind to the execution id
    (execution,) = outputs_of("execution")
    assert "execution" in execution["html"] and shown_media(execution["html"])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


SDK_SCRIPT = r"""
import json, sys
from pathlib import Path
from PIL import Image
from pydantic import BaseModel
from vlmrun.client import VLMRun
from vlmrun.client.types import AgentExecutionConfig
from vlmrun.types import AudioRef, DocumentRef, ImageRef, ReconRef, VideoRef

inputs = json.loads(sys.stdin.read())
client = VLMRun()

class Blurred(BaseModel):
    image: ImageRef

class Trimmed(BaseModel):
    video: VideoRef

class KeyFrame(BaseModel):
    image: ImageRef
    timestamp: float
    description: str

class KeyFrames(BaseModel):
    frames: list[KeyFrame]

class Redacted(BaseModel):
    document: DocumentRef

class Recon(BaseModel):
    recon: ReconRef

class Audio(BaseModel):
    audio: AudioRef

def ask(text, part, model):
    response = client.agent.completions.create(
        model="vlmrun-orion-1:auto",
        messages=[{"role": "user", "content": [{"type": "text", "text": text}, part]}],
        response_format={"type": "json_schema", "schema": model.model_json_schema()},
    )
    return response, model.model_validate_json(response.choices[0].message.content)

def fetched(value):
    if isinstance(value, Image.Image):
        return {"type": "PIL", "size": list(value.size)}
    assert isinstance(value, Path), type(value)
    return {"type": "Path", "path": str(value), "suffix": value.suffix}

image = {"type": "image_url", "image_url": {"url": inputs["image"]}}
video = {"type": "video_url", "video_url": {"url": inputs["video"]}}
pdf = {"type": "file_url", "file_url": {"url": inputs["pdf"]}}
out = {}
r, m = ask("Blur the faces in this image", image, Blurred)
out["blur"] = fetched(client.artifacts.get(session_id=r.session_id, object_id=m.image.id))
r, m = ask("Trim the video to its first 2 seconds", video, Trimmed)
out["trim"] = fetched(client.artifacts.get(session_id=r.session_id, object_id=m.video.id))
r, m = ask("Extract 5 key frames with timestamp and description", video, KeyFrames)
out["frames"] = [fetched(client.artifacts.get(session_id=r.session_id, object_id=f.image.id)) | {"t": f.timestamp} for f in m.frames]
r, m = ask("Redact the document", pdf, Redacted)
out["redact"] = fetched(client.artifacts.get(session_id=r.session_id, object_id=m.document.id))
r, m = ask("3D reconstruction of this image", image, Recon)
out["recon"] = fetched(client.artifacts.get(session_id=r.session_id, object_id=m.recon.id))
r, m = ask("Extract the audio of this video", video, Audio)
out["audio"] = fetched(client.artifacts.get(session_id=r.session_id, object_id=m.audio.id))
execution = client.agent.execute(
    name="image/blur-image",
    inputs={"image": inputs["image"]},
    config=AgentExecutionConfig(prompt="Blur the faces", response_model=Blurred),
)
done = client.executions.wait(execution.id, timeout=60, sleep=1)
blurred = Blurred.model_validate(done.response)
out["execution"] = {"status": done.status} | fetched(client.artifacts.get(execution_id=done.id, object_id=blurred.image.id))
print(json.dumps(out))
"""


def test_the_official_sdk_works_against_the_local_server(compat_python, server, tmp_path):
    import av
    import pypdfium2 as pdfium

    from vlmrun_jupyter.local import samples
    from vlmrun_jupyter.splat import spz

    clip = samples.sample_video(tmp_path / "clip.mp4", seconds=4.0)
    inputs = {
        "image": samples.data_url(samples.image_bytes(samples.sample_image()), "image/jpeg"),
        "video": samples.data_url(clip.read_bytes(), "video/mp4"),
        "pdf": samples.data_url(
            samples.sample_pdf(tmp_path / "doc.pdf", pages=3).read_bytes(), "application/pdf"
        ),
    }
    env = {
        **os.environ,
        "VLMRUN_BASE_URL": server.base_url,
        "VLMRUN_API_KEY": server.api_key,
        "VLMRUN_CACHE_DIR": str(tmp_path / "sdk-cache"),
    }
    proc = subprocess.run(
        [str(compat_python), "-c", SDK_SCRIPT],
        input=json.dumps(inputs),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["blur"] == {"type": "PIL", "size": [640, 480]}
    assert [f["type"] for f in out["frames"]] == ["PIL"] * 5
    assert sorted(f["t"] for f in out["frames"]) == [f["t"] for f in out["frames"]]
    assert out["trim"]["suffix"] == ".mp4"
    with av.open(out["trim"]["path"]) as c:
        frames = sum(1 for _ in c.decode(video=0))
    assert abs(frames - 48) <= 1  # 2 s at 24 fps, +- one frame
    assert out["redact"]["suffix"] == ".pdf"
    pdf = pdfium.PdfDocument(out["redact"]["path"])
    try:
        assert len(pdf) == 3
    finally:
        pdf.close()
    assert out["recon"]["suffix"] == ".spz"
    assert len(spz.decode(Path(out["recon"]["path"]).read_bytes())) > 50_000
    assert out["audio"]["suffix"] == ".mp3"
    with av.open(out["audio"]["path"]) as c:
        assert sum(f.samples for f in c.decode(audio=0)) > 44100 * 3
    assert out["execution"]["status"] == "completed" and out["execution"]["type"] == "PIL"
