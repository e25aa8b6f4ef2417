"""The one pod-fate policy: what comes back after node loss or eviction, by the pod's controller."""

from __future__ import annotations

import pytest

from controlplane.podfate import Cause, Fate, pod_fate
from podlab import names
from podlab.v1 import objects_pb2 as v1


def pod(owner_kind: str = "", phase: str = "Running", restart: str = "Always") -> v1.Pod:
    p = v1.Pod(metadata=v1.ObjectMeta(name="p"))
    p.spec.restart_policy = restart
    p.status.phase = phase
    if owner_kind:
        p.metadata.owner_references.add(api_version="apps/v1", kind=owner_kind, name="o", uid="o-uid",
                                        controller=True)
    return p


@pytest.mark.parametrize("cause", list(Cause))
def test_a_bare_pod_comes_back_under_its_own_name(cause: Cause) -> None:
    assert pod_fate(pod(), cause) is Fate.REPLACE


@pytest.mark.parametrize("kind", ["ReplicaSet", "Job", "DaemonSet", "SomethingNew"])
@pytest.mark.parametrize("cause", list(Cause))
def test_a_pod_with_a_controller_is_left_to_that_controller(kind: str, cause: Cause) -> None:
    assert pod_fate(pod(kind), cause) is Fate.OWNER


def test_a_stateful_set_pod_goes_only_once_its_node_is_known_fenced() -> None:
    assert pod_fate(pod("StatefulSet"), Cause.NODE_LOST) is Fate.AWAIT_FENCE
    assert pod_fate(pod("StatefulSet"), Cause.NODE_LOST, node_fenced=True) is Fate.OWNER


def test_an_owner_reference_that_is_not_a_controller_leaves_the_pod_bare() -> None:
    p = pod()
    p.metadata.owner_references.add(api_version="v1", kind="ConfigMap", name="c", uid="c-uid")
    assert pod_fate(p, Cause.NODE_LOST) is Fate.REPLACE


def test_on_a_lost_node_only_a_finished_pod_stays_finished() -> None:
    assert pod_fate(pod(phase=names.SUCCEEDED), Cause.NODE_LOST) is Fate.GONE
    assert pod_fate(pod(phase=names.FAILED, restart="Never"), Cause.NODE_LOST) is Fate.GONE
    assert pod_fate(pod(phase=names.FAILED, restart="OnFailure"), Cause.NODE_LOST) is Fate.REPLACE
    assert pod_fate(pod(restart="Never"), Cause.NODE_LOST) is Fate.REPLACE, "still running: lost work"
    assert pod_fate(pod("ReplicaSet", phase=names.SUCCEEDED), Cause.NODE_LOST) is Fate.GONE


def test_an_evicted_pod_comes_back_only_if_it_would_have_restarted() -> None:
    assert pod_fate(pod(restart="Never"), Cause.EVICTED) is Fate.GONE
    assert pod_fate(pod(phase=names.FAILED, restart="OnFailure"), Cause.EVICTED) is Fate.REPLACE
    assert pod_fate(pod(phase=names.SUCCEEDED, restart="Always"), Cause.EVICTED) is Fate.REPLACE, \
        "its phase is what the eviction made of it"
