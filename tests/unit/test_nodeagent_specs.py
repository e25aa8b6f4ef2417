"""What the runtime is asked to run, as pure functions: sandbox and container specs."""

from __future__ import annotations

import pytest
from google.protobuf.json_format import ParseDict

from nodeagent.backoff import CrashBackoff
from nodeagent.plan import plan_pod
from nodeagent.runtime.base import (
    EXITED,
    LABEL_ATTEMPT,
    LABEL_CONTAINER_NAME,
    LABEL_NODE,
    LABEL_TYPE,
    TYPE_APP,
    ContainerInfo,
    Mount,
    PortMapping,
)
from nodeagent.specs import (
    active_deadline,
    container_spec,
    default_pull_policy,
    grace_period,
    run_as,
    sandbox_spec,
)
from podlab.v1 import objects_pb2 as v1

pytestmark = pytest.mark.unit


def pod(spec: dict, **meta: object) -> v1.Pod:
    return ParseDict({"metadata": {"name": "web", "uid": "u1", **meta}, "spec": spec}, v1.Pod())


def test_sandbox_spec_carries_labels_hostname_host_ports_and_the_pod_mounts() -> None:
    p = pod({"hostname": "box", "hostAliases": [
        {"ip": "10.0.0.1", "hostnames": ["a", "b"]}, {"ip": "10.0.0.2", "hostnames": ["a"]}],
        "containers": [{"name": "c", "image": "nginx", "ports": [
            {"containerPort": 80, "hostPort": 8080}, {"containerPort": 81},
            {"containerPort": 53, "hostPort": 53, "protocol": "UDP", "hostIP": "10.1.1.1"}]}]})
    hosts = Mount("/etc/hosts", "/var/lib/podlab/pods/u1/etc-hosts")
    spec = sandbox_spec(p, "node1", "192.168.5.5", attempt=2, mounts=[hosts])
    assert spec.hostname == "box" and spec.namespace == "default" and spec.attempt == 2
    assert spec.labels[LABEL_NODE] == "node1" and spec.labels[LABEL_TYPE] == "sandbox"
    assert spec.labels[LABEL_CONTAINER_NAME] == "POD" and spec.labels[LABEL_ATTEMPT] == "2"
    assert spec.ports == [PortMapping(80, 8080, "TCP", "192.168.5.5"),
                          PortMapping(53, 53, "UDP", "10.1.1.1")]
    # hostAliases reach the pod through its /etc/hosts file (podfiles), held by the sandbox.
    assert spec.mounts == [hosts]


def test_container_spec_expands_command_and_sets_limits_user_and_read_only_rootfs() -> None:
    p = pod({"securityContext": {"runAsUser": 1000, "runAsGroup": 3000},
             "containers": [{"name": "c", "image": "busybox", "command": ["echo", "$(GREETING)"],
                             "args": ["$$(literal)"], "workingDir": "/w", "tty": True,
                             "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}},
                             "securityContext": {"runAsUser": 2000, "readOnlyRootFilesystem": True}}]})
    mounts = [Mount("/data", "/host/data")]
    spec = container_spec(p, p.spec.containers[0], TYPE_APP, 3, "node1", {"GREETING": "hi"}, mounts)
    assert spec.command == ["echo", "hi"] and spec.args == ["$(literal)"]
    assert spec.nano_cpus == 250_000_000 and spec.memory_limit == 64 * 1024 * 1024
    assert spec.user == "2000:3000" and spec.read_only_rootfs and spec.tty
    assert spec.mounts == mounts and spec.working_dir == "/w"
    assert spec.labels[LABEL_ATTEMPT] == "3" and spec.labels[LABEL_TYPE] == TYPE_APP


def test_user_comes_from_the_container_then_the_pod_and_is_empty_without_either() -> None:
    p = pod({"securityContext": {"runAsUser": 7}, "containers": [
        {"name": "a", "image": "x"}, {"name": "b", "image": "x", "securityContext": {"runAsGroup": 9}}]})
    assert run_as(p.spec.containers[0], p) == "7"
    assert run_as(p.spec.containers[1], p) == "7:9"
    assert run_as(p.spec.containers[0], pod({"containers": [{"name": "a"}]})) == ""


def test_pull_policy_and_grace_defaults_are_kubernetes() -> None:
    assert default_pull_policy("busybox") == "Always"
    assert default_pull_policy("busybox:latest") == "Always"
    assert default_pull_policy("reg:5000/busybox:1.36") == "IfNotPresent"
    assert default_pull_policy("busybox@sha256:abc") == "IfNotPresent"
    assert grace_period(pod({})) == 30
    assert grace_period(pod({"terminationGracePeriodSeconds": 5})) == 5
    assert grace_period(pod({"terminationGracePeriodSeconds": 5},
                            deletionGracePeriodSeconds=1)) == 1


def test_active_deadline_counts_from_the_start_time() -> None:
    assert active_deadline(pod({}), 100.0) is None
    p = pod({"activeDeadlineSeconds": 10})
    assert active_deadline(p, 100.0) == 110.0
    p.status.start_time.FromSeconds(50)
    assert active_deadline(p, 100.0) == 60.0


def test_a_finished_pod_plans_no_start_and_no_back_off() -> None:
    p = pod({"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}]})
    exited = ContainerInfo("c1", "u1", "web", "default", "a", 0, EXITED, exit_code=1,
                           started_at=10.0, finished_at=11.0)
    live = plan_pod(p, [exited], 11.5, CrashBackoff(10, 300))
    assert [s.container.name for s in live.start] == ["a", "b"]
    done = plan_pod(p, [exited], 11.5, CrashBackoff(10, 300), finished=True)
    assert done.start == [] and done.backing_off == {} and done.initialized
