"""Scheduling end to end: real etcd, control plane and scheduler; agents on the simulated runtime."""

from __future__ import annotations

import asyncio
import signal

import pytest

from podlab import errors
from podlab.client import Client
from podlab.v1 import objects_pb2 as v1
from tests.support.cluster import eventually, pods_by_name, running_everywhere, sleeper
from tests.support.procs import python_component

pytestmark = pytest.mark.integration


def requesting(name: str, cpu: str = "", host_port: int = 0) -> v1.Pod:
    pod = sleeper(name)
    if cpu:
        pod.spec.containers[0].resources.requests["cpu"] = cpu
    if host_port:
        pod.spec.containers[0].ports.add(container_port=80, host_port=host_port)
    return pod


async def unschedulable_message(client: Client, name: str) -> str:
    """The PodScheduled=False message of a pending pod, once the scheduler has written it."""
    async def check() -> str | None:
        pod = await client.get(v1.Pod, name)
        for cond in pod.status.conditions:
            if cond.type == "PodScheduled" and cond.status == "False" and cond.reason == "Unschedulable":
                return cond.message
        return None
    return await eventually(check, 20, f"{name} to be marked Unschedulable")


async def change_node(client: Client, name: str, change) -> None:
    for _ in range(10):
        node = await client.get(v1.Node, name)
        change(node)
        try:
            await client.update(node)
            return
        except errors.Conflict:
            continue
    raise AssertionError(f"could not update node {name}")


async def test_pods_fill_cpu_then_wait_and_get_scheduled_when_room_frees_up(make_cluster) -> None:
    _, client = await make_cluster(2, agent_flags=("--cpu", "1"))
    names = [f"cpu-{i}" for i in range(4)]
    for name in names:
        await client.create(requesting(name, cpu="400m"))
    pods = await running_everywhere(client, names)
    assert sorted(p.spec.node_name for p in pods.values()) == ["node1", "node1", "node2", "node2"]
    await client.create(requesting("cpu-extra", cpu="400m"))
    message = await unschedulable_message(client, "cpu-extra")
    assert message == "0/2 nodes are available: 2 Insufficient cpu."
    events, _ = await client.list(v1.Event, "default")
    assert any(e.reason == "FailedScheduling" and e.involved_object.name == "cpu-extra" for e in events)
    await client.delete(v1.Pod, "cpu-0")
    await running_everywhere(client, ["cpu-extra"])


async def test_node_selector_and_affinity_choose_matching_nodes(make_cluster) -> None:
    _, client = await make_cluster(3)
    await change_node(client, "node2", lambda n: n.metadata.labels.update({"disk": "ssd"}))
    ssd = sleeper("wants-ssd")
    ssd.spec.node_selector["disk"] = "ssd"
    not_ssd = sleeper("avoids-ssd")
    term = not_ssd.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution \
        .node_selector_terms.add()
    term.match_expressions.add(key="disk", operator="NotIn", values=["ssd"])
    nowhere = sleeper("wants-gpu")
    nowhere.spec.node_selector["gpu"] = "yes"
    for pod in (ssd, not_ssd, nowhere):
        await client.create(pod)
    pods = await running_everywhere(client, ["wants-ssd", "avoids-ssd"])
    assert pods["wants-ssd"].spec.node_name == "node2"
    assert pods["avoids-ssd"].spec.node_name in ("node1", "node3")
    assert await unschedulable_message(client, "wants-gpu") == \
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."


async def test_taints_repel_pods_that_do_not_tolerate_them(make_cluster) -> None:
    _, client = await make_cluster(2)
    await change_node(client, "node1", lambda n: n.spec.taints.add(key="dedicated", value="db", effect="NoSchedule"))
    names = [f"plain-{i}" for i in range(4)]
    for name in names:
        await client.create(sleeper(name))
    tolerant = sleeper("tolerant")
    tolerant.spec.node_name = ""
    tolerant.spec.tolerations.add(key="dedicated", operator="Equal", value="db", effect="NoSchedule")
    tolerant.spec.node_selector["kubernetes.io/hostname"] = "node1"
    await client.create(tolerant)
    pods = await running_everywhere(client, [*names, "tolerant"])
    assert {pods[n].spec.node_name for n in names} == {"node2"}
    assert pods["tolerant"].spec.node_name == "node1"


async def test_host_port_pods_spread_over_nodes_and_the_third_waits(make_cluster) -> None:
    _, client = await make_cluster(2)
    for i in range(3):
        await client.create(requesting(f"web-{i}", host_port=80))

    async def two_running() -> dict[str, v1.Pod] | None:
        pods = await pods_by_name(client)
        running = {n: p for n, p in pods.items() if p.status.phase == "Running"}
        return running if len(running) == 2 else None

    running = await eventually(two_running, 30, "two hostPort pods Running")
    assert {p.spec.node_name for p in running.values()} == {"node1", "node2"}
    waiting = ({"web-0", "web-1", "web-2"} - set(running)).pop()
    assert await unschedulable_message(client, waiting) == \
        "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports."


async def test_cordoned_node_gets_no_new_pods(make_cluster) -> None:
    _, client = await make_cluster(2)
    await change_node(client, "node1", lambda n: setattr(n.spec, "unschedulable", True))
    names = [f"after-cordon-{i}" for i in range(4)]
    for name in names:
        await client.create(sleeper(name))
    pods = await running_everywhere(client, names)
    assert {p.spec.node_name for p in pods.values()} == {"node2"}


async def test_scheduler_leader_failover_binds_every_pod_exactly_once(make_cluster) -> None:
    cluster, client = await make_cluster(3)
    standby = python_component("scheduler-standby", "scheduler", "--server", cluster.server_address,
                               "--metrics-port", "0", "--identity", "standby")
    try:
        bindings: dict[str, set[tuple[str, str]]] = {}  # name -> {(uid, node)}

        async def record() -> None:
            _, rv = await client.list(v1.Pod, "default")
            async for event in client.watch(v1.Pod, "default", resource_version=rv):
                pod = event.object
                if pod is not None and pod.spec.node_name:
                    bindings.setdefault(pod.metadata.name, set()).add((pod.metadata.uid, pod.spec.node_name))

        watcher = asyncio.create_task(record())
        names = [f"ha-{i}" for i in range(60)]
        for name in names[:30]:
            await client.create(sleeper(name))
        lease = await client.get("Lease", "podlab-scheduler", "kube-system")
        leader = lease.spec.holder_identity
        victim = standby if leader == "standby" else cluster.scheduler
        assert victim is not None
        victim.signal(signal.SIGKILL)
        for name in names[30:]:
            await client.create(sleeper(name))
        await running_everywhere(client, names, timeout=60)
        new_leader = (await client.get("Lease", "podlab-scheduler", "kube-system")).spec.holder_identity
        watcher.cancel()
    finally:
        standby.stop()
    assert new_leader != leader
    assert set(bindings) == set(names)
    doubles = {n: b for n, b in bindings.items() if len(b) != 1}
    assert not doubles, f"pods bound more than once: {doubles}"
