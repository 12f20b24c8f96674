"""`BatchResult`: what `client.map` returns.

Rows in input order, each holding its input, its label and its journal key. The records
stay in the journal (on disk) and typed results are built when a row is looked at (refs
bound to the caller's client; the last few hundred kept), so a batch of 10,000 answers
holds none of them in memory until someone iterates over all of it. It renders as a bounded,
paged table through the display layer (a late import, like `Completion`), whatever its
length; `to_pandas()` gives a DataFrame whose refs stay objects.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ResponseSchemaError, VlmRunError
from ..refs import BaseRef, Namespace, iter_refs
from ..results import parse_result

PAGE_SIZE = 20
TYPED_KEPT = 512  # typed results kept built (a page needs 20; iterating needs one at a time)


def _bundle(name: str, obj: Any, include: Any, exclude: Any) -> dict[str, Any]:
    """Delegate to the display layer; fall back to text so a repr never raises."""
    try:
        from ..display import batch as view  # late: results render themselves (.importlinter)

        return getattr(view, name)(obj, include, exclude)
    except Exception:
        return {"text/plain": repr(obj)}


@dataclass(frozen=True)
class Row:
    index: int
    label: Any
    item: Any
    key: str


class RowView(Sequence):
    """The rows of a run, made when asked for: its items (`Source`) and each item's
    16-byte journal key (a `store.Column`, on disk) are all it holds."""

    def __init__(self, source: Any, keys: Sequence[bytes]) -> None:
        self.source = source
        self.keys = keys

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError(index)
        label, item = self.source[i]
        return Row(i, label, item, self.keys[i].hex())

    def __iter__(self) -> Iterator[Row]:
        for i, ((label, item), key) in enumerate(zip(self.source, self.keys, strict=True)):
            yield Row(i, label, item, key.hex())


@dataclass(frozen=True)
class ItemError:
    """Why one item failed: the exception's class name, its message, the HTTP status."""

    type: str
    message: str
    status: int | None = None

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


class ItemResult:
    """One row: `item` (the input), `label`, `ok`, `result` (typed) or `error`."""

    __slots__ = ("_batch", "row")

    def __init__(self, batch: BatchResult, row: Row) -> None:
        self._batch = batch
        self.row = row

    index = property(lambda self: self.row.index)
    label = property(lambda self: self.row.label)
    item = property(lambda self: self.row.item)

    @property
    def record(self) -> dict[str, Any] | None:
        return self._batch._records.get(self.row.key)

    @property
    def status(self) -> str:
        """'done', 'failed' or 'pending' (never sent, or interrupted)."""
        record = self.record
        if record is None:
            return "pending"
        if not record.get("ok"):
            return "failed"
        return "failed" if isinstance(self._batch._typed(self.row.key), ItemError) else "done"

    @property
    def ok(self) -> bool:
        return self.status == "done"

    @property
    def result(self) -> Any:
        """The typed result (refs bound), or None when the item failed or is pending."""
        value = self._batch._typed(self.row.key)
        return None if isinstance(value, ItemError) else value

    @property
    def error(self) -> ItemError | None:
        record = self.record
        if record is None:
            return None
        if not record.get("ok"):
            return ItemError(
                str(record.get("error") or "Error"),
                str(record.get("message") or ""),
                record.get("status"),
            )
        value = self._batch._typed(self.row.key)
        return value if isinstance(value, ItemError) else None

    @property
    def namespace(self) -> Namespace | None:
        record = self.record
        ns = record.get("ns") if record else None
        return Namespace(*ns) if ns else None

    def __repr__(self) -> str:
        err = self.error
        what = f"error={str(err)[:80]!r}" if err else f"result={self.result!r}"[:120]
        return f"<ItemResult {self.index} {self.label!r} {self.status} {what}>"


class BatchResult:
    """The outcome of `client.map`, in input order.

    Iterating yields `ItemResult`s; `.results` the typed results (None where an item
    failed); `.errors` the failed rows; `.to_pandas()` a DataFrame; `.retry_failed()`
    sends the failed items again; `.fetch_all()` downloads every ref it holds.
    """

    page_size = PAGE_SIZE

    def __init__(
        self,
        rows: Sequence[Row],
        records: Any,
        *,
        schema: Any = None,
        client: Any = None,
        rerun: Callable[..., BatchResult] | None = None,
    ) -> None:
        self._rows = rows
        self._records = records
        self.schema = schema
        self._client = client
        self._rerun = rerun
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._tally: tuple[Any, dict[str, int], list[int]] | None = None

    # -- typed results ---------------------------------------------------------------------
    def _typed(self, key: str) -> Any:
        """The typed result of a done record (cached), or an ItemError if it does not parse."""
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        record = self._records.get(key)
        if record is None or not record.get("ok"):
            return None
        ns = Namespace(*record["ns"]) if record.get("ns") else None
        try:
            value: Any = parse_result(record.get("answer"), self.schema, ns, self._client)
        except (ResponseSchemaError, VlmRunError) as exc:
            value = ItemError(type(exc).__name__, str(exc))
        self._cache[key] = value
        if len(self._cache) > TYPED_KEPT:
            self._cache.popitem(last=False)
        return value

    # -- sequence --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[ItemResult]:
        return (ItemResult(self, row) for row in self._rows)

    def _counted(self) -> tuple[dict[str, int], list[int]]:
        """Counts by status and the failed rows' positions: one pass, kept until the
        journal changes (the table shows both on every page)."""
        version = getattr(self._records, "version", None)
        if self._tally is not None and version is not None and self._tally[0] == version:
            return self._tally[1], self._tally[2]
        counts = {"done": 0, "failed": 0, "pending": 0}
        failed: list[int] = []
        for i, r in enumerate(self):
            status = r.status
            counts[status] += 1
            if status == "failed":
                failed.append(i)
        self._tally = (version, counts, failed)
        return counts, failed

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return self._subset(self._rows[index])
        return ItemResult(self, self._rows[index])

    def _subset(self, rows: Sequence[Row]) -> BatchResult:
        out = BatchResult(rows, self._records, schema=self.schema, client=self._client)
        return out

    @property
    def results(self) -> list[Any]:
        return [r.result for r in self]

    @property
    def items(self) -> list[Any]:
        return [row.item for row in self._rows]

    @property
    def errors(self) -> list[ItemResult]:
        """The rows that failed, in input order."""
        return [self[i] for i in self._counted()[1]]

    @property
    def counts(self) -> dict[str, int]:
        return dict(self._counted()[0])

    def summary(self) -> str:
        c = self.counts
        parts = [f"{c['done']} done"]
        if c["failed"]:
            parts.append(f"{c['failed']} failed")
        if c["pending"]:
            parts.append(f"{c['pending']} pending")
        return f"{len(self)} items: " + ", ".join(parts)

    def __repr__(self) -> str:
        return f"<BatchResult {self.summary()}>"

    # -- actions ---------------------------------------------------------------------------
    def retry_failed(self, **options: Any) -> BatchResult:
        """Send the failed (and pending) items again; returns the whole batch, updated."""
        if self._rerun is None:
            raise RuntimeError("this BatchResult was not made by client.map (or was pickled).")
        return self._rerun(retry_failed=True, **options)

    def refs(self) -> list[BaseRef]:
        """Every ref in the results, in row order."""
        return [ref for result in self.results for ref in iter_refs(result)]

    def fetch_all(self, max_workers: int = 16) -> list[Any]:
        """Download every ref (concurrently, into the cache); a path or an exception each."""
        refs = self.refs()
        if self._client is None:
            return [_try_fetch(ref) for ref in refs]
        return self._client.fetch_all(refs, max_workers=max_workers, return_exceptions=True)

    def to_pandas(self) -> Any:
        """A DataFrame: one row per item (index: the labels), the input, one column per
        field of the result (refs stay objects and render as thumbnails), the error."""
        from .frame import to_frame

        return to_frame(self)

    def page(self, number: int = 1, size: int | None = None) -> BatchPage:
        """One page of the table (1-based), for looking past the first."""
        return BatchPage(self, number, size or self.page_size)

    # -- display -----------------------------------------------------------------------------
    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return _bundle("batch_bundle", self.page(1), include, exclude)

    def _repr_html_(self) -> str | None:
        return self._repr_mimebundle_().get("text/html")

    def __getstate__(self) -> dict[str, Any]:
        """Rows and their records by value (the journal's file does not travel)."""
        rows = list(self._rows)
        records = {row.key: rec for row in rows if (rec := self._records.get(row.key))}
        state = dict(self.__dict__)
        state.update(_rows=rows, _records=records, _client=None, _rerun=None)
        state.update(_cache=OrderedDict(), _tally=None)
        return state


@dataclass(frozen=True)
class BatchPage:
    """Rows `(number-1)*size` to `number*size` of a batch, rendered as the table."""

    batch: BatchResult
    number: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.batch) // self.size))

    @property
    def rows(self) -> list[ItemResult]:
        n = min(max(1, self.number), self.pages)
        start = (n - 1) * self.size
        return [self.batch[i] for i in range(start, min(start + self.size, len(self.batch)))]

    def __repr__(self) -> str:
        return f"<BatchPage {self.number}/{self.pages} of {self.batch!r}>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return _bundle("batch_bundle", self, include, exclude)


def _try_fetch(ref: BaseRef) -> Any:
    try:
        return ref.fetch()
    except Exception as exc:
        return exc


__all__ = ["BatchResult", "BatchPage", "ItemResult", "ItemError", "Row", "RowView"]
