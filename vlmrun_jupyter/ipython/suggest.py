""" "Did you mean ...?": the closest known name to a mistyped one.

One rule for every name the magic looks up (subcommands, schemas, `{{ }}` names,
`-i` variables), so a typo is refused with the fix instead of being sent.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

CUTOFF = 0.75  # difflib's ratio: one or two typos in a short word pass, other words do not


def closest(word: str, candidates: Iterable[str], cutoff: float = CUTOFF) -> str | None:
    """The candidate closest to `word` (case-insensitive), if any is close enough."""
    pool = [c for c in candidates if c and c != word]
    by_lower = {c.lower(): c for c in pool}
    if word.lower() in by_lower:
        return by_lower[word.lower()]
    found = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[found[0]] if found else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`' Did you mean photo?'`, or '' when nothing is close."""
    best = closest(word, candidates)
    return f" Did you mean {best}?" if best else ""


def notebook_names(namespace: dict[str, Any], want: Any = None) -> list[str]:
    """The user's public names (those `want(value)` accepts), for suggestions."""
    return [
        k
        for k, v in namespace.items()
        if isinstance(k, str) and not k.startswith("_") and (want is None or want(v))
    ]


__all__ = ["closest", "did_you_mean", "notebook_names", "CUTOFF"]
