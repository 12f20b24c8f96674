"""On-disk storage of the local server: namespaces (sessions and executions) with
their artifacts, uploaded files, and public links for `url_` artifacts.

Every id is checked against a strict pattern before it becomes a path, and every
path is checked to stay inside the data directory.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import secrets
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import kinds

NAMESPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
FILE_RE = re.compile(r"^file-[a-f0-9]{24}\Z")
TOKEN_RE = re.compile(r"^[a-f0-9]{32}\Z")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"

# What an uploaded file may be for (the official SDK's `FileResponse.purpose`).
PURPOSES = (
    "assistants", "vision", "datasets", "fine-tune", "batch", "assistants_output", "batch_output",
)  # fmt: skip
_SEQ = itertools.count()
_URL_TYPE = "text/plain; charset=utf-8"  # a url_ artifact's body is the link itself


def stored_type(prefix: str, given: str | None = None) -> str:
    """The content type an artifact is served with: the kind's own (`kinds.py`); an image
    keeps the one it was stored with (JPEG or PNG)."""
    kind = kinds.BY_PREFIX[prefix]
    if kind.name == "image":
        return given or kind.content_types[0]
    if kind.name == "url":
        return _URL_TYPE
    return kind.content_types[0] if kind.content_types else "application/octet-stream"


def _stored_ext(prefix: str, content_type: str) -> str:
    """The file extension of a stored artifact (a url_ artifact is a text file)."""
    if prefix == "url":
        return "txt"
    return "png" if content_type == "image/png" else kinds.BY_PREFIX[prefix].ext


class StoreError(Exception):
    """Maps to an HTTP status with a detail a person can act on."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def safe_filename(name: str | None, default: str = "upload.bin") -> str:
    """A basename with a safe alphabet: no separators, no leading dots, bounded length."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")[:120]
    return base or default


def inside(root: Path, path: Path) -> Path:
    """`path` resolved, or StoreError if it leaves `root`."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise StoreError(400, "path escapes the data directory")
    return resolved


@dataclass
class Artifact:
    object_id: str
    path: Path
    content_type: str
    filename: str
    # "store" while the request that made it runs, "manifest" once it is saved with the
    # session (the real API's two sources; it also has "workspace", which we never report).
    source: str = "store"


@dataclass
class Namespace:
    """A session or an execution: the scope of artifact ids."""

    kind: str  # "session" | "execution"
    id: str
    root: Path
    created_at: float
    artifacts: dict[str, Artifact] = field(default_factory=dict)
    expired: bool = False


class NamespaceStore:
    """What an operation may write to (the `ops.Store` protocol), for one namespace."""

    def __init__(self, store: Store, ns: Namespace, public_base: str) -> None:
        self._store = store
        self.ns = ns
        self.public_base = public_base.rstrip("/")
        self.workdir = ns.root / "work"
        self.workdir.mkdir(parents=True, exist_ok=True)

    def add(
        self, prefix: str, data: bytes | Path, content_type: str, filename: str | None = None
    ) -> str:
        return self._store.add_artifact(self.ns, prefix, data, content_type, filename)

    def url_for(self, object_id_or_name: str) -> str:
        art = self.ns.artifacts.get(object_id_or_name)
        if art is None:
            raise KeyError(object_id_or_name)
        token = self._store.publish(art)
        return f"{self.public_base}/v1/_local/public/{token}/{safe_filename(art.filename)}"

    def get(self, object_id: str) -> Artifact | None:
        return self.ns.artifacts.get(object_id)


class Store:
    def __init__(self, root: Path, ttl: float, clock: Callable[[], float] = time.time) -> None:
        """`clock` says how old a session is (tests pass one they can move forward)."""
        self.root = root.resolve()
        self.ttl = float(ttl)
        self.clock = clock
        self._lock = threading.RLock()
        self._namespaces: dict[str, Namespace] = {}
        self._files: dict[str, dict[str, Any]] = {}
        self._by_hash: dict[str, str] = {}
        self._public: dict[str, Artifact] = {}
        self._pending: dict[str, dict[str, Any]] = {}  # presigned uploads by token
        for sub in ("ns", "files"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # -- namespaces ----------------------------------------------------------------------
    def new_namespace(self, kind: str, ns_id: str | None = None) -> Namespace:
        """A new session or execution; `ns_id` is a client-chosen id (validated, unused)."""
        ns_id = ns_id or str(uuid.uuid4())
        if not NAMESPACE_RE.match(ns_id):
            raise StoreError(422, f"malformed {kind}_id: letters, digits, '-' and '_' (<= 64)")
        with self._lock:
            if ns_id in self._namespaces:
                raise StoreError(409, f"{kind} {ns_id} already exists")
            root = inside(self.root, self.root / "ns" / ns_id)
            root.mkdir(parents=True)
            ns = Namespace(kind=kind, id=ns_id, root=root, created_at=self.clock())
            self._namespaces[ns_id] = ns
        return ns

    def session(self, session_id: str | None) -> Namespace:
        """The session a completion runs in: the one named (created if the client chose a
        new id, as the real API does), else a new one. Expired sessions stay 404."""
        if not session_id:
            return self.new_namespace("session")
        with self._lock:
            known = session_id in self._namespaces
            if not known:
                return self.new_namespace("session", session_id)
        return self.namespace(session_id, "session")

    def persist(self, ns: Namespace) -> None:
        """The request that wrote to `ns` finished: its artifacts are saved with it."""
        with self._lock:
            for art in ns.artifacts.values():
                art.source = "manifest"

    def namespace(self, ns_id: str, kind: str | None = None) -> Namespace:
        """The live namespace, or StoreError 422 (malformed) / 404 (unknown or expired)."""
        label = kind or "session"
        if not isinstance(ns_id, str) or not NAMESPACE_RE.match(ns_id):
            raise StoreError(422, f"malformed {label}_id: use the id returned by the API")
        with self._lock:
            ns = self._namespaces.get(ns_id)
        if ns is None or (kind is not None and ns.kind != kind):
            raise StoreError(404, f"{label} {ns_id} not found: check the id")
        if ns.expired or self.clock() - ns.created_at > self.ttl:
            self._expire(ns)
            hours = self.ttl / 3600
            raise StoreError(
                404,
                f"{label} {ns_id} has expired: artifacts live {hours:g} hours; run the request again",
            )
        return ns

    def _expire(self, ns: Namespace) -> None:
        with self._lock:
            if not ns.expired:
                ns.expired = True
                ns.artifacts.clear()
                shutil.rmtree(ns.root, ignore_errors=True)

    def expire(self, ns_id: str) -> None:
        with self._lock:
            ns = self._namespaces.get(ns_id)
        if ns is None:
            raise KeyError(ns_id)
        self._expire(ns)

    # -- artifacts -----------------------------------------------------------------------
    def _new_object_id(self, ns: Namespace, prefix: str) -> str:
        while True:
            oid = f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(kinds.ID_LEN))
            if oid not in ns.artifacts:
                return oid

    def add_artifact(
        self,
        ns: Namespace,
        prefix: str,
        data: bytes | Path,
        content_type: str | None = None,
        filename: str | None = None,
    ) -> str:
        if prefix not in kinds.BY_PREFIX:
            raise ValueError(f"unknown artifact prefix {prefix!r}")
        ctype = stored_type(prefix, content_type)
        ext = _stored_ext(prefix, ctype)
        with self._lock:
            oid = self._new_object_id(ns, prefix)
            dest = inside(self.root, ns.root / "artifacts" / f"{oid}.{ext}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, (bytes, bytearray)):
                dest.write_bytes(data)
            else:
                src = Path(data)
                try:
                    dest.hardlink_to(src)
                except OSError:
                    shutil.copyfile(src, dest)
            name = _unique(safe_filename(filename, f"{oid}.{ext}"), ns)
            ns.artifacts[oid] = Artifact(oid, dest, ctype, name)
            (ns.root / "artifacts" / f"{oid}.json").write_text(
                json.dumps({"content_type": ctype, "filename": ns.artifacts[oid].filename})
            )
            return oid

    def artifact(self, ns: Namespace, object_id: str) -> Artifact:
        if not kinds.is_object_id(object_id):
            prefixes = ", ".join(kinds.BY_PREFIX)
            raise StoreError(
                422,
                f"malformed object_id: expected a prefix ({prefixes}), '_' and "
                f"{kinds.ID_LEN} characters",
            )
        art = ns.artifacts.get(object_id)
        if art is None:
            raise StoreError(404, f"artifact {object_id} not found in {ns.kind} {ns.id}")
        return art

    def by_filename(self, ns: Namespace, filename: str) -> Artifact:
        """The artifact listed under `filename` (names are unique in a namespace)."""
        with self._lock:
            found = next((a for a in ns.artifacts.values() if a.filename == filename), None)
        if found is None:
            raise StoreError(404, f"no artifact named {filename!r} in {ns.kind} {ns.id}")
        return found

    # -- public links (url_ artifacts) ---------------------------------------------------------
    def publish(self, art: Artifact) -> str:
        """An unguessable token for a public link to `art` (served with its content type)."""
        inside(self.root, art.path)
        token = secrets.token_hex(16)
        with self._lock:
            self._public[token] = art
        return token

    def public(self, token: str) -> Artifact:
        if not TOKEN_RE.match(token or ""):
            raise StoreError(404, "not found")
        with self._lock:
            art = self._public.get(token)
        if art is None or not art.path.exists():
            raise StoreError(404, "not found")
        return art

    # -- uploaded files ------------------------------------------------------------------------
    def save_upload(self, stream: Any, filename: str | None, purpose: str) -> dict[str, Any]:
        """A direct (multipart) upload, read from a file-like `stream`."""
        writer = self.file_writer("file-" + secrets.token_hex(12), filename, purpose)
        with writer:
            while chunk := stream.read(1024 * 1024):
                writer.write(chunk)
        return writer.info

    def file_writer(self, file_id: str, filename: str | None, purpose: str) -> FileWriter:
        """Where an upload's bytes go; the file exists only once the writer commits."""
        if purpose not in PURPOSES:
            raise StoreError(422, f"purpose must be one of: {', '.join(PURPOSES)}")
        if not FILE_RE.match(file_id):
            raise StoreError(422, "malformed file id")
        name = safe_filename(filename)
        return FileWriter(self, inside(self.root, self.root / "files" / file_id / name), purpose)

    def _register(self, info: dict[str, Any]) -> None:
        with self._lock:
            self._files[info["id"]] = info
            self._by_hash[info["_md5"]] = info["id"]

    # -- presigned uploads (files over the SDK's 32 MB direct limit) ---------------------------
    def presign(self, filename: str | None, purpose: str, expiration: float) -> dict[str, Any]:
        """Reserve a file id and an unguessable upload token, valid `expiration` seconds."""
        if purpose not in PURPOSES:
            raise StoreError(422, f"purpose must be one of: {', '.join(PURPOSES)}")
        pending = {
            "id": "file-" + secrets.token_hex(12),
            "filename": safe_filename(filename),
            "purpose": purpose,
            "token": secrets.token_hex(16),
            "expires": time.time() + max(1.0, min(float(expiration), 7 * 86400)),
            "created_at": iso(time.time()),
        }
        with self._lock:
            self._pending[pending["token"]] = pending
        return pending

    def pending_upload(self, token: str) -> dict[str, Any]:
        with self._lock:
            pending = self._pending.get(token) if TOKEN_RE.match(token or "") else None
        if pending is None or time.time() > pending["expires"]:
            raise StoreError(404, "unknown or expired upload URL: request a new presigned URL")
        return pending

    def drop_pending(self, token: str) -> None:
        with self._lock:
            self._pending.pop(token, None)

    def verify_upload(self, file_id: str) -> dict[str, Any]:
        """The uploaded file, once its bytes arrived at the presigned URL."""
        if not isinstance(file_id, str) or not FILE_RE.match(file_id):
            raise StoreError(422, "malformed file id: use the id of POST /v1/files/presigned-url")
        with self._lock:
            info = self._files.get(file_id)
            waiting = any(p["id"] == file_id for p in self._pending.values())
        if info is not None:
            return info
        if waiting:
            raise StoreError(400, f"file {file_id} has not been uploaded: PUT it to its URL first")
        raise StoreError(404, f"file {file_id} not found")

    def delete_file(self, file_id: str) -> dict[str, Any]:
        info = self.file(file_id)
        with self._lock:
            self._files.pop(file_id, None)
            self._by_hash.pop(info["_md5"], None)
        shutil.rmtree(info["_path"].parent, ignore_errors=True)
        return {**info, "deleted": True}

    def file(self, file_id: str) -> dict[str, Any]:
        if not isinstance(file_id, str) or not FILE_RE.match(file_id):
            raise StoreError(422, "malformed file id: use the id returned by POST /v1/files")
        with self._lock:
            info = self._files.get(file_id)
        if info is None:
            raise StoreError(404, f"file {file_id} not found: upload it with POST /v1/files")
        return info

    def file_by_hash(self, md5: str) -> dict[str, Any] | None:
        with self._lock:
            fid = self._by_hash.get(md5)
            return self._files.get(fid) if fid else None

    def files(self) -> list[dict[str, Any]]:
        """Uploaded files, newest first."""
        with self._lock:
            return sorted(self._files.values(), key=lambda i: i["_seq"], reverse=True)


class FileWriter:
    """Streams an upload to `<name>.part`, renamed into place (and registered) on success;
    on any failure the partial file is deleted and nothing is registered."""

    def __init__(self, store: Store, dest: Path, purpose: str) -> None:
        self.store, self.dest, self.purpose = store, dest, purpose
        self.part = dest.with_name(dest.name + ".part")
        self.digest = hashlib.md5()
        self.size = 0
        self.info: dict[str, Any] = {}
        dest.parent.mkdir(parents=True, exist_ok=True)
        self._out = self.part.open("wb")

    def write(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.size += len(chunk)
        self._out.write(chunk)

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self._out.close()
        if exc_type is not None:
            self.part.unlink(missing_ok=True)
            shutil.rmtree(self.dest.parent, ignore_errors=True)
            return
        self.part.replace(self.dest)
        self.info = {
            "id": self.dest.parent.name,
            "filename": self.dest.name,
            "bytes": self.size,
            "purpose": self.purpose,
            "created_at": iso(time.time()),
            "object": "file",
            "_path": self.dest,
            "_md5": self.digest.hexdigest(),
            "_seq": next(_SEQ),
        }
        self.store._register(self.info)


def _unique(name: str, ns: Namespace) -> str:
    """`name`, or `stem-2.ext`, `stem-3.ext`... if the namespace already lists it."""
    taken = {a.filename for a in ns.artifacts.values()}
    stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
    n = 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}{dot}{ext}"
    return name


def public_file_info(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if not k.startswith("_")}


def iso(ts: float) -> str:
    """A UTC timestamp as the API writes it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
