"""Kubernetes' documentation Deployment (`nginx-deployment`) in the lab, end to end, and the loss of the
node that holds most of its replicas. ReplicaSet invariants sampled by lab.rollout.RolloutChecker."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from lab.chaos import NODES, InvariantChecker, Lab, LabApi, busiest_node, wait_until
from lab.rollout import RolloutChecker
from tests.lab.conftest import podctl

NODE_GRACE, POD_EVICTION_TIMEOUT = 4.0, 4.0
NAME = "nginx-deployment"
MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  labels:
    app: nginx
spec:
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports:
        - containerPort: 80
"""


def _ok(*args: str, timeout: float = 30) -> str:
    r = podctl(*args, timeout=timeout)
    assert r.returncode == 0, f"podctl {' '.join(args)}: {r.stdout}{r.stderr}"
    return r.stdout


def _deployment(api: LabApi):
    return api.call(lambda c: c.get("Deployment", NAME))


def _available(api: LabApi, replicas: int, image: str = "") -> bool:
    d = _deployment(api)
    s = d.status
    pods = [p for p in api.pods().values() if p.metadata.labels.get("app") == "nginx"
            and not p.metadata.HasField("deletion_timestamp")]
    return (s.observed_generation == d.metadata.generation and s.available_replicas == replicas
            and s.updated_replicas == replicas and s.replicas == replicas and len(pods) == replicas
            and (not image or all(p.spec.containers[0].image == image for p in pods)))


def _create(tmp: Path) -> None:
    manifest = tmp / "nginx-deployment.yaml"
    manifest.write_text(MANIFEST)
    assert _ok("apply", "-f", str(manifest)) == "deployment.apps/nginx-deployment created\n"


def test_the_docs_nginx_deployment_end_to_end(scenario: Lab, api: LabApi) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _create(Path(tmp))
    status = _ok("rollout", "status", f"deployment/{NAME}", "--timeout=120s", timeout=130)
    assert status.splitlines()[-1] == f'deployment "{NAME}" successfully rolled out'

    with RolloutChecker(api, NAME, label="nginx") as rollout:
        assert _ok("set", "image", f"deployment/{NAME}", "nginx=nginx:1.16") == \
            f"deployment.apps/{NAME} image updated\n"
        _ok("rollout", "status", f"deployment/{NAME}", "--timeout=120s", timeout=130)
        wait_until(lambda: _available(api, 3, "nginx:1.16"), 60, 0.25, "every pod on nginx:1.16")
    assert rollout.samples, rollout.errors
    # 3 replicas, maxSurge 25% -> 1, maxUnavailable 25% -> 0.
    assert rollout.least_ready() >= 2, "at least 2 available at every sample"
    assert rollout.most_desired() <= 4 and rollout.most_pods() <= 4
    assert not rollout.ran_twice()

    history = _ok("rollout", "history", f"deployment/{NAME}").splitlines()
    assert [line.split()[0] for line in history[2:] if line.strip()] == ["1", "2"]
    assert _ok("rollout", "undo", f"deployment/{NAME}") == f"deployment.apps/{NAME} rolled back\n"
    wait_until(lambda: _available(api, 3, "nginx:1.14.2"), 120, 0.25, "the undo to roll out")

    assert _ok("scale", f"deployment/{NAME}", "--replicas=10") == f"deployment.apps/{NAME} scaled\n"
    wait_until(lambda: _available(api, 10), 120, 0.25, "10 available")
    nodes = {p.spec.node_name for p in api.pods().values() if p.metadata.labels.get("app") == "nginx"}
    assert nodes == set(NODES), f"10 replicas spread over the three nodes: {nodes}"

    assert _ok("delete", f"deployment/{NAME}", timeout=60) == f'deployment.apps "{NAME}" deleted\n'

    def gone() -> bool:
        sets, _ = api.call(lambda c: c.list("ReplicaSet", "default"))
        return not sets and not [p for p in api.pods().values() if p.metadata.labels.get("app") == "nginx"]
    wait_until(gone, 60, 0.25, "its replica sets and pods gone")


def test_power_off_of_the_busiest_node_brings_the_deployment_back(scenario: Lab, api: LabApi,
                                                                  checker: InvariantChecker) -> None:
    lab = scenario
    replicas = 6
    with tempfile.TemporaryDirectory() as tmp:
        _create(Path(tmp))
    _ok("scale", f"deployment/{NAME}", f"--replicas={replicas}")
    wait_until(lambda: _available(api, replicas), 120, 0.25, f"{replicas} available")
    node = busiest_node(api.pods())
    before = {p.metadata.name for p in api.pods().values() if p.spec.node_name == node}
    with RolloutChecker(api, NAME, label="nginx") as rollout:
        lab.power_off(node)
        lost = time.monotonic()
        lost_at = time.time()

        def back() -> bool:
            pods = [p for p in api.pods().values() if p.metadata.labels.get("app") == "nginx"
                    and not p.metadata.HasField("deletion_timestamp")]
            return _available(api, replicas) and all(p.spec.node_name != node for p in pods)
        wait_until(back, NODE_GRACE + POD_EVICTION_TIMEOUT + 30, 0.1, "the Deployment back at full strength")
        took = time.monotonic() - lost
    print(f"power-off of {node} ({len(before)} replicas): all {replicas} available again after {took:.1f} s")
    assert took <= NODE_GRACE + POD_EVICTION_TIMEOUT + 3, f"{took:.1f} s"
    assert not set(p.split("/", 1)[1] for p in api.pods()) & before, "the lost node's pods got new names"
    assert not rollout.ran_twice() and not checker.violations
    # The powered-off node's containers died with it: never more than `replicas` run from then on.
    assert rollout.most_running(after=lost_at + 0.5) <= replicas, rollout.samples[-5:]
    lab.power_on(node)
    wait_until(lambda: api.node_ready(node), 60, 0.25, f"{node} to rejoin Ready")
    _ok("delete", f"deployment/{NAME}", timeout=60)
