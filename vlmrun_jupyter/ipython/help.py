"""`%vlmrun help`: what the magic does, as a formatted page in a notebook and plain text
in a terminal, plus the offline local server's instructions when it is the backend.

The content is data (examples, options, subcommands, notes), written once and laid out
twice: `text/plain` here, `text/html` through display/html.py's builders.
"""

from __future__ import annotations

from typing import Any

from ..display import html

TITLE = "%vlmrun: VLM Run completions and agent executions in the notebook"

EXAMPLES = [
    "%%vlmrun -s BlurredImage -o result\nBlur all the faces in {{ photo }}",
    'x = %vlmrun "Describe {{ img }}" -m vlmrun-orion-1:auto',
    '%vlmrun "Extract 5 key frames" -i clip.mp4 --session new',
    '%vlmrun "Blur the faces" -i photo --dry-run',
    "%%vlmrun --agent image/blur-image --timeout 300\nBlur the faces in {{ photo }}",
    "%vlmrun -- config the camera as JSON      (`--` first: the rest is a prompt)",
]

OPTIONS = [
    ("-m, --model NAME", "model (default: VlmRunMagics.default_model)"),
    ("-s, --schema VAR", "a pydantic class or JSON schema dict: the result's type"),
    ("-i, --input INPUT", "a path, URL or variable sent as media (repeatable)"),
    ("-o, --out VAR", "also store the result in VAR"),
    ("--session new|last|ID", "the session to continue (default: the last one)"),
    ("--agent NAME", "run as an agent execution and wait for it"),
    ("--timeout SECONDS", "how long to wait (default: VlmRunMagics.timeout)"),
    ("--dry-run", "show the request (key redacted); send nothing"),
    ("--no-display", "store the result without showing it (or end the line with ;)"),
]

SUBCOMMANDS = [
    ("%vlmrun config", "base URL, whether a key is set, model, cache, session"),
    ("%vlmrun get ID [--session ID]", "show an artifact by id"),
    ("%vlmrun artifacts [--session ID]", "every artifact of the session, as a gallery"),
    ("%vlmrun local start|stop|status", "an offline local server in this kernel (no key)"),
    ("%vlmrun error", "the last error in full (status, attempts, the server's text)"),
    ("%vlmrun help", "this page"),
]

NOTES = [
    "Only {{ expr }} is evaluated, in the notebook's namespace; every other brace stays "
    "as typed, so JSON and code in prompts are safe (write \\{{ for a literal {{).",
    "Images, arrays, paths, URLs and refs interpolated this way are sent as media.",
    "The result is returned (x = %vlmrun ...) and stored in _vlmrun and in -o VAR.",
    "A first word that is a near miss of a subcommand (locl, confg) is refused with "
    "'did you mean'; start with -- to send such a line as a prompt.",
    'Configure with %config VlmRunMagics.default_model = "..." (also base_url, api_key, '
    "timeout, short_errors, status_line); the key comes from VLMRUN_API_KEY, never shown.",
]


def local_instructions() -> list[str]:
    """What the offline local server understands (its own table)."""
    from ..local.ops import SUPPORTED

    return list(SUPPORTED)


class HelpPage:
    """The help as a display object: HTML in a notebook, text in a terminal."""

    def __init__(self, local: bool) -> None:
        self.local = local

    def sections(self) -> list[tuple[str, list[tuple[str, str]] | list[str]]]:
        out: list[tuple[str, Any]] = [
            ("Examples", EXAMPLES),
            ("Options", OPTIONS),
            ("Subcommands", SUBCOMMANDS),
            ("Notes", NOTES),
        ]
        if self.local:
            out.append(("The offline local server understands", local_instructions()))
        return out

    def text(self) -> str:
        lines = [TITLE]
        for name, items in self.sections():
            lines += ["", f"{name}:"]
            for item in items:
                if isinstance(item, tuple):
                    lines.append(f"  {item[0]:<34} {item[1]}")
                else:
                    lines += [f"  {ln}" for ln in item.splitlines()]
        return "\n".join(lines)

    def html(self) -> str:
        body = []
        for name, items in self.sections():
            body.append(html.heading(name, 2))
            if name == "Examples":
                body.append(html.pre("\n\n".join(items)))  # type: ignore[arg-type]
            elif items and isinstance(items[0], tuple):
                body.append(html.table((k, html.esc(v)) for k, v in items))
            else:
                body.append(html.ordered_list(html.esc(i) for i in items))
        return html.card("".join(body), TITLE)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": self.text(), "text/html": self.html()}

    def __repr__(self) -> str:
        return self.text()


def help_page(local: bool) -> HelpPage:
    """`%vlmrun help`'s page; `local`: also list the local server's instructions."""
    return HelpPage(local)


__all__ = ["help_page", "HelpPage", "EXAMPLES", "OPTIONS", "SUBCOMMANDS", "NOTES"]
