"""client.map / map_items: batches against the real LocalServer with injected faults.

What issue 18 asks: 500 items with 10% injected 500s and some 429s end with every item
done or its error recorded and no item sent again after its success; a second run sends
nothing; an interrupted run resumes; the table of 10,000 rows fits the inline budget;
a Dask LocalCluster of worker processes gives the local run's results.
"""

from __future__ import annotations

import io
import pickle
import threading
import time
import tracemalloc
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image
from pydantic import BaseModel

from vlmrun_jupyter.batch import BatchResult, BatchState, map_items
from vlmrun_jupyter.batch.result import Row
from vlmrun_jupyter.refs import ImageRef

COMPLETIONS = "/v1/openai/chat/completions"
MODEL = "vlmrun-orion-1:auto"


class Gray(BaseModel):
    image: ImageRef


def _images(n: int, size: int = 8) -> list[Image.Image]:
    """n distinct tiny images (each its own content key)."""
    return [Image.new("RGB", (size, size), (i % 256, i // 256 % 256, 7)) for i in range(n)]


def _run(client, items, prompt="Make {{ item }} grayscale", **kw):
    kw.setdefault("model", MODEL)
    kw.setdefault("progress", False)
    return map_items(client, prompt, items, **kw)


def _item_url(request) -> str | None:
    """The data URL of the one media part a batch request carries (names the item)."""
    try:
        for part in request.json["messages"][-1]["content"]:
            if part["type"] != "text":
                return part[part["type"]]["url"]
    except (KeyError, TypeError, IndexError):
        return None
    return None


def _sends_by_item(server) -> dict[str, list[int | None]]:
    out: dict[str, list[int | None]] = defaultdict(list)
    for r in server.requests:
        if r.path == COMPLETIONS:
            out[_item_url(r)].append(r.status)
    return out


def test_500_items_with_500s_and_429s_end_done_or_recorded_and_never_resent(live_server, client):
    items = _images(500)
    live_server.inject("status", status=429, retry_after=0.2, times=12, probability=0.03,
                       path=COMPLETIONS)  # fmt: skip
    live_server.inject("status", status=500, times=None, probability=0.1, path=COMPLETIONS)
    states: list[BatchState] = []
    batch = _run(client, items, progress=states.append, update_every=0)
    live_server.clear_faults()

    assert len(batch) == 500
    counts = batch.counts
    assert counts["pending"] == 0 and counts["done"] + counts["failed"] == 500
    assert counts["done"] >= 495  # a 10% fault survives 5 attempts with p = 1e-5
    for row in batch.errors:
        assert row.error.type and row.error.message
    final = states[-1]
    assert final.finished and final.retries >= 20

    # A faulted answer is sent before the server reads the body, so only successes
    # name their item: each item succeeded at most once, and every other request is one
    # the schedule counted as a retry, a throttle or an item's final failure.
    sends = _sends_by_item(live_server)
    faulted = sends.pop(None, [])
    assert set(faulted) <= {429, 500}
    assert len(sends) == counts["done"]
    assert all(s.count(200) == 1 and s[-1] == 200 for s in sends.values())
    others = sum(len(s) - 1 for s in sends.values())  # real server errors before a success
    assert len(faulted) + others == final.retries + final.throttled + counts["failed"]
    assert faulted.count(429) == final.throttled >= 1

    # The same cell again: everything comes from the journal.
    live_server.reset_requests()
    lines: list[str] = []
    again = _run(client, items, progress=lambda s: lines.append(s.line()))
    assert live_server.count(COMPLETIONS) == 0
    assert again.counts == counts
    assert lines[0].startswith(f"500 items: {counts['done']} done")
    assert [r.result for r in again][:3] == [r.result for r in batch][:3]


def test_interrupted_run_resumes_and_sends_each_item_once(live_server, client):
    items = _images(60)
    live_server.inject("latency", seconds=0.05, times=None, path=COMPLETIONS)

    def stop(state: BatchState) -> None:
        if state.done >= 20 and not state.interrupted:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(client, items, progress=stop, update_every=0, max_concurrency=4)
    first = live_server.count(COMPLETIONS)
    assert 20 <= first < 60

    lines: list[str] = []
    batch = _run(client, items, progress=lambda s: lines.append(s.line()), max_concurrency=4)
    assert batch.counts["done"] == 60
    assert live_server.count(COMPLETIONS) == 60  # each item sent once over both runs
    assert lines[0] == f"60 items: {first} done, {60 - first} to go"
    assert all(s == [200] for s in _sends_by_item(live_server).values())


class RecordingPool(ThreadPoolExecutor):
    """A thread pool that notes when tasks are submitted and when a 429 comes back."""

    def __init__(self, width: int) -> None:
        super().__init__(width)
        self.submits: list[float] = []
        self.throttled: list[float] = []

    def submit(self, fn, /, *args, **kwargs):
        self.submits.append(time.monotonic())
        fut = super().submit(fn, *args, **kwargs)

        def seen(f):
            if f.result().get("retry") == "throttle":
                self.throttled.append(time.monotonic())

        fut.add_done_callback(seen)
        return fut


def test_429_pauses_every_submission_until_retry_after(live_server, client):
    live_server.inject("status", status=429, retry_after=1, times=1, path=COMPLETIONS)
    known: list[float] = []  # when the runner had taken the 429 in (it reports right after)

    def progress(state: BatchState) -> None:
        if state.throttled and not known:
            known.append(time.monotonic())

    with RecordingPool(4) as pool:
        batch = _run(
            client, _images(24), max_concurrency=4, executor=pool, progress=progress, update_every=0
        )
    assert batch.counts["done"] == 24
    assert live_server.count(COMPLETIONS) == 25
    [t429] = pool.throttled
    [seen] = known
    # once the runner knows, nothing new goes out until the Retry-After second has passed
    # from the 429 (a loaded machine may delay the runner itself: the window starts then)
    assert seen - t429 < 0.9, "the runner took the 429 in too late for the check to mean much"
    assert [t for t in pool.submits if seen < t < t429 + 0.95] == []
    assert any(t >= t429 + 1 for t in pool.submits)


def test_errors_are_recorded_not_fatal_and_retry_failed_sends_only_them(live_server, client):
    items = _images(12)
    live_server.inject("status", status=400, times=3, path=COMPLETIONS)  # not retryable
    batch = _run(client, items, max_concurrency=1)
    assert batch.counts == {"done": 9, "failed": 3, "pending": 0}
    assert [e.error.status for e in batch.errors] == [400, 400, 400]
    assert batch.errors[0].result is None
    assert [r.index for r in batch.errors] == [0, 1, 2]
    live_server.reset_requests()
    again = _run(client, items)
    assert live_server.count(COMPLETIONS) == 0 and again.counts["failed"] == 3
    fixed = batch.retry_failed()
    assert live_server.count(COMPLETIONS) == 3
    assert fixed.counts == {"done": 12, "failed": 0, "pending": 0}


def test_journal_records_older_than_max_age_are_sent_again(live_server, client):
    items = _images(5)
    _run(client, items)
    live_server.reset_requests()
    assert _run(client, items, max_age=3600).counts["done"] == 5
    assert live_server.count(COMPLETIONS) == 0
    assert _run(client, items, max_age=0).counts["done"] == 5  # artifacts expired: resend
    assert live_server.count(COMPLETIONS) == 5


def test_agent_executions_per_item(live_server, client):
    batch = _run(client, _images(3, size=16), prompt="Make it grayscale", schema=Gray,
                 agent="image/grayscale", input_name="image")  # fmt: skip
    assert batch.counts["done"] == 3
    assert live_server.count("/v1/agent/execute") == 3
    first = batch[0]
    assert first.namespace.kind == "execution"
    assert first.result.image.load().size == (16, 16)


def test_results_are_typed_bound_and_fetchable(live_server, client, tmp_path):
    items = _images(6, size=16)
    batch = _run(client, items, prompt="Make {{ item }} grayscale", schema=Gray)
    assert all(isinstance(r, Gray) for r in batch.results)
    paths = batch.fetch_all()
    assert len(paths) == 6 and all(p.exists() for p in paths)
    assert batch.results[0].image.load().size == (16, 16)
    # input order, whatever order they finished in
    assert [r.index for r in batch] == list(range(6))
    assert batch[2].item is items[2]
    restored = pickle.loads(pickle.dumps(batch))
    assert restored.counts == batch.counts and restored._client is None
    # typed results and their refs travel too (a ref leaves its client behind)
    results = pickle.loads(pickle.dumps(batch.results))
    assert [r.image.id for r in results] == [r.image.id for r in batch.results]
    assert results[0].image.namespace == batch.results[0].image.namespace
    assert results[0].image._client is None and batch.results[0].image._client is client


def test_same_content_is_sent_once_and_labels_follow_the_input(live_server, client, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, im in enumerate(_images(4)):
        im.save(folder / f"p{i}.png")
    (folder / "notes.txt").write_text("not media")
    (folder / "dup.png").write_bytes((folder / "p1.png").read_bytes())
    batch = _run(client, folder)
    assert [r.label for r in batch] == ["dup.png", "p0.png", "p1.png", "p2.png", "p3.png"]
    assert live_server.count(COMPLETIONS) == 4  # dup.png has p1.png's bytes
    assert batch.counts["done"] == 5

    pd = pytest.importorskip("pandas")
    series = pd.Series([str(p) for p in sorted(folder.glob("p*.png"))], index=list("abcd"))
    live_server.reset_requests()
    batch = _run(client, series)
    assert [r.label for r in batch] == list("abcd")
    assert live_server.count(COMPLETIONS) == 0  # same bytes as the folder run: journaled


def test_to_pandas_keeps_refs_and_renders_thumbnails(live_server, client):
    pytest.importorskip("pandas")
    batch = _run(client, _images(5, size=24), prompt="Make {{ item }} grayscale", schema=Gray)
    df = batch.to_pandas()
    assert list(df.columns) == ["input", "image", "error"]
    assert isinstance(df["image"].iloc[0], ImageRef)
    html = df._repr_html_()
    assert html.count("<img") == 10  # 5 inputs + 5 results
    assert "data:image/jpeg;base64," in html
    assert type(df[df.error.isna()]).__name__ == "BatchFrame"


def test_table_of_10000_rows_stays_within_the_inline_budget(live_server, client):
    from vlmrun_jupyter.display.budget import inline_budget

    small = _run(client, _images(8, size=32), prompt="Make {{ item }} grayscale", schema=Gray)
    rows = [
        Row(i, f"photo-{i}.jpg", small[i % 8].item, small._rows[i % 8].key) for i in range(10_000)
    ]
    rows[5] = Row(5, "<b>bad</b>", small[5].item, "missing")  # a pending row, hostile label
    big = BatchResult(rows, small._records, schema=Gray, client=client)
    bundle = big._repr_mimebundle_()
    size = sum(len(v.encode()) for v in bundle.values())
    assert size < inline_budget() == 2 * 1024 * 1024
    html = bundle["text/html"]
    assert "of 10,000" in html and "page 1/500" in html
    assert html.count("<tr>") == 21  # header + one page
    assert "<b>bad</b>" not in html and "&lt;b&gt;bad&lt;/b&gt;" in html
    last = big.page(500)._repr_mimebundle_()["text/html"]
    assert "rows 9981\u201310000 of 10,000" in last


class CountingPool(ThreadPoolExecutor):
    """A thread pool that notes the most tasks it ever had outstanding."""

    def __init__(self, width: int) -> None:
        super().__init__(width)
        self.outstanding = 0
        self.most = 0
        self._count_lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs):
        with self._count_lock:
            self.outstanding += 1
            self.most = max(self.most, self.outstanding)

        def counted():
            # Count the task as finished inside it, before its future is resolved: a
            # done-callback runs after wait() has already woken the runner, which may
            # then submit the next task while this one still counts as outstanding.
            try:
                return fn(*args, **kwargs)
            finally:
                with self._count_lock:
                    self.outstanding -= 1

        return super().submit(counted)


def _held_by_batch(client, items, width: int) -> tuple[int, int]:
    """Bytes allocated in vlmrun_jupyter/batch/ and still alive when a run ends (before
    its BatchResult is made), and the most tasks it had in flight."""
    held: list[int] = []

    def at_close(state: BatchState) -> None:
        if state.finished:
            snap = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(True, "*/vlmrun_jupyter/batch/*")]
            )
            held.append(sum(s.size for s in snap.statistics("filename")))

    with CountingPool(width) as pool:
        tracemalloc.start(1)
        try:
            batch = _run(client, items, max_concurrency=width, executor=pool, progress=at_close)
        finally:
            tracemalloc.stop()
    assert batch.counts["done"] == len(items)
    return held[-1], pool.most


def test_working_memory_does_not_grow_with_the_number_of_items(live_server, client):
    """Answers go to the journal on disk, keys and the journal's index to a scratch
    database on disk (batch/store.py), and items are taken as slots free up: what a run
    still holds when it ends is one byte per item (send it or not), not keys (33 bytes
    an item before), rows, tasks or records (~1 KB an item before that)."""
    small, most_small = _held_by_batch(client, _images(60, size=4), width=4)
    large, most_large = _held_by_batch(client, _images(360, size=5), width=4)
    assert most_small <= 4 and most_large <= 4  # never more than the window in flight
    assert large - small < 300 * 4, (small, large)  # < 4 bytes per extra item


def test_dask_local_cluster_matches_the_local_run(live_server, client, tmp_path):
    distributed = pytest.importorskip("distributed")
    items = _images(16, size=16)
    local = _run(client, items, prompt="Make {{ item }} grayscale", schema=Gray, journal=False)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=50,
        ) as cluster,
        distributed.Client(cluster) as dask,
    ):
        remote = _run(
            client,
            items,
            prompt="Make {{ item }} grayscale",
            schema=Gray,
            journal=False,
            executor=dask.get_executor(),
        )
        workers = {
            w["host"] if isinstance(w, dict) else w
            for w in dask.scheduler_info()["workers"].values()
        }
    assert len(workers) >= 1
    assert remote.counts == local.counts == {"done": 16, "failed": 0, "pending": 0}
    for a, b in zip(local, remote, strict=True):
        assert a.label == b.label
        assert np.array_equal(np.asarray(a.result.image.load()), np.asarray(b.result.image.load()))
    assert live_server.count(COMPLETIONS) == 32


def test_progress_line_and_text_output():
    state = BatchState(total=1000, cached=812)
    assert state.line() == "1000 items: 812 done, 188 to go"
    state.done, state.failed = 100, 3
    assert "915/1000" in state.line() and "3 failed" in state.line()
    buf = io.StringIO()
    from vlmrun_jupyter.batch import TextProgress

    p = TextProgress(buf, every=0)
    p.update(state)
    state.finished = True
    p.close(state)
    assert buf.getvalue().count("\n") == 2


def test_notebook_progress_is_throttled(monkeypatch):
    """10,000 updates in a burst become one display and one final update."""
    import IPython.display

    from vlmrun_jupyter.display.batch import NotebookProgress

    sent: list[dict] = []

    class Handle:
        def update(self, bundle, raw=False):
            sent.append(bundle)

    def fake_display(bundle, raw=False, display_id=None):
        sent.append(bundle)
        return Handle()

    monkeypatch.setattr(IPython.display, "display", fake_display)
    progress = NotebookProgress(min_interval=60)
    state = BatchState(total=10_000)
    for i in range(10_000):
        state.done = i + 1
        progress.update(state)
    state.finished = True
    progress.close(state)
    assert len(sent) == 2
    assert "10000/10000" in sent[-1]["text/plain"]
    assert 'value="1.000"' in sent[-1]["text/html"]


def test_magic_over_a_list_a_series_and_a_folder(ip, live_server, monkeypatch, tmp_path):
    from vlmrun_jupyter.session import set_default_client

    monkeypatch.setenv("VLMRUN_API_KEY", live_server.api_key)
    monkeypatch.setenv("VLMRUN_BASE_URL", live_server.base_url)
    monkeypatch.setenv("VLMRUN_CACHE_DIR", str(tmp_path / "cache"))
    set_default_client(None)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, im in enumerate(_images(3, size=16)):
        im.save(folder / f"p{i}.png")
    ip.user_ns.update(photos=_images(4, size=16), Gray=Gray, style="grayscale", folder=folder)
    try:
        ip.run_cell("import pandas as pd; df = pd.DataFrame({'image': photos}, index=list('wxyz'))")
        result = ip.run_cell(
            "%%vlmrun --over photos --schema Gray -o gray\nMake {{ item }} {{ style }}"
        )
        result.raise_error()
        batch = ip.user_ns["gray"]
        assert isinstance(batch, BatchResult) and batch.counts["done"] == 4
        assert ip.user_ns["_vlmrun"] is batch
        sent = [r.json for r in live_server.requests if r.path == COMPLETIONS]
        assert sent[0]["messages"][-1]["content"][0]["text"] == "Make the attached image grayscale"

        live_server.reset_requests()
        again = ip.run_cell("%vlmrun --over df.image --schema Gray 'Make {{ item }} grayscale'")
        again.raise_error()
        assert [r.label for r in again.result] == list("wxyz")
        assert live_server.count(COMPLETIONS) == 0  # same pixels as the list: journaled

        by_path = ip.run_cell(f"%vlmrun --over {folder} 'Make {{{{ item }}}} grayscale'")
        by_path.raise_error()
        assert [r.label for r in by_path.result] == ["p0.png", "p1.png", "p2.png"]

        missing = ip.run_cell("%vlmrun --over nothing_here 'Make {{ item }} grayscale'")
        assert "no such variable or folder" in str(missing.error_in_exec)
    finally:
        set_default_client(None)
