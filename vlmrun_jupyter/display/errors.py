"""Error cards: a failed fetch or render shows what happened and what to do.

Never a traceback, never an exception out of a repr. `VlmRunError`s carry their own
title, message and hint; anything else (a corrupt file that PIL, PyAV or pdfium
chokes on, a bug) is described by its type and first line, with advice to fetch again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..errors import LimitError, VlmRunError, redact
from ..refs import BaseRef
from .html import error_card

log = logging.getLogger(__name__)

MAX_MESSAGE = 600


def _clip(text: str, limit: int = MAX_MESSAGE) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(exc: BaseException, path: Path | None = None) -> tuple[str, str, str]:
    """(title, message, hint) for any exception, redacted and clipped."""
    if isinstance(exc, VlmRunError) and (path is None or isinstance(exc, LimitError)):
        # a budget that stopped the preview: its own title, the limit and how to raise it
        return exc.title, redact(_clip(exc.message)), redact(_clip(exc.hint or ""))
    if isinstance(exc, VlmRunError):
        message = exc.message
    else:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        message = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    if path is not None:  # fetched fine, but the file cannot be read: say which one
        title = "Cannot read the artifact"
        hint = (
            f"The cached file may be corrupt: delete {path.name} from the cache "
            f"({path.parent}) and display the ref again to download it afresh."
        )
    else:
        title = "Cannot display this"
        hint = "This is likely a bug in vlmrun-jupyter; `ref.fetch()` still gives you the file."
    return title, redact(_clip(message)), redact(_clip(hint))


def _who(ref: BaseRef | None) -> str | None:
    return f"{type(ref).__name__} {ref.id}" if ref is not None else None


def error_html(exc: BaseException, ref: BaseRef | None = None, path: Path | None = None) -> str:
    """The compact card: what happened (title, message) and what to do (hint)."""
    return error_card(*describe(exc, path), who=_who(ref))


def error_plain(exc: BaseException, ref: BaseRef | None = None, path: Path | None = None) -> str:
    title, message, _ = describe(exc, path)
    who = _who(ref)
    return f"<{who + ': ' if who else ''}{title}: {message}>"


def error_bundle(
    exc: BaseException, ref: BaseRef | None = None, path: Path | None = None
) -> dict[str, Any]:
    """The error card as a MIME dict (text/plain and text/html)."""
    log.debug("rendering an error card", exc_info=exc)
    return {"text/plain": error_plain(exc, ref, path), "text/html": error_html(exc, ref, path)}
