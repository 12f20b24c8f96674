"""The on-disk journal that lets a batch resume.

One JSON-lines file per batch (prompt, schema, model and agent hashed into its name)
under `<cache dir>/batches/`. Each finished item appends one line, flushed as it is
written, so a Ctrl-C or a kernel restart keeps everything that finished; running the
same batch again reads the file and sends only what is missing. A later line for the
same key wins (a retried error that then succeeded). A torn last line from a killed
process is skipped.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

VERSION = 1


class Journal:
    """Append-only record of finished items, keyed by item key."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file: Any = None
        self.records: dict[str, dict[str, Any]] = {}
        if path is not None and path.exists():
            self._load(path)

    @classmethod
    def memory(cls) -> Journal:
        """A journal that keeps nothing on disk (journal=False)."""
        return cls(None)

    def _load(self, path: Path) -> None:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # torn line from an interrupted write
                if isinstance(record, dict) and isinstance(record.get("k"), str):
                    self.records[record["k"]] = record

    def get(self, key: str) -> dict[str, Any] | None:
        return self.records.get(key)

    def add(self, record: dict[str, Any]) -> None:
        """Record one finished item (thread-safe; written and flushed at once)."""
        with self._lock:
            self.records[record["k"]] = record
            if self.path is None:
                return
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
            self._file.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __len__(self) -> int:
        return len(self.records)


def journal_path(root: Path, spec: str) -> Path:
    """Where the journal of the batch named by `spec` lives."""
    return root / f"v{VERSION}-{spec[:24]}.jsonl"


__all__ = ["Journal", "journal_path"]
