"""A result card in a live kernel offers its refs' live viewers (issue 16.3): the output is a
widget view of the static card plus an "open" offer per ref with a viewer, the viewer
made only on request; text/html stays the static card. Checked in process (the kernel
check patched in) and in a real kernel over jupyter_client (the frontend's click sent as
a comm message, the viewer's splats asked for as the browser does)."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from htmlcheck import assert_inert_html
from pydantic import BaseModel

from vlmrun_jupyter import DocumentRef, ImageRef, ReconRef, VideoRef
from vlmrun_jupyter.display import card as card_mod
from vlmrun_jupyter.display import kernel, livecard
from vlmrun_jupyter.display.kinds import document as document_kind
from vlmrun_jupyter.display.kinds import recon as recon_kind
from vlmrun_jupyter.display.kinds import video as video_kind
from vlmrun_jupyter.splat import spz, viewer
from vlmrun_jupyter.splat.spz import Splats

REPO = Path(__file__).resolve().parent.parent
WIDGET_VIEW = kernel.WIDGET_VIEW
HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


def scene(n: int, seed: int = 3) -> Splats:
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, 4)).astype(np.float32)
    return Splats(
        positions=rng.normal(0, 1, (n, 3)).astype(np.float32),
        opacities=rng.uniform(0.3, 1, n).astype(np.float32),
        colors=rng.uniform(0, 1, (n, 3)).astype(np.float32),
        log_scales=np.log(rng.uniform(0.01, 0.05, (n, 3))).astype(np.float32),
        rotations=q / np.linalg.norm(q, axis=1, keepdims=True),
        sh=np.zeros((n, 0, 3), np.float32),
    )


class Scan(BaseModel):
    label: str
    recon: ReconRef
    photo: ImageRef | None = None


class Many(BaseModel):
    scans: list[ReconRef]


@pytest.fixture()
def live(monkeypatch):
    """This process counts as a live kernel for the card and the kinds."""
    for module, name in (
        (card_mod, "in_kernel"),
        (recon_kind, "_kernel_shows_widgets"),
        (document_kind, "in_kernel"),
        (video_kind, "in_kernel"),
    ):
        monkeypatch.setattr(module, name, lambda: True)


def _recon(client, live_server, n: int = 1500, seed: int = 3) -> ReconRef:
    sid, oid = live_server.add_artifact("recon", spz.encode(scene(n, seed)))
    return ReconRef(id=oid).bind(session_id=sid, client=client)


def _widget(model_id: str):
    import ipywidgets

    with warnings.catch_warnings():  # the registry's public name is deprecated, not gone
        warnings.simplefilter("ignore", DeprecationWarning)
        return ipywidgets.Widget.widgets[model_id]


def _tree(w) -> list:
    """Every widget under `w`, depth first, `w` included."""
    out = [w]
    for child in getattr(w, "children", ()):
        out += _tree(child)
    return out


def test_outside_a_kernel_a_card_is_static_only(client, live_server, tmp_path):
    ref = _recon(client, live_server)
    bundle = card_mod.result_bundle(Scan(label="room", recon=ref))
    assert WIDGET_VIEW not in bundle and "text/html" in bundle
    # and no widget library is imported for it (a fresh process: this one has them)
    (tmp_path / "s.spz").write_bytes(spz.encode(scene(300)))
    code = f"""
import sys
from pydantic import BaseModel
from vlmrun_jupyter import Client, ReconRef
from vlmrun_jupyter.display import result_bundle
client = Client(api_key="k", base_url="http://127.0.0.1:9/v1", cache_dir={str(tmp_path)!r})
(client.cache.root / "sess_plain001").mkdir(parents=True)
(client.cache.root / "sess_plain001" / "recon_plain1.spz").write_bytes(
    open({str(tmp_path / "s.spz")!r}, "rb").read())
class Scan(BaseModel):
    recon: ReconRef
ref = ReconRef(id="recon_plain1").bind(session_id="sess_plain001", client=client)
html = result_bundle(Scan(recon=ref))["text/html"]
assert "recon_plain1" in html and "<img" in html, html[:300]
print(sorted(m for m in ("ipywidgets", "anywidget") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_card_in_a_kernel_offers_the_viewer_and_opens_it_on_request(
    client, live_server, live, monkeypatch
):
    made = []
    build = viewer.SplatViewer.from_packed.__func__
    monkeypatch.setattr(
        viewer.SplatViewer,
        "from_packed",
        classmethod(lambda cls, *a, **k: made.append(build(cls, *a, **k)) or made[-1]),
    )
    ref = _recon(client, live_server, 1500)
    bundle = card_mod.result_bundle(Scan(label=HOSTILE, recon=ref))
    static = bundle["text/html"]
    assert_inert_html(static)  # the hostile label escaped, as ever
    assert recon_kind.INSIDE_A_CARD in static
    box = _widget(bundle[WIDGET_VIEW]["model_id"])
    tree = _tree(box)
    (card_out,) = [w for w in tree if type(w).__name__ == "Output"]
    assert card_out.outputs[0]["data"]["text/html"] == static  # the very escaped card
    (button,) = [w for w in tree if type(w).__name__ == "Button"]
    assert button.description == f"open 3D viewer · ReconRef {ref.id}"
    assert made == []  # no viewer up front

    button.click()
    assert len(made) == 1 and made[0] in box.children[2].children
    assert made[0].count == 1500 and made[0].title == f"ReconRef · {ref.id}"
    expected, _ = viewer.prepare(spz.decode(ref.fetch().read_bytes(), sh=False))
    assert made[0].data == expected  # that ref's splats
    assert button.description == f"close 3D viewer · ReconRef {ref.id}"

    button.click()  # close: out of the card and its comm closed
    assert box.children[2].children == () and made[0].comm is None
    assert button.description.startswith("open 3D viewer")
    box.close()


def test_many_refs_one_dropdown_and_at_most_two_viewers_open(client, live_server, live):
    refs = [_recon(client, live_server, 300, seed=i) for i in range(livecard.MAX_BUTTONS + 3)]
    bundle = card_mod.result_bundle(Many(scans=refs + refs[:2]))  # repeats offered once
    box = _widget(bundle[WIDGET_VIEW]["model_id"])
    tree = _tree(box)
    (choice,) = [w for w in tree if type(w).__name__ == "Dropdown"]
    (button,) = [w for w in tree if type(w).__name__ == "Button"]
    assert [value for _, value in choice.options] == list(range(len(refs)))
    viewers = box.children[2]
    for i in (0, 4, 7):
        choice.value = i
        assert button.description == f"open 3D viewer · ReconRef {refs[i].id}"
        button.click()
    shown = [w.title for w in viewers.children]
    assert shown == [f"ReconRef · {refs[i].id}" for i in (4, 7)]  # the oldest was closed
    choice.value = 0
    assert button.description.startswith("open")
    box.close()


def test_a_viewer_that_cannot_open_shows_an_error_card(client, live_server, live):
    """A broken SPZ file: the card shows its error in the slot, and the offer, clicked,
    shows the decoder's error where the viewer would be (the kernel carries on)."""
    sid, oid = live_server.add_artifact("recon", b"\x1f\x8b" + b"not a gzip stream" * 8)
    ref = ReconRef(id=oid).bind(session_id=sid, client=client)
    bundle = card_mod.result_bundle(Scan(label="x", recon=ref))
    box = _widget(bundle[WIDGET_VIEW]["model_id"])
    (button,) = [w for w in _tree(box) if type(w).__name__ == "Button"]
    button.click()
    (err,) = box.children[2].children
    html = err.outputs[0]["data"]["text/html"]
    assert_inert_html(html)
    assert oid in html and "SPZ" in html.upper()
    assert button.description.startswith("close")  # it can be dismissed
    button.click()
    assert box.children[2].children == ()
    box.close()


def test_document_and_video_refs_are_offered_too(client, live_server, live, tmp_path):
    from vlmrun_jupyter.local import samples

    class Mixed(BaseModel):
        document: DocumentRef
        video: VideoRef
        photo: ImageRef

    pdf = samples.sample_pdf(tmp_path / "r.pdf", pages=8)
    clip = samples.sample_video(tmp_path / "c.mp4", seconds=1.0)
    sid, doc_id = live_server.add_artifact("doc", pdf)
    _, vid_id = live_server.add_artifact("vid", clip, session_id=sid)
    _, img_id = live_server.add_artifact("img", _jpeg(), session_id=sid)
    result = Mixed(
        document=DocumentRef(id=doc_id).bind(session_id=sid, client=client),
        video=VideoRef(id=vid_id).bind(session_id=sid, client=client),
        photo=ImageRef(id=img_id).bind(session_id=sid, client=client),
    )
    bundle = card_mod.result_bundle(result)
    assert "“open document viewer” under the card" in bundle["text/html"]
    box = _widget(bundle[WIDGET_VIEW]["model_id"])
    buttons = [w for w in _tree(box) if type(w).__name__ == "Button"]
    assert [b.description for b in buttons] == [
        f"open document viewer · DocumentRef {doc_id}",
        f"open video player · VideoRef {vid_id}",
    ]  # the image has no live viewer: no offer
    buttons[0].click()
    (doc_view,) = box.children[2].children
    assert type(doc_view).__name__ == "DocumentViewer" and doc_view.count == 8
    buttons[1].click()
    assert [type(w).__name__ for w in box.children[2].children] == [
        "DocumentViewer",
        "VideoPlayer",
    ]
    box.close()


def _jpeg() -> bytes:
    import io

    from vlmrun_jupyter.local import samples

    buf = io.BytesIO()
    samples.sample_image().save(buf, "JPEG")
    return buf.getvalue()


# -- a real kernel ------------------------------------------------------------------------------

KERNEL_CODE = """\
%load_ext vlmrun_jupyter
from pathlib import Path
from pydantic import BaseModel
from vlmrun_jupyter import Client, LocalServer, ReconRef

server = LocalServer().start()
client = Client(api_key=server.api_key, base_url=server.base_url)
sid, oid = server.add_artifact("recon", Path({spz!r}).read_bytes())

class Scan(BaseModel):
    label: str
    recon: ReconRef

result = Scan(label="a room", recon=ReconRef(id=oid).bind(session_id=sid, client=client))
display(result)
print("ID", oid)
"""


class Kernel:
    """A real ipykernel over jupyter_client; iopub read into a list."""

    def __init__(self, env: dict[str, str]) -> None:
        from jupyter_client import KernelManager

        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env=env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.seen: list[dict] = []

    def drain(self, until, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while not until():
            left = end - time.monotonic()
            assert left > 0, "timed out waiting for the kernel"
            try:
                self.seen.append(self.kc.get_iopub_msg(timeout=min(left, 1.0)))
            except queue.Empty:
                continue

    def opened(self) -> dict[str, dict]:
        """comm id -> the state it was opened with, updated by later 'update' messages."""
        states: dict[str, dict] = {}
        for m in self.seen:
            c = m["content"]
            if m["msg_type"] == "comm_open":
                states[c["comm_id"]] = dict(c["data"]["state"])
            elif m["msg_type"] == "comm_msg" and c["data"].get("method") == "update":
                states.setdefault(c["comm_id"], {}).update(c["data"]["state"])
        return states

    def send(self, comm_id: str, content: dict) -> None:
        """A widget's custom message, as a frontend view sends it."""
        data = {"method": "custom", "content": content}
        self.kc.shell_channel.send(
            self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        )

    def stop(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def _children(states: dict[str, dict], model_id: str) -> list[str]:
    return [c.removeprefix("IPY_MODEL_") for c in states[model_id].get("children", [])]


@pytest.mark.timeout(180)
def test_in_a_real_kernel_the_card_offers_and_opens_the_splat_viewer(tmp_path):
    data = spz.encode(scene(2500, seed=9))
    (tmp_path / "scene.spz").write_bytes(data)
    env = {
        **os.environ,
        "VLMRUN_CACHE_DIR": str(tmp_path / "cache"),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
    }
    env.pop("VLMRUN_API_KEY", None)
    k = Kernel(env)
    try:
        msg_id = k.kc.execute(KERNEL_CODE.format(spz=str(tmp_path / "scene.spz")))
        k.drain(
            lambda: any(
                m["msg_type"] == "status"
                and m["content"]["execution_state"] == "idle"
                and m["parent_header"].get("msg_id") == msg_id
                for m in k.seen
            )
        )
        errors = [m["content"] for m in k.seen if m["msg_type"] == "error"]
        assert errors == []
        (shown,) = [m["content"]["data"] for m in k.seen if m["msg_type"] == "display_data"]
        oid = next(
            ln.split()[1]
            for m in k.seen
            if m["msg_type"] == "stream"
            for ln in m["content"]["text"].splitlines()
            if ln.startswith("ID ")
        )
        assert_inert_html(shown["text/html"])
        assert oid in shown["text/html"]
        states = k.opened()
        box = shown[WIDGET_VIEW]["model_id"]
        card_id, controls_id, viewers_id = _children(states, box)
        # the card's HTML, exactly the static alternative, inside the widget tree
        assert states[card_id]["outputs"][0]["data"]["text/html"] == shown["text/html"]
        (button_id,) = _children(states, controls_id)
        assert states[button_id]["description"] == f"open 3D viewer · ReconRef {oid}"
        assert _children(states, viewers_id) == []
        assert not any(s.get("_esm") for s in states.values())  # no viewer up front

        # the frontend's click on the offer
        k.send(button_id, {"event": "click"})
        k.drain(lambda: k.opened()[button_id]["description"].startswith("close"))
        states = k.opened()
        (viewer_id,) = _children(states, viewers_id)
        assert states[viewer_id]["count"] == 2500
        assert states[viewer_id]["title"] == f"ReconRef · {oid}"
        assert states[button_id]["description"] == f"close 3D viewer · ReconRef {oid}"

        # the viewer sends that ref's splats when its view asks, as the browser does
        k.send(viewer_id, {"type": "splats?"})
        replies = []

        def got_splats() -> bool:
            replies[:] = [
                m
                for m in k.seen
                if m["msg_type"] == "comm_msg"
                and m["content"]["comm_id"] == viewer_id
                and m["content"]["data"].get("method") == "custom"
                and m.get("buffers")
            ]
            return bool(replies)

        k.drain(got_splats)
        expected, _ = viewer.prepare(spz.decode(data, sh=False))
        assert b"".join(bytes(b) for b in replies[0]["buffers"]) == expected
    finally:
        k.stop()
