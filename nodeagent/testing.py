"""An in-process stand-in for the API server, for agent tests without a control plane.

`FakeCluster` keeps objects in memory, serves list+watch (with the
`spec.nodeName=<node>` field selector), records every status update, and
implements graceful deletion the way the API server does: a bound pod is
stamped with deletionTimestamp; `delete(grace_period_seconds=0, uid=...)`
removes it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

from google.protobuf.message import Message

from podlab import errors
from podlab.client import WatchEvent
from podlab.kinds import kind_named, kind_of
from podlab.podutil import now as now_ts
from podlab.v1 import objects_pb2 as v1


def _kind_name(kind: Any) -> str:
    return kind if isinstance(kind, str) else kind_named(kind.DESCRIPTOR.name).name


class FakeCluster:
    """Implements the AgentClient protocol in memory."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Message] = {}
        self.rv = 1
        self.status_updates: list[v1.Pod] = []
        self.leases: list[str] = []
        self.lease_fail = False
        self.deleted: list[tuple[str, str]] = []
        self._watchers: list[asyncio.Queue[WatchEvent]] = []
        self.changed = asyncio.Condition()

    # -- helpers for tests ----------------------------------------------------------

    def _key(self, kind: str, ns: str, name: str) -> tuple[str, str, str]:
        namespaced = kind_named(kind).namespaced
        return kind, (ns or "default") if namespaced else "", name

    async def _emit(self, type_: str, obj: Message) -> None:
        self.rv += 1
        obj.metadata.resource_version = str(self.rv)
        for q in self._watchers:
            copy = type(obj)()
            copy.CopyFrom(obj)
            q.put_nowait(WatchEvent(type_, copy, str(self.rv)))
        async with self.changed:
            self.changed.notify_all()

    async def add_pod(self, pod: v1.Pod, node: str) -> v1.Pod:
        """Create a pod already bound to `node` (uid assigned)."""
        pod.metadata.namespace = pod.metadata.namespace or "default"
        pod.metadata.uid = pod.metadata.uid or str(uuid.uuid4())
        pod.metadata.creation_timestamp.CopyFrom(now_ts())
        pod.spec.node_name = node
        pod.status.phase = pod.status.phase or "Pending"
        return await self.create(pod)

    def pod(self, name: str, namespace: str = "default") -> v1.Pod | None:
        obj = self.objects.get(("Pod", namespace, name))
        return obj if isinstance(obj, v1.Pod) else None

    async def wait_for(self, predicate: Any, timeout: float = 30.0) -> Any:
        """Wait until `predicate()` is truthy (re-checked on every change and every 0.2 s)."""
        async def loop() -> Any:
            while True:
                value = predicate()
                if value:
                    return value
                async with self.changed:
                    try:
                        async with asyncio.timeout(0.2):
                            await self.changed.wait()
                    except TimeoutError:
                        pass
        async with asyncio.timeout(timeout):
            return await loop()

    # -- the client surface -----------------------------------------------------------

    async def get(self, kind: Any, name: str, namespace: str = "") -> Any:
        k = _kind_name(kind)
        obj = self.objects.get(self._key(k, namespace, name))
        if obj is None:
            raise errors.NotFound(f'{k.lower()}s "{name}" not found')
        copy = type(obj)()
        copy.CopyFrom(obj)
        return copy

    async def create(self, obj: Any) -> Any:
        k = kind_of(obj).name
        key = self._key(k, obj.metadata.namespace, obj.metadata.name)
        if key in self.objects:
            raise errors.AlreadyExists(f'{k.lower()}s "{obj.metadata.name}" already exists')
        if kind_named(k).namespaced:
            obj.metadata.namespace = key[1]
        obj.metadata.uid = obj.metadata.uid or str(uuid.uuid4())
        self.objects[key] = obj
        await self._emit("ADDED", obj)
        return obj

    async def list(self, kind: Any, namespace: str = "", label_selector: str = "",
                   field_selector: str = "") -> tuple[list[Any], str]:
        k = _kind_name(kind)
        items = [o for (kk, _, _), o in self.objects.items() if kk == k and self._match(o, field_selector)]
        out = []
        for o in items:
            c = type(o)()
            c.CopyFrom(o)
            out.append(c)
        return out, str(self.rv)

    @staticmethod
    def _match(obj: Any, field_selector: str) -> bool:
        if field_selector.startswith("spec.nodeName="):
            return bool(obj.spec.node_name == field_selector.split("=", 1)[1])
        return True

    async def watch(self, kind: Any, namespace: str = "", resource_version: str = "",
                    label_selector: str = "", field_selector: str = "",
                    bookmark_seconds: int = 0) -> AsyncIterator[WatchEvent]:
        k = _kind_name(kind)
        q: asyncio.Queue[WatchEvent] = asyncio.Queue()
        self._watchers.append(q)
        try:
            while True:
                ev = await q.get()
                if ev.object is not None and kind_of(ev.object).name == k and \
                        (ev.type == "DELETED" or self._match(ev.object, field_selector)):
                    yield ev
        finally:
            self._watchers.remove(q)

    async def update(self, obj: Any) -> Any:
        k = kind_of(obj).name
        key = self._key(k, obj.metadata.namespace, obj.metadata.name)
        if key not in self.objects:
            raise errors.NotFound(f'{k.lower()}s "{obj.metadata.name}" not found')
        self.objects[key] = obj
        await self._emit("MODIFIED", obj)
        return obj

    async def update_status(self, obj: Any) -> Any:
        k = kind_of(obj).name
        key = self._key(k, obj.metadata.namespace, obj.metadata.name)
        stored = self.objects.get(key)
        if stored is None or (obj.metadata.uid and stored.metadata.uid != obj.metadata.uid):
            raise errors.NotFound(f'{k.lower()}s "{obj.metadata.name}" not found')
        stored.status.CopyFrom(obj.status)
        if isinstance(stored, v1.Pod):
            snap = v1.Pod()
            snap.CopyFrom(stored)
            self.status_updates.append(snap)
        await self._emit("MODIFIED", stored)
        copy = type(stored)()
        copy.CopyFrom(stored)
        return copy

    async def delete(self, kind: Any, name: str, namespace: str = "",
                     grace_period_seconds: int | None = None, uid: str = "",
                     resource_version: str = "") -> tuple[Any, bool]:
        k = _kind_name(kind)
        key = self._key(k, namespace, name)
        obj = self.objects.get(key)
        if obj is None:
            raise errors.NotFound(f'{k.lower()}s "{name}" not found')
        if uid and obj.metadata.uid != uid:
            raise errors.Conflict("uid precondition failed")
        if isinstance(obj, v1.Pod) and obj.spec.node_name and grace_period_seconds != 0:
            grace = grace_period_seconds if grace_period_seconds is not None else (
                obj.spec.termination_grace_period_seconds
                if obj.spec.HasField("termination_grace_period_seconds") else 30)
            if not obj.metadata.HasField("deletion_timestamp"):
                obj.metadata.deletion_timestamp.CopyFrom(now_ts())
            obj.metadata.deletion_grace_period_seconds = grace
            await self._emit("MODIFIED", obj)
            return obj, False
        del self.objects[key]
        self.deleted.append((key[1], name))
        await self._emit("DELETED", obj)
        return obj, True

    async def renew_lease(self, node_name: str) -> int:
        if self.lease_fail:
            raise errors.Unavailable("lease renewal refused (test partition)")
        self.leases.append(node_name)
        return 0
