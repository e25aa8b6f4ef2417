"""The verbs that exist only for pods and nodes, above the generic registry.

`bind` (pods/binding), `evict` (pods/eviction), `replace` (a lost or
evicted pod's new incarnation) and node heartbeats. The API server's front
ends and the controllers call these; nothing below them knows they exist.
"""

from __future__ import annotations

import json
import time
from typing import Any

from google.protobuf.message import Message

from controlplane.podfate import Cause, Fate, pod_fate
from controlplane.registry import PREFIX, Registry, object_key, resource_version
from controlplane.storage import Guard, Put
from controlplane.strategies import DeleteOptions, Replace
from podlab import errors, names
from podlab.kinds import kind_named
from podlab.podutil import set_condition
from podlab.v1 import objects_pb2 as v1

PODS = kind_named("Pod")
NODES = kind_named("Node")
HEARTBEATS = f"{PREFIX}/heartbeats/"


def heartbeat_key(node: str) -> bytes:
    return f"{HEARTBEATS}{node}".encode()


class PodVerbs:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.store = registry.store

    async def bind(self, namespace: str, name: str, uid: str, node_name: str) -> v1.Pod:
        """Set spec.nodeName with a CAS: never two nodes, never a replaced or deleted pod."""
        key = object_key(PODS, name, namespace)
        node_key = object_key(NODES, node_name)
        kv = await self.store.get(key)
        if kv is None:
            raise errors.NotFound(f'pods "{name}" not found')
        pod = v1.Pod.FromString(kv.value)

        def refused(why: str) -> errors.Conflict:
            return errors.Conflict(f'Operation cannot be fulfilled on pods/binding "{name}": {why}')

        if uid and pod.metadata.uid != uid:
            raise refused(f"the pod was replaced (uid {uid} is gone)")
        if pod.spec.node_name:
            raise refused(f'pod {name} is already assigned to node "{pod.spec.node_name}"')
        if pod.metadata.HasField("deletion_timestamp"):
            raise refused("pod is being deleted")
        pod.spec.node_name = node_name
        set_condition(pod.status, names.POD_SCHEDULED, "True")
        revision = await self.store.txn(
            [Guard(key, kv.mod_revision), Guard(node_key, 0, target="create", result="greater")],
            [Put(key, pod.SerializeToString())])
        if revision is None:
            if await self.store.get(node_key) is None:
                raise errors.NotFound(f'nodes "{node_name}" not found')
            raise refused("the object has been modified; please try again")
        pod.metadata.resource_version = resource_version(revision, kv.mod_revision)
        return pod

    async def evict(self, namespace: str, name: str, grace_period_seconds: int | None,
                    message: str) -> v1.Pod:
        """Evict a pod: terminate it gracefully; one that would restart comes back as a new pod.

        A pod whose fate (controlplane.podfate) is REPLACE -- a bare pod that
        would restart -- is marked so that, when its agent confirms it has
        stopped, the registry swaps in a replacement (same name and spec, new
        UID, no node) instead of deleting it. Any other pod is just deleted: a
        Never pod does not come back, and a pod with a controller is replaced
        by that controller, as in Kubernetes.
        """
        message = message or "Evicted through the API"

        def mark(current: Message) -> Message | None:
            assert isinstance(current, v1.Pod)
            annotations = current.metadata.annotations
            if (pod_fate(current, Cause.EVICTED) is not Fate.REPLACE
                    or names.EVICTED_ANNOTATION in annotations):
                return None
            annotations[names.EVICTED_ANNOTATION] = message
            return current

        marked = await self.registry.guarded_update(PODS, name, namespace, "", mark)
        assert isinstance(marked, v1.Pod)
        self.registry.events.object_event(marked, "Warning", "Evicted", message, "eviction")
        if not marked.spec.node_name and names.EVICTED_ANNOTATION in marked.metadata.annotations:
            return await self.replace(marked, "Evicted", message, component="eviction")
        pod, _ = await self.registry.delete(PODS, name, namespace, DeleteOptions(
            grace_period_seconds, uid=marked.metadata.uid))
        assert isinstance(pod, v1.Pod)
        return pod

    async def replace(self, old: v1.Pod, reason: str, message: str,
                      component: str = "node-lifecycle-controller") -> v1.Pod:
        """Swap `old` for a new pod with the same name and spec, a new UID and no node.

        Raises Conflict if `old` changed since it was read.
        """
        new = await self.registry.replace(old, Replace(reason, message, component))
        assert isinstance(new, v1.Pod)
        return new


class NodeHeartbeats:
    """Node heartbeats: one key per node, stamped with the control plane's clock (not an API object)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.store = registry.store

    async def renew(self, node_name: str, holder: str = "", started_ms: int = 0,
                    duration: float = 0.0) -> int:
        """Record that `node_name` is alive, renewed by `holder` (its agent); returns the stamp
        (ms since the epoch). Conflict when another holder's lease still holds: one agent per
        Node. (The read and the write are not one transaction: two agents racing for a free
        lease may both win once; the next renewal of the loser is refused.)"""
        if not await self.registry.exists(NODES, node_name):
            raise errors.NotFound(f'nodes "{node_name}" not found')
        now_ms = int(time.time() * 1000)
        key = heartbeat_key(node_name)
        kv = await self.store.get(key)
        held = _lease(kv.value) if kv is not None else {}
        other = held.get("holder", "")
        if holder and other and other != holder and \
                now_ms - int(held["renew_ms"]) < float(held.get("duration", 0)) * 1000:
            started = time.strftime("%H:%M:%S", time.gmtime(int(held.get("started_ms", 0)) / 1000))
            raise errors.Conflict(
                f'node "{node_name}" is held by another agent: {other} (started {started} UTC, '
                f"renewed {(now_ms - int(held['renew_ms'])) / 1000:.1f}s ago)")
        value = {"renew_ms": now_ms, "holder": holder, "started_ms": started_ms, "duration": duration}
        await self.store.put(key, json.dumps(value).encode())
        return now_ms

    async def all(self) -> dict[str, int]:
        """Node name -> its last heartbeat stamp."""
        kvs, _ = await self.store.list(HEARTBEATS.encode())
        return {kv.key.decode().rsplit("/", 1)[1]: int(_lease(kv.value)["renew_ms"]) for kv in kvs}


def _lease(value: bytes) -> dict[str, Any]:
    """A stored heartbeat: JSON with its holder, or (older) the bare stamp."""
    text = value.decode()
    if text.isdigit():
        return {"renew_ms": int(text)}
    found: dict[str, Any] = json.loads(text)
    return found
