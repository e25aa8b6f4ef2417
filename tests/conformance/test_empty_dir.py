"""test/e2e/common/storage/empty_dir.go: "[sig-storage] EmptyDir volumes"."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conformance._framework import AGNHOST, BUSYBOX, Framework, upstream

pytestmark = pytest.mark.conformance

VOLUME_PATH = "/test-volume"
FILE = f"{VOLUME_PATH}/test-file"
NON_ROOT_UID = 1001


def pod_with_volume(uid: int, medium: str, args: list[str]) -> dict[str, Any]:
    """Upstream's testPodWithVolume (its seLinuxOptions level s0 is accepted and, as on a
    node without SELinux, has no effect)."""
    sc: dict[str, Any] = {"seLinuxOptions": {"level": "s0"}}
    if uid:
        sc["runAsUser"] = uid
    return {"metadata": {"name": f"pod-{uuid.uuid4()}"}, "spec": {
        "containers": [{"name": "test-container", "image": AGNHOST, "args": args,
                        "volumeMounts": [{"name": "test-volume", "mountPath": VOLUME_PATH}]}],
        "securityContext": sc, "restartPolicy": "Never",
        "volumes": [{"name": "test-volume", "emptyDir": {"medium": medium} if medium else {}}]}}


def mode_case(who: str, mode: str, medium: str) -> Any:
    medium_name = "tmpfs" if medium else "default"
    return pytest.param(who, mode, medium, id=f"{who},{mode},{medium_name}", marks=upstream(
        "storage/empty_dir.go", f"should support ({who},{mode},{medium_name}) [LinuxOnly] "
        "[NodeConformance] [Conformance]"))


MODES = [mode_case(who, mode, medium) for medium in ("Memory", "") for who in ("root", "non-root")
         for mode in ("0644", "0666", "0777")]
PERMS = {"0644": "-rw-r--r--", "0666": "-rw-rw-rw-", "0777": "-rwxrwxrwx"}


@pytest.mark.parametrize(("who", "mode", "medium"), MODES)
async def test_should_support_file_mode(f: Framework, who: str, mode: str, medium: str) -> None:
    """empty_dir.go: "should support (root|non-root, 0644|0666|0777, tmpfs|default) [LinuxOnly]"
    (ConformanceIt, twelve tests; doTest0644/0666/0777): agnhost mounttest writes a file with
    that mode, and its perms, content and (tmpfs) the mount type are as upstream expects."""
    args = ["mounttest", f"--fs_type={VOLUME_PATH}", f"--new_file_{mode}={FILE}", f"--file_perm={FILE}"]
    out = [f'perms of file "{FILE}": {PERMS[mode]}',
           f'content of file "{FILE}": mount-tester new file']
    if medium:
        out.append(f'mount type of "{VOLUME_PATH}": tmpfs')
    await f.test_container_output(pod_with_volume(NON_ROOT_UID if who == "non-root" else 0, medium, args),
                                  0, out)


@pytest.mark.parametrize("medium", [
    pytest.param("Memory", id="tmpfs", marks=upstream(
        "storage/empty_dir.go", "volume on tmpfs should have the correct mode [LinuxOnly] "
        "[NodeConformance] [Conformance]")),
    pytest.param("", id="default", marks=upstream(
        "storage/empty_dir.go", "volume on default medium should have the correct mode [LinuxOnly] "
        "[NodeConformance] [Conformance]")),
])
async def test_volume_should_have_the_correct_mode(f: Framework, medium: str) -> None:
    """empty_dir.go: "volume on tmpfs should have the correct mode [LinuxOnly]" and "volume on
    default medium should have the correct mode [LinuxOnly]" (ConformanceIt; doTestVolumeMode)."""
    out = [f'perms of file "{VOLUME_PATH}": -rwxrwxrwx']
    if medium:
        out.append(f'mount type of "{VOLUME_PATH}": tmpfs')
    await f.test_container_output(pod_with_volume(0, medium, [
        "mounttest", f"--fs_type={VOLUME_PATH}", f"--file_perm={VOLUME_PATH}"]), 0, out)


@upstream("storage/empty_dir.go", "pod should support shared volumes between containers [Conformance]")
async def test_pod_should_support_shared_volumes_between_containers(f: Framework) -> None:
    """empty_dir.go: "pod should support shared volumes between containers" (ConformanceIt)."""
    message = "Hello from the busy-box sub-container"
    pod = await f.create_pod({"metadata": {"name": f"pod-sharedvolume-{uuid.uuid4()}"}, "spec": {
        "volumes": [{"name": "shared-data", "emptyDir": {}}],
        "containers": [
            {"name": "busybox-main-container", "image": BUSYBOX, "command": ["/bin/sh"],
             "args": ["-c", "trap exit TERM; while true; do sleep 1; done"],
             "volumeMounts": [{"name": "shared-data", "mountPath": "/usr/share/volumeshare"}]},
            {"name": "busybox-sub-container", "image": BUSYBOX, "command": ["/bin/sh"],
             "args": ["-c", f"echo {message} > /pod-data/shareddata.txt"],
             "volumeMounts": [{"name": "shared-data", "mountPath": "/pod-data"}]}],
        "terminationGracePeriodSeconds": 0, "restartPolicy": "Never"}})
    name = pod.metadata.name
    await f.wait_running(name)
    # The sub container may not have written yet when the pod turns Running.
    result = await f.eventually(lambda: _cat(f, name), 30, "the shared file")
    assert result == message


async def _cat(f: Framework, name: str) -> str:
    code, out, _ = await f.exec(name, "busybox-main-container",
                                ["/bin/sh", "-c", "cat /usr/share/volumeshare/shareddata.txt"])
    return out.strip() if code == 0 else ""


@upstream("storage/empty_dir.go", "pod should support memory backed volumes of specified size [NodeConformance]")
async def test_pod_should_support_memory_backed_volumes_of_specified_size(f: Framework) -> None:
    """empty_dir.go: "pod should support memory backed volumes of specified size"."""
    pod = await f.create_pod({"metadata": {"name": f"pod-size-memory-volume-{uuid.uuid4()}"}, "spec": {
        "volumes": [{"name": "shared-data", "emptyDir": {"medium": "Memory", "sizeLimit": "10Mi"}}],
        "containers": [{"name": "busybox-main-container", "image": BUSYBOX, "command": ["/bin/sh"],
                        "args": ["-c", "trap exit TERM; while true; do sleep 1; done"],
                        "volumeMounts": [{"name": "shared-data", "mountPath": "/usr/share/volumeshare"}]}],
        "terminationGracePeriodSeconds": 0, "restartPolicy": "Never"}})
    await f.wait_running(pod.metadata.name)
    result = await f.exec_shell(pod.metadata.name, "df | grep /usr/share/volumeshare | awk '{print $2}'")
    assert result.strip() == "10240"

