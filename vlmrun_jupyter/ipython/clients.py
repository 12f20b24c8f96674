"""Which client the magic talks through, and every key it might know (to redact).

In order: the local server's client while `%vlmrun local start` runs (it is also
made the process-wide default, so refs fetch from it, and the previous default
comes back on `local stop`); else a client built from `VlmRunMagics.api_key` /
`base_url` when either is set; else the process-wide default from the environment.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from .. import session
from ..client import Client
from ..errors import ConfigurationError


class MagicConfig(Protocol):
    """The `%config VlmRunMagics` traits the magic's managers read."""

    default_model: str
    short_errors: bool
    base_url: str
    api_key: str
    timeout: float
    status_line: str


class Clients:
    """The magic's clients: its local server's, one built from its traits, or the default."""

    def __init__(self, config: MagicConfig) -> None:
        self.config = config
        self.local_server: Any = None
        self._local: Client | None = None
        self._own: Client | None = None
        self._own_for: tuple[str, str] | None = None
        self._previous_default: Client | None = None

    def get(self, need_key: bool = True) -> Client:
        """The client to use; `need_key=False` allows an unkeyed one (enough for --dry-run)."""
        if self._local is not None:
            return self._local
        api_key, base_url = self.config.api_key, self.config.base_url
        if api_key or base_url:
            if self._own is None or self._own_for != (api_key, base_url):
                self._replace_own(Client(api_key=api_key or None, base_url=base_url or None))
                self._own_for = (api_key, base_url)
            client = self._own
        else:
            try:
                client = session.default_client()
            except ConfigurationError:
                if need_key:
                    raise
                client = self._replace_own(Client())
                self._own_for = ("", "")
        if need_key and not client.settings.api_key:
            raise ConfigurationError("No VLM Run API key.")
        return client

    def _replace_own(self, client: Client) -> Client:
        if self._own is not None:
            self._own.close()
        self._own = client
        return client

    def secrets(self) -> list[str]:
        """Every key the magic might know (to redact from anything shown)."""
        keys = [self.config.api_key, os.environ.get("VLMRUN_API_KEY", "")]
        for c in (self._local, self._own):
            if c is not None:
                keys.append(c.settings.api_key or "")
        return [k for k in keys if k]

    def key_source(self) -> str:
        """Where the key comes from, for `%vlmrun config` (never the key itself)."""
        if self._local is not None:
            return "set (local server)"
        if self.config.api_key:
            return "set (VlmRunMagics.api_key)"
        if os.environ.get("VLMRUN_API_KEY"):
            return "set (VLMRUN_API_KEY)"
        return "not set: export VLMRUN_API_KEY, or run `%vlmrun local start`"

    def start_local(self) -> bool:
        """Start an offline local server and route the magic and refs to it (False: running)."""
        if self.local_server is not None:
            return False
        from ..local import LocalServer

        server = LocalServer().start()
        self.local_server = server
        self._local = Client(api_key=server.api_key, base_url=server.base_url)
        self._previous_default = session.current_default()  # restored by stop_local
        session.set_default_client(self._local)
        return True

    def stop_local(self) -> bool:
        """Stop the local server this magic started and restore the previous default."""
        server, client = self.local_server, self._local
        if server is None:
            return False
        self.local_server = self._local = None
        session.set_default_client(self._previous_default)
        self._previous_default = None
        if client is not None:
            client.close()
        server.stop()
        return True

    def close(self) -> None:
        self.stop_local()
        if self._own is not None:
            self._own.close()
            self._own = None


__all__ = ["Clients", "MagicConfig"]
