"""THE table of artifact kinds: what each kind *is*, in one place.

Every other module reads its kind facts from here: the ref classes (prefix, id
grammar, the SDK's schema pattern), the cache (file extension, content types,
the header check), the client (which ids are refs), the renderers and the live
viewers (found by name from `Kind.renderer` / `Kind.viewer`: two hops from this
file to any kind's code), and the local server (sniffing its inputs).

Adding a kind is one row in `KINDS` plus one renderer module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Artifact ids are `<prefix>_<6 word characters>` (the SDK's pattern is `^img_\w{6}$`).
ID_BODY = r"\w{6}"
ID_LEN = 6


@dataclass(frozen=True)
class Kind:
    """The facts of one artifact kind."""

    name: str  # "image": the key used everywhere (renderers, sniffing, cards)
    prefix: str  # "img": ids look like img_a1b2c3
    ref_class: str  # "ImageRef": the class name, as in the official SDK's vlmrun.types
    ext: str  # cache file extension, as the SDK names the file
    content_types: tuple[str, ...]  # what the artifacts endpoint may answer; () = any
    loads_as: str  # what `ref.load()` returns, like the SDK's artifacts.get
    renderer: str  # module with `RENDERER` (a display.registry.Renderer)
    viewer: str | None = None  # "module:Class" of the live widget viewer, if any
    file_exts: tuple[str, ...] = ()  # file-name extensions of local files of this kind

    @property
    def schema_pattern(self) -> str:
        """The id pattern in the SDK's JSON schema (servers compare schemas textually)."""
        return rf"^{self.prefix}_{ID_BODY}$"


_R = "vlmrun_jupyter.display.kinds."

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "image", "img", "ImageRef", "jpg", ("image/jpeg", "image/png"), "PIL.Image.Image",
            _R + "image", None, ("jpg", "jpeg", "png", "gif", "webp", "bmp"),
        ),
        Kind(
            "video", "vid", "VideoRef", "mp4", ("video/mp4",), "Path (.mp4)",
            _R + "video", "vlmrun_jupyter.player.video:VideoPlayer",
            ("mp4", "mov", "m4v", "webm", "mkv"),
        ),
        Kind(
            "audio", "aud", "AudioRef", "mp3", ("audio/mpeg",), "Path (.mp3)",
            _R + "audio", None, ("mp3", "wav", "m4a", "ogg", "flac", "aac"),
        ),
        Kind(
            "document", "doc", "DocumentRef", "pdf", ("application/pdf",), "Path (.pdf)",
            _R + "document", "vlmrun_jupyter.document.viewer:DocumentViewer", ("pdf",),
        ),
        Kind(
            "recon", "recon", "ReconRef", "spz", ("application/octet-stream",), "Path (.spz)",
            _R + "recon", "vlmrun_jupyter.splat.viewer:SplatViewer", ("spz",),
        ),
        Kind(
            "array", "arr", "ArrayRef", "npy", (), "numpy.ndarray",
            _R + "array", None, ("npy",),
        ),
        Kind(
            "url", "url", "UrlRef", "url", (), "Path of the downloaded file",
            _R + "url", None, (),
        ),
    )
}  # fmt: skip

BY_PREFIX: dict[str, Kind] = {k.prefix: k for k in KINDS.values()}

_PREFIXES = "|".join(BY_PREFIX)
#: A whole ref id, nothing before or after (`\Z`, so a trailing newline does not pass).
ID_RE = re.compile(rf"(?:{_PREFIXES})_{ID_BODY}\Z", re.ASCII)
#: Ref ids mentioned inside free text (the local server resolves them in a session).
ID_IN_TEXT_RE = re.compile(rf"\b(?:{_PREFIXES})_{ID_BODY}\b", re.ASCII)


def is_object_id(value: object) -> bool:
    """True for a well-formed id of a known kind, such as 'img_a1b2c3'."""
    return isinstance(value, str) and ID_RE.match(value) is not None


def is_id_of(prefix: str, value: object) -> bool:
    """True for a well-formed id of the kind with this prefix."""
    return is_object_id(value) and value.split("_", 1)[0] == prefix  # type: ignore[union-attr]


def kind_of_id(value: object) -> Kind | None:
    """The kind of a well-formed id, else None."""
    return BY_PREFIX[value.split("_", 1)[0]] if is_object_id(value) else None  # type: ignore[union-attr]


def media_type(content_type: str | None) -> str:
    """'image/png; charset=x' -> 'image/png'."""
    return (content_type or "").split(";", 1)[0].strip().lower()


# -- sniffing: the one place magic bytes are read ----------------------------------------------

HEAD_BYTES = 64  # how many leading bytes `sniff` needs

# (magic, offset, media type), checked in order.
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF8", 0, "image/gif"),
    (b"BM", 0, "image/bmp"),
    (b"%PDF", 0, "application/pdf"),
    (b"\x93NUMPY", 0, "application/x-npy"),
    (b"NGSP", 0, "application/x-spz"),
    (b"ID3", 0, "audio/mpeg"),
    (b"OggS", 0, "audio/ogg"),
    (b"fLaC", 0, "audio/flac"),
    (b"\x1a\x45\xdf\xa3", 0, "video/webm"),
)
_AUDIO_MP4_BRANDS = (b"M4A ", b"M4B ", b"M4P ")

_MIME_KIND = {
    "application/pdf": "document",
    "application/x-npy": "array",
    "application/x-spz": "recon",
}


def sniff(head: bytes) -> str | None:
    """The media type of a file from its first bytes (`HEAD_BYTES` are enough), or None."""
    for magic, offset, mime in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return mime
    if head[:4] == b"RIFF":
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav"}.get(head[8:12])
    if head[4:8] == b"ftyp":  # ISO base media: the brand says audio-only or not
        return "audio/mp4" if head[8:12] in _AUDIO_MP4_BRANDS else "video/mp4"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # MPEG audio frame sync
        return "audio/mpeg"
    if head[:2] == b"\x1f\x8b":
        return "application/gzip"
    return None


def kind_of_mime(mime: str | None) -> str | None:
    """'image/png' -> 'image'; 'application/pdf' -> 'document'; unknown -> None."""
    mime = media_type(mime)
    major = mime.split("/", 1)[0]
    if major in ("image", "video", "audio"):
        return major
    return _MIME_KIND.get(mime)


def kind_of_name(name: str) -> str | None:
    """A kind from a file name's extension ('clip.MP4' -> 'video'), else None."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    for kind in KINDS.values():
        if ext in kind.file_exts:
            return kind.name
    return None


def sniff_kind(head: bytes, name: str = "") -> str | None:
    """A file's kind from its bytes, else from its name."""
    return kind_of_mime(sniff(head)) or (kind_of_name(name) if name else None)


def looks_like(kind: str, head: bytes) -> bool:
    """Whether a file's first bytes fit an artifact of `kind` (the cache's cheap check)."""
    if not head:
        return False
    mime = sniff(head)
    if kind == "image":
        return mime in ("image/jpeg", "image/png")
    if kind == "video":  # an ISO media file whose first box is not ftyp is still video
        return b"ftyp" in head[:HEAD_BYTES] and mime != "audio/mp4"
    if kind == "audio":
        return mime == "audio/mpeg"
    if kind == "document":  # PDF readers accept junk before the header
        return b"%PDF" in head[:1024]
    if kind == "recon":  # v1-v3 are gzip files; v4 starts with the NGSP header
        return mime in ("application/gzip", "application/x-spz")
    if kind == "array":
        return mime == "application/x-npy" or head.lstrip()[:1] == b"["
    return True  # url targets: any bytes


TAIL_BYTES = 1024  # how many trailing bytes `looks_complete` needs


def looks_complete(head: bytes, tail: bytes) -> bool | None:
    """Whether a file's last bytes close what its first bytes opened (a JPEG's EOI, a
    PNG's IEND chunk, a PDF's %%EOF); None when the format has no such marker. Used for
    a body whose length nobody announced: a cut one must not be cached."""
    mime = sniff(head)
    if mime == "image/jpeg":
        return tail.rstrip(b"\0")[-2:] == b"\xff\xd9"
    if mime == "image/png":
        return tail[-12:] == b"\0\0\0\0IEND\xaeB`\x82"
    if mime == "application/pdf" or b"%PDF" in head[:1024]:
        return b"%%EOF" in tail
    return None


__all__ = [
    "TAIL_BYTES",
    "looks_complete",
    "Kind",
    "KINDS",
    "BY_PREFIX",
    "ID_RE",
    "ID_IN_TEXT_RE",
    "HEAD_BYTES",
    "is_object_id",
    "is_id_of",
    "kind_of_id",
    "media_type",
    "sniff",
    "sniff_kind",
    "kind_of_mime",
    "kind_of_name",
    "looks_like",
]
