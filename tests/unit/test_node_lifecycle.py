"""The node lifecycle controller on the in-memory API, on a fake clock: loss, replacement, static stability."""

from __future__ import annotations

import pytest

from controlplane.controllers.nodelifecycle import NodeLifecycleConfig, NodeLifecycleController
from controlplane.podverbs import heartbeat_key
from controlplane.testing import InMemoryApi
from podlab import errors
from podlab.v1 import objects_pb2 as v1
from scheduler.testing import make_node

NODES = ("n1", "n2", "n3")
CONFIG = NodeLifecycleConfig(node_grace=4, pod_eviction_timeout=4, blind_after=1)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class World:
    """Three nodes with a pod each, their heartbeats, and the controller, all on one fake clock."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.cluster = InMemoryApi(clock=self.clock)
        self.controller = NodeLifecycleController(self.cluster.api, CONFIG, clock=self.clock)
        self.beats = 0
        for name in NODES:
            self.cluster.create_now(make_node(name))
            pod = v1.Pod(metadata=v1.ObjectMeta(name=f"pod-{name}"))
            pod.spec.containers.add(name="app", image="busybox")
            pod.spec.node_name = name
            self.cluster.create_now(pod)
        self.uids = {p.metadata.name: p.metadata.uid for p in self.cluster.pods()}

    async def beat(self, *nodes: str) -> None:
        for name in nodes:
            self.beats += 1
            await self.cluster.store.put(heartbeat_key(name), str(self.beats).encode())

    async def passes(self, seconds: float, beating: tuple[str, ...] = NODES, step: float = 0.5) -> None:
        """Run the controller every `step` s for `seconds`, the `beating` nodes renewing as they go."""
        end = self.clock.t + seconds
        while self.clock.t < end:
            self.clock.t += step
            if beating and not self.cluster.store.unavailable:
                await self.beat(*beating)
            try:
                await self.controller.reconcile()
            except errors.Unavailable:
                pass

    def replaced(self) -> set[str]:
        return {p.metadata.name for p in self.cluster.pods() if p.metadata.uid != self.uids[p.metadata.name]}

    def unknown(self) -> set[str]:
        return {n.metadata.name for n in self.cluster.objects(v1.Node)
                if any(c.type == "Ready" and c.status == "Unknown" for c in n.status.conditions)}


@pytest.fixture
async def world() -> World:
    w = World()
    await w.passes(2)
    return w


async def test_a_silent_node_is_lost_and_its_pod_replaced(world: World) -> None:
    await world.passes(3.5, beating=("n1", "n2"))
    assert world.unknown() == set(), "not before node_grace"
    await world.passes(1, beating=("n1", "n2"))
    assert world.unknown() == {"n3"}
    await world.passes(4.5, beating=("n1", "n2"))
    assert world.replaced() == {"pod-n3"}


async def test_a_storage_outage_is_not_counted_against_any_node(world: World) -> None:
    world.cluster.store.unavailable = True
    await world.passes(30)  # far past node_grace + pod_eviction_timeout
    world.cluster.store.unavailable = False
    # The first passes after the outage come before any agent could renew again.
    await world.passes(3, beating=())
    assert world.unknown() == set() and world.replaced() == set()
    await world.passes(10)
    assert world.unknown() == set() and world.replaced() == set()
    assert world.controller.metrics.blind_spells._value.get() == 1


async def test_after_an_outage_a_node_that_stays_silent_is_lost_a_full_grace_later(world: World) -> None:
    world.cluster.store.unavailable = True
    await world.passes(30)
    world.cluster.store.unavailable = False
    await world.passes(3.5, beating=("n1", "n2"))
    assert world.unknown() == set()
    await world.passes(1.5, beating=("n1", "n2"))
    assert world.unknown() == {"n3"}


async def test_every_node_silent_at_once_replaces_nothing(world: World) -> None:
    await world.passes(20, beating=())
    assert world.unknown() == set(NODES)
    assert world.replaced() == set()
    assert world.controller.metrics.held_back._value.get() > 0


async def test_a_lost_node_s_owned_pod_is_deleted_for_its_controller_to_replace() -> None:
    w = World()
    owned = v1.Pod(metadata=v1.ObjectMeta(name="web-abcde"))
    owned.metadata.owner_references.add(api_version="apps/v1", kind="ReplicaSet", name="web", uid="rs-uid",
                                        controller=True)
    owned.spec.containers.add(name="app", image="busybox")
    owned.spec.node_name = "n3"
    w.cluster.create_now(owned)
    await w.passes(2)
    await w.passes(10, beating=("n1", "n2"))
    names = {p.metadata.name for p in w.cluster.pods()}
    assert "web-abcde" not in names, "deleted, not replaced under its name"
    assert w.replaced() == {"pod-n3"}, "a bare pod keeps podlab's same-name replacement"
