"""A small port of Kubernetes' e2e framework (test/e2e/framework) over podlab's API.

Each test gets a `Framework` with its own namespace, as upstream's
`framework.NewDefaultFramework` does; it creates objects from manifests
(the dicts an upstream test builds as Go structs), waits on pod conditions,
reads logs and execs through the API server, and deletes everything it made
when the test ends, pass or fail.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import pytest

from podlab import errors
from podlab.client import Client
from podlab.kinds import kind_named
from podlab.manifest import from_dict
from podlab.v1 import objects_pb2 as v1
from podlab.v1 import services_pb2 as api

# The images upstream's test/utils/image names; mirror.yaml maps them to the kit.
BUSYBOX = "registry.k8s.io/e2e-test-images/busybox:1.36.1-1"
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.53"
NGINX = "registry.k8s.io/e2e-test-images/nginx:1.14-4"
PAUSE = "registry.k8s.io/pause:3.10"
NONROOT = "registry.k8s.io/e2e-test-images/nonroot:1.4"
INVALID_REGISTRY_IMAGE = "invalid.registry.k8s.io/invalid/alpine:3.1"

def upstream(path: str, name: str) -> pytest.MarkDecorator:
    """Marks a test (or a parametrized case) as the port of the upstream test `name`
    (its ginkgo.It / framework.ConformanceIt string, "[Conformance]" when it is one)
    in kubernetes/kubernetes' test/e2e/common/`path`. tests/conformance/report.py
    reads these marks into the README's table."""
    return pytest.mark.upstream(path=path, name=name)


POLL = 0.2
POD_START_TIMEOUT = 60.0


class Framework:
    """One test's view of the cluster: a fresh namespace and helpers on it."""

    def __init__(self, client: Client, base_name: str, namespace: str = "") -> None:
        self.client = client
        self.namespace = namespace or f"{base_name}-{uuid.uuid4().hex[:5]}"

    # -- set-up and tear-down ------------------------------------------------------

    async def setup(self) -> None:
        await self.client.create(v1.Namespace(metadata=v1.ObjectMeta(name=self.namespace)))

    async def teardown(self) -> None:
        """Force-delete every pod, ConfigMap and Secret of the namespace, then wait for
        the pods' containers to be gone from the API (the agent removes them)."""
        for kind in (v1.Pod, v1.ConfigMap, v1.Secret):
            items, _ = await self.client.list(kind, self.namespace)
            for obj in items:
                try:
                    await self.client.delete(kind, obj.metadata.name, self.namespace,
                                             grace_period_seconds=0)
                except errors.NotFound:
                    pass
        try:
            await self.client.delete(v1.Namespace, self.namespace)
        except errors.ApiError:
            pass

    # -- objects -------------------------------------------------------------------

    def obj(self, kind: str, manifest: dict[str, Any]) -> Any:
        """A `kind` object from its manifest, in this namespace."""
        obj = from_dict({"apiVersion": "v1", "kind": kind, **manifest}, kind_named(kind))
        obj.metadata.namespace = self.namespace
        return obj

    async def create(self, kind: str, manifest: dict[str, Any]) -> Any:
        return await self.client.create(self.obj(kind, manifest))

    async def create_pod(self, manifest: dict[str, Any]) -> v1.Pod:
        pod: v1.Pod = await self.create("Pod", manifest)
        return pod

    async def get_pod(self, name: str) -> v1.Pod:
        return await self.client.get(v1.Pod, name, self.namespace)

    async def update_pod(self, name: str, change: Callable[[v1.Pod], None]) -> v1.Pod:
        """Get, change, update; retried on conflict (upstream's PodClient.Update)."""
        for _ in range(20):
            pod = await self.get_pod(name)
            change(pod)
            try:
                return await self.client.update(pod)
            except errors.Conflict:
                await asyncio.sleep(POLL)
        raise AssertionError(f"pod {name}: update kept conflicting")

    async def delete_pod(self, name: str, grace: int | None = None) -> None:
        try:
            await self.client.delete(v1.Pod, name, self.namespace, grace_period_seconds=grace)
        except errors.NotFound:
            pass

    async def delete_pod_with_wait(self, name: str, grace: int | None = None,
                                   timeout: float = 60) -> None:
        await self.delete_pod(name, grace)
        await self.eventually(lambda: self._gone(name), timeout, f"pod {name} to be deleted")

    async def _gone(self, name: str) -> bool:
        try:
            await self.get_pod(name)
        except errors.NotFound:
            return True
        return False

    # -- waiting -------------------------------------------------------------------

    @staticmethod
    async def eventually(check: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
        """Await `check()` until it is truthy; AssertionError naming `what` after `timeout`."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            try:
                last = await check()
                if last:
                    return last
            except (errors.ApiError, AssertionError) as err:
                last = err
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
            await asyncio.sleep(POLL)

    async def wait_pod(self, name: str, condition: Callable[[v1.Pod], bool], what: str,
                       timeout: float = POD_START_TIMEOUT) -> v1.Pod:
        async def check() -> v1.Pod | None:
            pod = await self.get_pod(name)
            return pod if condition(pod) else None
        pod: v1.Pod = await self.eventually(check, timeout, f"pod {name} {what}")
        return pod

    async def wait_running(self, name: str, timeout: float = POD_START_TIMEOUT) -> v1.Pod:
        return await self.wait_pod(name, lambda p: p.status.phase == "Running", "Running", timeout)

    async def wait_ready(self, name: str, timeout: float = POD_START_TIMEOUT) -> v1.Pod:
        return await self.wait_pod(name, is_ready, "Ready", timeout)

    async def wait_phase(self, name: str, phase: str, timeout: float = POD_START_TIMEOUT) -> v1.Pod:
        return await self.wait_pod(name, lambda p: p.status.phase == phase, phase, timeout)

    async def wait_success(self, name: str, timeout: float = POD_START_TIMEOUT) -> v1.Pod:
        """Upstream's WaitForPodSuccessInNamespace: Succeeded, and a Failed pod fails at once."""
        pod = await self.wait_pod(name, lambda p: p.status.phase in ("Succeeded", "Failed"),
                                  "to finish", timeout)
        if pod.status.phase != "Succeeded":
            logs = {c.name: await self.logs(name, c.name) for c in pod.spec.containers}
            raise AssertionError(f"pod {name} Failed, expected Succeeded: {pod.status} logs: {logs}")
        return pod

    async def wait_container_waiting(self, name: str, reason: str, index: int = 0,
                                     timeout: float = POD_START_TIMEOUT) -> v1.Pod:
        """Upstream's WaitForPodContainerToFail: the container waits with `reason`."""
        def waiting(pod: v1.Pod) -> bool:
            statuses = pod.status.container_statuses
            return len(statuses) > index and statuses[index].state.waiting.reason == reason
        return await self.wait_pod(name, waiting, f"container {index} waiting: {reason}", timeout)

    # -- inside the pods -----------------------------------------------------------

    async def logs(self, pod: str, container: str = "", previous: bool = False) -> str:
        call = self.client.logs(api.LogsRequest(namespace=self.namespace, name=pod,
                                                container=container, previous=previous))
        chunks = [chunk.data async for chunk in call]
        return b"".join(chunks).decode(errors="replace")

    async def exec(self, pod: str, container: str, command: list[str],
                   timeout: float = 30) -> tuple[int, str, str]:
        """Run `command` in the container; (exit code, stdout, stderr)."""
        call = self.client.exec()
        await call.write(api.ExecInput(start=api.ExecStart(
            namespace=self.namespace, name=pod, container=container, command=command)))
        await call.done_writing()
        out, err, code = b"", b"", -1
        async with asyncio.timeout(timeout):
            async for msg in call:
                which = msg.WhichOneof("output")
                if which == "stdout":
                    out += msg.stdout
                elif which == "stderr":
                    err += msg.stderr
                elif which == "exit_code":
                    code = msg.exit_code
        return code, out.decode(errors="replace"), err.decode(errors="replace")

    async def exec_shell(self, pod: str, cmd: str, container: str = "") -> str:
        """Upstream's ExecShellInPod: `sh -c cmd` must succeed; its stdout."""
        container = container or (await self.get_pod(pod)).spec.containers[0].name
        code, out, err = await self.exec(pod, container, ["/bin/sh", "-c", cmd])
        assert code == 0, f"{cmd!r} in {pod}/{container} exited {code}: {out}{err}"
        return out

    # -- upstream's output tests ---------------------------------------------------

    async def test_container_output(self, manifest: dict[str, Any], index: int,
                                    expected: Iterable[str | re.Pattern[str]]) -> str:
        """Upstream's TestContainerOutput / MatchContainerOutput: the pod runs to
        Succeeded and container `index`'s log contains every expected substring (or
        matches every pattern). Returns the log."""
        pod = await self.create_pod(manifest)
        name = pod.metadata.name
        await self.wait_success(name)
        container = list(pod.spec.containers)[index].name
        log = await self.logs(name, container)
        for want in expected:
            if isinstance(want, re.Pattern):
                assert want.search(log), f"{want.pattern!r} does not match the log of {name}:\n{log}"
            else:
                assert want in log, f"{want!r} not in the log of {name}/{container}:\n{log}"
        await self.delete_pod(name, 0)
        return log


def is_ready(pod: v1.Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)


def container_status(pod: v1.Pod, name: str) -> v1.ContainerStatus:
    for cs in list(pod.status.container_statuses) + list(pod.status.init_container_statuses):
        if cs.name == name:
            return cs
    raise AssertionError(f"no status for container {name} in {pod.metadata.name}")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"
