"""The disk cache on its own: atomic writes, integrity, LRU cap, path safety, locking."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from vlmrun_jupyter import _locks, refs
from vlmrun_jupyter.cache import ArtifactCache, TruncatedDownload, check_content_type, url_file_name
from vlmrun_jupyter.errors import IntegrityError

NS = refs.Namespace("session", "sess-cache")


def _png(size=(8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, "red").save(buf, "PNG")
    return buf.getvalue()


def _files(cache: ArtifactCache) -> list[str]:
    return sorted(p.name for p in cache.root.rglob("*") if p.is_file())


def test_store_then_lookup_finds_a_png_image(tmp_path):
    cache = ArtifactCache(tmp_path)
    ref = refs.ImageRef(id="img_png001")
    data = _png()
    dest = cache.ns_dir(NS) / "img_png001.png"
    cache.store(dest, [data[:10], data[10:]], kind="image", expected_size=len(data), what=ref.id)
    assert cache.lookup(ref, NS) == dest and dest.read_bytes() == data


def test_a_truncated_body_leaves_nothing_behind(tmp_path):
    cache = ArtifactCache(tmp_path)
    data = _png()
    with pytest.raises(TruncatedDownload, match="truncated"):
        cache.store(
            cache.ns_dir(NS) / "img_trunc1.png",
            [data[:20]],
            kind="image",
            expected_size=len(data),
            what="img_trunc1",
        )
    assert _files(cache) == []


@pytest.mark.parametrize(
    "kind,body",
    [
        ("image", b"<html>not an image</html>"),
        ("video", b"\x00" * 64),
        ("document", b"hello"),
        ("recon", b"PK\x03\x04"),
        ("array", b"{}"),
        ("audio", b"RIFF...."),
    ],
)
def test_bytes_that_are_not_the_promised_kind_are_refused(tmp_path, kind, body):
    cache = ArtifactCache(tmp_path)
    with pytest.raises(IntegrityError, match=f"not a valid {kind}"):
        cache.store(
            cache.ns_dir(NS) / "x_abcdef.bin", [body], kind=kind, expected_size=None, what="x"
        )
    assert _files(cache) == []


def test_a_wrong_content_type_is_an_integrity_error():
    with pytest.raises(IntegrityError, match="text/html"):
        check_content_type(refs.VideoRef(id="vid_ctype1"), "text/html; charset=utf-8")
    check_content_type(refs.ImageRef(id="img_ctype2"), "image/png")  # fine
    check_content_type(refs.ArrayRef(id="arr_ctype3"), "application/json")  # sniffed instead


def test_a_corrupt_cached_file_is_dropped_so_it_is_fetched_again(tmp_path):
    cache = ArtifactCache(tmp_path)
    ref = refs.DocumentRef(id="doc_corrpt")
    path = cache.ns_dir(NS) / "doc_corrpt.pdf"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00\x00garbage")
    assert cache.lookup(ref, NS) is None
    assert not path.exists()


def test_lru_eviction_removes_whole_artifacts_with_their_previews(tmp_path):
    cache = ArtifactCache(tmp_path, max_bytes=2500)
    now = time.time()
    made = []
    for i in range(3):
        ref = refs.DocumentRef(id=f"doc_lru00{i}").bind(session_id=NS.id)
        p = cache.ns_dir(NS) / f"{ref.id}.pdf"
        cache.store(
            p, [b"%PDF-1.4\n" + b"x" * 991], kind="document", expected_size=None, what=ref.id
        )
        preview = cache.preview_path(ref, "page1.png")
        preview.write_bytes(b"p" * 100)
        for f in (p, preview):
            os.utime(f, (now - 100 + i, now - 100 + i))  # doc_lru000 is the oldest
        made.append(ref)
    # records live in the folder's journal, which eviction compacts, never removes alone
    journal = cache.ns_dir(NS) / ".records"
    assert journal.read_text().count("\n") == 3
    assert cache.size() == 3 * 1100
    cache.lookup(made[0], NS)  # using the oldest makes it the newest
    removed = cache.evict()
    assert sorted(p.name for p in removed) == [
        "doc_lru001.pdf",
        "doc_lru001.preview.page1.png",
    ]
    assert cache.size() == 2 * 1100 and journal.exists()


def test_the_records_journal_is_compacted_when_eviction_leaves_it_mostly_stale(tmp_path):
    """Each download appends a line; eviction rewrites a large journal with the lines of
    the files still there, and those files still pass their checks in a fresh process."""
    data = b"%PDF-1.4\n" + b"x" * 991
    cache = ArtifactCache(tmp_path, max_bytes=10 * len(data))
    ids = [f"doc_c{i:05x}" for i in range(700)]  # ~100 B a line: past 64 KiB
    for oid in ids:
        dest = cache.ns_dir(NS) / f"{oid}.pdf"
        cache.store(dest, [data], kind="document", expected_size=None, what=oid)
    journal = cache.ns_dir(NS) / ".records"
    cache.evict()
    kept = sorted(p.name for p in cache.ns_dir(NS).glob("*.pdf"))
    assert 0 < len(kept) <= 10
    lines = journal.read_text().splitlines()
    assert sorted(line.split()[0] for line in lines) == kept  # nothing stale is left
    fresh = subprocess.run(
        [sys.executable, "-c", FRESH_LOOKUP, str(tmp_path), *kept],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert fresh.stdout.split() == ["intact-unhashed"] * len(kept)


FRESH_LOOKUP = r"""
import sys
from vlmrun_jupyter import _integrity, refs
from vlmrun_jupyter.cache import ArtifactCache
_integrity._hash_file = lambda p: "rehashed"  # served on its record's stamp, never hashed
cache = ArtifactCache(sys.argv[1])
ns = refs.Namespace("session", "sess-cache")
for name in sys.argv[2:]:
    ref = refs.DocumentRef(id=name.split(".")[0])
    print("intact-unhashed" if cache.lookup(ref, ns) is not None else "dropped")
"""


def test_url_targets_are_named_per_artifact_and_evicted_with_their_ref(tmp_path):
    assert url_file_name("https://h/x/photo.JPG?sig=1") == "photo.JPG.jpg"
    cache = ArtifactCache(tmp_path, max_bytes=10)
    ref = refs.UrlRef(id="url_lru001")
    dest = cache.url_dest(ref, NS, "https://h/x/report.pdf")
    cache.store(dest, [b"x" * 100], kind="url", expected_size=100, what=ref.id)
    cache.write_url_sidecar(ref, NS, "https://h/x/report.pdf")
    assert cache.lookup(ref, NS) == dest and dest.name == "url_lru001.report.pdf.pdf"
    cache.evict()
    assert _files(cache) == []


@pytest.mark.parametrize("name", ["../x", "a/b", ".png", ""])
def test_preview_names_cannot_escape(tmp_path, name):
    ref = refs.ImageRef(id="img_prev01").bind(session_id=NS.id)
    with pytest.raises(ValueError):
        ArtifactCache(tmp_path).preview_path(ref, name)


def test_one_download_when_many_threads_ask(tmp_path):
    cache = ArtifactCache(tmp_path)
    ref = refs.VideoRef(id="vid_once01")
    calls = []
    body = b"\x00\x00\x00\x18ftypmp42" + b"v" * 5000

    def download():
        calls.append(1)
        time.sleep(0.05)
        return cache.store(
            cache.ns_dir(NS) / "vid_once01.mp4",
            [body],
            kind="video",
            expected_size=len(body),
            what="v",
        )

    start = threading.Barrier(16)

    def ask():
        start.wait(timeout=30)  # all 16 ask at once
        return cache.get_or_fetch(ref, NS, download)

    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(ask) for _ in range(16)]
        results = [f.result(timeout=60) for f in futures]  # a worker's exception fails here
    assert len(results) == 16 and len(set(results)) == 1
    assert len(calls) == 1 and results[0].read_bytes() == body


def test_fetching_many_artifacts_keeps_no_lock_per_artifact(tmp_path):
    """A long session fetches a great many artifacts: the lock that makes each download
    happen once is gone when it is done (before, every key kept its lock for good)."""
    import tracemalloc

    cache = ArtifactCache(tmp_path)
    data = _png()

    def fetch(i: int) -> None:
        ref = refs.ImageRef(id=f"img_m{i:05d}")
        dest = cache.ns_dir(NS) / f"{ref.id}.png"
        store = lambda: cache.store(dest, [data], kind="image", expected_size=len(data), what="i")  # noqa: E731
        assert cache.get_or_fetch(ref, NS, store) == dest

    fetch(0)  # the lock file's descriptor, opened once per process
    tracemalloc.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(fetch, range(1, 401)))
        snap = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    held = snap.filter_traces([tracemalloc.Filter(True, _locks.__file__)])
    assert sum(s.size for s in held.statistics("filename")) < 2048
