"""The bomb table (issue 14): peak memory growth and time of each hostile input through
the display path, this checkout against an older one.

    python bench/hostile.py                       # this checkout only
    python bench/hostile.py --before /tmp/old     # plus a checkout from before the budgets
                                                  # (git worktree add /tmp/old a3dbcfd)

Each case is built at run time and served by a hostile API server (tests/hostile.py);
each run is a fresh process whose high-water mark is reset after warm-up. The bar:
<= 256 MiB of peak growth and <= 10 s per case. "Before" runs get an 8 GiB address-space
cap and 120 s, so a bomb that would take the machine down reports instead.

PDF pages render in a worker process (vlmrun_jupyter/document/pdf.py), whose address
space may grow by VLMRUN_PDF_MEMORY (256 MiB) and which is killed after
VLMRUN_PDF_SECONDS (5 s): the table's peak is the kernel's; the worker's is capped.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import hostile  # noqa: E402

BAR_MIB, BAR_S = 256, 10.0


def _cell(out: dict) -> str:
    if out.get("peak") is None:
        return (out.get("error") or "?")[:28]
    return f"{out['peak'] / 2**20:7.0f} MiB {out['seconds']:6.2f} s"


def _outcome(out: dict) -> str:
    said = out.get("error") or re.sub(r"<[^>]+>", " ", out.get("card") or "")
    return " ".join(said.split())[:70]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, help="an older checkout to compare against")
    ap.add_argument("--small", action="store_true", help="bombs just over each limit (faster)")
    args = ap.parse_args()
    server = hostile.HostileServer()
    rows, worst = [], True
    try:
        for case in hostile.cases(full=not args.small):
            with tempfile.TemporaryDirectory() as d:
                after = hostile.run_probe(REPO, server, case, Path(d) / "after")
            before = None
            if args.before is not None:
                with tempfile.TemporaryDirectory() as d:
                    before = hostile.run_probe(
                        args.before, server, case, Path(d) / "before", 120, 8 * 1024**3
                    )
            ok = (
                after.get("peak") is not None
                and after["peak"] <= BAR_MIB * 2**20
                and after["seconds"] <= BAR_S
            )
            worst = worst and ok
            rows.append((case.name, before, after, ok))
            print(f"  done: {case.name}", file=sys.stderr, flush=True)
    finally:
        server.close()
    print(f"{'input':44} {'before':>28} {'after':>22}  bar  what the user sees (after)")
    for name, before, after, ok in rows:
        b = _cell(before) if before is not None else "-"
        print(f"{name:44} {b:>28} {_cell(after):>22}  {'ok ' if ok else 'OVER'} {_outcome(after)}")
    if args.before is not None:
        print("\nwhat the user saw before:")
        for name, before, _, _ in rows:
            print(f"  {name:44} {_outcome(before or {})}")
    print(
        f"\nbar: <= {BAR_MIB} MiB peak growth and <= {BAR_S:.0f} s per case: "
        f"{'all within' if worst else 'NOT all within'}"
    )
    return 0 if worst else 1


if __name__ == "__main__":
    sys.exit(main())
