"""Transactional hooks: an allocator reserves in the object's own transaction and releases in its removal's."""

from __future__ import annotations

import asyncio

import pytest
from google.protobuf.message import Message

from controlplane.api import Api
from controlplane.memstore import MemoryStore
from controlplane.registry import PREFIX, Registry
from controlplane.storage import Guard
from controlplane.strategies import Reader, Strategy, Writes, strategies
from podlab import errors
from podlab.kinds import CONFIG_MAPS, meta
from podlab.v1 import objects_pb2 as v1

RANGE = f"{PREFIX}/ranges/ports/".encode()
PORTS = range(30000, 30004)
PORT = "example.test/port"


class PortAllocating(Strategy):
    """ConfigMaps that hold a port from a small range, as a Service holds a NodePort."""

    def __init__(self) -> None:
        super().__init__(CONFIG_MAPS)

    async def on_create(self, obj: Message, writes: Writes, store: Reader) -> None:
        taken, _ = await store.list(RANGE)
        used = {int(kv.key.rsplit(b"/", 1)[1]) for kv in taken}
        free = next((p for p in PORTS if p not in used), None)
        if free is None:
            raise errors.Invalid(f'The ConfigMap "{meta(obj).name}" is invalid: no port is free', [])
        meta(obj).annotations[PORT] = str(free)
        key = RANGE + str(free).encode()
        writes.guard(Guard(key, 0, target="create"))
        writes.put(key, meta(obj).name.encode())

    async def on_delete(self, obj: Message, writes: Writes, store: Reader) -> None:
        writes.delete(RANGE + meta(obj).annotations[PORT].encode())


def build() -> tuple[Api, MemoryStore]:
    store = MemoryStore()
    api = Api.build(store)
    table = strategies()
    table["ConfigMap"] = PortAllocating()
    api.registry.strategies = table
    return api, store


def holder(name: str) -> v1.ConfigMap:
    return v1.ConfigMap(metadata=v1.ObjectMeta(name=name, namespace="default"))


async def allocations(store: MemoryStore) -> dict[str, str]:
    kvs, _ = await store.list(RANGE)
    return {kv.key.rsplit(b"/", 1)[1].decode(): kv.value.decode() for kv in kvs}


async def test_a_create_reserves_in_its_own_transaction_and_a_failed_one_leaves_nothing() -> None:
    api, store = build()
    registry: Registry = api.registry
    await registry.ensure_namespaces()

    first = await registry.create(holder("a"))
    assert first.metadata.annotations[PORT] == "30000"
    assert await allocations(store) == {"30000": "a"}

    # The same name again: the object's guard fails, and the port the hook chose is not kept.
    with pytest.raises(errors.AlreadyExists):
        await registry.create(holder("a"))
    # A namespace that does not exist: likewise.
    with pytest.raises(errors.NotFound, match='namespaces "nowhere" not found'):
        await registry.create(v1.ConfigMap(metadata=v1.ObjectMeta(name="b", namespace="nowhere")))
    # A dry run answers with the port it would take and takes none.
    planned = await api.dry_run.registry.create(holder("c"))
    assert planned.metadata.annotations[PORT] == "30001"
    assert await allocations(store) == {"30000": "a"}


async def test_concurrent_creates_get_distinct_ports_and_a_removal_releases_its_own() -> None:
    api, store = build()
    registry = api.registry
    await registry.ensure_namespaces()

    made = await asyncio.gather(*(registry.create(holder(f"h{i}")) for i in range(4)))
    ports = sorted(m.metadata.annotations[PORT] for m in made)
    assert ports == [str(p) for p in PORTS]
    with pytest.raises(errors.Invalid, match="no port is free"):
        await registry.create(holder("one-too-many"))

    await registry.delete(CONFIG_MAPS, "h2", "default")
    released = made[2].metadata.annotations[PORT]
    assert released not in await allocations(store)
    again = await registry.create(holder("h9"))
    assert again.metadata.annotations[PORT] == released
    assert (await allocations(store))[released] == "h9"


async def test_a_finalized_removal_releases_too() -> None:
    api, store = build()
    registry = api.registry
    await registry.ensure_namespaces()
    kept = holder("kept")
    kept.metadata.finalizers.append("example.test/hold")
    await registry.create(kept)
    _, gone = await registry.delete(CONFIG_MAPS, "kept", "default")
    assert not gone and "30000" in await allocations(store)

    def drop_finalizer(obj: v1.ConfigMap) -> v1.ConfigMap:
        del obj.metadata.finalizers[:]
        return obj

    await registry.guarded_update(CONFIG_MAPS, "kept", "default", "", drop_finalizer)
    assert await allocations(store) == {}
    assert not await registry.exists(CONFIG_MAPS, "kept", "default")


async def test_a_reservation_lost_to_another_writer_is_made_again_from_a_fresh_read() -> None:
    api, store = build()
    registry = api.registry
    await registry.ensure_namespaces()
    await registry.create(holder("a"))

    class StaleOnce:
        """A read that misses the last write once, as a racing writer's reservation would be missed."""

        def __init__(self) -> None:
            self.reads = 0

        async def get(self, key: bytes):  # noqa: ANN201
            return await store.get(key)

        async def list(self, prefix: bytes, revision: int = 0):  # noqa: ANN201
            self.reads += 1
            return ([], 0) if self.reads == 1 else await store.list(prefix, revision)

    stale = StaleOnce()
    strategy = registry.strategies["ConfigMap"]
    assert isinstance(strategy, PortAllocating)
    original = strategy.on_create

    async def on_create(obj: Message, writes: Writes, _: Reader) -> None:
        await original(obj, writes, stale)

    strategy.on_create = on_create  # type: ignore[method-assign]
    second = await registry.create(holder("b"))
    assert stale.reads == 2
    assert second.metadata.annotations[PORT] == "30001"
    assert await allocations(store) == {"30000": "a", "30001": "b"}
