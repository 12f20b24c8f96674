"""SPZ decode speed: ours versus the `gsply` package's reader, v3 (gzip) and v4 (zstd).

One deterministic 1M-point, SH-degree-3 scene (clustered like a real capture) is
written once per version with our encoder. Each side then decodes the same file in
its own process, warm (the first call, which for gsply includes numba's JIT, is not
counted), reading the file from disk inside the timed region on both sides; the
median of several runs, over rounds that alternate the two sides, is reported. gsply runs in its own venv ($GSPLY_VENV, default
<tmp>/gsply-venv, created with `pip install "gsply[spz]"` on first use). The decoded
positions are compared, so both sides do the same work. Target: no slower than gsply.

    PYTHONPATH=. python bench/spz_decode.py [--points 1000000] [--repeat 7] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sdk import venv_python  # noqa: E402

GSPLY_VENV = Path(os.environ.get("GSPLY_VENV", Path(tempfile.gettempdir()) / "gsply-venv"))

TIMER = r"""
import json, statistics, sys, time
args = json.loads(sys.stdin.read())
results = {}
for path in args["files"]:
    decode(path)  # warm-up (numba JIT, imports, page cache)
    times = []
    for _ in range(args["repeat"]):
        t0 = time.perf_counter()
        positions = decode(path)
        times.append(time.perf_counter() - t0)
    if args.get("dump"):
        import numpy as np
        np.save(path + "." + args["dump"] + ".npy", positions)
    results[path] = statistics.median(times)
print(json.dumps(results))
"""

OURS = r"""
from pathlib import Path
from vlmrun_jupyter.splat import spz
def decode(path):
    return spz.decode(Path(path).read_bytes()).positions
"""

GSPLY = r"""
import gsply
def decode(path):
    return gsply.read_spz(path).means
"""


def scene(n: int, seed: int = 7):
    """Splats in a few dozen anisotropic clusters with smooth colours: compresses like
    a real capture does (uniform noise would not)."""
    from vlmrun_jupyter.splat.spz import SH_DIM, Splats

    rng = np.random.default_rng(seed)
    centres = rng.uniform(-5, 5, (48, 3))
    spread = rng.uniform(0.1, 1.0, (48, 3))
    which = rng.integers(0, 48, n)
    positions = centres[which] + rng.normal(size=(n, 3)) * spread[which]
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    colours = np.clip(0.5 + 0.08 * positions + rng.normal(0, 0.05, (n, 3)), 0, 1)
    return Splats(
        positions=positions.astype(np.float32),
        opacities=rng.beta(5, 2, n).astype(np.float32),
        colors=colours.astype(np.float32),
        log_scales=rng.normal(-4, 0.7, (n, 3)).astype(np.float32),
        rotations=q.astype(np.float32),
        sh=rng.normal(0, 0.08, (n, SH_DIM[3], 3)).astype(np.float32),
        sh_degree=3,
    )


def run(python: Path | str, body: str, files: list[str], repeat: int, dump: str, env=None):
    proc = subprocess.run(
        [str(python), "-c", body + TIMER],
        input=json.dumps({"files": files, "repeat": repeat, "dump": dump}),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    from vlmrun_jupyter.splat import spz

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    gsply = venv_python(GSPLY_VENV, "gsply[spz]")
    work = Path(tempfile.mkdtemp(prefix="spz-bench-"))
    splats = scene(args.points)
    files = {}
    for version in (3, 4):
        path = work / f"scene_v{version}.spz"
        path.write_bytes(spz.encode(splats, version=version))
        files[version] = str(path)
    paths = list(files.values())
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    # Alternate the two sides for a few rounds so that a noisy moment on a shared machine
    # hits both; each side's time is the median over its rounds.
    rounds = [
        (
            run(gsply, GSPLY, paths, args.repeat, "gsply", env),
            run(sys.executable, OURS, paths, args.repeat, "ours"),
        )
        for _ in range(args.rounds)
    ]
    theirs = {p: float(np.median([r[0][p] for r in rounds])) for p in paths}
    ours = {p: float(np.median([r[1][p] for r in rounds])) for p in paths}

    print(
        f"SPZ decode, {args.points:,} points, SH degree 3: median of {args.rounds} rounds "
        f"x {args.repeat} warm runs, the two sides alternating"
    )
    print("file read + decode on both sides; ratio = gsply / ours (> 1: ours is faster)")
    print(f"{'version':>7} {'file MB':>8} {'ours s':>8} {'gsply s':>8} {'ratio':>6}")
    met = True
    for version, path in files.items():
        same = np.array_equal(np.load(path + ".ours.npy"), np.load(path + ".gsply.npy"))
        if not same:
            raise SystemExit(f"v{version}: gsply and ours decoded different positions")
        ratio = theirs[path] / ours[path]
        met &= ratio >= 1.0
        size = Path(path).stat().st_size / 1e6
        print(f"{version:>7} {size:8.1f} {ours[path]:8.3f} {theirs[path]:8.3f} {ratio:6.2f}")
    print("target (no slower than gsply):", "met" if met else "NOT met")


if __name__ == "__main__":
    main()
