"""Validation on the control plane's side: what every kind's object shares (its metadata), and the
frame each kind's strategy fills with its own rules (controlplane.validation.pods for pods and every
pod template, controlplane.validation.core for the other core kinds).

Each rule appends to an ErrorList at a field path it is given, so a pod
template's spec is checked by the Pod's own rules at `spec.template.spec`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from google.protobuf.message import Message

from podlab.names import FINALIZER_DELETE_DEPENDENTS, FINALIZER_ORPHAN_DEPENDENTS
from podlab.v1 import objects_pb2 as v1
from podlab.validation import (
    ErrorList,
    check,
    dns1123_label_errors,
    go_strings,
    labels,
    non_negative,
    qualified_name_errors,
)

# ---------------------------------------------------------------- metadata


def object_meta_errors(errs: ErrorList, meta: v1.ObjectMeta, namespaced: bool,
                       name_check: Callable[[str], Sequence[str]]) -> None:
    if not meta.name:
        if not meta.generate_name:
            errs.required("metadata.name", "name or generateName is required")
    else:
        check(errs, "metadata.name", meta.name, name_check)
    if namespaced:
        if meta.namespace:
            check(errs, "metadata.namespace", meta.namespace, dns1123_label_errors)
    elif meta.namespace:
        errs.forbidden("metadata.namespace", "not allowed on this type")
    labels(errs, "metadata.labels", meta.labels)
    for key in sorted(meta.annotations):
        check(errs, "metadata.annotations", key.lower(), qualified_name_errors)
    size = sum(len(k) + len(v) for k, v in meta.annotations.items())
    if size > 256 * 1024:
        errs.too_long("metadata.annotations", 256 * 1024)
    if meta.HasField("deletion_grace_period_seconds"):
        non_negative(errs, "metadata.deletionGracePeriodSeconds",
                      meta.deletion_grace_period_seconds)
    finalizer_errors(errs, list(meta.finalizers))



def finalizer_errors(errs: ErrorList, finalizers: list[str]) -> None:
    """Kubernetes' ValidateFinalizers: qualified names, and never both orphan and foregroundDeletion."""
    for finalizer in finalizers:
        for msg in qualified_name_errors(finalizer):
            errs.invalid("metadata.finalizers", finalizer, msg)
    if FINALIZER_ORPHAN_DEPENDENTS in finalizers and FINALIZER_DELETE_DEPENDENTS in finalizers:
        errs.invalid("metadata.finalizers", go_strings(finalizers),
                     f"finalizer {FINALIZER_ORPHAN_DEPENDENTS} and {FINALIZER_DELETE_DEPENDENTS} "
                     "cannot be both set")



def meta_update_errors(errs: ErrorList, old_meta: v1.ObjectMeta, new_meta: v1.ObjectMeta) -> None:
    """What no update of any kind may change: name, namespace, uid; nor add finalizers while deleting."""
    for field in ("name", "namespace", "uid"):
        if getattr(old_meta, field) != getattr(new_meta, field):
            errs.invalid(f"metadata.{field}", getattr(new_meta, field), "field is immutable")
    if old_meta.HasField("deletion_timestamp"):
        extra = sorted(set(new_meta.finalizers) - set(old_meta.finalizers))
        if extra:
            errs.forbidden("metadata.finalizers", "no new finalizers can be added if the object is being deleted, "
                                                  f"found new finalizers {go_strings(extra)}")


def object_name(obj: Message) -> str:
    """The name an Invalid error names: the object's name, or its generateName."""
    meta: v1.ObjectMeta = obj.metadata
    return meta.name or meta.generate_name
