"""The ReplicaSet controller against the in-memory API: counts, slow start, adoption, deletion order, status."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from controlplane.controllers.replicaset import ReplicaSetController, deletion_rank
from controlplane.testing import InMemoryApi
from podlab import errors
from podlab.v1 import objects_pb2 as v1
from tests.support.waiting import eventually

TIMEOUT = 10.0


def replica_set(name: str = "web", replicas: int = 3, app: str = "web") -> v1.ReplicaSet:
    rs = v1.ReplicaSet(metadata=v1.ObjectMeta(name=name))
    rs.spec.replicas = replicas
    rs.spec.selector.match_labels["app"] = app
    rs.spec.template.metadata.labels["app"] = app
    rs.spec.template.spec.containers.add(name="app", image="nginx:1.14.2")
    return rs


def bare_pod(name: str, **labels: str) -> v1.Pod:
    pod = v1.Pod(metadata=v1.ObjectMeta(name=name, labels=labels))
    pod.spec.containers.add(name="app", image="nginx")
    return pod


def owned(cluster: InMemoryApi, rs_name: str = "web") -> list[v1.Pod]:
    return [p for p in cluster.pods() if any(r.name == rs_name and r.controller for r in p.metadata.owner_references)]



@contextlib.asynccontextmanager
async def running(cluster: InMemoryApi) -> AsyncIterator[ReplicaSetController]:
    controller = ReplicaSetController(cluster)
    task = asyncio.create_task(controller.run())
    try:
        yield controller
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        controller.queue.close()


async def test_creates_the_replicas_it_owns_and_reports_them() -> None:
    cluster = InMemoryApi()
    async with running(cluster) as controller:
        cluster.create_now(replica_set(replicas=3))
        await eventually(lambda: len(owned(cluster)) == 3)
        await eventually(lambda: cluster.get_now(v1.ReplicaSet, "web").status.replicas == 3)
        rs = cluster.get_now(v1.ReplicaSet, "web")
        assert rs.status.observed_generation == 1 and rs.status.fully_labeled_replicas == 3
        pod = owned(cluster)[0]
        assert pod.metadata.name.startswith("web-") and pod.metadata.labels["app"] == "web"
        ref = pod.metadata.owner_references[0]
        assert (ref.kind, ref.uid, ref.block_owner_deletion) == ("ReplicaSet", rs.metadata.uid, True)
        await controller.quiesced()
        assert len(cluster.pods()) == 3, "no more than the replicas, ever"


async def test_slow_start_never_over_creates_when_creates_fail() -> None:
    cluster = InMemoryApi()
    cluster.fail["create"].extend([errors.Unavailable("quota")] * 3)
    seen_max = 0

    async with running(cluster) as controller:
        cluster.create_now(replica_set(replicas=10))

        def count() -> bool:
            nonlocal seen_max
            seen_max = max(seen_max, len(cluster.pods()))
            return len(owned(cluster)) == 10

        await eventually(count)
        await controller.quiesced()
        assert len(cluster.pods()) == 10 and seen_max <= 10
    # The first batch is one pod: three refused creates cost three calls, not thirty.
    assert cluster.calls["create"] <= 10 + 3 + 1


async def test_adopts_a_matching_orphan_and_releases_a_pod_that_stops_matching() -> None:
    cluster = InMemoryApi()
    cluster.create_now(bare_pod("orphan", app="web"))
    cluster.create_now(bare_pod("stranger", app="db"))
    async with running(cluster) as controller:
        cluster.create_now(replica_set(replicas=2))
        await eventually(lambda: len(owned(cluster)) == 2)
        names = {p.metadata.name for p in owned(cluster)}
        assert "orphan" in names and "stranger" not in names
        await controller.quiesced()
        assert len(cluster.pods()) == 3, "the adopted orphan counts as a replica"
        mine = next(p for p in owned(cluster) if p.metadata.name != "orphan")
        mine.metadata.labels["app"] = "elsewhere"
        cluster.update_now(mine)
        await eventually(lambda: not cluster.pod(mine.metadata.name).metadata.owner_references)
        await eventually(lambda: len(owned(cluster)) == 2, timeout=TIMEOUT)


async def test_scale_down_deletes_unscheduled_then_not_ready_pods_first() -> None:
    cluster = InMemoryApi()
    async with running(cluster):
        cluster.create_now(replica_set(replicas=3))
        await eventually(lambda: len(owned(cluster)) == 3)
    # Two of the three land on nodes and one of those is Ready.
    cluster.create_now(v1.Node(metadata=v1.ObjectMeta(name="n1")))
    a, b, c = sorted(owned(cluster), key=lambda p: p.metadata.name)
    for pod in (a, b):
        cluster.bind_now(pod, "n1")
    ready = cluster.pod(a.metadata.name)
    ready.status.phase = "Running"
    ready.status.conditions.add(type="Ready", status="True")
    cluster.update_status_now(ready)
    rs = cluster.get_now(v1.ReplicaSet, "web")
    async with running(cluster):
        rs.spec.replicas = 1
        cluster.update_now(rs)
        await eventually(lambda: [p.metadata.name for p in owned(cluster)
                                  if not p.metadata.HasField("deletion_timestamp")] == [a.metadata.name])
    assert c.metadata.name not in {p.metadata.name for p in cluster.pods()}, "the unscheduled pod went first"


def test_deletion_rank_follows_kubernetes_order() -> None:
    unscheduled, pending, running_ = bare_pod("u"), bare_pod("p"), bare_pod("r")
    pending.spec.node_name = running_.spec.node_name = "n1"
    pending.status.phase, running_.status.phase = "Pending", "Running"
    ready = v1.Pod()
    ready.CopyFrom(running_)
    ready.status.conditions.add(type="Ready", status="True")
    order = sorted([ready, running_, pending, unscheduled], key=deletion_rank)
    assert order == [unscheduled, pending, running_, ready]
