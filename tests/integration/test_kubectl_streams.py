"""The real kubectl's streaming verbs against a running sim cluster: port-forward, attach, top.

The sim runtime's pod network is the node's loopback, so a server this test
starts on 127.0.0.1 is the pod's port.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_kubectl import kubectl_for
from tests.support.hello_http import closing_server, hello_server
from tests.support.procs import ControlPlane, wait_for


@pytest.fixture
def pod_port() -> Iterator[int]:
    """An HTTP server on a free loopback port: the sim pod's port."""
    with hello_server() as port:
        yield port


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


async def test_port_forward_carries_http_both_ways_and_reports_a_refused_port(make_cluster, tmp_path: Path,
                                                                              pod_port: int) -> None:
    cluster, _ = await make_cluster(1)
    kubectl = kubectl_for(cluster.control_plane, tmp_path)
    kubectl.run("run", "web", "--image=nginx", f"--port={pod_port}")
    kubectl.run("wait", "--for=condition=Ready", "pod/web", "--timeout=30s", timeout=40)
    local, dead, bye = _free_port(), _free_port(), _free_port()
    with closing_server() as closing:
        forward = subprocess.Popen([kubectl.binary, "port-forward", "pod/web", f"{local}:{pod_port}", f"{dead}:1",
                                    f"{bye}:{closing}"], env=kubectl.env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        _port_forward_checks(forward, local, dead, bye, pod_port)


def _read_to_end(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.settimeout(5)  # the pod's close must reach us well before the agent's CLOSE_WAIT
        data = b""
        while chunk := conn.recv(100):
            data += chunk
        return data


def _port_forward_checks(forward: subprocess.Popen[str], local: int, dead: int, bye: int, pod_port: int) -> None:
    errors: list[str] = []  # kubectl's stderr, as it comes: the refused port's error follows the close
    try:
        assert forward.stdout is not None and forward.stderr is not None
        threading.Thread(target=lambda: errors.extend(forward.stderr), daemon=True).start()  # type: ignore[arg-type]
        first = forward.stdout.readline()
        assert first.strip() == f"Forwarding from 127.0.0.1:{local} -> {pod_port}"
        for path in ("/a", "/b"):  # two connections over the one tunnel
            assert wait_for(lambda p=path: _get(f"http://127.0.0.1:{local}{p}"), 10) == f"hello from {path}\n"
        assert _read_to_end(bye) == b"bye"  # the pod's half-close comes through as the end
        with pytest.raises(OSError):
            _get(f"http://127.0.0.1:{dead}/")
        wait_for(lambda: any("an error occurred forwarding" in line for line in errors), 10,
                 message="kubectl's error for the refused port")
    finally:
        forward.terminate()
        forward.wait(timeout=10)
    err = "".join(errors)
    assert f"Handling connection for {local}" not in err  # kubectl logs handling on stdout
    assert f"an error occurred forwarding {dead} -> 1" in err and "connection refused" in err


def test_podctl_explain_and_api_resources_print_what_kubectl_prints(control_plane: ControlPlane,
                                                                     tmp_path: Path) -> None:
    kubectl = kubectl_for(control_plane, tmp_path)
    for args in (["explain", "pod.spec.containers.livenessProbe"], ["explain", "deployments.spec"],
                 ["api-resources"]):
        ours = subprocess.run([sys.executable, "-m", "podctl", *args], capture_output=True, text=True, timeout=30)
        # podctl's gRPC API has no metrics.k8s.io resources (its top asks the agents' stats directly)
        theirs = "".join(line for line in kubectl.out(*args).splitlines(keepends=True) if "metrics.k8s.io" not in line)
        assert ours.stdout == theirs, args


async def test_kubectl_top_pod_and_node_from_the_metrics_api(make_cluster, tmp_path: Path) -> None:
    cluster, _ = await make_cluster(1)
    kubectl = kubectl_for(cluster.control_plane, tmp_path)
    kubectl.run("run", "busy", "--image=busybox")
    kubectl.run("wait", "--for=condition=Ready", "pod/busy", "--timeout=30s", timeout=40)
    pods = kubectl.out("top", "pod").splitlines()
    assert pods[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    # the sim runtime's SIM_USAGE: 5 millicores (give or take the sampling, rounded up as kubectl does), 8 MiB
    assert pods[1].split()[::2] == ["busy", "8Mi"] and pods[1].split()[1] in ("5m", "6m")
    row = kubectl.out("top", "pod", "busy", "--containers").splitlines()[1].split()
    assert row[:2] + row[3:] == ["busy", "busy", "8Mi"] and row[2] in ("5m", "6m")
    nodes = kubectl.out("top", "node").splitlines()
    assert nodes[0].split() == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    name, cpu, cpu_pct, memory, memory_pct = nodes[1].split()
    assert cpu.endswith("m") and cpu_pct.endswith("%") and memory.endswith("Mi") and memory_pct.endswith("%")
    missing = kubectl.run("top", "pod", "nope", check=False)
    assert missing.stderr.strip() == 'Error from server (NotFound): podmetrics.metrics.k8s.io "default/nope" not found'
    ours = subprocess.run([sys.executable, "-m", "podctl", "-s", cluster.server_address, "top", "pod"],
                          capture_output=True, text=True, timeout=30)
    assert [line.split()[::2] for line in ours.stdout.splitlines()] == [line.split()[::2] for line in pods]
