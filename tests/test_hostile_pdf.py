"""Hostile PDFs (issue 14): pdfium runs in a worker process with a memory cap and a time
limit, so a page that would take a gigabyte and many seconds stops at the limit with a
card saying which one, while the kernel's memory stays flat; the worker comes back for
the next request. Bombs are built at test time (tests/pdfs.py, tests/hostile.py)."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import hostile
import pdfs
import pytest
from peak_rss import status

from vlmrun_jupyter.document import pdf
from vlmrun_jupyter.document.viewer import DocumentViewer

REPO = Path(__file__).resolve().parent.parent
BAR = 256 * 1024 * 1024
RECTS = next(c for c in hostile.cases(full=False) if c.object_id == "doc_rects3")


@pytest.fixture(scope="module")
def hostile_server():
    srv = hostile.HostileServer()
    yield srv
    srv.close()


def _text(card: str | None) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", card or "")).split())


def test_three_million_rectangles_stop_at_the_memory_limit(hostile_server, tmp_path):
    out = hostile.run_probe(REPO, hostile_server, RECTS, tmp_path / "cache")
    shown = _text(out["card"])
    assert out["peak"] is not None and out["peak"] < BAR, out
    assert out["seconds"] <= 10, out
    assert "Preview skipped: over a limit" in shown
    assert "the PDF render memory limit of 256 MiB (VLMRUN_PDF_MEMORY)" in shown
    assert "Raise it with VLMRUN_PDF_MEMORY=<bytes>, or open the file yourself" in shown
    # the artifact is kept whole, and its page count; no picture (nor a part of one)
    assert hostile.cache_files(tmp_path / "cache", "doc_rects3") == [
        "doc_rects3.pdf",
        "doc_rects3.preview.info.v1.json",
    ]


def test_with_memory_to_spare_the_time_limit_stops_it(hostile_server, tmp_path, monkeypatch):
    monkeypatch.setenv("VLMRUN_PDF_MEMORY", str(4 * 1024**3))
    monkeypatch.setenv("VLMRUN_PDF_SECONDS", "1.5")
    out = hostile.run_probe(REPO, hostile_server, RECTS, tmp_path / "cache")
    shown = _text(out["card"])
    assert "rendering page 1 took longer than the PDF render time limit of 1.5 s" in shown
    assert "(VLMRUN_PDF_SECONDS)" in shown and "VLMRUN_PDF_SECONDS=<seconds>" in shown
    assert out["peak"] < BAR and out["seconds"] <= 10, out


def _limits(pid: int) -> tuple[int, int]:
    """(address-space cap, current address-space size) of a process, in bytes."""
    import psutil

    return psutil.Process(pid).rlimit(psutil.RLIMIT_AS)[0], status("VmSize", pid)


def test_the_worker_can_grow_by_the_memory_limit_only(tmp_path):
    good = pdfs.numbered(tmp_path / "two.pdf", 2)
    pdf.Pages(good).info()
    pid = pdf.worker().pid
    assert pid is not None
    cap, size = _limits(pid)
    assert 200 * 2**20 < cap - size <= pdf.render_memory()


def test_the_viewer_shows_the_limit_and_the_next_document_still_renders(tmp_path):
    bomb = tmp_path / "rects.pdf"
    bomb.write_bytes(pdfs.rectangles())
    viewer = DocumentViewer.of(pdf.Pages(bomb))
    start = time.monotonic()
    reply, buffers = viewer.answer({"type": "page?", "index": 0, "edge": 900, "seq": 1})
    assert time.monotonic() - start <= 10
    assert reply["type"] == "error" and buffers == []
    assert "limit" in reply["message"] and "VLMRUN_PDF_" in reply["message"]
    reply, _ = viewer.answer({"type": "search?", "query": "x", "seq": 2})
    assert reply["hits"] == [] and reply["stopped"].startswith("page 1: reading the text")
    good = pdf.Pages(pdfs.numbered(tmp_path / "ok.pdf", 3))
    data, w, h = good.picture(2, 300)
    assert data[:2] == b"\xff\xd8" and max(w, h) == 384


def test_a_huge_media_box_is_a_normal_preview_with_a_bounded_bitmap(tmp_path):
    path = tmp_path / "huge.pdf"
    path.write_bytes(pdfs.huge_page(200_000))
    pages = pdf.Pages(path)
    assert pages.info().size(0) == (200_000.0, 200_000.0)
    start = time.monotonic()
    assert pages.image(0, 10**9).size == (pdf.MAX_EDGE, pdf.MAX_EDGE)
    assert time.monotonic() - start < 5


def test_page_and_pages_of_a_bomb_show_the_limit_card_and_load_raises_it(
    tmp_path, live_server, client
):
    from vlmrun_jupyter.errors import PreviewLimitError
    from vlmrun_jupyter.refs import DocumentRef

    bomb = tmp_path / "rects.pdf"
    bomb.write_bytes(pdfs.rectangles())
    sid, oid = live_server.add_artifact("doc", bomb)
    ref = DocumentRef(id=oid).bind(session_id=sid, client=client)
    page = ref.page(1)  # the count needs no page content
    for shown in (page, ref.pages(1, 1)):
        text = _text(shown._repr_mimebundle_()[0]["text/html"])
        assert "Preview skipped: over a limit" in text and "VLMRUN_PDF_" in text
    with pytest.raises(PreviewLimitError, match="rendering page 1"):
        page.load()
