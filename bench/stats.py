"""Small statistics helpers for benchmarks."""

from __future__ import annotations

import os
import resource
import sys


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0..100) by nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(seconds, 50) * 1000, 2),
            "p99_ms": round(percentile(seconds, 99) * 1000, 2),
            "max_ms": round(max(seconds, default=0) * 1000, 2)}


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def own_cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    """User plus system CPU time of this process (or, with RUSAGE_CHILDREN, its reaped children)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int, with_children: bool = False) -> float:
    """User plus system CPU time of process `pid` (and its reaped children) from /proc; OSError if gone."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    ticks = fields[11:15] if with_children else fields[11:13]  # utime stime [cutime cstime]
    return sum(int(t) for t in ticks) / os.sysconf("SC_CLK_TCK")
