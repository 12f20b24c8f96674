"""Shared bench helpers: run a measuring snippet in a fresh subprocess, either with our
package or with the official SDK (vlmrun) in its own venv; either way `import peak_rss`
(tests/peak_rss.py) measures peak RSS growth.

The SDK venv lives at $VLMRUN_SDK_VENV (default .bench/sdk-venv in this repository,
git-ignored) and is created
on first use with `python -m venv` + `pip install vlmrun==0.9.2`. Both sides run out of
process so neither shares a GIL with the LocalServer serving them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SDK_REQUIREMENT = "vlmrun==0.9.2"  # the version the compatibility tests pin
REPO = Path(__file__).resolve().parent.parent
VENVS = REPO / ".bench"  # comparison venvs, made on first use (git-ignored)
PROBES = REPO / "tests"  # peak_rss.py (standard library only): importable by every snippet
SDK_VENV = Path(os.environ.get("VLMRUN_SDK_VENV", VENVS / "sdk-venv"))


def venv_python(venv: Path, requirement: str) -> Path:
    """The interpreter of a comparison venv, creating it (`pip install requirement`)
    on first use."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} (pip install {requirement!r}) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", requirement], check=True)
    return python


def sdk_python() -> Path:
    """The SDK venv's interpreter, creating the venv if needed."""
    return venv_python(SDK_VENV, SDK_REQUIREMENT)


def _run(python: Path | str, script: str, env: dict[str, str], args: dict) -> dict:
    proc = subprocess.run(
        [str(python), "-c", script],
        input=json.dumps(args),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench subprocess failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _env(base_url: str, api_key: str, cache_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(VLMRUN_API_KEY=api_key, VLMRUN_BASE_URL=base_url, VLMRUN_CACHE_DIR=str(cache_dir))
    env["PYTHONPATH"] = str(PROBES)  # not this checkout: the SDK side must not see our package
    return env


# The SDK reads `dict(response.headers)["Content-Type"]`, i.e. it depends on the
# server's header-name case; uvicorn/starlette send lowercase names. This shim makes
# the SDK see canonical names (no cost worth measuring); it changes nothing else.
SDK_HEADER_SHIM = r"""
import requests.structures as _rs
def _iter(self):
    return ("-".join(w.capitalize() for w in k.split("-")) for k, _ in self._store.values())
_rs.CaseInsensitiveDict.__iter__ = _iter
"""


def run_sdk(script: str, *, base_url: str, api_key: str, cache_dir: Path, args: dict) -> dict:
    """Run `script` (reads JSON args on stdin, prints one JSON line) with the SDK."""
    return _run(sdk_python(), SDK_HEADER_SHIM + script, _env(base_url, api_key, cache_dir), args)


def run_ours(script: str, *, base_url: str, api_key: str, cache_dir: Path, args: dict) -> dict:
    """Run `script` with this repository's package importable."""
    env = _env(base_url, api_key, cache_dir)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(PROBES)])
    return _run(sys.executable, script, env, args)
