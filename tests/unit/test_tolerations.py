"""The one toleration matcher, by Kubernetes' rules (core/v1 ToleratesTaint, the taint eviction controller)."""

from __future__ import annotations

import pytest

from controlplane.admission import CREATE, Attributes, DefaultTolerationSeconds
from controlplane.controllers.nodelifecycle import _tolerated_seconds
from podlab.names import TAINT_NOT_READY, TAINT_UNREACHABLE
from podlab.tolerations import (
    Taint,
    Toleration,
    matching_tolerations,
    tolerated,
    toleration,
    toleration_seconds,
    tolerations_of,
)
from podlab.v1 import objects_pb2 as v1

pytestmark = pytest.mark.unit

GPU: Taint = ("gpu", "true", "NoSchedule")


@pytest.mark.parametrize(("t", "want"), [
    (toleration("gpu", "Equal", "true", "NoSchedule"), True),
    (toleration("gpu", "", "true", "NoSchedule"), True),  # an empty operator is Equal
    (toleration("gpu", "Equal", "false", "NoSchedule"), False),
    (toleration("gpu", "Equal", "", "NoSchedule"), False),
    (toleration("gpu", "Exists", "", "NoSchedule"), True),  # Exists matches any value
    (toleration("tpu", "Exists", "", "NoSchedule"), False),
    (toleration("", "Exists"), True),  # empty key with Exists: every taint
    (toleration("gpu", "Exists"), True),  # empty effect: every effect
    (toleration("gpu", "Equal", "true", "NoExecute"), False),
    (toleration("gpu", "Equal", "true", "PreferNoSchedule"), False),
    (toleration("gpu", "Maybe", "true", "NoSchedule"), False),  # an unknown operator matches nothing
])
def test_toleration_tolerates_taint_as_kubernetes(t: Toleration, want: bool) -> None:
    assert tolerated((t,), *GPU) is want


def test_an_empty_key_with_exists_tolerates_every_key_value_and_effect() -> None:
    anything = toleration(operator="Exists")
    for taint in (GPU, (TAINT_UNREACHABLE, "", "NoExecute"), ("x", "y", "PreferNoSchedule")):
        assert tolerated((anything,), *taint)


def test_tolerations_of_reads_every_field_of_the_pod_spec() -> None:
    spec = v1.PodSpec()
    spec.tolerations.add(key="k", operator="Equal", value="v", effect="NoExecute", toleration_seconds=30)
    spec.tolerations.add(key="k", operator="Exists")
    assert tolerations_of(spec) == (toleration("k", "Equal", "v", "NoExecute", 30), toleration("k", "Exists"))


def test_matching_tolerations_takes_the_first_toleration_per_taint() -> None:
    first, second = toleration("gpu", "Exists", seconds=5), toleration(operator="Exists")
    assert matching_tolerations([first, second], [GPU, ("other", "", "NoExecute")]) == [first, second]
    assert matching_tolerations([first], [GPU, ("other", "", "NoExecute")]) is None
    assert matching_tolerations([], []) == []


UNREACHABLE: list[Taint] = [(TAINT_UNREACHABLE, "", "NoExecute")]


@pytest.mark.parametrize(("tolerations", "want"), [
    ([], 0),  # untolerated: evict now
    ([toleration(TAINT_UNREACHABLE, "Exists", effect="NoExecute", seconds=300)], 300),
    ([toleration(TAINT_UNREACHABLE, "Exists", effect="NoExecute")], None),  # no seconds: forever
    ([toleration(TAINT_UNREACHABLE, "Exists", seconds=0)], 0),
    ([toleration(TAINT_UNREACHABLE, "Exists", seconds=-5)], 0),  # negative counts as zero
    ([toleration(operator="Exists", seconds=60)], 60),
    # The first tolerating one is used, as Kubernetes' GetMatchingTolerations picks it.
    ([toleration(TAINT_UNREACHABLE, "Exists", seconds=300), toleration(operator="Exists")], 300),
    ([toleration(operator="Exists"), toleration(TAINT_UNREACHABLE, "Exists", seconds=300)], None),
    ([toleration(TAINT_UNREACHABLE, "Exists", effect="NoSchedule", seconds=300)], 0),  # wrong effect
])
def test_toleration_seconds_of_a_no_execute_taint(tolerations: list[Toleration], want: int | None) -> None:
    assert toleration_seconds(tolerations, UNREACHABLE) == want


def test_toleration_seconds_is_the_shortest_over_several_taints_and_ignores_other_effects() -> None:
    taints = [*UNREACHABLE, (TAINT_NOT_READY, "", "NoExecute"), ("gpu", "", "NoSchedule")]
    tolerations = [toleration(TAINT_UNREACHABLE, "Exists", seconds=300),
                   toleration(TAINT_NOT_READY, "Exists", seconds=100)]
    assert toleration_seconds(tolerations, taints) == 100
    assert toleration_seconds([], [("gpu", "", "NoSchedule")]) is None  # nothing to evict for


def test_node_lifecycle_asks_the_matcher_how_long_a_pod_rides_out_a_lost_node() -> None:
    pod = v1.Pod()
    assert _tolerated_seconds(pod) == 0
    pod.spec.tolerations.add(key=TAINT_UNREACHABLE, operator="Exists", effect="NoExecute", toleration_seconds=7)
    assert _tolerated_seconds(pod) == 7
    forever = v1.Pod()
    forever.spec.tolerations.add(operator="Exists")
    assert _tolerated_seconds(forever) is None


def test_default_toleration_seconds_adds_only_what_the_pod_does_not_already_tolerate() -> None:
    admission = DefaultTolerationSeconds(300)
    pod = v1.Pod()
    pod.spec.tolerations.add(key=TAINT_UNREACHABLE, operator="Exists", effect="NoExecute", toleration_seconds=9)
    admission.admit(Attributes(CREATE, pod, None, None))
    assert [(t.key, t.toleration_seconds) for t in pod.spec.tolerations] == [
        (TAINT_UNREACHABLE, 9), (TAINT_NOT_READY, 300)]

    everything = v1.Pod()
    everything.spec.tolerations.add(operator="Exists")
    admission.admit(Attributes(CREATE, everything, None, None))
    assert len(everything.spec.tolerations) == 1

    # An all-keys toleration of another effect does not tolerate the node-loss taints (NoExecute).
    no_schedule = v1.Pod()
    no_schedule.spec.tolerations.add(operator="Exists", effect="NoSchedule")
    admission.admit(Attributes(CREATE, no_schedule, None, None))
    assert {t.key for t in no_schedule.spec.tolerations} == {"", TAINT_NOT_READY, TAINT_UNREACHABLE}
