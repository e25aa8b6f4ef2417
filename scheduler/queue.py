"""The scheduling queue: unbound pods, by priority then arrival, with back-off.

Three places a pod can wait, as in Kubernetes:

- active: ready to be tried, a heap ordered by spec.priority (higher first)
  then by when it entered the queue (FIFO);
- backoff: failed recently; it becomes active when its back-off (1 s
  doubling per attempt up to 10 s, by default) runs out;
- unschedulable: no node fits and nothing has changed since. A cluster event
  (`move_all_to_active`: node added or updated, pod deleted or finished)
  moves these to active (or to backoff while they are still backing off); a
  pod left there for `max_unschedulable_seconds` (30 s) is flushed anyway.

A pod popped for scheduling is "in flight" until `done` or a failure puts it
back. If a cluster event arrives while it is in flight, a failure sends it to
backoff rather than unschedulable, so the event is not missed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from scheduler.framework import PodInfo


@dataclass(eq=False)
class QueuedPod:
    """A pod in the queue and its scheduling history."""

    info: PodInfo
    attempts: int = 0
    timestamp: float = 0.0  # entered its current place in the queue
    initial_timestamp: float = 0.0  # first seen by the queue, for end-to-end latency
    seq: int = 0  # FIFO order among equal priorities; also marks stale heap entries
    cycle: int = 0  # the scheduling cycle that last popped it
    deleted: bool = field(default=False)

    @property
    def key(self) -> str:
        return self.info.key


class SchedulingQueue:
    def __init__(self, initial_backoff: float = 1.0, max_backoff: float = 10.0,
                 max_unschedulable_seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable_seconds = max_unschedulable_seconds
        self._clock = clock
        self._seq = itertools.count()
        self._active: list[tuple[int, int, str]] = []  # (-priority, seq, key)
        self._active_pods: dict[str, QueuedPod] = {}
        self._backoff: list[tuple[float, int, str]] = []  # (expiry, seq, key)
        self._backoff_pods: dict[str, QueuedPod] = {}
        self._unschedulable: dict[str, QueuedPod] = {}
        self._in_flight: dict[str, QueuedPod] = {}
        self._scheduling_cycle = 0
        self._move_request_cycle = -1
        self._next_unschedulable_scan = 0.0
        self._wakeup = asyncio.Event()
        self._closed = False

    # -- sizes ---------------------------------------------------------------------

    def pending(self) -> dict[str, int]:
        """How many pods wait where: active, backoff, unschedulable, in flight."""
        return {"active": len(self._active_pods), "backoff": len(self._backoff_pods),
                "unschedulable": len(self._unschedulable), "in_flight": len(self._in_flight)}

    def __len__(self) -> int:
        return len(self._active_pods) + len(self._backoff_pods) + len(self._unschedulable)

    def __contains__(self, key: str) -> bool:
        return (key in self._active_pods or key in self._backoff_pods
                or key in self._unschedulable or key in self._in_flight)

    def backoff_duration(self, attempts: int) -> float:
        duration = self.initial_backoff
        for _ in range(1, attempts):
            duration *= 2
            if duration >= self.max_backoff:
                return self.max_backoff
        return min(duration, self.max_backoff)

    def _backoff_expiry(self, qp: QueuedPod) -> float:
        return qp.timestamp + self.backoff_duration(qp.attempts)

    # -- informer-facing -------------------------------------------------------------

    def add(self, info: PodInfo) -> None:
        """A pod that needs a node appeared or changed.

        A change to a pod's spec or labels makes a waiting pod worth trying
        again; a status-only change (the scheduler's own condition write) just
        refreshes the stored object.
        """
        key = info.key
        now = self._clock()
        if (qp := self._in_flight.get(key)) is not None:
            if qp.info.uid == info.uid:
                qp.info = info
                return
            qp.deleted = True  # replaced under the same name: the old one is moot
            del self._in_flight[key]
        elif (qp := self._active_pods.get(key)) is not None:
            if qp.info.uid == info.uid:
                if qp.info.priority != info.priority:
                    qp.info = info
                    self._push_active(qp)
                qp.info = info
                return
            del self._active_pods[key]
        elif (qp := self._backoff_pods.get(key)) is not None:
            if qp.info.uid == info.uid:
                qp.info = info
                return
            del self._backoff_pods[key]
        elif (qp := self._unschedulable.get(key)) is not None:
            del self._unschedulable[key]
            if qp.info.uid == info.uid:
                changed = qp.info.signature != info.signature
                qp.info = info
                if not changed:
                    self._unschedulable[key] = qp
                elif now < self._backoff_expiry(qp):
                    self._push_backoff(qp)
                else:
                    self._push_active(qp)
                return
        self._push_active(QueuedPod(info, timestamp=now, initial_timestamp=now))

    def delete(self, key: str, uid: str = "") -> None:
        """The pod is gone, bound, or no longer ours (only this uid, when given)."""
        for place in (self._active_pods, self._backoff_pods, self._unschedulable, self._in_flight):
            qp = place.get(key)
            if qp is not None and (not uid or qp.info.uid == uid):
                qp.deleted = True
                del place[key]

    def move_all_to_active(self, event: str = "") -> int:
        """A cluster change may let unschedulable pods fit: retry them. Returns how many moved."""
        now = self._clock()
        moved = 0
        for qp in list(self._unschedulable.values()):
            del self._unschedulable[qp.key]
            if now < self._backoff_expiry(qp):
                self._push_backoff(qp)
            else:
                self._push_active(qp)
            moved += 1
        self._move_request_cycle = self._scheduling_cycle
        return moved

    # -- scheduler-facing ------------------------------------------------------------

    async def pop(self) -> QueuedPod:
        """The next pod to schedule, waiting for one if none is ready.

        The pod is in flight until `done`, `add_unschedulable` or `add_backoff`.
        Raises asyncio.CancelledError when cancelled, QueueClosed after `close`.
        """
        while True:
            if self._closed:
                raise QueueClosed()
            qp = self.pop_nowait()
            if qp is not None:
                return qp
            now = self._clock()
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), self._next_deadline(now) - now)
            except TimeoutError:
                pass

    def pop_nowait(self) -> QueuedPod | None:
        """Like `pop` but None when no pod is active now (for benchmarks and tests)."""
        self._flush(self._clock())
        while self._active:
            _, seq, key = heapq.heappop(self._active)
            qp = self._active_pods.get(key)
            if qp is None or qp.seq != seq:
                continue
            del self._active_pods[key]
            self._scheduling_cycle += 1
            qp.cycle = self._scheduling_cycle
            qp.attempts += 1
            self._in_flight[key] = qp
            return qp
        return None

    def done(self, qp: QueuedPod) -> None:
        """The pod was assumed onto a node; the queue forgets it."""
        if self._in_flight.get(qp.key) is qp:
            del self._in_flight[qp.key]

    def add_unschedulable(self, qp: QueuedPod) -> None:
        """No node fits: park the pod until the cluster changes (or its back-off, if it did)."""
        if self._in_flight.get(qp.key) is not qp:
            return  # deleted or replaced while in flight
        del self._in_flight[qp.key]
        qp.timestamp = self._clock()
        if self._move_request_cycle >= qp.cycle:
            self._push_backoff(qp)
        else:
            self._unschedulable[qp.key] = qp

    def add_backoff(self, qp: QueuedPod) -> None:
        """Retry after the pod's back-off (after an error, or a lost bind)."""
        if qp.deleted or qp.key in self._active_pods or qp.key in self._backoff_pods \
                or qp.key in self._unschedulable:
            return
        if self._in_flight.get(qp.key) is qp:
            del self._in_flight[qp.key]
        elif qp.key in self._in_flight:
            return
        qp.timestamp = self._clock()
        self._push_backoff(qp)

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()

    # -- internals -------------------------------------------------------------------

    def _push_active(self, qp: QueuedPod) -> None:
        qp.seq = next(self._seq)
        self._backoff_pods.pop(qp.key, None)
        self._active_pods[qp.key] = qp
        heapq.heappush(self._active, (-qp.info.priority, qp.seq, qp.key))
        self._wakeup.set()

    def _push_backoff(self, qp: QueuedPod) -> None:
        qp.seq = next(self._seq)
        self._backoff_pods[qp.key] = qp
        heapq.heappush(self._backoff, (self._backoff_expiry(qp), qp.seq, qp.key))
        self._wakeup.set()

    def _flush(self, now: float) -> None:
        while self._backoff and self._backoff[0][0] <= now:
            _, seq, key = heapq.heappop(self._backoff)
            qp = self._backoff_pods.get(key)
            if qp is not None and qp.seq == seq:
                del self._backoff_pods[key]
                self._push_active(qp)
        if now >= self._next_unschedulable_scan and self._unschedulable:
            self._next_unschedulable_scan = now + 1.0
            limit = now - self.max_unschedulable_seconds
            for qp in [q for q in self._unschedulable.values() if q.timestamp <= limit]:
                del self._unschedulable[qp.key]
                self._push_active(qp)

    def _next_deadline(self, now: float) -> float:
        deadline = now + 1.0
        while self._backoff:
            expiry, seq, key = self._backoff[0]
            qp = self._backoff_pods.get(key)
            if qp is None or qp.seq != seq:
                heapq.heappop(self._backoff)
                continue
            deadline = min(deadline, expiry)
            break
        return max(deadline, now + 0.001)


class QueueClosed(Exception):
    """The queue was closed: the scheduler is stopping."""
