"""Batch: 1,000 images through the local server with 50 ms injected latency per completion.

Ours: `map_items(client, "Make {{ item }} grayscale", folder, schema=Gray)` (the code
behind `client.map`), with its journal on (a fresh cache per round) and its default
concurrency. Baselines, in the same run: the official SDK
(`client.agent.completions.create` + `model_validate_json`) in a sequential loop, and
the SDK in a `ThreadPoolExecutor` of the same width as ours. Rounds alternate
(ours, SDK pooled, SDK loop, ours, ...); each side runs in its own subprocess, so none
shares a GIL with the server. Then a width sweep for ours (how the default was chosen)
and the peak memory of ours for 1,000 vs 10,000 items, each after a warm-up batch (so
imports and pools are not counted) in its own process: once traced (tracemalloc's peak
during map_items) and once untraced (peak RSS growth: /proc/self/status VmHWM after
writing 5 to /proc/self/clear_refs, minus VmRSS then; ru_maxrss would be inherited
across exec). The same RSS growth is measured for a raw httpx peer sending the same
completions from as many warm threads (PEER_MEMORY_SCRIPT): the floor any runner on this
HTTP stack starts from. Every round gets a fresh server (its store grows with every
artifact).

Bar (issue 18): ours >= 10x the SDK loop and no slower than the pooled SDK; memory
flat in the number of items, checked as: the peak at each larger count within 1.5x of
the peak at the first (traced and RSS growth each), with the growth per extra item
printed. What is and is not counted: MEMORY_NOTE below (printed with the figures).

    PYTHONPATH=. python bench/batch.py [--count 1000] [--latency 0.05] [--rounds 3]
        [--widths 8,16,32,64] [--memory 1000,10000] [--loop-count 1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sdk import run_ours, run_sdk  # noqa: E402

from vlmrun_jupyter import LocalServer  # noqa: E402

PROMPT = "Make the attached image grayscale"
MEMORY_BAR = 1.5  # the peak at 10x (and 30x) the items within 1.5x of the peak at 1,000
MEMORY_NOTE = """\
memory counts everything map_items allocates from its call to its return, in a process
that has already run a 64-item batch (imports, the HTTP pool): listing and sorting the
folder (the input is a folder path, so its listing is the machinery's, not the user's;
a list of paths would be the user's and is not in the figures), content keys, the
journal and its index, the schedule, the HTTP traffic, the BatchResult (made, not
iterated). traced = tracemalloc's peak (Python's allocations only: SQLite's page caches,
at most 3 x 64 KiB, are not in it); RSS growth = VmHWM minus VmRSS at the start (all
of it, glibc's retained free memory and thread arenas included); the process's peak
RSS = VmHWM (imports, the warm-up and the HTTP pool included), printed for scale: the
verdict is on the growth."""
COMPLETIONS = "/v1/openai/chat/completions"

SDK_SCRIPT = r"""
import base64, json, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from pydantic import BaseModel
from vlmrun.client import VLMRun
from vlmrun.types import ImageRef

class Gray(BaseModel):
    image: ImageRef

args = json.loads(sys.stdin.read())
client = VLMRun()
schema = {"type": "json_schema", "schema": Gray.model_json_schema()}

def one(path):
    url = "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()
    r = client.agent.completions.create(
        model="vlmrun-orion-1:auto",
        messages=[{"role": "user", "content": [
            {"type": "text", "text": args["prompt"]},
            {"type": "image_url", "image_url": {"url": url, "detail": "auto"}},
        ]}],
        response_format=schema,
    )
    return Gray.model_validate_json(r.choices[0].message.content)

paths = sorted(str(p) for p in Path(args["folder"]).iterdir())[: args["count"]]
c0 = time.process_time()
t0 = time.perf_counter()
if args["width"] <= 1:
    out = [one(p) for p in paths]
else:
    with ThreadPoolExecutor(args["width"]) as pool:
        out = list(pool.map(one, paths))
seconds = time.perf_counter() - t0
cpu = time.process_time() - c0
assert len(out) == len(paths) and all(o.image.id for o in out)
print(json.dumps({"seconds": seconds, "cpu": cpu, "n": len(out)}))
"""

# The floor for memory: raw httpx sending the same completions (the image as a data URL,
# the same schema) from the same number of warm threads, fed through a bounded queue
# from an unsorted folder scan, answers parsed and dropped: less work than any batch
# runner, so RSS growth it shows too belongs to the HTTP stack, not to the runner.
PEER_MEMORY_SCRIPT = r"""
import base64, json, os, queue, threading, sys
import httpx
from peak_rss import growth, mark
args = json.loads(sys.stdin.read())
base = os.environ["VLMRUN_BASE_URL"].rstrip("/")
url = base[: -len("/v1")] + args["path"] if base.endswith("/v1") else base + args["path"]
client = httpx.Client(
    headers={"Authorization": "Bearer " + os.environ["VLMRUN_API_KEY"]},
    limits=httpx.Limits(max_connections=args["width"], max_keepalive_connections=args["width"]),
    timeout=60,
)
schema = {"type": "json_schema", "schema": args["schema"]}
todo = queue.Queue(maxsize=2 * args["width"])
def worker():
    while (path := todo.get()) is not None:
        data = "data:image/png;base64," + base64.b64encode(open(path, "rb").read()).decode()
        r = client.post(url, json={"model": "vlmrun-orion-1:auto", "response_format": schema,
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": args["prompt"]},
                {"type": "image_url", "image_url": {"url": data, "detail": "auto"}}]}]})
        r.raise_for_status()
        assert json.loads(r.json()["choices"][0]["message"]["content"])["image"]["id"]
        todo.task_done()
    todo.task_done()
def feed(folder):
    with os.scandir(folder) as entries:
        for e in entries:
            todo.put(e.path)
    todo.join()
threads = [threading.Thread(target=worker) for _ in range(args["width"])]
for t in threads:
    t.start()
feed(args["warm"])
import gc; gc.collect()
start = mark()
feed(args["folder"])
out = {"rss_growth": growth(start)}
for t in threads:
    todo.put(None)
print(json.dumps(out))
"""


OURS_SCRIPT = r"""
import json, sys, time
from peak_rss import growth, mark, status
from pydantic import BaseModel
from vlmrun_jupyter import Client
from vlmrun_jupyter.batch import map_items
from vlmrun_jupyter.refs import ImageRef

class Gray(BaseModel):
    image: ImageRef

args = json.loads(sys.stdin.read())
client = Client()
run = lambda folder, **kw: map_items(client, args["prompt"], folder, schema=Gray,
    model="vlmrun-orion-1:auto", max_concurrency=args["width"], progress=False, **kw)
out = {}
if args.get("memory"):
    # warm up first (imports, pools, the first requests), so what is measured is the
    # run's own working memory; then reset the high-water mark (ru_maxrss would be
    # inherited across exec) and trace either allocations or RSS, not both at once
    run(args["warm"], journal=False)
    import gc; gc.collect()
    if args["memory"] == "traced":
        import tracemalloc
        tracemalloc.start()
    else:
        base = mark()
c0 = time.process_time()
t0 = time.perf_counter()
batch = run(args["folder"])
out["seconds"] = time.perf_counter() - t0
out["cpu"] = time.process_time() - c0
if args.get("memory") == "traced":
    out["traced_peak"] = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
elif args.get("memory"):
    out["rss_growth"] = growth(base)
    out["rss_start"] = base
    # diagnostic only (the library never does this): how much of the high-water mark is
    # still in use once cyclic garbage is collected and glibc returns its free pages
    gc.collect()
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    out["rss_kept"] = status("VmRSS") - base
counts = batch.counts
assert counts["done"] == len(batch), counts
out["n"] = len(batch)
print(json.dumps(out))
"""


def _gray_schema() -> dict:
    """The JSON schema ours sends for `Gray` (an ImageRef field), for the raw peer."""
    from pydantic import BaseModel

    from vlmrun_jupyter.refs import ImageRef

    class Gray(BaseModel):
        image: ImageRef

    return Gray.model_json_schema()


def make_folder(folder: Path, n: int, seed: int = 0) -> Path:
    """n distinct small PNGs (every item its own content key)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (16, 16), (i % 256, i // 256 % 256, i // 65536 + seed)).save(
            folder / f"img{i:05d}.png"
        )
    return folder


def stats(xs: list[float]) -> str:
    return f"min {min(xs):6.2f}  median {statistics.median(xs):6.2f}  max {max(xs):6.2f} s"


def _serve(latency: float) -> LocalServer:
    """A fresh server per round (its store grows with every artifact), warmed up: the
    first requests pay its imports."""
    server = LocalServer().start()
    server.inject("latency", seconds=latency, times=None, path=COMPLETIONS)
    return server


def _side(name: str, server: LocalServer, root: Path, args: dict) -> dict:
    run = run_ours if name == "ours" else run_sdk
    script = OURS_SCRIPT if name == "ours" else SDK_SCRIPT
    common = {"base_url": server.base_url, "api_key": server.api_key}
    return run(script, cache_dir=root / f"cache-{name}-{id(args)}", args=args, **common)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--width", type=int, default=0, help="ours and the pooled SDK (0: default)")
    ap.add_argument("--widths", default="8,16,32,64", help="width sweep for ours ('' to skip)")
    ap.add_argument(
        "--memory", default="1000,10000", help="item counts for peak memory ('' to skip)"
    )
    ap.add_argument("--loop-count", type=int, default=0, help="items for the SDK loop (0: --count)")
    opts = ap.parse_args()

    from vlmrun_jupyter.batch import DEFAULT_CONCURRENCY

    width = opts.width or DEFAULT_CONCURRENCY
    loop_n = opts.loop_count or opts.count
    sides = [("ours", width, opts.count), ("pooled", width, opts.count), ("loop", 1, loop_n)]
    times: dict[str, list[float]] = {"ours": [], "pooled": [], "loop": []}
    cpu: dict[str, list[float]] = {"ours": [], "pooled": [], "loop": []}
    sweep: list[tuple[int, float]] = []
    memory: list[tuple[int, float, float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = make_folder(root / "items", opts.count)
        args = {"folder": str(folder), "prompt": PROMPT, "count": opts.count}
        for r in range(opts.rounds):
            order = sides[r % 3 :] + sides[: r % 3]  # each side takes each slot in turn
            server = _serve(opts.latency)
            try:
                _side("pooled", server, root, {**args, "width": 4, "count": 40})  # warm-up
                for name, w, n in order:
                    res = _side(name, server, root, {**args, "width": w, "count": n})
                    # the loop may run on fewer items: scaled to --count so ratios compare
                    times[name].append(res["seconds"] * opts.count / res["n"])
                    cpu[name].append(res["cpu"] * opts.count / res["n"])
                    print(f"round {r + 1} {name:6s} {res['seconds']:7.2f} s ({res['n']} items)",
                          file=sys.stderr)  # fmt: skip
            finally:
                server.stop()

        for w in [int(x) for x in opts.widths.split(",") if x]:
            server = _serve(opts.latency)
            try:
                _side("pooled", server, root, {**args, "width": 4, "count": 40})
                sweep.append((w, _side("ours", server, root, {**args, "width": w})["seconds"]))
            finally:
                server.stop()

        warm = make_folder(root / "warm", 64, seed=200)
        for n in [int(x) for x in opts.memory.split(",") if x]:
            mfolder = folder if n == opts.count else make_folder(root / f"items-{n}", n)
            res = {}
            for how in ("traced", "rss"):
                server = _serve(opts.latency)
                try:
                    margs = {**args, "folder": str(mfolder), "width": width, "warm": str(warm)}
                    res.update(_side("ours", server, root, {**margs, "memory": how}))
                finally:
                    server.stop()
            server = _serve(opts.latency)
            try:
                peer = run_ours(
                    PEER_MEMORY_SCRIPT,
                    cache_dir=root / f"cache-peer-{n}",
                    args={**margs, "path": COMPLETIONS, "schema": _gray_schema()},
                    base_url=server.base_url,
                    api_key=server.api_key,
                )
            finally:
                server.stop()
            res["peer_rss"] = peer["rss_growth"]
            res["rss_peak"] = res["rss_start"] + res["rss_growth"]
            keys = ("traced_peak", "rss_growth", "rss_kept", "peer_rss", "rss_peak")
            mib = [res[k] / 2**20 for k in keys]
            memory.append((n, *mib))
            print(f"memory {n}: {memory[-1]}", file=sys.stderr)

    if opts.rounds:
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"{opts.count} images (16x16 PNG), grayscale with an ImageRef schema, "
              f"{opts.latency * 1000:.0f} ms latency/completion, {opts.rounds} alternating rounds")  # fmt: skip
        suffix = f" (timed on {loop_n} items, scaled)" if loop_n != opts.count else ""
        print(f"ours map_items, width {width:2d}   : {stats(times['ours'])}")
        print(f"SDK ThreadPool, width {width:2d}   : {stats(times['pooled'])}")
        print(f"SDK sequential loop       : {stats(times['loop'])}{suffix}")
        for name in ("ours", "pooled", "loop"):
            print(f"client CPU (user+sys) {name:6s}: {stats(cpu[name])}")
        print(f"ours vs SDK loop   : {med['loop'] / med['ours']:5.1f}x faster  (bar >= 10x)")
        print(f"ours vs SDK pooled : {med['pooled'] / med['ours']:5.2f}x  (bar >= 1.0)")
    for w, s in sweep:
        print(f"width sweep: ours width {w:2d}: {s:6.2f} s ({opts.count / s:5.0f} items/s)")
    for n, traced, rss, kept, peer, whole in memory:
        print(f"memory: {n:6d} items: peak traced {traced:6.2f} MiB during map_items, "
              f"peak RSS growth {rss:6.2f} MiB (after gc + malloc_trim: {kept:5.2f} MiB; "
              f"the process's peak RSS {whole:6.1f} MiB); "
              f"raw httpx peer: peak RSS growth {peer:6.2f} MiB, ours / peer {rss / peer:4.2f}x")  # fmt: skip
    if memory:
        print(MEMORY_NOTE)
    n0, t0, r0, _, p0, w0 = memory[0] if memory else (0, 0.0, 0.0, 0.0, 0.0, 0.0)
    for n, t, r, _, p, w in memory[1:]:
        per = [(b - a) * 2**20 / (n - n0) for a, b in ((t0, t), (r0, r), (p0, p))]
        verdict = ["met" if b <= MEMORY_BAR * a else "NOT met" for a, b in ((t0, t), (r0, r))]
        print(f"memory {n} vs {n0} items: traced {t / t0:4.2f}x ({per[0]:+5.0f} B per extra "
              f"item, {verdict[0]}), RSS growth {r / r0:4.2f}x ({per[1]:+5.0f} B per extra item, "
              f"{verdict[1]}); target <= {MEMORY_BAR}x; raw httpx peer RSS growth {p / p0:4.2f}x "
              f"({per[2]:+5.0f} B per extra item); the process's peak RSS {w / w0:5.3f}x")  # fmt: skip


if __name__ == "__main__":
    main()
