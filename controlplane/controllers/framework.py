"""The one shape of every controller: informers -> a rate-limited work queue -> reconcile(key).

As client-go's: informers keep a local cache current and only say *which*
keys changed; workers take a key at a time and make the world match the
cache's desired state (`reconcile` is level-triggered and idempotent). A key
is never processed by two workers at once, and a key added while it is being
processed is processed again afterwards.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar, runtime_checkable

from google.protobuf.message import Message

from podlab import errors
from podlab.client import ApiClient, Handler, Informer, KindRef
from podlab.informers import SharedInformerFactory
from podlab.kinds import kind_of, meta

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class Timer(Protocol):
    def cancel(self) -> None: ...


@runtime_checkable
class Clock(Protocol):
    """A controller's clock: readings (it is called) and timers on the same time line.

    Both the real one and `ManualClock` are callable, so either also serves
    where a plain `Callable[[], float]` reading is asked for."""

    def __call__(self) -> float: ...
    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer: ...


class MonotonicClock:
    """The real clock: time.monotonic, timers on the running event loop."""

    def __call__(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(delay, callback)


MONOTONIC = MonotonicClock()


def timer_clock(clock: Callable[[], float]) -> Clock:
    """`clock` when it can also run timers (a ManualClock in tests), else the real clock."""
    return clock if isinstance(clock, Clock) else MONOTONIC


class _ManualTimer:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that moves only when `step` is called, firing every timer then due in time order.

    Tests drive time-based requeues with it instead of waiting on the wall clock."""

    def __init__(self, start: float = 100.0) -> None:
        self.t = start
        # Invariant: a heap of (due, sequence, timer, callback); cancelled timers are skipped when popped.
        self._timers: list[tuple[float, int, _ManualTimer, Callable[[], None]]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.t

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = _ManualTimer()
        heapq.heappush(self._timers, (self.t + max(0.0, delay), next(self._seq), timer, callback))
        return timer

    def step(self, seconds: float) -> None:
        """Move `seconds` on; each timer due by then fires, at its due time, earliest first."""
        end = self.t + seconds
        while self._timers and self._timers[0][0] <= end:
            due, _, timer, callback = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self.t = max(self.t, due)
            callback()
        self.t = end


class WorkQueue(Generic[K]):
    """A queue of keys with client-go's guarantees and its per-key exponential back-off.

    Invariants: every key in `_queue` is in `_dirty` and not in `_processing`;
    a key in both `_dirty` and `_processing` goes back on the queue when done;
    every key in `_retrying` has a timer in `_timers` (a failed key waiting out
    its back-off). Delays run on `clock`, so a test's ManualClock drives them.
    """

    def __init__(self, base_delay: float = 0.005, max_delay: float = 60.0,
                 clock: Clock = MONOTONIC) -> None:
        self._queue: list[K] = []
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._nonempty = asyncio.Event()
        self._failures: dict[K, int] = {}
        self._timers: dict[K, Timer] = {}
        self._retrying: set[K] = set()
        self.base_delay, self.max_delay = base_delay, max_delay
        self.clock = clock

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, key: K) -> None:
        if key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._notify()

    def add_after(self, key: K, delay: float) -> None:
        """Add `key` after `delay` seconds (an earlier pending add_after wins)."""
        if delay <= 0:
            self.add(key)
            return
        if key in self._timers:
            return

        def fire() -> None:
            self._timers.pop(key, None)
            self._retrying.discard(key)
            self.add(key)
        self._timers[key] = self.clock.call_later(delay, fire)

    def add_rate_limited(self, key: K) -> None:
        """Add `key` after its back-off: base_delay * 2^failures, at most max_delay."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        self.add_after(key, min(self.max_delay, self.base_delay * 2 ** failures))
        if key in self._timers:
            self._retrying.add(key)

    def idle(self) -> bool:
        """Nothing queued, nothing being processed, no failed key waiting to retry.

        Keys delayed on purpose (`add_after`) are future work, not unfinished
        work: a test steps its clock to make them due."""
        return not self._queue and not self._processing and not self._retrying

    def forget(self, key: K) -> None:
        """`key` succeeded: its back-off starts again from base_delay."""
        self._failures.pop(key, None)

    async def get(self) -> K:
        while not self._queue:
            self._nonempty.clear()
            await self._nonempty.wait()
        key = self._queue.pop(0)
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._notify()

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._retrying.clear()

    def _notify(self) -> None:
        self._nonempty.set()


M = TypeVar("M", bound=Message)


async def set_controller(client: ApiClient, obj: M, owner: Message, adopt: bool) -> M | None:
    """Adopt `obj` (make `owner` its controller, blocking the owner's foreground deletion) or
    release it (drop `owner` from its ownerReferences). None when `obj` changed or went meanwhile:
    the informer brings the newer object, and its key comes back."""
    updated = type(obj)()
    updated.CopyFrom(obj)
    owner_meta, refs = meta(owner), meta(updated).owner_references
    kept = [r for r in refs if r.uid != owner_meta.uid]
    del refs[:]
    refs.extend(kept)
    if adopt:
        kind = kind_of(owner)
        refs.add(api_version=kind.api_version, kind=kind.name, name=owner_meta.name, uid=owner_meta.uid,
                 controller=True, block_owner_deletion=True)
    try:
        written: M = await client.update(updated)
    except (errors.Conflict, errors.NotFound):
        return None
    return written


class Controller:
    """Informers, a work queue and `workers` tasks calling `reconcile(key)`.

    A subclass declares its informers with `watch(kind, handler)` in its
    constructor and implements `reconcile`. A reconcile that raises an
    ApiError is retried with back-off; one that returns is forgotten.

    Informers come from `informers`, a SharedInformerFactory: one list+watch
    per kind however many controllers ask, started by whoever made the
    factory (the controller manager). Without one the controller makes its
    own and runs it itself. `clock` runs the queue's delays.
    """

    name = "controller"

    def __init__(self, client: ApiClient, workers: int = 4,
                 informers: SharedInformerFactory | None = None, clock: Clock = MONOTONIC) -> None:
        self.client = client
        self.workers = workers
        self.queue: WorkQueue[str] = WorkQueue(clock=clock)
        self._own_factory = informers is None
        self.factory = informers if informers is not None else SharedInformerFactory(client)
        self.informers: list[Informer] = []

    def watch(self, kind: KindRef, on_change: Handler, namespace: str = "", label_selector: str = "",
              field_selector: str = "") -> Informer:
        informer = self.factory.informer(kind, namespace, label_selector, field_selector)
        informer.add_handler(on_change)
        self.informers.append(informer)
        return informer

    async def reconcile(self, key: str) -> None:
        raise NotImplementedError

    def started(self) -> None:
        """Called once the caches have synced, before the workers start (a hook, e.g. for periodic keys)."""

    async def run(self) -> None:
        """Run until cancelled: informers first, workers once every cache has synced."""
        async with asyncio.TaskGroup() as tasks:
            if self._own_factory:
                tasks.create_task(self.factory.run())
            for informer in self.informers:
                await informer.synced.wait()
            log.info("%s: caches synced, %d workers", self.name, self.workers)
            self.started()
            for _ in range(self.workers):
                tasks.create_task(self._work())

    async def quiesced(self, timeout: float = 10.0) -> None:
        """Return once there is nothing left to do: every informer holds what the store holds
        (a fresh list of its kind matches its cache), no key is queued, being reconciled or
        waiting to retry. Keys delayed on purpose are not counted: step the clock, then ask
        again. Raises TimeoutError if that does not happen within `timeout` seconds.

        This is how a test proves that nothing (more) happens: not by sleeping."""
        async with asyncio.timeout(timeout):
            settled = 0
            # Twice in a row, a turn of the loop apart: a key taken and finished while the
            # informers were being compared could have written what they have not seen yet.
            while settled < 2:
                idle = self.queue.idle() and all([await i.caught_up() for i in self.informers])
                settled = settled + 1 if idle and self.queue.idle() else 0
                await asyncio.sleep(0 if settled else 0.002)

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self.reconcile(key)
                self.queue.forget(key)
            except errors.ApiError as err:
                log.info("%s: %s: %s (retrying)", self.name, key, err)
                self.queue.add_rate_limited(key)
            except Exception:
                log.exception("%s: %s: reconcile failed", self.name, key)
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)
            # A client that never suspends (the in-memory API) must not starve the loop.
            await asyncio.sleep(0)
