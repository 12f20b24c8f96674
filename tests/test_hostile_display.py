"""Hostile inputs through the display path (issue 14, item 7).

Each bomb and the hostile server are built at test time (tests/hostile.py). A fresh
process fetches and renders each one; the test asserts its peak memory growth (from
the kernel's high-water mark, reset after warm-up), the card or error a user sees
(which limit, its value, how to raise it) and that nothing partial or corrupt is left
in the cache. Time bounds are in bench/hostile.py, not here.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import hostile
import pytest

REPO = Path(__file__).resolve().parent.parent
BAR = 256 * 1024 * 1024  # peak growth allowed in the display path

# case name prefix -> (what the user reads, files of the artifact the cache may keep)
EXPECT = {
    "JSON answer, zstd": ("LimitError: POST openai/chat/completions: the body is larger than "
                          "the VLMRUN_MAX_JSON_BYTES limit of 64.0 MiB", []),
    "JSON answer nested": ("ServerError: POST openai/chat/completions: the server sent invalid "
                           "JSON (RecursionError)", []),
    "image, gzip-encoded": ("Over a limit ImageRef img_gzbomb img_gzbomb: the body is larger "
                            "than the VLMRUN_MAX_DECODED_BYTES limit of 256.0 MiB", []),
    "PNG 13000x13000": ("Preview skipped: over a limit ImageRef img_png16x this 13000x13000 "
                        "I;16 PNG would need 645 MiB to decode, over the preview's decode limit "
                        "of 128 MiB (VLMRUN_MAX_DECODE_BYTES). Raise it with "
                        "VLMRUN_MAX_DECODE_BYTES=<bytes>, or open the file yourself",
                        ["img_png16x.png"]),
    # past the decode budget a splat file is sampled (every k-th point), not refused
    "SPZ v4": ("ReconRef · recon_spzbmb · 4,000,000 points · SH degree 0 · 3 KB",
               ["recon_spzbmb.preview.2097152-1280-bf.v2.bin", "recon_spzbmb.spz"]),
    "MP4, one 6000x6000": ("Preview skipped: over a limit VideoRef vid_mjpegx a 6000x6000 video "
                           "frame would need 275 MiB to decode", ["vid_mjpegx.mp4"]),
    "PDF, 3 million rectangles": ("Preview skipped: over a limit DocumentRef doc_rects3 "
                                  "rendering page 1 ", ["doc_rects3.pdf",
                                                       "doc_rects3.preview.info.v1.json"]),
    "PDF, a 200000x200000": ("page 1 DocumentRef · doc_huge01 · 1 page", ["doc_huge01.pdf",
                             "doc_huge01.preview.2097152-1280-bf.v2.bin",
                             "doc_huge01.preview.info.v1.json"]),
    "JPEG cut short": ("Corrupt download ImageRef img_cutjpg img_cutjpg: the body ended before "
                       "the file did (no length was announced); nothing was cached", []),
    "slow loris": ("Timed out ImageRef img_trickl img_trickl: gave up after", []),
}  # fmt: skip


@pytest.fixture(scope="module")
def server():
    srv = hostile.HostileServer()
    yield srv
    srv.close()


def _text(card: str | None) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", card or "")).split())


@pytest.mark.parametrize("case", hostile.cases(full=False), ids=lambda c: c.name)
def test_a_bomb_is_stopped_by_its_budget(case, server, tmp_path):
    said, kept = next(v for k, v in EXPECT.items() if case.name.startswith(k))
    out = hostile.run_probe(REPO, server, case, tmp_path / "cache")
    assert out["peak"] is not None, out["error"]
    shown = out["error"] if case.object_id == "completion" else _text(out["card"])
    assert said in shown
    assert out["peak"] < BAR, f"{out['peak'] / 2**20:.0f} MiB"
    assert hostile.cache_files(tmp_path / "cache", case.object_id) == kept
