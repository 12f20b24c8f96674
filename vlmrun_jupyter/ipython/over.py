"""`%vlmrun --over NAME`: the magic's batch form, one run per item (`client.map`).

NAME is a notebook variable (a list, a pandas Series or DataFrame column, `df.image`)
or a folder path. In the prompt `{{ item }}` is the item, sent as media; any other
`{{ expr }}` is expanded once, as text, for every item alike. The result is the
`BatchResult` (a paged table), stored like any result (`_vlmrun`, `-o`). Running the
same cell again sends only what is missing (the batch journal).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

from ..batch.worker import PLACEHOLDER
from .interpolate import NAME, interpolate

_HIDDEN = "\x01item\x01"  # `{{ item }}` while the other {{ }} are expanded


def items_for(name: str, scope: dict[str, Any], lookup: Any) -> Any:
    """The items NAME names: a variable first, else an existing folder."""
    if NAME.match(name) and name.split(".", 1)[0] in scope:
        return lookup(name)
    folder = Path(name).expanduser()
    if folder.is_dir():
        return folder
    raise UsageError(
        f"--over {name}: no such variable or folder; give a list, a pandas Series "
        "(a DataFrame column such as df.image) or a folder path. Nothing was sent."
    )


def template_for(template: str, namespace: dict[str, Any], local_ns: Any = None) -> str:
    """The batch prompt: other `{{ expr }}` expanded as text, `{{ item }}` kept (without
    it the item still goes along, after the prompt)."""
    hidden = PLACEHOLDER.sub(_HIDDEN, template)
    prompt = interpolate(hidden, namespace, local_ns)
    if prompt.inputs:
        raise UsageError(
            "with --over, only {{ item }} is sent as media; the other {{ }} in the prompt "
            "named media. Nothing was sent."
        )
    return prompt.text.replace(_HIDDEN, "{{ item }}")


def run_over(
    client: Any,
    over: str,
    template: str,
    *,
    scope: dict[str, Any],
    lookup: Any,
    namespace: dict[str, Any],
    local_ns: Any,
    **options: Any,
) -> Any:
    """Resolve NAME and the prompt, then `client.map(...)` (a live progress bar)."""
    items = items_for(over, scope, lookup)
    prompt = template_for(template, namespace, local_ns)
    return client.map(prompt, items, progress=True, **options)


__all__ = ["run_over", "items_for", "template_for"]
