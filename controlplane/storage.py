"""What the registry needs of a key-value store, and the values it speaks in.

Two implementations: `controlplane.etcd.EtcdStore` (the real one, and the
only one the e2e, conformance and lab tiers use) and
`controlplane.memstore.MemoryStore` (unit tests of the registry and of
control loops, and the simulation benchmarks). Both give the same answers to
the same calls; `tests/unit/test_registry.py` runs the registry's semantics on
the memory store and `tests/integration/test_api.py` on etcd.

The contract, as etcd defines it:
- every write bumps one global revision; a key's `mod_revision` is the
  revision of its last write, `create_revision` of its creation;
- `txn` applies all of its ops atomically when every guard holds, and
  answers the new revision, or None when a guard failed (nothing written);
- `list(prefix, revision)` reads the keys as they were at any revision not
  yet compacted (etcd's MVCC), so the pages of one list all see one state;
- `watch(prefix, start)` yields every change under `prefix` with revision >=
  `start` (0: from now), grouped by transaction, in revision order; a start
  at or below the last compaction raises Gone;
- a key written with a lease disappears (a DELETE change) when the lease
  expires.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol


def prefix_end(prefix: bytes) -> bytes:
    """The range end that selects every key starting with `prefix`."""
    end = bytearray(prefix)
    for i in reversed(range(len(end))):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\0"


@dataclass(frozen=True)
class KeyValue:
    key: bytes
    value: bytes
    mod_revision: int
    create_revision: int
    lease: int = 0  # the etcd lease the key is attached to (0: none)


@dataclass(frozen=True)
class Change:
    """One key change seen by a watch. `value` is None on delete; `prev` is the value before."""

    key: bytes
    value: bytes | None
    prev: bytes | None
    revision: int


ChangeBatch = list[Change]
KeyValues = list[KeyValue]


@dataclass(frozen=True)
class Guard:
    """A transaction precondition on one key's revision: mod (or create) revision == value."""

    key: bytes
    revision: int  # 0 with target "create" means "the key does not exist"
    target: str = "mod"  # "mod" or "create"
    result: str = "equal"  # "equal" or "greater"


@dataclass(frozen=True)
class Put:
    key: bytes
    value: bytes
    lease: int = 0


@dataclass(frozen=True)
class Delete:
    key: bytes




class Store(Protocol):
    """The operations the registry uses. Errors: podlab.errors.Unavailable, Gone (watch)."""

    async def close(self) -> None: ...

    async def version(self) -> str: ...

    async def get(self, key: bytes) -> KeyValue | None: ...

    async def list(self, prefix: bytes, revision: int = 0) -> tuple[KeyValues, int]:
        """Every key under `prefix` as it was at `revision` (0: now), and the revision the read saw
        (`revision` itself when given). Raises Gone when `revision` has been compacted, BadRequest when
        the store has not reached it."""
        ...

    async def txn(self, guards: Sequence[Guard], ops: Sequence[Put | Delete]) -> int | None:
        """Apply `ops` atomically if every guard holds. The new revision, or None if a guard failed."""
        ...

    async def put(self, key: bytes, value: bytes, lease: int = 0) -> int: ...

    async def grant_lease(self, ttl: int) -> int: ...

    async def compact(self, revision: int) -> None: ...

    def watch(self, prefix: bytes, start_revision: int = 0,
              progress_every: float = 0.0) -> AsyncIterator[ChangeBatch | int]:
        """Changes under `prefix` from `start_revision` on; a bare int every `progress_every` s."""
        ...
