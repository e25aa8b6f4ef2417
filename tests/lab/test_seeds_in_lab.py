"""The seed tutorials' interactions, replayed with podctl against the 3-node lab."""

from __future__ import annotations

from pathlib import Path

import yaml

from lab.chaos import Lab, LabApi, wait_until
from tests.lab.conftest import podctl

MANIFESTS = Path(__file__).resolve().parents[1] / "unit" / "manifests"


def test_seed_pod_network_busybox_reaches_nginx_on_localhost(scenario: Lab, api: LabApi) -> None:
    applied = podctl("apply", "-f", str(MANIFESTS / "seed000-pod-network.yml"))
    assert applied.returncode == 0, applied.stderr
    wait_until(lambda: api.pods()["default/pod-network-test"].status.phase == "Running", 60, 0.25,
               "pod-network-test Running")

    def nginx_answers() -> str | None:
        out = podctl("exec", "pod-network-test", "-c", "busybox", "--", "wget", "-qO-", "127.0.0.1:80")
        return out.stdout if "Welcome to nginx!" in out.stdout else None
    # nginx may need a moment after Running to listen.
    assert wait_until(nginx_answers, 30, 0.5, "busybox to fetch nginx's page over 127.0.0.1")


def test_hostport_80_pods_land_on_different_nodes_and_a_third_stays_pending(
        scenario: Lab, api: LabApi, tmp_path: Path) -> None:
    # Two schedulable nodes for three hostPort-80 pods: node3 is cordoned
    # (the scenario fixture uncordons it again).
    assert podctl("cordon", "node3").returncode == 0
    seed = yaml.safe_load((MANIFESTS / "seed003-nginx.yaml").read_text())
    names = [f"my-nginx-{i}" for i in range(1, 4)]
    for name in names:
        seed["metadata"]["name"] = name
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(seed))
        applied = podctl("apply", "-f", str(path))
        assert applied.returncode == 0, applied.stderr

    def placed() -> tuple[list[str], str] | None:
        pods = [api.pods().get(f"default/{n}") for n in names]
        running = [p.spec.node_name for p in pods if p is not None and p.status.phase == "Running"]
        pending = [p for p in pods if p is not None and p.status.phase == "Pending" and not p.spec.node_name]
        return (running, pending[0].metadata.name) if len(running) == 2 and len(pending) == 1 else None
    running_on, pending = wait_until(placed, 60, 0.25, "two hostPort pods Running, one Pending")
    assert len(set(running_on)) == 2 and "node3" not in running_on, running_on

    def failed_scheduling() -> str | None:
        out = podctl("describe", "pod", pending)
        return out.stdout if "FailedScheduling" in out.stdout else None
    described = wait_until(failed_scheduling, 30, 0.5, f"a FailedScheduling event on {pending}")
    assert "free ports" in described, described

