"""test/e2e/common/node/lifecycle_hook.go: "[sig-node] Container Lifecycle Hook" and
"Lifecycle sleep action zero value"."""

from __future__ import annotations

import re
import time
import urllib.parse
from typing import Any

import pytest

from tests.conformance._framework import AGNHOST, BUSYBOX, PAUSE, Framework, upstream

pytestmark = pytest.mark.conformance


def get_pod_with_hook(name: str, image: str, lifecycle: dict[str, Any]) -> dict[str, Any]:
    """Upstream's getPodWithHook."""
    return {"metadata": {"name": name},
            "spec": {"containers": [{"name": name, "image": image, "lifecycle": lifecycle}]}}


def netexec_connect(target: str, req: str) -> str:
    return f"/dial?host={target}&port=8080&request={urllib.parse.quote_plus(req.lstrip('/'))}"


async def handler_pod(f: Framework) -> str:
    """The BeforeEach: pod-handle-http-request (agnhost netexec); returns its IP."""
    await f.create_pod({"metadata": {"name": "pod-handle-http-request"}, "spec": {"containers": [
        {"name": "container-handle-http-request", "image": AGNHOST, "args": ["netexec"]}]}})
    pod = await f.wait_ready("pod-handle-http-request")
    return pod.status.pod_ip


async def run_pod_with_hook(f: Framework, pod: dict[str, Any]) -> None:
    """Upstream's testPodWithHook: a netexec sidecar (restartPolicy Always, startup probe) that
    forwards HTTP hooks; the handler pod's log shows each hook."""
    lifecycle = pod["spec"]["containers"][0]["lifecycle"]
    sidecar = {"name": "container-redirect", "image": AGNHOST, "args": ["netexec", "--udp-port", "-1"],
               "restartPolicy": "Always",
               "startupProbe": {"httpGet": {"path": "/echo?msg=startup", "port": 8080, "scheme": "HTTP"}}}
    pod["spec"]["initContainers"] = [sidecar, *pod["spec"].get("initContainers", [])]
    await f.create_pod(pod)
    name = pod["metadata"]["name"]
    await f.wait_running(name)
    if "postStart" in lifecycle:
        await f.eventually(lambda: _matches(f, r"GET /echo\?msg=poststart"), 120, "the poststart hook")
    await f.delete_pod_with_wait(name, 15)
    if "preStop" in lifecycle:
        await f.eventually(lambda: _matches(f, r"GET /echo\?msg=prestop"), 30, "the prestop hook")


async def _matches(f: Framework, pattern: str) -> bool:
    return bool(re.search(pattern, await f.logs("pod-handle-http-request", "container-handle-http-request")))


@upstream("node/lifecycle_hook.go", "when create a pod with lifecycle hook should execute poststart exec hook "
          "properly [NodeConformance] [Conformance]")
async def test_should_execute_poststart_exec_hook_properly(f: Framework) -> None:
    """lifecycle_hook.go: "should execute poststart exec hook properly" (ConformanceIt)."""
    ip = await handler_pod(f)
    await run_pod_with_hook(f, get_pod_with_hook("pod-with-poststart-exec-hook", AGNHOST, {
        "postStart": {"exec": {"command": ["sh", "-c", f"curl http://{ip}:8080/echo?msg=poststart"]}}}))


@upstream("node/lifecycle_hook.go", "when create a pod with lifecycle hook should execute prestop exec hook "
          "properly [NodeConformance] [Conformance]")
async def test_should_execute_prestop_exec_hook_properly(f: Framework) -> None:
    """lifecycle_hook.go: "should execute prestop exec hook properly" (ConformanceIt)."""
    ip = await handler_pod(f)
    await run_pod_with_hook(f, get_pod_with_hook("pod-with-prestop-exec-hook", AGNHOST, {
        "preStop": {"exec": {"command": ["sh", "-c", f"curl http://{ip}:8080/echo?msg=prestop"]}}}))


@upstream("node/lifecycle_hook.go", "when create a pod with lifecycle hook should execute poststart http hook "
          "properly [NodeConformance] [Conformance]")
async def test_should_execute_poststart_http_hook_properly(f: Framework) -> None:
    """lifecycle_hook.go: "should execute poststart http hook properly" (ConformanceIt)."""
    ip = await handler_pod(f)
    await run_pod_with_hook(f, get_pod_with_hook("pod-with-poststart-http-hook", PAUSE, {
        "postStart": {"httpGet": {"path": netexec_connect(ip, "/echo?msg=poststart"), "port": 8080}}}))


@upstream("node/lifecycle_hook.go", "when create a pod with lifecycle hook should execute prestop http hook "
          "properly [NodeConformance] [Conformance]")
async def test_should_execute_prestop_http_hook_properly(f: Framework) -> None:
    """lifecycle_hook.go: "should execute prestop http hook properly" (ConformanceIt)."""
    ip = await handler_pod(f)
    await run_pod_with_hook(f, get_pod_with_hook("pod-with-prestop-http-hook", PAUSE, {
        "preStop": {"httpGet": {"path": netexec_connect(ip, "/echo?msg=prestop"), "port": 8080}}}))


@upstream("node/lifecycle_hook.go", "Lifecycle sleep action zero value when create a pod with lifecycle hook "
          "using sleep action with a duration of zero seconds prestop hook using sleep action with zero "
          "duration [NodeConformance]")
async def test_prestop_hook_using_sleep_action_with_zero_duration(f: Framework) -> None:
    """lifecycle_hook.go: "prestop hook using sleep action with zero duration": deleting takes less
    than the 30 s default grace."""
    name = "pod-with-prestop-sleep-hook-zero-duration"
    await f.create_pod(get_pod_with_hook(name, PAUSE, {"preStop": {"sleep": {"seconds": 0}}}))
    await f.wait_running(name)
    start = time.monotonic()
    await f.delete_pod_with_wait(name)
    assert 0 <= time.monotonic() - start < 30


@upstream("node/lifecycle_hook.go", "Container Lifecycle Hook when create a pod with lifecycle hook using sleep "
          "action ignore terminated container [NodeConformance]")
async def test_sleep_action_ignore_terminated_container(f: Framework) -> None:
    """lifecycle_hook.go: "ignore terminated container": a container that exits on its own is not
    held by its preStop sleep (10 s): finishedAt - startedAt < 10 s."""
    name = "pod-with-prestop-sleep-hook"
    pod = get_pod_with_hook(name, BUSYBOX, {"preStop": {"sleep": {"seconds": 10}}})
    pod["spec"].update({"terminationGracePeriodSeconds": 30, "restartPolicy": "Never"})
    pod["spec"]["containers"][0].update({"command": ["/bin/sh"], "args": ["-c", "sleep 3"]})
    await f.create_pod(pod)
    got = await f.wait_pod(name, lambda p: bool(p.status.container_statuses) and
                           p.status.container_statuses[0].state.HasField("terminated"), "terminated", 30)
    t = got.status.container_statuses[0].state.terminated
    cost = t.finished_at.ToMilliseconds() - t.started_at.ToMilliseconds()
    assert 0 <= cost < 10_000, cost
    await f.delete_pod_with_wait(name)
