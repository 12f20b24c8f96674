"""The viewer's data path in Python: what `SplatViewer` sends to the browser is the
splats, exactly (positions bit for bit, colours and opacities to the byte, covariances
to half-float precision), as one binary buffer rather than JSON; and a `ReconRef` adds
the viewer to its bundle only where a kernel can show widgets."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
import traitlets

from vlmrun_jupyter.splat import spz, viewer
from vlmrun_jupyter.splat.spz import Splats


def scene(n: int, seed: int = 1) -> Splats:
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, 4)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return Splats(
        positions=rng.normal(0, 3, (n, 3)).astype(np.float32),
        opacities=rng.uniform(0, 1, n).astype(np.float32),
        colors=rng.uniform(0, 1, (n, 3)).astype(np.float32),
        log_scales=rng.uniform(-6, 0, (n, 3)).astype(np.float32),
        rotations=q,
        sh=np.zeros((n, 0, 3), np.float32),
    )


def unpack(data: bytes, n: int) -> dict[str, np.ndarray]:
    words = np.frombuffer(data, "<u4").reshape(n, 8)
    return {
        "positions": words[:, :3].copy().view("<f4"),
        "rgba": words[:, 3:4].copy().view(np.uint8).reshape(n, 4),
        "cov": words[:, 4:7].copy().view("<f2").reshape(n, 6).astype(np.float64),
    }


def reference_covariance(s: Splats) -> np.ndarray:
    x, y, z, w = s.rotations.T.astype(np.float64)
    r = np.stack(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    ).transpose(2, 0, 1)
    d = np.exp(2 * s.log_scales.astype(np.float64))
    return np.einsum("nij,nj,nkj->nik", r, d, r)


def test_pack_carries_every_splat_exactly():
    s = scene(5000)
    data, unit = viewer.pack(s)
    # one binary buffer (a view of the packed words, not a copy)
    assert memoryview(data).nbytes == 5000 * viewer.BYTES_PER_SPLAT
    got = unpack(data, 5000)
    assert np.array_equal(got["positions"], s.positions)
    assert np.array_equal(got["rgba"][:, :3], np.rint(s.colors * 255).astype(np.uint8))
    assert np.array_equal(got["rgba"][:, 3], np.rint(s.opacities * 255).astype(np.uint8))
    cov = got["cov"] * unit
    ref = reference_covariance(s)[:, [0, 0, 0, 1, 1, 2], [0, 1, 2, 1, 2, 2]]
    # float16 keeps ~3 significant digits relative to each splat's own size
    scale = np.abs(ref[:, [0, 3, 5]]).max(axis=1, keepdims=True)
    assert np.all(np.abs(cov - ref) <= 2e-3 * scale + 1e-7 * unit)


def test_covariance_is_anisotropic_and_rotated():
    s = Splats(
        positions=np.zeros((2, 3), np.float32),
        opacities=np.ones(2, np.float32),
        colors=np.ones((2, 3), np.float32),
        log_scales=np.log(np.array([[2.0, 0.5, 0.5]] * 2, np.float32)),
        # identity, and 90 degrees about z (x, y, z, w)
        rotations=np.array([[0, 0, 0, 1], [0, 0, np.sqrt(0.5), np.sqrt(0.5)]], np.float32),
        sh=np.zeros((2, 0, 3), np.float32),
    )
    data, unit = viewer.pack(s)
    cov = unpack(data, 2)["cov"] * unit  # xx, xy, xz, yy, yz, zz
    assert cov[0, 0] == pytest.approx(4.0, rel=1e-3) and cov[0, 3] == pytest.approx(0.25, rel=1e-3)
    assert cov[1, 0] == pytest.approx(0.25, rel=1e-3) and cov[1, 3] == pytest.approx(4.0, rel=1e-3)


def test_viewer_traits_frame_the_scene_and_sample_huge_scenes(monkeypatch):
    s = scene(3000)
    s.positions[:30] = 1e4  # a few strays must not move the framing
    w = viewer.SplatViewer.from_splats(s, up="-y", preview_png=b"\x89PNG")
    assert (w.count, w.total, w.up, w.preview) == (3000, 3000, "-y", b"\x89PNG")
    assert max(abs(c) for c in w.center) < 1.5 and w.radius < 20
    state = w.get_state()
    # the splats are not widget state (a saved notebook would grow with them) ...
    assert "data" not in state
    assert len(json.dumps({k: v for k, v in state.items() if k not in ("preview", "_esm")})) < 2000
    # ... a view asks for them and gets one binary buffer back, not JSON numbers
    sent = []
    w.send = lambda content, buffers=None: sent.append((content, buffers))
    w._on_message(w, {"type": "splats?"}, [])
    assert sent == [({"type": "splats", "count": 3000}, [w.data])]
    assert isinstance(w.data, bytes) and len(w.data) == 3000 * viewer.BYTES_PER_SPLAT
    w._on_message(w, {"type": "something else"}, [])
    assert len(sent) == 1
    with pytest.raises(traitlets.TraitError):
        w.up = "sideways"
    monkeypatch.setattr(viewer, "MAX_VIEWER_SPLATS", 1000)
    small = viewer.SplatViewer.from_splats(s)
    assert (small.count, small.total) == (1000, 3000)
    kept = unpack(small.data, 1000)["rgba"][:, 3]
    assert kept.min() >= np.sort(np.rint(s.opacities * 255))[-1000]  # the most opaque ones
    w.close()
    small.close()


def test_empty_scene():
    w = viewer.SplatViewer.from_splats(scene(0))
    assert (w.count, w.data) == (0, b"")
    w.close()


def test_recon_bundle_adds_the_viewer_only_with_a_kernel(tmp_path, monkeypatch):
    from vlmrun_jupyter.display.kinds import recon

    path = tmp_path / "scene.spz"
    path.write_bytes(spz.encode(scene(2000)))

    class Ref:
        id = "recon_test01"

        def fetch(self):
            return path

    assert recon.live(Ref(), {}) == {}  # no kernel here: the static picture stands alone
    monkeypatch.setattr(recon, "_kernel_shows_widgets", lambda: True)
    made = capture_viewers(monkeypatch)
    parts = recon.live(Ref(), {"image/png": "iVBORw0KGgo="})
    view = parts[recon.WIDGET_VIEW]
    assert set(parts) == {recon.WIDGET_VIEW} and view["model_id"] == made[0].model_id
    widget = made[0]
    assert widget.count == 2000 and widget.preview.startswith(b"\x89PNG")
    assert widget.title == "Ref · recon_test01"
    widget.close()


def capture_viewers(monkeypatch) -> list:
    """Every SplatViewer that `from_packed` builds, in order."""
    made: list = []
    build = viewer.SplatViewer.from_packed.__func__
    monkeypatch.setattr(
        viewer.SplatViewer,
        "from_packed",
        classmethod(lambda cls, *a, **k: made.append(build(cls, *a, **k)) or made[-1]),
    )
    return made


def test_redisplay_after_a_restart_decodes_nothing(tmp_path, monkeypatch):
    """The packed splats are stored beside the cached artifact: a new ref object for the
    same artifact (as after a kernel restart) gets its viewer without decoding, and the
    view receives the same bytes."""
    from vlmrun_jupyter import Client, ReconRef
    from vlmrun_jupyter.display.kinds import recon

    client = Client(api_key="k", base_url="http://127.0.0.1:9/v1", cache_dir=tmp_path)
    folder = client.cache.root / "sess_restart01"
    folder.mkdir(parents=True)
    (folder / "recon_rst001.spz").write_bytes(spz.encode(scene(3000), version=3))
    monkeypatch.setattr(recon, "_kernel_shows_widgets", lambda: True)
    made = capture_viewers(monkeypatch)
    first = ReconRef(id="recon_rst001").bind(session_id="sess_restart01", client=client)
    recon.live(first, {})
    stored = sorted(p.name for p in folder.rglob("*viewer*"))
    assert stored == ["recon_rst001.preview.viewer.v1.bin", "recon_rst001.preview.viewer.v1.json"]

    def no_decoding(*_a, **_k):
        raise AssertionError("decoded again")

    from vlmrun_jupyter.splat import sample

    monkeypatch.setattr(spz, "decode", no_decoding)
    monkeypatch.setattr(sample, "sample", no_decoding)
    again = ReconRef(id="recon_rst001").bind(session_id="sess_restart01", client=client)
    recon.live(again, {})
    assert made[1].count == made[0].count == 3000
    assert made[1].data == made[0].data and len(made[1].data) == 3000 * viewer.BYTES_PER_SPLAT
    sent = []
    monkeypatch.setattr(made[1], "send", lambda msg, buffers=None: sent.append((msg, buffers)))
    made[1]._on_message(made[1], {"type": "splats?"}, [])
    assert sent[0][1][0] == made[0].data
    for w in made:
        w.close()
    client.close()


def test_viewer_repr_carries_a_static_picture_for_exporters():
    from PIL import Image

    w = viewer.SplatViewer.from_splats(scene(2000), title="demo")
    bundle, _ = w._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == w.model_id
    png = base64.b64decode(bundle["image/png"])
    picture = Image.open(io.BytesIO(png))
    assert (
        picture.size == (640, 480) and np.asarray(picture).reshape(-1, 3).std(axis=0).max() > 10
    )  # not blank
    w.close()
    bare = viewer.SplatViewer.from_splats(scene(10), preview_png=b"")
    assert "image/png" not in bare._repr_mimebundle_()[0]
    bare.close()


def test_recon_ref_view_picks_the_up_axis(client, live_server):
    from vlmrun_jupyter import ReconRef

    original = scene(1500, seed=5)
    sid, oid = live_server.add_artifact("recon", spz.encode(original))
    ref = ReconRef(id=oid).bind(session_id=sid, client=client)
    assert len(ref.splats()) == 1500
    w = ref.view(up="-y", height=300)
    assert (w.up, w.height, w.count, w.title) == ("-y", 300, 1500, f"ReconRef · {oid}")
    assert w.preview.startswith(b"\x89PNG")  # its own static picture for exporters
    w.close()
    with pytest.raises(ValueError, match="up must be one of y, -y, z, -z"):
        ref.view(up="sideways")


def test_a_recon_inside_a_card_says_where_the_viewer_is(tmp_path):
    from vlmrun_jupyter import ReconRef
    from vlmrun_jupyter.display.budget import Budget
    from vlmrun_jupyter.display.kinds import recon

    path = tmp_path / "scene.spz"
    path.write_bytes(spz.encode(scene(500)))
    inside, _ = recon.render(ReconRef(id="recon_card01"), path, Budget(512 * 1024, html_only=True))
    alone, _ = recon.render(ReconRef(id="recon_card01"), path, Budget(2 * 1024 * 1024))
    assert recon.INSIDE_A_CARD in inside["text/html"]  # the card's offer, or the ref alone
    assert "“open 3D viewer” under the card" in recon.INSIDE_A_CARD
    assert "the ref displayed alone" not in alone["text/html"]


def _restart_client(tmp_path, n: int, ident: str):
    from vlmrun_jupyter import Client, ReconRef

    client = Client(api_key="k", base_url="http://127.0.0.1:9/v1", cache_dir=tmp_path)
    folder = client.cache.root / "sess_once0001"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ident}.spz"
    path.write_bytes(spz.encode(scene(n), version=3))
    return client, ReconRef(id=ident).bind(session_id="sess_once0001", client=client), path


def count_decodes(monkeypatch) -> list:
    """Every full decode and every sample taken, in order."""
    from vlmrun_jupyter.splat import sample

    calls: list = []
    decode, take = spz.decode, sample.sample
    monkeypatch.setattr(spz, "decode", lambda *a, **k: calls.append("decode") or decode(*a, **k))
    monkeypatch.setattr(sample, "sample", lambda *a, **k: calls.append("sample") or take(*a, **k))
    return calls


def test_a_cold_display_in_a_kernel_decodes_once(tmp_path, monkeypatch):
    """Picture and viewer come from one decode; without a kernel the picture alone
    takes a sample (no viewer follows)."""
    from vlmrun_jupyter.display.budget import default_budget
    from vlmrun_jupyter.display.kinds import recon

    client, ref, path = _restart_client(tmp_path, 3000, "recon_once01")
    calls = count_decodes(monkeypatch)
    made = capture_viewers(monkeypatch)
    monkeypatch.setattr(recon, "_kernel_shows_widgets", lambda: True)
    data, _ = recon.render(ref, path, default_budget())
    recon.live(ref, data)
    assert calls == ["decode"] and made[0].count == 3000
    assert "3,000 points" in data["text/plain"] and "image/png" in data
    monkeypatch.setattr(recon, "_kernel_shows_widgets", lambda: False)
    recon.render(ref, path, default_budget())
    assert calls == ["decode", "sample"]
    for w in made:
        w.close()
    client.close()


def test_past_the_decode_budget_a_sample_is_shown_not_refused(tmp_path, monkeypatch):
    """A splat file over VLMRUN_MAX_DECODE_BYTES gets its picture and a viewer of a
    strided sample within the budget, and the caption says so."""
    from vlmrun_jupyter.display.budget import default_budget
    from vlmrun_jupyter.display.kinds import recon

    client, ref, path = _restart_client(tmp_path, 20_000, "recon_big001")
    monkeypatch.setenv("VLMRUN_MAX_DECODE_BYTES", str(5000 * spz.BYTES_PER_POINT))
    made = capture_viewers(monkeypatch)
    monkeypatch.setattr(recon, "_kernel_shows_widgets", lambda: True)
    data, _ = recon.render(ref, path, default_budget())
    recon.live(ref, data)
    assert made[0].count == 5000 and made[0].total == 20_000
    assert "20,000 points" in data["text/plain"]
    assert "the viewer shows 5,000 of them" in data["text/html"]
    full = spz.decode(path.read_bytes(), sh=False)
    shown = unpack(made[0].data, 5000)["positions"]
    assert np.array_equal(shown, full.positions[::4])  # every 4th splat, exactly
    for w in made:
        w.close()
    client.close()


@pytest.mark.parametrize("version", [3, 4])
@pytest.mark.parametrize("kernel", [False, True])
def test_a_broken_file_reports_the_spz_error(tmp_path, monkeypatch, version, kernel):
    """The mapped file is released even when decoding fails half way: the card gets the
    codec's error, not one about the mapping."""
    from vlmrun_jupyter import ReconRef
    from vlmrun_jupyter.display.budget import default_budget
    from vlmrun_jupyter.display.kinds import recon

    data = spz.encode(scene(20_000), version=version)
    path = tmp_path / "cut.spz"
    path.write_bytes(data[: len(data) // 5])
    monkeypatch.setattr(recon, "_kernel_shows_widgets", lambda: kernel)
    with pytest.raises(spz.SpzError, match="truncated"):
        recon.render(ReconRef(id="recon_cut001"), path, default_budget())
