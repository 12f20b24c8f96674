"""Retries and deadlines: what to do after a failed attempt (back off, honour
Retry-After, give up), and one wall-clock budget per operation that every request, body
read and retry wait inside it shares (per thread)."""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from ..errors import VlmRunError, VlmRunTimeoutError

log = logging.getLogger("vlmrun_jupyter.client")
T = TypeVar("T")


class Retry(Exception):
    """This attempt failed in a way worth repeating (a dropped connection, 429, 5xx)."""

    def __init__(self, error: VlmRunError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """At most 1 + max_retries attempts; exponential backoff with jitter, or the server's
    Retry-After capped at `retry_after_max`."""

    max_retries: int = 3
    backoff_base: float = 0.2
    backoff_max: float = 8.0
    retry_after_max: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return max(0.0, min(retry_after, self.retry_after_max))
        d = min(self.backoff_max, self.backoff_base * (2**attempt))
        return d / 2 + random.uniform(0, d / 2)

    def run(self, attempt_fn: Callable[[], T], deadline: Deadline | None = None) -> T:
        """Call `attempt_fn` until it returns, raises something final, or attempts run out
        (or the wait before the next one would pass `deadline`). The final error records
        `attempts` and `elapsed` (seconds), so messages can say so."""
        start = time.monotonic()
        for attempt in range(self.max_retries + 1):
            try:
                return attempt_fn()
            except Retry as r:
                late = deadline is not None and deadline.remaining < self.delay(attempt, None) / 2
                if attempt >= self.max_retries or late:
                    r.error.attempts = attempt + 1
                    r.error.elapsed = time.monotonic() - start
                    raise r.error from None
                wait = self.delay(attempt, r.retry_after)
                log.debug("retrying in %.2fs after: %s", wait, r.error.message)
                time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover


_active = threading.local()  # the Deadline of the operation running on this thread


class Deadline:
    """A wall-clock budget for a whole operation (a fetch, a completion, an execution):
    every request, body read and retry wait of that operation fits inside it."""

    def __init__(self, seconds: float, what: str = "the request") -> None:
        self.seconds = seconds
        self.what = what
        self.start = time.monotonic()

    @staticmethod
    def current() -> Deadline | None:
        """The deadline of the operation running on this thread, if any."""
        return getattr(_active, "deadline", None)

    def check(self, what: str, slack: float = 0.0) -> None:
        """Raise the final timeout once the budget is spent (within `slack` seconds: a
        read timeout cut to the deadline fires just before it)."""
        if self.remaining <= slack:
            err = VlmRunTimeoutError(
                f"{what}: gave up after {self.elapsed:.1f} s, past the {self.seconds:g} s "
                f"deadline for {self.what}.",
                hint="Raise it with deadline= (Client) or VLMRUN_DEADLINE=<seconds>.",
            )
            err.elapsed = self.elapsed
            raise err

    def read_timeout(self, timeout: float) -> float:
        """The per-read timeout of a request sent now: never past the deadline."""
        return max(0.001, min(timeout, self.remaining))

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    @property
    def remaining(self) -> float:
        return self.seconds - self.elapsed


@contextlib.contextmanager
def within(what: str, seconds: float) -> Iterator[Deadline]:
    """One total deadline for everything inside on this thread: requests, body reads
    and retry waits. A nested operation keeps the outer deadline when it is tighter."""
    outer = Deadline.current()
    mine = Deadline(seconds, what)
    active = outer if outer is not None and outer.remaining <= mine.remaining else mine
    _active.deadline = active
    try:
        yield active
    finally:
        _active.deadline = outer


__all__ = ["Deadline", "Retry", "RetryPolicy", "within"]
