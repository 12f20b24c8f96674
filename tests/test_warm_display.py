"""A warm display (issue 15, item 3): after a kernel restart, with the artifact and its
preview already on disk, displaying a ref of any kind must not import a codec or a
widget library, must not ask the server again, and must show exactly what the cold
display showed. The cold displays run here against the live LocalServer; the warm ones
in a fresh Python process (no kernel), as a restarted kernel would."""

from __future__ import annotations

import json
import subprocess
import sys

import render_media as media

import vlmrun_jupyter

HEAVY = ("numpy", "PIL", "av", "pypdfium2", "anywidget", "ipywidgets")
ART = "/v1/artifacts"

WARM = r"""
import json, sys
args = json.loads(sys.stdin.read())
import vlmrun_jupyter
from vlmrun_jupyter import Client

client = Client(api_key=args["key"], base_url=args["base"], cache_dir=args["cache"])
out = {}
for cls, sid, oid in args["cases"]:
    ref = getattr(vlmrun_jupyter, cls)(id=oid).bind(session_id=sid, client=client)
    out[oid] = ref._repr_mimebundle_()
heavy = [m for m in args["heavy"] if m in sys.modules]
print(json.dumps({"bundles": out, "heavy": heavy}))
"""


def _seed_every_kind(server, tmp_path) -> list[tuple[str, str, str]]:
    """One artifact of each kind in one session on the server: (class, session, id)."""
    d = tmp_path / "media"
    d.mkdir()
    files = {
        "ImageRef": media.photo(d / "photo.jpg"),
        "VideoRef": media.video(d / "clip.mp4"),
        "AudioRef": media.mp3(d / "tone.mp3"),
        "DocumentRef": media.pdf(d / "doc.pdf", pages=3),
        "ReconRef": media.spz(d / "scene.spz", points=2000),
        "ArrayRef": media.npy(d / "depth.npy", shape=(240, 320)),  # over the embed limit
    }
    cases, sid = [], None
    for cls, path in files.items():
        sid, oid = server.add_artifact(getattr(vlmrun_jupyter, cls).prefix, path, session_id=sid)
        cases.append((cls, sid, oid))
    stored = server.store.namespace(sid, "session").artifacts[cases[0][2]]
    url = f"{server.base_url}/_local/public/{server.store.publish(stored)}/photo.jpg"
    _, oid = server.add_artifact("url", url.encode(), session_id=sid, content_type="text/plain")
    cases.append(("UrlRef", sid, oid))
    return cases


def test_a_warm_display_of_every_kind_imports_no_codec_or_widget_and_matches_cold(
    live_server, client, tmp_path
):
    cases = _seed_every_kind(live_server, tmp_path)
    cold = {}
    for cls, sid, oid in cases:
        ref = getattr(vlmrun_jupyter, cls)(id=oid).bind(session_id=sid, client=client)
        data, md = ref._repr_mimebundle_()
        assert "Error" not in data["text/plain"] and "text/html" in data, (cls, data)
        cold[oid] = json.loads(json.dumps([data, md]))
    fetched = live_server.count(ART)
    assert fetched == len(cases)

    args = {
        "key": live_server.api_key,
        "base": live_server.base_url,
        "cache": str(client.cache.cache_dir),
        "cases": cases,
        "heavy": HEAVY,
    }
    proc = subprocess.run(
        [sys.executable, "-c", WARM],
        input=json.dumps(args),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    warm = json.loads(proc.stdout.strip().splitlines()[-1])
    assert warm["heavy"] == [], f"a warm display imported {warm['heavy']}"
    for cls, _sid, oid in cases:
        assert warm["bundles"][oid] == cold[oid], f"{cls}: the warm display differs"
    assert live_server.count(ART) == fetched  # nothing asked of the server again
