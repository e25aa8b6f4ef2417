"""test/e2e/common/node/kubelet.go: "[sig-node] Kubelet"."""

from __future__ import annotations

import uuid

import pytest

from tests.conformance._framework import AGNHOST, BUSYBOX, Framework, upstream

pytestmark = pytest.mark.conformance


@upstream("node/kubelet.go", "when scheduling a busybox command in a pod should print the output to logs "
          "[NodeConformance] [Conformance]")
async def test_should_print_the_output_to_logs(f: Framework) -> None:
    """kubelet.go: when scheduling a busybox command in a pod "should print the output to logs
    [NodeConformance]" (ConformanceIt)."""
    name = f"busybox-scheduling-{uuid.uuid4()}"
    await f.create_pod({"metadata": {"name": name}, "spec": {"restartPolicy": "Never", "containers": [
        {"image": BUSYBOX, "name": name, "command": ["sh", "-c", "echo 'Hello World' ; sleep 240"]}]}})
    await f.wait_running(name)
    await f.eventually(lambda: _equals(f.logs(name), "Hello World\n"), 60, "the log")


async def _equals(value: object, want: str) -> bool:
    return await value == want


async def _bin_false(f: Framework) -> str:
    name = f"bin-false{uuid.uuid4()}"
    await f.create_pod({"metadata": {"name": name}, "spec": {"restartPolicy": "Never", "containers": [
        {"image": BUSYBOX, "name": name, "command": ["/bin/false"]}]}})
    return name


@upstream("node/kubelet.go", "when scheduling a busybox command that always fails in a pod should have an "
          "terminated reason [NodeConformance] [Conformance]")
async def test_should_have_an_terminated_reason(f: Framework) -> None:
    """kubelet.go: when scheduling a busybox command that always fails in a pod "should have an
    terminated reason [NodeConformance]" (ConformanceIt)."""
    name = await _bin_false(f)

    def terminated(pod: object) -> bool:
        statuses = pod.status.container_statuses
        if len(statuses) != 1 or not statuses[0].state.HasField("terminated"):
            return False
        t = statuses[0].state.terminated
        return t.exit_code != 0 and t.reason != ""
    await f.wait_pod(name, terminated, "terminated with a reason")


@upstream("node/kubelet.go", "when scheduling a busybox command that always fails in a pod should be possible "
          "to delete [NodeConformance] [Conformance]")
async def test_should_be_possible_to_delete(f: Framework) -> None:
    """kubelet.go: when scheduling a busybox command that always fails in a pod "should be possible
    to delete [NodeConformance]" (ConformanceIt)."""
    name = await _bin_false(f)
    await f.delete_pod(name)


@upstream("node/kubelet.go", "when scheduling an agnhost Pod with hostAliases should write entries to "
          "/etc/hosts [NodeConformance] [Conformance]")
async def test_should_write_entries_to_etc_hosts(f: Framework) -> None:
    """kubelet.go: when scheduling an agnhost Pod with hostAliases "should write entries to /etc/hosts
    [NodeConformance]" (ConformanceIt; issue #18: one line per IP)."""
    name = f"agnhost-host-aliases{uuid.uuid4()}"
    await f.create_pod({"metadata": {"name": name}, "spec": {
        "restartPolicy": "Never", "hostAliases": [{"ip": "123.45.67.89", "hostnames": ["foo", "bar"]}],
        "containers": [{"name": "agnhost-container", "image": AGNHOST, "args": ["etc-hosts"]}]}})
    await f.wait_pod(name, lambda p: p.status.phase in ("Succeeded", "Failed"), "no longer running")
    hosts = await f.logs(name)
    assert "123.45.67.89\tfoo\tbar" in hosts, hosts


@upstream("node/kubelet.go", "when scheduling a read only busybox container should not write to root "
          "filesystem [LinuxOnly] [NodeConformance] [Conformance]")
async def test_should_not_write_to_root_filesystem(f: Framework) -> None:
    """kubelet.go: when scheduling a read only busybox container "should not write to root filesystem
    [LinuxOnly] [NodeConformance]" (ConformanceIt)."""
    name = f"busybox-readonly-fs{uuid.uuid4()}"
    await f.create_pod({"metadata": {"name": name}, "spec": {"restartPolicy": "Never", "containers": [
        {"image": BUSYBOX, "name": name, "command": ["/bin/sh", "-c", "echo test > /file; sleep 240"],
         "securityContext": {"readOnlyRootFilesystem": True}}]}})
    await f.wait_running(name)
    await f.eventually(lambda: _equals(f.logs(name), "/bin/sh: can't create /file: Read-only file system\n"),
                       60, "the log")
