"""The scheduling queue: priority then FIFO, back-off, and moves on cluster events."""

from __future__ import annotations

import asyncio

import pytest

from scheduler.framework import PodInfo
from scheduler.queue import SchedulingQueue
from scheduler.testing import make_pod

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def info(name: str, priority: int | None = None, **kw: object) -> PodInfo:
    pod = make_pod(name, priority=priority, **kw)
    pod.metadata.uid = f"uid-{name}"
    return PodInfo(pod)


def drain(q: SchedulingQueue) -> list[str]:
    names = []
    while (qp := q.pop_nowait()) is not None:
        names.append(qp.info.name)
        q.done(qp)
    return names


def test_pods_pop_by_priority_then_arrival() -> None:
    q = SchedulingQueue(clock=Clock())
    for name, prio in (("a", None), ("b", 10), ("c", None), ("d", 10), ("e", 100)):
        q.add(info(name, prio))
    assert drain(q) == ["e", "b", "d", "a", "c"]


def test_backoff_doubles_from_one_second_up_to_ten() -> None:
    q = SchedulingQueue()
    assert [q.backoff_duration(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_unschedulable_pod_waits_for_a_cluster_event() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(info("a"))
    qp = q.pop_nowait()
    assert qp is not None
    q.add_unschedulable(qp)
    clock.now += 20  # long past its back-off: still parked, nothing changed
    assert q.pop_nowait() is None
    assert q.pending()["unschedulable"] == 1
    assert q.move_all_to_active("NodeAdd") == 1
    assert drain(q) == ["a"]


def test_event_during_backoff_moves_pod_to_backoff_then_active() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(info("a"))
    qp = q.pop_nowait()
    assert qp is not None
    q.add_unschedulable(qp)
    clock.now += 0.5
    q.move_all_to_active("NodeUpdate")
    assert q.pending()["backoff"] == 1 and q.pop_nowait() is None
    clock.now += 0.6  # 1 s after the failure
    assert drain(q) == ["a"]


def test_event_while_in_flight_sends_failed_pod_to_backoff_not_unschedulable() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(info("a"))
    qp = q.pop_nowait()
    assert qp is not None
    q.move_all_to_active("NodeAdd")  # arrives while "a" is being scheduled
    q.add_unschedulable(qp)
    assert q.pending()["backoff"] == 1 and q.pending()["unschedulable"] == 0


def test_long_waiting_unschedulable_pods_are_flushed_after_30_seconds() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(info("a"))
    qp = q.pop_nowait()
    assert qp is not None
    q.add_unschedulable(qp)
    clock.now += 29
    assert q.pop_nowait() is None
    clock.now += 2
    assert drain(q) == ["a"]


def test_status_only_update_does_not_retry_an_unschedulable_pod() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(info("a"))
    qp = q.pop_nowait()
    assert qp is not None
    q.add_unschedulable(qp)
    clock.now += 5
    same = info("a")
    same.pod.status.phase = "Pending"
    q.add(same)
    assert q.pending()["unschedulable"] == 1
    q.add(info("a", node_selector={"disk": "ssd"}))  # a spec change: worth another try
    assert drain(q) == ["a"]


def test_deleted_pod_leaves_the_queue_even_in_flight() -> None:
    q = SchedulingQueue(clock=Clock())
    q.add(info("a"))
    q.add(info("b"))
    q.delete("default/b")
    qp = q.pop_nowait()
    assert qp is not None and qp.info.name == "a"
    q.delete("default/a")
    q.add_unschedulable(qp)  # the failure of a deleted pod is dropped
    assert len(q) == 0 and "default/a" not in q


def test_attempts_grow_with_each_pop() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(info("a"))
    for attempt in (1, 2, 3):
        qp = q.pop_nowait()
        assert qp is not None and qp.attempts == attempt
        q.add_backoff(qp)
        clock.now += q.backoff_duration(attempt)


def test_pop_waits_until_a_pod_arrives() -> None:
    async def body() -> None:
        q = SchedulingQueue()
        waiter = asyncio.create_task(q.pop())
        await asyncio.sleep(0)  # a turn of the loop: the waiter finds nothing and parks (no time needs to pass)
        assert not waiter.done()
        q.add(info("a"))
        qp = await asyncio.wait_for(waiter, 2)
        assert qp.info.name == "a"
    asyncio.run(body())


def test_pop_wakes_when_backoff_expires() -> None:
    async def body() -> None:
        q = SchedulingQueue(initial_backoff=0.05)
        q.add(info("a"))
        qp = await asyncio.wait_for(q.pop(), 2)
        q.add_backoff(qp)
        again = await asyncio.wait_for(q.pop(), 2)
        assert again is qp and again.attempts == 2
    asyncio.run(body())
