"""Resident memory as the kernel counts it (/proc/<pid>/status), for the tests and benches
that bound what a piece of work costs in memory, C allocations (zlib, zstd, PIL, ISA-L)
included, which tracemalloc does not see.

The peak is measured in a fresh process (a `python -c` probe): `mark()` resets the
kernel's high-water mark (VmHWM) to the RSS of now by writing 5 to
/proc/self/clear_refs, after the probe's warm-up, and `growth(mark)` is the peak since
minus the RSS then. getrusage's ru_maxrss is no use here: it would carry the parent's
peak across exec. A probe imports this module with `probe_env()` as its environment.

Standard library only on Linux: the probes may import the package from another checkout,
or run in the SDK's venv. Elsewhere (no /proc) the figures come from psutil, and the peak
since `mark()` from a thread sampling RSS every millisecond: it can miss a spike shorter
than that, so a bound checked there is a little looser than the kernel's.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROC = Path("/proc/self/status").exists()
_sampled = {"peak": 0, "on": False}  # without /proc: the highest RSS seen since mark()


def status(field: str, pid: int | str = "self") -> int:
    """A /proc/<pid>/status figure (VmRSS, VmHWM, VmSize, ...) in bytes; 0 if absent."""
    if not PROC:
        return _psutil_status(field, pid)
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # the kernel writes kB
    return 0


def mark() -> int:
    """Reset this process's peak RSS to its RSS now, and return that RSS (bytes)."""
    if not PROC:
        return _start_sampling()
    Path("/proc/self/clear_refs").write_text("5")
    return status("VmRSS")


def growth(since: int) -> int:
    """Bytes by which this process's peak RSS rose above `since` (from `mark()`)."""
    return status("VmHWM") - since


def _psutil_status(field: str, pid: int | str) -> int:
    import psutil

    info = psutil.Process(None if pid == "self" else int(pid)).memory_info()
    if field == "VmHWM" and pid == "self" and _sampled["on"]:
        return max(_sampled["peak"], info.rss)
    return {"VmRSS": info.rss, "VmHWM": info.rss, "VmSize": info.vms}.get(field, 0)


def _start_sampling() -> int:
    import psutil

    me = psutil.Process()
    _sampled["peak"] = rss = me.memory_info().rss
    if not _sampled["on"]:
        _sampled["on"] = True

        def sample() -> None:
            while True:
                _sampled["peak"] = max(_sampled["peak"], me.memory_info().rss)
                time.sleep(0.001)

        threading.Thread(target=sample, daemon=True, name="peak-rss").start()
    return rss


def probe_env(*first: str | Path, **overrides: str) -> dict[str, str]:
    """This process's environment for a probe that does `import peak_rss`: PYTHONPATH
    holds `first` (say, the checkout to import the package from), then this folder, then
    whatever it held; `overrides` are set on top."""
    old = os.environ.get("PYTHONPATH", "")
    path = [*(str(p) for p in first), str(HERE), *([old] if old else [])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path), **overrides}
