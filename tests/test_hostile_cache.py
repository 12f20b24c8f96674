"""Cache integrity under damage and pressure (issue 14, item 4).

A truncated or swapped file is refused by its recorded size and hash and fetched again;
a temp file left by a download killed with SIGKILL is reclaimed; two `url_` artifacts
whose targets share a file name get two files; `fetch_all` near the size cap returns
only paths that exist; the per-artifact cap and the one total deadline hold.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from collections import OrderedDict

import pytest
from PIL import Image

from vlmrun_jupyter import _integrity, refs
from vlmrun_jupyter._files import write_atomic
from vlmrun_jupyter.cache import ArtifactCache
from vlmrun_jupyter.client import Client
from vlmrun_jupyter.errors import LimitError, VlmRunTimeoutError

NS = refs.Namespace("session", "sess-integ")


def _png(seed: int = 0, edge: int = 64) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise((edge, edge), 40 + seed).convert("RGB").save(buf, "PNG")
    return buf.getvalue()


def _forget(monkeypatch) -> None:
    """As another process: no file verified and no records read yet."""
    monkeypatch.setattr(_integrity, "_verified", {})
    monkeypatch.setattr(_integrity, "_folders", OrderedDict())


def _stored(cache: ArtifactCache, oid: str, data: bytes):
    ref = refs.ImageRef(id=oid)
    dest = cache.ns_dir(NS) / f"{oid}.png"
    cache.store(dest, [data], kind="image", expected_size=len(data), what=oid)
    return ref, dest


def test_a_truncated_file_fails_its_recorded_size_and_is_dropped(tmp_path):
    cache = ArtifactCache(tmp_path)
    ref, dest = _stored(cache, "img_trunc1", _png())
    assert cache.lookup(ref, NS) == dest
    with open(dest, "r+b") as f:
        f.truncate(dest.stat().st_size // 2)  # the header still looks right
    fresh = ArtifactCache(tmp_path)  # another process: nothing verified yet
    assert fresh.lookup(ref, NS) is None and not dest.exists()


def test_a_swapped_file_fails_its_hash_and_is_dropped(tmp_path):
    cache = ArtifactCache(tmp_path)
    ref, dest = _stored(cache, "img_swap01", _png(1))
    data = bytearray(dest.read_bytes())
    data[-20] ^= 0xFF  # same size, same header, different bytes
    tmp = dest.with_name("x.tmp")
    tmp.write_bytes(bytes(data))
    os.replace(tmp, dest)
    assert cache.lookup(ref, NS) is None and not dest.exists()


def test_a_file_rewritten_in_place_fails_its_hash_in_a_fresh_process(tmp_path, monkeypatch):
    """Same inode, same size, same header: only the content (and so the mtime) changed."""
    cache = ArtifactCache(tmp_path)
    ref, dest = _stored(cache, "img_rewr01", _png(2))
    data = bytearray(dest.read_bytes())
    data[-20] ^= 0xFF
    time.sleep(0.05)  # past the file system's timestamp granularity
    with open(dest, "r+b") as f:
        f.write(bytes(data))
    _forget(monkeypatch)
    assert cache.lookup(ref, NS) is None and not dest.exists()


def test_a_fresh_process_serves_the_file_it_recorded_without_hashing_it(tmp_path, monkeypatch):
    """A warm display after a kernel restart must not read a large artifact: the record's
    stamp (mtime, inode of the file hashed while it was written) vouches for it, and the
    LRU touch keeps that stamp (it moves the access time only)."""
    cache = ArtifactCache(tmp_path)
    ref, dest = _stored(cache, "img_warm01", _png(3))
    mtime, atime = dest.stat().st_mtime_ns, dest.stat().st_atime_ns
    _forget(monkeypatch)
    hashed: list = []
    monkeypatch.setattr(_integrity, "_hash_file", lambda p: hashed.append(p) or "")
    time.sleep(0.05)
    assert cache.lookup(ref, NS) == dest and cache.lookup(ref, NS) == dest
    assert hashed == [] and dest.stat().st_mtime_ns == mtime
    assert dest.stat().st_atime_ns > atime  # used: the LRU sees it


def test_record_files_of_an_earlier_version_still_count(tmp_path):
    """Earlier versions kept each record in `<file>.sha256`: a cache they filled still
    serves what matches its record and fetches again what does not."""
    cache = ArtifactCache(tmp_path)
    folder = cache.ns_dir(NS)
    folder.mkdir(parents=True)
    data = _png(5)
    for oid, digest in (("img_old001", hashlib.sha256(data)), ("img_old002", hashlib.sha256())):
        (folder / f"{oid}.png").write_bytes(data)
        (folder / f"{oid}.png.sha256").write_text(f"{len(data)} {digest.hexdigest()}\n")
    assert cache.lookup(refs.ImageRef(id="img_old001"), NS) == folder / "img_old001.png"
    assert cache.lookup(refs.ImageRef(id="img_old002"), NS) is None
    assert sorted(p.name for p in folder.iterdir()) == ["img_old001.png", "img_old001.png.sha256"]


RECORDING_WRITER = r"""
import io, sys
from concurrent.futures import ThreadPoolExecutor
from PIL import Image
from vlmrun_jupyter.cache import ArtifactCache
cache = ArtifactCache(sys.argv[1])
folder = cache.root / "sess-integ"
def store(i):
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (i % 256, i // 256, 7)).save(buf, "PNG")
    data = buf.getvalue()
    cache.store(folder / f"img_r{i:05x}.png", [data], kind="image", expected_size=len(data),
                what=str(i))
with ThreadPoolExecutor(8) as pool:
    list(pool.map(store, range(int(sys.argv[2]), int(sys.argv[3]))))
"""


def test_records_appended_by_many_writers_at_once_all_vouch_for_their_files(tmp_path, monkeypatch):
    """Two processes of 8 threads each append to one folder's journal at once: every
    line arrives whole, so a fresh process serves all 600 files on their records,
    hashing none of them."""
    writers = [
        subprocess.Popen([sys.executable, "-c", RECORDING_WRITER, str(tmp_path), str(a), str(b)])
        for a, b in ((0, 300), (300, 600))
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    _forget(monkeypatch)
    hashed: list = []
    monkeypatch.setattr(_integrity, "_hash_file", lambda p: hashed.append(p) or "")
    cache = ArtifactCache(tmp_path)
    found = [cache.lookup(refs.ImageRef(id=f"img_r{i:05x}"), NS) for i in range(600)]
    assert all(found) and hashed == []
    journal = cache.ns_dir(NS) / ".records"
    assert len(journal.read_text().splitlines()) == 600


def test_a_journal_replaced_by_another_process_gets_the_next_records(tmp_path, monkeypatch):
    """Another process compacting the journal leaves this one appending to the old file
    for at most `REOPEN_S`; downloads after that are recorded in the new one."""
    cache = ArtifactCache(tmp_path)
    _stored(cache, "img_repl01", _png(6))
    journal = cache.ns_dir(NS) / ".records"
    write_atomic(journal, b"")  # what a compaction elsewhere does
    time.sleep(_integrity.REOPEN_S + 0.1)
    _, dest = _stored(cache, "img_repl02", _png(7))
    assert journal.read_text().split()[0] == "img_repl02.png"
    _forget(monkeypatch)
    hashed: list = []
    monkeypatch.setattr(_integrity, "_hash_file", lambda p: hashed.append(p) or "")
    assert cache.lookup(refs.ImageRef(id="img_repl02"), NS) == dest and hashed == []


KILLED_WRITER = r"""
import sys, time
from pathlib import Path
from vlmrun_jupyter.cache import ArtifactCache

def chunks():
    yield b"\x89PNG\r\n\x1a\n" + b"x" * 1000
    print("writing", flush=True)
    time.sleep(60)
    yield b"never"

cache = ArtifactCache(sys.argv[1])
cache.store(Path(sys.argv[2]), chunks(), kind="image", expected_size=None, what="img_killed")
"""


def test_a_temp_file_of_a_killed_download_is_reclaimed(tmp_path):
    dest = tmp_path / "artifacts" / NS.id / "img_killed.png"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path), str(dest)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    temps = [p for p in dest.parent.iterdir() if p.name.startswith(".tmp-")]
    assert len(temps) == 1 and str(proc.pid) in temps[0].name
    ArtifactCache(tmp_path).evict()  # any listing of the cache reclaims it
    assert [p for p in dest.parent.iterdir() if p.name.startswith(".tmp-")] == []


def test_url_targets_with_the_same_file_name_get_their_own_files(tmp_path):
    cache = ArtifactCache(tmp_path)
    a, b = refs.UrlRef(id="url_same01"), refs.UrlRef(id="url_same02")
    da = cache.url_dest(a, NS, "https://one.example/x/photo.png")
    db = cache.url_dest(b, NS, "https://two.example/y/photo.png")
    assert da != db
    cache.store(da, [b"one"], kind="url", expected_size=3, what=a.id)
    cache.write_url_sidecar(a, NS, "https://one.example/x/photo.png")
    cache.store(db, [b"two"], kind="url", expected_size=3, what=b.id)
    cache.write_url_sidecar(b, NS, "https://two.example/y/photo.png")
    assert cache.lookup(a, NS).read_bytes() == b"one"
    assert cache.lookup(b, NS).read_bytes() == b"two"


def test_the_per_artifact_cap_refuses_and_keeps_nothing(tmp_path):
    cache = ArtifactCache(tmp_path, max_artifact_bytes=1000)
    dest = cache.ns_dir(NS) / "img_toobig.png"
    with pytest.raises(LimitError, match="per-artifact limit"):
        cache.store(
            dest, [b"\x89PNG\r\n\x1a\n", b"\0" * 2000], kind="image", expected_size=None, what="x"
        )
    assert list(dest.parent.iterdir()) == []


def test_fetch_all_near_the_cap_returns_only_paths_that_exist(live_server, tmp_path):
    made = [
        live_server.add_artifact("img", _png(i, 96), content_type="image/png") for i in range(6)
    ]
    size = len(_png(0, 96))
    client = Client(
        api_key=live_server.api_key,
        base_url=live_server.base_url,
        cache_dir=tmp_path / "cache",
    )
    client.cache.max_bytes = int(size * 2.5)  # the working set is 6 files
    ref_list = [refs.make_ref(oid).bind(session_id=sid) for sid, oid in made]
    paths = client.fetch_all(ref_list, max_workers=3)
    assert all(p.exists() for p in paths)
    client.close()


def test_one_deadline_for_a_whole_fetch_against_a_trickling_server(live_server, tmp_path):
    sid, oid = live_server.add_artifact("img", _png(0, 256), content_type="image/png")
    live_server.inject("slow_body", seconds=0.3, times=None)
    client = Client(
        api_key=live_server.api_key,
        base_url=live_server.base_url,
        cache_dir=tmp_path / "cache",
        timeout=5.0,  # each read arrives well within it
        deadline=0.5,
    )
    try:
        with pytest.raises(VlmRunTimeoutError, match="deadline") as info:
            client.fetch(refs.make_ref(oid).bind(session_id=sid))
        assert info.value.elapsed is not None and info.value.elapsed >= 0.45
        assert "VLMRUN_DEADLINE" in str(info.value)
    finally:
        live_server.clear_faults()
        client.close()
    assert not any((tmp_path / "cache").rglob(f"{oid}*"))


def test_a_deadline_is_not_a_wall_clock_guess():
    # the budget's arithmetic, without sleeping long
    from vlmrun_jupyter.client._retry import Deadline

    d = Deadline(0.05, "x")
    assert 0 < d.read_timeout(10.0) <= 0.05
    time.sleep(0.06)
    with pytest.raises(VlmRunTimeoutError, match="past the 0.05 s deadline for x"):
        d.check("GET /x")
