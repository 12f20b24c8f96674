"""vlmrun-jupyter: VLM Run artifacts as first-class notebook objects.

`%load_ext vlmrun_jupyter` registers the magic and display formatters. Heavy
modules (the client, the local server) are imported lazily on first use.
"""

from __future__ import annotations

from typing import Any

from .errors import VlmRunError
from .refs import (
    ArrayRef,
    AudioRef,
    BaseRef,
    DocumentRef,
    ImageRef,
    ReconRef,
    UrlRef,
    VideoRef,
    bind,
)

__version__ = "0.1.0"

_LAZY = {
    "Client": ("vlmrun_jupyter.client", "Client"),
    "Completion": ("vlmrun_jupyter.results", "Completion"),
    "Execution": ("vlmrun_jupyter.results", "Execution"),
    "LocalServer": ("vlmrun_jupyter.local", "LocalServer"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'vlmrun_jupyter' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext vlmrun_jupyter`: register the magic and the display formatters."""
    from .ipython import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext vlmrun_jupyter`: restore what `load` changed."""
    from .ipython import unload

    unload(ipython)


__all__ = [
    "ImageRef",
    "VideoRef",
    "AudioRef",
    "DocumentRef",
    "ReconRef",
    "ArrayRef",
    "UrlRef",
    "BaseRef",
    "Client",
    "Completion",
    "Execution",
    "LocalServer",
    "VlmRunError",
    "bind",
]
