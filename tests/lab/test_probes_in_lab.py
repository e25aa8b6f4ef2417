"""Exec probes in the lab: the agents enter pod containers with podlab-nsexec."""

from __future__ import annotations

import time
from pathlib import Path

from lab.chaos import Lab, LabApi, wait_until
from tests.lab.conftest import podctl

PROBED = """
apiVersion: v1
kind: Pod
metadata:
  name: probed
spec:
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "touch /tmp/ready; sleep 3600"]
    readinessProbe:
      exec:
        command: ["cat", "/tmp/ready"]
      periodSeconds: 1
"""


def test_exec_probes_in_the_lab_enter_containers_without_the_engine(
        scenario: Lab, api: LabApi, tmp_path: Path) -> None:
    """The agents run as a kubelet does (host pid namespace, able to enter other
    namespaces), so exec probes and non-interactive `podctl exec` go through
    podlab-nsexec: Docker records no exec for them, only for an interactive one."""
    import docker

    manifest = tmp_path / "probed.yaml"
    manifest.write_text(PROBED)
    since = time.time() - 1
    assert podctl("apply", "-f", str(manifest)).returncode == 0

    def ready() -> bool:
        pod = api.pods().get("default/probed")
        return pod is not None and any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)
    wait_until(ready, 60, 0.25, "pod probed Ready")
    uid = api.pods()["default/probed"].metadata.uid
    client = docker.from_env(timeout=30)
    try:
        [app] = client.containers.list(filters={"label": [f"io.podlab.pod.uid={uid}",
                                                          "io.podlab.container.name=app"]})

        def engine_execs() -> int:
            return sum(1 for _ in client.events(since=since, until=time.time(), decode=True,
                                                filters={"container": app.id, "event": "exec_create"}))
        assert podctl("exec", "probed", "--", "rm", "/tmp/ready").returncode == 0
        wait_until(lambda: not ready(), 15, 0.25, "pod probed not Ready once /tmp/ready is gone")
        assert engine_execs() == 0  # the probe ran many times, and the exec above once
        # An interactive exec is the engine's: seen, so the count above could see them.
        assert podctl("exec", "-i", "probed", "--", "true").returncode == 0
        assert wait_until(lambda: engine_execs() == 1, 10, 0.25, "the interactive exec in the engine's events")
    finally:
        client.close()
