"""Typed API objects over etcd: keys, encoding, and the semantics of each verb.

The registry is the API server minus gRPC: creates stamp identity
(uid, creationTimestamp) and default/validate; updates are compare-and-swap
on resourceVersion (the etcd mod revision); pod deletion is graceful; bind is
a compare-and-swap that can never give one pod two nodes. The gRPC servicer
and the in-process controllers both call it.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.storage import Change, Delete, Guard, Put, Store
from podlab import errors
from podlab.defaults import apply_defaults, default_node_loss_tolerations
from podlab.kinds import Kind, kind_named, kind_of
from podlab.podutil import qos_class, set_condition
from podlab.selectors import FieldSelector, compile_filter
from podlab.v1 import objects_pb2 as v1
from podlab.validation import validate, validate_update

log = logging.getLogger(__name__)

PREFIX = "/registry"
BUILTIN_NAMESPACES = ("default", "kube-system", "kube-node-lease")
# Marks a pod being evicted: when its agent confirms it stopped, a new pod replaces it.
EVICTED_ANNOTATION = "podlab.io/evicted"
# Kinds whose status is written only through update_status.
STATUS_KINDS = ("Pod", "Node", "Namespace")


def now() -> Timestamp:
    ts = Timestamp()
    ts.GetCurrentTime()
    return ts


def object_key(kind: Kind, namespace: str, name: str) -> bytes:
    if kind.namespaced:
        return f"{PREFIX}/{kind.plural}/{namespace}/{name}".encode()
    return f"{PREFIX}/{kind.plural}/{name}".encode()


def kind_prefix(kind: Kind, namespace: str = "") -> bytes:
    if kind.namespaced and namespace:
        return f"{PREFIX}/{kind.plural}/{namespace}/".encode()
    return f"{PREFIX}/{kind.plural}/".encode()


def heartbeat_key(node: str) -> bytes:
    return f"{PREFIX}/heartbeats/{node}".encode()


def describe(kind: Kind, namespace: str, name: str) -> str:
    """Kubernetes' way of naming an object in an error: `pods "x"`."""
    return f'{kind.plural} "{name}"'


@dataclass
class RegistryConfig:
    event_ttl_seconds: int = 3600
    # tolerationSeconds given to pods for the node-loss taints, as Kubernetes'
    # DefaultTolerationSeconds admission plugin does.
    default_toleration_seconds: int = 4


@dataclass
class ObjectEvent:
    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK
    object: Message | None
    revision: int


class Registry:
    def __init__(self, store: Store, config: RegistryConfig | None = None) -> None:
        self.store = store
        self.config = config or RegistryConfig()
        self._event_lease: tuple[int, float] | None = None

    # -- encoding ------------------------------------------------------------------

    @staticmethod
    def _encode(obj: Message) -> bytes:
        obj.metadata.resource_version = ""  # type: ignore[attr-defined]
        return obj.SerializeToString()

    @staticmethod
    def _decode(kind: Kind, value: bytes, revision: int) -> Message:
        obj = kind.message.FromString(value)
        obj.metadata.resource_version = str(revision)  # type: ignore[attr-defined]
        return obj

    # -- bootstrapping ------------------------------------------------------------

    async def ensure_namespaces(self) -> None:
        for name in BUILTIN_NAMESPACES:
            try:
                await self.create(v1.Namespace(metadata=v1.ObjectMeta(name=name)))
            except errors.AlreadyExists:
                pass

    # -- verbs --------------------------------------------------------------------

    async def create(self, obj: Message) -> Message:
        kind = kind_of(obj)
        obj.api_version = "coordination.k8s.io/v1" if kind.name == "Lease" else "v1"  # type: ignore[attr-defined]
        obj.kind = kind.name  # type: ignore[attr-defined]
        meta = obj.metadata  # type: ignore[attr-defined]
        if not meta.name and meta.generate_name:
            meta.name = meta.generate_name + secrets.token_hex(3)[:5]
        apply_defaults(obj)
        if not kind.namespaced:
            meta.namespace = ""
        meta.uid = str(uuid.uuid4())
        meta.creation_timestamp.CopyFrom(now())
        meta.ClearField("deletion_timestamp")
        meta.ClearField("deletion_grace_period_seconds")
        if kind.name == "Pod":
            self._admit_pod(obj)  # type: ignore[arg-type]
        elif kind.name == "Namespace":
            obj.status.phase = "Active"  # type: ignore[attr-defined]
        validate(obj)

        key = object_key(kind, meta.namespace, meta.name)
        guards = [Guard(key, 0, target="create")]
        if kind.namespaced:
            ns_key = object_key(kind_named("Namespace"), "", meta.namespace)
            guards.append(Guard(ns_key, 0, target="create", result="greater"))
        lease = await self._event_lease_id() if kind.name == "Event" else 0
        revision = await self.store.txn(guards, [Put(key, self._encode(obj), lease)])
        if revision is None:
            if kind.namespaced and await self.store.get(guards[1].key) is None:
                raise errors.NotFound(f'namespaces "{meta.namespace}" not found')
            raise errors.AlreadyExists(f"{describe(kind, meta.namespace, meta.name)} already exists")
        meta.resource_version = str(revision)
        return obj

    def _admit_pod(self, pod: v1.Pod) -> None:
        """Server-side pod admission: fresh status, QoS, and node-loss tolerations."""
        pod.ClearField("status")
        pod.status.phase = "Pending"
        pod.status.qos_class = qos_class(pod)
        if pod.spec.node_name:
            # A pod created with spec.nodeName bypasses the scheduler, as in Kubernetes.
            pod.status.conditions.add(type="PodScheduled", status="True", last_transition_time=now())
        self._add_node_loss_tolerations(pod)

    def _add_node_loss_tolerations(self, pod: v1.Pod) -> None:
        """Kubernetes' DefaultTolerationSeconds: ride out a lost node for a while, unless told otherwise."""
        for toleration in default_node_loss_tolerations(self.config.default_toleration_seconds):
            if not any(t.key == toleration.key and t.effect in ("", "NoExecute") or
                       (not t.key and t.operator == "Exists") for t in pod.spec.tolerations):
                pod.spec.tolerations.append(toleration)

    async def _event_lease_id(self) -> int:
        """Events share one etcd lease per ~minute, so each does not cost its own grant."""
        ttl = self.config.event_ttl_seconds
        if self._event_lease is None or time.monotonic() - self._event_lease[1] > min(60, ttl / 2):
            self._event_lease = (await self.store.grant_lease(ttl), time.monotonic())
        return self._event_lease[0]

    async def get(self, kind: Kind, namespace: str, name: str) -> Message:
        kv = await self.store.get(object_key(kind, namespace, name))
        if kv is None:
            raise errors.NotFound(f"{describe(kind, namespace, name)} not found")
        return self._decode(kind, kv.value, kv.mod_revision)

    async def list(self, kind: Kind, namespace: str = "", label_selector: str = "",
                   field_selector: str = "") -> tuple[list[Message], int]:
        matches = compile_filter(label_selector, field_selector)
        prefix = kind_prefix(kind, namespace)
        if kind.namespaced and not namespace:
            pinned = FieldSelector.parse(field_selector).value_of("metadata.namespace")
            if pinned:
                prefix = kind_prefix(kind, pinned)
        kvs, revision = await self.store.list(prefix)
        objects = (self._decode(kind, kv.value, kv.mod_revision) for kv in kvs)
        return [o for o in objects if matches(o)], revision

    async def _swap(self, kind: Kind, namespace: str, name: str, expected_rv: str,
                    mutate: Callable[[Message], Message | None]) -> Message:
        """Read, apply `mutate` to a copy, and write back if nothing changed in between.

        With `expected_rv` the caller's read must still be current (else
        Conflict); without it, lost races are retried here. `mutate` returns
        the object to write, or None to write nothing.
        """
        key = object_key(kind, namespace, name)
        for _ in range(16):
            kv = await self.store.get(key)
            if kv is None:
                raise errors.NotFound(f"{describe(kind, namespace, name)} not found")
            if expected_rv and str(kv.mod_revision) != expected_rv:
                raise errors.Conflict(
                    f'Operation cannot be fulfilled on {kind.plural} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again")
            current = self._decode(kind, kv.value, kv.mod_revision)
            updated = mutate(current)
            if updated is None:
                return current
            # An update keeps the key's lease: an Event's TTL outlives its updates.
            revision = await self.store.txn([Guard(key, kv.mod_revision)],
                                            [Put(key, self._encode(updated), kv.lease)])
            if revision is not None:
                updated.metadata.resource_version = str(revision)  # type: ignore[attr-defined]
                return updated
            if expected_rv:
                raise errors.Conflict(
                    f'Operation cannot be fulfilled on {kind.plural} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again")
        raise errors.Conflict(f"{describe(kind, namespace, name)}: too many concurrent writers")

    async def update(self, obj: Message) -> Message:
        """Replace spec and metadata (status kept) with CAS on metadata.resourceVersion."""
        kind = kind_of(obj)
        meta = obj.metadata  # type: ignore[attr-defined]
        namespace = (meta.namespace or "default") if kind.namespaced else ""

        def mutate(current: Message) -> Message:
            new = type(obj)()
            new.CopyFrom(obj)
            apply_defaults(new)
            cur_meta, new_meta = current.metadata, new.metadata  # type: ignore[attr-defined]
            if new_meta.uid and new_meta.uid != cur_meta.uid:
                raise errors.Conflict(
                    f'Precondition failed: UID in precondition: {new_meta.uid}, UID in object meta: '
                    f'{cur_meta.uid}')
            for field in ("uid", "creation_timestamp", "namespace", "generate_name"):
                if field in ("uid", "namespace", "generate_name"):
                    setattr(new_meta, field, getattr(cur_meta, field))
                else:
                    new_meta.creation_timestamp.CopyFrom(cur_meta.creation_timestamp)
            if cur_meta.HasField("deletion_timestamp"):
                new_meta.deletion_timestamp.CopyFrom(cur_meta.deletion_timestamp)
                new_meta.deletion_grace_period_seconds = cur_meta.deletion_grace_period_seconds
            else:
                new_meta.ClearField("deletion_timestamp")
            new.api_version, new.kind = current.api_version, current.kind  # type: ignore[attr-defined]
            if kind.name in STATUS_KINDS:
                new.status.CopyFrom(current.status)  # type: ignore[attr-defined]
            if kind.name == "Pod":
                self._add_node_loss_tolerations(new)  # type: ignore[arg-type]
            validate(new)
            validate_update(current, new)
            new_meta.resource_version = ""
            if new.SerializeToString(deterministic=True) == _without_rv(current):
                return None  # type: ignore[return-value]
            return new

        return await self._swap(kind, namespace, meta.name, meta.resource_version, mutate)

    async def update_status(self, obj: Message) -> Message:
        """Replace only .status, with CAS on metadata.resourceVersion when given."""
        kind = kind_of(obj)
        if kind.name not in STATUS_KINDS:
            raise errors.BadRequest(f"{kind.plural} have no status subresource")
        meta = obj.metadata  # type: ignore[attr-defined]
        namespace = (meta.namespace or "default") if kind.namespaced else ""

        def mutate(current: Message) -> Message | None:
            if meta.uid and meta.uid != current.metadata.uid:  # type: ignore[attr-defined]
                raise errors.Conflict(
                    f'Precondition failed: UID in precondition: {meta.uid}, UID in object meta: '
                    f'{current.metadata.uid}')  # type: ignore[attr-defined]
            if current.status == obj.status:  # type: ignore[attr-defined]
                return None
            new = type(current)()
            new.CopyFrom(current)
            new.status.CopyFrom(obj.status)  # type: ignore[attr-defined]
            return new

        return await self._swap(kind, namespace, meta.name, meta.resource_version, mutate)

    async def delete(self, kind: Kind, namespace: str, name: str, grace_period_seconds: int | None = None,
                     uid: str = "", resource_version: str = "") -> tuple[Message, bool]:
        """Delete an object; pods on a node are only marked (graceful deletion).

        Returns the object and whether it is gone. A pod bound to a live node
        gets deletionTimestamp = now + grace; its agent stops it and confirms
        with grace 0. Grace 0, an unbound pod, or any other kind: removed now.
        """
        key = object_key(kind, namespace, name)
        for _ in range(16):
            kv = await self.store.get(key)
            if kv is None:
                raise errors.NotFound(f"{describe(kind, namespace, name)} not found")
            current = self._decode(kind, kv.value, kv.mod_revision)
            meta = current.metadata  # type: ignore[attr-defined]
            if uid and uid != meta.uid:
                raise errors.Conflict(
                    f"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta.uid}")
            if resource_version and resource_version != str(kv.mod_revision):
                raise errors.Conflict(
                    f"Precondition failed: ResourceVersion in precondition: {resource_version}, "
                    f"ResourceVersion in object meta: {kv.mod_revision}")
            graceful = kind.name == "Pod" and await self._needs_graceful_delete(current, grace_period_seconds)  # type: ignore[arg-type]
            if not graceful:
                evicted = kind.name == "Pod" and uid and EVICTED_ANNOTATION in meta.annotations
                if evicted:
                    # The agent confirmed an evicted pod is stopped: its replacement takes the name.
                    try:
                        await self.replace_pod(current, "Evicted",  # type: ignore[arg-type]
                                               meta.annotations[EVICTED_ANNOTATION], component="eviction")
                    except errors.Conflict:
                        continue
                    return current, True
                if await self.store.txn([Guard(key, kv.mod_revision)], [Delete(key)]) is not None:
                    return current, True
                continue
            pod: v1.Pod = current  # type: ignore[assignment]
            grace = grace_period_seconds if grace_period_seconds is not None else (
                pod.spec.termination_grace_period_seconds if pod.spec.HasField(
                    "termination_grace_period_seconds") else 30)
            if pod.metadata.HasField("deletion_timestamp") and (
                    grace >= pod.metadata.deletion_grace_period_seconds):
                return pod, False  # already terminating, and deletion may only be hastened
            deadline = now()
            deadline.seconds += grace
            pod.metadata.deletion_timestamp.CopyFrom(deadline)
            pod.metadata.deletion_grace_period_seconds = grace
            revision = await self.store.txn([Guard(key, kv.mod_revision)], [Put(key, self._encode(pod))])
            if revision is not None:
                pod.metadata.resource_version = str(revision)
                return pod, False
        raise errors.Conflict(f"{describe(kind, namespace, name)}: too many concurrent writers")

    async def _needs_graceful_delete(self, pod: v1.Pod, grace: int | None) -> bool:
        if grace == 0 or not pod.spec.node_name:
            return False
        # A pod on a node that no longer exists has nobody to confirm its end.
        node = await self.store.get(object_key(kind_named("Node"), "", pod.spec.node_name))
        return node is not None

    async def bind(self, namespace: str, name: str, uid: str, node_name: str) -> v1.Pod:
        """Set spec.nodeName with a CAS: never two nodes, never a replaced or deleted pod."""
        pods = kind_named("Pod")
        key = object_key(pods, namespace, name)
        node_key = object_key(kind_named("Node"), "", node_name)
        kv = await self.store.get(key)
        if kv is None:
            raise errors.NotFound(f'pods "{name}" not found')
        pod: v1.Pod = self._decode(pods, kv.value, kv.mod_revision)  # type: ignore[assignment]
        if uid and pod.metadata.uid != uid:
            raise errors.Conflict(f'Operation cannot be fulfilled on pods/binding "{name}": '
                                  f"the pod was replaced (uid {uid} is gone)")
        if pod.spec.node_name:
            raise errors.Conflict(f'Operation cannot be fulfilled on pods/binding "{name}": '
                                  f"pod {name} is already assigned to node \"{pod.spec.node_name}\"")
        if pod.metadata.HasField("deletion_timestamp"):
            raise errors.Conflict(f'Operation cannot be fulfilled on pods/binding "{name}": '
                                  "pod is being deleted")
        pod.spec.node_name = node_name
        set_condition(pod.status, "PodScheduled", "True")
        revision = await self.store.txn(
            [Guard(key, kv.mod_revision), Guard(node_key, 0, target="create", result="greater")],
            [Put(key, self._encode(pod))])
        if revision is None:
            if await self.store.get(node_key) is None:
                raise errors.NotFound(f'nodes "{node_name}" not found')
            raise errors.Conflict(f'Operation cannot be fulfilled on pods/binding "{name}": '
                                  "the object has been modified; please try again")
        pod.metadata.resource_version = str(revision)
        return pod

    async def evict(self, namespace: str, name: str, grace_period_seconds: int | None,
                    message: str) -> v1.Pod:
        """Evict a pod: terminate it gracefully; one that would restart comes back as a new pod.

        A pod with restartPolicy Always or OnFailure is marked so that, when its
        agent confirms it has stopped, the registry swaps in a replacement (same
        name and spec, new UID, no node) instead of deleting it. A Never pod is
        just deleted.
        """
        pods = kind_named("Pod")
        message = message or "Evicted through the API"

        def mark(current: Message) -> Message | None:
            pod: v1.Pod = current  # type: ignore[assignment]
            if pod.spec.restart_policy == "Never" or EVICTED_ANNOTATION in pod.metadata.annotations:
                return None
            pod.metadata.annotations[EVICTED_ANNOTATION] = message
            return pod

        marked: v1.Pod = await self._swap(pods, namespace, name, "", mark)  # type: ignore[assignment]
        await self.record_event(marked, "Evicted", message, type_="Warning", component="eviction")
        if not marked.spec.node_name and EVICTED_ANNOTATION in marked.metadata.annotations:
            return await self.replace_pod(marked, "Evicted", message, component="eviction")
        pod, _ = await self.delete(pods, namespace, name, grace_period_seconds, uid=marked.metadata.uid)
        return pod  # type: ignore[return-value]

    async def replace_pod(self, old: v1.Pod, reason: str, message: str,
                          component: str = "node-lifecycle-controller") -> v1.Pod:
        """Swap `old` for a new pod with the same name and spec, a new UID and no node.

        One etcd transaction removes the old object (guarded by its revision)
        and writes the new one, so there is never a moment with both or
        neither. Raises Conflict if `old` changed since it was read.
        """
        pods = kind_named("Pod")
        new = v1.Pod()
        new.CopyFrom(old)
        new.metadata.uid = str(uuid.uuid4())
        new.metadata.creation_timestamp.CopyFrom(now())
        new.metadata.ClearField("deletion_timestamp")
        new.metadata.ClearField("deletion_grace_period_seconds")
        new.spec.node_name = ""
        new.metadata.annotations.pop(EVICTED_ANNOTATION, None)
        self._admit_pod(new)
        key = object_key(pods, old.metadata.namespace, old.metadata.name)
        revision = await self.store.txn([Guard(key, int(old.metadata.resource_version))],
                                        [Put(key, self._encode(new))])
        if revision is None:
            raise errors.Conflict(f'pods "{old.metadata.name}" changed while being replaced')
        new.metadata.resource_version = str(revision)
        await self.record_event(new, reason, f"replaced {old.metadata.uid} → {new.metadata.uid}: {message}",
                                type_="Warning", component=component)
        return new

    async def record_event(self, obj: Message, reason: str, message: str, type_: str = "Normal",
                           component: str = "podlab", host: str = "") -> None:
        """Create an Event about `obj`; never raises (events are best effort)."""
        meta = obj.metadata  # type: ignore[attr-defined]
        event = v1.Event(
            metadata=v1.ObjectMeta(name=f"{meta.name}.{secrets.token_hex(8)}",
                                   namespace=meta.namespace or "default"),
            involved_object=v1.ObjectReference(kind=kind_of(obj).name, namespace=meta.namespace,
                                               name=meta.name, uid=meta.uid),
            reason=reason, message=message, type=type_, count=1,
            source=v1.EventSource(component=component, host=host), reporting_component=component)
        ts = now()
        event.first_timestamp.CopyFrom(ts)
        event.last_timestamp.CopyFrom(ts)
        try:
            await self.create(event)
        except errors.ApiError as err:
            log.warning("could not record event %s for %s: %s", reason, meta.name, err)

    async def renew_heartbeat(self, node_name: str) -> int:
        """Record that `node_name` is alive, stamped with the control plane's clock."""
        if await self.store.get(object_key(kind_named("Node"), "", node_name)) is None:
            raise errors.NotFound(f'nodes "{node_name}" not found')
        now_ms = int(time.time() * 1000)
        await self.store.put(heartbeat_key(node_name), str(now_ms).encode())
        return now_ms

    async def heartbeats(self) -> dict[str, int]:
        kvs, _ = await self.store.list(f"{PREFIX}/heartbeats/".encode())
        return {kv.key.decode().rsplit("/", 1)[1]: int(kv.value) for kv in kvs}

    async def watch(self, kind: Kind, namespace: str = "", label_selector: str = "",
                    field_selector: str = "", resource_version: str = "",
                    bookmark_seconds: float = 0) -> AsyncIterator[ObjectEvent]:
        """Changes after `resource_version`, as Kubernetes' watch reports them.

        With a selector, an object that starts matching is ADDED and one that
        stops matching is DELETED. Raises Gone for a compacted revision.
        """
        matches = compile_filter(label_selector, field_selector)
        try:
            start = int(resource_version) + 1 if resource_version else 0
        except ValueError:
            raise errors.BadRequest(f'invalid resourceVersion "{resource_version}"') from None
        async for batch in self.store.watch(kind_prefix(kind, namespace), start, bookmark_seconds):
            if isinstance(batch, int):
                yield ObjectEvent("BOOKMARK", None, batch)
                continue
            for change in batch:
                event = self._to_event(kind, change, matches)
                if event is not None:
                    yield event

    def _to_event(self, kind: Kind, change: Change, matches: Callable[[Message], bool]) -> ObjectEvent | None:
        old = self._decode(kind, change.prev, change.revision) if change.prev is not None else None
        new = self._decode(kind, change.value, change.revision) if change.value is not None else None
        was, now_ = old is not None and matches(old), new is not None and matches(new)
        if now_ and not was:
            return ObjectEvent("ADDED", new, change.revision)
        if now_ and was:
            return ObjectEvent("MODIFIED", new, change.revision)
        if was and not now_:
            return ObjectEvent("DELETED", new or old, change.revision)
        return None


def _without_rv(obj: Message) -> bytes:
    copy = type(obj)()
    copy.CopyFrom(obj)
    copy.metadata.resource_version = ""  # type: ignore[attr-defined]
    return copy.SerializeToString(deterministic=True)
