"""An in-memory stand-in for podlab.client.Client, for unit tests and the benchmark.

It keeps objects by kind and key with a global revision, enforces
resourceVersion on update (Conflict), implements Bind as the API server's
compare-and-swap (Conflict when already bound, NotFound when the pod, that
UID, or the node is gone), and streams watch events from any past revision.
Every object handed out is a copy, as over the wire.

`fail` queues exceptions a verb raises on its next calls; `latency` delays
every call (seconds), to model a network round-trip.
"""

from __future__ import annotations

import asyncio
import builtins
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from google.protobuf.message import Message

from podlab import errors
from podlab.client import WatchEvent, object_key
from podlab.kinds import kind_named, kind_of
from podlab.v1 import objects_pb2 as v1

M = TypeVar("M", bound=Message)


def _kind_name(kind: Any) -> str:
    return kind if isinstance(kind, str) else kind.DESCRIPTOR.name


def _copy(obj: M) -> M:
    out = type(obj)()
    out.CopyFrom(obj)
    return out


class FakeClient:
    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.revision = 0
        self.objects: dict[str, dict[str, Message]] = defaultdict(dict)
        self.log: list[tuple[int, str, str, Message]] = []  # (rev, kind, type, obj)
        self._watchers: list[tuple[str, asyncio.Queue[tuple[int, str, Message] | None]]] = []
        self.fail: dict[str, list[Exception]] = defaultdict(list)
        self.calls: dict[str, int] = defaultdict(int)
        self.keep_log = True

    # -- plumbing --------------------------------------------------------------------

    async def _enter(self, verb: str) -> None:
        self.calls[verb] += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.fail[verb]:
            raise self.fail[verb].pop(0)

    def _commit(self, kind: str, event: str, obj: Message) -> Message:
        self.revision += 1
        obj.metadata.resource_version = str(self.revision)  # type: ignore[attr-defined]
        key = object_key(obj)
        if event == "DELETED":
            self.objects[kind].pop(key, None)
        else:
            self.objects[kind][key] = obj
        if self.keep_log:
            self.log.append((self.revision, kind, event, obj))
        for wkind, queue in self._watchers:
            if wkind == kind:
                queue.put_nowait((self.revision, event, obj))
        return _copy(obj)

    # -- the verbs -------------------------------------------------------------------

    async def create(self, obj: M) -> M:
        await self._enter("create")
        return self.create_now(obj)

    def create_now(self, obj: M) -> M:
        """`create` without awaiting: for seeding tests and benchmarks."""
        kind = kind_of(obj)
        obj = _copy(obj)
        meta = obj.metadata  # type: ignore[attr-defined]
        if kind.namespaced and not meta.namespace:
            meta.namespace = "default"
        if not meta.name and meta.generate_name:
            meta.name = meta.generate_name + uuid.uuid4().hex[:5]
        if object_key(obj) in self.objects[kind.name]:
            raise errors.AlreadyExists(f'{kind.plural} "{meta.name}" already exists')
        meta.uid = meta.uid or str(uuid.uuid4())
        meta.creation_timestamp.GetCurrentTime()
        obj.kind = kind.name  # type: ignore[attr-defined]
        return self._commit(kind.name, "ADDED", obj)  # type: ignore[return-value]

    async def get(self, kind: Any, name: str, namespace: str = "") -> Message:
        await self._enter("get")
        k = kind_named(_kind_name(kind))
        key = f"{namespace or 'default'}/{name}" if k.namespaced else name
        obj = self.objects[k.name].get(key)
        if obj is None:
            raise errors.NotFound(f'{k.plural} "{name}" not found')
        return _copy(obj)

    async def list(self, kind: Any, namespace: str = "", label_selector: str = "",
                   field_selector: str = "") -> tuple[list[Message], str]:
        await self._enter("list")
        k = kind_named(_kind_name(kind))
        items = [_copy(o) for o in self.objects[k.name].values()
                 if not namespace or o.metadata.namespace == namespace]  # type: ignore[attr-defined]
        return items, str(self.revision)

    def _check_current(self, obj: Message) -> tuple[str, Message]:
        kind = kind_of(obj).name
        current = self.objects[kind].get(object_key(obj))
        meta = obj.metadata  # type: ignore[attr-defined]
        if current is None:
            raise errors.NotFound(f'"{meta.name}" not found')
        if meta.resource_version and meta.resource_version != \
                current.metadata.resource_version:  # type: ignore[attr-defined]
            raise errors.Conflict(f'Operation cannot be fulfilled on "{meta.name}": the object '
                                  "has been modified; please apply your changes to the latest "
                                  "version and try again")
        return kind, current

    async def update(self, obj: M) -> M:
        await self._enter("update")
        return self.update_now(obj)

    def update_now(self, obj: M) -> M:
        kind, current = self._check_current(obj)
        new = _copy(obj)
        if hasattr(new, "status") and hasattr(current, "status"):
            new.status.CopyFrom(current.status)  # type: ignore[attr-defined]
        new.metadata.uid = current.metadata.uid  # type: ignore[attr-defined]
        return self._commit(kind, "MODIFIED", new)  # type: ignore[return-value]

    async def update_status(self, obj: M) -> M:
        await self._enter("update_status")
        kind, current = self._check_current(obj)
        new = _copy(current)
        new.status.CopyFrom(obj.status)  # type: ignore[attr-defined]
        return self._commit(kind, "MODIFIED", new)  # type: ignore[return-value]

    async def delete(self, kind: Any, name: str, namespace: str = "",
                     grace_period_seconds: int | None = None, uid: str = "",
                     resource_version: str = "") -> tuple[Message, bool]:
        await self._enter("delete")
        return self.delete_now(kind, name, namespace)

    def delete_now(self, kind: Any, name: str, namespace: str = "") -> tuple[Message, bool]:
        k = kind_named(_kind_name(kind))
        key = f"{namespace or 'default'}/{name}" if k.namespaced else name
        obj = self.objects[k.name].get(key)
        if obj is None:
            raise errors.NotFound(f'{k.plural} "{name}" not found')
        return self._commit(k.name, "DELETED", _copy(obj)), True

    async def bind(self, namespace: str, name: str, uid: str, node_name: str) -> v1.Pod:
        await self._enter("bind")
        pod = self.objects["Pod"].get(f"{namespace}/{name}")
        if pod is None or (uid and pod.metadata.uid != uid):  # type: ignore[attr-defined]
            raise errors.NotFound(f'pods "{name}" not found')
        if pod.spec.node_name:  # type: ignore[attr-defined]
            raise errors.Conflict(f'pod {name} is already assigned to node '
                                  f'"{pod.spec.node_name}"')  # type: ignore[attr-defined]
        if node_name not in self.objects["Node"]:
            raise errors.NotFound(f'nodes "{node_name}" not found')
        new = _copy(pod)
        new.spec.node_name = node_name  # type: ignore[attr-defined]
        cond = next((c for c in new.status.conditions if c.type == "PodScheduled"),  # type: ignore[attr-defined]
                    None) or new.status.conditions.add(type="PodScheduled")  # type: ignore[attr-defined]
        cond.status, cond.reason, cond.message = "True", "", ""
        return self._commit("Pod", "MODIFIED", new)  # type: ignore[return-value]

    async def watch(self, kind: Any, namespace: str = "", resource_version: str = "",
                    label_selector: str = "", field_selector: str = "",
                    bookmark_seconds: int = 0) -> AsyncIterator[WatchEvent]:
        k = kind_named(_kind_name(kind)).name
        since = int(resource_version or 0)
        queue: asyncio.Queue[tuple[int, str, Message] | None] = asyncio.Queue()
        for rev, wkind, event, obj in self.log:
            if wkind == k and rev > since:
                queue.put_nowait((rev, event, obj))
        entry = (k, queue)
        self._watchers.append(entry)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    raise errors.Unavailable("watch closed")
                rev, event, obj = item
                if namespace and obj.metadata.namespace != namespace:  # type: ignore[attr-defined]
                    continue
                yield WatchEvent(event, _copy(obj), str(rev))
        finally:
            self._watchers.remove(entry)

    def break_watches(self) -> None:
        """End every open watch with Unavailable (a server restart, as seen by clients)."""
        for _, queue in self._watchers:
            queue.put_nowait(None)

    async def close(self) -> None:
        pass

    # -- conveniences for tests ---------------------------------------------------------

    def pods(self) -> builtins.list[v1.Pod]:
        return [_copy(p) for p in self.objects["Pod"].values()]  # type: ignore[misc]

    def pod(self, name: str, namespace: str = "default") -> v1.Pod:
        return _copy(self.objects["Pod"][f"{namespace}/{name}"])  # type: ignore[return-value]

    def events(self) -> builtins.list[v1.Event]:
        return [_copy(e) for e in self.objects["Event"].values()]  # type: ignore[misc]


def make_node(name: str, cpu: str = "4", memory: str = "8Gi", pods: int = 110,
              labels: dict[str, str] | None = None,
              taints: list[tuple[str, str, str]] | None = None,
              ready: str = "True", unschedulable: bool = False) -> v1.Node:
    node = v1.Node(api_version="v1", kind="Node")
    node.metadata.name = name
    node.metadata.labels.update(labels or {})
    node.spec.unschedulable = unschedulable
    for key, value, effect in taints or []:
        node.spec.taints.add(key=key, value=value, effect=effect)
    alloc = {"cpu": cpu, "memory": memory, "pods": str(pods)}
    node.status.capacity.update(alloc)
    node.status.allocatable.update(alloc)
    node.status.conditions.add(type="Ready", status=ready)
    return node


def make_pod(name: str, cpu: str = "", memory: str = "", namespace: str = "default",
             labels: dict[str, str] | None = None, node_selector: dict[str, str] | None = None,
             host_port: int = 0, priority: int | None = None,
             tolerations: list[tuple[str, str, str, str]] | None = None,
             scheduler_name: str = "") -> v1.Pod:
    pod = v1.Pod(api_version="v1", kind="Pod")
    pod.metadata.name, pod.metadata.namespace = name, namespace
    pod.metadata.labels.update(labels or {})
    pod.spec.scheduler_name = scheduler_name
    pod.spec.node_selector.update(node_selector or {})
    if priority is not None:
        pod.spec.priority = priority
    for key, op, value, effect in tolerations or []:
        pod.spec.tolerations.add(key=key, operator=op, value=value, effect=effect)
    c = pod.spec.containers.add(name="app", image="nginx")
    if cpu:
        c.resources.requests["cpu"] = cpu
    if memory:
        c.resources.requests["memory"] = memory
    if host_port:
        c.ports.add(container_port=80, host_port=host_port)
    pod.status.phase = "Pending"
    return pod
