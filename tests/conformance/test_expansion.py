"""test/e2e/common/node/expansion.go: "[sig-node] Variable Expansion"."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conformance._framework import BUSYBOX, Framework, upstream

pytestmark = pytest.mark.conformance


def new_pod(command: list[str] | None, env: list[dict[str, Any]], mounts: list[dict[str, Any]] | None = None,
            volumes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Upstream's newPod / newContainer."""
    name = f"var-expansion-{uuid.uuid4()}"
    container: dict[str, Any] = {"name": "dapi-container", "image": BUSYBOX, "env": env,
                                 "volumeMounts": mounts or []}
    if command:
        container["command"] = command
    return {"metadata": {"name": name, "labels": {"name": name}},
            "spec": {"containers": [container], "restartPolicy": "Never", "volumes": volumes or []}}


WORKDIR = [{"name": "workdir1", "emptyDir": {}}]


@upstream("node/expansion.go", "should allow composing env vars into new env vars [NodeConformance] "
          "[Conformance]")
async def test_should_allow_composing_env_vars_into_new_env_vars(f: Framework) -> None:
    """expansion.go: "should allow composing env vars into new env vars [NodeConformance]"."""
    await f.test_container_output(new_pod(["sh", "-c", "env"], [
        {"name": "FOO", "value": "foo-value"}, {"name": "BAR", "value": "bar-value"},
        {"name": "FOOBAR", "value": "$(FOO);;$(BAR)"}]), 0,
        ["FOO=foo-value", "BAR=bar-value", "FOOBAR=foo-value;;bar-value"])


@upstream("node/expansion.go", "should allow substituting values in a container's command [NodeConformance] "
          "[Conformance]")
async def test_should_allow_substituting_values_in_a_containers_command(f: Framework) -> None:
    """expansion.go: "should allow substituting values in a container's command [NodeConformance]"."""
    await f.test_container_output(new_pod(["sh", "-c", 'TEST_VAR=wrong echo "$(TEST_VAR)"'],
                                          [{"name": "TEST_VAR", "value": "test-value"}]), 0, ["test-value"])


@upstream("node/expansion.go", "should allow substituting values in a container's args [NodeConformance] "
          "[Conformance]")
async def test_should_allow_substituting_values_in_a_containers_args(f: Framework) -> None:
    """expansion.go: "should allow substituting values in a container's args [NodeConformance]"."""
    pod = new_pod(["sh", "-c"], [{"name": "TEST_VAR", "value": "test-value"}])
    pod["spec"]["containers"][0]["args"] = ['TEST_VAR=wrong echo "$(TEST_VAR)"']
    await f.test_container_output(pod, 0, ["test-value"])


@upstream("node/expansion.go", "should allow substituting values in a volume subpath [Conformance]")
async def test_should_allow_substituting_values_in_a_volume_subpath(f: Framework) -> None:
    """expansion.go: "should allow substituting values in a volume subpath" (ConformanceIt;
    issue #18: subPathExpr)."""
    env = [{"name": "POD_NAME", "value": "foo"}]
    pod = new_pod(None, env, [{"name": "workdir1", "mountPath": "/logscontainer", "subPathExpr": "$(POD_NAME)"},
                              {"name": "workdir1", "mountPath": "/testcontainer"}], WORKDIR)
    name = pod["metadata"]["name"]
    env[0]["value"] = name
    pod["spec"]["containers"][0]["command"] = ["sh", "-c", f"test -d /testcontainer/{name};echo $?"]
    await f.test_container_output(pod, 0, ["0"])


async def pod_fail_subpath(f: Framework, value: str) -> None:
    """Upstream's testPodFailSubpath: the container waits with CreateContainerConfigError."""
    pod = await f.create_pod(new_pod(None, [{"name": "POD_NAME", "value": value}], [
        {"name": "workdir1", "mountPath": "/logscontainer", "subPathExpr": "$(POD_NAME)"}], WORKDIR))
    await f.wait_container_waiting(pod.metadata.name, "CreateContainerConfigError")
    await f.delete_pod_with_wait(pod.metadata.name)


@upstream("node/expansion.go", "should fail substituting values in a volume subpath with backticks [Slow] "
          "[Conformance]")
async def test_should_fail_substituting_values_in_a_volume_subpath_with_backticks(f: Framework) -> None:
    """expansion.go: "should fail substituting values in a volume subpath with backticks [Slow]"."""
    await pod_fail_subpath(f, "..")


@upstream("node/expansion.go", "should fail substituting values in a volume subpath with absolute path [Slow] "
          "[Conformance]")
async def test_should_fail_substituting_values_in_a_volume_subpath_with_absolute_path(f: Framework) -> None:
    """expansion.go: "should fail substituting values in a volume subpath with absolute path [Slow]"."""
    await pod_fail_subpath(f, "/tmp")


def annotated_subpath_pod() -> dict[str, Any]:
    return new_pod(["sh", "-c", "tail -f /dev/null"], [
        {"name": "POD_NAME", "value": "foo"},
        {"name": "ANNOTATION", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                          "fieldPath": "metadata.annotations['mysubpath']"}}}],
        [{"name": "workdir1", "mountPath": "/subpath_mount", "subPathExpr": "$(ANNOTATION)/$(POD_NAME)"},
         {"name": "workdir1", "mountPath": "/volume_mount"}], WORKDIR)


@upstream("node/expansion.go", "should verify that a failing subpath expansion can be modified during the "
          "lifecycle of a container [Slow] [Conformance]")
async def test_should_verify_that_a_failing_subpath_expansion_can_be_modified(f: Framework) -> None:
    """expansion.go: "should verify that a failing subpath expansion can be modified during the lifecycle
    of a container [Slow]": without the annotation the pod does not run; with it, it does."""
    pod = annotated_subpath_pod()
    pod["metadata"]["annotations"] = {"notmysubpath": "mypath"}
    name = (await f.create_pod(pod)).metadata.name
    with pytest.raises(AssertionError):
        await f.wait_running(name, timeout=10)  # upstream waits PodStartShortTimeout and expects an error
    await f.update_pod(name, lambda p: p.metadata.annotations.__setitem__("mysubpath", "mypath"))
    await f.wait_running(name)
    await f.delete_pod_with_wait(name, 1)


@upstream("node/expansion.go", "should succeed in writing subpaths in container [Slow] [Conformance]")
async def test_should_succeed_in_writing_subpaths_in_container(f: Framework) -> None:
    """expansion.go: "should succeed in writing subpaths in container [Slow]"."""
    pod = annotated_subpath_pod()
    pod["metadata"]["annotations"] = {"mysubpath": "mypath"}
    name = (await f.create_pod(pod)).metadata.name
    await f.wait_running(name)
    await f.exec_shell(name, "touch /volume_mount/mypath/foo/test.log")
    await f.exec_shell(name, "test -f /subpath_mount/test.log")
    await f.update_pod(name, lambda p: p.metadata.annotations.__setitem__("mysubpath", "mynewpath"))
    await f.wait_running(name)
    await f.delete_pod_with_wait(name, 1)
