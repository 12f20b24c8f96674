"""What a display costs, measured the way a notebook pays it: IPython's display formatter
(`InteractiveShell.display_formatter.format(obj)`, which calls `_repr_mimebundle_` and
every `_repr_*_`), for large artifacts of each kind already in the cache.

1. In one process, per kind: the first display (decode + render), the same object again
   (in-memory bundle), a new ref object for the same artifact (stored preview on disk).
   The peer of the disk case is the least work that shows the same thing: reading the
   stored preview file's bytes (no parsing at all), timed alternately with ours.
2. A warm display after a kernel restart, for each of the seven kinds: a fresh process
   (artifact and preview on disk) displays one ref, so each pays what a restarted kernel
   pays (the display layer's import, the kind's renderer facts, the stored preview, the
   cache's check of the artifact). Printed per kind over `--procs` processes: min /
   median / max wall time, the median CPU time (less sensitive to a shared machine's
   load), the stored preview's size, the peer (a fresh process that only reads the
   stored preview's bytes: the least work that shows the same thing) and the ratio; and
   which heavy modules were imported (numpy, PIL, av, pypdfium2, anywidget, ipywidgets):
   target none.

    PYTHONPATH=. python bench/render_display.py [--rounds 5] [--procs 5]
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
    ("AudioRef", "aud_bench1", "5 min MP3"),
    ("DocumentRef", "doc_bench1", "300-page PDF"),
    ("ReconRef", "recon_bench1", "200k splats"),
    ("ArrayRef", "arr_bench1", "50M float32"),
    ("UrlRef", "url_bench1", "url_ -> 30 MB PNG"),
]
URL = "https://example.com/media/bench.png"

# One kind per process: each pays what a restarted kernel pays for its first display.
WARM = r"""
import json, sys, time
t0 = time.perf_counter()
from IPython.core.interactiveshell import InteractiveShell
import vlmrun_jupyter
from vlmrun_jupyter import Client
args = json.loads(sys.stdin.read())
fmt = InteractiveShell.instance().display_formatter
client = Client(api_key="k", base_url="http://127.0.0.1:9/v1", cache_dir=args["cache"])
t_import = time.perf_counter() - t0
ref = getattr(vlmrun_jupyter, args["cls"])(id=args["oid"]).bind(session_id=args["sid"], client=client)
t, c = time.perf_counter(), time.process_time()
data, md = fmt.format(ref)
took, cpu = time.perf_counter() - t, time.process_time() - c
heavy = sorted(m for m in args["heavy"] if m in sys.modules)
print(json.dumps({"time": took, "cpu": cpu, "import": t_import, "heavy": heavy, "html": len(data.get("text/html", ""))}))
"""

PEER = r"""
import json, sys, time
from pathlib import Path
t = time.perf_counter()
saved = Path(sys.argv[1]).read_bytes()
took = time.perf_counter() - t
print(json.dumps({"time": took}))
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
    media.mp3(ns / "aud_bench1.mp3", seconds=300)
    media.pdf(ns / "doc_bench1.pdf", pages=300)
    media.spz(ns / "recon_bench1.spz", points=200_000)
    arr = np.lib.format.open_memmap(ns / "arr_bench1.npy", "w+", np.float32, (5000, 10000))
    arr[:] = 1.0
    arr.flush()
    del arr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--procs", type=int, default=5, help="fresh processes per kind (warm)")
    opts = ap.parse_args()
    import vlmrun_jupyter

    fmt = InteractiveShell.instance().display_formatter
    tmp = Path(tempfile.mkdtemp(prefix="bench-display-"))
    try:
        client = Client(api_key="k", base_url="http://127.0.0.1:9/v1", cache_dir=tmp / "cache")
        ns = client.cache.root / SID
        ns.mkdir(parents=True)
        make_media(ns)
        url_ref = vlmrun_jupyter.UrlRef(id="url_bench1").bind(session_id=SID, client=client)
        shutil.copyfile(
            ns / "img_bench1.png", client.cache.url_dest(url_ref, url_ref.namespace, URL)
        )
        client.cache.write_url_sidecar(url_ref, url_ref.namespace, URL)
        print(f"machine: {machine()}")
        print(f"inline budget {inline_budget():,} bytes; every time is formatter.format(ref)")
        head = f"{'artifact':<18} {'first s':>8} {'memo ms':>8} {'disk ms':>8} {'read ms':>8}"
        print(head + f" {'disk/read':>9} {'html bytes':>10}")
        for cls_name, oid, label in CASES:
            cls = getattr(vlmrun_jupyter, cls_name)
            ref = cls(id=oid).bind(session_id=SID, client=client)
            first, (data, _md) = timed(lambda ref=ref: fmt.format(ref))
            memo = statistics.median(timed(lambda ref=ref: fmt.format(ref))[0] for _ in range(5))
            stored = sorted(ns.glob(f"{oid}.preview.*.bin"))
            disk, peer = [], []
            for _ in range(opts.rounds):  # alternating: ours (new ref object), read_bytes
                again = cls(id=oid).bind(session_id=SID, client=client)
                disk.append(timed(lambda again=again: fmt.format(again))[0])
                if stored:
                    peer.append(timed(lambda f=stored[0]: f.read_bytes())[0])
            d, p = statistics.median(disk), (statistics.median(peer) if peer else float("nan"))
            print(
                f"{label:<18} {first:8.3f} {memo * 1e3:8.3f} {d * 1e3:8.2f} {p * 1e3:8.2f} "
                f"{d / p:9.2f} {len(data.get('text/html', '')):10,}"
            )
        client.close()

        # Like an installed package: byte-compiled modules (this environment may set
        # PYTHONDONTWRITEBYTECODE); kept in the temp dir, warmed by a first process.
        env = dict(os.environ, PYTHONPATH=str(HERE.parent), PYTHONPYCACHEPREFIX=str(tmp / "pyc"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)

        def fresh(code: str, stdin: str = "", *argv: str) -> dict:
            proc = subprocess.run(
                [sys.executable, "-c", code, *argv],
                input=stdin,
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            return json.loads(proc.stdout.strip().splitlines()[-1])

        base = {"cache": str(tmp / "cache"), "sid": SID, "heavy": HEAVY}
        first = dict(base, cls=CASES[0][0], oid=CASES[0][1])
        fresh(WARM, json.dumps(first))  # writes the byte code
        print(
            f"\nwarm display in a fresh process (kernel restart), one kind per process, "
            f"{opts.procs} processes per kind, alternating with the peer (ms):"
        )
        print(
            f"  {'artifact':<18} {'min':>7} {'median':>7} {'max':>7} {'cpu med':>7} "
            f"{'preview B':>10} {'peer ms':>8} {'ours/peer':>9}  heavy modules"
        )
        imports, heavy_all = [], set()
        for cls_name, oid, label in CASES:
            args = json.dumps(dict(base, cls=cls_name, oid=oid))
            stored = sorted(ns.glob(f"{oid}.preview.*.bin"))
            ours, cpu, peer, heavy = [], [], [], set()
            for _ in range(opts.procs):
                r = fresh(WARM, args)
                ours.append(r["time"])
                cpu.append(r["cpu"])
                imports.append(r["import"])
                heavy.update(r["heavy"])
                if stored:
                    peer.append(fresh(PEER, "", str(stored[0]))["time"])
            heavy_all |= heavy
            med = statistics.median(ours)
            pmed = statistics.median(peer) if peer else float("nan")
            size = stored[0].stat().st_size if stored else 0
            print(
                f"  {label:<18} {min(ours) * 1e3:7.2f} {med * 1e3:7.2f} {max(ours) * 1e3:7.2f} "
                f"{statistics.median(cpu) * 1e3:7.2f} {size:10,} {pmed * 1e3:8.2f} {med / pmed:9.2f}  {', '.join(sorted(heavy)) or 'none'}"
            )
        print(
            f"  (before the display: import vlmrun_jupyter + IPython + Client, median "
            f"{statistics.median(imports) * 1e3:.0f} ms; not counted above)"
        )
        print(f"  heavy modules imported: {', '.join(sorted(heavy_all)) or 'none'}  (target: none)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
