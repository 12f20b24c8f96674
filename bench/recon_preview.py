"""3D display cost: today's code against the code of earlier commits, same run.

One deterministic 1M-splat, SH-degree-3 SPZ v3 scene (bench/spz_decode.py's `scene`) is
written to a temporary artifact cache. Each `--baseline` commit (default: the commit
before issue 16's speed work, and the one before the strided sample / one-decode
display) is unpacked from git into a temporary folder; each measurement runs in a fresh
process of its own, the sides alternating over `--rounds` rounds:

- cold picture, no kernel: the recon renderer's static picture, file on disk -> bundle
  (`display.kinds.recon.render`, default budget), as an export or a script gets it;
- cold display in a kernel: the picture and then the live viewer (`recon.live`), with
  nothing stored yet;
- re-display after a restart: a new process asks for the live viewer of the artifact
  displayed before (the picture itself comes from the stored preview on every side).

Peak memory is the process's peak RSS during the step (reset through
/proc/self/clear_refs just before it) minus its RSS then. The machine may be shared:
the load average at the start is printed.

    PYTHONPATH=. python bench/recon_preview.py [--points 1000000] [--rounds 3]
        [--baseline COMMIT ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sdk import PROBES, REPO  # noqa: E402
from _timing import machine  # noqa: E402

BASELINE = "2896498"  # main before issue 16's 3D speed work
BEFORE = "66ce1b9"  # main before the strided sample and the one-decode cold display

STEP = r"""
import json, sys, time
from pathlib import Path
args = json.loads(sys.argv[1])
from vlmrun_jupyter import Client, ReconRef
from vlmrun_jupyter.display.budget import default_budget
from vlmrun_jupyter.display.kinds import recon
import vlmrun_jupyter.splat.viewer, vlmrun_jupyter.splat.preview, PIL.Image  # imports not timed
from peak_rss import growth, mark

client = Client(api_key="k", base_url="http://127.0.0.1:9/v1", cache_dir=args["cache"])
ref = ReconRef(id="recon_bench1").bind(session_id="sess_bench", client=client)
path = client.cache.root / "sess_bench" / "recon_bench1.spz"
if not path.exists():  # the artifact as a fetch would have stored it
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(Path(args["source"]).read_bytes())
kernel = args["step"] != "picture"
recon._kernel_shows_widgets = lambda: kernel
before = mark()  # peak RSS := RSS now
t0, c0 = time.perf_counter(), time.process_time()
if args["step"] in ("picture", "cold"):
    data, _ = recon.render(ref, path, default_budget())
    assert "image/png" in data or "image/jpeg" in data
if args["step"] in ("cold", "again"):
    parts = recon.live(ref, {})
    assert parts, "no viewer"
elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"seconds": elapsed, "cpu": cpu, "mib": max(growth(before), 0) / 2**20}))
"""


def run(root: Path, step: str, cache: Path, source: Path) -> dict:
    arg = {"step": step, "cache": str(cache), "source": str(source)}
    out = subprocess.run(
        [sys.executable, "-c", STEP, json.dumps(arg)],
        env={"PYTHONPATH": os.pathsep.join([str(root), str(PROBES)]), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        cwd=cache.parent,  # not the repo: `python -c` puts the working directory first
    )
    if out.returncode:
        raise SystemExit(f"{step} failed under {root}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def baseline_tree(commit: str, into: Path) -> Path:
    """The package at `commit`, unpacked from git (its built viewer.js copied in)."""
    into.mkdir(parents=True, exist_ok=True)
    archive = into / "base.tar"
    with archive.open("wb") as f:
        subprocess.run(
            ["git", "-C", str(REPO), "archive", commit, "vlmrun_jupyter"], stdout=f, check=True
        )
    with tarfile.open(archive) as tar:
        tar.extractall(into / "base", filter="data")
    static = REPO / "vlmrun_jupyter" / "splat" / "static" / "viewer.js"
    target = into / "base" / "vlmrun_jupyter" / "splat" / "static"
    target.mkdir(parents=True, exist_ok=True)
    (target / "viewer.js").write_bytes(static.read_bytes())
    return into / "base"


STEPS = {
    "picture": "cold picture, no kernel",
    "cold": "cold display in a kernel",
    "again": "re-display after restart",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", nargs="+", default=[BASELINE, BEFORE])
    args = parser.parse_args()

    from spz_decode import scene

    from vlmrun_jupyter.splat import spz

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        sides = {c: baseline_tree(c, tmp_path / c) for c in args.baseline}
        sides["ours"] = REPO
        data = spz.encode(scene(args.points), version=3)
        source = tmp_path / "scene.spz"
        source.write_bytes(data)
        print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f} at start")
        print(f"{args.points:,} splats, SH degree 3, SPZ v3 {len(data) / 2**20:.1f} MiB")
        print(
            f"sides: {', '.join(sides)}; {args.rounds} rounds, sides alternating, each step "
            "in a fresh process; wall seconds min/median/max, CPU seconds (all threads) and peak RSS growth medians"
        )
        results: dict = {(side, step): [] for side in sides for step in STEPS}
        for r in range(args.rounds):
            order = list(sides.items())
            for side, root in order if r % 2 == 0 else order[::-1]:
                cache = tmp_path / f"cache-{side}"
                for step in STEPS:
                    if step != "again":
                        shutil.rmtree(cache, ignore_errors=True)  # cold: nothing stored yet
                    results[side, step].append(run(root, step, cache, source))
        for step, label in STEPS.items():
            print(label)
            ours = statistics.median(r["seconds"] for r in results["ours", step])
            for side in sides:
                secs = sorted(r["seconds"] for r in results[side, step])
                mib = statistics.median(r["mib"] for r in results[side, step])
                cpu = statistics.median(r["cpu"] for r in results[side, step])
                med = statistics.median(secs)
                print(
                    f"  {side:10s} {secs[0]:6.2f} {med:6.2f} {secs[-1]:6.2f} s  cpu {cpu:5.2f} s  "
                    f"+{mib:5.0f} MiB"
                    + ("" if side == "ours" else f"   ours {med / max(ours, 1e-9):4.1f}x faster")
                )


if __name__ == "__main__":
    main()
