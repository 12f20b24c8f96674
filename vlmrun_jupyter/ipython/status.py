"""The one status line shown while a run waits: updated in place, cleared when done.

It is a display with a `display_id`, so a Jupyter front end redraws it where it
is instead of appending lines; the result replaces it when the run ends. It says
which phase the run is in and how far (`Progress`, fed by the client's
`on_progress` callback, display/progress.py): uploading 12.0 MB, waiting, downloading 40% of 68.0 MB,
and how much of the running operation's one total deadline is spent: "3.2 s of 600 s".
"""

from __future__ import annotations

from typing import Any

from IPython.display import display

from ..display.html import status_line
from ..display.progress import Progress, clock_text


class Status:
    """'vlmrun · model · phase · 3.2 s of 120 s' with a spinner while waiting (the seconds
    of the running operation's deadline, or since the start when it has none); nothing
    when disabled."""

    def __init__(
        self, model: str, enabled: bool, deadline: tuple[float, float] | None = None
    ) -> None:
        self.model = model
        self.handle: Any = None
        self.tick = 0
        if enabled:
            self.handle = display(
                self._bundle(0.0, None, None, deadline), raw=True, display_id=True
            )

    def _bundle(
        self,
        elapsed: float,
        status: str | None,
        share: float | None,
        deadline: tuple[float, float] | None = None,
    ) -> dict[str, str]:
        what = f" · {status}" if status else ""
        text = f"vlmrun · {self.model}{what} · {clock_text(elapsed, deadline)}"
        return {"text/plain": text, "text/html": status_line(text, self.tick, share)}

    def update(
        self,
        elapsed: float,
        status: str | None,
        share: float | None = None,
        deadline: tuple[float, float] | None = None,
    ) -> None:
        """`deadline`: (seconds spent, seconds allowed) of the running operation."""
        if self.handle is not None:
            self.tick += 1
            self.handle.update(self._bundle(elapsed, status, share, deadline), raw=True)

    def clear(self) -> None:
        if self.handle is not None:
            self.handle.update({"text/plain": ""}, raw=True)
            self.handle = None


__all__ = ["Status", "Progress"]
