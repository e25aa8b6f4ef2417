"""QoS classes, scheduler requests and conditions, by Kubernetes' rules."""

from __future__ import annotations

import re

import pytest

from podctl.describers import describe_node
from podlab import printers
from podlab.podutil import (
    get_condition,
    is_node_ready,
    is_pod_ready,
    is_terminal,
    node_condition,
    pod_requests,
    qos_class,
    set_condition,
)
from podlab.v1 import objects_pb2 as v1
from scheduler.framework import PodInfo

pytestmark = pytest.mark.unit


def _pod(*containers: dict[str, dict[str, str]], init: tuple = ()) -> v1.Pod:
    pod = v1.Pod()
    for target, specs in ((pod.spec.containers, containers), (pod.spec.init_containers, init)):
        for i, spec in enumerate(specs):
            c = target.add(name=f"c{i}", image="busybox")
            c.resources.requests.update(spec.get("requests", {}))
            c.resources.limits.update(spec.get("limits", {}))
            c.restart_policy = spec.get("restartPolicy", "")
    return pod


FULL = {"cpu": "500m", "memory": "128Mi"}


@pytest.mark.parametrize(("containers", "qos"), [
    (({},), "BestEffort"),
    (({"limits": FULL, "requests": FULL},), "Guaranteed"),
    (({"limits": FULL},), "Guaranteed"),  # requests default to limits
    (({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1024Mi"}},),
     "Guaranteed"),  # equal quantities, different spellings
    (({"limits": FULL, "requests": {"cpu": "250m", "memory": "128Mi"}},), "Burstable"),
    (({"requests": {"cpu": "100m"}},), "Burstable"),
    (({"limits": {"cpu": "1"}},), "Burstable"),  # no memory limit
    (({"limits": FULL}, {}), "Burstable"),  # one container without limits
    (({"requests": {"cpu": "0"}},), "BestEffort"),  # zero requests count as none
])
def test_qos_class(containers: tuple, qos: str) -> None:
    assert qos_class(_pod(*containers)) == qos


def test_init_containers_count_for_qos() -> None:
    assert qos_class(_pod({"limits": FULL}, init=({},))) == "Burstable"


def test_pod_requests_sum_app_containers_and_max_init_containers() -> None:
    pod = _pod({"requests": {"cpu": "250m", "memory": "64Mi"}},
               {"requests": {"cpu": "0.5"}, "limits": {"memory": "128Mi"}},
               init=({"requests": {"cpu": "2", "memory": "1Mi"}},))
    assert pod_requests(pod) == {"cpu": 2000, "memory": (64 + 128) * 2**20}
    assert pod_requests(_pod({})) == {"cpu": 0, "memory": 0}


def test_sidecars_add_to_app_containers() -> None:
    pod = _pod({"requests": {"cpu": "100m"}},
               init=({"requests": {"cpu": "200m"}, "restartPolicy": "Always"},
                     {"requests": {"cpu": "250m"}}))
    # the sidecar runs alongside both the later init container and the app
    assert pod_requests(pod)["cpu"] == 450


def test_pod_requests_follow_kubernetes_sidecar_formula() -> None:
    # KEP-753's example: each init step needs itself plus the sidecars started before it.
    pod = _pod({"requests": {"cpu": "2"}},
               init=({"requests": {"cpu": "1"}, "restartPolicy": "Always"},
                     {"requests": {"cpu": "5"}},
                     {"requests": {"cpu": "2"}, "restartPolicy": "Always"}))
    # app + sidecars = 2 + 1 + 2 = 5; the init peak is sidecar 1 + init 5 = 6
    assert pod_requests(pod)["cpu"] == 6000
    pod.spec.init_containers[1].resources.requests["cpu"] = "1"
    assert pod_requests(pod)["cpu"] == 5000  # now the app and its sidecars are the larger


def test_pod_requests_count_malformed_and_negative_quantities_as_zero() -> None:
    pod = _pod({"requests": {"cpu": "lots", "memory": "-1Mi"}}, {"requests": {"cpu": "100m"}})
    assert pod_requests(pod) == {"cpu": 100, "memory": 0}


def test_the_scheduler_and_describe_node_count_the_same_requests() -> None:
    pod = _pod({"requests": {"cpu": "100m", "memory": "64Mi"}},
               init=({"requests": {"cpu": "200m", "memory": "32Mi"}, "restartPolicy": "Always"},))
    pod.metadata.name, pod.metadata.namespace = "web", "default"
    pod.spec.node_name = "n1"
    node = v1.Node()
    node.metadata.name = "n1"
    node.status.allocatable.update({"cpu": "1", "memory": "1Gi"})
    scheduled = PodInfo(pod)
    assert (scheduled.cpu, scheduled.memory) == (300, 96 * 2**20)
    assert printers.node_allocated(node, [pod]) == (300, 96 * 2**20)
    described = describe_node(node, [pod])
    assert re.search(r"default\s+web\s+300m\s+96Mi", described), described
    assert re.search(r"cpu\s+300m \(30%\)", described), described


def test_set_condition_moves_transition_time_only_on_status_change() -> None:
    status = v1.PodStatus()
    assert set_condition(status, "Ready", "False", "ContainersNotReady", "waiting")
    cond = get_condition(status, "Ready")
    assert cond is not None and cond.last_transition_time.seconds > 0
    cond.last_transition_time.seconds = 1  # pretend it changed long ago
    assert not set_condition(status, "Ready", "False", "ContainersNotReady", "waiting")
    assert set_condition(status, "Ready", "False", "Other", "")
    assert cond.last_transition_time.seconds == 1
    assert set_condition(status, "Ready", True)
    assert cond.status == "True" and cond.last_transition_time.seconds > 1
    assert len(status.conditions) == 1


def test_pod_readiness_and_terminal_phases() -> None:
    pod = v1.Pod()
    assert not is_pod_ready(pod)
    set_condition(pod.status, "Ready", "True")
    assert is_pod_ready(pod)
    for phase, terminal in (("Pending", False), ("Running", False), ("Succeeded", True),
                            ("Failed", True)):
        pod.status.phase = phase
        assert is_terminal(pod) is terminal


def test_node_readiness() -> None:
    node = v1.Node()
    assert not is_node_ready(node) and node_condition(node, "Ready") is None
    set_condition(node.status, "Ready", "Unknown", "NodeStatusUnknown")
    assert not is_node_ready(node)
    set_condition(node.status, "Ready", "True", "KubeletReady")
    assert is_node_ready(node)
    cond = node_condition(node, "Ready")
    assert cond is not None and cond.reason == "KubeletReady"
