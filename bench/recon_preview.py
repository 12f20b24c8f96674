"""3D display cost: today's code against the code of a baseline commit, same run.

One deterministic 1M-splat, SH-degree-3 SPZ v3 scene (bench/spz_decode.py's `scene`) is
written to a temporary artifact cache. The baseline is the package as it was at
`--baseline` (default: the commit before issue 16's speed work), unpacked from git into
a temporary folder; each measurement runs in a fresh process of its own, alternating
the two sides over `--rounds` rounds (median reported):

- cold preview: the recon renderer's static picture, file on disk -> bundle
  (`display.kinds.recon.render` with the default budget);
- re-display after a restart: a new ref object for the same, already displayed
  artifact asks for its live viewer (`recon.live`; the picture itself comes from the
  stored preview on both sides). The artifact was displayed once before, in another
  process, exactly as a kernel before its restart did.

Peak memory is the process's peak RSS during the step (reset through
/proc/self/clear_refs just before it) minus its RSS then.

    PYTHONPATH=. python bench/recon_preview.py [--points 1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sdk import REPO  # noqa: E402

BASELINE = "2896498"  # main before issue 16's 3D speed work

STEP = r"""
import json, sys, time
from pathlib import Path
args = json.loads(sys.argv[1])
from vlmrun_jupyter import Client, ReconRef
from vlmrun_jupyter.display.budget import default_budget
from vlmrun_jupyter.display.kinds import recon
import vlmrun_jupyter.splat.viewer, vlmrun_jupyter.splat.preview, PIL.Image  # imports not timed

def status(field):  # bytes, from the kernel's accounting of this process
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

client = Client(api_key="k", base_url="http://127.0.0.1:9/v1", cache_dir=args["cache"])
ref = ReconRef(id="recon_bench1").bind(session_id="sess_bench", client=client)
path = client.cache.root / "sess_bench" / "recon_bench1.spz"
if not path.exists():  # the artifact as a fetch would have stored it
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(Path(args["source"]).read_bytes())
recon._kernel_shows_widgets = lambda: True
Path("/proc/self/clear_refs").write_text("5")  # peak RSS := RSS now
before = status("VmRSS")
t0 = time.perf_counter()
if args["step"] == "cold":
    data, _ = recon.render(ref, path, default_budget())
    assert "image/png" in data or "image/jpeg" in data
else:
    parts = recon.live(ref, {})
    assert parts, "no viewer"
elapsed = time.perf_counter() - t0
peak = status("VmHWM")
print(json.dumps({"seconds": elapsed, "mib": max(peak - before, 0) / 2**20}))
"""


def run(root: Path, step: str, cache: Path, source: Path) -> dict:
    arg = {"step": step, "cache": str(cache), "source": str(source)}
    out = subprocess.run(
        [sys.executable, "-c", STEP, json.dumps(arg)],
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=cache.parent,  # not the repo: `python -c` puts the working directory first
    )
    if out.returncode:
        raise SystemExit(f"{step} failed under {root}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def baseline_tree(commit: str, into: Path) -> Path:
    """The package at `commit`, unpacked from git (its built viewer.js copied in)."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default=BASELINE)
    args = parser.parse_args()

    from spz_decode import scene

    from vlmrun_jupyter.splat import spz

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        sides = {"baseline": baseline_tree(args.baseline, tmp_path), "ours": REPO}
        data = spz.encode(scene(args.points), version=3)
        source = tmp_path / "scene.spz"
        source.write_bytes(data)
        print(f"{args.points:,} splats, SH degree 3, SPZ v3 {len(data) / 2**20:.1f} MiB")
        results: dict = {(side, step): [] for side in sides for step in ("cold", "again")}
        for _ in range(args.rounds):
            for side, root in sides.items():
                cache = tmp_path / f"cache-{side}"
                shutil.rmtree(cache, ignore_errors=True)  # cold: nothing stored yet
                results[side, "cold"].append(run(root, "cold", cache, source))
                run(root, "again", cache, source)  # the display before the restart
                results[side, "again"].append(run(root, "again", cache, source))
        for step, label in (("cold", "cold preview"), ("again", "re-display after restart")):
            row = {}
            for side in sides:
                row[side] = (
                    statistics.median(r["seconds"] for r in results[side, step]),
                    statistics.median(r["mib"] for r in results[side, step]),
                )
            (bs, bm), (os_, om) = row["baseline"], row["ours"]
            print(
                f"{label:26s} baseline {bs:6.2f} s +{bm:5.0f} MiB | ours {os_:6.2f} s "
                f"+{om:5.0f} MiB | {bs / max(os_, 1e-9):4.1f}x faster, "
                f"{bm / max(om, 1e-9):4.1f}x less memory"
            )


if __name__ == "__main__":
    main()
