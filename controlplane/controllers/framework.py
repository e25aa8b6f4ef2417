"""The one shape of every controller: informers -> a rate-limited work queue -> reconcile(key).

As client-go's: informers keep a local cache current and only say *which*
keys changed; workers take a key at a time and make the world match the
cache's desired state (`reconcile` is level-triggered and idempotent). A key
is never processed by two workers at once, and a key added while it is being
processed is processed again afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from google.protobuf.message import Message

from podlab import errors
from podlab.client import ApiClient, Handler, Informer, KindRef
from podlab.kinds import kind_of, meta

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    """A queue of keys with client-go's guarantees and its per-key exponential back-off.

    Invariants: every key in `_queue` is in `_dirty` and not in `_processing`;
    a key in both `_dirty` and `_processing` goes back on the queue when done.
    """

    def __init__(self, base_delay: float = 0.005, max_delay: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._queue: list[K] = []
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._nonempty = asyncio.Event()
        self._failures: dict[K, int] = {}
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self.base_delay, self.max_delay = base_delay, max_delay
        self._clock = clock

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
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.pop(key, None)
            self.add(key)
        self._timers[key] = loop.call_later(delay, fire)

    def add_rate_limited(self, key: K) -> None:
        """Add `key` after its back-off: base_delay * 2^failures, at most max_delay."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        self.add_after(key, min(self.max_delay, self.base_delay * 2 ** failures))

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
    """

    name = "controller"

    def __init__(self, client: ApiClient, workers: int = 4) -> None:
        self.client = client
        self.workers = workers
        self.queue: WorkQueue[str] = WorkQueue()
        self.informers: list[Informer] = []

    def watch(self, kind: KindRef, on_change: Handler) -> Informer:
        informer = Informer(self.client, kind, on_change=on_change)
        self.informers.append(informer)
        return informer

    async def reconcile(self, key: str) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        """Run until cancelled: informers first, workers once every cache has synced."""
        async with asyncio.TaskGroup() as tasks:
            for informer in self.informers:
                tasks.create_task(informer.run())
            for informer in self.informers:
                await informer.synced.wait()
            log.info("%s: caches synced, %d workers", self.name, self.workers)
            for _ in range(self.workers):
                tasks.create_task(self._work())

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
