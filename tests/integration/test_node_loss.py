"""Node loss with real processes: etcd, control plane, scheduler, agents on the simulated runtime.

Timeouts: node_grace 2 s + pod_eviction_timeout 2 s; agents heartbeat every
0.5 s and fence after 3 s without a renewal (strictly less than 4 s).
"""

from __future__ import annotations

import time

import pytest

from podlab.client import Client
from podlab.v1 import objects_pb2 as v1
from tests.integration.conftest import EVICTION, FENCE, NODE_GRACE
from tests.support.cluster import eventually, pods_by_name, running_everywhere, sleeper
from tests.support.overlap import OverlapWatcher

pytestmark = pytest.mark.integration


async def test_pods_of_powered_off_node_come_back_once_with_new_uids(make_cluster) -> None:
    cluster, client = await make_cluster(3)
    names = [f"web-{i}" for i in range(6)]
    for name in names:
        await client.create(sleeper(name))
    # A finished pod and a pod that tolerates the lost node for an hour, both on node1.
    await client.create(sleeper("done", node="node1", restart="Never", command="exit 0"))
    patient = sleeper("patient", node="node1")
    patient.spec.tolerations.add(key="node.kubernetes.io/unreachable", operator="Exists",
                                 effect="NoExecute", toleration_seconds=3600)
    await client.create(patient)
    before = await running_everywhere(client, names + ["patient"])
    await eventually(lambda: _phase(client, "done", "Succeeded"), 20, "the finished pod to succeed")
    victims = {n: p.metadata.uid for n, p in before.items() if p.spec.node_name == "node1" and n in names}
    assert victims, "the scheduler put nothing on node1; spread the pods"

    agents = {n: f"127.0.0.1:{a.port}" for n, a in cluster.agents.items()}
    with OverlapWatcher(agents) as watcher:
        lost_at = time.monotonic()
        cluster.power_off("node1")

        async def replaced() -> dict[str, v1.Pod] | None:
            pods = await pods_by_name(client)
            done = all(pods[n].metadata.uid != uid and pods[n].status.phase == "Running"
                       and pods[n].spec.node_name not in ("", "node1") for n, uid in victims.items())
            return pods if done else None

        after = await eventually(replaced, NODE_GRACE + EVICTION + 20, "replacements Running")
        failover = time.monotonic() - lost_at

    assert not watcher.violations, f"a pod ran on two nodes at once: {watcher.violations[:3]}"
    for name in names:
        if name not in victims:
            assert after[name].metadata.uid == before[name].metadata.uid, f"{name} was moved needlessly"
    assert after["done"].metadata.uid == (await client.get(v1.Pod, "done")).metadata.uid
    assert after["done"].status.phase == "Succeeded" and after["done"].spec.node_name == "node1"
    assert after["patient"].metadata.uid == before["patient"].metadata.uid
    assert after["patient"].spec.node_name == "node1"
    events, _ = await client.list(v1.Event, "default")
    for name, old_uid in victims.items():
        replaced_events = [e for e in events if e.involved_object.name == name and e.reason == "NodeLost"]
        assert len(replaced_events) == 1, f"{name} replaced {len(replaced_events)} times"
        assert old_uid in replaced_events[0].message and after[name].metadata.uid in replaced_events[0].message
    assert failover < NODE_GRACE + EVICTION + 10
    plane = cluster.control_plane
    assert plane.metric('podlab_pod_replacements_total{reason="NodeLost"}') == len(victims)
    assert plane.metric("podlab_node_losses_total") == 1
    assert plane.metric("podlab_pod_replacement_delay_seconds_count") == len(victims)


async def _phase(client: Client, name: str, phase: str) -> bool:
    return (await client.get(v1.Pod, name)).status.phase == phase


async def test_partitioned_agent_fences_before_replacements_and_cleans_up_on_heal(make_cluster) -> None:
    cluster, client = await make_cluster(3)
    names = [f"part-{i}" for i in range(6)]
    for name in names:
        await client.create(sleeper(name))
    before = await running_everywhere(client, names)
    victims = {n: p.metadata.uid for n, p in before.items() if p.spec.node_name == "node2"}
    assert victims
    agents = {n: f"127.0.0.1:{a.port}" for n, a in cluster.agents.items()}
    with OverlapWatcher(agents) as watcher:
        cut_at = time.monotonic()
        cluster.agents["node2"].proxy.cut()

        async def fenced() -> bool:
            return not watcher.running_on("node2")

        await eventually(fenced, FENCE + 3, "node2 to fence its pods")
        fenced_after = time.monotonic() - cut_at

        async def replaced() -> bool:
            pods = await pods_by_name(client)
            return all(pods[n].metadata.uid != uid and pods[n].status.phase == "Running"
                       for n, uid in victims.items())

        await eventually(replaced, NODE_GRACE + EVICTION + 20, "replacements Running")
        assert cluster.agents["node2"].process.alive(), "a partitioned agent must keep running"
        cluster.agents["node2"].proxy.heal()

        async def rejoined() -> bool:
            node = await client.get(v1.Node, "node2")
            ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)
            return ready and not any(t.key == "node.kubernetes.io/unreachable" for t in node.spec.taints)

        await eventually(rejoined, 20, "node2 Ready and untainted again")
        rejoined_at = time.monotonic()
        await eventually(lambda: watcher.samples[-1].at > rejoined_at, 10, "a sample taken after the rejoin")
        stale = {pod: uids for pod, uids in watcher.running_on("node2").items()
                 if uids & set(victims.values())}
    assert fenced_after < NODE_GRACE + EVICTION, f"fenced only after {fenced_after:.1f}s"
    assert not watcher.violations, f"a pod ran on two nodes at once: {watcher.violations[:3]}"
    assert not stale, f"containers of replaced pods left on node2: {stale}"


async def test_frozen_agent_fences_on_thaw_before_anything_else(make_cluster) -> None:
    cluster, client = await make_cluster(2)
    names = [f"ice-{i}" for i in range(4)]
    for name in names:
        await client.create(sleeper(name))
    before = await running_everywhere(client, names)
    victims = {n: p.metadata.uid for n, p in before.items() if p.spec.node_name == "node1"}
    assert victims
    agents = {n: f"127.0.0.1:{a.port}" for n, a in cluster.agents.items()}
    with OverlapWatcher(agents) as watcher:
        watcher.frozen.add("node1")
        cluster.freeze("node1")

        async def replaced() -> bool:
            pods = await pods_by_name(client)
            return all(pods[n].metadata.uid != uid and pods[n].status.phase == "Running"
                       for n, uid in victims.items())

        await eventually(replaced, NODE_GRACE + EVICTION + 20, "replacements Running")
        thawed_at = time.monotonic()
        cluster.thaw("node1")
        watcher.frozen.discard("node1")

        async def fenced() -> bool:
            return not (set().union(*watcher.running_on("node1").values()) & set(victims.values())) \
                if watcher.running_on("node1") else True

        await eventually(fenced, 5, "the thawed agent to stop its stale pods")
        stopped_after_thaw = time.monotonic() - thawed_at
    # While frozen, the agent cannot fence: its (simulated) pods overlap the replacements
    # until it thaws. On thaw it must fence first — within a second or two.
    assert stopped_after_thaw < 2.5, f"stale pods ran {stopped_after_thaw:.1f}s after thaw"


async def test_mass_failure_is_rate_limited(make_cluster) -> None:
    cluster, client = await make_cluster(3, "--secondary-eviction-rate", "0.125")
    names = [f"mass-{i}" for i in range(6)]
    for name in names:
        await client.create(sleeper(name))
    before = await running_everywhere(client, names)
    lost_nodes = ("node1", "node2")
    victims = {n: (p.spec.node_name, p.metadata.uid) for n, p in before.items() if p.spec.node_name in lost_nodes}
    assert {node for node, _ in victims.values()} == set(lost_nodes), "need pods on both lost nodes"
    for node in lost_nodes:
        cluster.power_off(node)
    replaced_at: dict[str, float] = {}

    async def all_replaced() -> bool:
        pods = await pods_by_name(client)
        for name, (_node, uid) in victims.items():
            if name not in replaced_at and pods[name].metadata.uid != uid:
                replaced_at[name] = time.monotonic()
        return len(replaced_at) == len(victims)

    await eventually(all_replaced, NODE_GRACE + EVICTION + 30, "every pod replaced")
    per_node = {node: [replaced_at[n] for n, (nd, _) in victims.items() if nd == node] for node in lost_nodes}
    first, second = sorted(min(v) for v in per_node.values())
    # 2 of 3 nodes lost is a partial disruption: nodes go at 0.125/s, 8 s apart; the first
    # node's pods go at its eviction deadline (+2 s), so replacements land >= ~6 s apart.
    assert second - first >= 4.5, f"the second node's pods followed after only {second - first:.1f}s"


async def test_when_every_node_is_lost_nothing_is_replaced(make_cluster) -> None:
    cluster, client = await make_cluster(2)
    await client.create(sleeper("lonely"))
    before = await running_everywhere(client, ["lonely"])
    for node in ("node1", "node2"):
        cluster.power_off(node)

    async def unknown() -> bool:
        items, _ = await client.list(v1.Node)
        return all(any(c.type == "Ready" and c.status == "Unknown" for c in n.status.conditions) for n in items)

    await eventually(unknown, NODE_GRACE + 10, "both nodes Unknown")
    lost_at = time.monotonic()

    async def controller_held_back() -> bool:
        # Past the eviction deadline, with every node lost, each pass counts a hold-back.
        return (time.monotonic() - lost_at > EVICTION + 1
                and cluster.control_plane.metric("podlab_replacements_held_back_total") > 0)

    await eventually(controller_held_back, EVICTION + 15, "the controller to hold back")
    after = await client.get(v1.Pod, "lonely")
    assert after.metadata.uid == before["lonely"].metadata.uid
