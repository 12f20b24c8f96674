"""`{{ expr }}` interpolation: a prompt template becomes text plus media inputs.

Only `{{ expr }}` is expanded (IPython's own `$var` / `{var}` expansion is off for
the magic) because prompts routinely contain JSON and code braces; `\\{{` stays a
literal `{{`. A value that is media (a PIL image, an array, bytes, a path to a
media file, a URL, a ref) travels as a content part of its own and the text says
"the attached image" (or the ref's id) in its place; anything else becomes text.
What counts as which kind comes from `kinds.py`.
"""

from __future__ import annotations

import mimetypes
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

from .. import kinds
from ..client._content import image_like, is_ndarray, is_pil
from ..refs import BaseRef, coerce_ref
from .suggest import did_you_mean, notebook_names

INTERP = re.compile(r"(?<!\\)\{\{(.+?)\}\}", re.S)
NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\Z")  # a (dotted) variable name
_LONGEST_PATH = 4096


def spans(text: str) -> list[tuple[int, int, str]]:
    """Every `{{ expr }}` as (start, end, expr), the matches of `INTERP` found in linear
    time: the regex retries from each `{{` to the end, so an unclosed `{{` repeated
    32K times took seconds. Once no `}}` follows, no later `{{` can close either."""
    found: list[tuple[int, int, str]] = []
    pos = 0
    while True:
        i = text.find("{{", pos)
        if i < 0:
            return found
        if i > 0 and text[i - 1] == "\\":  # `\{{` stays literal
            pos = i + 1
            continue
        j = text.find("}}", i + 3)  # at least one character inside, as `(.+?)`
        if j < 0:
            return found
        found.append((i, j + 2, text[i + 2 : j]))
        pos = j + 2


@dataclass
class Prompt:
    """A prompt after interpolation: text plus the media it referred to."""

    text: str
    inputs: list[Any] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)  # variable names, for agent inputs

    def add(self, values: list[Any], name: str | None) -> None:
        """Append inputs, each under `name` (the variable it came from, if any)."""
        self.inputs.extend(values)
        self.names.extend([name] * len(values))


def _file_kind(value: str) -> str | None:
    """The media kind of an existing file (by its type, else its first bytes), else None."""
    try:
        path = Path(value).expanduser()
        if not path.is_file():
            return None
        kind = kinds.kind_of_mime(mimetypes.guess_type(path.name)[0])
        if kind is None:
            with open(path, "rb") as f:
                kind = kinds.sniff_kind(f.read(kinds.HEAD_BYTES), path.name)
    except (OSError, ValueError):
        return None
    return kind


def _url_kind(url: str) -> str:
    """An http(s) URL's kind from its path ('file' when it does not say)."""
    path = url.split("?", 1)[0]
    return kinds.kind_of_mime(mimetypes.guess_type(path)[0]) or kinds.kind_of_name(path) or "file"


def media_kind(value: Any) -> str | None:
    """'image', 'video', ... when `value` should travel as a content part, else None."""
    ref = coerce_ref(value)  # ours, or a foreign ref model such as the official SDK's
    if ref is not None:
        return ref.kind
    if is_pil(value):
        return "image"
    if is_ndarray(value):
        return "image" if image_like(value) else "array"
    if isinstance(value, (bytes, bytearray)):
        return kinds.sniff_kind(bytes(value[: kinds.HEAD_BYTES])) or "file"
    if isinstance(value, os.PathLike):
        return _file_kind(str(value)) or "file"
    if isinstance(value, str) and value and len(value) < _LONGEST_PATH:
        if value[0].isspace():
            return None
        low = value[:8].lower()
        if low.startswith(("http://", "https://")) and not any(c.isspace() for c in value):
            return _url_kind(value)
        if low.startswith("data:") and "," in value:
            return kinds.kind_of_mime(value[5:].split(";", 1)[0].split(",", 1)[0]) or "file"
        return _file_kind(value)
    return None


def _label(value: Any, kind: str, seen: dict[str, int]) -> str:
    """What the prompt text says where a media value was interpolated."""
    if isinstance(value, BaseRef) or isinstance(getattr(value, "id", None), str):
        return str(value.id)
    seen[kind] = seen.get(kind, 0) + 1
    return f"the attached {kind}" + (f" #{seen[kind]}" if seen[kind] > 1 else "")


def _nearby(exc: Exception, namespace: dict[str, Any], local_ns: Any) -> str:
    """' Did you mean photo?' for a misspelled name or attribute, else ''."""
    name = getattr(exc, "name", None)
    if not isinstance(name, str):
        return ""
    if isinstance(exc, NameError):
        scope = {**namespace, **(local_ns if isinstance(local_ns, dict) else {})}
        return did_you_mean(name, notebook_names(scope))
    if isinstance(exc, AttributeError):
        try:
            return did_you_mean(name, [a for a in dir(exc.obj) if not a.startswith("_")])
        except Exception:  # an object whose dir() fails: no suggestion
            return ""
    return ""


def evaluate(expr: str, namespace: dict[str, Any], local_ns: Any = None) -> Any:
    """One `{{ expr }}`, evaluated in the notebook's namespace. A mistake is the user's,
    caught before anything is sent: a UsageError naming the expression (and the nearest
    name for a typo)."""
    where = f"{{{{ {expr} }}}}"
    try:
        code = compile(expr, "<{{ }}>", "eval")
    except SyntaxError:
        raise UsageError(
            f"{where} is not a Python expression; nothing was sent. "
            "Write \\{{ for a literal {{."
        ) from None
    try:
        return eval(code, namespace, local_ns)  # noqa: S307
    except Exception as exc:
        said = str(exc).rstrip(".")
        nearby = _nearby(exc, namespace, local_ns)
        raise UsageError(
            f"{where}: {type(exc).__name__}: {said}.{nearby} Nothing was sent."
        ) from None


def interpolate(template: str, namespace: dict[str, Any], local_ns: Any = None) -> Prompt:
    """Expand `{{ expr }}` (evaluated in `namespace`); `\\{{` stays a literal `{{`."""
    out: list[str] = []
    prompt = Prompt("")
    seen: dict[str, int] = {}
    pos = 0
    for start, end, inner in spans(template):
        out.append(template[pos:start])
        pos = end
        expr = inner.strip()
        value = evaluate(expr, namespace, local_ns)
        items = value if isinstance(value, (list, tuple)) and value else [value]
        found = [media_kind(v) for v in items]
        if all(found):
            single = NAME.match(expr) is not None and len(items) == 1
            prompt.add(list(items), expr if single else None)
            out.append(", ".join(_label(v, k, seen) for v, k in zip(items, found, strict=True)))
        else:
            out.append(str(value))
    out.append(template[pos:])
    prompt.text = "".join(out).replace("\\{{", "{{")
    return prompt


def split_words(line: str) -> list[str]:
    """Shell-like words, with `{{ ... }}` spans kept intact whatever they contain."""
    hidden: list[str] = []
    parts: list[str] = []
    pos = 0
    for start, end, _ in spans(line):
        hidden.append(line[start:end])
        parts += [line[pos:start], f"\x00{len(hidden) - 1}\x00"]
        pos = end
    parts.append(line[pos:])

    def show(m: re.Match[str]) -> str:
        n = int(m.group(1))
        return hidden[n] if n < len(hidden) else m.group(0)  # a NUL the user typed

    try:
        words = shlex.split("".join(parts))
    except ValueError as exc:
        raise UsageError(
            f"cannot parse the line ({exc}): quote the prompt, or use the %%vlmrun cell form."
        ) from None
    return [re.sub(r"\x00(\d+)\x00", show, w) for w in words]


__all__ = [
    "Prompt",
    "interpolate",
    "evaluate",
    "media_kind",
    "split_words",
    "spans",
    "INTERP",
    "NAME",
]
