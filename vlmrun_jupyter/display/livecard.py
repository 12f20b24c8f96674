"""A result card in a live kernel: the static card, and under it an offer per ref that has
a live viewer (3D, document, video), which asks the kernel for that viewer on a click.

Why: inside a card every ref is a static picture (the card shares one inline budget),
while the refs' live viewers are heavy (a 3D viewer holds its splats, a player streams
its file). So none is made up front: "open 3D viewer · ReconRef recon_..." makes one in
the kernel and shows it under the card, "close" drops it and frees it, and at most
`MAX_OPEN` are open at once per card (opening another closes the oldest). A card with
more than `MAX_BUTTONS` such refs offers them in one drop-down instead of a button
each, so the widget tree stays the same small size whatever the card holds.

The output keeps the static card as text/html beside the widget view: exporters,
untrusted views, frontends without widgets and reopened notebooks (the labext shows a
widget output's static alternative when its model is gone) show the card as before.
Outside a kernel nothing here is asked (`card` checks `kernel.in_kernel` first) and no
widget library is imported.

Security: the card's HTML is shown in an ipywidgets `Output` widget, whose outputs the
widget manager renders as trusted (not sanitized by the frontend). That is acceptable
only because card HTML is escaped by construction: `display.html` builds it, escaping
every server or model string, with no scripts or event handlers (checked by
tests/test_render_security.py and tests/test_live_card.py). Never put other HTML here.
"""

from __future__ import annotations

import logging
from typing import Any

from ..refs import BaseRef
from .errors import error_bundle
from .kernel import widget_view
from .registry import viewer_hook

log = logging.getLogger(__name__)

MAX_BUTTONS = 6  # more refs with viewers than this: one drop-down and one button
MAX_OPEN = 2  # viewers open at once per card (each may hold a whole scene or stream)
CARD_CLASS = "vlmrun-live-card"  # the container, for tests and styling


def _offers(refs: list[BaseRef]) -> list[tuple[BaseRef, Any, str]]:
    """(ref, its viewer maker, the viewer's name) per distinct ref with a live viewer."""
    seen: set[tuple[str, str]] = set()
    found = []
    for ref in refs:
        key = (type(ref).__name__, ref.id)
        if key in seen:
            continue
        seen.add(key)
        try:
            hook = viewer_hook(ref.kind)
        except Exception:
            continue
        if hook is not None:
            found.append((ref, *hook))
    return found


class LiveCard:
    """The widgets of one card: the static card, the offers, and the open viewers."""

    def __init__(self, data: dict[str, Any], offers: list[tuple[BaseRef, Any, str]]) -> None:
        import ipywidgets as w

        self._w = w
        self.offers = offers
        self.open: dict[int, Any] = {}  # offer index -> its viewer (or error card), oldest first
        card = w.Output()
        shown = {k: data[k] for k in ("text/plain", "text/html") if k in data}
        card.outputs = ({"output_type": "display_data", "data": shown, "metadata": {}},)
        self.card = card
        self.viewers = w.VBox([])
        self.buttons: list[Any] = []
        self.choice: Any = None
        controls = self._controls()
        self.box = w.VBox([card, controls, self.viewers])
        self.box.add_class(CARD_CLASS)

    # -- offers ---------------------------------------------------------------------------
    def _label(self, i: int) -> str:
        ref, _, name = self.offers[i]
        verb = "close" if i in self.open else "open"
        return f"{verb} {name} · {type(ref).__name__} {ref.id}"

    def _button(self, description: str, on_click: Any) -> Any:
        button = self._w.Button(
            description=description,
            tooltip="made in the kernel on request; close it to free its memory",
            layout=self._w.Layout(width="auto", max_width="100%"),
        )
        button.on_click(on_click)
        return button

    def _controls(self) -> Any:
        w = self._w
        if len(self.offers) <= MAX_BUTTONS:
            self.buttons = [
                self._button(self._label(i), lambda _b, i=i: self.toggle(i))
                for i in range(len(self.offers))
            ]
            return w.HBox(self.buttons, layout=w.Layout(flex_flow="row wrap"))
        options = [
            (f"{name} · {type(ref).__name__} {ref.id}", i)
            for i, (ref, _, name) in enumerate(self.offers)
        ]
        self.choice = w.Dropdown(options=options, value=0, layout=w.Layout(width="auto"))
        self.buttons = [self._button(self._label(0), lambda _b: self.toggle(self.choice.value))]
        self.choice.observe(lambda _c: self._relabel(), names="value")
        return w.HBox([self.choice, *self.buttons], layout=w.Layout(flex_flow="row wrap"))

    def _relabel(self) -> None:
        if self.choice is None:
            for i, button in enumerate(self.buttons):
                button.description = self._label(i)
        else:
            self.buttons[0].description = self._label(self.choice.value)

    # -- viewers --------------------------------------------------------------------------
    def toggle(self, i: int) -> None:
        """Open the viewer of offer `i`, or close it if it is open. Never raises (a
        failure shows as an error card where the viewer would be)."""
        try:
            if i in self.open:
                self.close(i)
            else:
                self.show(i)
        except Exception as exc:  # a callback must not leave a traceback in the log
            log.debug("live card toggle failed", exc_info=exc)

    def show(self, i: int) -> Any:
        """Make offer `i`'s viewer and show it under the card (oldest closed past MAX_OPEN)."""
        while len(self.open) >= MAX_OPEN:
            self.close(next(iter(self.open)))
        ref, make, name = self.offers[i]
        button = self.buttons[0] if self.choice is not None else self.buttons[i]
        button.disabled, button.description = True, f"opening {name} · {ref.id} ..."
        try:
            widget = make(ref, {})
            if widget is None:
                raise RuntimeError(f"no {name} can run here (is anywidget installed?)")
        except Exception as exc:
            widget = self._w.Output()
            widget.outputs = (
                {"output_type": "display_data", "data": error_bundle(exc, ref), "metadata": {}},
            )
        self.open[i] = widget
        self.viewers.children = tuple(self.open.values())
        button.disabled = False
        self._relabel()
        return widget

    def close(self, i: int) -> None:
        """Drop offer `i`'s viewer: out of the card, its comm closed, its memory freed."""
        widget = self.open.pop(i, None)
        self.viewers.children = tuple(self.open.values())
        if widget is not None:
            widget.close()
        self._relabel()


def with_viewers(data: dict[str, Any], refs: list[BaseRef]) -> dict[str, Any]:
    """`data` (a card's MIME dict) plus the widget view of a `LiveCard` offering the live
    viewers of `refs`; `data` itself when none has one or widgets cannot be made. Call
    only in a live kernel. Never raises."""
    try:
        offers = _offers(refs)
        if not offers or "text/html" not in data:
            return data
        return {**data, **widget_view(LiveCard(data, offers).box)}
    except Exception as exc:  # the static card stands alone
        log.debug("no live card: %s", exc)
        return data


__all__ = ["LiveCard", "with_viewers", "MAX_BUTTONS", "MAX_OPEN"]
