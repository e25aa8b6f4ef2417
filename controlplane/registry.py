"""The generic registry: typed API objects over a Store, with the semantics of each verb.

Kubernetes' generic store (`pkg/registry/generic/registry/store.go`): creates
stamp identity (uid, creationTimestamp), then default and validate; updates
are compare-and-swap on resourceVersion (the store's mod revision); deletion
follows the kind's plan; watch resumes from a resourceVersion. What a verb
means for one kind lives in that kind's Strategy (controlplane.strategies);
nothing here asks which kind it has. Pod-only verbs (bind, evict, replace)
sit above it in controlplane.podverbs.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from google.protobuf.message import Message

from controlplane.admission import CREATE, UPDATE, Admission, Attributes, default_admission
from controlplane.events import ControlPlaneEvents, EventSink
from controlplane.pipeline import current as current_request
from controlplane.storage import Change, Delete, Guard, KeyValue, Put, Store
from controlplane.strategies import (
    REMOVE,
    DeleteOptions,
    DeletePlan,
    Replace,
    Strategy,
    StrategyConfig,
    Terminate,
    Writes,
    finalizers_for_deletion,
    strategies,
)
from podlab import errors
from podlab.kinds import NAMESPACES, ApiObject, Kind, kind_of, meta
from podlab.names import BUILTIN_NAMESPACES, namespace_or_default
from podlab.podutil import now
from podlab.selectors import FieldSelector, compile_filter
from podlab.v1 import objects_pb2 as v1

log = logging.getLogger(__name__)

PREFIX = "/registry"
# How many times a verb re-reads after losing a race before it answers Conflict.
RETRIES = 16


def object_key(kind: Kind, name: str, namespace: str = "") -> bytes:
    if kind.namespaced:
        return f"{PREFIX}/{kind.plural}/{namespace}/{name}".encode()
    return f"{PREFIX}/{kind.plural}/{name}".encode()


def kind_prefix(kind: Kind, namespace: str = "") -> bytes:
    if kind.namespaced and namespace:
        return f"{PREFIX}/{kind.plural}/{namespace}/".encode()
    return f"{PREFIX}/{kind.plural}/".encode()


def resource_version(revision: int, unchanged: int | str = "") -> str:
    """The resourceVersion a write gives its object: the transaction's revision, or `unchanged` when
    it wrote nothing (a dry run's store answers 0: the object keeps its version, a new one has none)."""
    return str(revision or unchanged)


def describe(kind: Kind, name: str) -> str:
    """Kubernetes' way of naming an object in an error: `pods "x"`."""
    return f'{kind.plural} "{name}"'


def conflict(kind: Kind, name: str) -> errors.Conflict:
    return errors.Conflict(
        f'Operation cannot be fulfilled on {kind.plural} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again")


M = TypeVar("M", bound=Message)


@dataclass
class ObjectEvent:
    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK
    object: Message | None
    revision: int


class Registry:
    """Every verb of every kind. Errors: podlab.errors.ApiError subclasses.

    `events` receives the Events the registry itself records (a replaced
    pod); by default a ControlPlaneEvents writing through this registry.
    """

    def __init__(self, store: Store, config: StrategyConfig | None = None,
                 table: Mapping[str, Strategy] | None = None, events: EventSink | None = None,
                 admission: Admission | None = None) -> None:
        self.store = store
        config = config or StrategyConfig()
        self.strategies = dict(table or strategies(config))
        self.admission = admission or default_admission(config.default_toleration_seconds)
        if events is None:
            events = ControlPlaneEvents(self)
        self.events = events
        self._leases: dict[int, tuple[int, float]] = {}  # ttl -> (lease id, granted at)

    def strategy(self, kind: Kind[Any]) -> Strategy:
        """The kind's rules: its own strategy, or the generic one for a kind that brings none."""
        strategy = self.strategies.get(kind.name)
        if strategy is None:
            strategy = self.strategies[kind.name] = Strategy(kind)
        return strategy

    # -- encoding ------------------------------------------------------------------

    @staticmethod
    def _encode(obj: Message) -> bytes:
        meta(obj).resource_version = ""
        return obj.SerializeToString()

    @staticmethod
    def _decode(kind: Kind[M], value: bytes, revision: int) -> M:
        obj = kind.message.FromString(value)
        meta(obj).resource_version = str(revision)
        return obj

    def _decode_kv(self, kind: Kind[M], kv: KeyValue) -> M:
        return self._decode(kind, kv.value, kv.mod_revision)

    # -- bootstrapping ------------------------------------------------------------

    async def ensure_namespaces(self) -> None:
        for name in BUILTIN_NAMESPACES:
            try:
                await self.create(v1.Namespace(metadata=v1.ObjectMeta(name=name)))
            except errors.AlreadyExists:
                pass

    # -- reads --------------------------------------------------------------------

    async def exists(self, kind: Kind[Any], name: str, namespace: str = "") -> bool:
        return await self.store.get(object_key(kind, name, namespace)) is not None

    async def get(self, kind: Kind[M], name: str, namespace: str = "") -> M:
        kv = await self.store.get(object_key(kind, name, namespace))
        if kv is None:
            raise errors.NotFound(f"{describe(kind, name)} not found")
        return self._decode_kv(kind, kv)

    async def list(self, kind: Kind[M], namespace: str = "", label_selector: str = "",
                   field_selector: str = "", revision: int = 0) -> tuple[list[M], int]:
        """The objects the selectors match, as they are (or were at `revision`: Gone once compacted),
        and the revision of the read."""
        matches = compile_filter(label_selector, field_selector)
        prefix = kind_prefix(kind, namespace)
        if kind.namespaced and not namespace:
            pinned = FieldSelector.parse(field_selector).value_of("metadata.namespace")
            if pinned:
                prefix = kind_prefix(kind, pinned)
        kvs, revision = await self.store.list(prefix, revision)
        objects = (self._decode_kv(kind, kv) for kv in kvs)
        return [o for o in objects if matches(o)], revision

    # -- create -------------------------------------------------------------------

    async def create(self, obj: M) -> M:
        """Store a new object; raises AlreadyExists, NotFound (its namespace), Invalid, Forbidden (admission)."""
        kind = kind_of(obj)
        strategy = self.strategy(kind)
        typed = cast(ApiObject, obj)
        typed.api_version, typed.kind = kind.api_version, kind.name
        md = typed.metadata
        if not md.name and md.generate_name:
            md.name = md.generate_name + secrets.token_hex(3)[:5]
        strategy.default(obj)
        if not kind.namespaced:
            md.namespace = ""
        md.uid = str(uuid.uuid4())
        md.creation_timestamp.CopyFrom(now())
        md.ClearField("deletion_timestamp")
        md.ClearField("deletion_grace_period_seconds")
        attrs = Attributes(CREATE, obj, None, current_request())
        self.admission.admit(attrs)
        strategy.prepare_for_create(obj)
        strategy.validate(obj)
        self.admission.validate(attrs)

        key = object_key(kind, md.name, md.namespace)
        namespace_key = object_key(NAMESPACES, md.namespace) if kind.namespaced else b""
        lease = await self._lease(strategy.ttl_seconds)
        for _ in range(RETRIES):
            writes = Writes([Guard(key, 0, target="create")], [])
            if namespace_key:
                writes.guards.append(Guard(namespace_key, 0, target="create", result="greater"))
            if strategy.transactional:
                await strategy.on_create(obj, writes, self.store)
            writes.ops.insert(0, Put(key, self._encode(obj), lease))
            revision = await self.store.txn(writes.guards, writes.ops)
            if revision is not None:
                md.resource_version = resource_version(revision)
                return obj
            if namespace_key and await self.store.get(namespace_key) is None:
                raise errors.NotFound(f'namespaces "{md.namespace}" not found')
            if not writes.hook_guards or await self.store.get(key) is not None:
                raise errors.AlreadyExists(f"{describe(kind, md.name)} already exists")
            # A hook's guard failed: another writer took what it reserved; reserve again.
        raise errors.Conflict(f"{describe(kind, md.name)}: too many concurrent writers")

    async def _lease(self, ttl: int) -> int:
        """A lease for objects that expire; objects of one TTL share one per ~minute."""
        if ttl <= 0:
            return 0
        held = self._leases.get(ttl)
        if held is None or time.monotonic() - held[1] > min(60, ttl / 2):
            held = self._leases[ttl] = (await self.store.grant_lease(ttl), time.monotonic())
        return held[0]

    # -- updates ------------------------------------------------------------------

    async def guarded_update(self, kind: Kind[M], name: str, namespace: str, expected_rv: str,
                             mutate: Callable[[M], M | None]) -> M:
        """Read, apply `mutate` to the fresh object, and write back if nothing changed in between.

        With `expected_rv` the caller's read must still be current (else
        Conflict); without it, lost races are retried here. `mutate` returns
        the object to write, or None to write nothing (the current object is
        returned). An update keeps the key's lease: an Event's TTL outlives
        its updates. A write that leaves an object marked for deletion (grace 0) with no
        finalizers removes it instead (Kubernetes' ShouldDeleteDuringUpdate): the object
        written is returned, and a watch sees it DELETED.
        """
        key = object_key(kind, name, namespace)
        for _ in range(RETRIES):
            kv = await self.store.get(key)
            if kv is None:
                raise errors.NotFound(f"{describe(kind, name)} not found")
            if expected_rv and str(kv.mod_revision) != expected_rv:
                raise conflict(kind, name)
            current = self._decode_kv(kind, kv)
            finalizing = _awaits_only_finalizers(current)
            updated = mutate(current)
            if updated is None:
                return current
            writes = Writes([Guard(key, kv.mod_revision)], [])
            removing = finalizing and not meta(updated).finalizers
            strategy = self.strategy(kind)
            if strategy.transactional:
                if removing:
                    await strategy.on_delete(updated, writes, self.store)
                else:
                    await strategy.on_update(updated, self._decode_kv(kind, kv), writes, self.store)
            writes.ops.insert(0, Delete(key) if removing else Put(key, self._encode(updated), kv.lease))
            revision = await self.store.txn(writes.guards, writes.ops)
            if revision is not None:
                meta(updated).resource_version = resource_version(revision, kv.mod_revision)
                return updated
            if expected_rv and not writes.hook_guards:
                raise conflict(kind, name)
        raise errors.Conflict(f"{describe(kind, name)}: too many concurrent writers")

    async def update(self, obj: M) -> M:
        """Replace spec and metadata (status kept where it is a subresource), CAS on resourceVersion."""
        kind = kind_of(obj)
        strategy = self.strategy(kind)
        md = meta(obj)
        namespace = namespace_or_default(md.namespace) if kind.namespaced else ""
        ctx = current_request()

        def mutate(current: M) -> M | None:
            new = type(obj)()
            new.CopyFrom(obj)
            strategy.default(new)
            cur_meta, new_meta = meta(current), meta(new)
            _check_uid(new_meta.uid, cur_meta.uid)
            new_meta.uid, new_meta.namespace = cur_meta.uid, cur_meta.namespace
            new_meta.generate_name = cur_meta.generate_name
            new_meta.creation_timestamp.CopyFrom(cur_meta.creation_timestamp)
            if cur_meta.HasField("deletion_timestamp"):
                new_meta.deletion_timestamp.CopyFrom(cur_meta.deletion_timestamp)
                new_meta.deletion_grace_period_seconds = cur_meta.deletion_grace_period_seconds
            else:
                new_meta.ClearField("deletion_timestamp")
            typed_new, typed_current = cast(ApiObject, new), cast(ApiObject, current)
            typed_new.api_version, typed_new.kind = typed_current.api_version, typed_current.kind
            attrs = Attributes(UPDATE, new, current, ctx)
            self.admission.admit(attrs)
            strategy.prepare_for_update(new, current)
            strategy.validate(new)
            strategy.validate_update(new, current)
            self.admission.validate(attrs)
            new_meta.resource_version = ""
            return None if _same(new, current) else new

        return await self.guarded_update(kind, md.name, namespace, md.resource_version, mutate)

    async def update_status(self, obj: M) -> M:
        """Replace only .status, with CAS on metadata.resourceVersion when given."""
        kind = kind_of(obj)
        if not self.strategy(kind).status_subresource:
            raise errors.BadRequest(f"{kind.plural} have no status subresource")
        md = meta(obj)
        namespace = namespace_or_default(md.namespace) if kind.namespaced else ""
        status: Message = getattr(obj, "status")  # noqa: B009 - every kind with a status subresource has one

        def mutate(current: M) -> M | None:
            _check_uid(md.uid, meta(current).uid)
            current_status: Message = getattr(current, "status")  # noqa: B009
            if current_status == status:
                return None
            current_status.CopyFrom(status)
            return current

        return await self.guarded_update(kind, md.name, namespace, md.resource_version, mutate)

    # -- delete -------------------------------------------------------------------

    async def delete(self, kind: Kind[M], name: str, namespace: str = "",
                     options: DeleteOptions | None = None) -> tuple[M, bool]:
        """Delete an object as its strategy plans it and its finalizers allow. Returns the object and
        whether it is gone.

        The propagation policy first sets the garbage collector's finalizers (`orphan`,
        `foregroundDeletion`); an object left with any finalizer is only marked (deletionTimestamp,
        grace 0) and goes with the update that removes its last one. Preconditions (uid,
        resourceVersion) fail with Conflict, an unknown policy with Invalid. A terminating object's
        deadline may only be brought forward, and its finalizers no longer follow the policy.
        """
        options = options or DeleteOptions()
        options.validate()
        strategy = self.strategy(kind)
        key = object_key(kind, name, namespace)
        for _ in range(RETRIES):
            kv = await self.store.get(key)
            if kv is None:
                raise errors.NotFound(f"{describe(kind, name)} not found")
            current = self._decode_kv(kind, kv)
            md = meta(current)
            _check_uid(options.uid, md.uid)
            if options.resource_version and options.resource_version != str(kv.mod_revision):
                raise errors.Conflict(
                    f"Precondition failed: ResourceVersion in precondition: {options.resource_version}, "
                    f"ResourceVersion in object meta: {kv.mod_revision}")
            marked = md.HasField("deletion_timestamp")
            finalizers = finalizers_for_deletion(list(md.finalizers), options)
            if marked and not md.deletion_grace_period_seconds:
                plan: DeletePlan = REMOVE  # already marked with nothing to wait for but its finalizers
            else:
                plan = await strategy.delete_plan(current, options, self)
            if isinstance(plan, Replace):
                try:
                    await self.replace(current, plan)
                except errors.Conflict:
                    continue
                return current, True
            if isinstance(plan, Terminate):
                if marked and plan.grace_seconds >= md.deletion_grace_period_seconds:
                    return current, False  # already terminating, and deletion may only be hastened
                deadline = now()
                deadline.seconds += plan.grace_seconds
                md.deletion_timestamp.CopyFrom(deadline)
                md.deletion_grace_period_seconds = plan.grace_seconds
            elif not finalizers:
                writes = Writes([Guard(key, kv.mod_revision)], [Delete(key)])
                if strategy.transactional:
                    await strategy.on_delete(current, writes, self.store)
                if await self.store.txn(writes.guards, writes.ops) is not None:
                    return current, True
                continue
            else:
                if marked and md.deletion_grace_period_seconds == 0 and finalizers == list(md.finalizers):
                    return current, False  # marked already: its finalizers decide
                if not marked or md.deletion_grace_period_seconds:
                    md.deletion_timestamp.CopyFrom(now())
                md.deletion_grace_period_seconds = 0
            del md.finalizers[:]
            md.finalizers.extend(finalizers)
            revision = await self.store.txn([Guard(key, kv.mod_revision)], [Put(key, self._encode(current), kv.lease)])
            if revision is not None:
                md.resource_version = resource_version(revision, kv.mod_revision)
                return current, False
        raise errors.Conflict(f"{describe(kind, name)}: too many concurrent writers")

    async def replace(self, old: M, why: Replace) -> M:
        """Swap `old` for its strategy's new incarnation, and record an event saying why.

        One transaction removes the old object (guarded by its revision) and
        writes the new one, so there is never a moment with both or neither.
        Raises Conflict if `old` changed since it was read.
        """
        kind = kind_of(old)
        new = self.strategy(kind).new_incarnation(old)
        old_meta, new_meta = meta(old), meta(new)
        key = object_key(kind, old_meta.name, old_meta.namespace)
        revision = await self.store.txn([Guard(key, int(old_meta.resource_version))],
                                        [Put(key, self._encode(new))])
        if revision is None:
            raise errors.Conflict(f"{describe(kind, old_meta.name)} changed while being replaced")
        new_meta.resource_version = resource_version(revision)
        self.events.object_event(new, "Warning", why.reason,
                                 f"replaced {old_meta.uid} → {new_meta.uid}: {why.message}", why.component)
        return new

    # -- watch --------------------------------------------------------------------

    async def watch(self, kind: Kind, namespace: str = "", label_selector: str = "",
                    field_selector: str = "", resource_version: str = "",
                    bookmark_seconds: float = 0) -> AsyncIterator[ObjectEvent]:
        """Changes after `resource_version`, as Kubernetes' watch reports them.

        With a selector, an object that starts matching is ADDED and one that
        stops matching is DELETED. Raises Gone for a compacted revision,
        BadRequest for a resourceVersion that is not a revision.
        """
        matches = compile_filter(label_selector, field_selector)
        try:
            start = int(resource_version) + 1 if resource_version else 0
        except ValueError:
            raise errors.BadRequest(f'invalid resourceVersion "{resource_version}"') from None
        if start < 0:
            raise errors.BadRequest(f'invalid resourceVersion "{resource_version}"')
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
        was, is_ = old is not None and matches(old), new is not None and matches(new)
        if is_ and not was:
            return ObjectEvent("ADDED", new, change.revision)
        if is_ and was:
            return ObjectEvent("MODIFIED", new, change.revision)
        if was and not is_:
            return ObjectEvent("DELETED", new or old, change.revision)
        return None


def _awaits_only_finalizers(obj: Message) -> bool:
    """Marked for deletion with no grace left: it is kept only for its finalizers."""
    md = meta(obj)
    return md.HasField("deletion_timestamp") and not md.deletion_grace_period_seconds


def _check_uid(wanted: str, actual: str) -> None:
    if wanted and wanted != actual:
        raise errors.Conflict(f"Precondition failed: UID in precondition: {wanted}, UID in object meta: {actual}")


def _same(new: Message, current: Message) -> bool:
    """Whether writing `new` would change nothing (resourceVersion aside)."""
    copy = type(current)()
    copy.CopyFrom(current)
    meta(copy).resource_version = ""
    return new.SerializeToString(deterministic=True) == copy.SerializeToString(deterministic=True)
