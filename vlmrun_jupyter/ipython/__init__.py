"""The IPython integration: what `%load_ext vlmrun_jupyter` changes, and undoes.

- formatters.py: display printers for results holding refs and for the SDK's objects;
- magics.py: `%vlmrun` and its traits (argument parsing only), handing off to
  runner.py (runs, waits, dry runs), clients.py (which client) and subcommands.py;
  interpolate.py expands `{{ expr }}`; status.py is the line shown while waiting;
  dryrun.py shows a request instead of sending it;
- shell.py: registers the magic and its short tracebacks on the shell;
- sdk_finder.py: finds the session of an official-SDK ref among the notebook's
  variables (a finder on the refs registry);
- sdk_clients.py: the credentials of the SDK's `VLMRun` client the notebook holds (a
  client finder on `session`); sdk_display.py: `Path`s in the artifact cache and
  `ArtifactListResponse` as artifacts; sdk_hook.py: observes the SDK's calls, for the
  versions it knows (docs/sdk.md has the precedence).

`interpolate` is the module (its `interpolate()` is not re-exported here, so the
name keeps meaning the module: patching and introspection find what they expect).

`load` is idempotent and `unload` restores exactly what was there before, so
`%reload_ext vlmrun_jupyter` leaves one registration. The state lives on the shell
object, so it survives a reload of these modules.
"""

from __future__ import annotations

from typing import Any

from ..refs import registry
from ..session import add_client_finder, remove_client_finder
from . import formatters, sdk_clients, sdk_display, sdk_hook, shell
from .magics import VlmRunMagics
from .sdk_finder import find_namespace
from .shell import get_magics

_STATE = "_vlmrun_jupyter_state"


def load(ip: Any) -> None:
    """Register the formatters and the SDK finder (once per shell) and the magic."""
    if ip is None:
        return
    if getattr(ip, _STATE, None) is None:
        previous = formatters.register(ip)
        sdk_display.register(ip)
        registry.add_finder(find_namespace)
        add_client_finder(sdk_clients.find_client)
        sdk_hook.watch(ip)
        setattr(ip, _STATE, {"printers": previous})
    shell.register(ip)


def unload(ip: Any) -> None:
    """Remove the magic and restore the printers `load` replaced."""
    if ip is None:
        return
    shell.unregister(ip)
    state = getattr(ip, _STATE, None)
    if state is None:
        return
    sdk_hook.unwatch(ip)
    remove_client_finder(sdk_clients.find_client)
    sdk_display.unregister(ip)
    formatters.unregister(ip, state["printers"])
    registry.remove_finder(find_namespace)
    sdk_clients.forget()
    delattr(ip, _STATE)


__all__ = ["load", "unload", "get_magics", "VlmRunMagics"]
