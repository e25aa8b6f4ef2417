"""Static stability (issue #19): a control-plane or etcd outage stops no pod in the lab.

One set of six `sleep 3600` pods spread over the three nodes serves the three
scenarios in turn (lab.outages.run_outage, the same code `bench chaos` runs);
each leaves the lab healed with every pod Running. Figures come from the
engine's event stream and the API; the InvariantChecker samples throughout.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from lab.chaos import NODES, Lab, LabApi, spread_pods, wait_until, wipe_pods
from lab.outages import run_outage
from tests.lab.conftest import SERVER, podctl

PODS = 6


@pytest.fixture(scope="module")
def pods_everywhere(lab: Lab) -> Iterator[LabApi]:
    """Pods Running on every node, shared by the module's scenarios; wiped at the end."""
    api = LabApi(SERVER)
    lab.restore()
    wait_until(api.all_ready, 90, 0.25, "every lab node Ready")
    for node in NODES:
        podctl("uncordon", node)
    wipe_pods(lab, api)
    pods = spread_pods(api, PODS, prefix="steady", finished=False)
    assert {p.spec.node_name for p in pods.values()} == set(NODES), "pods not on every node"
    yield api
    lab.restore()
    wait_until(api.all_ready, 90, 0.25, "every node Ready after the scenarios")
    leftovers = wipe_pods(lab, api)
    assert not leftovers, f"agents did not remove these pod containers within 60 s: {leftovers}"


def _outage(lab: Lab, api: LabApi, scenario: str) -> dict:
    def all_running() -> bool:
        pods = api.pods()
        return len(pods) == PODS and all(p.status.phase == "Running" for p in pods.values())
    wait_until(all_running, 60, 0.25, "the module's pods Running before the scenario")
    report = run_outage(lab, api, scenario)
    print(f"{scenario}: {json.dumps(report)}")
    return report


def _assert_healthy_nodes_untouched(report: dict) -> None:
    untouched = {k: report[k] for k in ("healthy_containers_stopped", "healthy_restarts",
                                        "healthy_replacements", "double_running", "lost_pods")}
    assert untouched == dict.fromkeys(untouched, 0), report


def test_control_plane_stopped_30s_stops_restarts_and_replaces_no_pod(
        lab: Lab, pods_everywhere: LabApi) -> None:
    report = _outage(lab, pods_everywhere, "controlplane-down")
    _assert_healthy_nodes_untouched(report)
    # Each node says, once it can write again, that it kept its pods running.
    assert report["held_nodes"] == list(NODES), report


def test_etcd_stopped_30s_stops_restarts_and_replaces_no_pod(
        lab: Lab, pods_everywhere: LabApi) -> None:
    report = _outage(lab, pods_everywhere, "etcd-down")
    _assert_healthy_nodes_untouched(report)


def test_control_plane_restarted_while_a_node_is_partitioned_fences_only_that_node_in_time(
        lab: Lab, pods_everywhere: LabApi) -> None:
    report = _outage(lab, pods_everywhere, "controlplane-restart-partitioned")
    _assert_healthy_nodes_untouched(report)
    assert report["victims"] > 0, report
    assert report["fenced_before_replacement"], report
    assert report["leftover_containers"] == 0, report
