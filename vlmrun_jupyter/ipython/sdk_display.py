"""What the official SDK's `client.artifacts` hands back, displayed as the artifact.

- A `Path` inside a VLM Run artifact cache (`<cache>/artifacts/<namespace>/<file>`,
  the layout both tools share) renders as its kind's preview: `<object_id>.<ext>`
  by its id, a downloaded `url_` target (`photo.jpg.jpg`) through the sidecar that
  names its ref. Any other path returns None, so it keeps IPython's default display.
- An `ArtifactListResponse` renders as a gallery of its artifacts.

The namespace kind (session or execution) is what this kernel observed
(`sdk_clients.kind_of`), else an `AgentExecutionResponse` with that id held by the
notebook, else a session (chat completions make most artifacts).
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePath
from typing import Any

from IPython import get_ipython
from pydantic import BaseModel

from .. import kinds
from ..cache import url_file_name
from ..display import ref_bundle, result_bundle
from ..display.sdk import EXECUTION_TYPES, is_one_of
from ..refs import BaseRef, coerce_ref, make_ref, registry
from ..session import cache_for
from . import sdk_clients

ARTIFACT_LIST_TYPES = (("vlmrun.client.types", "ArtifactListResponse"),)
_SIDECAR = ".url"
# A session or execution id as the API hands them out (UUIDs and the like), not prose.
MAX_PICTURES, PICTURE_BYTES, PICTURE_EDGE = 64, 120_000, 480  # a gallery of PIL images
NAMESPACE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{7,63}\Z")


def iter_sdk_refs(value: Any, depth: int = 0) -> list[BaseRef]:
    """Refs (ours or the SDK's models) inside `value`: itself, pydantic fields, lists."""
    ref = coerce_ref(value)
    if ref is not None or depth > 6:
        return [ref] if ref is not None else []
    if isinstance(value, BaseModel):
        items = [getattr(value, n, None) for n in type(value).model_fields]
    elif isinstance(value, (list, tuple)):
        items = list(value[:200])
    elif isinstance(value, dict):
        items = list(value.values())[:200]
    else:
        return []
    return [r for item in items for r in iter_sdk_refs(item, depth + 1)]


def _roots() -> list[Path]:
    """The artifact directories of every cache in use (ours and the SDK's, often one)."""
    roots = {cache_for().root}
    for client in sdk_clients.clients():
        roots.add(client.cache.root)
    env = os.environ.get("VLMRUN_CACHE_DIR")
    roots.add(Path(env).expanduser() / "artifacts" if env else Path.home() / ".vlmrun" / "cache" / "artifacts")  # fmt: skip
    return [r.resolve() for r in roots]


def _kind_of_namespace(ns_id: str) -> str:
    seen = sdk_clients.kind_of(ns_id)
    if seen:
        return seen
    ip = get_ipython()
    for value in list(ip.user_ns.values()) if ip is not None else []:
        if is_one_of(value, EXECUTION_TYPES) and getattr(value, "id", None) == ns_id:
            return "execution"
    return "session"


def _bound(object_id: str, ns_id: str) -> BaseRef:
    ref = make_ref(object_id)
    known = registry.lookup(object_id)
    if known is not None and known.id == ns_id:
        return ref.bind(**{f"{known.kind}_id": ns_id})
    return ref.bind(**{f"{_kind_of_namespace(ns_id)}_id": ns_id})


def _url_owner(ns_dir: Path, name: str) -> str | None:
    """The url_ ref whose sidecar names a target called `name` in `ns_dir`."""
    try:
        sidecars = [e for e in os.scandir(ns_dir) if e.name.endswith(_SIDECAR)]
    except OSError:
        return None
    for entry in sidecars:
        oid = entry.name[: -len(_SIDECAR)]
        try:
            url = Path(entry.path).read_text("utf-8").strip()
        except OSError:
            continue
        if kinds.is_object_id(oid) and url_file_name(url) == name:
            return oid
    return None


def ref_for_path(path: PurePath) -> BaseRef | None:
    """The ref a cached artifact file belongs to (bound to its namespace), else None."""
    try:
        resolved = Path(path).resolve()
        if not resolved.is_file():
            return None
    except (OSError, RuntimeError, ValueError):
        return None
    ns_dir = resolved.parent
    if ns_dir.parent not in _roots():
        return None
    name = resolved.name
    oid = name.split(".", 1)[0]
    if not kinds.is_object_id(oid) or ".preview." in name:
        oid = _url_owner(ns_dir, name)
    if oid is None:
        return None
    return _bound(oid, ns_dir.name)


def path_bundle(path: Any) -> Any:
    """Display printer for `Path`: the artifact's preview, or None (IPython's default)."""
    try:
        ref = ref_for_path(path)
        return ref_bundle(ref, path=Path(path).resolve()) if ref is not None else None
    except Exception:
        return None


def artifact_list_bundle(value: Any) -> Any:
    """Display printer for the SDK's `ArtifactListResponse`: a gallery of its artifacts."""
    try:
        ns_id = str(value.namespace_id)
        refs = [
            _bound(item.object_id, ns_id)
            for item in value.items
            if kinds.is_object_id(getattr(item, "object_id", None))
        ]
        return result_bundle(refs) if refs else None
    except Exception:
        return None


# -- registration (by name for the SDK's classes, so the SDK is never imported) ------------


def _bind_pair(obj: tuple[Any, ...]) -> None:
    """`(result, "<session id>")`, what cookbook helpers return: bind the result's refs."""
    ids = [v for v in obj if isinstance(v, str) and NAMESPACE_ID_RE.match(v)]
    if len(ids) == 1 and len(obj) <= 4:
        for value in obj:
            if value is not ids[0]:
                for ref in iter_sdk_refs(value):
                    if registry.lookup(ref.id) is None:
                        _bound(ref.id, ids[0])


def pictures_bundle(value: list[Any] | tuple[Any, ...]) -> dict[str, str] | None:
    """A list of PIL images (what `artifacts.get` returns for images, collected in a
    comprehension, as the documents do) as a gallery; None for anything else."""
    from PIL import Image

    from ..display import html
    from ..display.pictures import picture

    if not value or len(value) > MAX_PICTURES:
        return None
    if not all(isinstance(v, Image.Image) for v in value):
        return None
    cells = [
        html.gallery_cell(
            picture(im, PICTURE_BYTES, PICTURE_EDGE, f"image {i + 1}"),
            html.muted(f"{i + 1}: {im.width}x{im.height}"),
        )
        for i, im in enumerate(value)
    ]
    return {"text/plain": repr(value), "text/html": html.grid(cells)}


def _sequences(previous: Any) -> Any:
    """The list/tuple printer: a `(result, session_id)` pair binds its refs, a list of
    pictures is a gallery, and everything else is displayed as `previous` does."""

    def printer(obj: Any) -> Any:
        try:
            if isinstance(obj, tuple):
                _bind_pair(obj)
            pictures = pictures_bundle(obj)
            if pictures is not None:
                return pictures
        except Exception:
            pass
        return previous(obj) if previous is not None else None

    printer._vlmrun = True  # type: ignore[attr-defined]  # ours: never restored as "previous"
    return printer


def register(ip: Any) -> None:
    fmt = ip.display_formatter.mimebundle_formatter
    fmt.for_type(PurePath, path_bundle)
    for key in ARTIFACT_LIST_TYPES:
        fmt.for_type_by_name(*key, artifact_list_bundle)
    for typ in (list, tuple):
        fmt.for_type(typ, _sequences(fmt.type_printers.get(typ)))


def unregister(ip: Any) -> None:
    """Remove our Path and listing printers (list and tuple ones go with formatters')."""
    fmt = ip.display_formatter.mimebundle_formatter
    if fmt.type_printers.get(PurePath) is path_bundle:
        fmt.type_printers.pop(PurePath)
    for key in ARTIFACT_LIST_TYPES:
        if fmt.deferred_printers.get(key) is artifact_list_bundle:
            fmt.deferred_printers.pop(key)
        for typ, p in list(fmt.type_printers.items()):
            if p is artifact_list_bundle:
                fmt.type_printers.pop(typ)


__all__ = [
    "ARTIFACT_LIST_TYPES",
    "NAMESPACE_ID_RE",
    "iter_sdk_refs",
    "ref_for_path",
    "path_bundle",
    "artifact_list_bundle",
    "pictures_bundle",
    "register",
    "unregister",
]
