"""Settings resolved from the environment, the same variables the official SDK reads.

Kept in one place so the client, the cache, the renderers and the magic agree on
where artifacts live and how large an inline output may be.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_BASE_URL = "https://api.vlm.run/v1"
DEFAULT_CACHE_DIR = Path("~/.vlmrun/cache")
DEFAULT_INLINE_BUDGET = 2 * 1024 * 1024  # bytes per output, whatever the artifact's size
DEFAULT_CACHE_MAX_BYTES = 20 * 1024**3
# Budgets (issue 14): a hostile answer must not fill memory or the disk.
DEFAULT_MAX_ARTIFACT_BYTES = 8 * 1024**3  # one artifact file; generous: real videos fit
DEFAULT_MAX_DECODED_BYTES = 256 * 1024**2  # a compressed (Content-Encoding) body, decoded
DEFAULT_MAX_JSON_BYTES = 64 * 1024**2  # one JSON answer (or streamed answer), decoded
DEFAULT_DEADLINE = 600.0  # seconds in all for one fetch or one completion, retries included


def _env_float(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        return default
    return value if value > 0 else default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        return default


@dataclass(frozen=True)
class Settings:
    """A snapshot of configuration; `repr` never shows the key."""

    api_key: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    cache_dir: Path = DEFAULT_CACHE_DIR
    inline_budget: int = DEFAULT_INLINE_BUDGET
    cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES
    max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES
    max_json_bytes: int = DEFAULT_MAX_JSON_BYTES
    deadline: float = DEFAULT_DEADLINE

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Environment first, then explicit non-None overrides win."""
        s = cls(
            api_key=os.environ.get("VLMRUN_API_KEY") or None,
            base_url=(os.environ.get("VLMRUN_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
            cache_dir=Path(os.environ.get("VLMRUN_CACHE_DIR") or DEFAULT_CACHE_DIR).expanduser(),
            inline_budget=_env_int("VLMRUN_INLINE_BUDGET", DEFAULT_INLINE_BUDGET),
            cache_max_bytes=_env_int("VLMRUN_CACHE_MAX_BYTES", DEFAULT_CACHE_MAX_BYTES),
            max_artifact_bytes=_env_int("VLMRUN_MAX_ARTIFACT_BYTES", DEFAULT_MAX_ARTIFACT_BYTES),
            max_decoded_bytes=_env_int("VLMRUN_MAX_DECODED_BYTES", DEFAULT_MAX_DECODED_BYTES),
            max_json_bytes=_env_int("VLMRUN_MAX_JSON_BYTES", DEFAULT_MAX_JSON_BYTES),
            deadline=_env_float("VLMRUN_DEADLINE", DEFAULT_DEADLINE),
        )
        clean = {k: v for k, v in overrides.items() if v is not None}
        if "base_url" in clean:
            clean["base_url"] = str(clean["base_url"]).rstrip("/")
        if "cache_dir" in clean:
            clean["cache_dir"] = Path(clean["cache_dir"]).expanduser()  # type: ignore[arg-type]
        return replace(s, **clean)  # type: ignore[arg-type]
