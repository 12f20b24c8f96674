"""The cache's fast path: size accounting without listing the cache per download
(vlmrun_jupyter/_ledger.py) stays equal to what is on disk across threads, processes,
hand deletions and a replaced journal, the cap is still enforced; the per-artifact
cross-process lock (one byte of a shared lock file) still allows one download only."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from vlmrun_jupyter import _ledger, refs
from vlmrun_jupyter.cache import ArtifactCache

NS = refs.Namespace("session", "sess-ledger")
REPO = Path(__file__).resolve().parent.parent
PDF = b"%PDF-1.4\n"


def _doc(cache: ArtifactCache, i: int, size: int = 1000, ns: refs.Namespace = NS) -> Path:
    """Fetch a document of `size` bytes through get_or_fetch (stores, then fits the cap)."""
    ref = refs.DocumentRef(id=f"doc_l{i:05d}")
    dest = cache.ns_dir(ns) / f"{ref.id}.pdf"
    body = PDF + b"x" * (size - len(PDF))
    return cache.get_or_fetch(
        ref,
        ns,
        lambda: cache.store(dest, [body], kind="document", expected_size=size, what=ref.id),
    )


def _docs_from_another_process(cache_dir: Path, numbers: range) -> None:
    """Fetch documents `numbers` into the same cache from a separate Python process."""
    child = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(REPO / "tests")!r})
        from vlmrun_jupyter.cache import ArtifactCache
        from test_cache_ledger import _doc
        cache = ArtifactCache({str(cache_dir)!r}, max_bytes=10**9)
        for i in range({numbers.start}, {numbers.stop}):
            _doc(cache, i)
        """
    )
    subprocess.run([sys.executable, "-c", child], check=True, cwd=REPO)


def _fresh_ledger(cache_dir: Path) -> ArtifactCache:
    """A cache object as a new process would see it (no ledger in memory yet)."""
    _ledger._ledgers.pop(os.path.abspath(cache_dir), None)
    return ArtifactCache(cache_dir, max_bytes=10**9)


def test_the_count_matches_the_disk_after_downloads_and_previews(tmp_path):
    cache = ArtifactCache(tmp_path, max_bytes=10**9)
    for i in range(50):
        _doc(cache, i)
    ref = refs.DocumentRef(id="doc_l00003").bind(session_id=NS.id)
    preview = cache.preview_path(ref, "page1.png")
    preview.write_bytes(b"p" * 123)
    cache.note(preview)
    files = [f for f in cache.root.rglob("*") if f.is_file()]
    on_disk = sum(f.stat().st_size for f in files if f.name != ".records")
    assert cache._ledger.total() == cache.size() == on_disk >= 50 * 1000
    # the integrity journal is metadata, like the ledger itself: not counted toward the cap
    journal = [f for f in files if f.name == ".records"]
    assert len(journal) == 1 and journal[0].stat().st_size < 50 * 128


def test_another_process_writing_the_same_cache_is_counted_and_the_cap_holds(tmp_path):
    cache = ArtifactCache(tmp_path, max_bytes=10**9)
    for i in range(5):
        _doc(cache, i)
    _docs_from_another_process(tmp_path, range(100, 104))
    # This process never listed the directory again, yet knows about the child's files.
    nine = cache.size()
    assert cache._ledger.total() == nine and 9000 <= nine < 10_000
    cache.max_bytes = 10_000
    _doc(cache, 5)
    _doc(cache, 6)  # over the cap: evicts least recently used down to the low-water mark
    assert cache.size() <= 10_000
    assert len(list(cache.ns_dir(NS).glob("*.pdf"))) < 11
    assert cache._ledger.total() == cache.size()
    assert (cache.ns_dir(NS) / "doc_l00006.pdf").exists()


def test_without_pread_the_journals_are_still_read(tmp_path, monkeypatch):
    """Windows has no os.pread: the ledger and the integrity records read what another
    process appended with a seek and a read instead."""
    from vlmrun_jupyter import _integrity

    monkeypatch.delattr(os, "pread")
    cache = ArtifactCache(tmp_path, max_bytes=10**9)
    for i in range(3):
        _doc(cache, i)
    _docs_from_another_process(tmp_path, range(300, 303))
    assert cache._ledger.total() == cache.size() == 6000
    # what this process knows is forgotten: every file is vouched for by the journal
    monkeypatch.setattr(_integrity, "_folders", type(_integrity._folders)())
    monkeypatch.setattr(_integrity, "_verified", {})
    hashed: list[Path] = []
    monkeypatch.setattr(_integrity, "_hash_file", lambda p: hashed.append(p) or "")
    files = sorted(cache.ns_dir(NS).glob("*.pdf"))
    assert len(files) == 6 and all(_integrity.intact(p, "document") for p in files)
    assert hashed == []


def test_the_check_after_a_download_sees_other_processes_within_a_second(tmp_path, monkeypatch):
    """After a download the cap is checked from memory while this process's own additions
    keep it under; what other processes added is read at least every SYNC_EVERY_S."""
    monkeypatch.setattr(_ledger, "SYNC_EVERY_S", 0.2)
    cache = ArtifactCache(tmp_path, max_bytes=10**9)
    _doc(cache, 1)
    cache._ledger.total()
    _docs_from_another_process(tmp_path, range(200, 206))
    cache.max_bytes = 5_500  # 1 file here + 6 from the child + the next one: over
    time.sleep(0.25)
    _doc(cache, 2)
    assert cache.size() <= 5_500
    assert (cache.ns_dir(NS) / "doc_l00002.pdf").exists()  # the new one is kept


def test_files_deleted_by_hand_are_not_counted_forever(tmp_path):
    cache = ArtifactCache(tmp_path, max_bytes=10**9)
    paths = [_doc(cache, i) for i in range(5)]
    five = cache.size()
    for p in paths[:3]:
        p.unlink()  # by hand: the journal does not know
    assert cache._ledger.total() == five  # over-estimates until it next needs to know
    cache.max_bytes = five + 500
    _doc(cache, 10)  # the count says over the cap; the listing says far under: no eviction
    assert sorted(p.name for p in cache.ns_dir(NS).glob("*.pdf")) == [
        "doc_l00003.pdf",
        "doc_l00004.pdf",
        "doc_l00010.pdf",
    ]
    assert cache._ledger.total() == cache.size() < five


def test_a_redownload_after_a_hand_deletion_is_not_counted_twice(tmp_path):
    cache = ArtifactCache(tmp_path, max_bytes=10**9)
    path = _doc(cache, 1)
    one = cache.size()
    path.unlink()
    _doc(cache, 1)
    assert cache._ledger.total() == cache.size() == one


def test_a_new_process_starts_from_the_disk_and_a_replaced_journal_is_noticed(
    tmp_path, monkeypatch
):
    first = ArtifactCache(tmp_path, max_bytes=10**9)
    for i in range(3):
        _doc(first, i)
    second = _fresh_ledger(tmp_path)
    assert second._ledger is not first._ledger
    assert second._ledger.total() == first.size() >= 3000
    # A rescan with a large journal replaces it; the other ledger notices and recounts.
    monkeypatch.setattr(_ledger, "JOURNAL_MAX", 10)
    second.evict()
    for i in range(3, 5):
        _doc(second, i)
    assert first._ledger.total() == second._ledger.total() == first.size() >= 5000


def test_clear_and_explicit_evict_leave_the_count_right(tmp_path):
    cache = ArtifactCache(tmp_path, max_bytes=2800)
    for i in range(2):
        _doc(cache, i)
    cache.clear()
    assert cache._ledger.total() == cache.size() == 0
    for i in range(4):
        _doc(cache, i)
    assert cache.size() <= 2800
    assert cache._ledger.total() == cache.size()


RACER = """
import sys, time
from pathlib import Path
from vlmrun_jupyter import refs
from vlmrun_jupyter.cache import ArtifactCache
cache_dir, log, start = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
cache = ArtifactCache(cache_dir, max_bytes=10**9)
ns = refs.Namespace("session", "sess-ledger")
ref = refs.DocumentRef(id="doc_race01")
body = b"%PDF-1.4\\n" + b"r" * 5000

def download():
    with open(log, "a") as f:
        f.write("downloaded\\n")
    time.sleep(0.5)
    dest = cache.ns_dir(ns) / "doc_race01.pdf"
    return cache.store(dest, [body], kind="document", expected_size=len(body), what=ref.id)

time.sleep(max(0.0, start - time.time()))
print(cache.get_or_fetch(ref, ns, download).stat().st_size)
"""


def test_one_download_when_several_processes_ask_at_once(tmp_path):
    log = tmp_path / "downloads.log"
    start = time.time() + 1.5  # all three import first, then ask together
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path / "c"), str(log), str(start)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    sizes = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    assert sizes == ["5009"] * 3
    assert log.read_text().splitlines() == ["downloaded"]
