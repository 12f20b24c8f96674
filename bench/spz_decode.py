"""SPZ decode speed: ours versus the `gsply` package's reader, v3 (gzip) and v4 (zstd).

One deterministic 1M-point, SH-degree-3 scene (clustered like a real capture) is
written once per version with our encoder. Each side then decodes the same file in
its own process, warm (the first call, which for gsply includes numba's JIT, is not
counted), reading the file from disk inside the timed region; the decoded positions are
compared, so both sides do the same work. Three conditions, each over rounds that
alternate the two sides:
- threaded: both sides as they come (our worker threads, numba's threads);
- 1 core: both processes pinned to one CPU (`sched_setaffinity`) and numba limited to
  one thread, i.e. single-threaded speed;
- loaded: threaded, while the bench keeps every CPU busy with `nproc` spinning processes.
gsply runs in its own venv ($GSPLY_VENV, default .bench/gsply-venv in this repository, `pip install "gsply[spz]"`, zstd for v4).
Everything written goes to a temporary directory removed at the end.
Target (issue 15): ours no slower than gsply in every condition.

    PYTHONPATH=. python bench/spz_decode.py [--points 1000000] [--repeat 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sdk import VENVS, venv_python  # noqa: E402
from _timing import machine  # noqa: E402

GSPLY_VENV = Path(os.environ.get("GSPLY_VENV", VENVS / "gsply-venv"))

PRELUDE = r"""
import json, os, statistics, sys, time
args = json.loads(sys.stdin.read())
if args["one_core"]:  # before any import, so thread pools size themselves to one CPU
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
"""

TIMER = r"""
results = {}
for path in args["files"]:
    decode(path)  # warm-up (numba JIT, imports, page cache)
    times, cpu = [], []
    for _ in range(args["repeat"]):
        t0, c0 = time.perf_counter(), time.process_time()
        positions = decode(path)  # (every field; the name is historical)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    if args.get("dump"):
        import numpy as np
        np.savez(path + "." + args["dump"] + ".npz", **fields(positions))
    results[path] = [times, cpu]
print(json.dumps(results))
"""

OURS = r"""
from pathlib import Path
from vlmrun_jupyter.splat import spz
def decode(path):
    return spz.decode(Path(path).read_bytes())
def fields(s):  # what gsply's fields hold, in its conventions (quaternions wxyz)
    return {"means": s.positions, "scales": s.log_scales, "sh0": (s.colors - 0.5) / spz.SH_C0,
            "quats": s.rotations[:, [3, 0, 1, 2]], "shN": s.sh}
"""

GSPLY = r"""
import gsply
def decode(path):
    return gsply.read_spz(path)
def fields(g):
    return {k: getattr(g, k) for k in ("means", "scales", "sh0", "quats", "shN")}
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


def run(python, body: str, files: list[str], repeat: int, dump: str, one_core: bool, env):
    args = {"files": files, "repeat": repeat, "dump": dump, "one_core": one_core}
    proc = subprocess.run(
        [str(python), "-c", PRELUDE + body + TIMER],
        input=json.dumps(args),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _spin(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


@contextlib.contextmanager
def cpu_load(on: bool):
    """Keep every CPU busy (one spinning process per CPU) while the block runs."""
    if not on:
        yield
        return
    stop = multiprocessing.Event()
    procs = [
        multiprocessing.Process(target=_spin, args=(stop,)) for _ in range(os.cpu_count() or 1)
    ]
    for p in procs:
        p.start()
    try:
        time.sleep(0.5)
        yield
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=10)


def same_as_gsply(version: int, path: str) -> None:
    """Both sides decoded the same splats: positions and log-scales bit for bit, the
    rest (whose conventions differ: SH DC vs colour, wxyz vs xyzw) within float32
    rounding of the same quantised values."""
    ours, theirs = np.load(path + ".ours.npz"), np.load(path + ".gsply.npz")
    for name in ("means", "scales", "sh0", "quats", "shN"):
        a, b = ours[name], theirs[name].reshape(ours[name].shape)
        exact = name in ("means", "scales")
        if not (np.array_equal(a, b) if exact else np.allclose(a, b, rtol=0, atol=2e-6)):
            raise SystemExit(f"v{version}: gsply and ours decoded different {name}")


CONDITIONS = {"threaded": (False, False), "1 core": (True, False), "loaded": (False, True)}


def main() -> None:
    from vlmrun_jupyter.splat import spz

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    gsply = venv_python(GSPLY_VENV, "gsply[spz]")
    print(f"machine: {machine()}")
    print(
        f"SPZ decode, {args.points:,} points, SH degree 3: {args.rounds} alternating rounds "
        f"x {args.repeat} warm runs per side and condition; file read + decode on both sides"
    )
    print(
        "ratio = gsply median / ours median (> 1: ours is faster); cpu s = median CPU time "
        "of the decoding process (all its threads): the work done, which a shared machine "
        "disturbs less than wall time"
    )
    met = True
    with tempfile.TemporaryDirectory(prefix="bench-spz-") as tmp:
        work = Path(tmp)
        splats = scene(args.points)
        files = {}
        for version in (3, 4):
            path = work / f"scene_v{version}.spz"
            path.write_bytes(spz.encode(splats, version=version))
            files[version] = str(path)
        paths = list(files.values())
        base = dict(os.environ)
        base.pop("PYTHONPATH", None)
        ours_env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
        print(
            f"{'condition':<9} {'v':>2} {'MB':>5} {'ours wall min/med/max s':>23} "
            f"{'gsply wall min/med/max s':>24} {'ratio':>5} | {'cpu s ours':>10} "
            f"{'gsply':>6} {'ratio':>5}"
        )
        for cond, (one_core, loaded) in CONDITIONS.items():
            g_env = dict(base, NUMBA_NUM_THREADS="1") if one_core else base
            times: dict = {(t, p, k): [] for t in "go" for p in paths for k in (0, 1)}
            with cpu_load(loaded):
                for r in range(args.rounds):
                    order = [("g", gsply, GSPLY, g_env), ("o", sys.executable, OURS, ours_env)]
                    for tag, py, body, env in order if r % 2 == 0 else order[::-1]:
                        dump = {"g": "gsply", "o": "ours"}[tag] if r == 0 else ""
                        res = run(py, body, paths, args.repeat, dump, one_core, env)
                        for p in paths:
                            times[tag, p, 0].extend(res[p][0])
                            times[tag, p, 1].extend(res[p][1])
            for version, path in files.items():
                if cond == "threaded":
                    same_as_gsply(version, path)
                o, g = times["o", path, 0], times["g", path, 0]
                oc, gc = (statistics.median(times[t, path, 1]) for t in "og")
                ratio = statistics.median(g) / statistics.median(o)
                met &= ratio >= 1.0
                size = Path(path).stat().st_size / 1e6
                print(
                    f"{cond:<9} {version:>2} {size:5.1f} "
                    f"{min(o):7.3f} {statistics.median(o):7.3f} {max(o):7.3f}  "
                    f"{min(g):7.3f} {statistics.median(g):7.3f} {max(g):7.3f} {ratio:5.2f} | "
                    f"{oc:10.3f} {gc:6.3f} {gc / oc:5.2f}"
                )
    print("target (no slower than gsply in every condition):", "met" if met else "NOT met")


if __name__ == "__main__":
    main()
