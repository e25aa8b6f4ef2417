"""A benchmark stopped from outside (CI's `timeout` sends SIGTERM) stops what it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.procs import REPO, wait_for


def _children(pid: int) -> set[int]:
    """The live processes whose parent is `pid`."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("when", ["starting", "measuring"])
def test_a_benchmark_stopped_with_sigterm_stops_its_etcd_and_servers(when: str, tmp_path: Path) -> None:
    log = tmp_path / "bench.err"
    with log.open("w") as err:
        bench = subprocess.Popen([sys.executable, "-m", "bench", "api"], cwd=REPO, stdout=subprocess.DEVNULL,
                                 stderr=err, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    started: set[int] = set()

    def servers_up() -> bool:  # etcd, the no-op server and the control plane (still starting, or serving)
        started.update(_children(bench.pid))
        return len(started) >= 3

    try:
        wait_for(servers_up, 60, message="the benchmark's servers")
        if when == "measuring":
            wait_for(lambda: "api round 1/" in log.read_text(), 60, message="the first round's creates")
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(30) == 128 + signal.SIGTERM
        assert not [pid for pid in started if _alive(pid)], log.read_text()
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
        for pid in started:
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
