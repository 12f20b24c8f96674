"""Gallery fetch: N image artifacts of ~1 MB, W-way concurrency, injected latency per request.

Every side downloads the same artifacts from the same LocalServer with the same width W,
in its own subprocess (none shares a GIL with the server), from a cold start (fresh
process, fresh connections, empty cache) in every round; rounds alternate the sides.

Bytes to disk (the wire speed):
- ours: `client.fetch_all(refs, max_workers=W)` (cache: locks, temp + rename, checks);
- httpx: raw `httpx.Client` streaming each body to a file from a `ThreadPoolExecutor(W)`;
- curl: `curl --parallel --parallel-max W` (one process; its start-up is counted).
Decoded images (what the official SDK's `artifacts.get` returns for `img_`):
- ours+decode: `Image.open(client.fetch(ref)).convert("RGB")` in a `ThreadPoolExecutor(W)`;
- sdk+decode: SDK 0.9.2 `client.artifacts.get(...)` in a `ThreadPoolExecutor(W)`.

Targets (issue 15): ours <= 1.15x raw httpx; ours+decode faster than sdk+decode.

    PYTHONPATH=. python bench/fetch_gallery.py [--count 64] [--latency 0.05] [--workers 16]
        [--rounds 5]
"""

from __future__ import annotations

import argparse
import io
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sdk import run_ours, run_sdk  # noqa: E402
from _timing import alternate, machine, ratio, summary  # noqa: E402

from vlmrun_jupyter import LocalServer  # noqa: E402

SDK_SCRIPT = r"""
import json, resource, sys, time
from concurrent.futures import ThreadPoolExecutor
from vlmrun.client import VLMRun
def cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime
args = json.loads(sys.stdin.read())
client = VLMRun()
def get(oid):
    return client.artifacts.get(object_id=oid, session_id=args["session_id"])
c0 = cpu()
t0 = time.perf_counter()
with ThreadPoolExecutor(args["workers"]) as pool:
    images = list(pool.map(get, args["ids"]))
seconds = time.perf_counter() - t0
assert all(im.size[0] > 0 for im in images)
print(json.dumps({"seconds": seconds, "cpu": cpu() - c0}))
"""

OURS_SCRIPT = r"""
import json, resource, sys, time
from concurrent.futures import ThreadPoolExecutor
from vlmrun_jupyter import Client, ImageRef
def cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime
args = json.loads(sys.stdin.read())
client = Client()
refs = [ImageRef(id=oid).bind(session_id=args["session_id"]) for oid in args["ids"]]
if args["decode"]:
    from PIL import Image
    def get(ref):
        return Image.open(client.fetch(ref)).convert("RGB")
    c0 = cpu()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args["workers"]) as pool:
        out = list(pool.map(get, refs))
    seconds = time.perf_counter() - t0
    assert all(im.size[0] > 0 for im in out)
else:
    c0 = cpu()
    t0 = time.perf_counter()
    out = client.fetch_all(refs, max_workers=args["workers"])
    seconds = time.perf_counter() - t0
    assert all(p.stat().st_size > 0 for p in out)
print(json.dumps({"seconds": seconds, "cpu": cpu() - c0}))
"""

HTTPX_SCRIPT = r"""
import json, os, resource, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import httpx
def cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime
args = json.loads(sys.stdin.read())
out = Path(os.environ["VLMRUN_CACHE_DIR"]) / "raw"
out.mkdir(parents=True)
w = args["workers"]
client = httpx.Client(
    base_url=os.environ["VLMRUN_BASE_URL"].rstrip("/") + "/",
    headers={"Authorization": "Bearer " + os.environ["VLMRUN_API_KEY"]},
    limits=httpx.Limits(max_connections=w, max_keepalive_connections=w),
)
def get(oid):
    params = {"object_id": oid, "session_id": args["session_id"]}
    with client.stream("GET", "artifacts", params=params) as r:
        r.raise_for_status()
        with open(out / (oid + ".jpg"), "wb") as f:
            for chunk in r.iter_raw(1 << 20):
                f.write(chunk)
    return out / (oid + ".jpg")
c0 = cpu()
t0 = time.perf_counter()
with ThreadPoolExecutor(w) as pool:
    paths = list(pool.map(get, args["ids"]))
seconds = time.perf_counter() - t0
assert all(p.stat().st_size > 0 for p in paths)
print(json.dumps({"seconds": seconds, "cpu": cpu() - c0}))
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


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def curl_side(server: LocalServer, sid: str, ids: list[str], workers: int, tmp: Path, cpu: dict):
    """curl's own parallel mode, one process, the same requests and files."""
    curl = shutil.which("curl")
    if curl is None:
        return None
    counter = iter(range(10**9))

    def run() -> float:
        out = tmp / f"curl-{next(counter)}"
        out.mkdir()
        cfg = out / "urls.cfg"
        base = server.base_url.rstrip("/")
        lines = [f'header = "Authorization: Bearer {server.api_key}"']
        for oid in ids:
            lines.append(f'url = "{base}/artifacts?object_id={oid}&session_id={sid}"')
            lines.append(f'output = "{out / (oid + ".jpg")}"')
        cfg.write_text("\n".join(lines) + "\n")
        c0 = _children_cpu()
        t0 = time.perf_counter()
        subprocess.run(
            [
                curl,
                "-sS",
                "--no-progress-meter",
                "--fail",
                "--parallel",
                "--parallel-max",
                str(workers),
                "-K",
                str(cfg),
            ],
            check=True,
        )
        seconds = time.perf_counter() - t0
        cpu.setdefault("curl", []).append(_children_cpu() - c0)
        assert all((out / f"{oid}.jpg").stat().st_size > 0 for oid in ids)
        shutil.rmtree(out)
        return seconds

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-sdk", action="store_true", help="skip the SDK and decode sides")
    opts = ap.parse_args()

    images = [make_jpeg(i) for i in range(opts.count)]
    mean_kb = sum(map(len, images)) / len(images) / 1024
    with LocalServer() as server, tempfile.TemporaryDirectory(prefix="bench-gallery-") as t:
        tmp = Path(t)
        sid = None
        ids = []
        for data in images:
            sid, oid = server.add_artifact("img", data, session_id=sid, content_type="image/jpeg")
            ids.append(oid)
        if opts.latency:
            server.inject("latency", seconds=opts.latency, times=None, path="/v1/artifacts")
        common = {"base_url": server.base_url, "api_key": server.api_key}
        args = {"ids": ids, "session_id": sid, "workers": opts.workers}
        counter = iter(range(10**9))
        cpu: dict[str, list[float]] = {}

        def side(name, runner, script, **extra):
            def run() -> float:
                cache = tmp / f"run-{next(counter)}"
                try:
                    res = runner(script, cache_dir=cache, args={**args, **extra}, **common)
                finally:
                    shutil.rmtree(cache, ignore_errors=True)
                cpu.setdefault(name, []).append(res["cpu"])
                return res["seconds"]

            return run

        sides = {
            "ours": side("ours", run_ours, OURS_SCRIPT, decode=False),
            "httpx": side("httpx", run_ours, HTTPX_SCRIPT),
        }
        curl = curl_side(server, sid, ids, opts.workers, tmp, cpu)
        if curl is not None:
            sides["curl"] = curl
        if not opts.no_sdk:
            sides["ours+decode"] = side("ours+decode", run_ours, OURS_SCRIPT, decode=True)
            sides["sdk+decode"] = side("sdk+decode", run_sdk, SDK_SCRIPT)
        times = alternate(sides, opts.rounds)

    print(f"machine: {machine()}")
    print(
        f"{opts.count} JPEGs, mean {mean_kb:.0f} KB, {opts.latency * 1000:.0f} ms latency/request, "
        f"{opts.workers}-way on every side, {opts.rounds} alternating rounds"
    )
    print("wall time:")
    print(summary(times))
    print("CPU time of the fetching process (user + sys, all threads; less sensitive to load):")
    print(summary(cpu))
    print(f"CPU ours / httpx      : {ratio(cpu, 'ours', 'httpx'):.2f}x")
    r = ratio(times, "ours", "httpx")
    print(
        f"ours / httpx          : {r:.2f}x time  (target <= 1.15)  {'met' if r <= 1.15 else 'NOT met'}"
    )
    if "curl" in times:
        print(f"ours / curl           : {ratio(times, 'ours', 'curl'):.2f}x time")
    if "sdk+decode" in times:
        r = ratio(times, "sdk+decode", "ours+decode")
        print(f"sdk+decode / ours+decode: {r:.2f}x  (> 1: ours is faster)")


if __name__ == "__main__":
    main()
