"""The fence watchdog as a process of its own, on real containers: it stops a node's pods
when the agent's beacon goes stale, and leaves them alone while it is fresh."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nodeagent.fence_beacon import RENEWED, UNREACHABLE, Beacon, beacon_path, write_beacon
from tests.e2e.conftest import DockerKit, docker_cli
from tests.support.procs import wait_for

pytestmark = pytest.mark.e2e


def _pod_container(node: str, type_: str, name: str) -> str:
    image = "podlab/pause:3.9" if type_ == "sandbox" else "busybox:latest"
    command = [] if type_ == "sandbox" else ["sleep", "3600"]
    return docker_cli("run", "-d", "--name", name, "--label", "io.podlab.managed=true",
                      "--label", f"io.podlab.node={node}", "--label",
                      f"io.podlab.container.type={type_}", image, *command).strip()


def _running(cid: str) -> bool:
    return docker_cli("inspect", "-f", "{{.State.Running}}", cid).strip() == "true"


def test_watchdog_stops_the_nodes_pods_once_the_lease_is_stale(docker_kit: DockerKit,
                                                               tmp_path: Path) -> None:
    node, other = docker_kit.node("dog"), docker_kit.node("dog-other")
    sandbox = _pod_container(node, "sandbox", f"{node}-pause")
    app = _pod_container(node, "app", f"{node}-app")
    bystander = _pod_container(other, "app", f"{other}-app")
    path = beacon_path(str(tmp_path))
    now = time.monotonic()  # the beacon's clock
    write_beacon(path, Beacon(now, now, RENEWED, False, 2.0, 1))
    dog = subprocess.Popen([sys.executable, "-m", "nodeagent.watchdog", "--node-name", node,
                            "--root-dir", str(tmp_path), "--interval", "0.2"],
                           env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    try:
        time.sleep(1.0)
        assert _running(app) and _running(sandbox), "a fresh beacon must stop nothing"
        # The agent goes quiet (frozen): its last word is 2.5 s old, past the 2 s timeout.
        write_beacon(path, Beacon(now - 2.5, now - 2.5, UNREACHABLE, False, 2.0, 1))
        wait_for(lambda: not _running(app) and not _running(sandbox), 5,
                 message="the watchdog to stop the node's pod containers")
        assert _running(bystander), "another node's pods are not this watchdog's"
    finally:
        dog.terminate()
        dog.wait(10)
