"""The local VLM Run server: the same wire protocol, real media operations, offline."""

from .server import LocalServer

__all__ = ["LocalServer"]
