"""Progress of a batch: the numbers, the callback interface, and plain-text output.

The runner calls `update(state)` at most every `interval` seconds and `close(state)`
once, from the thread that called `map`. Anything with those two methods (or a plain
callable taking the state) can listen. The notebook's live bar lives in the display
layer and is found by `auto_progress()` through one late import (see .importlinter):
the client layer cannot know about notebooks, but `client.map(...)` called in one
should still show a bar without `%load_ext`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO, runtime_checkable


@dataclass
class BatchState:
    """Counts of one run. `cached` items were done before this run started (journal)."""

    total: int
    cached: int = 0
    done: int = 0  # finished without error in this run
    failed: int = 0  # finished with an error (this run or an earlier one)
    in_flight: int = 0
    retries: int = 0
    throttled: int = 0  # 429 answers seen
    started: float = field(default_factory=time.monotonic)
    finished: bool = False
    interrupted: bool = False

    @property
    def completed(self) -> int:
        return self.cached + self.done + self.failed

    @property
    def to_go(self) -> int:
        return max(0, self.total - self.completed)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Items per second finished in this run."""
        elapsed = self.elapsed
        return (self.done + self.failed) / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        rate = self.rate
        return self.to_go / rate if rate > 0 else None

    def headline(self) -> str:
        """'812 done, 188 to go' -- what a re-run says before it starts."""
        ok = self.cached + self.done
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{ok} done{failed}, {self.to_go} to go"

    def line(self) -> str:
        """One status line: counts, rate, errors, ETA (before anything ran: the headline)."""
        if not (self.done or self.failed or self.in_flight or self.finished):
            return f"{self.total} items: {self.headline()}"
        parts = [f"{self.completed}/{self.total}"]
        if self.cached:
            parts.append(f"{self.cached} from the journal")
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.done + self.failed:
            parts.append(f"{self.rate:.1f}/s")
        if self.throttled:
            parts.append(f"{self.throttled} throttled")
        eta = self.eta
        if self.interrupted:
            parts.append("interrupted: run it again to resume")
        elif self.finished:
            parts.append(f"{self.elapsed:.1f} s")
        elif eta is not None:
            parts.append(f"ETA {_duration(eta)}")
        return " | ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:02.0f} min"


@runtime_checkable
class Progress(Protocol):
    """Listens to a batch."""

    def update(self, state: BatchState) -> None: ...

    def close(self, state: BatchState) -> None: ...


class CallbackProgress:
    """A plain callable as a listener (called for updates and the final state)."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def update(self, state: BatchState) -> None:
        self.fn(state)

    def close(self, state: BatchState) -> None:
        self.fn(state)


class NoProgress:
    def update(self, state: BatchState) -> None:
        pass

    def close(self, state: BatchState) -> None:
        pass


class TextProgress:
    """One line on a terminal (rewritten in place), else a line every `every` seconds."""

    def __init__(self, stream: TextIO | None = None, every: float = 10.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0

    def update(self, state: BatchState) -> None:
        now = time.monotonic()
        if self._tty:
            self.stream.write("\r" + state.line() + "\x1b[K")
            self.stream.flush()
        elif now - self._last >= self.every:
            self._last = now
            self.stream.write(state.line() + "\n")
            self.stream.flush()

    def close(self, state: BatchState) -> None:
        self.stream.write(("\r" if self._tty else "") + state.line() + "\n")
        self.stream.flush()


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def auto_progress() -> Progress:
    """The live bar in a notebook kernel, plain text elsewhere."""
    if _in_notebook():
        try:
            from ..display.batch import NotebookProgress  # late: see the module docstring

            return NotebookProgress()
        except ImportError:
            pass
    return TextProgress()


def as_progress(progress: Any) -> Progress:
    """`True`/"auto" -> auto_progress(); False/None -> nothing; a Progress or a callable."""
    if progress is True or progress == "auto":
        return auto_progress()
    if progress is None or progress is False:
        return NoProgress()
    if isinstance(progress, Progress):
        return progress
    if callable(progress):
        return CallbackProgress(progress)
    raise TypeError("progress must be True, False, a callable or an object with update/close.")


__all__ = [
    "BatchState",
    "Progress",
    "TextProgress",
    "NoProgress",
    "CallbackProgress",
    "auto_progress",
    "as_progress",
]
