"""`vlmrun-jupyter demo`: execute the bundled notebooks offline and export them.

Each notebook starts the local server inside its own kernel, so the demo needs
nothing but this package. The executed notebooks and standalone HTML land in
`--out`; the summary printed at the end says what every output rendered.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
# A source checkout has notebooks/ beside the package; a wheel carries a copy inside it.
NOTEBOOKS_DIR = next(
    (d for d in (_HERE.parent / "notebooks", _HERE / "_notebooks") if d.is_dir()),
    _HERE.parent / "notebooks",
)
_PLAIN_KIND = re.compile(r"^<(\w+Ref) ")


@dataclass
class Rendered:
    notebook: str
    cell: int
    kind: str
    mime: str
    bytes: int


def missing_requirements(path: Path) -> list[str]:
    """Packages a notebook declares it needs (metadata vlmrun_jupyter.requires) that are absent."""
    meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    needs = meta.get("vlmrun_jupyter", {}).get("requires", [])
    return [name for name in needs if importlib.util.find_spec(name) is None]


def find_notebooks(directory: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Quickstart first, then the others by name."""
    found = sorted(p for p in directory.glob("*.ipynb") if not p.name.startswith("."))
    return sorted(found, key=lambda p: (p.stem != "quickstart", p.name))


def _kind(data: dict) -> str:
    plain = str(data.get("text/plain", ""))
    m = _PLAIN_KIND.match(plain)
    if m:
        return m.group(1)
    if plain.startswith(("Completion(", "Execution(")):
        return plain.split("(", 1)[0]
    if "application/vnd.jupyter.widget-view+json" in data:
        return "widget"
    if plain.startswith("<PIL."):
        return "PIL image"
    return "card" if "text/html" in data else "text"


def summarize(nb, name: str) -> list[Rendered]:
    rows = []
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") not in ("execute_result", "display_data"):
                continue
            data = out.get("data", {})
            if not any(data.values()):  # a cleared status line: nothing shows
                continue
            mime = next(
                (m for m in ("text/html", "image/jpeg", "image/png") if m in data), "text/plain"
            )
            if "application/vnd.jupyter.widget-view+json" in data:
                mime = f"widget + {mime}"  # the interactive view, where a kernel runs
            size = sum(len(json.dumps(v)) for v in data.values())
            rows.append(Rendered(name, index, _kind(data), mime, size))
    return rows


@contextlib.contextmanager
def kernel_config() -> Iterator[Any]:
    """The kernel talks over Unix sockets in a private directory where the OS has them:
    no TCP port opened, and no 'running over TCP without encryption' warning per notebook."""
    from traitlets.config import Config

    if os.name != "posix":
        yield Config()
        return
    with tempfile.TemporaryDirectory(prefix="vlmrun-kernel-") as d:
        yield Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(d, "k")}})


def execute(path: Path, out_dir: Path, timeout: int = 600) -> tuple[Path, Path, list[Rendered]]:
    """Run one notebook top to bottom (in a scratch copy of its folder) and export it."""
    try:
        import nbformat
        from nbclient import NotebookClient
        from nbconvert import HTMLExporter
    except ImportError as exc:
        raise SystemExit(f"the demo needs {exc.name}: pip install 'vlmrun-jupyter[demo]'") from None

    work = out_dir / ".work" / path.stem
    work.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(path, as_version=4)
    # No widget state in the saved notebook: the 3D viewer's splats would grow the file with
    # the artifact, and without it every exporter shows the static picture instead.
    with kernel_config() as config:
        NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(work)}},
            store_widget_state=False,
            config=config,
        ).execute()
    executed = out_dir / path.name
    nbformat.write(nb, executed)
    html_path = out_dir / f"{path.stem}.html"
    body, _ = HTMLExporter().from_notebook_node(nb)
    html_path.write_text(body, encoding="utf-8")
    return executed, html_path, summarize(nb, path.name)


def _print_table(rows: list[Rendered]) -> None:
    print(f"\n{'notebook':<22} {'cell':>4}  {'rendered':<14} {'as':<11} {'bytes':>9}")
    for r in rows:
        print(f"{r.notebook:<22} {r.cell:>4}  {r.kind:<14} {r.mime:<11} {r.bytes:>9,}")


def run_demo(out: Path, notebooks: list[Path] | None = None) -> list[Rendered]:
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    rows: list[Rendered] = []
    for path in notebooks or find_notebooks():
        missing = missing_requirements(path)
        if missing:
            print(
                f"skipping {path.name}: needs {', '.join(missing)} (pip install {' '.join(missing)})"
            )
            continue
        print(f"executing {path.name} ...", flush=True)
        executed, html_path, found = execute(path, out)
        rows.extend(found)
        print(
            f"  wrote {executed} ({executed.stat().st_size / 1e6:.1f} MB) and {html_path}",
            flush=True,
        )
    shutil.rmtree(out / ".work", ignore_errors=True)
    _print_table(rows)
    print(f"\nOpen {out / 'quickstart.html'} in a browser, or the .ipynb files in Jupyter.")
    return rows


def prepare_workdir(workdir: Path, source: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Copy the notebooks into `workdir` (the package's own copies are never opened, so
    autosave writes outputs there); a notebook already in `workdir` is kept as edited."""
    workdir.mkdir(parents=True, exist_ok=True)
    copied = []
    for nb in find_notebooks(source):
        dest = workdir / nb.name
        if not dest.exists():
            shutil.copy2(nb, dest)
            copied.append(dest)
    return copied


def lab_command(workdir: Path, extra: list[str], root: bool) -> list[str]:
    """`jupyter lab` on the work directory's quickstart; `extra` goes to JupyterLab as
    given (last, so it can override), `--allow-root` when running as root."""
    cmd = [sys.executable, "-m", "jupyter", "lab", str(workdir / "quickstart.ipynb")]
    cmd += [f"--ServerApp.root_dir={workdir}", "--ServerApp.ip=127.0.0.1"]
    if root and "--allow-root" not in extra:
        cmd.append("--allow-root")
    return cmd + extra


def _lab(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("jupyterlab") is None:
        print("JupyterLab is not installed: pip install 'vlmrun-jupyter[lab]'", file=sys.stderr)
        return 2
    workdir = Path(args.workdir).expanduser().resolve()
    copied = prepare_workdir(workdir)
    kept = len(find_notebooks(workdir)) - len(copied)
    note = f", kept {kept} as they were" if kept else ""
    print(f"notebooks in {workdir} (copied {len(copied)}{note})", flush=True)
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    return subprocess.call(lab_command(workdir, list(args.extra or []), root))


def _demo(args: argparse.Namespace) -> int:
    if args.lab:
        return _lab(args)
    run_demo(Path(args.out))
    return 0


def add_parser(sub) -> None:
    demo = sub.add_parser(
        "demo",
        help="execute the notebooks offline and export them as HTML",
        epilog="With --lab, any other arguments go to `jupyter lab` (e.g. --port 9999 "
        "--no-browser); put them after -- if they clash with the demo's own.",
    )
    demo.add_argument("--out", default="demo-out", help="output directory (default demo-out)")
    demo.add_argument(
        "--lab",
        action="store_true",
        help="open the quickstart in JupyterLab instead, on copies in --workdir",
    )
    demo.add_argument(
        "--workdir",
        default="vlmrun-demo",
        help="where --lab copies the notebooks (default ./vlmrun-demo; edits there are kept)",
    )
    demo.set_defaults(func=_demo, takes_extra=True)
