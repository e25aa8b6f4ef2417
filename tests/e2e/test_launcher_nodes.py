"""`podlab up --nodes 3` as a user meets it: each node its own address for hostPorts, pods that
cannot start say why and back off, and a second `up` is refused before it starts anything."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from lab.launcher import POD_NETWORK, node_address
from nodeagent.runtime.docker import remove_node_leftovers
from tests.e2e.conftest import DockerKit, Podctl
from tests.e2e.test_launcher import _started, _user_env
from tests.support.procs import REPO, free_port, wait_for

pytestmark = pytest.mark.e2e
SEED = REPO / "tests" / "unit" / "manifests" / "seed003-nginx.yaml"


def _fetch(address: str, port: int = 80) -> str:
    with urllib.request.urlopen(f"http://{address}:{port}/", timeout=3) as reply:
        return reply.read().decode()


def _pods(podctl: Podctl) -> dict[str, tuple[str, str]]:
    """Pod name -> (STATUS, NODE), from `podctl get pods -o wide`."""
    lines = podctl("get", "pods", "-o", "wide").stdout.splitlines()
    head = lines[0].split()
    return {f[0]: (f[head.index("STATUS")], f[head.index("NODE")]) for f in (ln.split() for ln in lines[1:])}


@pytest.mark.timeout(600)
def test_podlab_up_three_nodes_host_ports_failures_and_a_second_up(docker_kit: DockerKit, tmp_path: Path) -> None:
    prefix = docker_kit.node("hp")
    nodes = [f"{prefix}{i}" for i in (1, 2, 3)]
    port, https_port = free_port(), free_port()
    env = _user_env(tmp_path, os.environ.get("PATH", ""))
    podlab = [sys.executable, "-m", "lab.launcher"]
    log = (tmp_path / "up.log").open("w")
    up = subprocess.Popen([*podlab, "up", "--nodes", "3", "--port", str(port), "--https-port", str(https_port),
                           "--node-prefix", prefix], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
                          start_new_session=True)
    taken = socket.socket()  # a process outside podlab holds node1's port 8081
    try:
        podctl = Podctl(f"127.0.0.1:{port}", env=env)
        wait_for(lambda: podctl("get", "nodes", check=False).stdout.count(" Ready ") == 3, 120,
                 message=f"3 nodes Ready ({(tmp_path / 'up.log').read_text()[-2000:]})")
        wide = podctl("get", "nodes", "-o", "wide").stdout
        for i, node in enumerate(nodes, 1):
            assert re.search(rf"^{node}\s.*\s{re.escape(node_address(i))}\s", wide, re.M), wide

        # A second `up` (another user's HOME) on the same ports: one line, no process started.
        other = _user_env(tmp_path / "other", os.environ.get("PATH", ""))
        (tmp_path / "other").mkdir()
        second = subprocess.run([*podlab, "up", "--nodes", "3", "--port", str(port), "--https-port",
                                 str(https_port), "--node-prefix", prefix], env=other, capture_output=True,
                                text=True, timeout=60, cwd=tmp_path)
        assert second.returncode == 1
        assert second.stdout == "", second.stdout
        lines = second.stderr.splitlines()
        assert len(lines) == 1, second.stderr
        assert lines[0].startswith(f"Error: port {port} is in use by a podlab cluster (`podlab up`, pid {up.pid}")
        assert "`podlab down`" in lines[0] and "--port and --https-port" in lines[0]
        assert not (tmp_path / "other" / "state").exists() or not list((tmp_path / "other" / "state").glob("*.log"))

        # The seed's hostPort-80 pod four times: one per node, the fourth Pending.
        seed = yaml.safe_load(SEED.read_text())
        for i in range(1, 5):
            seed["metadata"]["name"] = f"web{i}"
            podctl("create", "-f", "-", stdin=yaml.safe_dump(seed))

        def placed() -> dict[str, tuple[str, str]] | None:
            pods = _pods(podctl)
            running = [p for p, (status, _) in pods.items() if status == "Running"]
            return pods if len(running) == 3 and len(pods) == 4 else None

        pods = wait_for(placed, 120, interval=0.5, message="three hostPort pods Running")
        assert isinstance(pods, dict)
        assert sorted(node for status, node in pods.values() if status == "Running") == nodes
        [pending] = [p for p, (status, _) in pods.items() if status != "Running"]
        assert pods[pending][0] == "Pending"
        describe = podctl("describe", "pod", pending).stdout
        assert "0/3 nodes are available: 3 node(s) didn't have free ports for the requested pod ports" \
            in describe, describe
        for i in (1, 2, 3):
            assert "Welcome to nginx!" in wait_for(lambda i=i: _fetch(node_address(i)), 30,
                                                     message=f"nginx on {node_address(i)}:80")

        # Pods whose containers cannot start: a host port taken outside podlab, a missing image
        # under imagePullPolicy Never, a command that does not exist.
        taken.bind((node_address(1), 8081))
        taken.listen()
        broken = {"metadata": {"name": "taken"}, "spec": {"nodeName": nodes[0], "containers": [
            {"name": "web", "image": "nginx", "ports": [{"containerPort": 80, "hostPort": 8081}]}]}}
        never = {"metadata": {"name": "never"}, "spec": {"nodeName": nodes[1], "containers": [
            {"name": "app", "image": "podlab/no-such-image:1", "imagePullPolicy": "Never"}]}}
        badcmd = {"metadata": {"name": "badcmd"}, "spec": {"nodeName": nodes[2], "containers": [
            {"name": "app", "image": "busybox", "command": ["/no/such/command"]}]}}
        for manifest in (broken, never, badcmd):
            podctl("create", "-f", "-", stdin=yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", **manifest}))
        podctl.wait_status("taken", "RunContainerError", timeout=60)
        podctl.wait_status("never", "ErrImageNeverPull", timeout=60)
        podctl.wait_status("badcmd", "RunContainerError", timeout=60)

        describe = podctl("describe", "pod", "taken").stdout
        assert "RunContainerError" in describe and f"{node_address(1)}:8081" in describe, describe
        assert "address already in use" in describe, describe
        # One Warning, counted: the second attempt comes after the 10 s back-off.
        wait_for(lambda: re.search(r"Warning\s+FailedCreatePodSandBox\s+.*\(x2 over",
                                   podctl("describe", "pod", "taken").stdout), 40, interval=1,
                 message="the FailedCreatePodSandBox Warning counted twice")
        describe = podctl("describe", "pod", "taken").stdout
        assert len(re.findall(r"Warning\s+FailedCreatePodSandBox", describe)) == 1, describe
        assert "ErrImageNeverPull" in podctl("describe", "pod", "never").stdout
        bad = podctl("describe", "pod", "badcmd").stdout
        assert "/no/such/command" in bad and re.search(r"Warning\s+Failed\s", bad), bad
        # Attempts, as the agent logged them: the back-off keeps them to a handful.
        agent_log = (tmp_path / "state" / f"{nodes[0]}.log").read_text()
        attempts = agent_log.count("sandbox failed to start")
        assert 2 <= attempts <= 4, attempts

        # A second agent for node1 (another root dir: another agent) is refused and exits; node1's
        # nginx keeps running and answering.
        intruder = subprocess.run(
            [sys.executable, "-m", "nodeagent", "--server", f"127.0.0.1:{port}", "--node-name", nodes[0],
             "--listen", f"127.0.0.1:{free_port()}", "--runtime", "docker", "--root-dir",
             str(tmp_path / "intruder"), "--host-ip", node_address(1), "--pod-network", POD_NETWORK],
            env=env, capture_output=True, text=True, timeout=60, start_new_session=True)
        assert intruder.returncode == 2, intruder.stderr[-2000:]
        refusal = [ln for ln in intruder.stderr.splitlines() if ln.startswith("podlab-nodeagent: ")]
        assert len(refusal) == 1 and f'node "{nodes[0]}" is held by another agent: ' in refusal[0], \
            intruder.stderr[-2000:]
        on_node1 = next(p for p, (_, node) in _pods(podctl).items() if node == nodes[0] and p.startswith("web"))
        assert _pods(podctl)[on_node1][0] == "Running"
        assert "Welcome to nginx!" in _fetch(node_address(1))

        down = subprocess.run([*podlab, "down"], env=env, capture_output=True, text=True, timeout=90)
        assert down.returncode == 0 and "podlab is down" in down.stdout, down.stdout + down.stderr
        assert up.wait(30) == 0
    finally:
        taken.close()
        if up.poll() is None:
            for pid in [up.pid, *_started(tmp_path / "up.log")]:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            up.wait(10)
        log.close()
        remove_node_leftovers(nodes, POD_NETWORK)
