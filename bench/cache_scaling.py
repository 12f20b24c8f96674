"""Scaling with the cache's size: nothing should grow faster than the work.

For N = 10, 100, 1,000, 10,000 small image artifacts (no injected latency, so per-fetch
overhead is all there is), in alternating rounds, each side in its own subprocess with a
fresh cache:
- ours: `client.fetch_all(refs, max_workers=W)`, then, with those N files cached,
  (a) a 100-ref gallery card (`result_bundle`: fetches 100 new refs and renders them),
  (b) eviction of 10% of the cache (`evict` with a cap 10% under the size: one listing);
- httpx: raw `httpx.Client` streaming each body to a file from a `ThreadPoolExecutor(W)`.
Printed per N: medians, ours/httpx, microseconds per item (flat = linear, not quadratic),
and the card and eviction times.

    PYTHONPATH=. python bench/cache_scaling.py [--sizes 10,100,1000,10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sdk import run_ours  # noqa: E402
from _timing import alternate, machine  # noqa: E402
from fetch_gallery import HTTPX_SCRIPT  # noqa: E402

from vlmrun_jupyter import LocalServer  # noqa: E402

CARD = 100

OURS_SCRIPT = r"""
import json, sys, time
from vlmrun_jupyter import Client, ImageRef
from vlmrun_jupyter.display import result_bundle
args = json.loads(sys.stdin.read())
client = Client()
refs = [ImageRef(id=oid).bind(session_id=args["session_id"]) for oid in args["ids"]]
t0 = time.perf_counter()
paths = client.fetch_all(refs, max_workers=args["workers"])
seconds = time.perf_counter() - t0
assert all(p.stat().st_size > 0 for p in paths)
card = [ImageRef(id=oid).bind(session_id=args["session_id"], client=client)
        for oid in args["card"]]
t0 = time.perf_counter()
data = result_bundle(card)
card_s = time.perf_counter() - t0
assert data["text/html"].count("<img") >= len(card)
size = client.cache.size()
client.cache.max_bytes = int(size * 0.9)
t0 = time.perf_counter()
removed = client.cache.evict()
evict_s = time.perf_counter() - t0
assert removed and client.cache.size() <= client.cache.max_bytes
print(json.dumps({"seconds": seconds, "card": card_s, "evict": evict_s}))
"""


def tiny_jpeg(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256)).save(
        buf, "JPEG", quality=90
    )
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,100,1000,10000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=16)
    opts = ap.parse_args()
    sizes = [int(s) for s in opts.sizes.split(",")]

    rows = []
    with LocalServer() as server, tempfile.TemporaryDirectory(prefix="bench-scaling-") as t:
        tmp = Path(t)
        sid, ids = None, []
        for i in range(max(sizes) + CARD):
            sid, oid = server.add_artifact(
                "img", tiny_jpeg(i), session_id=sid, content_type="image/jpeg"
            )
            ids.append(oid)
        card_ids, ids = ids[:CARD], ids[CARD:]
        common = {"base_url": server.base_url, "api_key": server.api_key}
        counter = iter(range(10**9))
        for n in sizes:
            extra: dict[str, list[float]] = {"card": [], "evict": []}

            def side(script, n=n, extra=extra, keep=False):
                def run() -> float:
                    cache = tmp / f"run-{next(counter)}"
                    args = {"ids": ids[:n], "card": card_ids, "session_id": sid}
                    try:
                        res = run_ours(
                            script, cache_dir=cache, args={**args, "workers": opts.workers},
                            **common,
                        )  # fmt: skip
                    finally:
                        shutil.rmtree(cache, ignore_errors=True)
                    if keep:
                        extra["card"].append(res["card"])
                        extra["evict"].append(res["evict"])
                    return res["seconds"]

                return run

            times = alternate(
                {"ours": side(OURS_SCRIPT, keep=True), "httpx": side(HTTPX_SCRIPT)}, opts.rounds
            )
            ours, raw = (statistics.median(times[k]) for k in ("ours", "httpx"))
            rows.append(
                (
                    n,
                    ours,
                    raw,
                    min(times["ours"]),
                    max(times["ours"]),
                    statistics.median(extra["card"]),
                    statistics.median(extra["evict"]),
                )
            )
            print(f"N={n} done", file=sys.stderr)

    print(f"machine: {machine()}")
    print(
        f"{opts.workers}-way, tiny JPEGs, no injected latency, {opts.rounds} alternating rounds; "
        f"card = {CARD}-ref gallery with N files cached; evict = 10% of N files"
    )
    print(
        f"{'N':>6} {'ours s':>8} {'(min':>7} {'max)':>7} {'httpx s':>8} {'ours/httpx':>10} "
        f"{'ours us/item':>12} {'httpx us/item':>13} {'card s':>7} {'evict ms':>9}"
    )
    for n, ours, raw, lo, hi, card, evict in rows:
        print(
            f"{n:>6} {ours:8.3f} {lo:7.3f} {hi:7.3f} {raw:8.3f} {ours / raw:10.2f} "
            f"{ours / n * 1e6:12.0f} {raw / n * 1e6:13.0f} {card:7.3f} {evict * 1e3:9.1f}"
        )


if __name__ == "__main__":
    main()
