"""Run one benchmark: `python -m bench NAME [--quick]`.

Progress goes to stderr; the last line of stdout is one JSON object with the
figures, the configuration, the machine, and ratios against references
measured in the same run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import signal
import sys
import time

BENCHMARKS = ("api", "startup", "scheduler", "probes", "failover", "chaos", "workloads")


def machine() -> dict[str, object]:
    mem_kb = 0
    try:
        with open("/proc/meminfo") as f:
            mem_kb = int(f.readline().split()[1])
    except OSError:
        pass
    return {"cores": os.cpu_count(), "memory_gib": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def _exit_on_sigterm() -> None:
    """`timeout` (CI's bench step) stops a benchmark with SIGTERM, on which Python dies on the spot;
    exit as Ctrl-C would instead, so every `finally` stops the processes and containers it started."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def main() -> int:
    _exit_on_sigterm()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=BENCHMARKS)
    parser.add_argument("--quick", action="store_true", help="a small run, as CI's smoke test")
    args = parser.parse_args()
    try:
        module = importlib.import_module(f"bench.{args.name}")
    except ModuleNotFoundError as err:
        print(f"error: benchmark {args.name!r} is not available: {err}", file=sys.stderr)
        return 2
    started = time.time()
    result = module.run(quick=args.quick)
    result = {"benchmark": args.name, "quick": args.quick, "machine": machine(),
              "seconds": round(time.time() - started, 1), **result}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
