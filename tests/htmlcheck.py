"""`assert_inert_html(html)`: the static-HTML safety rules, checkable by any test.

Parses with the standard library's tolerant HTML parser (what a sanitizer or a
browser would see as tags and attributes) and asserts:

- no active or style-changing elements (script, style, iframe, object, embed,
  base, link, meta, form, svg, math, template, ...);
- no event handler attributes (`on*`) and no `srcdoc`;
- links only http/https, or `<a download>` of a `data:application/octet-stream;base64,`
  URL (a file to save, never a page to open), with `rel="noopener noreferrer"`;
- media sources only `data:image|video|audio/...;base64,` (or http/https);
- inline styles without `url(`, `expression(`, `@import` or `javascript:`.

Usage: `from htmlcheck import assert_inert_html` (tests/ is on sys.path under pytest).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

FORBIDDEN_TAGS = {
    "script",
    "style",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "base",
    "link",
    "meta",
    "form",
    "input",
    "button",
    "textarea",
    "svg",
    "math",
    "template",
    "noscript",
    "portal",
}
URL_ATTRS = {
    "href",
    "src",
    "poster",
    "action",
    "formaction",
    "xlink:href",
    "srcset",
    "background",
    "data",
    "cite",
    "longdesc",
    "ping",
    "lowsrc",
    "dynsrc",
    "manifest",
    "codebase",
}
MEDIA_DATA = re.compile(r"^data:(image|video|audio)/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=]*$")
# The one data: URL a link may carry: an inert download (`<a download>`), never a page.
DOWNLOAD_DATA = re.compile(r"^data:application/octet-stream;base64,[A-Za-z0-9+/=]*$")
HTTP = re.compile(r"^https?://[^\s]+$", re.I)
BAD_STYLE = re.compile(r"url\s*\(|expression\s*\(|@import|javascript:|behavior\s*:", re.I)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, attrs)

    def handle_comment(self, data: str) -> None:
        if "[if" in data.lower():
            self.problems.append("conditional comment")

    def _check(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        a = {k.lower(): v for k, v in attrs}
        self.tags.append((tag, a))
        if tag in FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}> element")
        for name, value in a.items():
            v = (value or "").strip()
            if name.startswith("on"):
                self.problems.append(f"event handler {name}= on <{tag}>")
            if name == "srcdoc":
                self.problems.append(f"srcdoc on <{tag}>")
            if name == "style" and BAD_STYLE.search(v):
                self.problems.append(f"unsafe style on <{tag}>: {v[:80]!r}")
            if name in URL_ATTRS and value is not None:
                if name == "href":
                    if DOWNLOAD_DATA.match(v) and tag == "a" and a.get("download"):
                        pass  # saved as a file, never opened as a page
                    elif not HTTP.match(v):
                        self.problems.append(f"non-http link {v[:80]!r}")
                elif not (MEDIA_DATA.match(v) or HTTP.match(v)):
                    self.problems.append(f"{name}= on <{tag}> is {v[:60]!r}")
        if tag == "a" and "href" in a:
            rel = set((a.get("rel") or "").lower().split())
            if not {"noopener", "noreferrer"} <= rel:
                self.problems.append(f"link without rel=noopener noreferrer: {a.get('href')!r}")


def check_html(html: str) -> list[str]:
    """The list of problems found (empty if the HTML is inert)."""
    parser = _Collector()
    parser.feed(html)
    parser.close()
    return parser.problems


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every start tag with its attributes, in order."""
    parser = _Collector()
    parser.feed(html)
    parser.close()
    return parser.tags


def assert_inert_html(html: str) -> None:
    """Fail with the list of problems if `html` could run code or leave http(s)/data: media."""
    assert isinstance(html, str), f"expected HTML text, got {type(html).__name__}"
    problems = check_html(html)
    assert not problems, "HTML is not inert:\n  " + "\n  ".join(problems)


def shown_media(html: str, tag: str = "img") -> list[bytes]:
    """The media an HTML fragment really shows: the decoded bytes of each `<tag src="data:...">`
    (img, video or audio) whose base64 payload decodes. Images must also open with PIL and
    have a non-zero size, so a broken picture does not count."""
    import base64
    import io

    from bs4 import BeautifulSoup
    from PIL import Image

    out = []
    for el in BeautifulSoup(html, "html.parser").find_all(tag):
        src = el.get("src") or ""
        head, _, payload = src.partition(",")
        if not (head.startswith("data:") and head.endswith(";base64") and payload):
            continue
        try:
            data = base64.b64decode(payload, validate=True)
        except ValueError:
            continue
        if tag == "img":
            try:
                with Image.open(io.BytesIO(data)) as im:
                    im.load()
                    if not (im.width and im.height):
                        continue
            except Exception:
                continue
        out.append(data)
    return out


def thumbnails(html: str) -> list[dict[str, str]]:
    """The `<img>` tags a reader sees before clicking anything: those outside a gallery's
    closed larger views (`<details>` shows only its `<summary>` until opened)."""
    from bs4 import BeautifulSoup

    out = []
    for img in BeautifulSoup(html, "html.parser").find_all("img"):
        if img.find_parent("details") is None or img.find_parent("summary") is not None:
            out.append(dict(img.attrs))
    return out


def download_links(html: str) -> list[dict[str, str]]:
    """The `<a download>` links (the artifact itself as a data: URL)."""
    return [a for t, a in tags(html) if t == "a" and "download" in a]
