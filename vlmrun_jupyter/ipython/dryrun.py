"""`--dry-run`: the request a run would send, shown instead of sent.

The body comes from the client's own builders (`Client.build_request`,
`Client.build_execution_request`), so what is shown is what would be sent; here it
only gets its key redacted and its `data:` URLs cut short for reading.
"""

from __future__ import annotations

import json
from typing import Any

from ..client import Client
from ..errors import redact

DATA_URL_KEEP = 64  # characters of a data: URL kept in the output


def truncate_data_urls(value: Any) -> Any:
    """A copy of a request body with `data:` URLs cut short."""
    if isinstance(value, dict):
        return {k: truncate_data_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [truncate_data_urls(v) for v in value]
    if isinstance(value, str) and value.startswith("data:") and len(value) > DATA_URL_KEEP:
        return f"{value[:DATA_URL_KEEP]}...<{len(value)} chars>"
    return value


class DryRun(dict):
    """The request `--dry-run` shows: method, url, headers (key redacted) and JSON body."""

    def _text(self) -> str:
        return json.dumps(self, indent=2, default=str)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": self._text()}

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self._text())


def dry_run(client: Client, path: str, body: dict[str, Any], secrets: list[str]) -> DryRun:
    """The POST of `body` to `path` as shown: no key, short data URLs."""
    request = {
        "method": "POST",
        "url": f"{client.base_url}/{path}",
        "headers": {"Authorization": "Bearer ***"} if client.settings.api_key else {},
        "json": truncate_data_urls(body),
    }
    return DryRun(json.loads(redact(json.dumps(request, default=str), *secrets)))


__all__ = ["DryRun", "dry_run", "truncate_data_urls"]
