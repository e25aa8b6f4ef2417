"""podctl against a real API server on real etcd (the `cluster` fixture from conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from podctl import main

pytestmark = pytest.mark.integration

HELLO = (Path(__file__).resolve().parents[1] / "unit" / "manifests" / "seed003-hello-world-pod.yaml").read_text()


def podctl(server: str, *args: str) -> tuple[int, str, str]:
    with CliRunner().isolation() as (out, err, _):
        try:
            main(["-s", server, *args])
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return code, out.getvalue().decode(), err.getvalue().decode()


def test_seed_pod_create_get_jsonpath_and_force_delete(cluster, tmp_path: Path) -> None:
    manifest = tmp_path / "hello-world-pod.yaml"
    manifest.write_text(HELLO)
    assert podctl(cluster.server_address, "create", "-f", str(manifest))[:2] == \
        (0, "pod/hello-world created\n")
    code, out, _ = podctl(cluster.server_address, "get", "pod", "hello-world")
    assert code == 0 and out.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS",
                                                          "AGE"]
    assert podctl(cluster.server_address, "get", "pod", "hello-world",
                  "-o", "jsonpath={.metadata.name}")[1] == "hello-world"
    code, out, err = podctl(cluster.server_address, "delete", "pod", "hello-world", "--force",
                            "--grace-period=0")
    assert (code, out) == (0, 'pod "hello-world" force deleted\n')
    assert err.startswith("Warning: Immediate deletion")
    code, _, err = podctl(cluster.server_address, "get", "pod", "hello-world")
    assert (code, err) == (1, 'Error from server (NotFound): pods "hello-world" not found\n')


def test_invalid_pod_prints_exact_message_and_stores_nothing(cluster, tmp_path: Path) -> None:
    manifest = tmp_path / "error-pod.yaml"
    manifest.write_text(HELLO.replace("OnFailure", "Mybe"))
    code, out, err = podctl(cluster.server_address, "create", "-f", str(manifest))
    assert (code, out) == (1, "")
    assert err == ('The Pod "hello-world" is invalid: spec.restartPolicy: Unsupported value: '
                   '"Mybe": supported values: "Always", "OnFailure", "Never"\n')
    code, out, _ = podctl(cluster.server_address, "get", "pods", "-o", "name")
    assert (code, out) == (0, "")


class _Lines:
    """A process's stdout lines, read on a thread so a test can wait for one with a timeout."""

    def __init__(self, argv: list[str]) -> None:
        import queue
        import subprocess
        import threading

        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.proc.stdout], daemon=True).start()

    def wait_for(self, predicate, timeout: float) -> str:
        import queue
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if predicate(line):
                return line
        raise AssertionError(f"no matching line within {timeout}s; saw: {self.seen}")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(5)


async def test_get_pods_and_nodes_watch_print_each_transition(make_cluster) -> None:
    import sys

    from tests.support.cluster import sleeper

    cluster, client = await make_cluster(1)
    base = [sys.executable, "-m", "podctl", "--server", cluster.server_address, "get"]
    pods = _Lines([*base, "pods", "-w"])
    nodes = _Lines([*base, "nodes", "-w"])
    try:
        nodes.wait_for(lambda line: line.split()[:2] == ["node1", "Ready"], 15)
        await client.create(sleeper("watched"))
        pods.wait_for(lambda line: line.startswith("watched") and "Running" in line, 30)
        cluster.power_off("node1")
        nodes.wait_for(lambda line: line.split()[:2] == ["node1", "NotReady"], 20)
        await client.delete("Pod", "watched", grace_period_seconds=0)
        pods.wait_for(lambda line: line.startswith("watched"), 15)
    finally:
        pods.stop()
        nodes.stop()
    assert pods.seen[0].split()[:3] == ["NAME", "READY", "STATUS"]
