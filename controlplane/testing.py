"""The one test double of the API: the real registry over a MemoryStore, with fault injection on top.

`InMemoryApi` has exactly the ApiClient verbs (podlab.client.Client's
signatures), each answered by the real Registry, strategies and pod verbs
over a MemoryStore — so uid preconditions, grace periods, resourceVersion
conflicts and validation messages are the API server's own. What a test
needs beyond that wraps the real stack and never re-implements it:

- `fail[verb]`: exceptions the next calls of `verb` raise (then the call is
  not made);
- `latency`: seconds every call waits first (a network round trip);
- `calls[verb]`: how many times each verb was called;
- `*_now` and the readers (`pods()`, `pod()`, `events()`, `objects()`):
  synchronous seeding and inspection, for tests and benchmarks that set up a
  world without awaiting. They run the same registry code: the memory store
  never suspends, so a verb's coroutine completes in one step;
- `break_watches()`: every open watch ends with Unavailable (a server
  restart, as clients see it).
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

from google.protobuf.message import Message

from controlplane.api import Api
from controlplane.local import LocalClient
from controlplane.memstore import MemoryStore
from controlplane.registry import kind_prefix
from controlplane.strategies import StrategyConfig
from podlab.client import KindRef, WatchEvent, resolve_kind
from podlab.v1 import objects_pb2 as v1
from podlab.v1 import services_pb2 as api

M = TypeVar("M", bound=Message)
T = TypeVar("T")


def run_now(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (a registry verb on a MemoryStore) to its end, here and now."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("run_now: the coroutine suspended; it needs the event loop")


class InMemoryApi:
    def __init__(self, latency: float = 0.0, clock: Callable[[], float] = time.monotonic,
                 config: StrategyConfig | None = None) -> None:
        self.store = MemoryStore(clock=clock)
        self.api = Api.build(self.store, config)
        self.local = LocalClient(self.api)
        self.target = "in-memory"
        self.latency = latency
        self.fail: dict[str, list[Exception]] = defaultdict(list)
        self.calls: dict[str, int] = defaultdict(int)
        run_now(self.api.registry.ensure_namespaces())

    async def _enter(self, verb: str) -> None:
        self.calls[verb] += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.fail[verb]:
            raise self.fail[verb].pop(0)

    # -- the verbs (podlab.client.Client's signatures) ---------------------------------

    async def create(self, obj: M, dry_run: bool = False) -> M:
        await self._enter("create")
        return await self.local.create(obj, dry_run)

    async def get(self, kind: Any, name: str, namespace: str = "") -> Any:
        await self._enter("get")
        return await self.local.get(kind, name, namespace)

    async def list(self, kind: Any, namespace: str = "", label_selector: str = "",
                   field_selector: str = "") -> tuple[builtins.list[Any], str]:
        await self._enter("list")
        return await self.local.list(kind, namespace, label_selector, field_selector)

    async def update(self, obj: M, dry_run: bool = False) -> M:
        await self._enter("update")
        return await self.local.update(obj, dry_run)

    async def update_status(self, obj: M, dry_run: bool = False) -> M:
        await self._enter("update_status")
        return await self.local.update_status(obj, dry_run)

    async def delete(self, kind: KindRef, name: str, namespace: str = "",
                     grace_period_seconds: int | None = None, uid: str = "",
                     resource_version: str = "", propagation_policy: str = "",
                     dry_run: bool = False) -> tuple[Message, bool]:
        await self._enter("delete")
        return await self.local.delete(kind, name, namespace, grace_period_seconds, uid, resource_version,
                                       propagation_policy, dry_run)

    async def bind(self, namespace: str, name: str, uid: str, node_name: str) -> v1.Pod:
        await self._enter("bind")
        return await self.local.bind(namespace, name, uid, node_name)

    async def evict(self, namespace: str, name: str, grace_period_seconds: int | None = None,
                    reason: str = "", message: str = "") -> v1.Pod:
        await self._enter("evict")
        return await self.local.evict(namespace, name, grace_period_seconds, reason, message)

    async def renew_lease(self, node_name: str, holder: str = "", started_ms: int = 0,
                          duration: float = 0.0) -> int:
        await self._enter("renew_lease")
        return await self.local.renew_lease(node_name, holder, started_ms, duration)

    async def version(self) -> api.VersionResponse:
        await self._enter("version")
        return await self.local.version()

    async def watch(self, kind: KindRef, namespace: str = "", resource_version: str = "",
                    label_selector: str = "", field_selector: str = "",
                    bookmark_seconds: int = 0) -> AsyncIterator[WatchEvent]:
        await self._enter("watch")
        async for event in self.local.watch(kind, namespace, resource_version, label_selector,
                                            field_selector, bookmark_seconds):
            yield event

    async def close(self) -> None:
        await self.api.events.close()
        if self.api.watch_cache is not None:
            await self.api.watch_cache.close()

    async def __aenter__(self) -> InMemoryApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- synchronous seeding and inspection ---------------------------------------------

    def create_now(self, obj: M) -> M:
        return run_now(self.local.create(obj))

    def update_now(self, obj: M) -> M:
        return run_now(self.local.update(obj))

    def update_status_now(self, obj: M) -> M:
        return run_now(self.local.update_status(obj))

    def delete_now(self, kind: KindRef, name: str, namespace: str = "",
                   grace_period_seconds: int | None = 0, propagation_policy: str = "") -> tuple[Message, bool]:
        """Delete at once (grace 0 unless told otherwise), as a confirmed deletion."""
        return run_now(self.local.delete(kind, name, namespace, grace_period_seconds,
                                         propagation_policy=propagation_policy))

    def bind_now(self, pod: v1.Pod, node_name: str) -> v1.Pod:
        return run_now(self.local.bind(pod.metadata.namespace, pod.metadata.name, pod.metadata.uid, node_name))

    def get_now(self, kind: KindRef, name: str, namespace: str = "") -> Any:
        return run_now(self.local.get(kind if isinstance(kind, str) else kind.DESCRIPTOR.name, name, namespace))

    def objects(self, kind: KindRef) -> builtins.list[Any]:
        k = resolve_kind(kind)
        kvs, _ = run_now(self.store.list(kind_prefix(k)))
        return [self.api.registry._decode_kv(k, kv) for kv in kvs]

    def pods(self) -> builtins.list[v1.Pod]:
        return self.objects(v1.Pod)

    def pod(self, name: str, namespace: str = "default") -> v1.Pod:
        pod = self.get_now("Pod", name, namespace)
        assert isinstance(pod, v1.Pod)
        return pod

    def events(self) -> builtins.list[v1.Event]:
        return self.objects(v1.Event)

    def open_watches(self) -> int:
        """How many watches clients hold open: served by the watch cache, or each a store watch of its own."""
        cache = self.api.watch_cache
        if cache is None:
            return self.store.watching
        return cache.watchers() + self.store.watching - cache.store_watches()

    def break_watches(self) -> None:
        self.store.break_watches()

    async def end_watches(self) -> None:
        """End every open watch cleanly, as an API server does at its watch timeout."""
        self.store.break_watches(clean=True)


__all__ = ["InMemoryApi", "run_now"]
