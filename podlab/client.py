"""The asyncio gRPC client for the podlab API, and the informer built on it.

`Client` speaks in API objects (v1.Pod, v1.Node, ...) and named errors from
podlab.errors; nothing above it sees a gRPC stub or a status code.

`Informer` is client-go's list+watch cache: it lists once, watches from the
list's revision, relists when the server says the revision is too old, and
reconnects with back-off when the server goes away. Handlers say *when*
something changed; the cache says *what* the state is.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, overload

import grpc
from google.protobuf.message import Message

from podlab import errors
from podlab.kinds import Kind, kind_named, kind_of, unwrap, wrap
from podlab.names import namespace_or_default
from podlab.v1 import objects_pb2 as v1
from podlab.v1 import services_pb2 as api
from podlab.v1 import services_pb2_grpc as rpc

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
KindRef = type[Message] | str

DEFAULT_TIMEOUT = 10.0
# Keep idle watch streams alive through proxies and NATs, and notice a dead
# peer within seconds instead of the TCP default of minutes.
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 5_000),
    ("grpc.keepalive_timeout_ms", 3_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]


def resolve_kind(ref: KindRef) -> Kind:
    """The Kind a message class or a kind name ("Pod") means."""
    if isinstance(ref, str):
        return kind_named(ref)
    return kind_named(ref.DESCRIPTOR.name)


class ApiClient(Protocol):
    """The verbs every client of the API offers: `Client` over gRPC, and
    `controlplane.local.LocalClient` in the API server's own process. Code
    that takes an ApiClient runs unchanged on either."""

    async def create(self, obj: Any, dry_run: bool = False) -> Any: ...
    async def get(self, kind: Any, name: str, namespace: str = "") -> Any: ...
    async def list(self, kind: Any, namespace: str = "", label_selector: str = "",
                   field_selector: str = "") -> tuple[list[Any], str]: ...
    async def update(self, obj: Any, dry_run: bool = False) -> Any: ...
    async def update_status(self, obj: Any, dry_run: bool = False) -> Any: ...
    async def delete(self, kind: KindRef, name: str, namespace: str = "",
                     grace_period_seconds: int | None = None, uid: str = "",
                     resource_version: str = "", propagation_policy: str = "",
                     dry_run: bool = False) -> tuple[Message, bool]: ...
    async def bind(self, namespace: str, name: str, uid: str, node_name: str) -> v1.Pod: ...
    async def evict(self, namespace: str, name: str, grace_period_seconds: int | None = None,
                    reason: str = "", message: str = "") -> v1.Pod: ...
    async def renew_lease(self, node_name: str, holder: str = "", started_ms: int = 0,
                          duration: float = 0.0) -> int: ...
    def watch(self, kind: KindRef, namespace: str = "", resource_version: str = "",
              label_selector: str = "", field_selector: str = "",
              bookmark_seconds: int = 0) -> AsyncIterator[WatchEvent]: ...


def open_channel(target: str, credentials: grpc.ChannelCredentials | None = None,
                 options: list[tuple[str, object]] | None = None) -> grpc.aio.Channel:
    """An aio channel to `target`; TLS when `credentials` are given."""
    opts = CHANNEL_OPTIONS + (options or [])
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=opts)
    return grpc.aio.secure_channel(target, credentials, options=opts)


@dataclass
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK
    object: Message | None
    resource_version: str


class Client:
    """A connection to the API server. Every call raises podlab.errors.ApiError subclasses."""

    def __init__(self, target: str, credentials: grpc.ChannelCredentials | None = None,
                 timeout: float = DEFAULT_TIMEOUT, options: list[tuple[str, object]] | None = None) -> None:
        self.target = target
        self.timeout = timeout
        self._channel = open_channel(target, credentials, options)
        self._stub = rpc.ClusterStub(self._channel)

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, method: Callable[..., Awaitable[M]], request: Message) -> M:
        try:
            return await method(request, timeout=self.timeout)
        except grpc.RpcError as err:
            raise errors.from_rpc_error(err) from None

    # -- the verbs ---------------------------------------------------------------

    async def create(self, obj: M, dry_run: bool = False) -> M:
        """Store a new object; with `dry_run`, only answer what would be stored (Kubernetes' dryRun=All)."""
        return unwrap(await self._call(self._stub.Create, api.CreateRequest(object=wrap(obj), dry_run=dry_run)))

    @overload
    async def get(self, kind: type[M], name: str, namespace: str = "") -> M: ...
    @overload
    async def get(self, kind: str, name: str, namespace: str = "") -> Message: ...

    async def get(self, kind: type[M] | str, name: str, namespace: str = "") -> M | Message:
        k = resolve_kind(kind)
        ns = namespace_or_default(namespace) if k.namespaced else ""
        reply = await self._call(self._stub.Get, api.GetRequest(kind=k.name, namespace=ns, name=name))
        return unwrap(reply)

    @overload
    async def list(self, kind: type[M], namespace: str = "", label_selector: str = "",
                   field_selector: str = "") -> tuple[list[M], str]: ...
    @overload
    async def list(self, kind: str, namespace: str = "", label_selector: str = "",
                   field_selector: str = "") -> tuple[list[Message], str]: ...

    async def list(self, kind: type[M] | str, namespace: str = "", label_selector: str = "",
                   field_selector: str = "") -> tuple[list[M], str] | tuple[list[Message], str]:
        """Objects of `kind` (every namespace when `namespace` is empty) and the list's revision."""
        k = resolve_kind(kind)
        reply = await self._call(self._stub.List, api.ListRequest(
            kind=k.name, namespace=namespace if k.namespaced else "",
            label_selector=label_selector, field_selector=field_selector))
        return [unwrap(o) for o in reply.items], reply.resource_version

    async def update(self, obj: M, dry_run: bool = False) -> M:
        return unwrap(await self._call(self._stub.Update, api.UpdateRequest(object=wrap(obj), dry_run=dry_run)))

    async def update_status(self, obj: M, dry_run: bool = False) -> M:
        reply = await self._call(self._stub.UpdateStatus, api.UpdateRequest(object=wrap(obj), dry_run=dry_run))
        return unwrap(reply)

    async def delete(self, kind: KindRef, name: str, namespace: str = "",
                     grace_period_seconds: int | None = None, uid: str = "",
                     resource_version: str = "", propagation_policy: str = "",
                     dry_run: bool = False) -> tuple[Message, bool]:
        """Delete (or start deleting) an object. Returns it and whether it is gone already.

        `propagation_policy`: what happens to its dependents, Foreground, Background or Orphan.
        With `dry_run`, nothing changes: the answer says what the delete would do."""
        k = resolve_kind(kind)
        request = api.DeleteRequest(kind=k.name, namespace=namespace_or_default(namespace) if k.namespaced else "",
                                    name=name, uid=uid, resource_version=resource_version,
                                    propagation_policy=propagation_policy, dry_run=dry_run)
        if grace_period_seconds is not None:
            request.grace_period_seconds = grace_period_seconds
        reply = await self._call(self._stub.Delete, request)
        return unwrap(reply.object), reply.removed

    async def bind(self, namespace: str, name: str, uid: str, node_name: str) -> v1.Pod:
        reply = await self._call(self._stub.Bind, api.BindRequest(
            namespace=namespace, name=name, uid=uid, node_name=node_name))
        return reply.pod

    async def evict(self, namespace: str, name: str, grace_period_seconds: int | None = None,
                    reason: str = "", message: str = "") -> v1.Pod:
        request = api.EvictRequest(namespace=namespace, name=name, reason=reason, message=message)
        if grace_period_seconds is not None:
            request.grace_period_seconds = grace_period_seconds
        return (await self._call(self._stub.Evict, request)).pod

    async def renew_lease(self, node_name: str, holder: str = "", started_ms: int = 0,
                          duration: float = 0.0) -> int:
        reply = await self._call(self._stub.RenewLease, api.RenewLeaseRequest(
            node_name=node_name, holder_identity=holder, holder_start_ms=started_ms,
            lease_duration_seconds=duration))
        return reply.renew_time_ms

    async def version(self) -> api.VersionResponse:
        return await self._call(self._stub.Version, api.VersionRequest())

    async def watch(self, kind: KindRef, namespace: str = "", resource_version: str = "",
                    label_selector: str = "", field_selector: str = "",
                    bookmark_seconds: int = 0) -> AsyncIterator[WatchEvent]:
        """Changes to objects of `kind` after `resource_version`, until the server ends the stream.

        Raises Gone when that revision was compacted (list again), and
        Unavailable when the connection drops.
        """
        k = resolve_kind(kind)
        call = self._stub.Watch(api.WatchRequest(
            kind=k.name, namespace=namespace if k.namespaced else "", label_selector=label_selector,
            field_selector=field_selector, resource_version=resource_version,
            bookmark_seconds=bookmark_seconds))
        try:
            async for event in call:
                obj = unwrap(event.object) if event.object.WhichOneof("kind") else None
                yield WatchEvent(event.type, obj, event.resource_version)
        except grpc.RpcError as err:
            raise errors.from_rpc_error(err) from None
        finally:
            call.cancel()

    def logs(self, request: api.LogsRequest) -> grpc.aio.UnaryStreamCall:
        """The raw log stream (LogChunk messages); the caller iterates and handles RpcError."""
        return self._stub.Logs(request)

    def exec(self) -> grpc.aio.StreamStreamCall:
        """A raw exec stream: write ExecInput (start first), read ExecOutput."""
        return self._stub.Exec()

    def attach(self) -> grpc.aio.StreamStreamCall:
        """A raw attach stream: write ExecInput (start first, no command), read ExecOutput."""
        return self._stub.Attach()

    def port_forward(self) -> grpc.aio.StreamStreamCall:
        """A raw port-forward stream for one connection: write PortForwardInput (start first)."""
        return self._stub.PortForward()

    async def node_stats(self, node_name: str) -> api.StatsResponse:
        """The node agent's usage figures (podctl top)."""
        return await self._call(self._stub.NodeStats, api.NodeStatsRequest(node_name=node_name))


# -- informer ---------------------------------------------------------------------

def object_key(obj: Message) -> str:
    """The cache key of an object: "namespace/name", or "name" for cluster-scoped kinds."""
    meta = obj.metadata
    return f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name


Handler = Callable[[str, Message | None, Message | None], Awaitable[None] | None]


class Informer:
    """A local cache of one kind, kept current by list+watch.

    `on_change(key, old, new)` runs for every change (new is None on delete),
    and once for every object after each (re)list, so a handler that enqueues
    the key is all a controller needs. `synced` is set after the first list.
    """

    def __init__(self, client: ApiClient, kind: KindRef, namespace: str = "",
                 label_selector: str = "", field_selector: str = "",
                 on_change: Handler | None = None) -> None:
        self.client = client
        self.kind = resolve_kind(kind)
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.cache: dict[str, Message] = {}
        self.synced = asyncio.Event()
        self.resource_version = ""
        # Events at or below the last list's revision are history the list already holds.
        self._floor = 0
        self._handlers: list[Handler] = [on_change] if on_change else []

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def get(self, key: str) -> Message | None:
        return self.cache.get(key)

    def items(self) -> list[Message]:
        return list(self.cache.values())

    async def _notify(self, key: str, old: Message | None, new: Message | None) -> None:
        for handler in self._handlers:
            result = handler(key, old, new)
            if result is not None:
                await result

    async def caught_up(self) -> bool:
        """Whether the cache holds what the store holds now: a fresh list (same namespace and
        selectors) names the same objects at the same resourceVersions. False while an event
        is still on its way, or when the list fails."""
        try:
            items, _ = await self.client.list(self.kind.name, self.namespace, self.label_selector,
                                              self.field_selector)
        except errors.ApiError:
            return False
        if not self.synced.is_set() or len(items) != len(self.cache):
            return False
        for obj in items:
            cached = self.cache.get(object_key(obj))
            if cached is None or cached.metadata.resource_version != obj.metadata.resource_version:
                return False
        return True

    async def resync(self) -> None:
        """List again now, so the cache holds the server's current state.

        Watch events still in flight from before the list are dropped when
        they arrive (they are older than the list), so a resync can never be
        undone by history.
        """
        await self._relist()

    async def _relist(self) -> None:
        items: list[Message]
        items, rv = await self.client.list(self.kind.name, self.namespace, self.label_selector,
                                           self.field_selector)
        fresh = {object_key(o): o for o in items}
        old_cache, self.cache = self.cache, fresh
        self.resource_version = rv
        self._floor = max(self._floor, int(rv or 0))
        for key, obj in fresh.items():
            await self._notify(key, old_cache.get(key), obj)
        for key in old_cache.keys() - fresh.keys():
            await self._notify(key, old_cache[key], None)
        self.synced.set()

    async def run(self) -> None:
        """List and watch until cancelled, surviving server restarts and compactions."""
        backoff = 0.2
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                async for event in self.client.watch(
                        self.kind.name, self.namespace, self.resource_version, self.label_selector,
                        self.field_selector, bookmark_seconds=5):
                    backoff = 0.2
                    if event.resource_version and int(event.resource_version) > int(self.resource_version or 0):
                        self.resource_version = event.resource_version
                    if event.object is None or int(event.resource_version or 0) <= self._floor:
                        continue
                    key = object_key(event.object)
                    old = self.cache.get(key)
                    if event.type == "DELETED":
                        self.cache.pop(key, None)
                        await self._notify(key, old, None)
                    else:
                        self.cache[key] = event.object
                        await self._notify(key, old, event.object)
            except errors.Gone:
                log.info("watch %s: revision %s compacted, relisting", self.kind.plural,
                         self.resource_version)
                need_list = True
            except errors.ApiError as err:
                log.debug("watch %s interrupted: %s", self.kind.plural, err)
                await asyncio.sleep(backoff * (1 + random.random()))
                backoff = min(backoff * 2, 5.0)
                # Resume from the last revision seen; a relist only if that fails.
            except asyncio.CancelledError:
                raise


__all__ = ["ApiClient", "Client", "Informer", "WatchEvent", "object_key", "open_channel", "kind_of"]
