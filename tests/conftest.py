"""Shared fixtures: one live local server per test session, over real HTTP on loopback."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ARTIFACTS = Path(
    os.environ.get("VLMRUN_TEST_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts")
)


def pytest_sessionfinish(session, exitstatus):
    """With VLMRUN_FAIL_ON_SKIP=1 (set by .ci/run, which installs everything the suite
    needs), a skipped or xfailed test fails the run: there it can only mean a broken setup."""
    if os.environ.get("VLMRUN_FAIL_ON_SKIP") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    stats = getattr(reporter, "stats", {})
    bad = {k: len(stats.get(k, [])) for k in ("skipped", "xfailed") if stats.get(k)}
    if bad:
        if reporter is not None:
            reporter.write_line(f"VLMRUN_FAIL_ON_SKIP: {bad} -- failing the run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests save screenshots and other evidence (kept by CI)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def ipython():
    """The test process's one IPython shell; every test that needs a shell takes it from
    here. IPython keeps its shell as a process-wide singleton of one class, and
    `start_ipython()` (a TerminalInteractiveShell) returns None once called: a test that
    made a bare `InteractiveShell.instance()` made every later `start_ipython()` raise
    MultipleInstanceError, and a second `start_ipython()` handed out None."""
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    return start_ipython() or get_ipython()


@pytest.fixture(scope="module")
def ip(ipython):
    """The shell with the extension loaded for one module's tests, unloaded after them
    (the next module finds the shell as IPython made it)."""
    ipython.run_line_magic("load_ext", "vlmrun_jupyter")
    yield ipython
    ipython.run_line_magic("unload_ext", "vlmrun_jupyter")


@pytest.fixture()
def magics(ip):
    """The extension's magics with no session yet and the settings' defaults again after
    the test (a test sets a key, a model or the status line for itself only)."""
    from vlmrun_jupyter.ipython import get_magics

    m = get_magics(ip)
    m.last_session = None
    m.short_errors = True
    yield m
    for trait in ("api_key", "base_url", "default_model"):
        setattr(m, trait, "")
    m.short_errors = True
    m.status_line = "auto"


@pytest.fixture()
def kernel_env(monkeypatch, tmp_path):
    """What a notebook's kernel inherits: no key at all, a private cache, this checkout
    importable. Returns the folder to run the notebook in."""
    monkeypatch.delenv("VLMRUN_API_KEY", raising=False)
    monkeypatch.delenv("VLMRUN_BASE_URL", raising=False)
    monkeypatch.setenv("VLMRUN_CACHE_DIR", str(tmp_path / "cache"))
    repo = str(Path(__file__).resolve().parent.parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")]))
    # jupyter_client runs a kernelspec's "python" as sys.executable; PATH covers the rest
    monkeypatch.setenv(
        "PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    )
    return tmp_path


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


# The official SDK version these tests were written against (design.md section 3).
SDK_REQUIREMENT = "vlmrun==0.9.2"


@pytest.fixture(scope="session")
def compat_python(tmp_path_factory) -> Path:
    """A venv holding the official SDK (pinned), openai and this package (editable), for the
    tests that compare with or run the SDK. The SDK pins its own dependencies, so it never
    shares the test venv. Reused via $VLMRUN_COMPAT_VENV. Skipped (with pip's reason) only
    where the SDK cannot be installed."""
    import subprocess
    import venv

    root_dir = Path(__file__).resolve().parent.parent
    given = os.environ.get("VLMRUN_COMPAT_VENV")
    root = Path(given) if given else tmp_path_factory.mktemp("compat") / "venv"
    python = root / "bin" / "python"
    ready = root / ".ready"
    if not ready.exists():
        venv.create(root, with_pip=True, clear=True)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        sdk = subprocess.run(
            [*pip, SDK_REQUIREMENT, "openai"], capture_output=True, text=True, timeout=600
        )
        if sdk.returncode != 0:
            pytest.skip(f"the official SDK could not be installed: {sdk.stderr.strip()[-400:]}")
        ours = subprocess.run(
            [*pip, "-e", str(root_dir), "nbval", "nbclient", "ipykernel", "pytest"],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert ours.returncode == 0, (
            f"vlmrun-jupyter does not install beside the SDK:\n{ours.stderr[-2000:]}"
        )
        ready.touch()
    return python
