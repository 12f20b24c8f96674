"""A bounded sample of an SPZ file (`splat.sample`): every k-th splat, equal to the
same points of a full decode, in memory that follows the sample and not the file's
claims; malformed files still raise SpzError."""

from __future__ import annotations

import mmap
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from peak_rss import probe_env
from test_spz import legacy_file, scene

from vlmrun_jupyter.splat import spz
from vlmrun_jupyter.splat.sample import every_for, sample
from vlmrun_jupyter.splat.spz import SpzError

FIELDS = ("positions", "opacities", "colors", "log_scales", "rotations")


@pytest.mark.parametrize("version", [3, 4])
@pytest.mark.parametrize(("n", "limit"), [(70_001, 10_000), (70_001, 70_001), (5, 2), (0, 10)])
def test_a_sample_is_every_kth_point_of_the_full_decode(version, n, limit, tmp_path):
    data = spz.encode(scene(n, degree=3, seed=n), version=version)
    full = spz.decode(data, sh=False)
    path = tmp_path / "s.spz"
    path.write_bytes(data)
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        part, total = sample(mapped, limit)
    every = every_for(n, limit)
    assert total == n and len(part) == len(range(0, n, every)) <= max(limit, 0)
    assert part.sh.shape == (len(part), 0, 3) and part.sh_degree == 3
    for name in FIELDS:
        assert np.array_equal(getattr(part, name), getattr(full, name)[::every]), name


def test_version_1_half_floats_sample_like_the_decode():
    positions = np.array([[1.5, -2.25, 1024.0], [0.0, 0.5, -0.125]], "<f2").tobytes()
    sections = (bytes([255, 0]), bytes([128] * 6), bytes([160] * 6), bytes([128] * 6))
    data = legacy_file(1, positions, *sections)
    part, total = sample(data, 1)
    assert total == 2 and part.positions.tolist() == [[1.5, -2.25, 1024.0]]
    assert np.array_equal(part.rotations, spz.decode(data).rotations[:1])


@pytest.mark.parametrize("version", [3, 4])
def test_broken_files_raise_spz_error(version):
    data = spz.encode(scene(3000, degree=0, seed=1), version=version)
    with pytest.raises(SpzError, match="truncated|corrupt"):
        sample(data[: len(data) // 2], 100)
    with pytest.raises(SpzError):
        sample(b"not an spz file at all", 100)


def test_a_huge_claim_costs_the_sample_not_the_claim():
    # 20 million points of zeros (v4, ~20 KB on disk): the full decode would need ~2 GB;
    # a 100,000-point sample stays within a few tens of MB and a few seconds
    code = textwrap.dedent(
        """
        import time, zstandard
        from peak_rss import growth, mark
        from vlmrun_jupyter.splat import spz
        from vlmrun_jupyter.splat.sample import sample
        n = 20_000_000
        streams = [zstandard.ZstdCompressor().compress(bytes(w * n)) for w in (9, 1, 3, 3, 4)]
        toc = b"".join(spz.TOC_ENTRY.pack(len(s), w * n) for s, w in zip(streams, (9, 1, 3, 3, 4)))
        head = spz.HEADER_V4.pack(spz.MAGIC, 4, n, 0, 12, 0, 5, spz.HEADER_V4.size)
        data = head + toc + b"".join(streams)
        before, t0 = mark(), time.perf_counter()
        part, total = sample(data, 100_000)
        print(len(data), len(part), total, growth(before), time.perf_counter() - t0)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=probe_env()
    )
    size, kept, total, growth, seconds = (float(x) for x in out.stdout.split())
    assert size < 100_000 and kept == 100_000 and total == 20_000_000
    assert growth < 48 * 2**20, growth
    assert seconds < 10, seconds
