"""How much a display costs: first display (render), the same object again (in-memory
bundle), a new ref object for the same artifact (stored preview on disk), for large
artifacts of each kind. Prints seconds and bundle bytes; ratios are against the
first display measured in the same run.

    PYTHONPATH=. python bench/render_display.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import render_media as media  # noqa: E402
from test_render_budget import _big_video  # noqa: E402

from vlmrun_jupyter import ArrayRef, Client, DocumentRef, ImageRef, VideoRef  # noqa: E402
from vlmrun_jupyter.display import bundle_size, inline_budget  # noqa: E402

SID = "bench"


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        client = Client(api_key="k", base_url="http://127.0.0.1:9/v1", cache_dir=d / "cache")
        ns = client.cache.root / SID
        ns.mkdir(parents=True)
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 256, (3250, 3250, 3), dtype=np.uint8)).save(
            ns / "img_bench1.png", compress_level=1
        )
        _big_video(ns / "vid_bench1.mp4")
        media.pdf(ns / "doc_bench1.pdf", pages=300)
        arr = np.lib.format.open_memmap(ns / "arr_bench1.npy", "w+", np.float32, (5000, 10000))
        arr[:] = 1.0
        arr.flush()
        del arr
        cases = [
            (ImageRef, "img_bench1", "30 MB PNG"),
            (VideoRef, "vid_bench1", "300 MB H.264"),
            (DocumentRef, "doc_bench1", "300-page PDF"),
            (ArrayRef, "arr_bench1", "50M float32"),
        ]
        print(f"inline budget {inline_budget():,} bytes")
        print(
            f"{'artifact':<14} {'first s':>8} {'memo s':>9} {'disk s':>8} {'memo x':>8} {'disk x':>7} {'bytes':>10}"
        )
        for cls, oid, label in cases:
            ref = cls(id=oid).bind(session_id=SID, client=client)
            first, (data, md) = timed(ref._repr_mimebundle_)
            memo, _ = timed(ref._repr_html_)
            again = cls(id=oid).bind(session_id=SID, client=client)
            disk, _ = timed(again._repr_mimebundle_)
            print(
                f"{label:<14} {first:8.3f} {memo:9.6f} {disk:8.4f} "
                f"{first / max(memo, 1e-9):8.0f} {first / max(disk, 1e-9):7.0f} "
                f"{bundle_size(data, md):10,}"
            )
        client.close()


if __name__ == "__main__":
    main()
