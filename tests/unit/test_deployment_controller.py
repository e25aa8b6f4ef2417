"""Deployments against the in-memory API with the ReplicaSet controller, the garbage collector and a
stand-in kubelet that makes every pod Running and Ready: rollout, rolling-update bounds, Recreate,
rollback, deletion."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from controlplane.controllers.deployment import HASH_LABEL, REVISION, DeploymentController
from controlplane.controllers.framework import Controller, ManualClock
from controlplane.controllers.garbagecollector import GarbageCollector
from controlplane.controllers.replicaset import ReplicaSetController
from controlplane.testing import InMemoryApi
from podlab import errors
from podlab.client import Informer
from podlab.kinds import DEPLOYMENTS
from podlab.manifest import from_dict
from podlab.v1 import objects_pb2 as v1
from tests.support.waiting import eventually

TIMEOUT = 15.0


def nginx(replicas: int = 3, image: str = "nginx:1.14.2", **strategy: object) -> v1.Deployment:
    data = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx-deployment", "labels": {"app": "nginx"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "nginx"}},
                 "template": {"metadata": {"labels": {"app": "nginx"}},
                              "spec": {"containers": [{"name": "nginx", "image": image}]}}}}
    if strategy:
        data["spec"]["strategy"] = strategy
    obj = from_dict(data, DEPLOYMENTS)
    assert isinstance(obj, v1.Deployment)
    return obj



BROKEN = "nginx:broken"  # an image the stand-in kubelet runs but never makes Ready


async def kubelet(cluster: InMemoryApi) -> None:
    """Every pod without a Ready condition becomes Running and Ready (but pods of BROKEN), as its
    change arrives: a pod informer, no polling."""

    def on_pod(key: str, old: object, new: object) -> None:
        if not isinstance(new, v1.Pod) or new.spec.containers[0].image == BROKEN:
            return
        if not new.status.conditions or new.status.phase != "Running":
            pod = v1.Pod()
            pod.CopyFrom(new)
            pod.status.phase = "Running"
            del pod.status.conditions[:]
            pod.status.conditions.add(type="Ready", status="True")
            # A stale copy conflicts; its newer version is a change of its own, and comes here too.
            with contextlib.suppress(errors.Conflict, errors.NotFound):
                cluster.update_status_now(pod)

    await Informer(cluster, v1.Pod, on_change=on_pod).run()


@dataclass
class World:
    cluster: InMemoryApi
    controllers: list[Controller]

    async def quiesced(self) -> None:
        for controller in self.controllers:
            await controller.quiesced()


@contextlib.asynccontextmanager
async def world_running(clock: Callable[[], float] = time.time) -> AsyncIterator[World]:
    """The three controllers and the stand-in kubelet; `clock` is the Deployment controller's."""
    cluster = InMemoryApi()
    controllers = [ReplicaSetController(cluster), DeploymentController(cluster, clock=clock),
                   GarbageCollector(cluster)]
    tasks = [asyncio.create_task(c.run()) for c in controllers] + [asyncio.create_task(kubelet(cluster))]
    try:
        yield World(cluster, controllers)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for c in controllers:
            c.queue.close()


@contextlib.asynccontextmanager
async def cluster_running() -> AsyncIterator[InMemoryApi]:
    async with world_running() as world:
        yield world.cluster


def deployment(cluster: InMemoryApi) -> v1.Deployment:
    found: v1.Deployment = cluster.get_now(v1.Deployment, "nginx-deployment")
    return found


def replica_sets(cluster: InMemoryApi) -> list[v1.ReplicaSet]:
    return sorted(cluster.objects(v1.ReplicaSet), key=lambda rs: int(rs.metadata.annotations.get(REVISION, "0")))


def rolled_out(cluster: InMemoryApi, replicas: int, image: str) -> bool:
    d = deployment(cluster)
    s = d.status
    live = [p for p in cluster.pods() if not p.metadata.HasField("deletion_timestamp")]
    return (s.observed_generation == d.metadata.generation and s.updated_replicas == replicas
            and s.available_replicas == replicas and s.replicas == replicas and len(live) == replicas
            and all(p.spec.containers[0].image == image for p in live))


async def test_the_docs_deployment_rolls_out_through_a_replica_set() -> None:
    async with cluster_running() as cluster:
        cluster.create_now(nginx())
        await eventually(lambda: rolled_out(cluster, 3, "nginx:1.14.2"))
        [rs] = replica_sets(cluster)
        digest = rs.metadata.labels[HASH_LABEL]
        assert rs.metadata.name == f"nginx-deployment-{digest}"
        assert rs.spec.selector.match_labels[HASH_LABEL] == digest and rs.spec.replicas == 3
        assert rs.metadata.annotations[REVISION] == "1"
        await eventually(lambda: deployment(cluster).metadata.annotations.get(REVISION) == "1")
        conditions = {c.type: (c.status, c.reason) for c in deployment(cluster).status.conditions}
        assert conditions["Available"] == ("True", "MinimumReplicasAvailable")
        await eventually(lambda: {c.type: c.reason for c in deployment(cluster).status.conditions}["Progressing"]
                    == "NewReplicaSetAvailable")


async def test_a_rolling_update_stays_within_max_surge_and_max_unavailable() -> None:
    async with cluster_running() as cluster:
        cluster.create_now(nginx(replicas=10, type="RollingUpdate",
                                 rollingUpdate={"maxSurge": 2, "maxUnavailable": 1}))
        await eventually(lambda: rolled_out(cluster, 10, "nginx:1.14.2"))
        d = deployment(cluster)
        d.spec.template.spec.containers[0].image = "nginx:1.16.1"
        cluster.update_now(d)
        most_desired, least_ready = 0, 10

        def observe() -> None:  # at every revision the rollout passes through
            nonlocal most_desired, least_ready
            most_desired = max(most_desired, sum(rs.spec.replicas for rs in cluster.objects(v1.ReplicaSet)))
            ready = [p for p in cluster.pods() if not p.metadata.HasField("deletion_timestamp")
                     and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions)]
            least_ready = min(least_ready, len(ready))

        cluster.store.observers.append(observe)
        await eventually(lambda: rolled_out(cluster, 10, "nginx:1.16.1"), TIMEOUT, "the rollout")
        assert most_desired <= 12, "replicas + maxSurge"
        assert least_ready >= 9 - 1, "replicas - maxUnavailable (one more while a ready pod's delete lands)"
        old, new = replica_sets(cluster)
        assert (old.spec.replicas, new.spec.replicas) == (0, 10)
        assert new.metadata.annotations[REVISION] == "2"


async def test_recreate_removes_every_old_pod_before_a_new_one_starts() -> None:
    async with cluster_running() as cluster:
        cluster.create_now(nginx(replicas=3, type="Recreate"))
        await eventually(lambda: rolled_out(cluster, 3, "nginx:1.14.2"))
        d = deployment(cluster)
        d.spec.template.spec.containers[0].image = "nginx:1.16.1"
        cluster.update_now(d)
        mixed = False

        def observe() -> None:  # at every revision the rollout passes through
            nonlocal mixed
            mixed |= len({p.spec.containers[0].image for p in cluster.pods()}) > 1

        cluster.store.observers.append(observe)
        await eventually(lambda: rolled_out(cluster, 3, "nginx:1.16.1"), TIMEOUT, "the rollout")
        assert not mixed, "old and new pods never run together under Recreate"


async def test_rollback_to_the_first_template_reuses_its_replica_set_as_revision_3() -> None:
    async with cluster_running() as cluster:
        cluster.create_now(nginx())
        await eventually(lambda: rolled_out(cluster, 3, "nginx:1.14.2"))
        first = replica_sets(cluster)[0].metadata.name
        d = deployment(cluster)
        d.spec.template.spec.containers[0].image = "nginx:1.16.1"
        cluster.update_now(d)
        await eventually(lambda: rolled_out(cluster, 3, "nginx:1.16.1"))
        # `kubectl rollout undo` writes the previous revision's template back.
        d = deployment(cluster)
        d.spec.template.spec.containers[0].image = "nginx:1.14.2"
        cluster.update_now(d)
        await eventually(lambda: rolled_out(cluster, 3, "nginx:1.14.2"))
        revisions = {rs.metadata.name: rs.metadata.annotations[REVISION] for rs in replica_sets(cluster)}
        assert len(revisions) == 2 and revisions[first] == "3"


async def test_scaling_a_deployment_scales_its_replica_set() -> None:
    async with cluster_running() as cluster:
        cluster.create_now(nginx(replicas=2))
        await eventually(lambda: rolled_out(cluster, 2, "nginx:1.14.2"))
        d = deployment(cluster)
        d.spec.replicas = 10
        cluster.update_now(d)
        await eventually(lambda: rolled_out(cluster, 10, "nginx:1.14.2"))
        assert len(replica_sets(cluster)) == 1


async def test_deleting_a_deployment_removes_its_replica_sets_and_pods() -> None:
    async with cluster_running() as cluster:
        cluster.create_now(nginx())
        await eventually(lambda: rolled_out(cluster, 3, "nginx:1.14.2"))
        bystander = v1.Pod(metadata=v1.ObjectMeta(name="bystander", labels={"app": "other"}))
        bystander.spec.containers.add(name="c", image="busybox")
        cluster.create_now(bystander)
        cluster.delete_now(v1.Deployment, "nginx-deployment")
        await eventually(lambda: not cluster.objects(v1.ReplicaSet)
                    and [p.metadata.name for p in cluster.pods()] == ["bystander"])


def progressing(cluster: InMemoryApi) -> tuple[str, str]:
    cond = next((c for c in deployment(cluster).status.conditions if c.type == "Progressing"), None)
    return (cond.status, cond.reason) if cond is not None else ("", "")


async def test_a_rollout_that_stops_moving_exceeds_its_progress_deadline_and_recovers() -> None:
    clock = ManualClock(time.time())
    async with world_running(clock) as world:
        cluster = world.cluster
        d = nginx(replicas=2)
        d.spec.progress_deadline_seconds = 1
        cluster.create_now(d)
        await eventually(lambda: rolled_out(cluster, 2, "nginx:1.14.2"))
        d = deployment(cluster)
        d.spec.template.spec.containers[0].image = BROKEN
        cluster.update_now(d)
        await eventually(lambda: progressing(cluster)[1] == "ReplicaSetUpdated")
        await world.quiesced()
        assert progressing(cluster)[1] == "ReplicaSetUpdated", "not before the deadline"
        clock.step(2)  # past progressDeadlineSeconds: the controller's own requeue fires
        await eventually(lambda: progressing(cluster) == ("False", "ProgressDeadlineExceeded"))
        cond = next(c for c in deployment(cluster).status.conditions if c.type == "Progressing")
        assert cond.message.endswith("has timed out progressing.")
        assert deployment(cluster).status.available_replicas >= 1, "maxUnavailable 25% of 2 rounds down to 0"
        clock.step(2)
        await world.quiesced()
        assert progressing(cluster) == ("False", "ProgressDeadlineExceeded"), "it stays timed out"
        d = deployment(cluster)
        d.spec.template.spec.containers[0].image = "nginx:1.16.1"
        cluster.update_now(d)
        await eventually(lambda: rolled_out(cluster, 2, "nginx:1.16.1"))
        await eventually(lambda: progressing(cluster) == ("True", "NewReplicaSetAvailable"))


async def test_a_paused_deployment_is_not_timed() -> None:
    clock = ManualClock(time.time())
    async with world_running(clock) as world:
        cluster = world.cluster
        d = nginx(replicas=1)
        d.spec.progress_deadline_seconds = 1
        d.spec.paused = True
        cluster.create_now(d)
        await eventually(lambda: progressing(cluster) == ("Unknown", "DeploymentPaused"))
        clock.step(2)
        await world.quiesced()
        assert progressing(cluster) == ("Unknown", "DeploymentPaused")
