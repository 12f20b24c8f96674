"""The public API is small and pinned: a name added or lost here is a decision, not an
accident. Heavy parts (the client's HTTP stack, the local server, codecs) load lazily."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import vlmrun_jupyter

PUBLIC = [
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


def test_all_is_pinned():
    assert vlmrun_jupyter.__all__ == PUBLIC


def test_every_public_name_resolves():
    from vlmrun_jupyter import refs

    for name in PUBLIC:
        assert getattr(vlmrun_jupyter, name) is not None, name
    assert vlmrun_jupyter.ImageRef is refs.ImageRef
    assert vlmrun_jupyter.Client.__module__.startswith("vlmrun_jupyter.client")
    assert vlmrun_jupyter.LocalServer.__module__.startswith("vlmrun_jupyter.local")


def test_star_import_gives_exactly_the_public_names():
    ns: dict = {}
    exec("from vlmrun_jupyter import *", ns)  # noqa: S102
    assert sorted(k for k in ns if not k.startswith("__")) == sorted(PUBLIC)


def test_an_unknown_name_is_an_attribute_error():
    try:
        vlmrun_jupyter.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_the_extension_entry_points_exist():
    assert callable(vlmrun_jupyter.load_ipython_extension)
    assert callable(vlmrun_jupyter.unload_ipython_extension)


def test_the_package_is_typed():
    assert (Path(vlmrun_jupyter.__file__).parent / "py.typed").is_file()


def test_importing_the_package_stays_light():
    """`import vlmrun_jupyter` (done by every notebook with refs) loads no HTTP stack, no
    server, no media codecs and no widgets."""
    code = (
        "import sys, vlmrun_jupyter; "
        "heavy = ['httpx', 'starlette', 'uvicorn', 'av', 'pypdfium2', 'anywidget', 'cv2']; "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
