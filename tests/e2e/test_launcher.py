"""`podlab up` and `podlab down`, as a user runs them: a pod runs, and down leaves nothing behind."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lab.launcher import POD_NETWORK
from nodeagent.runtime.docker import remove_node_leftovers
from tests.e2e.conftest import DockerKit, Podctl, docker_cli
from tests.support.procs import free_port, wait_for

pytestmark = pytest.mark.e2e


def test_podlab_up_runs_pods_and_down_stops_every_process_and_container(
        docker_kit: DockerKit, tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "PODLAB_STATE_DIR": str(tmp_path / "state"),
           "PODLAB_SERVER": ""}
    prefix, port = docker_kit.node("up"), free_port()
    log = (tmp_path / "up.log").open("w")
    up = subprocess.Popen([sys.executable, "-m", "lab.launcher", "up", "--nodes", "1",
                           "--port", str(port), "--node-prefix", prefix],
                          stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        # podctl finds the server from the config `up` wrote: no flag, no variable.
        podctl = Podctl(f"127.0.0.1:{port}")
        wait_for(lambda: " Ready " in podctl("get", "nodes", check=False).stdout, 60,
                 message="the node to be Ready")
        found = subprocess.run([sys.executable, "-m", "podctl", "get", "nodes"], env=env,
                               capture_output=True, text=True, timeout=30)
        assert f"{prefix}1" in found.stdout, found.stdout + found.stderr
        podctl("run", "sleeper", "--image=busybox", "--", "sleep", "3600")
        podctl.wait_status("sleeper", "Running")
        assert docker_cli("ps", "-q", "--filter", f"label=io.podlab.node={prefix}1").split()

        down = subprocess.run([sys.executable, "-m", "lab.launcher", "down"], env=env,
                              capture_output=True, text=True, timeout=60)
        assert down.returncode == 0 and "podlab is down" in down.stdout, down.stdout + down.stderr
        assert up.wait(30) == 0
        pids = _started(tmp_path / "up.log")
        assert len(pids) == 4  # etcd, control plane, scheduler, one agent
        for pid in pids:
            wait_for(lambda pid=pid: not _alive(pid), 10, message=f"process {pid} to exit")
        assert docker_cli("ps", "-aq", "--filter", f"label=io.podlab.node={prefix}1") == ""
        assert docker_cli("network", "ls", "-q", "--filter", f"name=^{POD_NETWORK}$") == ""
    finally:
        if up.poll() is None:  # the test failed before `down`: kill what `up` started
            for pid in [up.pid, *_started(tmp_path / "up.log")]:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            up.wait(10)
        log.close()
        remove_node_leftovers([f"{prefix}1"], POD_NETWORK)


def _started(log: Path) -> list[int]:
    """The pids `podlab up` says it started."""
    return [int(pid) for pid in re.findall(r"\(pid (\d+)\)", log.read_text())]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for the user's purposes.
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
