"""The node lifecycle controller on the in-memory API, on a manual clock: loss, replacement, static stability.

The controller runs as in the controller manager (informers, queue, one worker); the test steps the
clock, which fires the controller's own requeues, and then waits for it to quiesce: no sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from controlplane.controllers.framework import ManualClock
from controlplane.controllers.nodelifecycle import NodeLifecycleConfig, NodeLifecycleController
from controlplane.podverbs import heartbeat_key
from controlplane.testing import InMemoryApi
from podlab import names
from podlab.v1 import objects_pb2 as v1
from scheduler.testing import make_node
from tests.support.controllers import running
from tests.support.waiting import eventually

NODES = ("n1", "n2", "n3")
CONFIG = NodeLifecycleConfig(node_grace=4, pod_eviction_timeout=4, blind_after=1, monitor_period=0.5)


def pod_on(name: str, node: str) -> v1.Pod:
    pod = v1.Pod(metadata=v1.ObjectMeta(name=name))
    pod.spec.containers.add(name="app", image="busybox")
    pod.spec.node_name = node
    return pod


def owned_by(pod: v1.Pod, kind: str, owner: str) -> v1.Pod:
    pod.metadata.owner_references.add(api_version="apps/v1", kind=kind, name=owner, uid=f"{owner}-uid",
                                      controller=True)
    return pod


class World:
    """Three nodes with a pod each, their heartbeats, and the controller, all on one manual clock."""

    def __init__(self) -> None:
        self.clock = ManualClock(100.0)
        self.cluster = InMemoryApi(clock=self.clock)
        api = self.cluster.api
        self.controller = NodeLifecycleController(self.cluster, CONFIG, api.heartbeats, api.pods, api.events,
                                                  clock=self.clock)
        self.beats = 0
        for name in NODES:
            self.cluster.create_now(make_node(name))
            self.cluster.create_now(pod_on(f"pod-{name}", name))
        self.uids: dict[str, str] = {}
        self.remember()

    def remember(self) -> None:
        self.uids = {p.metadata.name: p.metadata.uid for p in self.cluster.pods()}

    async def beat(self, *nodes: str) -> None:
        for name in nodes:
            self.beats += 1
            await self.cluster.store.put(heartbeat_key(name), str(self.beats).encode())

    async def settle(self) -> None:
        if self.cluster.store.unavailable:
            # Nothing can be listed, so the informers cannot be compared: the pass has run when
            # the queue is idle again (its next pass is a delayed key).
            await eventually(self.controller.queue.idle, interval=0)
        else:
            await self.controller.quiesced()

    async def passes(self, seconds: float, beating: tuple[str, ...] = NODES, step: float = 0.5) -> None:
        """Step the clock `step` s at a time for `seconds` (one monitor pass per step), the `beating`
        nodes renewing as they go, and let the controller finish each pass."""
        end = self.clock() + seconds
        while self.clock() < end:
            self.clock.step(step)
            if beating and not self.cluster.store.unavailable:
                await self.beat(*beating)
            await self.settle()

    def replaced(self) -> set[str]:
        return {p.metadata.name for p in self.cluster.pods()
                if p.metadata.name in self.uids and p.metadata.uid != self.uids[p.metadata.name]}

    def unknown(self) -> set[str]:
        return {n.metadata.name for n in self.cluster.objects(v1.Node)
                if any(c.type == "Ready" and c.status == "Unknown" for c in n.status.conditions)}


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = World()
    async with running(w.controller):
        await w.settle()
        await w.passes(2)
        yield w


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


async def test_nodes_lost_one_pass_apart_until_every_node_is_lost_replace_nothing(world: World) -> None:
    # n3 is lost alone first (its evictions are let through), then the rest fall silent before
    # its pods' time is up: with every node lost, nothing is replaced, however long it lasts.
    await world.passes(1, beating=("n1", "n2"))
    await world.passes(4, beating=())
    assert world.unknown() == {"n3"}
    await world.passes(20, beating=())
    assert world.unknown() == set(NODES) and world.replaced() == set()


async def test_a_silent_node_s_pods_lose_ready_at_once(world: World) -> None:
    pod = world.cluster.pod("pod-n3")
    pod.status.conditions.add(type="Ready", status="True")
    world.cluster.update_status_now(pod)
    await world.passes(4.5, beating=("n1", "n2"))
    ready = next(c for c in world.cluster.pod("pod-n3").status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "NodeLost")
    node = world.cluster.get_now(v1.Node, "n3")
    assert {(t.key, t.effect) for t in node.spec.taints} == {
        (names.TAINT_UNREACHABLE, "NoSchedule"), (names.TAINT_UNREACHABLE, "NoExecute")}


async def test_a_pod_is_replaced_when_its_own_toleration_runs_out_not_before(world: World) -> None:
    patient = pod_on("patient", "n3")
    patient.spec.tolerations.add(key=names.TAINT_UNREACHABLE, operator="Exists", effect="NoExecute",
                                 toleration_seconds=10)
    world.cluster.create_now(patient)
    world.remember()
    await world.passes(4.5 + 4.5, beating=("n1", "n2"))
    assert world.replaced() == {"pod-n3"}, "the default 4 s are up; its 10 s are not"
    await world.passes(5.5, beating=("n1", "n2"))
    assert world.replaced() == {"pod-n3", "patient"}


async def test_heartbeats_coming_back_untaint_the_node_and_replace_nothing(world: World) -> None:
    await world.passes(5, beating=("n1", "n2"))
    assert world.unknown() == {"n3"}
    await world.passes(10)
    node = world.cluster.get_now(v1.Node, "n3")
    assert not node.spec.taints and world.replaced() == set()


async def test_a_lost_node_s_owned_pod_is_deleted_for_its_controller_to_replace(world: World) -> None:
    world.cluster.create_now(owned_by(pod_on("web-abcde", "n3"), "ReplicaSet", "web"))
    world.remember()
    await world.passes(10, beating=("n1", "n2"))
    names_ = {p.metadata.name for p in world.cluster.pods()}
    assert "web-abcde" not in names_, "deleted, not replaced under its name"
    assert world.replaced() == {"pod-n3"}, "a bare pod keeps podlab's same-name replacement"


async def test_a_lost_node_s_stateful_set_pod_waits_for_the_node_to_be_fenced(world: World) -> None:
    world.cluster.create_now(owned_by(pod_on("db-0", "n3"), "StatefulSet", "db"))
    world.remember()
    await world.passes(10, beating=("n1", "n2"))
    assert world.cluster.pod("db-0").metadata.uid == world.uids["db-0"], "never two of one identity"
    assert world.replaced() == {"pod-n3"}


async def test_a_finished_pod_on_a_lost_node_stays_finished(world: World) -> None:
    done = world.cluster.create_now(pod_on("done", "n3"))
    done.status.phase = names.SUCCEEDED
    world.cluster.update_status_now(done)
    world.remember()
    await world.passes(10, beating=("n1", "n2"))
    assert world.cluster.pod("done").metadata.uid == world.uids["done"]
    assert world.replaced() == {"pod-n3"}
