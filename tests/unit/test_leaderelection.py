"""Leader election over Lease objects, against the in-memory API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from controlplane.testing import InMemoryApi
from podlab import errors
from podlab.leaderelection import LeaderElector
from podlab.v1 import objects_pb2 as v1

pytestmark = pytest.mark.unit

FAST = {"lease_duration": 0.4, "renew_deadline": 0.3, "retry_period": 0.05}


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(body(), 20))


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def elector(client: InMemoryApi, identity: str, **kw: Any) -> LeaderElector:
    return LeaderElector(client, "podlab-scheduler", "kube-system", identity,
                         **{**FAST, **kw})


class Work:
    """A leader's callback that records when it runs and is cancelled."""

    def __init__(self) -> None:
        self.running = False
        self.starts = 0
        self.cancels = 0

    async def __call__(self) -> None:
        self.running, self.starts = True, self.starts + 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancels += 1
            raise
        finally:
            self.running = False


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def lease(client: InMemoryApi) -> v1.Lease:
    found: v1.Lease = client.get_now(v1.Lease, "podlab-scheduler", "kube-system")
    return found


def test_first_candidate_creates_the_lease_and_leads() -> None:
    async def body() -> None:
        client, work = InMemoryApi(), Work()
        task = asyncio.create_task(elector(client, "a").run(work))
        await until(lambda: work.running)
        assert lease(client).spec.holder_identity == "a"
        assert lease(client).kind == "Lease"
        await stop(task)
        # Cancelling releases the lease so a successor need not wait it out.
        assert lease(client).spec.holder_identity == ""
    run(body)


def test_only_one_of_two_candidates_leads() -> None:
    async def body() -> None:
        client, wa, wb = InMemoryApi(), Work(), Work()
        ta = asyncio.create_task(elector(client, "a").run(wa))
        tb = asyncio.create_task(elector(client, "b").run(wb))
        await until(lambda: wa.running or wb.running)
        await asyncio.sleep(1.0)  # several lease durations: the holder keeps renewing
        assert wa.running != wb.running
        assert wa.starts + wb.starts == 1
        await stop(ta)
        await stop(tb)
    run(body)


def test_candidate_takes_over_after_holder_stops_renewing() -> None:
    async def body() -> None:
        client, wa, wb = InMemoryApi(), Work(), Work()
        a = elector(client, "a")
        ta = asyncio.create_task(a.run(wa))
        await until(lambda: wa.running)
        tb = asyncio.create_task(elector(client, "b").run(wb))
        # "a" is cut off from the API: every call fails from now on.
        client.fail["get"].extend([errors.Unavailable("partitioned")] * 10_000)
        client.fail["update"].extend([errors.Unavailable("partitioned")] * 10_000)
        loop = asyncio.get_running_loop()
        cut_at = loop.time()
        await until(lambda: not wa.running)
        assert wa.cancels == 1  # stepped down by itself within renew_deadline
        assert loop.time() - cut_at < FAST["lease_duration"] + 0.2
        await stop(ta)  # "a" stays away (its release cannot reach the API either)
        client.fail["get"].clear()
        client.fail["update"].clear()
        await until(lambda: wb.running)
        assert lease(client).spec.holder_identity == "b"
        assert lease(client).spec.lease_transitions >= 1
        await stop(tb)
    run(body)


def test_candidate_waits_a_full_lease_duration_on_its_own_clock() -> None:
    async def body() -> None:
        client = InMemoryApi()
        held = v1.Lease(kind="Lease")
        held.metadata.name, held.metadata.namespace = "podlab-scheduler", "kube-system"
        held.spec.holder_identity = "ghost"
        held.spec.lease_duration_seconds = 1
        # A renewTime far in the past must not matter: only our own observation counts.
        held.spec.renew_time.FromSeconds(0)
        client.create_now(held)
        b = elector(client, "b")
        loop = asyncio.get_running_loop()
        assert not await b.try_acquire_or_renew()
        seen = loop.time()
        while not await b.try_acquire_or_renew():
            await asyncio.sleep(0.02)
        assert loop.time() - seen >= FAST["lease_duration"] - 0.05
        assert lease(client).spec.holder_identity == "b"
    run(body)


def test_conflicting_write_loses_the_race() -> None:
    async def body() -> None:
        client = InMemoryApi()
        a, b = elector(client, "a"), elector(client, "b")
        assert await a.try_acquire_or_renew()
        client.fail["update"].append(errors.Conflict("the object has been modified"))
        assert not await a.try_acquire_or_renew()
        assert not await b.try_acquire_or_renew()  # "a" renewed moments ago
    run(body)


def test_invalid_timings_are_rejected() -> None:
    with pytest.raises(ValueError):
        LeaderElector(InMemoryApi(), "x", identity="a", lease_duration=1,
                      renew_deadline=2, retry_period=0.5)
