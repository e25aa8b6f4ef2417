"""The scheduler against the real API server on real etcd (fixture `cluster` from conftest).

Assumes pytest-asyncio (pyproject sets asyncio_mode = "auto") and a `cluster`
fixture with `.client` (podlab.client.Client) and `.server_address`.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from podlab import errors
from podlab.client import Client
from podlab.v1 import objects_pb2 as v1
from scheduler import Scheduler, SchedulerConfig
from scheduler.testing import make_node, make_pod

pytestmark = pytest.mark.integration

TIMEOUT = 20.0


async def until(check: Callable[[], Awaitable[bool]], timeout: float = TIMEOUT) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def add_node(client: Client, node: v1.Node) -> None:
    created = await client.create(node)
    created.status.CopyFrom(node.status)
    await client.update_status(created)


@contextlib.asynccontextmanager
async def running(client: Client, **overrides: Any) -> AsyncIterator[Scheduler]:
    sched = Scheduler(client, SchedulerConfig(**{"leader_elect": False, **overrides}))
    task = asyncio.create_task(sched.run())
    try:
        yield sched
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def node_of(client: Client, name: str, namespace: str = "default") -> str:
    try:
        return (await client.get(v1.Pod, name, namespace)).spec.node_name
    except errors.NotFound:
        return ""


async def scheduled_condition(client: Client, name: str) -> tuple[str, str, str] | None:
    pod = await client.get(v1.Pod, name, "default")
    for c in pod.status.conditions:
        if c.type == "PodScheduled":
            return c.status, c.reason, c.message
    return None


async def test_scheduler_binds_pods_to_real_nodes(cluster: Any) -> None:
    client = cluster.client
    suffix = uuid.uuid4().hex[:6]
    await add_node(client, make_node(f"n1-{suffix}", cpu="2"))
    async with running(client) as sched:
        await asyncio.wait_for(sched.ready.wait(), TIMEOUT)
        await client.create(make_pod(f"web-{suffix}", cpu="500m"))

        async def bound() -> bool:
            return await node_of(client, f"web-{suffix}") == f"n1-{suffix}"
        await until(bound)

        async def scheduled_event() -> bool:
            events, _ = await client.list(v1.Event, "default")
            return any(e.reason == "Scheduled" and e.involved_object.name == f"web-{suffix}"
                       for e in events)
        await until(scheduled_event)


async def test_unschedulable_pod_gets_condition_and_event_from_real_server(cluster: Any) -> None:
    client = cluster.client
    suffix = uuid.uuid4().hex[:6]
    await add_node(client, make_node(f"small-{suffix}", cpu="1"))
    async with running(client) as sched:
        await asyncio.wait_for(sched.ready.wait(), TIMEOUT)
        await client.create(make_pod(f"huge-{suffix}", cpu="512"))

        async def marked() -> bool:
            cond = await scheduled_condition(client, f"huge-{suffix}")
            return (cond is not None and cond[:2] == ("False", "Unschedulable")
                    and "Insufficient cpu" in cond[2])
        await until(marked)


async def test_only_the_lease_holder_schedules_and_a_standby_takes_over(cluster: Any) -> None:
    client = cluster.client
    suffix = uuid.uuid4().hex[:6]
    await add_node(client, make_node(f"ha-{suffix}", cpu="8"))
    fast = {"leader_elect": True, "lease_name": f"sched-{suffix}", "lease_duration": 1.0,
            "renew_deadline": 0.8, "retry_period": 0.2}
    other = Client(cluster.server_address)
    a = Scheduler(client, SchedulerConfig(identity="a", **fast))
    b = Scheduler(other, SchedulerConfig(identity="b", **fast))
    tasks = {a: asyncio.create_task(a.run()), b: asyncio.create_task(b.run())}
    try:
        async def one_leader() -> bool:
            return a.ready.is_set() != b.ready.is_set()
        await until(one_leader)
        leader, standby = (a, b) if a.ready.is_set() else (b, a)
        await client.create(make_pod(f"before-{suffix}"))

        async def first_bound() -> bool:
            return bool(await node_of(client, f"before-{suffix}"))
        await until(first_bound)
        tasks[leader].cancel()  # the leader stops and releases its lease

        async def standby_leads() -> bool:
            return standby.ready.is_set()
        await until(standby_leads)
        await client.create(make_pod(f"after-{suffix}"))

        async def second_bound() -> bool:
            return bool(await node_of(client, f"after-{suffix}"))
        await until(second_bound)
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        await other.close()
