"""The magic's and the cards' affordances in a real browser (headless Chromium), measured
and photographed into the artifacts dir: a result card whose label column stays under a
quarter of the width (so its picture gets the rest), `ref.show(width=)` and
`gallery(columns=)` and a result card's gallery (a click opens the larger view), ids
selected whole by one click, the help page, a magic result's
footer and the progress line (spinner, phase, bar)."""

from __future__ import annotations

import html as htmllib

import pytest
import render_media as media
from browser import chromium
from pydantic import BaseModel

from vlmrun_jupyter import Client, ImageRef
from vlmrun_jupyter.display import gallery, result_bundle
from vlmrun_jupyter.display.html import status_line
from vlmrun_jupyter.ipython.formatters import keep_run, printer
from vlmrun_jupyter.ipython.help import help_page
from vlmrun_jupyter.results import Completion

pytestmark = pytest.mark.browser


class BlurredImage(BaseModel):
    image: ImageRef
    faces_found: int
    note: str


@pytest.fixture(scope="module")
def outputs(server, tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("magic-browser")
    c = Client(api_key=server.api_key, base_url=server.base_url, cache_dir=d / "cache")
    sid, _ = server.add_artifact("img", media.photo(d / "seed.jpg", 64, 64))

    def image(w: int, h: int, name: str) -> ImageRef:
        _, oid = server.add_artifact("img", media.photo(d / name, w, h), session_id=sid)
        return ImageRef(id=oid).bind(session_id=sid, client=c)

    photo = image(1280, 720, "photo.jpg")
    result = BlurredImage(image=photo, faces_found=2, note="two faces blurred")
    run = Completion(
        id="chatcmpl-1",
        model="vlmrun-orion-1:auto",
        session_id=sid,
        text="",
        result=result,
        usage={"prompt_tokens": 812, "completion_tokens": 40},
        latency_s=1.84,
    )
    shown = keep_run(result, run)  # what %%vlmrun returns: the result, shown with its run
    out = {
        "card": printer(shown)["text/html"],
        "plain_card": result_bundle(result)["text/html"],
        "show": photo.show(width=300)._repr_mimebundle_()[0]["text/html"],
        "gallery": gallery(
            [image(640, 480, f"g{i}.jpg") for i in range(6)], columns=3
        )._repr_mimebundle_()[0]["text/html"],
        "card_gallery": result_bundle({"frames": [image(640, 480, f"k{i}.jpg") for i in range(3)]})[
            "text/html"
        ],
        "help": help_page(local=True).html(),
        "progress": status_line(
            "vlmrun · vlmrun-orion-1:auto · downloading 40% of 68.0 MB · 5 s", 3, 0.4
        ),
    }
    c.close()
    return out


@pytest.fixture(scope="module")
def page(outputs):
    cells = "".join(
        f'<div class="cell" id="out-{name}"><div class="prompt">Out[{htmllib.escape(name)}]:'
        f"</div>{body}</div>"
        for name, body in outputs.items()
    )
    doc = (
        "<!doctype html><html><head><meta charset='utf-8'><style>body{margin:16px;"
        "width:900px;font-family:sans-serif}.cell{margin:0 0 18px 0}"
        ".prompt{color:#999;font-size:11px}"
        # the table rules JupyterLab's rendered-HTML outputs get (a fixed layout splits the
        # width equally between columns unless the card overrides it)
        "table{table-layout:fixed;border-collapse:collapse;margin-left:auto;margin-right:auto}"
        "td,th,tr{vertical-align:middle;padding:0.5em;white-space:normal;max-width:none}"
        "</style></head>"
        f"<body>{cells}</body></html>"
    )
    with chromium() as browser:
        pg = browser.new_page(viewport={"width": 940, "height": 900})
        pg.set_content(doc, wait_until="load")
        yield pg


def box(page, selector: str) -> dict:
    found = page.locator(selector).first
    found.wait_for()
    return found.bounding_box()


def test_card_label_column_is_narrow_and_the_picture_gets_the_rest(page, artifacts_dir):
    for name in ("card", "plain_card"):
        table = box(page, f"#out-{name} table")
        label = box(page, f"#out-{name} table th")
        picture = box(page, f"#out-{name} table td img")
        assert label["width"] < 0.25 * table["width"], (name, label, table)
        assert picture["width"] > 0.7 * table["width"], (name, picture, table)
    page.locator("#out-card").screenshot(path=str(artifacts_dir / "magic_card.png"))


def test_a_magic_result_keeps_its_footer(page, artifacts_dir):
    text = page.locator("#out-card").inner_text()
    for part in ("vlmrun-orion-1:auto", "prompt tokens 812", "1.84 s", "session"):
        assert part in text, text
    page.locator("#out-card").screenshot(path=str(artifacts_dir / "magic_footer.png"))


def test_size_controls(page, artifacts_dir):
    shown = box(page, "#out-show img")
    assert 250 < shown["width"] <= 300
    cells = page.locator("#out-gallery summary img").all()  # (the closed views are hidden)
    tops = sorted({round(c.bounding_box()["y"]) for c in cells})
    assert len(cells) == 6 and len(tops) == 2  # three columns: two rows of three
    page.locator("#out-gallery").screenshot(path=str(artifacts_dir / "magic_gallery.png"))


def test_ids_are_selected_whole_by_one_click(page):
    code = page.locator("#out-show code").first
    assert code.evaluate("e => getComputedStyle(e).userSelect") == "all"
    code.click()
    selected = page.evaluate("() => window.getSelection().toString()")
    assert selected == code.inner_text() and selected.startswith("img_")


def test_help_page_and_progress_line(page, artifacts_dir):
    text = page.locator("#out-help").inner_text()
    assert "Subcommands" in text and "%vlmrun local start|stop|status" in text
    assert "The offline local server understands" in text and "::" not in text
    page.locator("#out-help").screenshot(path=str(artifacts_dir / "magic_help.png"))
    bar = page.locator("#out-progress progress")
    assert bar.evaluate("e => e.position") == pytest.approx(0.4)
    spinner = page.locator("#out-progress span span").first
    radius = spinner.evaluate("e => getComputedStyle(e).borderRadius")
    assert radius == "50%" and spinner.bounding_box()["width"] > 8
    page.locator("#out-progress").screenshot(path=str(artifacts_dir / "magic_progress.png"))


def test_gallery_captions_never_end_a_line_on_a_dot(page):
    """Each fact carries its own dot inside an unbreakable span, so a narrow cell wraps
    between facts: no line of a caption ends with a stray dot."""
    stray = page.evaluate(
        """() => {
        const bad = [];
        const walker = document.createTreeWalker(
            document.querySelector('#out-gallery'), NodeFilter.SHOW_TEXT);
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
            if (!n.textContent.includes('\\u00b7')) continue;
            if (getComputedStyle(n.parentElement).whiteSpace !== 'nowrap') bad.push(n.textContent);
        }
        return bad;
    }"""
    )
    assert stray == []


def test_an_execution_footer_does_not_repeat_its_duration():
    from vlmrun_jupyter.results import Execution

    run = Execution(
        id="exec-1",
        name="image/blur-image",
        status="completed",
        result="done",
        usage={"credits_used": 1, "steps": 1, "duration_seconds": 0},
        latency_s=0.52,
    )
    text = result_bundle(run)["text/html"]
    assert "credits used 1" in text and "0.52 s" in text
    assert "duration" not in text


def test_a_gallery_thumbnail_enlarges_on_click_without_scripts(page, outputs, artifacts_dir):
    assert "<script" not in outputs["gallery"] and " on" not in outputs["gallery"].lower()
    first = page.locator("#out-gallery details").first
    thumb = first.locator("summary img").bounding_box()
    assert not first.evaluate("e => e.open")
    first.locator("summary").click()
    assert first.evaluate("e => e.open")
    large = first.locator("summary + div img").bounding_box()
    assert large["width"] > 2 * thumb["width"], (large, thumb)
    page.locator("#out-gallery").screenshot(path=str(artifacts_dir / "magic_gallery_open.png"))
    first.locator("summary").click()  # and closes again
    assert not first.evaluate("e => e.open")


def test_a_card_gallery_thumbnail_enlarges_on_click_and_offers_the_file(page, artifacts_dir):
    first = page.locator("#out-card_gallery details").first
    thumb = first.locator("summary img").bounding_box()
    view = first.locator("summary + div")
    assert not first.evaluate("e => e.open") and not view.is_visible()
    first.locator("summary").click()
    assert first.evaluate("e => e.open") and view.is_visible()
    large = view.locator("img").bounding_box()
    assert large["width"] > 2 * thumb["width"], (large, thumb)
    link = view.locator("a[download]")
    assert link.is_visible() and link.get_attribute("download").endswith(".jpg")
    page.locator("#out-card_gallery").screenshot(
        path=str(artifacts_dir / "magic_card_gallery_open.png")
    )
    first.locator("summary").click()
    assert not first.evaluate("e => e.open")
