"""Every page of a PDF: `ref.page(n)` / `ref.pages(a, b)` in Python, and the document
viewer's request/response protocol (what the browser asks, what the kernel sends back),
against the live local server. The 60-page PDF is written at test time (pdfs.py), each
page with its number in big text and a band whose colour depends on the number."""

from __future__ import annotations

import base64
import html
import io
import re

import pdfs
import pytest
from PIL import Image

from vlmrun_jupyter.document import pdf
from vlmrun_jupyter.document.viewer import DocumentViewer
from vlmrun_jupyter.refs import DocumentRef


def band(n: int) -> tuple[int, int, int]:
    """The colour of page n's band (see pdfs.numbered)."""
    return (n * 37 % 255, n * 91 % 255, n * 53 % 255)


def band_of(im: Image.Image) -> tuple[int, ...]:
    """The colour at the middle of the band (12% down the page)."""
    w, h = im.size
    return im.convert("RGB").getpixel((w // 2, int(h * (1 - 700 / 792))))


def near(a: tuple[int, ...], b: tuple[int, ...], tol: int = 12) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def sixty(tmp_path_factory):
    return pdfs.numbered(tmp_path_factory.mktemp("pdf") / "sixty.pdf", 60, title="Sixty pages")


@pytest.fixture()
def doc(live_server, client, sixty):
    sid, oid = live_server.add_artifact("doc", sixty)
    return DocumentRef(id=oid).bind(session_id=sid, client=client)


def test_page_40_displays_loads_and_reads_as_page_40(doc):
    page = doc.page(40)
    assert repr(page) == f"<page 40 of 60 of DocumentRef {doc.id}>"
    data, meta = page._repr_mimebundle_()
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", data["text/html"])).split())
    assert "page 40 of 60" in text and 'alt="page 40"' in data["text/html"]
    shown = Image.open(io.BytesIO(base64.b64decode(data["image/jpeg"])))
    assert near(band_of(shown), band(40)) and not near(band_of(shown), band(39))
    assert meta["image/jpeg"]["width"] == shown.width
    im = page.load(dpi=72)  # 1 pixel a point: the page's own size
    assert im.size == (612, 792) and near(band_of(im), band(40))
    assert page.load(dpi=144).size == (1224, 1584)
    assert "This is page 40 of 60." in page.text()


def test_out_of_range_pages_say_how_many_there_are(doc):
    for bad in (0, 61, -1):
        with pytest.raises(
            IndexError, match=r"out of range: the document has 60 pages \(1 to 60\)"
        ):
            doc.page(bad)
    with pytest.raises(pdf.PageRangeError, match="an int"):
        doc.page("3")  # type: ignore[arg-type]
    with pytest.raises(IndexError, match="before it starts"):
        doc.pages(5, 3)
    with pytest.raises(IndexError, match="page 70 is out of range"):
        doc.pages(58, 70)
    with pytest.raises(ValueError, match="dpi"):
        doc.page(1).load(dpi=0)


def test_a_range_is_a_list_of_pages_shown_as_a_grid(doc):
    rng = doc.pages(38, 42)
    assert len(rng) == 5 and [p.number for p in rng] == [38, 39, 40, 41, 42]
    assert rng[-1].number == 42 and rng[2].number == 40
    html_ = rng._repr_mimebundle_()[0]["text/html"]
    assert re.findall(r'alt="page (\d+)"', html_) == ["38", "39", "40", "41", "42"]
    ims = rng.load(dpi=36)
    assert [near(band_of(im), band(n)) for im, n in zip(ims, range(38, 43), strict=True)] == [
        True
    ] * 5
    assert len(doc.pages(59)) == 2  # to the end


def test_the_static_card_says_how_to_see_every_page(doc):
    data, _ = doc._repr_mimebundle_()
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", data["text/html"])).split())
    assert "first 6 of 60 pages shown: display the ref in a live kernel for every page" in text
    assert "ref.page(60)" in text
    assert "application/vnd.jupyter.widget-view+json" not in data  # no kernel here


def _viewer(doc) -> DocumentViewer:
    from vlmrun_jupyter.display.kinds.document import viewer_of

    return viewer_of(doc, page=1)


def test_the_viewer_sends_the_page_asked_for_as_jpeg_bytes(doc):
    v = _viewer(doc)
    assert v.count == 60 and v.page == 1 and v.title == f"DocumentRef · {doc.id}"
    state = v.get_state()
    assert set(state) >= {"count", "page", "height", "title", "preview"}
    assert len(state["preview"]) < 60_000  # the stand-in is small; pages are never state
    reply, buffers = v.answer({"type": "info?", "seq": 1})
    assert reply["count"] == 60 and len(reply["sizes"]) == 60 and buffers == []
    assert reply["seq"] == 1  # every answer names the request it answers
    reply, buffers = v.answer({"type": "page?", "index": 39, "edge": 800, "seq": 2})
    assert reply == {
        "type": "page", "index": 39, "width": 693, "height": 896, "mime": "image/jpeg", "seq": 2,
    }  # fmt: skip
    (data,) = buffers
    im = Image.open(io.BytesIO(data))
    assert im.format == "JPEG" and im.size == (693, 896)  # edges are rounded up to 128 px
    assert near(band_of(im), band(40))
    # a thumbnail is small whatever is asked
    reply, (thumb,) = v.answer({"type": "thumb?", "index": 0, "edge": 5000, "seq": 3})
    assert reply["type"] == "thumb" and max(Image.open(io.BytesIO(thumb)).size) == 256
    # asked again: the same bytes, from the file kept beside the artifact in the cache
    kept = sorted(p.name for p in doc.fetch().parent.rglob(f"{doc.id}.preview.page40.*"))
    assert kept == [f"{doc.id}.preview.page40.896.v1.jpg"]
    assert v.answer({"type": "page?", "index": 39, "edge": 800, "seq": 4})[1] == [data]


def test_the_viewer_answers_text_and_search(doc):
    v = _viewer(doc)
    reply, _ = v.answer({"type": "text?", "index": 39, "seq": 1})
    assert reply["type"] == "text" and reply["pt"] == [612.0, 792.0]
    runs = {r[4]: r[:4] for r in reply["runs"]}
    assert set(runs) == {"40", "This is page 40 of 60."}
    left, bottom, right, top = runs["40"]
    assert 100 < left < 140 and 280 < bottom < 320 and top - bottom > 100  # the big number
    reply, _ = v.answer({"type": "search?", "query": "PAGE  40 ", "seq": 2})
    assert [h["page"] for h in reply["hits"]] == [40] and reply["stopped"] is None
    assert reply["hits"][0]["snippet"].startswith("40 This is page 40 of 60.")
    reply, _ = v.answer({"type": "search?", "query": "of 60", "seq": 3})
    assert [h["page"] for h in reply["hits"]] == list(range(1, 61))
    assert v.answer({"type": "search?", "query": "nowhere", "seq": 4})[0]["hits"] == []


def test_the_viewer_turns_bad_requests_into_messages(doc):
    v = _viewer(doc)
    reply, buffers = v.answer({"type": "page?", "index": 60, "edge": 800, "seq": 9})
    assert reply["type"] == "error" and reply["seq"] == 9 and buffers == []
    assert "page 61 is out of range (1 to 60)" in reply["message"]
    assert v.answer({"type": "text?", "index": "x"})[0]["type"] == "error"
    assert v.answer({"type": "nonsense"})[0]["message"] == "unknown request 'nonsense'"
    assert v.answer("not a dict")[0]["type"] == "error"
    sent = []
    v.send = lambda content, buffers=None: sent.append((content, buffers))  # type: ignore[method-assign]
    v._on_message(v, {"type": "page?", "index": 1, "edge": 100, "seq": 5}, [])
    assert sent[0][0]["type"] == "page" and isinstance(sent[0][1][0], bytes)


def test_a_huge_media_box_renders_a_bounded_bitmap(tmp_path, live_server, client):
    path = tmp_path / "huge.pdf"
    path.write_bytes(pdfs.huge_page(200_000))
    sid, oid = live_server.add_artifact("doc", path)
    ref = DocumentRef(id=oid).bind(session_id=sid, client=client)
    page = ref.page(1)
    assert page.size == (200_000.0, 200_000.0)
    im = page.load(dpi=300)  # would be 833,333 pixels a side
    assert im.size == (pdf.MAX_EDGE, pdf.MAX_EDGE)
    assert "<img" in ref._repr_mimebundle_()[0]["text/html"]


def test_a_re_display_after_a_restart_needs_no_pdf_worker(doc):
    """Page count, sizes and pictures are kept beside the artifact: a new `Pages` of the
    same download (as after a kernel restart) answers them without starting pdfium."""
    from vlmrun_jupyter.display.kinds.document import _pages

    first = _pages(doc, doc.fetch())
    info = first.info()
    data = first.picture(39, 800)
    pdf.worker().stop()
    again = _pages(doc, doc.fetch())  # not the memoised object: a fresh one
    assert again is not first and again.info() == info
    assert again.picture(39, 800) == data
    assert pdf.worker().pid is None


def test_the_in_process_fallback_answers_as_the_worker_does(sixty):
    """Where pipes cannot be waited on (Windows) pdfium runs in the kernel: same pixels,
    same errors, only without the worker's limits."""
    req = {"op": "render", "path": str(sixty), "index": 39, "edge": 300}
    here, there = pdf.InProcess().request("r", req), pdf.worker().request("r", req)
    assert here[1] == there[1] and here[0].items() <= there[0].items()  # + "nbytes" there
    with pytest.raises(pdf.DocumentError, match="reading: FileNotFoundError"):
        pdf.InProcess().request("reading", {**req, "path": str(sixty.with_name("x.pdf"))})


def test_in_a_kernel_the_ref_is_the_viewer_over_the_static_grid(doc, monkeypatch):
    """The live hook adds the widget view; the static grid stays in the same output for
    exporters and untrusted views, and no page picture is widget state."""
    from ipywidgets.widgets.widget import _instances  # model id -> live widget

    from vlmrun_jupyter.display import pipeline
    from vlmrun_jupyter.display.kinds import document

    for module in (pipeline, document):  # as in a kernel (a fresh ref: nothing memoised)
        monkeypatch.setattr(module, "in_kernel", lambda: True)
    data, _ = doc._repr_mimebundle_()
    view = data["application/vnd.jupyter.widget-view+json"]
    assert 'alt="page 1"' in data["text/html"] and "ref.page(60)" in data["text/html"]
    widget = _instances[view["model_id"]]
    assert isinstance(widget, DocumentViewer) and widget.count == 60 and widget.page == 1
    state = widget.get_state()
    assert len(state["preview"]) < 60_000 and set(state) >= {"count", "page", "preview"}
