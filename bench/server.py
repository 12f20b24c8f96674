"""Local server overhead: chat completions per second through our server versus the bare
Starlette app with the same routes (and the same work per request).

Ours: `LocalServer`'s ASGI stack as it serves (fault middleware, request recorder, its
HTTP protocol class). Peer: `LocalServer.app`, the Starlette app with the same routes
and store, without the middleware, on stock uvicorn (h11). Each server runs in its own
subprocess; the load comes from a third process (httpx, C concurrent clients, each
sending the same small completion: "Give me a link to the image" with a 32x32 PNG data URL: little work, so the
server's own overhead shows). Rounds alternate the two servers. Printed:
requests/s, latency p50/p99/max, and the ratio of throughputs.

Target (issue 15): ours >= 0.8x the bare app's throughput.

    PYTHONPATH=. python bench/server.py [--requests 2000] [--concurrency 16] [--rounds 5]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _timing import machine  # noqa: E402

SERVE = r"""
import sys, uvicorn
from vlmrun_jupyter.local.server import LocalServer
which, port = sys.argv[1], int(sys.argv[2])
server = LocalServer(api_key="bench-key")
if which == "ours":
    config = server.uvicorn_config(port)
else:
    config = uvicorn.Config(server.app, host="127.0.0.1", port=port, log_level="warning",
                            access_log=False, lifespan="off")
uvicorn.Server(config).run()
"""

LOAD = r"""
import json, sys, threading, time
import httpx
args = json.loads(sys.stdin.read())
content = [{"type": "text", "text": args["prompt"]},
           {"type": "image_url", "image_url": {"url": args["image"]}}]
body = {"model": "vlmrun-orion-1:auto", "messages": [{"role": "user", "content": content}]}
lat = []
lock = threading.Lock()
todo = iter(range(args["requests"]))
def worker():
    with httpx.Client(base_url=args["url"], headers={"Authorization": "Bearer bench-key"},
                      timeout=30) as c:
        c.post("/v1/openai/chat/completions", json=body).raise_for_status()  # warm
        while True:
            with lock:
                if next(todo, None) is None:
                    return
            t = time.perf_counter()
            r = c.post("/v1/openai/chat/completions", json=body)
            r.raise_for_status()
            with lock:
                lat.append(time.perf_counter() - t)
threads = [threading.Thread(target=worker) for _ in range(args["concurrency"])]
t0 = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
wall = time.perf_counter() - t0
lat.sort()
print(json.dumps({"rps": len(lat) / wall, "p50": lat[len(lat) // 2],
                  "p99": lat[int(len(lat) * 0.99)], "max": lat[-1]}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(which: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, which, str(port)], env=env, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{which} server did not start")


def small_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), "teal").save(buf, "PNG")
    return buf.getvalue()


def load(url: str, opts) -> dict:
    args = {"url": url, "requests": opts.requests, "concurrency": opts.concurrency}
    args["prompt"] = opts.prompt
    args["image"] = "data:image/png;base64," + base64.b64encode(small_png()).decode()
    proc = subprocess.run(
        [sys.executable, "-c", LOAD], input=json.dumps(args), capture_output=True, text=True
    )
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--prompt", default="Give me a link to the image")
    opts = ap.parse_args()
    servers = {name: serve(name) for name in ("ours", "bare")}
    results: dict[str, list[dict]] = {"ours": [], "bare": []}
    try:
        for r in range(opts.rounds):
            for name in ("ours", "bare") if r % 2 == 0 else ("bare", "ours"):
                results[name].append(load(servers[name][1], opts))
    finally:
        for proc, _ in servers.values():
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"machine: {machine()}")
    print(
        f"POST /v1/openai/chat/completions {opts.prompt!r}: {opts.requests} requests x "
        f"{opts.rounds} alternating rounds, {opts.concurrency} concurrent clients"
    )
    print(f"{'server':<6} {'req/s min/med/max':>24} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    for name, rs in results.items():
        rps = [x["rps"] for x in rs]
        p50, p99 = (statistics.median(x[k] for x in rs) * 1e3 for k in ("p50", "p99"))
        worst = max(x["max"] for x in rs) * 1e3
        print(
            f"{name:<6} {min(rps):7.0f} {statistics.median(rps):7.0f} {max(rps):7.0f}   "
            f"{p50:7.1f} {p99:7.1f} {worst:7.1f}"
        )
    ratio = statistics.median(x["rps"] for x in results["ours"]) / statistics.median(
        x["rps"] for x in results["bare"]
    )
    print(
        f"ours / bare throughput: {ratio:.2f}x  (target >= 0.8)",
        "met" if ratio >= 0.8 else "NOT met",
    )


if __name__ == "__main__":
    main()
