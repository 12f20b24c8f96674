"""The SPZ codec (3D Gaussian splats): what we write reads back within the format's
quantisation in every version we write (3 and 4) and every SH degree; files of versions
1 and 2, built here byte by byte from the format description, decode to their known
values; and hostile input (impossible headers, decompression bombs, truncation, random
corruption) raises `SpzError` without allocating more than its honest size allows."""

from __future__ import annotations

import gzip
import struct
import tracemalloc

import numpy as np
import pytest
import zstandard
from peak_rss import probe_env

from vlmrun_jupyter.splat import _sections, spz
from vlmrun_jupyter.splat.spz import SH_DIM, Splats, SpzError

FBITS = 12
# Quantisation steps, from the format (design section 5): a decoded value may be off by
# half a step (plus float rounding).
POSITION_TOL = 0.5 / (1 << FBITS) + 1e-6
OPACITY_TOL = 0.5 / 255 + 1e-6
COLOR_TOL = 0.5 * spz.SH_C0 / (spz.COLOR_SCALE * 255) + 1e-6
SCALE_TOL = 0.5 / 16 + 1e-6
SH_TOL = 0.5 / 128 + 1e-6
ROTATION_DOT = 1 - 2e-5  # smallest-three, 9 bits per component


def scene(n: int, degree: int = 0, seed: int = 0, antialiased: bool = False) -> Splats:
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return Splats(
        positions=rng.uniform(-1000, 1000, (n, 3)).astype(np.float32),
        opacities=rng.uniform(0, 1, n).astype(np.float32),
        colors=rng.uniform(-0.2, 1.2, (n, 3)).astype(np.float32),  # dc slightly outside [0,1]
        log_scales=rng.uniform(-9.5, 5.5, (n, 3)).astype(np.float32),
        rotations=q.astype(np.float32),
        sh=rng.uniform(-0.99, 0.99, (n, SH_DIM[degree], 3)).astype(np.float32),
        sh_degree=degree,
        antialiased=antialiased,
    )


def assert_close(decoded: Splats, original: Splats) -> None:
    n = len(original)
    assert len(decoded) == n
    assert decoded.positions.shape == (n, 3) and decoded.positions.dtype == np.float32
    assert decoded.opacities.shape == (n,) and decoded.colors.shape == (n, 3)
    assert decoded.log_scales.shape == (n, 3) and decoded.rotations.shape == (n, 4)
    assert decoded.sh.shape == (n, SH_DIM[original.sh_degree], 3)
    assert decoded.sh_degree == original.sh_degree
    assert decoded.antialiased == original.antialiased
    if n == 0:
        return
    assert np.abs(decoded.positions - original.positions).max() <= POSITION_TOL
    assert np.abs(decoded.opacities - original.opacities).max() <= OPACITY_TOL
    assert np.abs(decoded.colors - original.colors).max() <= COLOR_TOL
    assert np.abs(decoded.log_scales - original.log_scales).max() <= SCALE_TOL
    norms = np.linalg.norm(decoded.rotations, axis=1)
    assert np.allclose(norms, 1, atol=1e-5)
    dots = np.abs(np.sum(decoded.rotations * original.rotations, axis=1))
    assert dots.min() >= ROTATION_DOT  # equal up to sign (q and -q are one rotation)
    if SH_DIM[original.sh_degree]:
        assert np.abs(decoded.sh - original.sh).max() <= SH_TOL


# -- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", [3, 4])
@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_round_trip_within_quantisation(version, degree):
    original = scene(4000, degree, seed=degree)
    data = spz.encode(original, version=version)
    assert_close(spz.decode(data), original)
    assert spz.encode(original, version=version) == data  # deterministic


@pytest.mark.parametrize("version", [3, 4])
def test_decode_without_sh_keeps_everything_else(version):
    data = spz.encode(scene(3000, degree=3, seed=2), version=version)
    full, light = spz.decode(data), spz.decode(data, sh=False)
    assert full.sh.shape == (3000, 15, 3) and light.sh.shape == (3000, 0, 3)
    assert light.sh_degree == 3
    for name in ("positions", "opacities", "colors", "log_scales", "rotations"):
        assert np.array_equal(getattr(full, name), getattr(light, name)), name
    with pytest.raises(SpzError, match="truncated"):
        spz.decode(data[: len(data) // 2], sh=False)


@pytest.mark.parametrize("version", [3, 4])
@pytest.mark.parametrize("n", [0, 1, 2049])
def test_edge_sizes_and_flags(version, n):
    original = scene(n, 1, seed=n, antialiased=True)
    assert_close(spz.decode(spz.encode(original, version=version)), original)


@pytest.mark.parametrize("version", [3, 4])
def test_extreme_values(version):
    limit = ((1 << 23) - 1) / (1 << FBITS)  # the largest 24-bit fixed-point position
    s = scene(6, 0)
    s.positions[:] = [[limit, -limit - 1 / (1 << FBITS), 0.0], [-0.0, 1e-9, -1e-9]] * 3
    # quaternions whose largest component is negative, and each index as the largest
    s.rotations[:] = np.array(
        [[-0.9, 0.1, 0.1, 0.1], [0.1, -0.9, 0.1, 0.1], [0.1, 0.1, -0.9, 0.1], [0, 0, 0, -1]]
        + [[0.5, 0.5, 0.5, 0.5], [0, 0, 0, 1]],
        np.float32,
    )
    s.rotations /= np.linalg.norm(s.rotations, axis=1, keepdims=True)
    s.opacities[:] = [0, 1, 0.5, 0.25, 1, 0]
    assert_close(spz.decode(spz.encode(s, version=version)), s)


@pytest.mark.parametrize("fbits", [0, 12, 23])
def test_positions_match_a_byte_by_byte_reading(fbits):
    # positions are read as overlapping int32 words; check them against the format read
    # one 24-bit little-endian signed integer at a time
    s = scene(500, 0, seed=fbits)
    s.positions[:] = (
        np.random.default_rng(fbits).uniform(-1, 1, (500, 3)) * (1 << 23) / (1 << fbits)
    )
    data = spz.encode(s, version=3, fractional_bits=fbits)
    raw = gzip.decompress(data)[16 : 16 + 9 * 500]
    expected = [
        int.from_bytes(raw[i : i + 3], "little", signed=True) / (1 << fbits)
        for i in range(0, len(raw), 3)
    ]
    got = spz.decode(data).positions.ravel().tolist()
    assert got == pytest.approx(expected, rel=0, abs=0)
    assert min(expected) < 0 < max(expected)


@pytest.mark.parametrize("version", [3, 4])
@pytest.mark.parametrize("sh", [True, False])
def test_one_cpu_and_several_decode_alike(version, sh, monkeypatch):
    # several inflate pieces, SH slices and rotation blocks; inline on one CPU (no
    # workers), on one or more worker threads (which also take SH pieces when idle)
    original = scene(70_000, degree=3, seed=5)
    data = spz.encode(original, version=version)
    monkeypatch.setattr(_sections, "workers", lambda: 0)
    one = spz.decode(data, sh=sh)
    for count in (1, 3):
        monkeypatch.setattr(_sections, "workers", lambda count=count: count)
        several = spz.decode(data, sh=sh)
        for name in ("positions", "opacities", "colors", "log_scales", "rotations", "sh"):
            assert np.array_equal(getattr(one, name), getattr(several, name)), (count, name)
    if sh:
        assert_close(one, original)


def test_a_shared_step_that_fails_raises_in_the_caller():
    def boom() -> None:
        raise ValueError("step failed")

    with _sections.Tasks(1) as tasks:
        tasks.share(boom)  # the worker is idle: it takes the step
        with pytest.raises(ValueError, match="step failed"):
            tasks.wait()
    with _sections.Tasks(0) as tasks, pytest.raises(ValueError, match="step failed"):
        tasks.share(boom)  # no workers: runs (and fails) here


def test_out_of_range_values_clamp_instead_of_wrapping():
    s = scene(2, 0)
    s.positions[:] = [[1e9, -1e9, 0], [0, 0, 0]]
    s.log_scales[:] = [[20, -20, 0], [0, 0, 0]]
    d = spz.decode(spz.encode(s))
    limit = ((1 << 23) - 1) / (1 << FBITS)
    assert d.positions[0, 0] == pytest.approx(limit) and d.positions[0, 1] < -limit
    assert d.log_scales[0, 0] == pytest.approx(255 / 16 - 10) and d.log_scales[0, 1] == -10


def test_v4_streams_and_sizes():
    for degree, streams in [(0, 5), (1, 6), (3, 6)]:
        data = spz.encode(scene(100, degree), version=4)
        magic, version, n, deg, fbits, flags, count, toc = spz.HEADER_V4.unpack_from(data)
        assert (magic, version, n, deg, fbits, count, toc) == (
            spz.MAGIC,
            4,
            100,
            degree,
            FBITS,
            streams,
            32,
        )
        sizes = [
            spz.TOC_ENTRY.unpack_from(data, toc + 16 * i)[1] for i in range(count)
        ]  # uncompressed
        assert sizes == [900, 100, 300, 300, 400, 300 * SH_DIM[degree] // 3 * 3][:streams]


def test_v3_is_gzip_with_the_documented_header():
    data = spz.encode(scene(10, 2, antialiased=True))
    raw = gzip.decompress(data)
    assert struct.unpack_from("<IIIBBBB", raw) == (spz.MAGIC, 3, 10, 2, FBITS, 1, 0)
    assert len(raw) == 16 + 10 * (9 + 1 + 3 + 3 + 4 + 8 * 3)


# -- older and foreign files ----------------------------------------------------------------


def legacy_file(version: int, positions, alphas, colors, scales, rotations, sh=b"", deg=0):
    header = struct.pack("<IIIBBBB", spz.MAGIC, version, len(alphas), deg, FBITS, 0, 0)
    return gzip.compress(header + positions + alphas + colors + scales + rotations + sh)


def test_decodes_version_1_half_float_positions():
    positions = np.array([[1.5, -2.25, 1024.0], [0.0, 0.5, -0.125]], "<f2").tobytes()
    data = legacy_file(
        1,
        positions,
        bytes([255, 0]),
        bytes([128, 128, 128, 255, 0, 128]),
        bytes([160, 160, 160, 0, 16, 255]),
        bytes([128, 128, 128, 255, 128, 128]),
    )
    d = spz.decode(data)
    assert np.array_equal(d.positions, [[1.5, -2.25, 1024.0], [0.0, 0.5, -0.125]])
    assert d.opacities.tolist() == [1.0, 0.0]
    assert d.log_scales[0] == pytest.approx([0, 0, 0]) and d.log_scales[1, 0] == -10
    # v2-style rotation: xyz stored, w rebuilt non-negative
    assert d.rotations[0] == pytest.approx([0.0039, 0.0039, 0.0039, 1.0], abs=1e-3)
    assert d.rotations[1] == pytest.approx([1.0, 0.0039, 0.0039, 0.0], abs=0.09)
    gray = 0.5 + spz.SH_C0 * ((128 / 255 - 0.5) / spz.COLOR_SCALE)
    assert d.colors[0] == pytest.approx([gray] * 3, abs=1e-6)


def test_decodes_version_2_fixed_point_with_sh():
    fixed = np.array([[4096, -4096, 2048]], np.int32)  # 1.0, -1.0, 0.5 at 12 bits
    positions = (fixed & 0xFFFFFF).astype("<u4").view(np.uint8).reshape(1, 3, 4)[:, :, :3]
    sh = bytes([128, 192, 64] + [128] * 6)  # degree 1: 3 coefficients x RGB
    data = legacy_file(
        2,
        positions.tobytes(),
        bytes([51]),
        bytes([100, 150, 200]),
        bytes([80, 96, 112]),
        bytes([255, 128, 128]),
        sh,
        deg=1,
    )
    d = spz.decode(data)
    assert d.positions.tolist() == [[1.0, -1.0, 0.5]]
    assert d.opacities[0] == pytest.approx(0.2)
    assert d.log_scales[0].tolist() == [-5.0, -4.0, -3.0]
    assert d.sh.shape == (1, 3, 3)
    assert d.sh[0, 0].tolist() == [0.0, 0.5, -0.5]


def test_decodes_v4_with_extensions_and_multi_frame_streams():
    s = scene(3000, 2, seed=9)
    sections = spz._pack_sections(s, FBITS)
    c = zstandard.ZstdCompressor()
    streams = [c.compress(x[: len(x) // 3]) + c.compress(x[len(x) // 3 :]) for x in sections]
    extension = struct.pack("<II", 0xABCD, 8) + b"12345678"  # a record we don't know
    toc_at = spz.HEADER_V4.size + len(extension)
    header = spz.HEADER_V4.pack(spz.MAGIC, 4, 3000, 2, FBITS, 0x2, 6, toc_at)
    toc = b"".join(
        spz.TOC_ENTRY.pack(len(z), len(x)) for z, x in zip(streams, sections, strict=True)
    )
    assert_close(spz.decode(header + extension + toc + b"".join(streams)), s)
    # the same bytes before the table without the extensions flag are refused
    header = spz.HEADER_V4.pack(spz.MAGIC, 4, 3000, 2, FBITS, 0, 6, toc_at)
    with pytest.raises(SpzError, match="extensions flag"):
        spz.decode(header + extension + toc + b"".join(streams))


def test_interoperates_with_gsply_layout_facts():
    """Byte-level facts another reader relies on: the positions section of a v3 file is
    little-endian 24-bit fixed point, the alpha byte is round(opacity * 255)."""
    s = scene(3, 0)
    s.positions[:] = [[1.0, -1.0, 0.25]] * 3
    s.opacities[:] = [0.0, 0.5, 1.0]
    raw = gzip.decompress(spz.encode(s))[16:]
    assert raw[:9] == bytes([0x00, 0x10, 0x00, 0x00, 0xF0, 0xFF, 0x00, 0x04, 0x00])
    assert raw[27:30] == bytes([0, 128, 255])


# -- hostile input --------------------------------------------------------------------------


def v3_bytes(version=3, n=10, deg=0, fbits=12, flags=0, body=b"") -> bytes:
    return gzip.compress(
        struct.pack("<IIIBBBB", spz.MAGIC, version, n, deg, fbits, flags, 0) + body
    )


def v4_bytes(n=10, deg=0, count=5, toc_at=32, flags=0, rest=b"") -> bytes:
    return spz.HEADER_V4.pack(spz.MAGIC, 4, n, deg, 12, flags, count, toc_at) + rest


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "not an SPZ file"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not an SPZ file"),
        (gzip.compress(b"hello world, not splats"), "bad magic"),
        (v3_bytes(version=0), "unsupported SPZ version 0"),
        (v3_bytes(version=5), "unsupported SPZ version 5"),
        (v3_bytes(version=4), "v4 files are not gzipped"),
        (v3_bytes(n=spz.MAX_POINTS + 1), "more than the"),
        (v3_bytes(deg=4), "SH degree 4"),
        (v3_bytes(fbits=24), "fractional bits"),
        (v3_bytes(n=10), "truncated"),
        (gzip.compress(b"NGSP"), "truncated SPZ header"),
        (v4_bytes()[:20], "truncated SPZ header"),
        (v4_bytes(count=6), "6 streams"),
        (v4_bytes(toc_at=8), "table of contents lies outside"),
        (v4_bytes(toc_at=10_000), "table of contents lies outside"),
        (
            v4_bytes(n=1, rest=b"".join(spz.TOC_ENTRY.pack(1, w) for w in (9, 1, 3, 3, 5)))
            + b"\0" * 5,
            "declares 5 bytes",
        ),
        (
            v4_bytes(n=1, rest=b"".join(spz.TOC_ENTRY.pack(1 << 40, w) for w in (9, 1, 3, 3, 4))),
            "runs past the end",
        ),
        (
            v4_bytes(n=1, rest=b"".join(spz.TOC_ENTRY.pack(1, w) for w in (9, 1, 3, 3, 4)))
            + b"\0" * 5,
            "corrupt SPZ compression",
        ),
    ],
)
def test_bad_input_names_the_problem(data, message):
    with pytest.raises(SpzError, match=message) as info:
        spz.decode(data)
    assert "corrupt or not SPZ" in str(info.value)  # and what to do about it


# Peak resident memory of decoding, measured in a fresh process: unlike tracemalloc this
# sees what zlib, ISA-L and zstd allocate in C. The kernel's high-water mark is reset after
# a warm-up decode (getrusage's ru_maxrss would carry the parent's peak across exec).
RSS_PROBE = r"""
import sys
from pathlib import Path
from peak_rss import growth, mark
from vlmrun_jupyter.splat import _sections, spz

warm, *cases = sys.argv[1:]
for version in (3, 4):  # imports the codecs and starts the worker threads
    spz.decode(spz.encode(spz.decode(Path(warm).read_bytes()), version=version))
base = mark()  # the high-water mark (VmHWM) starts again from here
for p in cases:
    data = Path(p).read_bytes()
    try:
        spz.decode(data)
    except spz.SpzError:
        pass
    del data
print(growth(base))
"""


def peak_rss_growth(tmp_path, *files: bytes) -> int:
    """Bytes of peak RSS growth while a fresh process decodes `files` (reading them
    included), after a warm-up decode."""
    import subprocess
    import sys

    paths = []
    for i, data in enumerate((spz.encode(scene(64, 3)), *files)):
        path = tmp_path / f"case{i}.spz"
        path.write_bytes(data)
        paths.append(str(path))
    proc = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, *paths],
        capture_output=True,
        text=True,
        timeout=300,
        env=probe_env(),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return int(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "data",
    [
        v3_bytes(n=40_000_000, deg=3),  # a tiny gzip file claiming 2.6 GB of splats
        v4_bytes(
            n=40_000_000,
            deg=3,
            count=6,
            rest=b"".join(spz.TOC_ENTRY.pack(16, w * 40_000_000) for w in (9, 1, 3, 3, 4, 45))
            + b"\0" * 96,
        ),
    ],
    ids=["gzip", "v4"],
)
def test_huge_claims_in_tiny_files_allocate_nothing(data, tmp_path):
    assert len(data) < 1024
    with pytest.raises(SpzError, match="more than|impossible compression ratio"):
        spz.decode(data)
    # the file claims 2.6 GB of splats; refusing it costs at most a few pages
    assert peak_rss_growth(tmp_path, data) < 8 * 1024 * 1024


def test_decompression_bomb_is_bounded_by_the_declared_size(tmp_path):
    # 100 MB of zeros after a header honestly claiming 10 points: gzip squeezes it to
    # ~100 KB, and the reader must stop at what the header declares.
    n = 10
    header = struct.pack("<IIIBBBB", spz.MAGIC, 3, n, 0, 12, 0, 0)
    bomb = gzip.compress(header + bytes(100_000_000), compresslevel=9)
    with pytest.raises(SpzError, match="longer than its header"):
        spz.decode(bomb)
    # v4: a stream inflating far beyond its table-of-contents size
    zeros = zstandard.ZstdCompressor().compress(bytes(50_000_000))
    toc = b"".join(spz.TOC_ENTRY.pack(len(zeros), w * n) for w in (9, 1, 3, 3, 4))
    data = v4_bytes(n=n, rest=toc + zeros * 5)
    with pytest.raises(SpzError, match="holds more than"):
        spz.decode(data)
    # 100 MB (gzip) and 5 x 50 MB (zstd) would inflate if the reader trusted the streams;
    # the growth allowed covers the compressed files themselves (~0.1 + ~0.01 MB) plus slack
    assert peak_rss_growth(tmp_path, bomb, data) < 16 * 1024 * 1024


@pytest.mark.parametrize("version", [3, 4])
def test_fuzzed_and_truncated_files_raise_spz_error_only(version):
    original = scene(300, 2, seed=version)
    good = spz.encode(original, version=version)
    rng = np.random.default_rng(1234 + version)
    honest = 300 * sum(spz._widths(version, 2)) * 4 + 64 * 1024  # float32 outputs + slack
    cases = [good[:cut] for cut in rng.integers(0, len(good), 120)]
    for _ in range(200):
        data = bytearray(good)
        for pos in rng.integers(0, len(data), rng.integers(1, 8)):
            data[pos] = rng.integers(0, 256)
        cases.append(bytes(data))
    for _ in range(40):
        a, b = sorted(rng.integers(0, len(good), 2))
        cases.append(good[:a] + rng.bytes(int(rng.integers(1, 64))) + good[b:])
    outcomes = {"decoded": 0, "refused": 0}
    for data in cases:
        tracemalloc.start()
        try:
            d = spz.decode(data)
        except SpzError:
            outcomes["refused"] += 1
        else:
            outcomes["decoded"] += 1
            n = len(d)
            assert d.positions.shape == (n, 3) and d.rotations.shape == (n, 4)
            assert d.sh.shape[0] == n and np.isfinite(d.positions).all()
            assert np.isfinite(d.rotations).all() and np.isfinite(d.sh).all()
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert peak < 4 * honest + 8 * len(data), f"peak {peak:,} bytes"
    assert outcomes["refused"] > 100  # most corruption is caught (header, sizes, CRC)


def test_encode_refuses_what_it_cannot_write():
    with pytest.raises(SpzError, match="version 2"):
        spz.encode(scene(3), version=2)
    bad = scene(3, 1)
    bad.sh_degree = 2
    with pytest.raises(SpzError, match="wrong shape"):
        spz.encode(bad)
