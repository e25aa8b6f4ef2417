"""The seam between the generic registry and a kind's rules.

As Kubernetes' `pkg/registry/*/strategy.go`: the registry owns keys,
encoding, the verbs, watch and the compare-and-swap loop; a Strategy says
what a verb means for its kind. The registry calls the hooks in this order:

- create: defaults -> `prepare_for_create` -> `validate`;
- update: defaults -> `prepare_for_update` -> `validate` -> `validate_update`;
- update_status: only when `status_subresource`; the stored spec and
  metadata are kept, the status taken from the request;
- delete: `delete_plan` decides between removing the object now, marking it
  terminating with a deadline, or replacing it with a new incarnation
  (`new_incarnation`) in one transaction. Finalizers are the registry's, for
  every kind alike (`finalizers_for_deletion`): an object that still has
  finalizers is never removed, only marked (deletionTimestamp, grace 0), and
  the update that removes its last finalizer removes it.

Hooks mutate the object they are given and raise podlab.errors.ApiError;
none does I/O except `delete_plan`, which may ask the registry whether an
object exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from google.protobuf.message import Message

from podlab import errors, names
from podlab.kinds import Kind
from podlab.validation import ErrorList, invalid, validate, validate_update

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


class Strategy:
    """The default rules: no status subresource, validated by podlab.validation, removed on delete."""

    # Status is written only through update_status; update keeps the stored one.
    status_subresource = False
    # Objects live this long (an etcd lease) when > 0: Events.
    ttl_seconds = 0

    def __init__(self, kind: Kind) -> None:
        self.kind = kind

    def prepare_for_create(self, obj: Message) -> None:
        """Server-set fields of a new object (status, admission defaults)."""

    def prepare_for_update(self, new: Message, old: Message) -> None:
        """Fields an update may not set; by default the stored status when it is a subresource."""
        if self.status_subresource:
            new.status.CopyFrom(old.status)

    def validate(self, obj: Message) -> None:
        validate(obj)

    def validate_update(self, new: Message, old: Message) -> None:
        validate_update(old, new)

    async def delete_plan(self, obj: Message, options: DeleteOptions, lookup: Lookup) -> DeletePlan:
        return REMOVE

    def new_incarnation(self, old: Message) -> Message:
        """The object that replaces `old` under its name (a Replace plan)."""
        raise errors.BadRequest(f"{self.kind.plural} cannot be replaced")
