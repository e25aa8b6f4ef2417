"""test/e2e/common/node/security_context.go: "[sig-node] Security Context"."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conformance._framework import BUSYBOX, NONROOT, Framework, upstream

pytestmark = pytest.mark.conformance

NON_ROOT_TEST_USER_ID = 1000


def user_pod(name: str, image: str, command: list[str], security_context: dict[str, Any]) -> dict[str, Any]:
    """Upstream's makeUserPod / makeNonRootPod."""
    return {"metadata": {"name": name}, "spec": {"restartPolicy": "Never", "containers": [
        {"image": image, "name": name, "command": command, "securityContext": security_context}]}}


@pytest.mark.parametrize("uid", [
    pytest.param(65534, id="65534", marks=upstream(
        "node/security_context.go", "When creating a container with runAsUser should run the container with "
        "uid 65534 [LinuxOnly] [NodeConformance] [Conformance]")),
    pytest.param(0, id="0", marks=upstream(
        "node/security_context.go", "When creating a container with runAsUser should run the container with "
        "uid 0 [LinuxOnly] [NodeConformance]")),
])
async def test_should_run_the_container_with_uid(f: Framework, uid: int) -> None:
    """security_context.go: When creating a container with runAsUser "should run the container with uid
    65534 [LinuxOnly]" (ConformanceIt) and "should run the container with uid 0 [LinuxOnly]"."""
    name = f"busybox-user-{uid}-{uuid.uuid4()}"
    await f.create_pod(user_pod(name, BUSYBOX, ["sh", "-c", f"test $(id -u) -eq {uid}"], {"runAsUser": uid}))
    await f.wait_success(name)


async def wait_for_error_event_or_success(f: Framework, name: str) -> Any:
    """Upstream's WaitForErrorEventOrSuccess: the first Warning event of the pod, or None once
    it Succeeded."""
    from podlab.v1 import objects_pb2 as v1

    async def check() -> Any:
        events, _ = await f.client.list(v1.Event, f.namespace)
        for ev in events:
            if ev.involved_object.name == name and ev.type == "Warning":
                return ev
        pod = await f.get_pod(name)
        return "succeeded" if pod.status.phase == "Succeeded" else None
    return await f.eventually(check, 60, f"an error event or success of {name}")


@upstream("node/security_context.go", "When creating a container with runAsNonRoot should run with an explicit "
          "non-root user ID [LinuxOnly]")
async def test_should_run_with_an_explicit_non_root_user_id(f: Framework) -> None:
    """security_context.go: When creating a container with runAsNonRoot "should run with an explicit
    non-root user ID [LinuxOnly]"."""
    name = "explicit-nonroot-uid"
    await f.create_pod(user_pod(name, BUSYBOX, ["id", "-u"],
                                {"runAsNonRoot": True, "runAsUser": NON_ROOT_TEST_USER_ID}))
    await f.wait_success(name)
    assert "1000" in await f.logs(name, name)


@upstream("node/security_context.go", "When creating a container with runAsNonRoot should not run with an "
          "explicit root user ID [LinuxOnly]")
async def test_should_not_run_with_an_explicit_root_user_id(f: Framework) -> None:
    """security_context.go: When creating a container with runAsNonRoot "should not run with an explicit
    root user ID [LinuxOnly]": a Failed (FailedToCreateContainer) event."""
    name = "explicit-root-uid"
    await f.create_pod(user_pod(name, NONROOT, ["id", "-u"], {"runAsNonRoot": True, "runAsUser": 0}))
    ev = await wait_for_error_event_or_success(f, name)
    assert ev != "succeeded" and ev.reason == "Failed", ev


@upstream("node/security_context.go", "When creating a container with runAsNonRoot should run with an image "
          "specified user ID")
async def test_should_run_with_an_image_specified_user_id(f: Framework) -> None:
    """security_context.go: When creating a container with runAsNonRoot "should run with an image
    specified user ID" (the nonroot image's USER 1234)."""
    name = "implicit-nonroot-uid"
    await f.create_pod(user_pod(name, NONROOT, ["id", "-u"], {"runAsNonRoot": True}))
    await f.wait_success(name)
    assert "1234" in await f.logs(name, name)


@upstream("node/security_context.go", "When creating a container with runAsNonRoot should not run without a "
          "specified user ID")
async def test_should_not_run_without_a_specified_user_id(f: Framework) -> None:
    """security_context.go: When creating a container with runAsNonRoot "should not run without a
    specified user ID" (busybox runs as root)."""
    name = "implicit-root-uid"
    await f.create_pod(user_pod(name, BUSYBOX, ["id", "-u"], {"runAsNonRoot": True}))
    ev = await wait_for_error_event_or_success(f, name)
    assert ev != "succeeded" and ev.reason == "Failed", ev


@pytest.mark.parametrize("read_only", [
    pytest.param(True, id="true", marks=upstream(
        "node/security_context.go", "When creating a pod with readOnlyRootFilesystem should run the container "
        "with readonly rootfs when readOnlyRootFilesystem=true [LinuxOnly] [NodeConformance]")),
    pytest.param(False, id="false", marks=upstream(
        "node/security_context.go", "When creating a pod with readOnlyRootFilesystem should run the container "
        "with writable rootfs when readOnlyRootFilesystem=false [NodeConformance] [Conformance]")),
])
async def test_read_only_root_filesystem(f: Framework, read_only: bool) -> None:
    """security_context.go: "should run the container with readonly rootfs when
    readOnlyRootFilesystem=true [LinuxOnly]" (Failed) and "should run the container with writable
    rootfs when readOnlyRootFilesystem=false" (ConformanceIt; Succeeded)."""
    name = f"busybox-readonly-{str(read_only).lower()}-{uuid.uuid4()}"
    await f.create_pod(user_pod(name, BUSYBOX, ["sh", "-c", "touch checkfile"],
                                {"readOnlyRootFilesystem": read_only}))
    if read_only:
        await f.wait_phase(name, "Failed")
    else:
        await f.wait_success(name)


@upstream("node/security_context.go", "When creating a pod with privileged should run the container as "
          "unprivileged when false [LinuxOnly] [NodeConformance] [Conformance]")
async def test_should_run_the_container_as_unprivileged_when_false(f: Framework) -> None:
    """security_context.go: When creating a pod with privileged "should run the container as
    unprivileged when false [LinuxOnly]" (ConformanceIt)."""
    name = f"busybox-privileged-false-{uuid.uuid4()}"
    await f.create_pod(user_pod(name, BUSYBOX, ["sh", "-c", "ip link add dummy0 type dummy || true"],
                                {"privileged": False}))
    await f.wait_success(name)
    assert "Operation not permitted" in await f.logs(name, name)
