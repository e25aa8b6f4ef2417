"""A benchmark stopped from outside (CI's `timeout` sends SIGTERM) stops what it started."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.procs import alive, children, start_bench, stop_bench, wait_for


@pytest.mark.parametrize("when", ["starting", "measuring"])
def test_a_benchmark_stopped_with_sigterm_stops_its_etcd_and_servers(when: str, tmp_path: Path) -> None:
    log = tmp_path / "bench.err"
    bench = start_bench("api", log)
    started: set[int] = set()

    def servers_up() -> bool:  # etcd, the no-op server and the control plane (still starting, or serving)
        started.update(children(bench.pid))
        return len(started) >= 3

    try:
        wait_for(servers_up, 60, message="the benchmark's servers")
        if when == "measuring":
            wait_for(lambda: "api round 1/" in log.read_text(), 60, message="the first round's creates")
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(30) == 128 + signal.SIGTERM
        assert not [pid for pid in started if alive(pid)], log.read_text()
    finally:
        stop_bench(bench, started)
