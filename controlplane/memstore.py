"""An in-memory Store with etcd's semantics, for unit tests and simulations.

It answers every call of controlplane.storage.Store as etcd would: one global
revision, guarded transactions, watches that replay history from any revision
not yet compacted, and leases that expire on an injected clock. It is never
the default and never stands in for etcd in the e2e, conformance or lab tiers.

Concurrency: everything runs on one event loop, and no method awaits between
reading and writing its state, so every call is atomic.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from controlplane.storage import Change, ChangeBatch, Delete, Guard, KeyValue, KeyValues, Put
from podlab import errors


@dataclass
class _Lease:
    ttl: int
    expires_at: float
    keys: set[bytes] = field(default_factory=set)


class MemoryStore:
    """A Store in a dict. `clock` (seconds, monotonic) decides when leases expire."""

    VERSION = "memory"
    # Batches of history kept for watches, as etcd's auto-compaction keeps a window.
    HISTORY = 100_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._data: dict[bytes, KeyValue] = {}
        self.revision = 1  # etcd starts at 1 too
        self._compacted = 0
        # Every committed batch after the compaction, in order; beside it each batch's revision
        # (ascending: a watch finds where to resume by bisection), and what each key it wrote held
        # before (None: nothing), which a read at an older revision puts back.
        self._history: list[ChangeBatch] = []
        self._revisions: list[int] = []
        self._undo: list[list[tuple[bytes, KeyValue | None]]] = []
        self._leases: dict[int, _Lease] = {}
        self._lease_ids = itertools.count(0x1000)
        self._waiters: set[asyncio.Event] = set()  # one per open watch that waits for a change
        self._generation = 0  # bumped by break_watches
        self._clean_end = False
        self.watching = 0  # open watches
        self.closed = False
        self.unavailable = False  # set by tests: every call fails as a dead etcd's would
        # Called after every commit that changed something, the store consistent at its new revision:
        # a test's invariant checked at every state the cluster passes through, not at samples of it.
        self.observers: list[Callable[[], None]] = []

    # -- reads ----------------------------------------------------------------------

    async def close(self) -> None:
        self.closed = True
        self._wake()

    async def version(self) -> str:
        self._check_open()
        return self.VERSION

    async def get(self, key: bytes) -> KeyValue | None:
        self._check_open()
        self._expire_leases()
        return self._data.get(key)

    async def list(self, prefix: bytes, revision: int = 0) -> tuple[KeyValues, int]:
        self._check_open()
        self._expire_leases()
        if revision > self.revision:
            raise errors.BadRequest(f"mvcc: required revision is a future revision ({revision})")
        if revision and revision < self._compacted:
            raise errors.Gone(f"mvcc: required revision has been compacted ({self._compacted})")
        found = {k: kv for k, kv in self._data.items() if k.startswith(prefix)}
        if revision:
            newer = bisect.bisect_right(self._revisions, revision)
            for undo in reversed(self._undo[newer:]):  # take back, newest first, what came after
                for key, before in undo:
                    if not key.startswith(prefix):
                        continue
                    if before is None:
                        found.pop(key, None)
                    else:
                        found[key] = before
        return sorted(found.values(), key=lambda kv: kv.key), revision or self.revision

    # -- writes ---------------------------------------------------------------------

    async def txn(self, guards: Sequence[Guard], ops: Sequence[Put | Delete]) -> int | None:
        self._check_open()
        self._expire_leases()
        if not all(self._holds(g) for g in guards):
            return None
        return self._commit(ops)

    async def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        self._check_open()
        self._expire_leases()
        return self._commit([Put(key, value, lease)])

    async def grant_lease(self, ttl: int) -> int:
        self._check_open()
        lease_id = next(self._lease_ids)
        self._leases[lease_id] = _Lease(ttl, self._clock() + ttl)
        return lease_id

    async def compact(self, revision: int) -> None:
        self._check_open()
        if revision <= self._compacted:
            raise errors.Gone(f"mvcc: required revision has been compacted ({self._compacted})")
        self._compacted = min(revision, self.revision)
        cut = bisect.bisect_right(self._revisions, self._compacted)
        del self._history[:cut], self._revisions[:cut], self._undo[:cut]

    def expire_leases(self) -> None:
        """Drop the keys of every lease whose TTL ran out (reads and writes do this too)."""
        self._expire_leases()

    def _holds(self, guard: Guard) -> bool:
        kv = self._data.get(guard.key)
        actual = 0 if kv is None else (kv.create_revision if guard.target == "create" else kv.mod_revision)
        return actual == guard.revision if guard.result == "equal" else actual > guard.revision

    def _commit(self, ops: Sequence[Put | Delete]) -> int:
        revision = self.revision + 1
        batch: ChangeBatch = []
        undo: list[tuple[bytes, KeyValue | None]] = []
        for op in ops:
            old = self._data.get(op.key)
            if isinstance(op, Put) or old is not None:
                undo.append((op.key, old))
            if isinstance(op, Put):
                if op.lease and op.lease not in self._leases:
                    raise errors.NotFound("etcdserver: requested lease not found")
                self._detach(old)
                created = old.create_revision if old is not None else revision
                self._data[op.key] = KeyValue(op.key, op.value, revision, created, op.lease)
                if op.lease:
                    self._leases[op.lease].keys.add(op.key)
                batch.append(Change(op.key, op.value, old.value if old else None, revision))
            elif old is not None:
                self._detach(old)
                del self._data[op.key]
                batch.append(Change(op.key, None, old.value, revision))
        if not batch:
            return self.revision
        self.revision = revision
        self._history.append(batch)
        self._revisions.append(revision)
        self._undo.append(undo)
        if len(self._history) > self.HISTORY:
            self._compacted = self._revisions[-self.HISTORY - 1]
            del self._history[:-self.HISTORY], self._revisions[:-self.HISTORY], self._undo[:-self.HISTORY]
        self._wake()
        for observe in self.observers:
            observe()
        return revision

    def _detach(self, kv: KeyValue | None) -> None:
        if kv is not None and kv.lease in self._leases:
            self._leases[kv.lease].keys.discard(kv.key)

    def _expire_leases(self) -> None:
        t = self._clock()
        for lease_id, lease in list(self._leases.items()):
            if lease.expires_at <= t:
                del self._leases[lease_id]
                if lease.keys:
                    self._commit([Delete(k) for k in sorted(lease.keys)])

    def break_watches(self, clean: bool = False) -> None:
        """End every open watch: with Unavailable (a restarted server), or `clean`ly (a watch timeout)."""
        self._generation += 1
        self._clean_end = clean
        self._wake()

    def _wake(self) -> None:
        for waiter in self._waiters:
            waiter.set()

    def _past(self, revision: int) -> Callable[[], bool]:
        """A predicate: the store is closed, its watches broken, or it has reached `revision`."""
        generation = self._generation
        return lambda: self.closed or self._generation != generation or self.revision >= revision

    def _check_open(self) -> None:
        if self.closed:
            raise errors.Unavailable("memory store: closed")
        if self.unavailable:
            raise errors.Unavailable("memory store: unavailable (an injected outage)")

    # -- watch ----------------------------------------------------------------------

    async def watch(self, prefix: bytes, start_revision: int = 0,
                    progress_every: float = 0.0) -> AsyncIterator[ChangeBatch | int]:
        self._check_open()
        if start_revision and start_revision <= self._compacted:
            raise errors.Gone(f"too old resource version: {start_revision} ({self._compacted})")
        next_revision = start_revision or self.revision + 1
        generation = self._generation
        self.watching += 1
        try:
            async for item in self._follow(prefix, next_revision, progress_every, generation):
                yield item
        finally:
            self.watching -= 1

    async def _follow(self, prefix: bytes, next_revision: int, progress_every: float,
                      generation: int) -> AsyncIterator[ChangeBatch | int]:
        last_progress = time.monotonic()
        while True:
            pending = self._history[bisect.bisect_left(self._revisions, next_revision):]
            for batch in pending:
                next_revision = batch[0].revision + 1
                changes = [c for c in batch if c.key.startswith(prefix)]
                if changes:
                    yield changes
            if generation != self._generation:
                if self._clean_end:
                    return
                raise errors.Unavailable("memory store: watch broken")
            if next_revision <= self._compacted:
                raise errors.Gone(f"too old resource version: {next_revision} ({self._compacted})")
            timeout = None
            if progress_every > 0:
                timeout = max(0.0, progress_every - (time.monotonic() - last_progress))
            if not self._past(next_revision)():
                waiter = asyncio.Event()
                self._waiters.add(waiter)
                try:
                    async with asyncio.timeout(timeout):
                        await waiter.wait()
                except TimeoutError:
                    pass
                finally:
                    self._waiters.discard(waiter)
            self._check_open()
            if progress_every > 0 and time.monotonic() - last_progress >= progress_every:
                last_progress = time.monotonic()
                yield self.revision
