"""A Docker benchmark stopped with SIGTERM (CI's `timeout`) removes the containers and networks it made."""

from __future__ import annotations

import signal
from pathlib import Path

import docker

from tests.support.dockerkit import DockerKit
from tests.support.procs import children, start_bench, stop_bench, wait_for


def test_bench_startup_stopped_mid_run_leaves_no_container_or_network(docker_kit: DockerKit, tmp_path: Path) -> None:
    engine = docker.from_env()
    before = ({c.id for c in engine.containers.list(all=True)}, {n.id for n in engine.networks.list()})
    log = tmp_path / "bench.err"
    bench = start_bench("startup", log)
    started: set[int] = set()
    try:
        # Pods made through podlab and by hand, some of them in flight when the signal comes.
        wait_for(lambda: "11/50" in log.read_text() or bench.poll() is not None, 120, message="ten pods")
        started = children(bench.pid)
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(60) == 128 + signal.SIGTERM, log.read_text()
        left = ({c.name for c in engine.containers.list(all=True) if c.id not in before[0]},
                {n.name for n in engine.networks.list() if n.id not in before[1]})
        assert left == (set(), set()), log.read_text()
    finally:
        stop_bench(bench, started)
        engine.close()
