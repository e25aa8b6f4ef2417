"""QoS classes, scheduler requests and conditions, by Kubernetes' rules."""

from __future__ import annotations

import pytest

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
