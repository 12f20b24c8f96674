"""`BatchResult.to_pandas()`: pandas is an optional extra, imported only here.

The DataFrame is a thin subclass whose only change is its HTML: refs (and images)
render as thumbnails through the display layer instead of their text, within the
inline budget; every operation on it returns the same subclass, so a filtered or
sorted frame still shows thumbnails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    import pandas as pd
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "BatchResult.to_pandas() needs pandas: pip install 'vlmrun-jupyter[batch]'"
    ) from exc
from pydantic import BaseModel

if TYPE_CHECKING:
    from .result import BatchResult


class BatchFrame(pd.DataFrame):
    """A DataFrame whose HTML shows refs as thumbnails."""

    @property
    def _constructor(self) -> type[BatchFrame]:
        return BatchFrame

    def _repr_html_(self) -> str | None:
        try:
            from ..display.batch import frame_html  # late: renders itself (.importlinter)

            return frame_html(self)
        except Exception:
            return super()._repr_html_()


def _fields(result: Any) -> dict[str, Any]:
    """A result's columns: a model's fields (values as they are, refs included), a dict's
    keys, else one `result` column."""
    if isinstance(result, BaseModel):
        return {name: getattr(result, name) for name in type(result).model_fields}
    if isinstance(result, dict):
        return dict(result)
    return {"result": result}


def to_frame(batch: BatchResult) -> BatchFrame:
    """One row per item; index: the labels; columns: input, the result's fields, error."""
    rows: list[dict[str, Any]] = []
    names: dict[str, None] = {"input": None}
    for r in batch:
        row: dict[str, Any] = {"input": r.item}
        result = r.result
        if result is not None:
            fields = _fields(result)
            names.update(dict.fromkeys(fields))
            row.update(fields)
        err = r.error
        row["error"] = str(err) if err else None
        rows.append(row)
    names["error"] = None
    data = {name: [row.get(name) for row in rows] for name in names}
    index = pd.Index([r.label for r in batch], name="item")
    return BatchFrame(data, index=index, columns=list(names))


__all__ = ["BatchFrame", "to_frame"]
