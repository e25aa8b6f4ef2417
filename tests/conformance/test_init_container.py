"""test/e2e/common/node/init_container.go: "[sig-node] InitContainer [NodeConformance]".

Upstream means to check containerInitInvariant on every watch event (its recordEvents
appends to a copy of the slice, so upstream's check sees no events and never fails); here
every status the test observes (polled every 0.2 s) once the node agent has reported one
(it carries the Initialized condition) is checked, with initialized()'s second case read
as intended: an init container after one still initializing must be waiting.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from podlab.v1 import objects_pb2 as v1
from tests.conformance._framework import BUSYBOX, PAUSE, POLL, Framework, upstream

pytestmark = pytest.mark.conformance


def initialized(pod: v1.Pod) -> tuple[bool, bool]:
    """Upstream's initialized(): (all initialized, one failed); AssertionError on an invariant."""
    all_init, failed = True, False
    for s in pod.status.init_container_statuses:
        waiting = s.state.HasField("waiting")
        assert not (failed and not waiting), f"container {s.name} is after a failed container but isn't waiting"
        assert not (not all_init and not waiting), \
            f"container {s.name} is after an initializing container but isn't waiting"
        if not s.state.HasField("terminated"):
            all_init = False
        elif s.state.terminated.exit_code != 0:
            all_init, failed = False, True
        else:
            assert s.ready, f"container {s.name} initialized but isn't marked as ready"
    return all_init, failed


def condition(pod: v1.Pod, kind: str) -> v1.PodCondition | None:
    return next((c for c in pod.status.conditions if c.type == kind), None)


def init_containers_invariants(pod: v1.Pod) -> None:
    """Upstream's initContainersInvariants."""
    all_init, failed = initialized(pod)
    if not all_init or failed:
        for s in pod.status.container_statuses:
            assert s.state.HasField("waiting") and s.restart_count == 0, \
                f"container {s.name} is not waiting but initialization not complete"
            assert s.state.waiting.reason == "PodInitializing", \
                f"container {s.name} should have reason PodInitializing: {s.state.waiting.reason}"
    c = condition(pod, "Initialized")
    assert c is not None, "pod does not have initialized condition"
    assert c.last_transition_time.seconds, "PodInitialized condition should always have a transition time"
    assert c.status != "Unknown"
    assert not (c.status == "True" and (failed or not all_init))
    assert not (c.status == "False" and not failed and all_init)


async def watch_until(f: Framework, name: str, *conditions: Callable[[v1.Pod], bool],
                      timeout: float = 60) -> v1.Pod:
    """Upstream's watchtools.Until with containerInitInvariant between successive states:
    each condition in turn must hold on some observed state."""
    deadline = time.monotonic() + timeout
    seen: list[v1.Pod] = []
    pending = list(conditions)
    while True:
        pod = await f.get_pod(name)
        reported = condition(pod, "Initialized") is not None  # the agent has written a status
        if reported and (not seen or pod.status != seen[-1].status):
            if seen:
                assert pod.metadata.uid == seen[-1].metadata.uid
                old_init, _ = initialized(seen[-1])
                init_containers_invariants(pod)
                new_init, _ = initialized(pod)
                assert not (old_init and not new_init), \
                    "pod cannot be initialized and then regress to not being initialized"
            seen.append(pod)
            while pending and pending[0](pod):
                pending.pop(0)
            if not pending:
                return pod
        assert time.monotonic() < deadline, f"timed out; last status: {pod.status}"
        await asyncio.sleep(POLL)


def init_pod(restart: str | None, init_commands: list[str], app: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "initContainers": [{"name": f"init{i + 1}", "image": BUSYBOX, "command": [cmd]}
                           for i, cmd in enumerate(init_commands)],
        "containers": [{"name": "run1", **app}]}
    if restart:
        spec["restartPolicy"] = restart
    return {"metadata": {"name": f"pod-init-{uuid.uuid4()}",
                         "labels": {"name": "foo", "time": str(time.time_ns() % 10**9)}}, "spec": spec}


def completed(pod: v1.Pod) -> bool:
    return pod.status.phase in ("Succeeded", "Failed")


def assert_inits_done(pod: v1.Pod) -> None:
    c = condition(pod, "Initialized")
    assert c is not None and c.status == "True"
    assert len(pod.status.init_container_statuses) == 2
    for s in pod.status.init_container_statuses:
        assert s.ready, f"init container {s.name} should be in Ready status"
        assert s.state.HasField("terminated") and s.state.terminated.exit_code == 0


@upstream("node/init_container.go", "should invoke init containers on a RestartNever pod [Conformance]")
async def test_should_invoke_init_containers_on_a_restart_never_pod(f: Framework) -> None:
    """init_container.go: "should invoke init containers on a RestartNever pod" (ConformanceIt)."""
    pod = await f.create_pod(init_pod("Never", ["/bin/true", "/bin/true"],
                                      {"image": BUSYBOX, "command": ["/bin/true"]}))
    end = await watch_until(f, pod.metadata.name, completed)
    assert end.status.phase == "Succeeded"
    assert_inits_done(end)


@upstream("node/init_container.go", "should invoke init containers on a RestartAlways pod [Conformance]")
async def test_should_invoke_init_containers_on_a_restart_always_pod(f: Framework) -> None:
    """init_container.go: "should invoke init containers on a RestartAlways pod" (ConformanceIt)."""
    pod = await f.create_pod(init_pod(None, ["/bin/true", "/bin/true"],
                                      {"image": PAUSE, "resources": {"limits": {"cpu": "100m"}}}))
    end = await watch_until(f, pod.metadata.name, lambda p: p.status.phase == "Running")
    assert end.status.phase == "Running"
    assert_inits_done(end)


@upstream("node/init_container.go", "should not start app containers if init containers fail on a "
          "RestartAlways pod [Conformance]")
async def test_should_not_start_app_containers_if_init_containers_fail_on_a_restart_always_pod(
        f: Framework) -> None:
    """init_container.go: "should not start app containers if init containers fail on a RestartAlways
    pod" (ConformanceIt): init1 fails and is restarted (restartCount 3), init2 and run1 keep
    waiting with PodInitializing."""
    pod = await f.create_pod(init_pod(None, ["/bin/false", "/bin/true"],
                                      {"image": PAUSE, "resources": {"limits": {"cpu": "100m"}}}))

    def first_failed_once(p: v1.Pod) -> bool:
        for s in p.status.container_statuses:
            assert s.state.HasField("waiting") and s.state.waiting.reason == "PodInitializing", s
        if len(p.status.init_container_statuses) != 2:
            return False
        second = p.status.init_container_statuses[1]
        assert second.state.HasField("waiting") and second.state.waiting.reason == "PodInitializing", second
        first = p.status.init_container_statuses[0]
        assert not (first.state.HasField("terminated") and first.state.terminated.exit_code == 0)
        return first.last_state.HasField("terminated")

    end = await watch_until(f, pod.metadata.name, first_failed_once,
                            lambda p: p.status.init_container_statuses[0].restart_count >= 3, timeout=90)
    assert end.status.phase == "Pending"
    c = condition(end, "Initialized")
    assert c is not None and c.status == "False" and c.reason == "ContainersNotInitialized"
    assert c.message == "containers with incomplete status: [init1 init2]"
    assert len(end.status.init_container_statuses) == 2


@upstream("node/init_container.go", "should not start app containers and fail the pod if init containers fail "
          "on a RestartNever pod [Conformance]")
async def test_should_not_start_app_containers_and_fail_the_pod_if_init_containers_fail_on_restart_never(
        f: Framework) -> None:
    """init_container.go: "should not start app containers and fail the pod if init containers fail on
    a RestartNever pod" (ConformanceIt)."""
    pod = await f.create_pod(init_pod("Never", ["/bin/true", "/bin/false"], {
        "image": BUSYBOX, "command": ["/bin/true"], "resources": {"limits": {"cpu": "100m"}}}))

    def second_failed(p: v1.Pod) -> bool:
        for s in p.status.container_statuses:
            assert s.state.HasField("waiting") and s.state.waiting.reason == "PodInitializing", s
        if len(p.status.init_container_statuses) != 2:
            return False
        first = p.status.init_container_statuses[0]
        if not first.state.HasField("terminated"):
            return False
        assert first.state.terminated.exit_code == 0
        second = p.status.init_container_statuses[1]
        if not second.state.HasField("terminated"):
            return False
        assert second.state.terminated.exit_code != 0
        return True

    end = await watch_until(f, pod.metadata.name, second_failed, completed)
    assert end.status.phase == "Failed"
    c = condition(end, "Initialized")
    assert c is not None and c.status == "False" and c.reason == "ContainersNotInitialized"
    assert c.message == "containers with incomplete status: [init2]"
    assert len(end.status.init_container_statuses) == 2
    assert end.status.container_statuses[0].state.HasField("waiting")
