"""Hostile content renders inert: strings from a model or a server (field values, keys,
captions, usage, ids, PDF titles, error messages, URLs) never become markup, event
handlers or non-http(s) links. Every HTML output is parsed and checked with
`htmlcheck.assert_inert_html`, whose own checks are tested first."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import render_media as media
from htmlcheck import DOWNLOAD_DATA, assert_inert_html, check_html, tags, thumbnails
from pydantic import BaseModel, create_model

from vlmrun_jupyter import Client, DocumentRef, ImageRef, UrlRef
from vlmrun_jupyter.display import ref_bundle, result_bundle
from vlmrun_jupyter.display.errors import error_bundle
from vlmrun_jupyter.display.html import link, safe_url
from vlmrun_jupyter.errors import NotFoundError, VlmRunError
from vlmrun_jupyter.results import Completion, Execution

SID = "sess-hostile"
PAYLOADS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "javascript:alert(1)",
    '" onmouseover="alert(1)',
    "' onfocus='alert(1)' autofocus='",
    "</td></tr></table><script>alert(2)</script>",
    "<iframe src=javascript:alert(1)></iframe>",
    "<a href='javascript:alert(1)'>click</a>",
    "<style>body{display:none}</style>",
    "<svg onload=alert(1)>",
    "\x00<script>x</script>",
    "<!--<img src=x onerror=alert(1)>-->",
]


# -- the checker itself must catch what it claims to ---------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "<script>alert(1)</script>",
        "<div onclick='x()'>a</div>",
        "<IMG SRC=x OnError=alert(1)>",
        "<a href='javascript:alert(1)' rel='noopener noreferrer'>x</a>",
        "<a href='https://example.com'>no rel</a>",
        "<img src='javascript:alert(1)'>",
        "<img src='data:text/html;base64,PHNjcmlwdD4='>",
        "<video src='file:///etc/passwd'></video>",
        "<style>*{}</style>",
        "<iframe srcdoc='x'></iframe>",
        "<div style='background: url(https://evil.example/x)'></div>",
        "<svg><script>1</script></svg>",
        "<form action='https://x'></form>",
        # a data: link only as an inert download: never a page, never without `download`
        "<a download='x.html' href='data:text/html;base64,PHNjcmlwdD4=' rel='noopener "
        "noreferrer'>x</a>",
        "<a href='data:application/octet-stream;base64,AAAA' rel='noopener noreferrer'>x</a>",
        "<a download='x' href='javascript:alert(1)' rel='noopener noreferrer'>x</a>",
        "<a download='x.svg' href='data:image/svg+xml;base64,PHN2Zz4=' rel='noopener "
        "noreferrer'>x</a>",
        "<a download='x.bin' href='data:application/octet-stream;base64,AAAA'>no rel</a>",
    ],
)
def test_checker_rejects(bad):
    assert check_html(bad)
    with pytest.raises(AssertionError):
        assert_inert_html(bad)


def test_checker_accepts_safe_markup():
    assert_inert_html(
        '<div style="color: red"><a href="https://example.com/x?a=1&amp;b=2" '
        'rel="noopener noreferrer" target="_blank">x</a>'
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="&lt;script&gt;">'
        "<video controls src='data:video/mp4;base64,AAAA'></video></div>"
    )


# -- hostile results ----------------------------------------------------------------------


@pytest.fixture()
def offline(tmp_path):
    c = Client(api_key="k", base_url="http://127.0.0.1:9/v1", cache_dir=tmp_path, max_retries=0)
    yield c
    c.close()


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    return media.photo(tmp_path_factory.mktemp("m") / "p.jpg", 320, 200)


def _seed(client, cls, src, object_id, name=None):
    d = client.cache.root / SID
    d.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, d / (name or f"{object_id}.{cls.ext}"))
    return cls(id=object_id).bind(session_id=SID, client=client)


class Frame(BaseModel):
    image: ImageRef
    timestamp: float
    description: str


def _hostile_result(offline, photo) -> BaseModel:
    Hostile = create_model(
        "Hostile<script>alert(1)</script>",
        frames=(list[Frame], ...),
        notes=(list[str], ...),
        table=(dict, ...),
        text=(str, ...),
    )
    frames = [
        Frame(image=_seed(offline, ImageRef, photo, f"img_hst{i:03d}"), timestamp=i, description=p)
        for i, p in enumerate(PAYLOADS)
    ]
    return Hostile(
        frames=frames,
        notes=PAYLOADS,
        table={p: p for p in PAYLOADS},
        text="\n".join(PAYLOADS),
    )


def _assert_escaped(html: str) -> None:
    assert_inert_html(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text, not dropped


def test_hostile_result_card_is_inert(offline, photo):
    data = result_bundle(_hostile_result(offline, photo))
    html = data["text/html"]
    _assert_escaped(html)
    assert len(thumbnails(html)) == len(PAYLOADS)  # the gallery still works


def test_hostile_completion_and_execution_footers_are_inert(offline, photo):
    result = _hostile_result(offline, photo)
    comp = Completion(
        id=PAYLOADS[0],
        model=PAYLOADS[1],
        session_id=PAYLOADS[3],
        text=PAYLOADS[0],
        result=result,
        usage={PAYLOADS[0]: PAYLOADS[1], "tokens": 3},
        latency_s=0.5,
    )
    _assert_escaped(comp._repr_mimebundle_()["text/html"])
    ex = Execution(
        id="exec-1",
        name=PAYLOADS[0],
        status=PAYLOADS[4],
        result=PAYLOADS[0],
        usage=None,
        latency_s=1.0,
    )
    _assert_escaped(ex._repr_mimebundle_()["text/html"])


def test_plain_list_and_dict_of_hostile_strings(offline, photo):
    ref = _seed(offline, ImageRef, photo, "img_hstlst")
    for value in ([ref, *PAYLOADS], {p: [ref] for p in PAYLOADS}, {"x": {"y": PAYLOADS}}):
        assert_inert_html(result_bundle(value)["text/html"])


def test_hostile_pdf_title_is_escaped(offline, tmp_path):
    src = media.pdf(tmp_path / "t.pdf", pages=1, title=PAYLOADS[0])
    ref = _seed(offline, DocumentRef, src, "doc_hst001")
    _assert_escaped(ref._repr_mimebundle_()[0]["text/html"])


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)//photo.jpg",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "https://example.com/a b onmouseover=alert(1)",
        'https://example.com/a"onmouseover="alert(1)',
        "https://example.com/<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example/x.jpg",
    ],
)
def test_hostile_url_targets(offline, photo, url):
    ns_dir = offline.cache.root / SID
    ns_dir.mkdir(parents=True, exist_ok=True)
    (ns_dir / "url_hst001.url").write_text(url)
    from vlmrun_jupyter.cache import url_file_name

    try:
        shutil.copyfile(photo, ns_dir / f"url_hst001.{url_file_name(url)}")
    except OSError:
        pass
    ref = UrlRef(id="url_hst001").bind(session_id=SID, client=offline)
    data, _ = ref_bundle(ref)
    html = data["text/html"]
    assert_inert_html(html)
    for _, a in tags(html):
        href = a.get("href") or ""
        if "download" in a and DOWNLOAD_DATA.match(href):
            continue  # the cached file offered for download, never the hostile target URL
        assert not href.lower().startswith(("javascript", "data", "vbscript", "//"))


def test_link_helper_only_links_http():
    assert safe_url("https://example.com/x") == "https://example.com/x"
    for bad in ("javascript:alert(1)", "https://", "ftp://x/y", "http://a b", None, 3):
        assert safe_url(bad) is None
        assert_inert_html(link(bad))
    html = link('https://e.com/"><script>alert(1)</script>', PAYLOADS[1])
    assert_inert_html(html)
    (a,) = [x for t, x in tags(html) if t == "a"]
    assert a["rel"] == "noopener noreferrer"


@pytest.mark.parametrize(
    "exc",
    [
        NotFoundError(PAYLOADS[0], hint=PAYLOADS[1]),
        VlmRunError(PAYLOADS[5], hint=PAYLOADS[3]),
        ValueError(PAYLOADS[2] + PAYLOADS[0]),
        RuntimeError(PAYLOADS[6]),
    ],
)
def test_error_cards_escape_messages(exc):
    data = error_bundle(exc, ImageRef(id="img_err001"))
    assert_inert_html(data["text/html"])
    assert "&lt;" in data["text/html"]


def test_error_card_never_shows_a_bearer_token():
    exc = VlmRunError("upstream said: Authorization: Bearer sk-secret-123 was rejected")
    data = error_bundle(exc)
    assert "sk-secret-123" not in data["text/html"] and "sk-secret-123" not in data["text/plain"]
