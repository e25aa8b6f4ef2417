"""test/e2e/common/node/runtime.go: "[sig-node] Container Runtime blackbox test"."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.conformance._framework import AGNHOST, BUSYBOX, INVALID_REGISTRY_IMAGE, Framework, is_ready

pytestmark = pytest.mark.conformance

RESTART_SCRIPT = """
f=%s
count=$(echo 'hello' >> $f ; wc -l $f | awk {'print $1'})
if [ $count -eq 1 ]; then
\texit 1
fi
if [ $count -eq 2 ]; then
\texit 0
fi
while true; do sleep 1; done
"""


def conformance_container(container: dict[str, Any], restart_policy: str,
                          volumes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Upstream's ConformanceContainer.Create: a pod named by a fresh UUID around `container`."""
    return {"metadata": {"name": str(uuid.uuid4())},
            "spec": {"containers": [container], "restartPolicy": restart_policy,
                     "volumes": volumes or []}}


def state_of(state: Any) -> str:
    """Upstream's GetContainerState."""
    for which in ("waiting", "running", "terminated"):
        if state.HasField(which):
            return which.capitalize()
    return "Unknown"


async def test_should_run_with_the_expected_status(f: Framework) -> None:
    """runtime.go: Container Runtime blackbox test when starting a container that exits
    "should run with the expected status [NodeConformance]" (ConformanceIt).

    The counter lives in an emptyDir with medium Memory: each restart must find what the
    previous run wrote (issue #18's data loss).
    """
    cases = [("terminate-cmd-rpa", "Always", "Running", "Running", 2, True),
             ("terminate-cmd-rpof", "OnFailure", "Succeeded", "Terminated", 1, False),
             ("terminate-cmd-rpn", "Never", "Failed", "Terminated", 0, False)]
    volumes = [{"name": "restart-count", "emptyDir": {"medium": "Memory"}}]

    async def one(name: str, policy: str, phase: str, state: str, restarts: int, ready: bool) -> None:
        container = {"name": name, "image": BUSYBOX,
                     "command": ["sh", "-c", RESTART_SCRIPT % "/restart-count/restartCount"],
                     "volumeMounts": [{"mountPath": "/restart-count", "name": "restart-count"}]}
        pod = await f.create_pod(conformance_container(container, policy, volumes))
        pname = pod.metadata.name
        await f.wait_pod(pname, lambda p: bool(p.status.container_statuses) and
                         p.status.container_statuses[0].restart_count == restarts,
                         f"restartCount {restarts}", 90)
        await f.wait_phase(pname, phase, 90)
        if ready:  # Always: Running again after the second restart
            got = await f.wait_ready(pname)
        else:
            got = await f.get_pod(pname)
        assert is_ready(got) == ready
        cs = got.status.container_statuses[0]
        assert cs.restart_count == restarts
        assert state_of(cs.state) == state
        await f.delete_pod_with_wait(pname, 1)

    await asyncio.gather(*(one(*case) for case in cases))


async def match_termination_message(f: Framework, container: dict[str, Any], phase: str,
                                    expected: str) -> None:
    """Upstream's matchTerminationMessage."""
    container = {**container, "name": "termination-message-container"}
    pod = await f.create_pod(conformance_container(container, "Never"))
    got = await f.wait_phase(pod.metadata.name, phase)
    cs = got.status.container_statuses[0]
    assert state_of(cs.state) == "Terminated"
    assert cs.state.terminated.message == expected
    await f.delete_pod(pod.metadata.name)


async def test_should_report_termination_message_if_termination_message_path_is_set(f: Framework) -> None:
    """runtime.go: on terminated container
    "should report termination message if TerminationMessagePath is set [NodeConformance]"."""
    await match_termination_message(f, {
        "image": BUSYBOX, "command": ["/bin/sh", "-c"],
        "args": ["/bin/echo -n DONE > /dev/termination-log"],
        "terminationMessagePath": "/dev/termination-log", "securityContext": {"runAsUser": 0}},
        "Succeeded", "DONE")


async def test_should_report_termination_message_as_non_root_user_at_a_non_default_path(f: Framework) -> None:
    """runtime.go: on terminated container "should report termination message if
    TerminationMessagePath is set as non-root user and at a non-default path [NodeConformance]"
    (ConformanceIt)."""
    await match_termination_message(f, {
        "image": BUSYBOX, "command": ["/bin/sh", "-c"],
        "args": ["/bin/echo -n DONE > /dev/termination-custom-log"],
        "terminationMessagePath": "/dev/termination-custom-log",
        "securityContext": {"runAsUser": 10000}},
        "Succeeded", "DONE")


async def test_should_report_termination_message_from_log_output_if_fallback_to_logs_on_error(
        f: Framework) -> None:
    """runtime.go: on terminated container "should report termination message from log output
    if TerminationMessagePolicy FallbackToLogsOnError is set [NodeConformance]" (ConformanceIt)."""
    await match_termination_message(f, {
        "image": BUSYBOX, "command": ["/bin/sh", "-c"], "args": ["/bin/echo -n DONE; /bin/false"],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError"},
        "Failed", "DONE")


async def test_should_report_termination_message_as_empty_when_pod_succeeds_and_fallback(
        f: Framework) -> None:
    """runtime.go: on terminated container "should report termination message as empty when pod
    succeeds and TerminationMessagePolicy FallbackToLogsOnError is set [NodeConformance]"
    (ConformanceIt)."""
    await match_termination_message(f, {
        "image": BUSYBOX, "command": ["/bin/sh", "-c"], "args": ["/bin/echo -n DONE; /bin/true"],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError"},
        "Succeeded", "")


async def test_should_report_termination_message_from_file_when_pod_succeeds_and_fallback(
        f: Framework) -> None:
    """runtime.go: on terminated container "should report termination message from file when pod
    succeeds and TerminationMessagePolicy FallbackToLogsOnError is set [NodeConformance]"
    (ConformanceIt)."""
    await match_termination_message(f, {
        "image": BUSYBOX, "command": ["/bin/sh", "-c"],
        "args": ["/bin/echo -n OK > /dev/termination-log; /bin/echo DONE; /bin/true"],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError"},
        "Succeeded", "OK")


async def image_pull_test(f: Framework, image: str, phase: str, pull_fails: bool) -> None:
    """Upstream's imagePullTest: Always pull; Waiting with ErrImagePull/ImagePullBackOff, or Running."""
    pod = await f.create_pod(conformance_container({
        "name": "image-pull-test", "image": image, "imagePullPolicy": "Always",
        "command": ["/bin/sh", "-c", "while true; do sleep 1; done"]}, "Never"))

    def check(p: Any) -> bool:
        if not p.status.container_statuses:
            return False
        state = p.status.container_statuses[0].state
        if pull_fails:
            ok = state.waiting.reason in ("ErrImagePull", "ImagePullBackOff")
        else:
            ok = state.HasField("running")
        return ok and p.status.phase == phase
    await f.wait_pod(pod.metadata.name, check, f"{phase} with the image {'not ' if pull_fails else ''}pulled")
    await f.delete_pod(pod.metadata.name)


async def test_should_not_be_able_to_pull_image_from_invalid_registry(f: Framework) -> None:
    """runtime.go: when running a container with a new image
    "should not be able to pull image from invalid registry [NodeConformance]"."""
    await image_pull_test(f, INVALID_REGISTRY_IMAGE, "Pending", True)


async def test_should_be_able_to_pull_image(f: Framework) -> None:
    """runtime.go: when running a container with a new image
    "should be able to pull image [NodeConformance]" (agnhost, from the kit's mirror)."""
    await image_pull_test(f, AGNHOST, "Running", False)


async def test_should_not_be_able_to_pull_from_private_registry_without_secret(f: Framework) -> None:
    """runtime.go: when running a container with a new image
    "should not be able to pull from private registry without secret [NodeConformance]"."""
    await image_pull_test(f, "gcr.io/authenticated-image-pulling/alpine:3.7", "Pending", True)
