"""test/e2e/common/node/pods.go: "[sig-node] Pods".

Upstream's pods here pass MustMixinRestrictedPodSecurity (runAsNonRoot, runAsUser 1000,
seccomp RuntimeDefault, allowPrivilegeEscalation false, all capabilities dropped); so do
these (`restricted`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
import uuid
from typing import Any

import pytest

from podlab.v1 import objects_pb2 as v1
from tests.conformance._framework import PAUSE, Framework, upstream

pytestmark = pytest.mark.conformance


def restricted(pod: dict[str, Any]) -> dict[str, Any]:
    """Upstream's MustMixinRestrictedPodSecurity."""
    sc = pod["spec"].setdefault("securityContext", {})
    sc.setdefault("runAsNonRoot", True)
    sc.setdefault("runAsUser", 1000)
    sc.setdefault("seccompProfile", {"type": "RuntimeDefault"})
    for c in pod["spec"]["containers"]:
        csc = c.setdefault("securityContext", {})
        csc.setdefault("allowPrivilegeEscalation", False)
        csc.setdefault("capabilities", {"drop": ["ALL"]})
    return pod


def pause_pod(name: str, container: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return restricted({"metadata": meta, "spec": {"containers": [{"name": container, "image": PAUSE}]}})


async def by_label(f: Framework, selector: str) -> list[v1.Pod]:
    items, _ = await f.client.list(v1.Pod, f.namespace, label_selector=selector)
    return items


@upstream("node/pods.go", "should get a host IP [NodeConformance] [Conformance]")
async def test_should_get_a_host_ip(f: Framework) -> None:
    """pods.go: "should get a host IP" (ConformanceIt; testHostIP: Running with a valid hostIP)."""
    name = f"pod-hostip-{uuid.uuid4()}"
    await f.create_pod(pause_pod(name, "test"))
    pod = await f.wait_running(name)
    ipaddress.ip_address(pod.status.host_ip)
    assert pod.status.host_ip


@upstream("node/pods.go", "should be submitted and removed [NodeConformance] [Conformance]")
async def test_should_be_submitted_and_removed(f: Framework) -> None:
    """pods.go: "should be submitted and removed" (ConformanceIt): a watch sees ADDED, then DELETED
    with a deletionTimestamp and a non-zero grace period; the label query ends empty."""
    name = f"pod-submit-remove-{uuid.uuid4()}"
    value = str(time.time_ns() % 10**9)
    selector = f"time={value}"
    assert await by_label(f, selector) == []
    _, rv = await f.client.list(v1.Pod, f.namespace, label_selector=selector)
    events: asyncio.Queue[Any] = asyncio.Queue()

    async def watch() -> None:
        async for ev in f.client.watch(v1.Pod, f.namespace, rv, label_selector=selector):
            await events.put(ev)
    watcher = asyncio.create_task(watch())
    try:
        await f.create_pod(pause_pod(name, "pause", {"name": "foo", "time": value}))
        assert len(await by_label(f, selector)) == 1
        async with asyncio.timeout(60):
            first = await events.get()
        assert first.type == "ADDED", first
        await f.wait_running(name)
        await f.delete_pod(name, 30)
        async with asyncio.timeout(60):
            while (ev := await events.get()).type != "DELETED":
                pass
        assert ev.object.metadata.HasField("deletion_timestamp")
        assert ev.object.spec.termination_grace_period_seconds != 0
        assert await by_label(f, selector) == []
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


@upstream("node/pods.go", "should be updated [NodeConformance] [Conformance]")
async def test_should_be_updated(f: Framework) -> None:
    """pods.go: "should be updated" (ConformanceIt): a label change is queryable."""
    name = f"pod-update-{uuid.uuid4()}"
    value = str(time.time_ns() % 10**9)
    await f.create_pod(pause_pod(name, "pause", {"name": "foo", "time": value}))
    await f.wait_running(name)
    assert len(await by_label(f, f"time={value}")) == 1
    value = str(time.time_ns() % 10**9)
    await f.update_pod(name, lambda p: p.metadata.labels.__setitem__("time", value))
    await f.wait_running(name)
    assert len(await by_label(f, f"time={value}")) == 1


@upstream("node/pods.go", "should allow activeDeadlineSeconds to be updated [NodeConformance] [Conformance]")
async def test_should_allow_active_deadline_seconds_to_be_updated(f: Framework) -> None:
    """pods.go: "should allow activeDeadlineSeconds to be updated" (ConformanceIt): after setting it
    to 5 the pod is terminated with reason DeadlineExceeded."""
    name = f"pod-update-activedeadlineseconds-{uuid.uuid4()}"
    value = str(time.time_ns() % 10**9)
    await f.create_pod(pause_pod(name, "pause", {"name": "foo", "time": value}))
    await f.wait_running(name)
    assert len(await by_label(f, f"time={value}")) == 1
    await f.update_pod(name, lambda p: setattr(p.spec, "active_deadline_seconds", 5))
    pod = await f.wait_pod(name, lambda p: p.status.phase == "Failed", "terminated", 60)
    assert pod.status.reason == "DeadlineExceeded"
