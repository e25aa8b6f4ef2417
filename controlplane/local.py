"""A client of the API in this process: podlab.client.Client's verbs, straight onto the registry.

Every method has exactly `Client`'s signature and answers as the gRPC path
would: objects go in and come out as copies (nothing the caller holds is
shared with the registry), namespaces default the same way, and errors are
the same podlab.errors classes, and every call goes through the API's request
pipeline as `user` (the API server's own loopback identity by default). The controllers elect their leader through
it, and tests and simulations run agents, schedulers and podctl against it
over a MemoryStore.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar, overload

from google.protobuf.message import Message

from controlplane.api import Api
from controlplane.pipeline import LOOPBACK, RequestInfo, UserInfo, resource_request
from controlplane.strategies import DeleteOptions
from podlab import __version__, errors
from podlab.client import KindRef, WatchEvent, resolve_kind
from podlab.kinds import PODS, kind_of, meta
from podlab.names import NODE_LEASE_NAMESPACE, namespace_or_default
from podlab.v1 import objects_pb2 as v1
from podlab.v1 import services_pb2 as api

M = TypeVar("M", bound=Message)


def _copy(obj: M) -> M:
    out = type(obj)()
    out.CopyFrom(obj)
    return out


class LocalClient:
    def __init__(self, core: Api, user: UserInfo = LOOPBACK) -> None:
        self.api = core
        self.registry = core.registry
        self.target = "local"
        self.user = user

    def _serving(self, request: RequestInfo):  # noqa: ANN202 - a context manager
        return self.api.pipeline.serving(self.user, request)

    def _object_request(self, verb: str, obj: Message, subresource: str = "", name: bool = True) -> RequestInfo:
        """The request for a verb on `obj`; a create names no object, as a POST to its collection does."""
        kind = kind_of(obj)
        namespace = namespace_or_default(meta(obj).namespace) if kind.namespaced else ""
        return resource_request(verb, kind, namespace, meta(obj).name if name else "", subresource)

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> LocalClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def create(self, obj: M, dry_run: bool = False) -> M:
        with self._serving(self._object_request("create", obj, name=False)):
            return await self.api.writer(dry_run).registry.create(_copy(obj))

    @overload
    async def get(self, kind: type[M], name: str, namespace: str = "") -> M: ...
    @overload
    async def get(self, kind: str, name: str, namespace: str = "") -> Message: ...

    async def get(self, kind: type[M] | str, name: str, namespace: str = "") -> M | Message:
        k = resolve_kind(kind)
        namespace = namespace_or_default(namespace) if k.namespaced else ""
        with self._serving(resource_request("get", k, namespace, name)):
            return await self.registry.get(k, name, namespace)

    @overload
    async def list(self, kind: type[M], namespace: str = "", label_selector: str = "",
                   field_selector: str = "") -> tuple[list[M], str]: ...
    @overload
    async def list(self, kind: str, namespace: str = "", label_selector: str = "",
                   field_selector: str = "") -> tuple[list[Message], str]: ...

    async def list(self, kind: type[M] | str, namespace: str = "", label_selector: str = "",
                   field_selector: str = "") -> tuple[list[M], str] | tuple[list[Message], str]:
        k = resolve_kind(kind)
        with self._serving(resource_request("list", k, namespace)):
            items, revision = await self.registry.list(k, namespace if k.namespaced else "", label_selector,
                                                       field_selector)
        return items, str(revision)

    async def update(self, obj: M, dry_run: bool = False) -> M:
        with self._serving(self._object_request("update", obj)):
            return await self.api.writer(dry_run).registry.update(_copy(obj))

    async def update_status(self, obj: M, dry_run: bool = False) -> M:
        with self._serving(self._object_request("update", obj, "status")):
            return await self.api.writer(dry_run).registry.update_status(_copy(obj))

    async def delete(self, kind: KindRef, name: str, namespace: str = "",
                     grace_period_seconds: int | None = None, uid: str = "",
                     resource_version: str = "", propagation_policy: str = "",
                     dry_run: bool = False) -> tuple[Message, bool]:
        if grace_period_seconds is not None and grace_period_seconds < 0:
            raise errors.BadRequest("gracePeriodSeconds must be >= 0")
        k = resolve_kind(kind)
        namespace = namespace_or_default(namespace) if k.namespaced else ""
        with self._serving(resource_request("delete", k, namespace, name)):
            return await self.api.writer(dry_run).registry.delete(
                k, name, namespace, DeleteOptions(grace_period_seconds, uid, resource_version, propagation_policy))

    async def bind(self, namespace: str, name: str, uid: str, node_name: str) -> v1.Pod:
        if not node_name:
            raise errors.BadRequest("a binding needs a node name")
        with self._serving(resource_request("create", PODS, namespace_or_default(namespace), name, "binding")):
            return await self.api.pods.bind(namespace_or_default(namespace), name, uid, node_name)

    async def evict(self, namespace: str, name: str, grace_period_seconds: int | None = None,
                    reason: str = "", message: str = "") -> v1.Pod:
        if grace_period_seconds is not None and grace_period_seconds < 0:
            raise errors.BadRequest("gracePeriodSeconds must be >= 0")
        with self._serving(resource_request("create", PODS, namespace_or_default(namespace), name, "eviction")):
            return await self.api.pods.evict(namespace_or_default(namespace), name, grace_period_seconds, message)

    async def renew_lease(self, node_name: str, holder: str = "", started_ms: int = 0,
                          duration: float = 0.0) -> int:
        with self._serving(RequestInfo("update", "leases", "coordination.k8s.io", "", NODE_LEASE_NAMESPACE,
                                       node_name)):
            return await self.api.heartbeats.renew(node_name, holder, started_ms, duration)

    async def version(self) -> api.VersionResponse:
        return api.VersionResponse(version=__version__, etcd_version=await self.api.store.version())

    async def watch(self, kind: KindRef, namespace: str = "", resource_version: str = "",
                    label_selector: str = "", field_selector: str = "",
                    bookmark_seconds: int = 0) -> AsyncIterator[WatchEvent]:
        k = resolve_kind(kind)
        self.api.pipeline.opened(self.user, resource_request("watch", k, namespace))
        async for event in self.registry.watch(k, namespace if k.namespaced else "", label_selector,
                                               field_selector, resource_version, bookmark_seconds):
            # The watch cache shares each object among its watchers; in-process callers may change theirs.
            obj = event.object
            if obj is not None:
                obj = type(obj)()
                obj.CopyFrom(event.object)
            yield WatchEvent(event.type, obj, str(event.revision))
