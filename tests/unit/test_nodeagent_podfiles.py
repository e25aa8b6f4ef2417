"""The kubelet-made files of a container: /etc/hosts, termination messages; subPathExpr."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from nodeagent.env import ContainerConfigError
from nodeagent.podfiles import PodFiles, hosts_file_content
from nodeagent.runtime.base import EXITED, ContainerInfo
from nodeagent.runtime.sim import SimRuntime
from nodeagent.volumes import sub_path_of
from podlab.v1 import objects_pb2 as v1

pytestmark = pytest.mark.unit


def _pod() -> v1.Pod:
    pod = v1.Pod(metadata=v1.ObjectMeta(name="web", namespace="ns", uid="u1"))
    pod.spec.host_aliases.add(ip="123.45.67.89", hostnames=["foo", "bar", "baz"])
    pod.spec.host_aliases.add(ip="::2", hostnames=["v6"])
    return pod


def test_hosts_file_is_the_kubelets_with_one_line_per_alias_ip() -> None:
    assert hosts_file_content(_pod(), "10.0.0.5") == (
        "# Kubernetes-managed hosts file.\n"
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "fe00::0\tip6-mcastprefix\n"
        "fe00::1\tip6-allnodes\n"
        "fe00::2\tip6-allrouters\n"
        "10.0.0.5\tweb\n"
        "\n# Entries added by HostAliases.\n"
        "123.45.67.89\tfoo\tbar\tbaz\n"
        "::2\tv6\n")


def test_hosts_file_names_the_pod_by_hostname_and_subdomain() -> None:
    pod = v1.Pod(metadata=v1.ObjectMeta(name="p", namespace="ns"))
    pod.spec.hostname, pod.spec.subdomain = "h", "sub"
    assert hosts_file_content(pod, "10.0.0.5").endswith("10.0.0.5\th.sub.ns.svc.cluster.local\th\n")


@pytest.mark.parametrize(("mount", "env", "want"), [
    (v1.VolumeMount(sub_path="a/b"), {}, "a/b"),
    (v1.VolumeMount(sub_path_expr="$(POD)/logs"), {"POD": "web"}, "web/logs"),
])
def test_sub_path_expr_expands_the_container_environment(mount: v1.VolumeMount, env: dict[str, str],
                                                          want: str) -> None:
    assert sub_path_of(mount, "c", env) == want


@pytest.mark.parametrize(("expr", "env", "message"), [
    ("$(POD)", {"POD": "/tmp"}, "error SubPath `/tmp` must not be an absolute path"),
    ("$(POD)", {"POD": ".."}, "unable to provision SubPath `..`: must not contain '..'"),
    ("$(A)/$(POD)", {"POD": "x"}, "missing value for A"),
])
def test_sub_path_expr_the_kubelet_refuses_is_a_config_error(expr: str, env: dict[str, str],
                                                            message: str) -> None:
    with pytest.raises(ContainerConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sub_path_of(v1.VolumeMount(name="v", sub_path_expr=expr), "c", env)


def test_termination_message_is_the_file_else_the_log_tail_on_error(tmp_path: Path) -> None:
    async def body() -> None:
        runtime = SimRuntime("n")
        files = PodFiles(tmp_path, runtime)
        pod = v1.Pod(metadata=v1.ObjectMeta(name="p", uid="u1"))
        pod.spec.containers.add(name="file", termination_message_path="/dev/termination-log")
        pod.spec.containers.add(name="logs", termination_message_path="/dev/termination-log",
                                termination_message_policy="FallbackToLogsOnError")
        for c in pod.spec.containers:
            (mount,) = files.mounts(pod, c, 0)
            assert mount.target == "/dev/termination-log"
        Path(files.mounts(pod, pod.spec.containers[0], 0)[0].source).write_text("DONE")
        infos = [ContainerInfo("id1", "u1", "p", "default", "file", 0, EXITED, exit_code=0),
                 ContainerInfo("id2", "u1", "p", "default", "logs", 0, EXITED, exit_code=0)]
        assert await files.termination_messages(pod, infos) == {"id1": "DONE"}
    asyncio.run(body())
