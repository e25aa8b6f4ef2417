"""Kubernetes' dryRun=All: every verb runs in full, and nothing is stored.

Kubernetes makes its storage dry-runnable (`DryRunnableStorage` in
k8s.io/apiserver's generic registry) rather than teaching each verb about
dry runs, and podlab does the same: `DryRunStore` wraps the real store,
reads through it, and turns every transaction into one that checks its
guards against the live state and writes nothing. The registry, the pod
verbs and every kind's strategy run unchanged over it — defaulting,
validation, admission, preconditions, AlreadyExists and Conflict all answer
as a real request would — and the caller gets the object that would have
been stored.

A transaction that wrote nothing has no new revision, so it answers 0
(the registry then reports an object's current resourceVersion, or none for
one that was never stored, as Kubernetes does).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from controlplane.storage import ChangeBatch, Delete, Guard, KeyValue, KeyValues, Put, Store
from podlab import errors


class DryRunStore:
    """A Store that reads from `store` and writes nothing. Nothing here owns `store`: close leaves it open."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def close(self) -> None:
        pass

    async def version(self) -> str:
        return await self._store.version()

    async def get(self, key: bytes) -> KeyValue | None:
        return await self._store.get(key)

    async def list(self, prefix: bytes, revision: int = 0) -> tuple[KeyValues, int]:
        return await self._store.list(prefix, revision)

    async def txn(self, guards: Sequence[Guard], ops: Sequence[Put | Delete]) -> int | None:
        """0 if every guard holds now (checked atomically by the real store), None if one fails."""
        return None if await self._store.txn(guards, []) is None else 0

    async def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        return 0

    async def grant_lease(self, ttl: int) -> int:
        return 0  # the puts it would be attached to are never made

    async def compact(self, revision: int) -> None:
        raise errors.BadRequest("a dry run cannot compact the store")

    def watch(self, prefix: bytes, start_revision: int = 0,
              progress_every: float = 0.0) -> AsyncIterator[ChangeBatch | int]:
        return self._store.watch(prefix, start_revision, progress_every)
