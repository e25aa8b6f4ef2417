"""The API's contract: the same cases run on every store and every client.

`tests/unit/test_registry.py` runs them on the registry over a MemoryStore
through the LocalClient; `tests/integration/test_api.py` on real etcd through
the gRPC API server. Each tier provides a `cluster` fixture with `.client`
(an ApiClient), `compact(revision)` and `lease_of(key)`.
"""

from __future__ import annotations

import asyncio

import pytest

from podlab import errors
from podlab.client import Informer
from podlab.v1 import objects_pb2 as v1


def make_pod(name: str, node: str = "", **labels: str) -> v1.Pod:
    pod = v1.Pod(metadata=v1.ObjectMeta(name=name, labels=labels))
    pod.spec.containers.add(name="app", image="busybox", command=["sleep", "3600"])
    pod.spec.node_name = node
    return pod


def make_node(name: str) -> v1.Node:
    return v1.Node(metadata=v1.ObjectMeta(name=name))


async def test_create_stamps_identity_defaults_and_revision(cluster) -> None:
    pod = await cluster.client.create(make_pod("web"))
    assert pod.metadata.uid and pod.metadata.namespace == "default"
    assert int(pod.metadata.resource_version) > 0
    assert pod.spec.restart_policy == "Always"
    assert pod.status.phase == "Pending" and pod.status.qos_class == "BestEffort"
    got = await cluster.client.get(v1.Pod, "web")
    assert got == pod


async def test_seed_invalid_pod_gives_kubernetes_message_and_stores_nothing(cluster) -> None:
    pod = v1.Pod(metadata=v1.ObjectMeta(name="hello-world"))
    pod.spec.restart_policy = "Mybe"
    pod.spec.containers.add(name="hello", image="ubuntu:14.04", command=["/bin/echo", "Hello", "World"])
    with pytest.raises(errors.Invalid) as err:
        await cluster.client.create(pod)
    assert str(err.value) == ('The Pod "hello-world" is invalid: spec.restartPolicy: Unsupported value: '
                              '"Mybe": supported values: "Always", "OnFailure", "Never"')
    with pytest.raises(errors.NotFound):
        await cluster.client.get(v1.Pod, "hello-world")


async def test_duplicate_create_is_already_exists(cluster) -> None:
    await cluster.client.create(make_pod("dup"))
    with pytest.raises(errors.AlreadyExists, match='pods "dup" already exists'):
        await cluster.client.create(make_pod("dup"))


async def test_create_in_missing_namespace_is_not_found(cluster) -> None:
    pod = make_pod("x")
    pod.metadata.namespace = "nowhere"
    with pytest.raises(errors.NotFound, match='namespaces "nowhere" not found'):
        await cluster.client.create(pod)


async def test_concurrent_updates_lose_nothing(cluster) -> None:
    """Two writers race on one object; Conflict makes the loser retry, and both changes stay."""
    await cluster.client.create(make_pod("shared"))

    async def add_label(key: str) -> int:
        conflicts = 0
        while True:
            pod = await cluster.client.get(v1.Pod, "shared")
            pod.metadata.labels[key] = "yes"
            await asyncio.sleep(0)  # give the other writer a chance to interleave
            try:
                await cluster.client.update(pod)
                return conflicts
            except errors.Conflict:
                conflicts += 1

    results = await asyncio.gather(*(add_label(f"writer{i}") for i in range(8)))
    pod = await cluster.client.get(v1.Pod, "shared")
    assert {f"writer{i}" for i in range(8)} <= set(pod.metadata.labels)
    assert sum(results) > 0, "the writers never raced; the test proves nothing"


async def test_stale_update_is_conflict(cluster) -> None:
    pod = await cluster.client.create(make_pod("stale"))
    fresh = await cluster.client.get(v1.Pod, "stale")
    fresh.metadata.labels["a"] = "1"
    await cluster.client.update(fresh)
    pod.metadata.labels["b"] = "2"
    with pytest.raises(errors.Conflict):
        await cluster.client.update(pod)


async def test_list_filters_by_label_and_field_selectors(cluster) -> None:
    await cluster.client.create(make_node("n1"))
    await cluster.client.create(make_pod("a", node="n1", app="web"))
    await cluster.client.create(make_pod("b", app="db"))
    await cluster.client.create(make_pod("c", node="n1", app="db"))
    names = lambda items: sorted(p.metadata.name for p in items)  # noqa: E731
    assert names((await cluster.client.list(v1.Pod, "default", "app=db"))[0]) == ["b", "c"]
    assert names((await cluster.client.list(v1.Pod, "", "", "spec.nodeName=n1"))[0]) == ["a", "c"]
    assert names((await cluster.client.list(v1.Pod, "", "app in (web,db)", "spec.nodeName="))[0]) == ["b"]
    assert names((await cluster.client.list(v1.Pod, "", "", "metadata.name=b"))[0]) == ["b"]
    with pytest.raises(errors.BadRequest):
        await cluster.client.list(v1.Pod, "", "app in (", "")


async def test_watch_resumes_from_revision_without_missing_events(cluster) -> None:
    _, revision = await cluster.client.list(v1.Pod)
    await cluster.client.create(make_pod("w1"))
    await cluster.client.create(make_pod("w2"))
    seen: list[tuple[str, str]] = []

    async def first_two() -> str:
        async for event in cluster.client.watch(v1.Pod, resource_version=revision):
            seen.append((event.type, event.object.metadata.name))
            if len(seen) == 2:
                return event.resource_version
        raise AssertionError("watch ended")

    resume_at = await asyncio.wait_for(first_two(), 10)
    # "Disconnect", write while nobody watches, then resume from the last revision seen.
    await cluster.client.delete(v1.Pod, "w1")
    await cluster.client.create(make_pod("w3"))

    async def two_more() -> None:
        async for event in cluster.client.watch(v1.Pod, resource_version=resume_at):
            seen.append((event.type, event.object.metadata.name))
            if len(seen) == 4:
                return

    await asyncio.wait_for(two_more(), 10)
    assert seen == [("ADDED", "w1"), ("ADDED", "w2"), ("DELETED", "w1"), ("ADDED", "w3")]


async def test_watch_with_selector_reports_objects_leaving_as_deleted(cluster) -> None:
    await cluster.client.create(make_node("n1"))
    pod = await cluster.client.create(make_pod("mover"))
    events: list[str] = []

    async def watch() -> None:
        async for event in cluster.client.watch(v1.Pod, field_selector="spec.nodeName=",
                                                resource_version=pod.metadata.resource_version):
            events.append(event.type)
            return

    task = asyncio.create_task(watch())
    await cluster.client.bind("default", "mover", pod.metadata.uid, "n1")
    await asyncio.wait_for(task, 10)
    assert events == ["DELETED"]


async def test_compacted_revision_is_gone_and_informer_relists(cluster) -> None:
    _, old_revision = await cluster.client.list(v1.Pod)
    for i in range(3):
        await cluster.client.create(make_pod(f"c{i}"))
    _, revision = await cluster.client.list(v1.Pod)
    await cluster.compact(int(revision))

    with pytest.raises(errors.Gone):
        async for _ in cluster.client.watch(v1.Pod, resource_version=old_revision):
            pass

    informer = Informer(cluster.client, v1.Pod)
    informer.resource_version = old_revision  # as if it had watched from long ago
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.synced.wait(), 10)
        assert sorted(informer.cache) == ["default/c0", "default/c1", "default/c2"]
        await cluster.client.create(make_pod("c3"))
        for _ in range(100):
            if "default/c3" in informer.cache:
                break
            await asyncio.sleep(0.05)
        assert "default/c3" in informer.cache
    finally:
        task.cancel()


async def test_unbound_pod_is_deleted_at_once(cluster) -> None:
    await cluster.client.create(make_pod("free"))
    _, removed = await cluster.client.delete(v1.Pod, "free")
    assert removed
    with pytest.raises(errors.NotFound):
        await cluster.client.get(v1.Pod, "free")


async def test_bound_pod_deletion_is_graceful_until_confirmed(cluster) -> None:
    await cluster.client.create(make_node("n1"))
    pod = make_pod("busy", node="n1")
    pod.spec.termination_grace_period_seconds = 20
    pod = await cluster.client.create(pod)
    marked, removed = await cluster.client.delete(v1.Pod, "busy")
    assert not removed
    assert marked.metadata.deletion_grace_period_seconds == 20
    assert marked.metadata.deletion_timestamp.seconds > 0
    still = await cluster.client.get(v1.Pod, "busy")
    assert still.metadata.HasField("deletion_timestamp")
    # The agent confirms with grace 0 and the pod's uid.
    _, removed = await cluster.client.delete(v1.Pod, "busy", grace_period_seconds=0, uid=pod.metadata.uid)
    assert removed
    with pytest.raises(errors.NotFound):
        await cluster.client.get(v1.Pod, "busy")


async def test_forced_deletion_removes_bound_pod_at_once(cluster) -> None:
    await cluster.client.create(make_node("n1"))
    await cluster.client.create(make_pod("forced", node="n1"))
    _, removed = await cluster.client.delete(v1.Pod, "forced", grace_period_seconds=0)
    assert removed


async def test_delete_with_stale_uid_precondition_is_conflict(cluster) -> None:
    await cluster.client.create(make_pod("p"))
    with pytest.raises(errors.Conflict):
        await cluster.client.delete(v1.Pod, "p", grace_period_seconds=0, uid="not-this-one")


async def test_bind_is_compare_and_swap(cluster) -> None:
    await cluster.client.create(make_node("n1"))
    await cluster.client.create(make_node("n2"))
    pod = await cluster.client.create(make_pod("b"))
    results = await asyncio.gather(
        cluster.client.bind("default", "b", pod.metadata.uid, "n1"),
        cluster.client.bind("default", "b", pod.metadata.uid, "n2"), return_exceptions=True)
    assert sum(isinstance(r, v1.Pod) for r in results) == 1
    assert sum(isinstance(r, errors.Conflict) for r in results) == 1
    with pytest.raises(errors.NotFound):
        pod2 = await cluster.client.create(make_pod("b2"))
        await cluster.client.bind("default", "b2", pod2.metadata.uid, "ghost-node")


async def test_update_status_keeps_spec_and_update_keeps_status(cluster) -> None:
    pod = await cluster.client.create(make_pod("s"))
    pod.status.phase = "Running"
    pod.spec.containers[0].image = "ignored-by-status-update"
    updated = await cluster.client.update_status(pod)
    assert updated.status.phase == "Running" and updated.spec.containers[0].image == "busybox"
    updated.status.phase = "Failed"
    updated.metadata.labels["x"] = "y"
    again = await cluster.client.update(updated)
    assert again.status.phase == "Running" and again.metadata.labels["x"] == "y"


async def test_events_carry_a_ttl_lease(cluster) -> None:
    event = v1.Event(metadata=v1.ObjectMeta(name="e1"), reason="Test", message="hello",
                     involved_object=v1.ObjectReference(kind="Pod", name="x", namespace="default"))
    created = await cluster.client.create(event)
    lease = await cluster.lease_of(b"/registry/events/default/e1")
    assert lease, "events must be attached to a TTL lease"
    created.count = 2  # a repeat of the event, as the kubelet records it
    await cluster.client.update(created)
    assert await cluster.lease_of(b"/registry/events/default/e1") == lease, "an update must keep the event's TTL"


async def test_unknown_kind_is_a_clear_error(cluster) -> None:
    with pytest.raises(errors.BadRequest, match='no kind "Widget"'):
        await cluster.client.get("Widget", "x")


# -- finalizers and deletion propagation (generic: any kind) ------------------------------------

def held_config_map(name: str, *finalizers: str) -> v1.ConfigMap:
    return v1.ConfigMap(metadata=v1.ObjectMeta(name=name, finalizers=list(finalizers)), data={"k": "v"})


async def _without_finalizer(cluster, kind, name: str, finalizer: str):
    obj = await cluster.client.get(kind, name)
    kept = [f for f in obj.metadata.finalizers if f != finalizer]
    del obj.metadata.finalizers[:]
    obj.metadata.finalizers.extend(kept)
    return await cluster.client.update(obj)


async def test_an_object_with_finalizers_stays_until_an_update_removes_the_last(cluster) -> None:
    await cluster.client.create(held_config_map("held", "example.com/a", "example.com/b"))
    marked, removed = await cluster.client.delete(v1.ConfigMap, "held")
    assert not removed and marked.metadata.HasField("deletion_timestamp")
    assert marked.metadata.deletion_grace_period_seconds == 0
    again, removed = await cluster.client.delete(v1.ConfigMap, "held")
    assert not removed and again.metadata.deletion_timestamp == marked.metadata.deletion_timestamp
    await _without_finalizer(cluster, v1.ConfigMap, "held", "example.com/a")
    still = await cluster.client.get(v1.ConfigMap, "held")
    assert list(still.metadata.finalizers) == ["example.com/b"] and still.data["k"] == "v"
    await _without_finalizer(cluster, v1.ConfigMap, "held", "example.com/b")
    with pytest.raises(errors.NotFound):
        await cluster.client.get(v1.ConfigMap, "held")


async def test_no_finalizer_may_be_added_to_an_object_being_deleted(cluster) -> None:
    await cluster.client.create(held_config_map("closing", "example.com/a"))
    await cluster.client.delete(v1.ConfigMap, "closing")
    obj = await cluster.client.get(v1.ConfigMap, "closing")
    obj.metadata.finalizers.append("example.com/late")
    with pytest.raises(errors.Invalid) as err:
        await cluster.client.update(obj)
    assert str(err.value) == (
        'The ConfigMap "closing" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added '
        'if the object is being deleted, found new finalizers []string{"example.com/late"}')


async def test_a_confirmed_pod_with_a_finalizer_waits_for_it(cluster) -> None:
    await cluster.client.create(make_node("n1"))
    pod = make_pod("kept", node="n1")
    pod.metadata.finalizers.append("example.com/hold")
    pod = await cluster.client.create(pod)
    await cluster.client.delete(v1.Pod, "kept")
    # The agent's confirmation does not remove it while the finalizer is there.
    _, removed = await cluster.client.delete(v1.Pod, "kept", grace_period_seconds=0, uid=pod.metadata.uid)
    assert not removed
    held = await cluster.client.get(v1.Pod, "kept")
    assert held.metadata.deletion_grace_period_seconds == 0
    await _without_finalizer(cluster, v1.Pod, "kept", "example.com/hold")
    with pytest.raises(errors.NotFound):
        await cluster.client.get(v1.Pod, "kept")


async def test_propagation_policy_sets_the_garbage_collectors_finalizers(cluster) -> None:
    await cluster.client.create(held_config_map("orphaning", "example.com/a"))
    marked, _ = await cluster.client.delete(v1.ConfigMap, "orphaning", propagation_policy="Orphan")
    assert list(marked.metadata.finalizers) == ["example.com/a", "orphan"]
    await cluster.client.create(held_config_map("fg"))
    marked, removed = await cluster.client.delete(v1.ConfigMap, "fg", propagation_policy="Foreground")
    assert not removed and list(marked.metadata.finalizers) == ["foregroundDeletion"]
    # A later Background delete takes the collector's finalizer away, and with it the object.
    _, removed = await cluster.client.delete(v1.ConfigMap, "fg", propagation_policy="Background")
    assert removed


async def test_an_unknown_propagation_policy_is_refused_and_changes_nothing(cluster) -> None:
    await cluster.client.create(held_config_map("cm"))
    with pytest.raises(errors.Invalid) as err:
        await cluster.client.delete(v1.ConfigMap, "cm", propagation_policy="Sideways")
    assert str(err.value) == ('The DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
                              '"Sideways": supported values: "Foreground", "Background", "Orphan", "nil"')
    cm = await cluster.client.get(v1.ConfigMap, "cm")
    assert not cm.metadata.HasField("deletion_timestamp")


async def test_orphan_and_foreground_finalizers_together_are_invalid(cluster) -> None:
    with pytest.raises(errors.Invalid, match="finalizer orphan and foregroundDeletion cannot be both set"):
        await cluster.client.create(held_config_map("both", "orphan", "foregroundDeletion"))
