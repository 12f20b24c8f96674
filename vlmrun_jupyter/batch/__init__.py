"""Batch work over datasets: `client.map(prompt, items, ...)`.

One completion (or agent execution) per item of a list, a pandas Series or a folder,
with bounded concurrency that backs off together on 429, per-item errors, a journal on
disk that makes a re-run send only what is missing, progress, and a `BatchResult` that
renders as a paged table. `executor=` runs the attempts on any
`concurrent.futures.Executor`, Dask's included (docs/scaling.md).

Layer: below the client (`Client.map` calls `map_items` with itself), above results and
cache; it uses the client it is given, never imports it.
"""

from .items import content_key, folder_items, items_of
from .journal import Journal
from .progress import BatchState, Progress, TextProgress, auto_progress
from .result import BatchPage, BatchResult, ItemError, ItemResult
from .runner import DEFAULT_CONCURRENCY, map_items

__all__ = [
    "map_items",
    "BatchResult",
    "BatchPage",
    "ItemResult",
    "ItemError",
    "BatchState",
    "Progress",
    "TextProgress",
    "auto_progress",
    "Journal",
    "items_of",
    "folder_items",
    "content_key",
    "DEFAULT_CONCURRENCY",
]
