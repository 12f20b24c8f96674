"""Gallery fetch: 64 image artifacts of ~1 MB with 50 ms injected latency per request.

Ours: `client.fetch_all(refs)` (bounded thread pool, pooled connections, streamed to
the cache). Baseline: the official SDK's `client.artifacts.get(...)` in a loop, in its
own venv (see bench/_sdk.py). Same LocalServer, same run; each side runs in its own
subprocess so neither shares a GIL with the server. Target: ours >= 8x faster.

    PYTHONPATH=. python bench/fetch_gallery.py [--count 64] [--latency 0.05] [--workers 8,16]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sdk import run_ours, run_sdk  # noqa: E402

from vlmrun_jupyter import LocalServer  # noqa: E402

SDK_SCRIPT = r"""
import json, sys, time
from vlmrun.client import VLMRun
args = json.loads(sys.stdin.read())
client = VLMRun()
t0 = time.perf_counter()
for oid in args["ids"]:
    img = client.artifacts.get(object_id=oid, session_id=args["session_id"])
    assert img.size[0] > 0
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""

OURS_SCRIPT = r"""
import json, sys, time
from vlmrun_jupyter import Client, ImageRef
args = json.loads(sys.stdin.read())
client = Client()
refs = [ImageRef(id=oid).bind(session_id=args["session_id"]) for oid in args["ids"]]
t0 = time.perf_counter()
paths = client.fetch_all(refs, max_workers=args["workers"])
seconds = time.perf_counter() - t0
assert all(p.stat().st_size > 0 for p in paths)
print(json.dumps({"seconds": seconds}))
"""


def make_jpeg(seed: int) -> bytes:
    """A noisy photo-like JPEG of about 1 MB."""
    rng = np.random.default_rng(seed)
    side = 952
    base = rng.integers(0, 255, (side // 8, side // 8, 3), dtype=np.uint8)
    img = np.kron(base, np.ones((8, 8, 1), np.uint8))
    img = np.clip(img.astype(np.int16) + rng.integers(-60, 60, img.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=97)
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--workers", default="8,16", help="comma-separated pool sizes to try")
    opts = ap.parse_args()

    images = [make_jpeg(i) for i in range(opts.count)]
    mean_kb = sum(map(len, images)) / len(images) / 1024
    with LocalServer() as server, tempfile.TemporaryDirectory() as tmp:
        sid = None
        ids = []
        for data in images:
            sid, oid = server.add_artifact("img", data, session_id=sid, content_type="image/jpeg")
            ids.append(oid)
        server.inject("latency", seconds=opts.latency, times=None, path="/v1/artifacts")
        common = {"base_url": server.base_url, "api_key": server.api_key}

        sdk = run_sdk(
            SDK_SCRIPT,
            cache_dir=Path(tmp) / "sdk",
            args={"ids": ids, "session_id": sid},
            **common,
        )
        results = []
        for workers in [int(w) for w in opts.workers.split(",")]:
            server.reset_requests()
            ours = run_ours(
                OURS_SCRIPT,
                cache_dir=Path(tmp) / f"ours-{workers}",
                args={"ids": ids, "session_id": sid, "workers": workers},
                **common,
            )
            results.append((workers, ours["seconds"], server.count("/v1/artifacts")))

    print(
        f"{opts.count} images, mean {mean_kb:.0f} KB, {opts.latency * 1000:.0f} ms latency/request"
    )
    print(f"SDK artifacts.get loop      : {sdk['seconds']:.2f} s")
    for workers, seconds, requests in results:
        print(
            f"ours fetch_all, {workers:2d} workers : {seconds:.2f} s ({requests} requests), "
            f"speed-up {sdk['seconds'] / seconds:.1f}x  (target >= 8x)"
        )


if __name__ == "__main__":
    main()
