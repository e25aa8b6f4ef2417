"""Node-pressure eviction for real: a pod's memory pushes a Docker node past its threshold.

A whole cluster (etcd, control plane, scheduler, two node agents on Docker).
Each agent measures memory.available as its --memory capacity minus the working
sets of its containers, with a hard threshold a 200 Mi allocation crosses.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from conftest import DockerKit, run_async

from podlab.client import Client
from podlab.v1 import objects_pb2 as v1
from tests.support.cluster import all_nodes_ready, eventually

pytestmark = pytest.mark.e2e

# The first incarnation allocates (and writes) 200 Mi; its replacement, seeing the marker
# on the shared hostPath, does not, so the replacement does not push its node over too.
HOG = """
import os, time
marker = "/marker/hogged"
if not os.path.exists(marker):
    open(marker, "w").close()
    hog = b"x" * (200 * 2**20)
time.sleep(3600)
"""


def hog_pod(node: str, marker_dir: Path) -> v1.Pod:
    pod = v1.Pod(metadata=v1.ObjectMeta(name="hog"))
    pod.spec.node_name = node
    pod.spec.restart_policy = "Always"
    pod.spec.termination_grace_period_seconds = 1
    c = pod.spec.containers.add(name="hog", image="podlab/pytools:latest",
                                image_pull_policy="IfNotPresent", command=["python3", "-c", HOG])
    c.volume_mounts.add(name="marker", mount_path="/marker")
    vol = pod.spec.volumes.add(name="marker")
    vol.host_path.path = str(marker_dir)
    vol.host_path.type = "DirectoryOrCreate"
    return pod


def guaranteed_pod(node: str) -> v1.Pod:
    pod = v1.Pod(metadata=v1.ObjectMeta(name="steady"))
    pod.spec.node_name = node
    pod.spec.termination_grace_period_seconds = 1
    c = pod.spec.containers.add(name="steady", image="busybox", command=["sh", "-c", "sleep 3600"])
    for part in (c.resources.requests, c.resources.limits):
        part.update({"memory": "64Mi", "cpu": "100m"})
    return pod


def test_memory_hog_is_evicted_by_qos_order_and_replaced_on_the_other_node(
        etcd: Any, docker_kit: DockerKit, tmp_path: Path) -> None:
    from tests.integration.conftest import wipe
    from tests.support.cluster import LocalCluster

    wipe(etcd.endpoint)
    cluster = LocalCluster(etcd, nodes=2, runtime="docker", node_prefix=docker_kit.node("evict"),
                           control_plane_flags=("--node-grace", "5", "--pod-eviction-timeout", "30"),
                           agent_flags=("--mirror", docker_kit.mirror, "--pod-network", docker_kit.network,
                                        "--backoff-base", "1", "--memory", "400Mi",
                                        "--memory-signal", "working-set",
                                        "--eviction-hard", "memory.available<250Mi",
                                        "--eviction-interval", "0.5",
                                        "--eviction-pressure-transition-period", "5"))
    node1, node2 = cluster.node_names

    async def body() -> None:
        async with Client(cluster.server_address) as client:
            await all_nodes_ready(client, 2, timeout=60)
            seen: list[v1.Pod] = []
            node_seen: list[v1.Node] = []

            async def record(kind: Any, into: list[Any]) -> None:
                async for ev in client.watch(kind):
                    if ev.object is not None:
                        into.append(ev.object)

            watchers = [asyncio.create_task(record(v1.Pod, seen)),
                        asyncio.create_task(record(v1.Node, node_seen))]
            try:
                steady = await client.create(guaranteed_pod(node1))
                await eventually(lambda: _running(client, "steady"), 60, "steady Running")
                hog = await client.create(hog_pod(node1, tmp_path / "marker"))

                async def replaced() -> v1.Pod | None:
                    pod = await client.get(v1.Pod, "hog", "default")
                    return pod if pod.metadata.uid != hog.metadata.uid and \
                        pod.status.phase == "Running" else None

                new = await eventually(replaced, 90, "the hog's replacement Running")
                # the replacement: same name, new UID, on the node without pressure
                assert new.spec.node_name == node2
                failed = [p for p in seen if p.metadata.uid == hog.metadata.uid
                          and p.status.phase == "Failed"]
                assert failed, "the evicted pod was never reported Failed"
                assert failed[0].status.reason == "Evicted"
                message = failed[0].status.message
                assert message.startswith("The node was low on resource: memory. "
                                          "Threshold quantity: 250Mi, available: ")
                assert "Container hog was using" in message and "request is 0." in message
                # the node said so: MemoryPressure and its NoSchedule taint
                pressured = [n for n in node_seen if n.metadata.name == node1 and any(
                    c.type == "MemoryPressure" and c.status == "True" for c in n.status.conditions)]
                tainted = [n for n in node_seen if n.metadata.name == node1 and any(
                    t.key == "node.kubernetes.io/memory-pressure" and t.effect == "NoSchedule"
                    for t in n.spec.taints)]
                assert pressured and tainted
                assert not any(n.metadata.name == node2 and n.spec.taints for n in node_seen)
                # the Guaranteed pod was not touched
                now = await client.get(v1.Pod, "steady", "default")
                assert now.metadata.uid == steady.metadata.uid and now.status.phase == "Running"
                assert now.status.container_statuses[0].restart_count == 0
                assert not [p for p in seen if p.metadata.name == "steady" and p.status.reason]
                events, _ = await client.list(v1.Event, "default")
                kubelet = [e for e in events if e.reason == "Evicted" and e.source.component == "kubelet"]
                assert [e.involved_object.uid for e in kubelet] == [hog.metadata.uid]
                assert any(e.reason == "Evicted" and hog.metadata.uid in e.message
                           and new.metadata.uid in e.message for e in events)

                # pressure over (the hog's memory is gone): condition False, taint removed
                async def relieved() -> bool:
                    node = await client.get(v1.Node, node1)
                    return not node.spec.taints and any(
                        c.type == "MemoryPressure" and c.status == "False"
                        for c in node.status.conditions)
                await eventually(relieved, 40, f"{node1} without memory pressure")
            finally:
                for task in watchers:
                    task.cancel()
                await asyncio.gather(*watchers, return_exceptions=True)
                for name in ("hog", "steady"):
                    with contextlib.suppress(Exception):
                        await client.delete(v1.Pod, name, "default", grace_period_seconds=0)

    try:
        run_async(body(), timeout=240)
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.stop()


async def _running(client: Client, name: str) -> bool:
    pod = await client.get(v1.Pod, name, "default")
    return pod.status.phase == "Running"
