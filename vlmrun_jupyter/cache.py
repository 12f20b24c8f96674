"""The on-disk artifact cache, in the official SDK's layout.

    <cache_dir>/artifacts/<session_or_execution_id>/<object_id>.<ext>

so files fetched by either tool serve the other. Guarantees:

- a file only appears under its final name once every announced byte arrived and
  its first bytes look like the promised kind (temp file + `os.replace`);
- one download per artifact, however many threads or processes ask at once
  (a thread lock per key plus a POSIX record lock on one byte of a shared lock file,
  re-checking after waiting);
- a file that is present but broken (truncated, swapped, damaged) fails the check
  before it is served (size and SHA-256 recorded at download, `_integrity.py`) and
  is fetched again; temp files of killed downloads are reclaimed;
- a `url_` target is stored as `<object_id>.<the SDK's name>`, unique per artifact;
- files returned by the current operation (`fetch_all`) are never evicted by it;
- a size cap with least-recently-used eviction of whole artifacts, including the
  renderer's previews stored beside them as `<object_id>.preview.*`.

The HTTP side lives in `client/_artifacts.py`: it hands `store()` an iterator of chunks.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from . import _files, _integrity, _locks
from ._config import Settings
from ._ledger import ledger_for
from .errors import IntegrityError
from .kinds import is_object_id, looks_complete, looks_like, media_type
from .refs import BaseRef, ImageRef, Namespace, UrlRef, registry

_SAFE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}\Z")
_URL_SIDECAR = ".url"  # `<object_id>.url` holds the target URL of a url_ artifact
_HEAD_READ = 1024  # bytes read for the header check (a PDF header may follow junk)

LOW_WATER = 0.9  # automatic eviction frees down to this share of the cap (fewer rescans)


def check_object_id(object_id: str) -> str:
    """Object ids become file names: allow only well-formed ids of a known kind."""
    if not is_object_id(object_id):
        raise ValueError(f"invalid object id {object_id!r}: expected like 'img_a1b2c3'")
    return object_id


def _check_name(name: str) -> str:
    if not _SAFE_NAME_RE.match(name) or ".." in name:
        raise ValueError(f"unsafe file name {name!r}")
    return name


class TruncatedDownload(IntegrityError):
    """Fewer bytes arrived than announced: worth another try."""


# -- integrity ------------------------------------------------------------------------------


def check_content_type(ref: BaseRef, content_type: str | None) -> None:
    """A wrong content type means the server sent something else: refuse it."""
    if ref.content_types and media_type(content_type) not in ref.content_types:
        raise IntegrityError(
            f"{ref.id}: the server sent {media_type(content_type) or 'no content type'!s}, "
            f"expected {' or '.join(ref.content_types)}; nothing was cached."
        )


def _read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(_HEAD_READ)
    except OSError:
        return b""


def url_file_name(url: str) -> str:
    """The file name the SDK gives a downloaded url_ target: `<name>.<ext>` where ext is
    the part after the name's last dot (so `photo.jpg` becomes `photo.jpg.jpg`)."""
    name = url.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    ext = name.split(".")[-1].lower()
    return f"{name}.{ext}"


def _group_files(
    root: Path, sizes: dict[str, int] | None = None
) -> dict[tuple[str, str], tuple[list[Path], int, float]]:
    """Cached files grouped by artifact: (namespace, object id) -> (files, bytes, last use).
    `sizes`, when given, receives `<ns>/<name>` -> bytes of every file (for the ledger)."""
    groups: dict[tuple[str, str], tuple[list[Path], int, float]] = {}
    if not root.is_dir():
        return groups
    for ns_entry in os.scandir(root):
        if not ns_entry.is_dir(follow_symlinks=False):
            continue
        files = [e for e in os.scandir(ns_entry.path) if e.is_file(follow_symlinks=False)]
        # url_ targets are named after the URL: map them to their ref via the sidecar.
        owner: dict[str, str] = {}
        for e in files:
            if e.name.endswith(_URL_SIDECAR) and is_object_id(e.name[: -len(_URL_SIDECAR)]):
                oid = e.name[: -len(_URL_SIDECAR)]
                with contextlib.suppress(OSError):
                    owner[url_file_name(Path(e.path).read_text("utf-8").strip())] = oid
        for e in files:
            if e.name.startswith(_files.TMP_PREFIX):
                _integrity.reclaim_if_orphaned(e.path)  # a download killed mid-way
                continue
            if e.name == _integrity.RECORDS_NAME:  # metadata, like the ledger: compacted
                continue  # at eviction (~100 B an artifact), not counted or evicted
            oid = owner.get(e.name) or e.name.split(".", 1)[0]
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            key = (ns_entry.name, oid)
            if sizes is not None:
                sizes[f"{ns_entry.name}/{e.name}"] = st.st_size
            paths, size, used = groups.get(key, ([], 0, 0.0))
            paths.append(Path(e.path))
            groups[key] = (paths, size + st.st_size, max(used, st.st_mtime, st.st_atime))
    return groups


def _first_intact(paths: list[Path], kind: str) -> Path | None:
    """The first of `paths` present and intact (touched for the LRU), removing any that
    is present but broken so it is fetched again."""
    for path in paths:
        try:
            st = os.stat(path)  # one stat serves the checks and the touch
        except OSError:
            continue
        if _integrity.intact(path, kind, st):  # size and hash as recorded
            _integrity.touch(path, st)  # for the LRU; keeps the recorded stamp
            return _integrity.hold(path)
        # Present but broken (truncated, swapped): remove so it is fetched again.
        _integrity.discard(path)
    return None


# -- the cache ------------------------------------------------------------------------------


class ArtifactCache:
    """The artifact cache under one directory (`Settings.cache_dir`)."""

    def __init__(
        self,
        cache_dir: str | Path,
        max_bytes: int | None = None,
        max_artifact_bytes: int | None = None,
    ) -> None:
        self.cache_dir = Path(cache_dir).expanduser()
        self.root = self.cache_dir / "artifacts"
        self.max_bytes = max_bytes if max_bytes is not None else Settings().cache_max_bytes
        self.max_artifact_bytes = (
            max_artifact_bytes
            if max_artifact_bytes is not None
            else Settings.from_env().max_artifact_bytes
        )
        self._ledger = ledger_for(self.cache_dir, self._listing)
        self._ns_dirs: dict[str, Path] = {}

    def __repr__(self) -> str:
        return f"ArtifactCache({str(self.cache_dir)!r})"

    # -- paths --------------------------------------------------------------------------
    def ns_dir(self, ns: Namespace) -> Path:
        """A namespace's folder, made once per namespace: a download asks for it twice."""
        folder = self._ns_dirs.get(ns.id)
        if folder is None:
            if len(self._ns_dirs) >= 1024:
                self._ns_dirs.clear()
            folder = self._ns_dirs[ns.id] = self.root / ns.id  # Namespace validated the id
        return folder

    def candidates(self, ref: BaseRef, ns: Namespace) -> list[Path]:
        """Where a finished artifact may be (images: .jpg or .png)."""
        check_object_id(ref.id)
        d = self.ns_dir(ns)
        if isinstance(ref, ImageRef):
            return [d / f"{ref.id}.jpg", d / f"{ref.id}.png"]
        if isinstance(ref, UrlRef):
            url = self.url_target(ref, ns)
            if url is None:
                return []
            try:
                return [d / _check_name(f"{ref.id}.{url_file_name(url)}")]
            except ValueError:
                return [d / f"{ref.id}.bin"]
        return [d / f"{ref.id}.{ref.ext}"]

    def url_target(self, ref: BaseRef, ns: Namespace) -> str | None:
        """The URL a cached url_ artifact pointed at (from its sidecar)."""
        try:
            return (self.ns_dir(ns) / f"{ref.id}{_URL_SIDECAR}").read_text("utf-8").strip() or None
        except OSError:
            return None

    def url_dest(self, ref: BaseRef, ns: Namespace, url: str) -> Path:
        """Where the download of a url_ artifact's target goes."""
        try:
            name = _check_name(f"{ref.id}.{url_file_name(url)}")
        except ValueError:
            name = f"{ref.id}.bin"
        return self.ns_dir(ns) / name

    def lookup(self, ref: BaseRef, ns: Namespace | None = None) -> Path | None:
        """The cached file if present and intact, else None. Touches it for the LRU."""
        ns = ns or ref.namespace
        if ns is None:
            return None
        return _first_intact(self.candidates(ref, ns), ref.kind)

    def preview_dir(self, ref: BaseRef) -> Path:
        """The directory the renderer stores previews of `ref` in (next to the artifact)."""
        ns = ref.require_namespace()
        check_object_id(ref.id)
        d = self.ns_dir(ns)
        _files.make_dir(d)
        return d

    def preview_path(self, ref: BaseRef, name: str) -> Path:
        """`<object_id>.preview.<name>` beside the artifact; evicted with it."""
        return self.preview_dir(ref) / f"{ref.id}.preview.{_check_name(name)}"

    # -- locking ------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, ref: BaseRef, ns: Namespace) -> Iterator[None]:
        """Exclusive for this artifact across threads (lock dict) and processes (one byte
        of a shared lock file, `_locks.process_lock`)."""
        check_object_id(ref.id)
        key = (str(self.root), ns.id, ref.id)
        with _locks.thread_lock(key), _locks.process_lock(self.cache_dir, f"{ns.id}/{ref.id}"):
            yield

    def get_or_fetch(self, ref: BaseRef, ns: Namespace, download: Callable[[], Path]) -> Path:
        """Return the cached file, calling `download()` (which uses `store`) at most once
        across all threads and processes that ask concurrently."""
        paths = self.candidates(ref, ns)
        hit = _first_intact(paths, ref.kind)
        if hit is not None:
            return hit
        with self.locked(ref, ns):
            # Look again: another thread or process may have finished it while we waited
            # (a url_ artifact's name is only known once its sidecar is written).
            again = self.candidates(ref, ns) if isinstance(ref, UrlRef) else paths
            hit = _first_intact(again, ref.kind)
            if hit is not None:
                return hit
            path = _integrity.hold(download())
            registry.remember(ref.id, ns)
        self.fit(keep=path)
        return path

    # -- writing ------------------------------------------------------------------------
    def store(
        self,
        dest: Path,
        chunks: Iterable[bytes],
        *,
        kind: str,
        expected_size: int | None,
        what: str,
        limit: int | None = None,
        length_known: bool = True,
    ) -> Path:
        """Write chunks to a temp file beside `dest`, then move it into place only if the
        byte count matches `expected_size`, the header looks like `kind` and, for a body
        of unannounced length (`length_known` False), its format's trailer is there. More
        than `limit` bytes (the per-artifact cap) is refused. The size and hash are
        recorded (in the folder's journal) for the check before it is served."""
        folder = dest.parent
        _files.make_dir(folder)
        fd, tmp = _files.open_temp(folder)
        limit = self.max_artifact_bytes if limit is None else limit
        try:
            try:
                hasher = _integrity.Hasher().write(fd, chunks, limit, what)
                stamp = os.fstat(fd)  # mtime and inode survive the rename
            finally:
                os.close(fd)
            written, head = hasher.size, hasher.head
            if not length_known and written and looks_complete(head, hasher.tail) is False:
                raise TruncatedDownload(
                    f"{what}: the body ended before the file did (no length was announced); "
                    "nothing was cached."
                )
            if expected_size is not None and written != expected_size:
                raise TruncatedDownload(
                    f"{what}: download truncated ({written} of {expected_size} bytes); "
                    "nothing was cached."
                )
            if written == 0 and kind != "url":
                raise IntegrityError(f"{what}: the server sent an empty body; nothing was cached.")
            if not looks_like(kind, head):
                raise IntegrityError(
                    f"{what}: the bytes are not a valid {kind} file; nothing was cached."
                )
            _integrity.write_record(dest, written, hasher.digest, stamp)
            _integrity.hold(dest)  # pinned before any listing can see it
            os.replace(tmp, dest)
            _integrity.mark_verified(dest, stamp)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._ledger.record((f"{folder.name}/{dest.name}", written))
        return dest

    def note(self, path: Path, size: int | None = None) -> None:
        """Count a file written into (or removed from, size 0) the cache by someone other
        than `store`, e.g. a renderer's preview, toward the size cap."""
        if size is None:
            try:
                size = path.stat().st_size
            except OSError:
                size = 0
        with contextlib.suppress(ValueError):
            self._ledger.record((path.relative_to(self.root).as_posix(), size))

    def write_url_sidecar(self, ref: BaseRef, ns: Namespace, url: str) -> None:
        """Remember a url_ artifact's target so later lookups need no request."""
        side = self.ns_dir(ns) / f"{ref.id}{_URL_SIDECAR}"
        _files.write_atomic(side, url.encode("utf-8"))
        self.note(side)

    # -- size cap -----------------------------------------------------------------------
    def _groups(
        self, sizes: dict[str, int] | None = None
    ) -> dict[tuple[str, str], tuple[list[Path], int, float]]:
        """Cached files grouped by artifact: (namespace, object id) -> (files, bytes, last use).
        `sizes`, when given, receives `<ns>/<name>` -> bytes of every file (for the ledger)."""
        return _group_files(self.root, sizes)

    def _listing(self) -> dict[str, int]:
        """Every cached file's bytes (the ledger's full scan)."""
        sizes: dict[str, int] = {}
        self._groups(sizes)
        return sizes

    def size(self) -> int:
        """Bytes held by cached artifacts (and their previews), counted on disk."""
        return sum(size for _, size, _ in self._groups().values())

    def fit(self, keep: Path | None = None) -> list[Path]:
        """After a download: evict only if the ledger says the cap is exceeded (no listing
        otherwise), then down to `LOW_WATER` of the cap so the next listing is far off."""
        if self._ledger.within(self.max_bytes):
            return []
        return self.evict(keep=keep, target=int(self.max_bytes * LOW_WATER))

    def evict(self, keep: Path | None = None, target: int | None = None) -> list[Path]:
        """Delete least recently used artifacts until the cache holds at most `target`
        bytes (default `max_bytes`); lists the directory, so the ledger is corrected too."""
        target = self.max_bytes if target is None else target
        start = self._ledger.offset()
        sizes: dict[str, int] = {}
        groups = self._groups(sizes)
        self._ledger.reset(sizes, start)
        total = sum(size for _, size, _ in groups.values())
        removed: list[Path] = []
        if total <= self.max_bytes:
            return removed
        for key, (paths, size, _used) in sorted(groups.items(), key=lambda kv: kv[1][2]):
            if total <= target:
                break
            if (keep is not None and keep in paths) or _integrity.is_pinned(paths):
                continue  # in use by the current operation
            for p in paths:
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed.append(p)
                    self.note(p, 0)
            del groups[key]
            total -= size
        live: dict[str, set[str]] = {p.parent.name: set() for p in removed}
        for (ns_id, _), (paths, _, _) in groups.items():
            if ns_id in live:
                live[ns_id].update(p.name for p in paths)
        for ns_id, names in live.items():
            _integrity.compact_records(self.root / ns_id, names)
        return removed

    def clear(self) -> None:
        """Remove every cached artifact and its records (keeps the directory)."""
        for paths, _, _ in self._groups().values():
            for p in paths:
                with contextlib.suppress(OSError):
                    p.unlink()
        for journal in self.root.glob(f"*/{_integrity.RECORDS_NAME}"):
            _integrity.compact_records(journal.parent, set())  # nothing left: removed
        self._ledger.reset({}, self._ledger.offset())


# -- url_ targets shared with the official SDK ---------------------------------------------


def sdk_url_path(cache: ArtifactCache, ns: Namespace, url: str) -> Path | None:
    """Where the official SDK keeps a url_ artifact's downloaded target: `<name>.<ext>`
    in the namespace directory (`photo.jpg.jpg`); None for a name that is not safe."""
    try:
        return cache.ns_dir(ns) / _check_name(url_file_name(url))
    except ValueError:
        return None


def adopt_sdk_url_target(
    cache: ArtifactCache, ref: BaseRef, ns: Namespace, url: str
) -> Path | None:
    """The SDK's download of this url_ artifact's target, linked under our name (one copy
    on disk), if it is there and looks complete; else None."""
    theirs, ours = sdk_url_path(cache, ns, url), cache.url_dest(ref, ns, url)
    if theirs is None or theirs == ours or not theirs.is_file():
        return None
    if not _integrity.intact(theirs, ref.kind):
        return None
    with contextlib.suppress(FileExistsError):
        os.link(theirs, ours)
    cache.note(ours)
    return ours if ours.is_file() else None


def share_url_target(cache: ArtifactCache, ns: Namespace, url: str, path: Path) -> None:
    """Link our download of a url_ target under the SDK's name too, so the SDK finds it
    (its `artifacts.get` looks for `<name>.<ext>` and downloads only when it is missing)."""
    theirs = sdk_url_path(cache, ns, url)
    if theirs is None or theirs == path:
        return
    with contextlib.suppress(OSError):
        os.link(path, theirs)
        cache.note(theirs)
