"""A `VlmRunError` as the notebook shows it: one line that says what happened and what
to do, then details on demand (`%vlmrun error`).

The line is `Name (facts): what happened. What to do.`: the HTTP status appears once
(the server's own "HTTP 503" in its text is dropped), retries and the time spent are
facts, a mistake caught before sending says "nothing sent", and a long server text is
cut so the line stays under `MAX` characters. When the server's text carries a list
(the offline local server's instructions), the list follows as short lines.
"""

from __future__ import annotations

import re

from ..errors import RequestError, VlmRunError, VlmRunTimeoutError, redact

MAX = 159  # characters of the one line
MORE = " (more: %vlmrun error)"
_WHAT = re.compile(r"^(?P<what>[A-Z]+ \S+?)(?: -> HTTP \d{3}[:.]|:)\s+", re.S)
MAGIC_TIMEOUT = "Raise --timeout (or VlmRunMagics.timeout), or try again."
_LIST = re.compile(r"\n\s*[-*] ")
LOCAL_MARK = "local server"
_CLOSEST = re.compile(r"[Cc]losest[^']*'([^']+)'")


def _parts(exc: VlmRunError) -> tuple[str, str]:
    """(what the server said, or the message; the request it answered, if any)."""
    message = exc.message
    m = _WHAT.match(message)
    if m is None:
        return message, ""
    return message[m.end() :], m.group("what")


def facts(exc: BaseException) -> list[str]:
    """HTTP status, attempts and time spent, or that nothing was sent."""
    out: list[str] = []
    status = getattr(exc, "status", None)
    if status:
        out.append(f"HTTP {status}")
    attempts = getattr(exc, "attempts", 1) or 1
    elapsed = getattr(exc, "elapsed", None)
    if attempts > 1:
        took = f" over {elapsed:.1f} s" if elapsed is not None else ""
        out.append(f"{attempts} attempts{took}")
    if isinstance(exc, RequestError) and not status:
        out.append("nothing sent")
    return out


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if not text or text[-1] in ".?!)" else text + "."


def _strip_status(text: str, status: int | None) -> str:
    if not status:
        return text
    return re.sub(rf"\s*\(?\bHTTP {status}\b\)?:?", "", text).strip(" :")


def split_list(text: str) -> tuple[str, list[str]]:
    """A server text `head\\n- a\\n- b` -> (head, [a, b]); other texts -> (text, [])."""
    pieces = _LIST.split(text)
    return pieces[0], [p.strip() for p in pieces[1:] if p.strip()]


def error_lines(exc: BaseException, *secrets: str | None) -> list[str]:
    """The short notebook traceback: one line, plus a list where the server gave one."""
    if not isinstance(exc, VlmRunError):
        return [f"{type(exc).__name__}: {redact(str(exc), *secrets)}"]
    status = exc.status
    said, _what = _parts(exc)
    head, items = split_list(redact(said, *secrets))
    hint = _sentence(_strip_status(redact(exc.hint or "", *secrets), status))
    if isinstance(exc, VlmRunTimeoutError):  # the magic's own knob, not the Client's
        hint = MAGIC_TIMEOUT
    if items and status == 422 and LOCAL_MARK in head:
        near = _CLOSEST.search(head)
        items = [f"{i}   <- closest" if near and i == near.group(1) else i for i in items]
        head = "the offline local server only knows the instructions below"
        hint = "Rephrase the prompt as one of them (the real API takes any prompt)."
    body = _sentence(_strip_status(head, status))
    if hint and hint in body:
        hint = ""
    label = type(exc).__name__
    info = facts(exc)
    prefix = f"{label} ({', '.join(info)}): " if info else f"{label}: "
    tail = f" {hint}" if hint else ""
    line = prefix + body + tail
    if len(line) > MAX:  # cut the server's text, keeping what to do while there is room
        room = MAX - len(prefix) - len(tail) - len(MORE) - 1
        if room < 30:
            tail, room = "", MAX - len(prefix) - len(MORE) - 1
        cut = body[:room].rsplit(" ", 1)[0]
        line = (prefix + cut + "…" + MORE + tail)[:MAX]
    return [line] + [f"  - {item}"[:MAX] for item in items]


def details(exc: BaseException, *secrets: str | None) -> str:
    """Everything known about an error, for `%vlmrun error` (key redacted)."""
    if not isinstance(exc, VlmRunError):
        return redact(f"{type(exc).__name__}: {exc}", *secrets)
    said, what = _parts(exc)
    rows = [
        ("error", f"{type(exc).__name__} ({exc.title})"),
        ("request", what),
        ("status", str(exc.status or "")),
        ("attempts", str(getattr(exc, "attempts", 1) or 1)),
        ("time spent", f"{getattr(exc, 'elapsed', None) or 0:.1f} s"),
        ("message", said),
        ("what to do", exc.hint or ""),
        ("full traceback", "%config VlmRunMagics.short_errors = False, then run the cell again"),
    ]
    width = max(len(k) for k, _ in rows)
    text = "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows if v and v != "0.0 s")
    return redact(text, *secrets)


__all__ = ["error_lines", "details", "facts", "split_list", "MAX"]
