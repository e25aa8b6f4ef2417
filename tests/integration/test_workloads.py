"""Workloads with real processes: a ReplicaSet over gRPC, its pods scheduled and run by sim agents."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from typing import TypeVar

import pytest
from google.protobuf.message import Message

from controlplane.controllers.replicaset import ReplicaSetController
from podlab import errors
from podlab.client import Client, Informer
from podlab.kinds import DEPLOYMENTS
from podlab.manifest import from_dict
from podlab.v1 import objects_pb2 as v1
from tests.support.cluster import eventually

pytestmark = pytest.mark.integration
M = TypeVar("M", bound=Message)


def replica_set(replicas: int) -> v1.ReplicaSet:
    rs = v1.ReplicaSet(metadata=v1.ObjectMeta(name="frontend"))
    rs.spec.replicas = replicas
    rs.spec.selector.match_labels["tier"] = "frontend"
    rs.spec.template.metadata.labels["tier"] = "frontend"
    rs.spec.template.spec.containers.add(name="php-redis", image="busybox", command=["sleep", "3600"])
    return rs


async def _status(client: Client) -> v1.ReplicaSetStatus:
    rs = await client.get(v1.ReplicaSet, "frontend")
    return rs.status


async def _ready_replicas(client: Client, n: int) -> bool:
    status = await _status(client)
    return status.ready_replicas == n and status.replicas == n


async def test_a_replica_set_runs_its_replicas_and_follows_a_scale(make_cluster) -> None:
    _, client = await make_cluster(2)
    await client.create(replica_set(3))
    await eventually(lambda: _ready_replicas(client, 3), 30, "3 ready replicas")
    pods, _ = await client.list(v1.Pod, "default", "tier=frontend")
    assert len(pods) == 3 and all(p.spec.node_name for p in pods)
    rs = await client.get(v1.ReplicaSet, "frontend")
    rs.spec.replicas = 1
    await client.update(rs)
    await eventually(lambda: _ready_replicas(client, 1), 30, "a scale down to 1")


async def test_an_evicted_replica_is_deleted_and_its_replica_set_makes_a_new_pod(make_cluster) -> None:
    _, client = await make_cluster(2)
    await client.create(replica_set(2))
    await eventually(lambda: _ready_replicas(client, 2), 30, "2 ready replicas")
    pods, revision = await client.list(v1.Pod, "default", "tier=frontend")
    evicted = pods[0]
    stand_ins: list[str] = []  # uids that took the evicted pod's name: none, in Kubernetes

    async def watch() -> None:
        async for event in client.watch(v1.Pod, "default", revision, "tier=frontend"):
            pod = event.object
            if pod is not None and pod.metadata.name == evicted.metadata.name \
                    and pod.metadata.uid != evicted.metadata.uid:
                stand_ins.append(pod.metadata.uid)

    watching = asyncio.create_task(watch())
    try:
        await client.evict("default", evicted.metadata.name)

        async def replaced() -> bool:
            now, _ = await client.list(v1.Pod, "default", "tier=frontend")
            names = {p.metadata.name for p in now}
            return evicted.metadata.name not in names and len(names) == 2 and await _ready_replicas(client, 2)

        await eventually(replaced, 30, "the evicted pod gone and a new one in its place")
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    assert stand_ins == []


async def test_an_invalid_replica_set_is_refused_over_grpc(make_cluster) -> None:
    _, client = await make_cluster(1)
    bad = replica_set(-1)
    with pytest.raises(errors.Invalid, match="spec.replicas: Invalid value: -1"):
        await client.create(bad)
    with pytest.raises(errors.NotFound):
        await client.get(v1.ReplicaSet, "frontend")


# -- ReplicaSets: adoption, orphaning, slow start, deletion order ----------------------------------

def app_pod(name: str, app: str = "frontend") -> v1.Pod:
    pod = v1.Pod(metadata=v1.ObjectMeta(name=name, labels={"tier": app}))
    pod.spec.containers.add(name="app", image="busybox", command=["sleep", "3600"])
    return pod


def owner_uid(obj: Message) -> str:
    ref = next((r for r in obj.metadata.owner_references if r.controller), None)
    return ref.uid if ref is not None else ""


async def live_pods(client: Client, selector: str = "tier=frontend") -> list[v1.Pod]:
    items, _ = await client.list(v1.Pod, "default", selector)
    return [p for p in items if not p.metadata.HasField("deletion_timestamp")]


def ready(pod: v1.Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)


async def test_adoption_and_orphan_deletion_hand_the_same_pods_to_the_next_replica_set(make_cluster) -> None:
    _, client = await make_cluster(2)
    for name in ("orphan-a", "orphan-b"):
        await client.create(app_pod(name))

    async def three_owned_by(uid: str) -> set[str] | None:
        pods = await live_pods(client)
        assert len(pods) <= 3, f"never more pods than replicas: {sorted(p.metadata.name for p in pods)}"
        ok = len(pods) == 3 and all(owner_uid(p) == uid and ready(p) for p in pods)
        return {p.metadata.name for p in pods} if ok else None

    first = await client.create(replica_set(3))
    names = await eventually(lambda: three_owned_by(first.metadata.uid), 30, "the orphans adopted, one pod made")
    assert {"orphan-a", "orphan-b"} <= names

    _, removed = await client.delete(v1.ReplicaSet, "frontend", propagation_policy="Orphan")
    assert not removed, "orphaning first: the replica set waits for its finalizer"

    async def orphaned() -> bool:
        sets, _ = await client.list(v1.ReplicaSet, "default")
        pods = await live_pods(client)
        return not sets and {p.metadata.name for p in pods} == names and \
            all(not p.metadata.owner_references for p in pods)

    await eventually(orphaned, 20, "the replica set gone, its pods running without an owner")
    second = await client.create(replica_set(3))
    assert await eventually(lambda: three_owned_by(second.metadata.uid), 30, "the same pods adopted") == names

    _, removed = await client.delete(v1.ReplicaSet, "frontend")
    assert removed, "background: the owner goes at once"
    await eventually(lambda: _none(client), 30, "the collector deleting the pods")


async def set_replicas(client: Client, kind: type[M], name: str, replicas: int) -> None:
    """Write spec.replicas, re-reading when a controller's status write got there first."""
    async def written() -> bool:
        current = await client.get(kind, name)
        current.spec.replicas = replicas  # type: ignore[attr-defined]
        await client.update(current)
        return True
    await eventually(written, 10, f"{name} scaled to {replicas}")


async def _none(client: Client, selector: str = "tier=frontend") -> bool:
    items, _ = await client.list(v1.Pod, "default", selector)
    return not items


class RefusingClient(Client):
    """The API over gRPC, with the first `refusals` pod creates refused (an admission webhook or quota)."""

    def __init__(self, target: str, refusals: int) -> None:
        super().__init__(target)
        self.refusals = refusals
        self.pod_creates = 0

    async def create(self, obj: M) -> M:
        if isinstance(obj, v1.Pod):
            self.pod_creates += 1
            if self.refusals > 0:
                self.refusals -= 1
                raise errors.Forbidden('pods "x" is forbidden: exceeded quota: compute-resources')
        return await super().create(obj)


async def test_slow_start_under_refused_creates_never_over_creates(cluster) -> None:
    """The controller runs here over gRPC (the API server has none), its informer behind a real watch."""
    client = RefusingClient(cluster.server_address, refusals=5)
    controller = ReplicaSetController(client)
    task = asyncio.create_task(controller.run())
    try:
        await cluster.client.create(replica_set(20))
        most = 0

        async def settled() -> bool:
            nonlocal most
            pods = await live_pods(cluster.client)
            most = max(most, len(pods))
            rs = await cluster.client.get(v1.ReplicaSet, "frontend")
            return len(pods) == 20 and rs.status.replicas == 20
        await eventually(settled, 30, "20 pods")
        assert most <= 20
        # Each refused pass cost one create (a batch of 1), then 1 + 2 + 4 + 8 + 5 made the 20.
        assert client.pod_creates == 25, client.pod_creates
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        controller.queue.close()
        await client.close()


async def test_scale_down_deletes_unscheduled_then_unready_then_the_youngest(make_cluster) -> None:
    _, client = await make_cluster(2)
    stuck = app_pod("stuck")
    stuck.spec.node_selector["disk"] = "none-has-this"
    unready = app_pod("unready")  # crashes and restarts: scheduled, never ready
    unready.spec.containers[0].command[:] = ["sh", "-c", "exit 1"]
    for pod in (stuck, unready):
        await client.create(pod)
    rs = await client.create(replica_set(4))

    async def adopted_and_two_ready() -> list[v1.Pod] | None:
        pods = await live_pods(client)
        ok = len(pods) == 4 and all(owner_uid(p) == rs.metadata.uid for p in pods) and \
            sum(ready(p) for p in pods) == 2 and any(p.metadata.name == "unready" and p.spec.node_name
                                                     for p in pods)
        return pods if ok else None

    pods = await eventually(adopted_and_two_ready, 30, "two adopted pods and two ready ones")
    made = sorted((p for p in pods if ready(p)), key=lambda p: (p.metadata.creation_timestamp.seconds,
                                                                p.metadata.creation_timestamp.nanos))

    async def scale_to(n: int) -> set[str]:
        await set_replicas(client, v1.ReplicaSet, "frontend", n)

        async def left() -> set[str] | None:
            names = {p.metadata.name for p in await live_pods(client)}
            return names if len(names) == n else None
        return await eventually(left, 20, f"{n} pods left")

    assert await scale_to(2) == {p.metadata.name for p in made}, "the unscheduled and the unready pod go first"
    assert await scale_to(1) == {made[0].metadata.name}, "then the youngest"


# -- Deployments: rolling-update bounds, deletion propagation, progress deadline -------------------

def deployment(name: str, replicas: int, surge: str | int = "25%", unavailable: str | int = "25%",
               image: str = "nginx:1.14.2") -> v1.Deployment:
    data = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "web", "image": image}],
                                           "terminationGracePeriodSeconds": 1}}}}
    obj = from_dict(data, DEPLOYMENTS)
    assert isinstance(obj, v1.Deployment)
    return obj


async def set_image(client: Client, name: str, image: str) -> None:
    async def written() -> bool:
        d = await client.get(v1.Deployment, name)
        d.spec.template.spec.containers[0].image = image
        await client.update(d)
        return True
    await eventually(written, 10, f"{name} set to {image}")


def rolled_out(d: v1.Deployment, replicas: int) -> bool:
    s = d.status
    return (s.observed_generation == d.metadata.generation and s.updated_replicas == replicas
            and s.available_replicas == replicas and s.replicas == replicas)


async def test_a_rollout_of_100_replicas_stays_within_max_surge_and_max_unavailable(make_cluster) -> None:
    """Every change the watch delivers is a sample: pods that count (not terminating) never exceed
    replicas + maxSurge, ready ones never drop below replicas - maxUnavailable."""
    _, client = await make_cluster(3)
    replicas, surge, unavailable = 100, 10, 5
    await client.create(deployment("web", replicas, surge, unavailable))
    await eventually(lambda: _rolled_out(client, "web", replicas), 60, "100 replicas available")
    pods = Informer(client, v1.Pod, "default", "app=web")
    sets = Informer(client, v1.ReplicaSet, "default")
    worst = {"pods": 0, "ready": replicas, "desired": 0, "samples": 0}

    def sample(*_: object) -> None:
        if not (pods.synced.is_set() and sets.synced.is_set()):
            return  # a cache still empty would count no pods at all
        live = [p for p in pods.items() if not p.metadata.HasField("deletion_timestamp")]
        worst["pods"] = max(worst["pods"], len(live))
        worst["ready"] = min(worst["ready"], sum(ready(p) for p in live))
        worst["desired"] = max(worst["desired"], sum(rs.spec.replicas for rs in sets.items()))
        worst["samples"] += 1

    pods.add_handler(sample)
    sets.add_handler(sample)
    tasks = [asyncio.create_task(i.run()) for i in (pods, sets)]
    try:
        await asyncio.gather(pods.synced.wait(), sets.synced.wait())
        await set_image(client, "web", "nginx:1.16.1")
        await eventually(lambda: _rolled_out(client, "web", replicas, "nginx:1.16.1"), 90, "the rollout")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert worst["samples"] > 200
    assert worst["desired"] <= replicas + surge, worst
    assert worst["pods"] <= replicas + surge, worst
    assert worst["ready"] >= replicas - unavailable, worst


async def _rolled_out(client: Client, name: str, replicas: int, image: str = "") -> bool:
    d = await client.get(v1.Deployment, name)
    if not rolled_out(d, replicas):
        return False
    pods = await live_pods(client, f"app={name}")
    return len(pods) == replicas and (not image or all(p.spec.containers[0].image == image for p in pods))


async def _gone(client: Client, kind: type[M], name: str) -> bool:
    try:
        await client.get(kind, name)
    except errors.NotFound:
        return True
    return False


async def test_foreground_background_and_orphan_deletion_of_deployments(make_cluster) -> None:
    _, client = await make_cluster(2)
    for name in ("fg", "bg", "keep"):
        await client.create(deployment(name, 2))
    for name in ("fg", "bg", "keep"):
        await eventually(lambda n=name: _rolled_out(client, n, 2), 30, f"{name} available")

    # Foreground, with one pod held by a finalizer: the Deployment and its ReplicaSet wait for it.
    [held, *_] = await live_pods(client, "app=fg")
    held.metadata.finalizers.append("example.com/hold")
    await client.update(held)
    _, removed = await client.delete(v1.Deployment, "fg", propagation_policy="Foreground")
    assert not removed

    async def only_held_left() -> bool:
        pods, _ = await client.list(v1.Pod, "default", "app=fg")
        return [p.metadata.name for p in pods] == [held.metadata.name]
    await eventually(only_held_left, 30, "every fg pod but the held one gone")
    d = await client.get(v1.Deployment, "fg")
    assert d.metadata.HasField("deletion_timestamp") and "foregroundDeletion" in d.metadata.finalizers
    [rs] = [r for r in (await client.list(v1.ReplicaSet, "default", "app=fg"))[0]]
    assert "foregroundDeletion" in rs.metadata.finalizers, "the replica set waits for its pods in turn"
    pod = await client.get(v1.Pod, held.metadata.name)
    pod.metadata.finalizers.remove("example.com/hold")
    await client.update(pod)
    await eventually(lambda: _gone(client, v1.Deployment, "fg"), 30, "the foreground delete to finish")
    assert not (await client.list(v1.ReplicaSet, "default", "app=fg"))[0]

    # Background: the Deployment goes at once, its ReplicaSet and pods after it.
    _, removed = await client.delete(v1.Deployment, "bg")
    assert removed
    await eventually(lambda: _none(client, "app=bg"), 30, "bg's pods collected")
    assert not (await client.list(v1.ReplicaSet, "default", "app=bg"))[0]

    # Orphan: the ReplicaSet and its pods stay, without an owner.
    await client.delete(v1.Deployment, "keep", propagation_policy="Orphan")
    await eventually(lambda: _gone(client, v1.Deployment, "keep"), 30, "keep orphaned")
    [rs] = (await client.list(v1.ReplicaSet, "default", "app=keep"))[0]
    assert not rs.metadata.owner_references and len(await live_pods(client, "app=keep")) == 2


async def test_a_rollout_whose_pods_never_become_ready_exceeds_its_progress_deadline(make_cluster) -> None:
    _, client = await make_cluster(1)
    d = deployment("slow", 2, surge=1, unavailable=0)
    d.spec.progress_deadline_seconds = 2
    await client.create(d)
    await eventually(lambda: _rolled_out(client, "slow", 2), 30, "slow available")
    # The new version crashes: its pod is never ready, and maxUnavailable 0 keeps both old ones.

    async def crashing() -> bool:
        current = await client.get(v1.Deployment, "slow")
        current.spec.template.spec.containers[0].command[:] = ["sh", "-c", "exit 1"]
        await client.update(current)
        return True
    await eventually(crashing, 10, "the new template")

    async def exceeded() -> v1.DeploymentCondition | None:
        current = await client.get(v1.Deployment, "slow")
        cond = next((c for c in current.status.conditions if c.type == "Progressing"), None)
        return cond if cond is not None and cond.reason == "ProgressDeadlineExceeded" else None
    cond = await eventually(exceeded, 15, "ProgressDeadlineExceeded")
    assert cond.status == "False" and cond.message.endswith("has timed out progressing.")
    current = await client.get(v1.Deployment, "slow")
    assert current.status.available_replicas == 2, "the old pods stay available"
    r = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "podctl", "--server", client.target, "rollout", "status",
                         "deployment/slow"],
        capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stderr.strip().splitlines()[-1]) == \
        (1, 'error: deployment "slow" exceeded its progress deadline')
