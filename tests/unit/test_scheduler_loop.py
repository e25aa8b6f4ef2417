"""The whole scheduler (informers, queue, cache, binder, status) against an in-memory API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from controlplane.testing import InMemoryApi
from podlab import errors
from podlab.client import Informer
from podlab.v1 import objects_pb2 as v1
from scheduler import Scheduler, SchedulerConfig
from scheduler.testing import make_node, make_pod
from tests.support.waiting import eventually

pytestmark = pytest.mark.unit

TIMEOUT = 10.0


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(body(), 30))


def _seen_all(informer: Informer, objects: list[Any]) -> bool:
    """Whether `informer` has had the watch event of every write to `objects` (deletions aside)."""
    latest = max((int(o.metadata.resource_version) for o in objects), default=0)
    return int(informer.resource_version or 0) >= latest


async def settled(client: InMemoryApi, sched: Scheduler) -> None:
    """Wait until the scheduler has seen every pod and node write, has nothing left to do and has
    written its events: from then on nothing happens until the cluster changes."""
    await eventually(lambda: sched.idle() and _seen_all(sched.pod_informer, client.pods())
                     and _seen_all(sched.node_informer, client.objects(v1.Node)))
    await sched.events.flush()


@contextlib.asynccontextmanager
async def scheduler_on(client: InMemoryApi, **overrides: Any) -> AsyncIterator[Scheduler]:
    config = SchedulerConfig(leader_elect=False, **overrides)
    sched = Scheduler(client, config)
    task = asyncio.create_task(sched.run())
    try:
        async with asyncio.timeout(TIMEOUT):
            await sched.ready.wait()
        yield sched
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def node_of(client: InMemoryApi, name: str) -> str:
    return client.pod(name).spec.node_name


def condition(client: InMemoryApi, name: str) -> tuple[str, str, str] | None:
    for c in client.pod(name).status.conditions:
        if c.type == "PodScheduled":
            return c.status, c.reason, c.message
    return None


def events_for(client: InMemoryApi, name: str, reason: str) -> list[v1.Event]:
    return [e for e in client.events() if e.involved_object.name == name and e.reason == reason]


def test_pods_that_fit_are_bound_and_get_a_scheduled_event() -> None:
    async def body() -> None:
        client = InMemoryApi()
        client.create_now(make_node("node1"))
        async with scheduler_on(client):
            client.create_now(make_pod("x", cpu="100m", memory="64Mi"))
            await eventually(lambda: node_of(client, "x") == "node1")
            await eventually(lambda: bool(events_for(client, "x", "Scheduled")))
            event = events_for(client, "x", "Scheduled")[0]
            assert event.message == "Successfully assigned default/x to node1"
            assert event.type == "Normal" and event.source.component == "default-scheduler"
    run(body)


def test_exhausted_cluster_marks_pod_unschedulable_with_counted_reasons() -> None:
    async def body() -> None:
        client = InMemoryApi()
        client.create_now(make_node("node1", cpu="1"))
        client.create_now(make_node("master1", taints=[("node-role", "master", "NoSchedule")]))
        client.create_now(make_node("master2", taints=[("node-role", "master", "NoSchedule")]))
        async with scheduler_on(client):
            client.create_now(make_pod("big", cpu="2"))
            want = ("False", "Unschedulable",
                    "0/3 nodes are available: 1 Insufficient cpu, "
                    "2 node(s) had untolerated taint {node-role: master}.")
            await eventually(lambda: condition(client, "big") == want)
            await eventually(lambda: bool(events_for(client, "big", "FailedScheduling")))
            event = events_for(client, "big", "FailedScheduling")[0]
            assert event.type == "Warning" and event.message == want[2]
            assert event.metadata.name.startswith("big.")
            assert event.involved_object.kind == "Pod"
            assert not node_of(client, "big")
    run(body)


def test_unchanged_unschedulable_message_is_written_once() -> None:
    async def body() -> None:
        client = InMemoryApi()
        client.create_now(make_node("node1", cpu="1"))
        async with scheduler_on(client, initial_backoff=0.05, max_backoff=0.05) as sched:
            client.create_now(make_pod("big", cpu="2"))
            await eventually(lambda: condition(client, "big") is not None)
            # A new node changes the answer: written once more.
            client.create_now(make_node("node2", cpu="1"))
            want = ("False", "Unschedulable", "0/2 nodes are available: 2 Insufficient cpu.")
            await eventually(lambda: condition(client, "big") == want)
            await settled(client, sched)
            # A node change that frees nothing retries the pod; the answer is the same, so nothing is written.
            attempts = sched.metrics.attempts_with("unschedulable")
            node2 = client.get_now(v1.Node, "node2")
            node2.metadata.labels["zone"] = "b"
            client.update_now(node2)
            await eventually(lambda: sched.metrics.attempts_with("unschedulable") > attempts)
            await settled(client, sched)
            assert condition(client, "big") == want
            assert [e.count for e in events_for(client, "big", "FailedScheduling")] == [1, 1]
            assert client.calls["update_status"] == 2
    run(body)


def test_node_selector_places_pod_on_matching_node() -> None:
    async def body() -> None:
        client = InMemoryApi()
        client.create_now(make_node("plain"))
        client.create_now(make_node("fast", labels={"disktype": "ssd"}))
        async with scheduler_on(client):
            for i in range(5):
                client.create_now(make_pod(f"p{i}", node_selector={"disktype": "ssd"}))
            client.create_now(make_pod("nowhere", node_selector={"disktype": "nvme"}))
            await eventually(lambda: all(node_of(client, f"p{i}") == "fast" for i in range(5)))
            await eventually(lambda: condition(client, "nowhere") == (
                "False", "Unschedulable",
                "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."))
    run(body)


def test_tolerating_pod_lands_on_tainted_node_and_others_do_not() -> None:
    async def body() -> None:
        client = InMemoryApi()
        client.create_now(make_node("gpu", taints=[("gpu", "true", "NoSchedule")]))
        async with scheduler_on(client):
            client.create_now(make_pod("plain"))
            client.create_now(make_pod("tolerant", tolerations=[("gpu", "Equal", "true",
                                                                  "NoSchedule")]))
            await eventually(lambda: node_of(client, "tolerant") == "gpu")
            await eventually(lambda: condition(client, "plain") is not None)
            assert not node_of(client, "plain")
    run(body)


def test_host_port_pods_spread_and_third_stays_pending_on_two_nodes() -> None:
    async def body() -> None:
        client = InMemoryApi()
        client.create_now(make_node("node1"))
        client.create_now(make_node("node2"))
        async with scheduler_on(client):
            for i in range(3):
                client.create_now(make_pod(f"web{i}", host_port=80))
            await eventually(lambda: sum(bool(node_of(client, f"web{i}")) for i in range(3)) == 2)
            await eventually(lambda: any(condition(client, f"web{i}") is not None and
                                    condition(client, f"web{i}")[0] == "False"
                                    for i in range(3)))
            placed = sorted(node_of(client, f"web{i}") for i in range(3))
            assert placed == ["", "node1", "node2"]
            pending = next(f"web{i}" for i in range(3) if not node_of(client, f"web{i}"))
            assert condition(client, pending) == (
                "False", "Unschedulable",
                "0/2 nodes are available: 2 node(s) didn't have free ports for the requested "
                "pod ports.")
    run(body)


def test_cordoned_node_gets_no_new_pods() -> None:
    async def body() -> None:
        client = InMemoryApi()
        client.create_now(make_node("node1", unschedulable=True))
        async with scheduler_on(client):
            client.create_now(make_pod("x"))
            await eventually(lambda: condition(client, "x") == (
                "False", "Unschedulable",
                "0/1 nodes are available: 1 node(s) were unschedulable."))
            # Uncordon: the node update moves the pod back and it binds.
            uncordoned = client.get_now(v1.Node, "node1")
            uncordoned.spec.unschedulable = False
            client.update_now(uncordoned)
            await eventually(lambda: node_of(client, "x") == "node1")
    run(body)


def test_pending_pod_is_scheduled_when_a_node_frees_up() -> None:
    async def body() -> None:
        client = InMemoryApi()
        client.create_now(make_node("node1", cpu="1"))
        async with scheduler_on(client, initial_backoff=0.1, max_backoff=0.2):
            client.create_now(make_pod("first", cpu="800m"))
            await eventually(lambda: node_of(client, "first") == "node1")
            client.create_now(make_pod("second", cpu="800m"))
            await eventually(lambda: condition(client, "second") is not None)
            client.delete_now(v1.Pod, "first")
            await eventually(lambda: node_of(client, "second") == "node1")
    run(body)


def test_finished_pod_releases_its_resources() -> None:
    async def body() -> None:
        client = InMemoryApi()
        client.create_now(make_node("node1", cpu="1"))
        async with scheduler_on(client, initial_backoff=0.1, max_backoff=0.2):
            client.create_now(make_pod("job", cpu="800m"))
            await eventually(lambda: node_of(client, "job") == "node1")
            client.create_now(make_pod("next", cpu="800m"))
            await eventually(lambda: condition(client, "next") is not None)
            done = client.pod("job")
            done.status.phase = "Succeeded"
            client.update_status_now(done)
            await eventually(lambda: node_of(client, "next") == "node1")
    run(body)


def test_higher_priority_pod_gets_the_last_slot() -> None:
    async def body() -> None:
        client = InMemoryApi()
        client.create_now(make_pod("low", cpu="800m", priority=0))
        client.create_now(make_pod("high", cpu="800m", priority=1000))
        client.create_now(make_node("node1", cpu="1"))
        async with scheduler_on(client):
            await eventually(lambda: node_of(client, "high") == "node1")
            await eventually(lambda: condition(client, "low") is not None)
            assert not node_of(client, "low")
    run(body)


def test_lost_bind_forgets_assumption_and_retries() -> None:
    async def body() -> None:
        client = InMemoryApi()
        client.create_now(make_node("node1", cpu="1"))
        client.fail["bind"].append(errors.Unavailable("connection reset"))
        async with scheduler_on(client, initial_backoff=0.05, max_backoff=0.1) as sched:
            client.create_now(make_pod("x", cpu="800m"))
            await eventually(lambda: node_of(client, "x") == "node1")
            assert client.calls["bind"] == 2
            node = sched.cache.node("node1")
            assert node is not None and node.req_cpu == 800
    run(body)


def test_pod_replaced_during_bind_is_not_bound_with_stale_uid() -> None:
    async def body() -> None:
        client = InMemoryApi()
        client.create_now(make_node("node1"))
        client.fail["bind"].append(errors.NotFound('pods "x" not found'))
        async with scheduler_on(client, initial_backoff=0.05, max_backoff=0.1):
            client.create_now(make_pod("x"))
            await eventually(lambda: node_of(client, "x") == "node1")
    run(body)


def test_pods_for_other_schedulers_are_left_alone() -> None:
    async def body() -> None:
        client = InMemoryApi()
        client.create_now(make_node("node1"))
        async with scheduler_on(client) as sched:
            client.create_now(make_pod("theirs", scheduler_name="my-scheduler"))
            client.create_now(make_pod("ours"))
            await eventually(lambda: node_of(client, "ours") == "node1")
            await settled(client, sched)
            assert not node_of(client, "theirs")
            assert condition(client, "theirs") is None
    run(body)


def test_best_effort_pods_spread_over_nodes() -> None:
    async def body() -> None:
        client = InMemoryApi()
        for i in range(3):
            client.create_now(make_node(f"node{i}"))
        async with scheduler_on(client):
            for i in range(9):
                client.create_now(make_pod(f"p{i}", labels={"app": "web"}))
            await eventually(lambda: all(node_of(client, f"p{i}") for i in range(9)))
            counts = {n: 0 for n in ("node0", "node1", "node2")}
            for i in range(9):
                counts[node_of(client, f"p{i}")] += 1
            assert sorted(counts.values()) == [3, 3, 3]
    run(body)
