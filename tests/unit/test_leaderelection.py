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
from tests.support.waiting import eventually

pytestmark = pytest.mark.unit

FAST = {"lease_duration": 0.4, "renew_deadline": 0.3, "retry_period": 0.05}


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(body(), 20))


class Clock:
    """Time that moves only when the test says: the electors' clock and sleep.

    `parked()` counts the sleeps not yet due: once every elector's loop is
    parked, nothing more happens until the clock moves.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self._sleeps: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self.now + seconds, wake)
        self._sleeps.append(entry)
        try:
            await wake
        finally:
            self._sleeps.remove(entry)

    def parked(self) -> int:
        return sum(1 for due, wake in self._sleeps if due > self.now and not wake.done())

    async def step(self, seconds: float, loops: int) -> None:
        """Move the clock on, then wait until all `loops` electors are parked again."""
        self.now += seconds
        for due, wake in self._sleeps:
            if due <= self.now and not wake.done():
                wake.set_result(None)
        await eventually(lambda: self.parked() == loops)


def elector(client: InMemoryApi, identity: str, clock: Clock | None = None, **kw: Any) -> LeaderElector:
    timing: dict[str, Any] = {"clock": clock, "sleep": clock.sleep} if clock is not None else {}
    return LeaderElector(client, "podlab-scheduler", "kube-system", identity,
                         **{**FAST, **timing, **kw})


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
        await eventually(lambda: work.running)
        assert lease(client).spec.holder_identity == "a"
        assert lease(client).kind == "Lease"
        await stop(task)
        # Cancelling releases the lease so a successor need not wait it out.
        assert lease(client).spec.holder_identity == ""
    run(body)


def test_only_one_of_two_candidates_leads() -> None:
    async def body() -> None:
        client, clock, wa, wb = InMemoryApi(), Clock(), Work(), Work()
        ta = asyncio.create_task(elector(client, "a", clock).run(wa))
        tb = asyncio.create_task(elector(client, "b", clock).run(wb))
        await eventually(lambda: (wa.running or wb.running) and clock.parked() == 2)
        reads = client.calls["get"]
        # Several lease durations on both clocks: the holder keeps renewing, the other keeps waiting.
        for _ in range(round(3 * FAST["lease_duration"] / FAST["retry_period"])):
            await clock.step(FAST["retry_period"], loops=2)
        assert wa.running != wb.running
        assert wa.starts + wb.starts == 1
        assert client.calls["get"] - reads >= 30  # both looked, every round
        await stop(ta)
        await stop(tb)
    run(body)


def test_candidate_takes_over_after_holder_stops_renewing() -> None:
    async def body() -> None:
        client, clock, wa, wb = InMemoryApi(), Clock(), Work(), Work()
        ta = asyncio.create_task(elector(client, "a", clock).run(wa))
        await eventually(lambda: wa.running and clock.parked() == 1)
        tb = asyncio.create_task(elector(client, "b", clock).run(wb))
        await eventually(lambda: clock.parked() == 2)
        # "a" is cut off from the API: every call fails from now on.
        client.fail["get"].extend([errors.Unavailable("partitioned")] * 10_000)
        client.fail["update"].extend([errors.Unavailable("partitioned")] * 10_000)
        cut_at = clock.now
        while wa.running:
            await clock.step(FAST["retry_period"], loops=2)
        assert wa.cancels == 1  # stepped down by itself within renew_deadline
        assert clock.now - cut_at <= FAST["renew_deadline"] + FAST["retry_period"]
        await stop(ta)  # "a" stays away (its release cannot reach the API either)
        client.fail["get"].clear()
        client.fail["update"].clear()
        while not wb.running:
            await clock.step(FAST["retry_period"], loops=1)
        # "b" waits a full lease duration after it last saw the record change (a renewal before the cut).
        assert clock.now - cut_at >= FAST["lease_duration"]
        assert lease(client).spec.holder_identity == "b"
        assert lease(client).spec.lease_transitions >= 1
        await stop(tb)
    run(body)


def test_candidate_waits_a_full_lease_duration_on_its_own_clock() -> None:
    async def body() -> None:
        client, clock = InMemoryApi(), Clock()
        held = v1.Lease(kind="Lease")
        held.metadata.name, held.metadata.namespace = "podlab-scheduler", "kube-system"
        held.spec.holder_identity = "ghost"
        held.spec.lease_duration_seconds = 1
        # A renewTime far in the past must not matter: only our own observation counts.
        held.spec.renew_time.FromSeconds(0)
        client.create_now(held)
        b = elector(client, "b", clock)
        assert not await b.try_acquire_or_renew()
        clock.now += FAST["lease_duration"] - 0.01
        assert not await b.try_acquire_or_renew()
        clock.now += 0.01
        assert await b.try_acquire_or_renew()
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
