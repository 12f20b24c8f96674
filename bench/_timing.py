"""Shared bench timing: sides measured in alternating rounds, reported as min/median/max
and as ratios of medians within the same run (the machine may be shared, so only ratios
from one run mean anything)."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from collections.abc import Callable


def alternate(sides: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run every side once per round, rotating the order each round so that a slow moment
    on a shared machine does not always fall on the same side. Each side returns seconds."""
    names = list(sides)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            times[name].append(sides[name]())
    return times


def summary(times: dict[str, list[float]], unit: str = "s", scale: float = 1.0) -> str:
    """One line per side: min / median / max."""
    width = max(len(n) for n in times)
    lines = [f"{'side':<{width}}  {'min':>9} {'median':>9} {'max':>9}  ({unit}, n={_n(times)})"]
    for name, ts in times.items():
        lo, med, hi = (v * scale for v in (min(ts), statistics.median(ts), max(ts)))
        lines.append(f"{name:<{width}}  {lo:9.4f} {med:9.4f} {hi:9.4f}")
    return "\n".join(lines)


def _n(times: dict[str, list[float]]) -> int:
    return min(len(t) for t in times.values())


def ratio(times: dict[str, list[float]], ours: str, peer: str) -> float:
    """ours' median time / the peer's (1.0 = as fast; below 1: ours is faster)."""
    return statistics.median(times[ours]) / statistics.median(times[peer])


def machine() -> str:
    """The machine a figure was measured on: CPU model, cores, memory."""
    model = platform.processor() or "?"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.split("\n")[1]
        mem = mem.split()[1]
    except (OSError, IndexError):
        mem = "?"
    return f"{model}, nproc {os.cpu_count()}, RAM {mem}, Python {platform.python_version()}"
