"""Memory of a large fetch: a 1 GiB video artifact fetched through `ref.fetch()`.

Each side runs in a fresh subprocess; growth = the kernel's peak-RSS mark (VmHWM, reset
just before the fetch through /proc/self/clear_refs) minus RSS at that moment (imports and
client already loaded). `ru_maxrss` would not do: on Linux a child inherits its
parent's peak across exec, which can hide the growth. Ours streams the
body straight to the cache file; the official SDK's `artifacts.get` (in its own venv,
see bench/_sdk.py) holds the whole body in memory. Target: ours < 64 MiB growth (the
script says whether it was met and exits 1 when not).

    PYTHONPATH=. python bench/fetch_memory.py [--mib 1024]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sdk import run_ours, run_sdk  # noqa: E402

from vlmrun_jupyter import LocalServer  # noqa: E402

TARGET_MIB = 64

MEASURE = r"""
import json, sys, time
from peak_rss import growth, mark
args = json.loads(sys.stdin.read())
%s
before = mark()  # the high-water mark starts again from the current RSS
t0 = time.perf_counter()
size = fetch()
print(json.dumps({"growth_mib": growth(before) / 2**20, "seconds": time.perf_counter() - t0,
                  "bytes": size}))
"""

OURS = MEASURE % (
    """
import os
from vlmrun_jupyter import Client, VideoRef
client = Client(cache_dir=os.environ["VLMRUN_CACHE_DIR"])
ref = VideoRef(id=args["id"]).bind(session_id=args["session_id"], client=client)
def fetch():
    return ref.fetch().stat().st_size
"""
)

SDK = MEASURE % (
    """
from vlmrun.client import VLMRun
client = VLMRun()
def fetch():
    return client.artifacts.get(object_id=args["id"], session_id=args["session_id"]).stat().st_size
"""
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=1024)
    opts = ap.parse_args()
    size = opts.mib * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp, LocalServer() as server:
        video = Path(tmp) / "big.mp4"
        with open(video, "wb") as f:  # a valid mp4 header, then zeros (sparse on disk)
            f.write(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")
            f.truncate(size)
        sid, oid = server.add_artifact("vid", video, content_type="video/mp4")
        args = {"id": oid, "session_id": sid}
        ours = run_ours(
            OURS,
            base_url=server.base_url,
            api_key=server.api_key,
            cache_dir=Path(tmp) / "ours",
            args=args,
        )
        sdk = run_sdk(
            SDK,
            base_url=server.base_url,
            api_key=server.api_key,
            cache_dir=Path(tmp) / "sdk",
            args=args,
        )
    assert ours["bytes"] == size and sdk["bytes"] == size
    print(f"artifact: {opts.mib} MiB video")
    print(
        f"ours ref.fetch()      : peak RSS growth {ours['growth_mib']:.1f} MiB, {ours['seconds']:.1f} s"
    )
    print(
        f"SDK artifacts.get     : peak RSS growth {sdk['growth_mib']:.1f} MiB, {sdk['seconds']:.1f} s"
    )
    print(f"ratio: {sdk['growth_mib'] / max(ours['growth_mib'], 0.1):.0f}x less memory")
    met = ours["growth_mib"] < TARGET_MIB
    print(f"target (ours < {TARGET_MIB} MiB growth): {'met' if met else 'NOT met'}")
    if not met:
        sys.exit(1)


if __name__ == "__main__":
    main()
