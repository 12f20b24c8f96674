"""Progress of a transfer as words and a bar: 'uploading 12.0 MB', 'waiting for the
answer', 'downloading 40% of 68.0 MB', and how much of its deadline is spent:
'3.2 s of 600 s'.

`Progress` is the client's `on_progress(phase, done, total)` callback summed over
concurrent transfers; the magic's status line reads it. The callback runs on the thread
doing the work, inside the operation's one total deadline (`Client(deadline=)`,
`VLMRUN_DEADLINE`, or the call's `timeout=`), so it notes that deadline too. `ProgressBar`
is the same callback for your own `Client` calls in a notebook: one line with a spinner
and a bar, updated in place (`client.fetch(ref, on_progress=ProgressBar())`).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..client._retry import Deadline
from .html import human_size, status_line


class Progress:
    """The client's progress callback, summed over concurrent transfers (one per thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.phase: str | None = None
        self._live: dict[int, tuple[int, int | None]] = {}  # thread -> (done, total)
        self._finished: list[tuple[int, int | None]] = []
        self._deadlines: dict[int, Deadline] = {}  # thread -> deadline of its running transfer
        self._last: Deadline | None = None  # the latest one seen in this phase

    def __call__(self, phase: str, done: int | None, total: int | None) -> None:
        deadline = Deadline.current()  # of the operation calling us, on its own thread
        with self._lock:
            if phase != self.phase:
                self.phase, self._live, self._finished, self._deadlines = phase, {}, [], {}
                self._last = None
            me = threading.get_ident()
            if done == 0 and me in self._live:  # this thread starts its next transfer
                self._finished.append(self._live.pop(me))
            self._live[me] = (done or 0, total)
            self._last = deadline or self._last
            if deadline is None or (total is not None and done == total):  # none, or done
                self._deadlines.pop(me, None)
            else:
                self._deadlines[me] = deadline

    def deadline(self) -> tuple[float, float] | None:
        """(seconds spent, seconds allowed) of the running operation nearest its deadline
        (once all are done, the last one's), or None when none reported under one."""
        with self._lock:
            running = list(self._deadlines.values()) or ([self._last] if self._last else [])
        if not running:
            return None
        nearest = min(running, key=lambda d: d.remaining)
        return nearest.elapsed, nearest.seconds

    def numbers(self) -> tuple[int, int | None]:
        """(bytes done, bytes in all or None while some size is unknown)."""
        with self._lock:
            parts = self._finished + list(self._live.values())
        sizes = [t for _, t in parts if t is not None]
        known = bool(parts) and len(sizes) == len(parts)
        return sum(d for d, _ in parts), (sum(sizes) if known else None)

    def text(self) -> tuple[str | None, float | None]:
        """('downloading 40% of 68.0 MB', 0.4); (None, None) before anything happened."""
        if self.phase is None:
            return None, None
        if self.phase == "waiting":
            return "waiting for the answer", None
        done, total = self.numbers()
        if total:
            share = min(1.0, done / total)
            return f"{self.phase} {share:.0%} of {human_size(total)}", share
        return (f"{self.phase} {human_size(done)}" if done else self.phase), None


class ProgressBar(Progress):
    """`on_progress=ProgressBar()` for a `Client` call in a notebook: one line (spinner,
    phase, bytes, a bar) updated in place at most `every` seconds, kept when done."""

    def __init__(self, label: str = "vlmrun", every: float = 0.2) -> None:
        super().__init__()
        self.label, self.every = label, every
        self.handle: Any = None
        self.tick = 0
        self._shown = 0.0
        self._t0 = time.monotonic()

    def __call__(self, phase: str, done: int | None, total: int | None) -> None:
        super().__call__(phase, done, total)
        now = time.monotonic()
        if now - self._shown >= self.every or (total is not None and done == total):
            self._shown = now
            self.show()

    def bundle(self) -> dict[str, str]:
        text, share = self.text()
        clock = clock_text(time.monotonic() - self._t0, self.deadline())
        line = f"{self.label} · {text or 'starting'} · {clock}"
        self.tick += 1
        return {"text/plain": line, "text/html": status_line(line, self.tick, share)}

    def show(self) -> None:
        from IPython.display import display  # late: only a notebook call needs IPython

        if self.handle is None:
            self.handle = display(self.bundle(), raw=True, display_id=True)
        else:
            self.handle.update(self.bundle(), raw=True)


def clock_text(elapsed: float, deadline: tuple[float, float] | None = None) -> str:
    """'12 s', or against the operation's deadline '3.2 s of 600 s' (its own clock)."""
    if deadline is None:
        return f"{elapsed:.0f} s"
    spent, allowed = deadline
    return f"{spent:.1f} s of {allowed:g} s" if spent < 10 else f"{spent:.0f} s of {allowed:g} s"


__all__ = ["Progress", "ProgressBar", "clock_text"]
