"""Report what changes with the newest official SDK (not part of CI).

The test suite pins the SDK it was written against (tests/conftest.py: SDK_REQUIREMENT).
This check builds a venv with the newest `vlmrun` from the package index and runs every
SDK test (`-m sdk`: schema equality, the SDK against the local server, the SDK-style
notebook) against it, then prints the version and which tests changed outcome.

    python tools/check_newer_sdk.py            # newest vlmrun
    python tools/check_newer_sdk.py 0.9.3      # a given version
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from conftest import SDK_REQUIREMENT  # noqa: E402


def main(argv: list[str]) -> int:
    wanted = f"vlmrun=={argv[0]}" if argv else "vlmrun"
    with tempfile.TemporaryDirectory(prefix="vlmrun-newer-sdk-") as tmp:
        root = Path(tmp) / "venv"
        venv.create(root, with_pip=True)
        python = root / "bin" / "python"
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, wanted, "openai"], check=True)
        subprocess.run(
            [*pip, "-e", str(ROOT), "nbval", "nbclient", "ipykernel", "pytest"], check=True
        )
        (root / ".ready").touch()
        version = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('vlmrun'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        print(f"pinned: {SDK_REQUIREMENT}   checked: vlmrun=={version}")
        env = {**os.environ, "VLMRUN_COMPAT_VENV": str(root)}
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-m", "sdk", "-q", "-p", "no:cacheprovider",
             "-o", "addopts=", "-rfE", str(ROOT / "tests")],
            env=env, cwd=ROOT, capture_output=True, text=True,
        )  # fmt: skip
        failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", proc.stdout, re.M)
        summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "no output"
        print(f"SDK tests with vlmrun=={version}: {summary}")
        for name in failed:
            print(f"  changed: {name}")
        if not failed:
            print("  nothing the tests cover changed")
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
