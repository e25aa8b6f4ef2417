"""The registry's semantics on the in-memory store, in the unit tier.

The contract cases (tests/support/api_contract.py) run here through the
LocalClient exactly as they run on etcd through gRPC in the integration tier;
below them, what is easiest to prove without a server: eviction and
replacement, watch bookmarks and "too old", lease expiry on a fake clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from controlplane.api import Api
from controlplane.controllers.evictions import EvictionReplacementController
from controlplane.local import LocalClient
from controlplane.memstore import MemoryStore
from controlplane.storage import Delete
from podlab import errors, names
from podlab.v1 import objects_pb2 as v1
from tests.support.api_contract import *  # noqa: F403 - the contract's cases run in this tier too
from tests.support.api_contract import make_node, make_pod
from tests.support.controllers import running
from tests.support.waiting import eventually


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class MemoryCluster:
    api: Api
    store: MemoryStore
    client: LocalClient
    clock: FakeClock

    async def compact(self, revision: int) -> None:
        await self.store.compact(revision)

    async def lease_of(self, key: bytes) -> int:
        kv = await self.store.get(key)
        return kv.lease if kv is not None else 0


@pytest_asyncio.fixture
async def cluster() -> AsyncIterator[MemoryCluster]:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    api = Api.build(store)
    api.start()
    await api.registry.ensure_namespaces()
    try:
        yield MemoryCluster(api, store, LocalClient(api), clock)
    finally:
        await api.close()


async def events_about(cluster: MemoryCluster, name: str) -> list[v1.Event]:
    await cluster.api.events.flush()
    items, _ = await cluster.client.list(v1.Event, "default")
    return [e for e in items if e.involved_object.name == name]


async def test_local_client_hands_out_copies(cluster: MemoryCluster) -> None:
    pod = make_pod("mine")
    created = await cluster.client.create(pod)
    assert not pod.metadata.uid, "create must not change the caller's object"
    created.metadata.labels["changed"] = "locally"
    assert "changed" not in (await cluster.client.get(v1.Pod, "mine")).metadata.labels


async def test_delete_with_stale_resource_version_precondition_is_conflict(cluster: MemoryCluster) -> None:
    pod = await cluster.client.create(make_pod("p"))
    pod.metadata.labels["a"] = "b"
    await cluster.client.update(pod)
    with pytest.raises(errors.Conflict, match="ResourceVersion in precondition"):
        await cluster.client.delete(v1.Pod, "p", resource_version=pod.metadata.resource_version)
    await cluster.client.get(v1.Pod, "p")


async def test_terminating_pod_deadline_can_only_move_forward(cluster: MemoryCluster) -> None:
    await cluster.client.create(make_node("n1"))
    await cluster.client.create(make_pod("slow", node="n1"))
    first, _ = await cluster.client.delete(v1.Pod, "slow", grace_period_seconds=20)
    later, removed = await cluster.client.delete(v1.Pod, "slow", grace_period_seconds=60)
    assert not removed and later.metadata.deletion_grace_period_seconds == 20
    sooner, _ = await cluster.client.delete(v1.Pod, "slow", grace_period_seconds=5)
    assert sooner.metadata.deletion_grace_period_seconds == 5
    assert sooner.metadata.deletion_timestamp.seconds <= first.metadata.deletion_timestamp.seconds


async def test_pod_on_a_vanished_node_is_removed_at_once(cluster: MemoryCluster) -> None:
    await cluster.client.create(make_node("gone"))
    await cluster.client.create(make_pod("orphan", node="gone"))
    await cluster.client.delete(v1.Node, "gone")
    _, removed = await cluster.client.delete(v1.Pod, "orphan")
    assert removed


async def test_status_of_a_kind_without_status_subresource_is_refused(cluster: MemoryCluster) -> None:
    cm = await cluster.client.create(v1.ConfigMap(metadata=v1.ObjectMeta(name="c"), data={"a": "1"}))
    with pytest.raises(errors.BadRequest, match="configmaps have no status subresource"):
        await cluster.client.update_status(cm)


async def test_evicting_a_bound_pod_replaces_it_once_its_agent_confirms(cluster: MemoryCluster) -> None:
    await cluster.client.create(make_node("n1"))
    old = await cluster.client.create(make_pod("movable", node="n1"))
    marked = await cluster.client.evict("default", "movable", grace_period_seconds=5, message="drain")
    assert marked.metadata.annotations[names.EVICTED_ANNOTATION] == "drain"
    assert marked.metadata.HasField("deletion_timestamp"), "eviction terminates the pod gracefully"
    # The agent stops it and confirms with grace 0 and the uid: the replacement takes the name.
    _, removed = await cluster.client.delete(v1.Pod, "movable", grace_period_seconds=0, uid=old.metadata.uid)
    assert removed
    new = await cluster.client.get(v1.Pod, "movable")
    assert new.metadata.uid != old.metadata.uid
    assert not new.spec.node_name and new.status.phase == "Pending"
    assert names.EVICTED_ANNOTATION not in new.metadata.annotations
    assert not new.metadata.HasField("deletion_timestamp")
    reasons = [e.reason for e in await events_about(cluster, "movable")]
    assert "Evicted" in reasons


async def test_evicting_a_never_restarting_pod_deletes_it(cluster: MemoryCluster) -> None:
    pod = make_pod("once")
    pod.spec.restart_policy = "Never"
    await cluster.client.create(pod)
    await cluster.client.evict("default", "once", grace_period_seconds=0)
    with pytest.raises(errors.NotFound):
        await cluster.client.get(v1.Pod, "once")


def _owned(pod: v1.Pod) -> v1.Pod:
    pod.metadata.owner_references.add(api_version="apps/v1", kind="ReplicaSet", name="web-1", uid="rs-uid",
                                       controller=True)
    return pod


async def test_evicting_a_pod_with_a_controller_deletes_it_for_its_controller_to_replace(
        cluster: MemoryCluster) -> None:
    await cluster.client.create(make_node("n1"))
    old = await cluster.client.create(_owned(make_pod("web-1-abcde", node="n1")))
    marked = await cluster.client.evict("default", "web-1-abcde", grace_period_seconds=5)
    assert marked.metadata.HasField("deletion_timestamp")
    assert names.EVICTED_ANNOTATION not in marked.metadata.annotations
    _, removed = await cluster.client.delete(v1.Pod, "web-1-abcde", grace_period_seconds=0, uid=old.metadata.uid)
    assert removed  # gone, with no same-name stand-in: the ReplicaSet makes a new pod, as in Kubernetes
    with pytest.raises(errors.NotFound):
        await cluster.client.get(v1.Pod, "web-1-abcde")
    unbound = await cluster.client.create(_owned(make_pod("web-1-fghij")))
    await cluster.client.evict("default", "web-1-fghij")
    with pytest.raises(errors.NotFound):
        await cluster.client.get(v1.Pod, unbound.metadata.name)


async def test_a_node_pressure_evicted_pod_comes_back_only_if_it_has_no_controller(cluster: MemoryCluster) -> None:
    for pod in (make_pod("bare", node="n1"), _owned(make_pod("web-1-abcde", node="n1"))):
        created = await cluster.client.create(pod)
        created.status.phase, created.status.reason = "Failed", "Evicted"
        await cluster.client.update_status(created)
    controller = EvictionReplacementController(cluster.client, cluster.api.pods)
    async with running(controller):
        await eventually(lambda: controller.metrics.replacements.labels("Evicted")._value.get() == 1)
        await controller.quiesced()
    bare = await cluster.client.get(v1.Pod, "bare")
    assert bare.status.phase == "Pending" and not bare.spec.node_name  # its new incarnation
    owned = await cluster.client.get(v1.Pod, "web-1-abcde")
    assert (owned.status.phase, owned.spec.node_name) == ("Failed", "n1")  # left for its ReplicaSet


async def test_evicting_an_unbound_pod_replaces_it_at_once(cluster: MemoryCluster) -> None:
    old = await cluster.client.create(make_pod("waiting"))
    new = await cluster.client.evict("default", "waiting")
    assert new.metadata.uid != old.metadata.uid and new.metadata.name == "waiting"


async def test_replace_swaps_in_a_new_incarnation_and_says_why(cluster: MemoryCluster) -> None:
    await cluster.client.create(make_node("n1"))
    old = await cluster.client.create(make_pod("lost", node="n1"))
    new = await cluster.api.pods.replace(old, "NodeLost", "node n1 is unreachable")
    assert new.metadata.uid != old.metadata.uid and not new.spec.node_name
    assert (await cluster.client.get(v1.Pod, "lost")).metadata.uid == new.metadata.uid
    events = await events_about(cluster, "lost")
    assert [e.message for e in events] == [f"replaced {old.metadata.uid} → {new.metadata.uid}: node n1 is unreachable"]
    assert events[0].source.component == "node-lifecycle-controller"
    with pytest.raises(errors.Conflict):
        await cluster.api.pods.replace(old, "NodeLost", "again, from a stale read")


async def test_bind_refuses_a_replaced_or_terminating_pod(cluster: MemoryCluster) -> None:
    await cluster.client.create(make_node("n1"))
    pod = await cluster.client.create(make_pod("b"))
    with pytest.raises(errors.Conflict, match="the pod was replaced"):
        await cluster.client.bind("default", "b", "some-other-uid", "n1")
    bound = await cluster.client.bind("default", "b", pod.metadata.uid, "n1")
    assert bound.spec.node_name == "n1"
    assert any(c.type == "PodScheduled" and c.status == "True" for c in bound.status.conditions)
    with pytest.raises(errors.Conflict, match="already assigned"):
        await cluster.client.bind("default", "b", pod.metadata.uid, "n1")


async def test_watch_sends_bookmarks_and_rejects_a_garbage_revision(cluster: MemoryCluster) -> None:
    with pytest.raises(errors.BadRequest, match='invalid resourceVersion "abc"'):
        async for _ in cluster.client.watch(v1.Pod, resource_version="abc"):
            pass

    async def first_bookmark() -> str:
        async for event in cluster.client.watch(v1.Pod, bookmark_seconds=0.05):
            if event.type == "BOOKMARK":
                return event.resource_version
        raise AssertionError("watch ended")

    assert int(await asyncio.wait_for(first_bookmark(), 5)) > 0


async def test_events_expire_with_their_lease(cluster: MemoryCluster) -> None:
    event = v1.Event(metadata=v1.ObjectMeta(name="e1"), reason="Test", message="hello",
                     involved_object=v1.ObjectReference(kind="Pod", name="x", namespace="default"))
    await cluster.client.create(event)
    cluster.clock.t += 3599
    await cluster.client.get(v1.Event, "e1")
    cluster.clock.t += 2
    with pytest.raises(errors.NotFound):
        await cluster.client.get(v1.Event, "e1")


async def test_a_closed_store_is_unavailable(cluster: MemoryCluster) -> None:
    await cluster.store.close()
    with pytest.raises(errors.Unavailable):
        await cluster.client.get(v1.Pod, "x")


async def test_the_memory_store_reads_any_revision_not_yet_compacted() -> None:
    store = MemoryStore()
    first = await store.put(b"/p/a", b"a1")
    await store.put(b"/p/b", b"b1")
    await store.put(b"/q/x", b"x")  # outside the prefix
    then, _ = await store.list(b"/p/")
    await store.put(b"/p/a", b"a2")
    assert await store.txn([], [Delete(b"/p/b")]) is not None
    await store.put(b"/p/c", b"c1")
    at = store.revision - 3  # before a2, the delete and c1
    kvs, seen = await store.list(b"/p/", at)
    assert seen == at and kvs == then  # values and mod/create revisions as they were
    assert [(kv.key, kv.value) for kv in (await store.list(b"/p/", first))[0]] == [(b"/p/a", b"a1")]
    assert [kv.value for kv in (await store.list(b"/p/"))[0]] == [b"a2", b"c1"]
    with pytest.raises(errors.BadRequest):
        await store.list(b"/p/", store.revision + 1)
    await store.compact(store.revision - 1)
    with pytest.raises(errors.Gone):
        await store.list(b"/p/", at)
    assert [kv.value for kv in (await store.list(b"/p/", store.revision - 1))[0]] == [b"a2"]
