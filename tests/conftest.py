"""Shared fixtures: one live local server per test session, over real HTTP on loopback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ARTIFACTS = Path(
    os.environ.get("VLMRUN_TEST_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts")
)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests save screenshots and other evidence (kept by CI)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def server():
    """A LocalServer for the whole session; tests must clear the faults they inject."""
    from vlmrun_jupyter import LocalServer

    with LocalServer() as srv:
        yield srv


@pytest.fixture()
def live_server(server):
    """The session server with faults cleared and the request log reset around the test."""
    server.clear_faults()
    server.reset_requests()
    yield server
    server.clear_faults()


@pytest.fixture()
def client(live_server, tmp_path):
    """A Client pointed at the local server with a private cache directory."""
    from vlmrun_jupyter import Client

    c = Client(
        api_key=live_server.api_key, base_url=live_server.base_url, cache_dir=tmp_path / "cache"
    )
    yield c
    c.close()
