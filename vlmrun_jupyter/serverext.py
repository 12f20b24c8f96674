"""A Jupyter server extension: the cached video files, over HTTP, to the logged-in user.

Why: the live video player (`player/video.py`) streams a file over the widget's comm and
plays it once every byte arrived; a 68 MB video becomes playable after seconds. Served by
the Jupyter server instead, the browser's own `<video>` streams it with Range requests
(playable after the first bytes, seeking fetches only what it needs). The comm stays the
fallback: the player tries this URL first (a HEAD whose ETag and size must match what
the kernel says), so a server without this extension, or looking at another cache
directory, changes nothing.

`GET|HEAD <base_url>vlmrun/cache/artifacts/<ns>/<file>` serves finished video files of
the cache directory this server resolves (`VLMRUN_CACHE_DIR`, else `~/.vlmrun/cache`,
as the kernel does), behind Jupyter's own authentication (token or cookie, and its
authorizer); the rules of what is servable are `_served.py`'s. tornado's
`StaticFileHandler` gives Range (206), HEAD and conditional requests. Enabled on install
by `jupyter-config/jupyter_server_config.d/vlmrun_jupyter.json`.
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.base.handlers import AuthenticatedFileHandler
from jupyter_server.utils import url_path_join
from tornado import web

from . import _served
from ._config import Settings


class CachedVideoHandler(AuthenticatedFileHandler):
    """Jupyter's authenticated static files (`AuthenticatedFileHandler`: login, the
    authorizer's "contents" read permission, the same-origin check), limited to the
    servable files of the artifact cache, with a cheap ETag the kernel can predict."""

    def validate_absolute_path(self, root: str, absolute_path: str) -> str:
        # the name as asked (tornado has already normalised `absolute_path`)
        if _served.resolve(root, self.path or "") is None:
            raise web.HTTPError(404)
        return super().validate_absolute_path(root, absolute_path)

    def compute_etag(self) -> str | None:
        # tornado's default hashes the whole file on every request
        assert self.absolute_path is not None
        return f'"{_served.tag(os.stat(self.absolute_path))}"'

    def set_headers(self) -> None:
        super().set_headers()
        self.set_header("X-Content-Type-Options", "nosniff")


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "vlmrun_jupyter.serverext"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    web_app = serverapp.web_app
    cache_dir = os.path.realpath(Settings.from_env().cache_dir)
    route = url_path_join(web_app.settings["base_url"], _served.ROUTE, "(.*)")
    web_app.add_handlers(".*$", [(route, CachedVideoHandler, {"path": cache_dir})])
    serverapp.log.info("vlmrun_jupyter: serving cached videos of %s", cache_dir)
