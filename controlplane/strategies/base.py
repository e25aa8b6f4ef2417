"""The seam between the generic registry and a kind's rules.

As Kubernetes' `pkg/registry/*/strategy.go`: the registry owns keys,
encoding, the verbs, watch and the compare-and-swap loop; a Strategy says
what a verb means for its kind. The registry calls the hooks in this order:

- create: `default` -> admission (mutating) -> `prepare_for_create` -> `validate` -> admission
  (validating) -> `on_create`;
- update: `default` -> admission (mutating) -> `prepare_for_update` -> `validate` ->
  `validate_update` -> admission (validating) -> `on_update`;
- update_status: only when `status_subresource`; the stored spec and
  metadata are kept, the status taken from the request;
- delete: `delete_plan` decides between removing the object now, marking it
  terminating with a deadline, or replacing it with a new incarnation
  (`new_incarnation`) in one transaction. Finalizers are the registry's, for
  every kind alike (`finalizers_for_deletion`): an object that still has
  finalizers is never removed, only marked (deletionTimestamp, grace 0), and
  the update that removes its last finalizer removes it.

Transactional hooks (`on_create`, `on_update`, `on_delete`) run last,
after validation and admission, and add guards and operations to the
object's own etcd transaction (`Writes`): an allocator reserves a ClusterIP
in the same transaction that stores its Service, and releases it in the one
that removes it, so a failed write leaves no allocation and a removal no
leak. When one of a hook's guards fails (another writer took the value), the
registry runs the verb again from a fresh read.

Hooks mutate the object they are given and raise podlab.errors.ApiError;
none does I/O except `delete_plan`, which may ask the registry whether an
object exists, and the transactional hooks, which may read the store
(`Reader`) to choose what to reserve.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Protocol

from google.protobuf.message import Message

from controlplane.storage import Delete, Guard, KeyValue, Put
from controlplane.validation import meta_update_errors, object_meta_errors, object_name
from podlab import errors, names
from podlab.kinds import Kind, meta
from podlab.names import DEFAULT_NAMESPACE
from podlab.validation import ErrorList, dns1123_subdomain_errors, invalid

GC_FINALIZERS = (names.FINALIZER_ORPHAN_DEPENDENTS, names.FINALIZER_DELETE_DEPENDENTS)


@dataclass(frozen=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    uid: str = ""  # precondition
    resource_version: str = ""  # precondition
    # Foreground, Background or Orphan; "" leaves it to the object's finalizers (Background when
    # it has none), as Kubernetes' nil.
    propagation_policy: str = ""

    def validate(self) -> None:
        """Kubernetes' ValidateDeleteOptions: raises Invalid for an unknown propagation policy."""
        if self.propagation_policy and self.propagation_policy not in names.PROPAGATION_POLICIES:
            errs = ErrorList()
            errs.unsupported("propagationPolicy", self.propagation_policy, (*names.PROPAGATION_POLICIES, "nil"))
            raise invalid("DeleteOptions.meta.k8s.io", "", errs)


def finalizers_for_deletion(finalizers: list[str], options: DeleteOptions) -> list[str]:
    """The finalizers an object has once deleted with `options` (deletionFinalizersForGarbageCollection).

    The policy asked for replaces the garbage collector's finalizers (Orphan adds `orphan`,
    Foreground `foregroundDeletion`, Background neither); with no policy they stay as they are.
    Every other finalizer is kept, in order.
    """
    policy = options.propagation_policy
    if not policy:
        return list(finalizers)
    kept = [f for f in finalizers if f not in GC_FINALIZERS]
    if policy == names.ORPHAN:
        kept.append(names.FINALIZER_ORPHAN_DEPENDENTS)
    elif policy == names.FOREGROUND:
        kept.append(names.FINALIZER_DELETE_DEPENDENTS)
    return kept


@dataclass(frozen=True)
class Remove:
    """Remove the object now."""


@dataclass(frozen=True)
class Terminate:
    """Mark it with deletionTimestamp = now + `grace_seconds`; whoever runs it confirms the end."""

    grace_seconds: int


@dataclass(frozen=True)
class Replace:
    """Swap it for `Strategy.new_incarnation(obj)` in one transaction, and record why."""

    reason: str
    message: str
    component: str


DeletePlan = Remove | Terminate | Replace
REMOVE = Remove()


class Lookup(Protocol):
    """What a delete plan may ask of the store."""

    async def exists(self, kind: Kind, name: str, namespace: str = "") -> bool: ...


class Reader(Protocol):
    """What a transactional hook may read: raw keys (its own allocation keys, say)."""

    async def get(self, key: bytes) -> KeyValue | None: ...

    async def list(self, prefix: bytes, revision: int = 0) -> tuple[list[KeyValue], int]: ...


@dataclass
class Writes:
    """The guards and operations of the transaction that writes one object; hooks append to them.

    `hook_guards` are the guards the hooks added: when the transaction fails and
    the object's own guards still hold, one of these failed, and the verb is retried.
    """

    guards: list[Guard]
    ops: list[Put | Delete]
    hook_guards: list[Guard] = field(default_factory=list)

    def guard(self, guard: Guard) -> None:
        self.hook_guards.append(guard)
        self.guards.append(guard)

    def put(self, key: bytes, value: bytes) -> None:
        self.ops.append(Put(key, value))

    def delete(self, key: bytes) -> None:
        self.ops.append(Delete(key))


class Strategy:
    """A kind's rules. The default: no status subresource, metadata validated, removed on delete.

    A kind with more to say overrides `default`, `field_errors` and
    `update_errors` (its own fields, at their paths) and any hook below.
    """

    # Status is written only through update_status; update keeps the stored one.
    status_subresource = False
    # Objects live this long (an etcd lease) when > 0: Events.
    ttl_seconds = 0
    # Kubernetes' name rule for the kind's objects (a DNS-1123 subdomain for most).
    name_errors = staticmethod(dns1123_subdomain_errors)

    def __init__(self, kind: Kind) -> None:
        self.kind = kind

    @functools.cached_property
    def transactional(self) -> bool:
        """Whether this kind adds to its objects' transactions (the registry skips the hooks otherwise)."""
        cls = type(self)
        return (cls.on_create is not Strategy.on_create or cls.on_update is not Strategy.on_update
                or cls.on_delete is not Strategy.on_delete)

    def prepare_for_create(self, obj: Message) -> None:
        """Server-set fields of a new object (status, admission defaults)."""

    def prepare_for_update(self, new: Message, old: Message) -> None:
        """Fields an update may not set; by default the stored status when it is a subresource."""
        if self.status_subresource:
            new.status.CopyFrom(old.status)

    def default(self, obj: Message) -> None:
        """Fill empty fields with Kubernetes' defaults, in place; idempotent, never raises."""
        md = meta(obj)
        if self.kind.namespaced and not md.namespace:
            md.namespace = DEFAULT_NAMESPACE

    def field_errors(self, errs: ErrorList, obj: Message) -> None:
        """Append the errors of the kind's own fields (metadata aside)."""

    def update_errors(self, errs: ErrorList, new: Message, old: Message) -> None:
        """Append what an update of this kind may not change (name, namespace and uid aside)."""

    def errors(self, obj: Message) -> ErrorList:
        """Every field error in `obj`, in Kubernetes' order: metadata first."""
        errs = ErrorList()
        object_meta_errors(errs, meta(obj), self.kind.namespaced, self.name_errors)
        self.field_errors(errs, obj)
        return errs

    def validate(self, obj: Message) -> None:
        """Raise Invalid listing every field error in `obj`."""
        errs = self.errors(obj)
        if errs:
            raise invalid(self.kind.name, object_name(obj), errs)

    def validate_update(self, new: Message, old: Message) -> None:
        """Raise Invalid when `new` changes what may not change since `old`."""
        errs = ErrorList()
        meta_update_errors(errs, meta(old), meta(new))
        self.update_errors(errs, new, old)
        if errs:
            raise invalid(self.kind.name, object_name(new), errs)

    async def delete_plan(self, obj: Message, options: DeleteOptions, lookup: Lookup) -> DeletePlan:
        return REMOVE

    async def on_create(self, obj: Message, writes: Writes, store: Reader) -> None:
        """Add to the transaction that stores the new `obj` (reserve what it holds)."""

    async def on_update(self, new: Message, old: Message, writes: Writes, store: Reader) -> None:
        """Add to the transaction that replaces `old` with `new` (reserve or release what changed)."""

    async def on_delete(self, obj: Message, writes: Writes, store: Reader) -> None:
        """Add to the transaction that removes `obj` for good (release what it held)."""

    def new_incarnation(self, old: Message) -> Message:
        """The object that replaces `old` under its name (a Replace plan)."""
        raise errors.BadRequest(f"{self.kind.plural} cannot be replaced")
