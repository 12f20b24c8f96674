"""Whether this process is a live kernel that can show kernel-bound views (widgets).

Asked before any live viewer is built, so a display in a script, a test or a terminal
IPython never imports a widget library or a codec for a view nobody can see. IPython is
not imported here: a process that has not imported it has no kernel.
"""

from __future__ import annotations

import sys
from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def in_kernel() -> bool:
    """True inside a Jupyter kernel (an IPython shell with a kernel and its comm channel)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # a partly imported or odd IPython: no kernel we can use
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def widget_view(widget: Any) -> dict[str, Any]:
    """The widget-view part of a widget's MIME bundle ({} for None): what a live hook adds
    to a static bundle, so frontends without widgets keep showing the static part."""
    if widget is None:
        return {}
    view = widget._repr_mimebundle_()
    view = view[0] if isinstance(view, tuple) else view
    return {WIDGET_VIEW: view[WIDGET_VIEW]} if view and WIDGET_VIEW in view else {}


__all__ = ["in_kernel", "widget_view", "WIDGET_VIEW"]
