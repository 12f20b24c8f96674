"""What a display costs, measured the way a notebook pays it: IPython's display formatter
(`InteractiveShell.display_formatter.format(obj)`, which calls `_repr_mimebundle_` and
every `_repr_*_`), for large artifacts of each kind already in the cache.

1. In one process, per kind: the first display (decode + render), the same object again
   (in-memory bundle), a new ref object for the same artifact (stored preview on disk).
   The peer of the disk case is the least work that shows the same thing: reading the
   stored preview file and parsing its JSON (`json.load`), timed alternately with ours.
2. A warm display after a kernel restart: a fresh process (artifact and preview on disk)
   displays one ref of each kind; printed: its time, and which heavy modules it imported
   (numpy, PIL, av, pypdfium2, anywidget, ipywidgets): target none.

    PYTHONPATH=. python bench/render_display.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from IPython.core.interactiveshell import InteractiveShell
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import render_media as media  # noqa: E402
from _timing import machine  # noqa: E402
from test_render_budget import _big_video  # noqa: E402

from vlmrun_jupyter import Client  # noqa: E402
from vlmrun_jupyter.display import inline_budget  # noqa: E402

SID = "bench"
HEAVY = ("numpy", "PIL", "av", "pypdfium2", "anywidget", "ipywidgets")
CASES = [
    ("ImageRef", "img_bench1", "30 MB PNG"),
    ("VideoRef", "vid_bench1", "300 MB H.264"),
    ("DocumentRef", "doc_bench1", "300-page PDF"),
    ("ArrayRef", "arr_bench1", "50M float32"),
]

WARM = r"""
import json, sys, time
t0 = time.perf_counter()
from IPython.core.interactiveshell import InteractiveShell
import vlmrun_jupyter
from vlmrun_jupyter import Client
args = json.loads(sys.stdin.read())
fmt = InteractiveShell.instance().display_formatter
client = Client(api_key="k", base_url="http://127.0.0.1:9/v1", cache_dir=args["cache"])
before = set(sys.modules)
t_import = time.perf_counter() - t0
out = {}
for cls, oid in args["cases"]:
    ref = getattr(vlmrun_jupyter, cls)(id=oid).bind(session_id=args["sid"], client=client)
    t = time.perf_counter()
    data, md = fmt.format(ref)
    out[oid] = [time.perf_counter() - t, len(data.get("text/html", ""))]
heavy = sorted(m for m in args["heavy"] if m in sys.modules)
print(json.dumps({"times": out, "import": t_import, "heavy": heavy}))
"""


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def make_media(ns: Path) -> None:
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    opts = ap.parse_args()
    import vlmrun_jupyter

    fmt = InteractiveShell.instance().display_formatter
    tmp = Path(tempfile.mkdtemp(prefix="bench-display-"))
    try:
        client = Client(api_key="k", base_url="http://127.0.0.1:9/v1", cache_dir=tmp / "cache")
        ns = client.cache.root / SID
        ns.mkdir(parents=True)
        make_media(ns)
        print(f"machine: {machine()}")
        print(f"inline budget {inline_budget():,} bytes; every time is formatter.format(ref)")
        head = f"{'artifact':<14} {'first s':>8} {'memo ms':>8} {'disk ms':>8} {'json ms':>8}"
        print(head + f" {'disk/json':>9} {'html bytes':>10}")
        for cls_name, oid, label in CASES:
            cls = getattr(vlmrun_jupyter, cls_name)
            ref = cls(id=oid).bind(session_id=SID, client=client)
            first, (data, _md) = timed(lambda ref=ref: fmt.format(ref))
            memo = statistics.median(timed(lambda ref=ref: fmt.format(ref))[0] for _ in range(5))
            stored = sorted(ns.glob(f"{oid}.preview.*.json"))
            disk, peer = [], []
            for _ in range(opts.rounds):  # alternating: ours (new ref object), json.load
                again = cls(id=oid).bind(session_id=SID, client=client)
                disk.append(timed(lambda again=again: fmt.format(again))[0])
                if stored:
                    peer.append(timed(lambda f=stored[0]: json.loads(f.read_text("utf-8")))[0])
            d, p = statistics.median(disk), (statistics.median(peer) if peer else float("nan"))
            print(
                f"{label:<14} {first:8.3f} {memo * 1e3:8.3f} {d * 1e3:8.2f} {p * 1e3:8.2f} "
                f"{d / p:9.2f} {len(data.get('text/html', '')):10,}"
            )
        client.close()

        # Like an installed package: byte-compiled modules (this environment may set
        # PYTHONDONTWRITEBYTECODE); kept in the temp dir, warmed by a first process.
        env = dict(os.environ, PYTHONPATH=str(HERE.parent), PYTHONPYCACHEPREFIX=str(tmp / "pyc"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        args = {
            "cache": str(tmp / "cache"),
            "sid": SID,
            "cases": [[c, o] for c, o, _ in CASES],
            "heavy": HEAVY,
        }
        runs = []
        for _ in range(4):
            proc = subprocess.run(
                [sys.executable, "-c", WARM],
                input=json.dumps(args),
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        runs = runs[1:]  # the first process wrote the byte code
        print("\nwarm display in a fresh process (kernel restart), median of 3 processes:")
        imp = statistics.median(r["import"] for r in runs)
        print(f"  import vlmrun_jupyter + IPython + Client: {imp * 1e3:.0f} ms")
        for _cls, oid, label in CASES:
            t = statistics.median(r["times"][oid][0] for r in runs)
            print(f"  {label:<14} {t * 1e3:7.2f} ms")
        heavy = sorted({m for r in runs for m in r["heavy"]})
        print(f"  heavy modules imported: {', '.join(heavy) or 'none'}  (target: none)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
