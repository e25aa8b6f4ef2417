"""The rules of the core kinds other than pods: Node, ConfigMap, Secret, Lease."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from google.protobuf.message import Message

from controlplane.validation.pods import TAINT_EFFECTS
from podlab.v1 import objects_pb2 as v1
from podlab.validation import (
    ErrorList,
    camel,
    check,
    config_key_errors,
    enum,
    label_value_errors,
    non_negative,
    qualified_name_errors,
    quantity,
)


def node_errors(errs: ErrorList, node: v1.Node) -> None:
    seen: set[tuple[str, str]] = set()
    for k, taint in enumerate(node.spec.taints):
        tpath = f"spec.taints[{k}]"
        if not taint.key:
            errs.required(f"{tpath}.key")
        else:
            check(errs, f"{tpath}.key", taint.key, qualified_name_errors)
        if taint.value:
            check(errs, f"{tpath}.value", taint.value, label_value_errors)
        enum(errs, f"{tpath}.effect", taint.effect, TAINT_EFFECTS, required=True)
        if (taint.key, taint.effect) in seen:
            errs.duplicate(tpath, f"{taint.key}:{taint.effect}")
        seen.add((taint.key, taint.effect))
    for field in ("capacity", "allocatable"):
        for name, value in sorted(getattr(node.status, field).items()):
            quantity(errs, f"status.{field}[{name}]", value)


def _config_keys(errs: ErrorList, path: str, keys: Iterable[str]) -> None:
    for key in sorted(keys):
        check(errs, f"{path}[{key}]", key, config_key_errors)


def config_map_errors(errs: ErrorList, cm: v1.ConfigMap) -> None:
    _config_keys(errs, "data", cm.data)
    _config_keys(errs, "binaryData", cm.binary_data)
    for key in sorted(cm.binary_data):
        if key in cm.data:
            errs.invalid("data", key, "duplicate of key present in binaryData")
    size = sum(len(k) + len(v) for k, v in cm.data.items())
    size += sum(len(k) + len(v) for k, v in cm.binary_data.items())
    if size > 1024 * 1024:
        errs.too_long("", 1024 * 1024)


def secret_errors(errs: ErrorList, secret: v1.Secret) -> None:
    _config_keys(errs, "data", secret.data)
    _config_keys(errs, "stringData", secret.string_data)
    size = sum(len(v) for v in secret.data.values())
    size += sum(len(v.encode()) for v in secret.string_data.values())
    if size > 1024 * 1024:
        errs.too_long("data", 1024 * 1024)


def lease_errors(errs: ErrorList, lease: v1.Lease) -> None:
    non_negative(errs, "spec.leaseDurationSeconds", lease.spec.lease_duration_seconds)
    non_negative(errs, "spec.leaseTransitions", lease.spec.lease_transitions)


def immutable_data_errors(errs: ErrorList, old: Message, new: Message, fields: Sequence[str]) -> None:
    if not getattr(old, "immutable", False):
        return
    for field in fields:
        if getattr(old, field) != getattr(new, field):
            errs.forbidden(camel(field), "field is immutable when `immutable` is set")
    if not new.HasField("immutable") or not new.immutable:
        errs.forbidden("immutable", "field is immutable when `immutable` is set")
