"""What the magic changes on an IPython shell: the magic itself and the short tracebacks.

A `VlmRunError` raised in a cell shows as one line (HTTP status, what to do) while
`VlmRunMagics.short_errors` is on, and as a full traceback when it is off. Every
other exception of a cell is shown as IPython would, with one difference: the key is
redacted from the traceback, the message (`evalue`, which a notebook saves) and the
exception's own args, whatever its type (a server echoing the key in a `ValueError`,
`{{ int(os.environ['VLMRUN_API_KEY']) }}`, a UsageError). Handlers registered before
keep their exception types.
The state lives on the shell, so a reload of this module cannot register twice,
and `unregister` restores only what is still ours.
"""

from __future__ import annotations

import re
from typing import Any

from IPython.core.error import UsageError

from ..errors import VlmRunError, redact
from .magics import VlmRunMagics

_STATE = "_vlmrun_magic_state"
_QUESTION = re.compile(r"^(\s*)((?:[A-Za-z_][\w.]*\s*=\s*)?)%vlmrun\s+(\S.*\?)\s*$")


def keep_question_marks(lines: list[str]) -> list[str]:
    """IPython reads a line ending in `?` as a help request (`obj?`), so
    `%vlmrun What is in {{ img }}?` would never reach the model: such lines become the
    call IPython itself makes for a line magic. `%vlmrun?` alone still shows the help."""
    out = []
    for line in lines:
        m = _QUESTION.match(line.rstrip("\n"))
        if m is not None:
            indent, assign, rest = m.groups()
            line = f"{indent}{assign}get_ipython().run_line_magic('vlmrun', {rest!r})\n"
        out.append(line)
    return out


class _Shown(Exception):
    """Stands in for an exception whose text still held a key after its args were
    redacted (its __str__ reads attributes): only its text is shown."""


def _redacted(value: BaseException, secrets: list[str]) -> BaseException:
    """`value` with every key removed from its args (so the kernel's reply and
    `sys.last_value` are clean too), or a stand-in carrying the redacted text."""
    try:
        text = str(value)
    except Exception:  # a broken __str__: show the type only
        return _Shown(type(value).__name__)
    clean = redact(text, *secrets)
    if clean == text:
        return value
    try:
        value.args = tuple(redact(a, *secrets) if isinstance(a, str) else a for a in value.args)
        if isinstance(value, VlmRunError):
            value.message = redact(value.message, *secrets)
        if str(value) == clean:
            return value
    except Exception:  # read-only args
        pass
    return _Shown(clean)


def _remove_transform(ip: Any) -> None:
    """Drop our line transform (also a copy from before a reload of this module)."""
    transforms = ip.input_transformer_manager.line_transforms
    transforms[:] = [
        t
        for t in transforms
        if (getattr(t, "__module__", None), getattr(t, "__name__", None))
        != (__name__, keep_question_marks.__name__)
    ]


def register(ip: Any) -> VlmRunMagics:
    """Register the magic once per shell and install the short VlmRunError tracebacks."""
    state = getattr(ip, _STATE, None)
    if state is not None:
        return state["magics"]
    magics = VlmRunMagics(shell=ip)
    ip.register_magics(magics)
    previous = (ip.custom_exceptions, ip.CustomTB)
    prev_types, prev_handler = previous

    def handler(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None):
        if prev_types and isinstance(value, prev_types) and not isinstance(value, VlmRunError):
            return prev_handler(etype, value, tb, tb_offset=tb_offset)  # theirs
        if isinstance(value, SyntaxError):  # the cell did not parse: IPython's display
            shell.showsyntaxerror()
            return []
        secrets = magics.secrets()
        shown = _redacted(value, secrets)
        if isinstance(value, UsageError):
            shell.show_usage_error(shown)
            return []
        if isinstance(value, VlmRunError):
            magics.runner.last_error = value
        if isinstance(value, VlmRunError) and magics.short_errors:
            stb = magics.error_lines(value)
        else:
            full = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
            stb = [redact(line, *secrets) for line in full]
        shell._showtraceback(etype, shown, stb)  # IPython leaves showing it to the handler
        return stb

    ip.set_custom_exc((Exception, *prev_types), handler)
    _remove_transform(ip)
    ip.input_transformer_manager.line_transforms.append(keep_question_marks)
    setattr(ip, _STATE, {"magics": magics, "previous": previous, "custom_tb": ip.CustomTB})
    return magics


def unregister(ip: Any) -> None:
    """Remove the magic, stop its local server, restore the previous exception handler."""
    state = getattr(ip, _STATE, None)
    if state is None:
        return
    magics: VlmRunMagics = state["magics"]
    magics.close()
    mm = ip.magics_manager
    for kind in ("line", "cell"):
        if getattr(mm.magics[kind].get("vlmrun"), "__self__", None) is magics:
            del mm.magics[kind]["vlmrun"]
    if mm.registry.get("VlmRunMagics") is magics:
        del mm.registry["VlmRunMagics"]
    if magics in ip.configurables:
        ip.configurables.remove(magics)
    _remove_transform(ip)
    if ip.CustomTB is state["custom_tb"]:  # only if nobody replaced ours since
        ip.custom_exceptions, ip.CustomTB = state["previous"]
    delattr(ip, _STATE)


def get_magics(ip: Any) -> VlmRunMagics | None:
    """The registered magics instance (for tests and tools)."""
    state = getattr(ip, _STATE, None)
    return state["magics"] if state else None


__all__ = ["register", "unregister", "get_magics"]
