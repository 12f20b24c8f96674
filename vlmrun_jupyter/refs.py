"""The seven artifact ref kinds.

A ref is just `{"id": "img_a1b2c3"}` on the wire. Our classes produce exactly the
official SDK's JSON schema (same titles, same patterns) so servers recognise them,
and add what a notebook needs: a binding to the session or execution the artifact
lives in (kept outside the schema and outside `model_dump`), lazy `fetch()` into
the disk cache, `load()` returning the SDK's Python types, and rich display.

Constructing or parsing a ref never does I/O; the first display or `fetch()` does.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from . import kinds
from .errors import UnboundRefError
from .kinds import KINDS, Kind


class RefClient(Protocol):
    """What a ref needs from a client: `Client` (two layers up) fits, and so does a fake."""

    def fetch(self, ref: Any) -> Path: ...


NamespaceKind = Literal["session", "execution"]

# Namespace ids become directory names in the cache: keep them to a safe alphabet.
_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


@dataclass(frozen=True)
class Namespace:
    """Where an artifact lives: a chat session or an agent execution."""

    kind: NamespaceKind
    id: str

    def __post_init__(self) -> None:
        if self.kind not in ("session", "execution"):
            raise ValueError(f"namespace kind must be 'session' or 'execution', not {self.kind!r}")
        if not isinstance(self.id, str) or not _NAMESPACE_RE.match(self.id) or ".." in self.id:
            raise ValueError(
                f"invalid {self.kind} id {_short(self.id)}: expected letters, digits, '.', '_' or '-'"
            )

    @property
    def query(self) -> dict[str, str]:
        """The query parameter the artifacts endpoint expects."""
        return {f"{self.kind}_id": self.id}


def namespace(session_id: str | None = None, execution_id: str | None = None) -> Namespace:
    """Exactly one of the two ids, as the artifacts endpoint demands."""
    if (session_id is None) == (execution_id is None):
        raise ValueError("pass exactly one of session_id= or execution_id=")
    if session_id is not None:
        return Namespace("session", session_id)
    return Namespace("execution", execution_id)  # type: ignore[arg-type]


class _Registry:
    """Remembers which namespace each ref id was seen in, so refs that user code
    parsed itself (without binding) still find their session. Finders (added by the
    extension) are asked about ids never seen, e.g. to look through the SDK objects a
    notebook holds; what they find is remembered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, Namespace] = {}
        self._finders: list[Callable[[str], Namespace | None]] = []
        self._local = threading.local()

    def remember(self, object_id: str, ns: Namespace) -> None:
        if getattr(self._local, "quiet", False):
            return
        with self._lock:
            self._seen[object_id] = ns

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """Refs parsed in this thread inside the block are bound but not remembered: a
        batch worker's answers are journaled as text and typed again where someone looks,
        so 10,000 of them must not leave 10,000 entries here."""
        before = getattr(self._local, "quiet", False)
        self._local.quiet = True
        try:
            yield
        finally:
            self._local.quiet = before

    def lookup(self, object_id: str) -> Namespace | None:
        with self._lock:
            found = self._seen.get(object_id)
            finders = list(self._finders)
        for finder in finders if found is None else ():
            try:
                found = finder(object_id)
            except Exception:  # a finder never breaks a lookup
                found = None
            if found is not None:
                self.remember(object_id, found)
                break
        return found

    def add_finder(self, finder: Callable[[str], Namespace | None]) -> None:
        with self._lock:
            if finder not in self._finders:
                self._finders.append(finder)

    def remove_finder(self, finder: Callable[[str], Namespace | None]) -> None:
        with self._lock:
            if finder in self._finders:
                self._finders.remove(finder)

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


registry = _Registry()


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _id_field(kind: str) -> Any:
    """The `id` field of a ref class: the SDK's schema pattern, read from the kinds table."""
    return Field(..., pattern=KINDS[kind].schema_pattern)


class BaseRef(BaseModel):
    """Common behaviour of every ref kind. A subclass names its row of `kinds.KINDS` in
    `kind_info`; `prefix`, `kind`, `ext` and `content_types` are copied from that row."""

    model_config = ConfigDict(frozen=False)

    kind_info: ClassVar[Kind | None] = None
    prefix: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    ext: ClassVar[str] = "bin"  # cache file extension, as the SDK names it
    content_types: ClassVar[tuple[str, ...]] = ()

    id: str

    _namespace: Namespace | None = PrivateAttr(default=None)
    _client: RefClient | None = PrivateAttr(default=None)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        info = cls.kind_info
        if info is not None:
            cls.prefix, cls.kind, cls.ext = info.prefix, info.name, info.ext
            cls.content_types = info.content_types

    @field_validator("id", mode="before")
    @classmethod
    def _check_id(cls, v: Any) -> Any:
        # Runs before the schema's pattern so the message names the expected form.
        if not cls.prefix or kinds.is_id_of(cls.prefix, v):
            return v
        raise ValueError(
            f"invalid {cls.__name__} id {_short(v)}: expected '{cls.prefix}_' followed by "
            f"{kinds.ID_LEN} letters or digits, like '{cls.prefix}_a1b2c3'"
        )

    def __getstate__(self) -> dict[Any, Any]:
        """Pickled without its client (a connection pool, which does not pickle): on the
        other side (a Dask worker, a saved result) it keeps its namespace and fetches
        through that process's default client."""
        state = super().__getstate__()
        private = state.get("__pydantic_private__") or {}
        if private.get("_client") is not None:
            state["__pydantic_private__"] = {**private, "_client": None}
        return state

    # -- binding -----------------------------------------------------------------
    def bind(
        self,
        *,
        session_id: str | None = None,
        execution_id: str | None = None,
        client: RefClient | None = None,
    ) -> BaseRef:
        """Attach the namespace (and optionally the client) this ref is fetched from."""
        ns = namespace(session_id=session_id, execution_id=execution_id)
        self._namespace = ns
        if client is not None:
            self._client = client
        registry.remember(self.id, ns)
        return self

    @property
    def namespace(self) -> Namespace | None:
        """The bound namespace, else the one this id was last seen in, else None."""
        return self._namespace or registry.lookup(self.id)

    @property
    def session_id(self) -> str | None:
        ns = self.namespace
        return ns.id if ns and ns.kind == "session" else None

    @property
    def execution_id(self) -> str | None:
        ns = self.namespace
        return ns.id if ns and ns.kind == "execution" else None

    def require_namespace(self) -> Namespace:
        ns = self.namespace
        if ns is None:
            raise UnboundRefError(
                f"{type(self).__name__} {self.id} is not bound to a session or execution, "
                "and no response seen in this process contained it."
            )
        return ns

    # -- data ----------------------------------------------------------------------
    def _resolve_client(self, client: RefClient | None) -> RefClient:
        if client is not None:
            return client
        if self._client is not None:
            return self._client
        from .session import client_for  # late: a ref fetches through its client (.importlinter)

        return client_for(self)

    def fetch(self, client: RefClient | None = None) -> Path:
        """Download into the disk cache (once) and return the local file."""
        return self._resolve_client(client).fetch(self)

    def load(self, client: RefClient | None = None) -> Any:
        """The SDK's Python type for this kind (a `Path` unless overridden)."""
        return self.fetch(client)

    def save(self, path: str | Path, client: RefClient | None = None) -> Path:
        """Copy the cached artifact to `path` (a directory keeps the cache file name)."""
        src = self.fetch(client)
        dest = Path(path).expanduser()
        if dest.is_dir():
            dest = dest / src.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        return dest

    # -- display -------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r})"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        from .display import ref_bundle  # late: refs render themselves (see .importlinter)

        return ref_bundle(self, include=include, exclude=exclude)

    def _repr_html_(self) -> str:
        from .display import ref_html  # late: refs render themselves (see .importlinter)

        return ref_html(self)

    def show(self, width: int | None = None) -> Any:
        """This ref displayed at most `width` CSS pixels wide (as `IPython.display.Image(width=)`);
        `vlmrun_jupyter.display.gallery(refs, columns=3)` lays out several."""
        from .display import show  # late: refs render themselves (see .importlinter)

        return show(self, width)


class ImageRef(BaseRef):
    kind_info: ClassVar[Kind | None] = KINDS["image"]
    id: str = _id_field("image")

    def load(self, client: RefClient | None = None) -> Any:
        """A `PIL.Image.Image`, fully loaded (the file handle is closed)."""
        from PIL import Image

        with Image.open(self.fetch(client)) as im:
            im.load()
            return im.copy()


class VideoRef(BaseRef):
    kind_info: ClassVar[Kind | None] = KINDS["video"]
    id: str = _id_field("video")


class AudioRef(BaseRef):
    kind_info: ClassVar[Kind | None] = KINDS["audio"]
    id: str = _id_field("audio")


class DocumentRef(BaseRef):
    kind_info: ClassVar[Kind | None] = KINDS["document"]
    id: str = _id_field("document")

    def page(self, number: int, client: RefClient | None = None) -> Any:
        """Page `number` (1-based): displays as that page; `.load(dpi=150)` gives a PIL
        image, `.text()` its text, `.view()` the live viewer there. IndexError
        (`PageRangeError`) past the last page."""
        from .display import document_page  # late: refs render themselves (see .importlinter)

        return document_page(self, number, client)

    def pages(
        self, first: int = 1, last: int | None = None, client: RefClient | None = None
    ) -> Any:
        """Pages `first` to `last` inclusive (default: to the end), a list of `page()`s
        that displays as a grid; `.load(dpi=150)` gives their PIL images."""
        from .display import document_pages  # late: refs render themselves (see .importlinter)

        return document_pages(self, first, last, client)


class ReconRef(BaseRef):
    kind_info: ClassVar[Kind | None] = KINDS["recon"]
    id: str = _id_field("recon")

    def splats(self, client: RefClient | None = None) -> Any:
        """The decoded Gaussians (`splat.spz.Splats`: positions, opacities, colours,
        log-scales, rotations, SH), for your own analysis or rendering."""
        from .splat import spz

        return spz.decode(self.fetch(client).read_bytes())

    def view(self, up: str = "y", height: int = 420, client: RefClient | None = None) -> Any:
        """An interactive viewer with a chosen up axis ("y", "-y", "z", "-z"; many files in
        the wild are y-down) and height in pixels; displaying the ref uses "y"."""
        from .splat.viewer import SplatViewer

        return SplatViewer.from_splats(
            self.splats(client), up=up, height=height, title=f"{type(self).__name__} · {self.id}"
        )


class ArrayRef(BaseRef):
    kind_info: ClassVar[Kind | None] = KINDS["array"]
    id: str = _id_field("array")

    def load(self, client: RefClient | None = None) -> Any:
        """An `np.ndarray` (never unpickles)."""
        from .arrays import load_array

        return load_array(self.fetch(client))


class UrlRef(BaseRef):
    kind_info: ClassVar[Kind | None] = KINDS["url"]
    id: str = _id_field("url")


REF_CLASSES: tuple[type[BaseRef], ...] = (
    ImageRef,
    VideoRef,
    AudioRef,
    DocumentRef,
    ReconRef,
    ArrayRef,
    UrlRef,
)
BY_PREFIX: dict[str, type[BaseRef]] = {c.prefix: c for c in REF_CLASSES}


def ref_class_for(object_id: str) -> type[BaseRef]:
    """The ref class for an id such as 'img_a1b2c3' (ValueError if the prefix is unknown)."""
    prefix = object_id.split("_", 1)[0] if isinstance(object_id, str) else ""
    try:
        return BY_PREFIX[prefix]
    except KeyError:
        kinds = ", ".join(f"{p}_" for p in BY_PREFIX)
        raise ValueError(
            f"unknown artifact id {_short(object_id)}: expected one of {kinds}"
        ) from None


def make_ref(object_id: str) -> BaseRef:
    """Parse an id into the right ref class (validates it)."""
    return ref_class_for(object_id)(id=object_id)


def coerce_ref(value: Any) -> BaseRef | None:
    """Ours as is; any other object whose `.id` is a well-formed ref id (the official SDK's
    ref models, for one) as our ref of that kind, bound through the registry; else None.

    A bare string is never a ref here: text that merely mentions an id ("see img_a1b2c3")
    must stay text in a card or a prompt. Callers that take ids (`Client.fetch`) parse them
    with `make_ref` themselves.
    """
    if isinstance(value, BaseRef):
        return value
    if isinstance(value, str | bytes | dict):
        return None
    object_id = getattr(value, "id", None)
    return make_ref(object_id) if kinds.is_object_id(object_id) else None


def iter_refs(value: Any, _depth: int = 0):
    """Every ref inside a model, list, tuple or dict (depth-first, bounded depth)."""
    if _depth > 50:
        return
    if isinstance(value, BaseRef):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from iter_refs(getattr(value, name, None), _depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from iter_refs(item, _depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_refs(item, _depth + 1)


def bind_all(value: Any, ns: Namespace, client: RefClient | None = None) -> Any:
    """Bind every ref inside `value` to `ns` (and remember the ids)."""
    for ref in iter_refs(value):
        ref._namespace = ns
        if client is not None:
            ref._client = client
        registry.remember(ref.id, ns)
    return value


def bind(ref: Any, *, session_id: str | None = None, execution_id: str | None = None) -> Any:
    """Bind a ref (ours or the official SDK's, by id) to a namespace."""
    ns = namespace(session_id=session_id, execution_id=execution_id)
    if isinstance(ref, BaseRef):
        ref._namespace = ns
    object_id = getattr(ref, "id", ref)
    if isinstance(object_id, str):
        registry.remember(object_id, ns)
    return ref
