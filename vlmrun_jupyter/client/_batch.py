"""`Client.map`: the batch entry point, kept beside the client rather than inside it.

`Client` inherits it (so the class stays about HTTP); the work is
`vlmrun_jupyter.batch.map_items`, which uses this client and never imports it.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

from ..batch import BatchResult, map_items
from ._protocol import DEFAULT_MODEL


class BatchMethods:
    """What `Client` offers for datasets."""

    def map(
        self,
        prompt: str,
        items: Any,
        *,
        schema: Any = None,
        model: str = DEFAULT_MODEL,
        agent: str | None = None,
        max_concurrency: int | None = None,
        executor: Executor | None = None,
        journal: Any = True,
        progress: Any = True,
        **options: Any,
    ) -> BatchResult:
        """One completion (or agent execution, `agent=`) per item of a list, a pandas
        Series (a DataFrame column) or a folder; `{{ item }}` in the prompt names it.

        At most `max_concurrency` requests in flight (default 32), all paused on a 429;
        per-item errors recorded, never fatal; answers journaled as they land (under the
        cache dir; `journal=False` for none), so running it again sends only what is
        missing and Ctrl-C keeps what finished. `executor=`: any
        `concurrent.futures.Executor`, Dask's `client.get_executor()` included
        (docs/scaling.md). More options: `vlmrun_jupyter.batch.map_items`.
        """
        return map_items(
            self,
            prompt,
            items,
            schema=schema,
            model=model,
            agent=agent,
            max_concurrency=max_concurrency,
            executor=executor,
            journal=journal,
            progress=progress,
            **options,
        )


__all__ = ["BatchMethods"]
