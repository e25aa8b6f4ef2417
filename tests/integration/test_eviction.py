"""Eviction through the API and after node pressure: pods come back as new pods, never twice."""

from __future__ import annotations

import pytest

from podlab.v1 import objects_pb2 as v1
from tests.support.cluster import eventually, pods_by_name, running_everywhere, sleeper
from tests.support.overlap import OverlapWatcher

pytestmark = pytest.mark.integration


async def test_evicted_pod_comes_back_as_new_pod_after_the_old_one_stopped(make_cluster) -> None:
    cluster, client = await make_cluster(2)
    await client.create(sleeper("movable"))
    before = (await running_everywhere(client, ["movable"]))["movable"]
    agents = {n: f"127.0.0.1:{a.port}" for n, a in cluster.agents.items()}
    with OverlapWatcher(agents) as watcher:
        await client.evict("default", "movable", grace_period_seconds=1)

        async def replaced() -> v1.Pod | None:
            pod = (await pods_by_name(client)).get("movable")
            ok = pod is not None and pod.metadata.uid != before.metadata.uid and pod.status.phase == "Running"
            return pod if ok else None

        after = await eventually(replaced, 20, "the evicted pod's replacement Running")
    assert not watcher.violations, f"old and new ran at once: {watcher.violations[:2]}"
    assert "podlab.io/evicted" not in after.metadata.annotations
    events, _ = await client.list(v1.Event, "default")
    assert any(e.reason == "Evicted" and before.metadata.uid in e.message and after.metadata.uid in e.message
               for e in events)


async def test_evicted_never_pod_is_just_deleted(make_cluster) -> None:
    _, client = await make_cluster(1)
    await client.create(sleeper("once", restart="Never"))
    await running_everywhere(client, ["once"])
    await client.evict("default", "once", grace_period_seconds=0)

    async def gone() -> bool:
        return "once" not in await pods_by_name(client)

    await eventually(gone, 15, "the Never pod to be gone")


async def test_pod_failed_by_node_pressure_is_replaced_with_new_uid(make_cluster) -> None:
    _, client = await make_cluster(2)
    await client.create(sleeper("hungry"))
    pod = (await running_everywhere(client, ["hungry"]))["hungry"]
    # What an agent under memory pressure reports after stopping the pod.
    pod.status.phase = "Failed"
    pod.status.reason = "Evicted"
    pod.status.message = "The node was low on resource: memory."
    await client.update_status(pod)

    async def replaced() -> v1.Pod | None:
        now = (await pods_by_name(client)).get("hungry")
        return now if now and now.metadata.uid != pod.metadata.uid and now.status.phase == "Running" else None

    await eventually(replaced, 20, "the evicted pod's replacement Running")


async def test_drain_moves_every_pod_off_a_node_and_leaves_it_cordoned(make_cluster) -> None:
    import subprocess
    import sys

    cluster, client = await make_cluster(2)
    names = [f"drained-{i}" for i in range(4)]
    for name in names:
        await client.create(sleeper(name))
    before = await running_everywhere(client, names)
    on_node1 = {n: p.metadata.uid for n, p in before.items() if p.spec.node_name == "node1"}
    assert on_node1
    await client.create(sleeper("one-shot", node="node1", restart="Never"))
    await running_everywhere(client, ["one-shot"])
    podctl = [sys.executable, "-m", "podctl", "--server", cluster.server_address]
    refused = subprocess.run([*podctl, "drain", "node1", "--timeout", "60s"], capture_output=True, text=True)
    assert refused.returncode == 1 and "default/one-shot" in refused.stderr
    drained = subprocess.run([*podctl, "drain", "node1", "--force", "--timeout", "60s"],
                             capture_output=True, text=True, timeout=90)
    assert drained.returncode == 0, drained.stderr
    assert "node/node1 drained" in drained.stdout
    after = await running_everywhere(client, names)
    assert all(p.spec.node_name == "node2" for p in after.values())
    assert all(after[n].metadata.uid != uid for n, uid in on_node1.items())
    assert "one-shot" not in await pods_by_name(client)
    assert (await client.get(v1.Node, "node1")).spec.unschedulable
