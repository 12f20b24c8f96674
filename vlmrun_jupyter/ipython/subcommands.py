"""`%vlmrun get | artifacts | config | local`: the magic's subcommands, after parsing.

Each takes the magic's `Runner` (its clients, last session and configuration) and
returns what the cell shows; printed text never contains a key.
"""

from __future__ import annotations

from IPython.core.error import UsageError

from ..client import DEFAULT_MODEL
from ..display.pipeline import shown_path
from ..errors import VlmRunError, redact
from ..refs import BaseRef, Namespace, make_ref
from . import oneline
from .runner import Runner
from .suggest import closest

NAMES = ("config", "get", "artifacts", "local", "help", "error")
LOCAL_ACTIONS = ("start", "stop", "status")


def _fits(name: str, rest: list[str]) -> bool:
    """Whether `rest` looks like what subcommand `name` takes (so a near miss is a typo)."""
    if name == "local":
        return len(rest) <= 1 and all(closest(w, LOCAL_ACTIONS) or w in LOCAL_ACTIONS for w in rest)
    if name == "get":
        if not rest:
            return True
        try:
            make_ref(rest[0])
        except ValueError:
            return False
        return all(w.startswith("-") for w in rest[1:2])
    if name == "artifacts":
        return not rest or rest[0].startswith("--")
    return not rest


def route(line: str) -> str | None:
    """The subcommand a one-line `%vlmrun` names, or None for a prompt.

    The first word decides: a subcommand's exact name runs it; a word within a typo or
    two of one (`locl`, `confg`, `artifact`), followed by what that subcommand takes, is
    refused with "did you mean" before anything is sent; anything else is a prompt, and
    `--` first always makes the rest a prompt.
    """
    words = line.split()
    if not words or words[0] == "--" or words[0].startswith("-"):
        return None
    first, rest = words[0], words[1:]
    if first in NAMES:
        return first
    near = closest(first, NAMES)
    if near is None or not _fits(near, rest):
        return None
    fixed = " ".join([near, *rest])[:60]
    raise UsageError(
        f"unknown subcommand {first!r}: did you mean `%vlmrun {fixed}`? Nothing was sent "
        f"(`%vlmrun -- {first} ...` sends it as a prompt)."
    )


def namespace_for(session: str | None, execution: str | None) -> Namespace | None:
    """The namespace `--session ID` / `--execution ID` name, if any."""
    try:
        if execution:
            return Namespace("execution", execution)
        if session:
            return Namespace("session", session)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return None


def get(runner: Runner, ref_id: str, session: str | None, execution: str | None) -> BaseRef:
    """An artifact by id, bound to the given namespace, else its own, else the last session."""
    try:
        ref = make_ref(ref_id)
    except ValueError:
        raise UsageError(
            f"{ref_id!r} is not an artifact id (a kind prefix and a suffix, like img_a1b2c3)."
        ) from None
    ns = namespace_for(session, execution) or ref.namespace
    if ns is None and runner.last_session:
        ns = Namespace("session", runner.last_session)
    if ns is None:
        raise UsageError(f"{ref_id}: which session? Pass --session ID (no session has run yet).")
    ref.bind(**{f"{ns.kind}_id": ns.id}, client=runner.clients.get())
    return ref


def artifacts(runner: Runner, session: str | None, execution: str | None) -> list[BaseRef]:
    """The artifacts of a session or execution (default: the last session)."""
    ns = namespace_for(session, execution)
    if ns is None:
        if not runner.last_session:
            raise UsageError("no session yet: run a completion first, or pass --session ID.")
        ns = Namespace("session", runner.last_session)
    refs = runner.clients.get().artifacts(**{f"{ns.kind}_id": ns.id})
    if not refs:
        print(f"No artifacts in {ns.kind} {ns.id}.")
    return refs


def config(runner: Runner) -> None:
    """Print the settings in force: base URL, where the key comes from, model, cache..."""
    try:
        client = runner.clients.get(need_key=False)
        # ~/... as outputs show cached files: a saved notebook carries no home directory
        base, cache = client.base_url, shown_path(client.settings.cache_dir)
    except VlmRunError as exc:
        base, cache = f"(invalid: {runner.error_lines(exc)[0]})", "?"
    server, cfg = runner.clients.local_server, runner.config
    rows = [
        ("base URL", base),
        ("API key", runner.clients.key_source()),
        ("model", cfg.default_model or f"{DEFAULT_MODEL} (default)"),
        ("cache dir", cache),
        ("session", runner.last_session or "none yet (the next run starts one)"),
        ("local server", f"running at {server.base_url}" if server else "not running"),
        ("timeout", f"{cfg.timeout:g} s"),
        ("short errors", "on" if cfg.short_errors else "off"),
    ]
    width = max(len(k) for k, _ in rows)
    text = "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
    print(redact(text, *runner.secrets()))


def last_error(runner: Runner) -> None:
    """`%vlmrun error`: everything known about the last error shown as one line."""
    if runner.last_error is None:
        print("No error yet.")
        return
    print(oneline.details(runner.last_error, *runner.secrets()))


def local(runner: Runner, action: str) -> None:
    """`local start|stop|status`: an offline local server in this kernel (no key needed)."""
    clients = runner.clients
    if action == "start":
        if clients.start_local():
            runner.last_session = None
            print(
                f"Local VLM Run server running at {clients.local_server.base_url} (offline; its "
                "key is generated and never shown). The magic and refs now use it; "
                "`%vlmrun local stop` switches back."
            )
        else:
            print(f"Local VLM Run server already running at {clients.local_server.base_url}.")
    elif action == "stop":
        if runner.stop_local():
            print("Local VLM Run server stopped.")
        else:
            print("No local server is running.")
    elif clients.local_server is not None:
        print(f"Local VLM Run server running at {clients.local_server.base_url}.")
    else:
        print("No local server is running (`%vlmrun local start` starts one).")


__all__ = ["get", "artifacts", "config", "local", "namespace_for", "route", "last_error", "NAMES"]
