"""Regression tests for the defects issue #18 found by replaying Kubernetes' node e2e tests.

(The upstream behaviours themselves are ported, name for name, in the other files.)
"""

from __future__ import annotations

import docker
import pytest

from podlab import errors
from tests.conformance._framework import BUSYBOX, Framework, container_status

pytestmark = pytest.mark.conformance

# Each run appends a line naming itself, prints the file, and crash-loops until the fourth run.
COUNTER = ("echo run-$(cat /proc/sys/kernel/random/uuid) >> /cache/runs; cat /cache/runs; "
           "[ $(wc -l < /cache/runs) -ge 4 ] && exec sleep 3600; exit 1")


def memory_volumes(uid: str) -> list[object]:
    client = docker.from_env(timeout=30)
    try:
        return list(client.volumes.list(filters={"label": f"io.podlab.pod.uid={uid}"}))
    finally:
        client.close()


async def test_memory_empty_dir_keeps_every_run_across_three_restarts_and_dies_with_the_uid(
        f: Framework) -> None:
    """An emptyDir with medium Memory lives exactly as long as the pod UID: a container
    restarted three times reads back what each of its four runs wrote; a new pod of the
    same name (a new UID) starts empty; the tmpfs goes with the pod."""
    manifest = {"metadata": {"name": "memory-counter"}, "spec": {
        "restartPolicy": "Always",
        "containers": [{"name": "counter", "image": BUSYBOX, "command": ["sh", "-c", COUNTER],
                        "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]}],
        "volumes": [{"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}]}}
    pod = await f.create_pod(manifest)
    got = await f.wait_pod("memory-counter", lambda p: bool(p.status.container_statuses) and
                           p.status.container_statuses[0].restart_count == 3 and
                           p.status.container_statuses[0].state.HasField("running"),
                           "running after 3 restarts", 90)
    assert container_status(got, "counter").restart_count == 3
    runs = (await f.exec_shell("memory-counter", "cat /cache/runs")).split()
    assert len(runs) == 4 and len(set(runs)) == 4, runs
    # Each run saw every run before it: the fourth printed all four lines.
    assert (await f.logs("memory-counter", "counter")).split() == runs
    assert (await f.logs("memory-counter", "counter", previous=True)).split() == runs[:3]
    assert (await f.exec_shell("memory-counter", "grep /cache /proc/mounts")).startswith("tmpfs")

    await f.delete_pod_with_wait("memory-counter", 1)
    await f.eventually(lambda: _async(not memory_volumes(pod.metadata.uid)), 30, "the tmpfs removed")
    again = await f.create_pod(manifest)
    assert again.metadata.uid != pod.metadata.uid
    await f.wait_pod("memory-counter", lambda p: bool(p.status.container_statuses) and
                     p.status.container_statuses[0].restart_count >= 1, "restarted once")
    first = (await f.logs("memory-counter", "counter", previous=True)).split()
    assert len(first) == 1 and first[0] not in runs


async def _async(value: bool) -> bool:
    return value


async def test_host_aliases_are_one_line_per_ip_as_the_kubelet_writes_them(f: Framework) -> None:
    """/etc/hosts is the kubelet's managed file: a header, the pod's own name, and the
    hostAliases one line per IP, tab-separated."""
    await f.create_pod({"metadata": {"name": "aliases"}, "spec": {
        "hostAliases": [{"ip": "123.45.67.89", "hostnames": ["foo", "bar", "baz"]},
                        {"ip": "10.1.2.3", "hostnames": ["one"]}],
        "containers": [{"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"]}]}})
    pod = await f.wait_running("aliases")
    hosts = await f.exec_shell("aliases", "cat /etc/hosts")
    assert hosts.startswith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n")
    assert f"\n{pod.status.pod_ip}\taliases\n" in hosts
    assert hosts.endswith("\n# Entries added by HostAliases.\n123.45.67.89\tfoo\tbar\tbaz\n10.1.2.3\tone\n")


async def test_env_from_with_a_prefix_sets_prefixed_variables(f: Framework) -> None:
    await f.create("ConfigMap", {"metadata": {"name": "cfg"}, "data": {"data-1": "value-1"}})
    await f.create("Secret", {"metadata": {"name": "sec"}, "stringData": {"data-2": "value-2"}})
    await f.test_container_output({"metadata": {"name": "env-from"}, "spec": {
        "restartPolicy": "Never",
        "containers": [{"name": "env", "image": BUSYBOX, "command": ["sh", "-c", "env"],
                        "envFrom": [{"configMapRef": {"name": "cfg"}},
                                    {"prefix": "p-", "configMapRef": {"name": "cfg"}},
                                    {"prefix": "s_", "secretRef": {"name": "sec"}}]}]}},
        0, ["data-1=value-1", "p-data-1=value-1", "s_data-2=value-2"])


@pytest.mark.parametrize(("mount", "message"), [
    ({"subPath": "/abs"}, 'subPath: Invalid value: "/abs": must be a relative path'),
    ({"subPath": "a/../b"}, "subPath: Invalid value: \"a/../b\": must not contain '..'"),
    ({"subPathExpr": "/$(X)"}, 'subPathExpr: Invalid value: "/$(X)": must be a relative path'),
    ({"subPath": "a", "subPathExpr": "$(X)"},
     'subPathExpr: Invalid value: "$(X)": subPathExpr and subPath are mutually exclusive'),
])
async def test_sub_path_and_sub_path_expr_are_validated_as_kubernetes_does(
        f: Framework, mount: dict[str, str], message: str) -> None:
    with pytest.raises(errors.Invalid) as err:
        await f.create_pod({"metadata": {"name": "bad-subpath"}, "spec": {
            "containers": [{"name": "c", "image": BUSYBOX, "volumeMounts": [
                {"name": "v", "mountPath": "/v", **mount}]}],
            "volumes": [{"name": "v", "emptyDir": {}}]}})
    assert f"spec.containers[0].volumeMounts[0].{message}" in str(err.value)
