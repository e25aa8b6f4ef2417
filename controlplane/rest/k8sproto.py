"""Kubernetes' protobuf wire format, read for the bodies kubectl's typed clients send.

kubectl sends its typed clients' bodies (create deployment|secret|configmap|
namespace, scale, drain's evictions, typed deletes) as
`application/vnd.kubernetes.protobuf`, and client-go does not fall back to
JSON on a 415. Those bodies are the magic `k8s\\0` and a `runtime.Unknown`
whose `raw` is the object in the field numbers of `k8s.io/api/.../generated.proto`.

The wire messages are built as descriptors at import (no generated code):
for every kind in podlab.kinds, from podlab's own descriptors (the same
fields, JSON names and nesting as Kubernetes' types) with Kubernetes' field
numbers from controlplane.rest.k8snumbers, Kubernetes' Time, IntOrString and
Quantity where podlab has a Timestamp, a Value and a quantity string, and the
embedded structs Kubernetes nests (k8snumbers.INLINE). The few messages that
are not kinds (the envelope, DeleteOptions, Eviction, autoscaling/v1 Scale)
are listed below. A decoded body becomes the same JSON dict a JSON body would
be, so the rest of the request path is unchanged; a new kind needs only its
numbers.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.rest.k8snumbers import INLINE, numbers
from podlab import errors
from podlab.kinds import KINDS, generation
from podlab.manifest import QUANTITY_FIELDS

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
_PACKAGE = "podlab.k8swire"
_F = descriptor_pb2.FieldDescriptorProto
_SCALAR = {"string": _F.TYPE_STRING, "bytes": _F.TYPE_BYTES, "bool": _F.TYPE_BOOL, "int64": _F.TYPE_INT64,
           "int32": _F.TYPE_INT32}
_INLINE_PREFIX = "Inline"  # the wire message of an embedded struct: Inline<Outer><Struct>

# Messages that are not podlab kinds: message -> [(field, number, type)]; a type is a scalar, "[T]"
# (repeated), "{string}"/"{bytes}" (a map from string) or a message name.
_MESSAGES: dict[str, list[tuple[str, int, str]]] = {
    "TypeMeta": [("apiVersion", 1, "string"), ("kind", 2, "string")],
    "Unknown": [("typeMeta", 1, "TypeMeta"), ("raw", 2, "bytes"), ("contentEncoding", 3, "string"),
                ("contentType", 4, "string")],
    "Time": [("seconds", 1, "int64"), ("nanos", 2, "int32")],
    "IntOrString": [("type", 1, "int64"), ("intVal", 2, "int32"), ("strVal", 3, "string")],
    "Quantity": [("string", 1, "string")],
    "Preconditions": [("uid", 1, "string"), ("resourceVersion", 2, "string")],
    "DeleteOptions": [("gracePeriodSeconds", 1, "int64"), ("preconditions", 2, "Preconditions"),
                      ("orphanDependents", 3, "bool"), ("propagationPolicy", 4, "string"),
                      ("dryRun", 5, "[string]")],
    "Eviction": [("metadata", 1, "ObjectMeta"), ("deleteOptions", 2, "DeleteOptions")],
    "ScaleSpec": [("replicas", 1, "int32")],
    "ScaleStatus": [("replicas", 1, "int32"), ("selector", 2, "string")],
    "Scale": [("metadata", 1, "ObjectMeta"), ("spec", 2, "ScaleSpec"), ("status", 3, "ScaleStatus")],
}
# (apiVersion, kind) as the envelope names it -> the wire message, beside every registered kind's own.
_OPTIONS = {("policy/v1", "Eviction"): "Eviction", ("v1", "DeleteOptions"): "DeleteOptions",
            ("meta.k8s.io/v1", "DeleteOptions"): "DeleteOptions", ("autoscaling/v1", "Scale"): "Scale"}


def _field(message: descriptor_pb2.DescriptorProto, name: str, number: int, kind: str) -> None:
    field = message.field.add(name=name, number=number, json_name=name)
    if kind.startswith("{"):
        entry = message.nested_type.add(name=name[0].upper() + name[1:] + "Entry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL, json_name="key")
        value = entry.field.add(name="value", number=2, label=_F.LABEL_OPTIONAL, json_name="value")
        inner = kind[1:-1]
        if inner in _SCALAR:
            value.type = _SCALAR[inner]
        else:
            value.type, value.type_name = _F.TYPE_MESSAGE, f".{_PACKAGE}.{inner}"
        field.label, field.type = _F.LABEL_REPEATED, _F.TYPE_MESSAGE
        field.type_name = f".{_PACKAGE}.{message.name}.{entry.name}"
        return
    repeated = kind.startswith("[")
    kind = kind.strip("[]")
    field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    if kind in _SCALAR:
        field.type = _SCALAR[kind]
    else:
        field.type, field.type_name = _F.TYPE_MESSAGE, f".{_PACKAGE}.{kind}"


def _wire_type(fd: FieldDescriptor, quantity: bool, pending: list[Descriptor]) -> str:
    """The wire type (as _field spells it) of podlab's field `fd`, queueing the messages it needs."""
    if fd.message_type is not None:
        name = fd.message_type.full_name
        if name == "google.protobuf.Timestamp":
            return "Time"
        if name == "google.protobuf.Value":
            return "IntOrString"
        pending.append(fd.message_type)
        return fd.message_type.name
    if quantity:
        return "Quantity"
    return "bytes" if fd.type == FieldDescriptor.TYPE_BYTES else {
        FieldDescriptor.CPPTYPE_STRING: "string", FieldDescriptor.CPPTYPE_BOOL: "bool",
        FieldDescriptor.CPPTYPE_INT32: "int32", FieldDescriptor.CPPTYPE_INT64: "int64"}[fd.cpp_type]


def _from_podlab(file: descriptor_pb2.FileDescriptorProto, root: Descriptor,
                 table: Mapping[str, Mapping[str, int]], kind_names: set[str]) -> None:
    """Add the wire messages for podlab message `root` and every message it reaches; raises ValueError
    for one whose Kubernetes numbers no registration declares."""
    done = {m.name for m in file.message_type}
    pending = [root]
    while pending:
        desc = pending.pop()
        if desc.name in done:
            continue
        done.add(desc.name)
        if desc.name not in table:
            raise ValueError(f"{root.name}: no kind declares Kubernetes' wire numbers for {desc.name}")
        own = table[desc.name]
        message = file.message_type.add(name=desc.name)
        embedded: descriptor_pb2.DescriptorProto | None = None
        inline = INLINE.get(desc.name)
        if inline is not None:
            embedded = file.message_type.add(name=f"{_INLINE_PREFIX}{desc.name}{inline[1]}")
            _field(message, inline[0], own[inline[0]], embedded.name)
        for fd in desc.fields:
            if desc.name in kind_names and fd.json_name in ("apiVersion", "kind"):
                continue  # the envelope's TypeMeta carries these
            quantity = (desc.full_name, fd.name) in QUANTITY_FIELDS
            if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
                value = fd.message_type.fields_by_name["value"]
                kind = "{" + _wire_type(value, quantity, pending) + "}"
            else:
                kind = _wire_type(fd, quantity, pending)
                kind = f"[{kind}]" if fd.is_repeated else kind
            if fd.json_name in own:
                _field(message, fd.json_name, own[fd.json_name], kind)
            elif embedded is not None and inline is not None and fd.json_name in table[inline[1]]:
                _field(embedded, fd.json_name, table[inline[1]][fd.json_name], kind)
            # else: a podlab-only field (NodeStatus.agentEndpoint), which Kubernetes' clients never send


@dataclass(frozen=True)
class _Wire:
    classes: dict[str, type[Message]]  # wire message name -> its class
    kinds: dict[tuple[str, str], str]  # (apiVersion, kind) -> wire message name


def build() -> _Wire:
    """The wire messages of every registered kind; raises ValueError for a kind that lacks numbers."""
    file = descriptor_pb2.FileDescriptorProto(name="podlab/k8swire.proto", package=_PACKAGE, syntax="proto2")
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for field in fields:
            _field(message, *field)
    table, kind_names = numbers(), {k.name for k in KINDS}
    for kind in KINDS:
        _from_podlab(file, kind.message.DESCRIPTOR, table, kind_names)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    classes = {m.name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{m.name}"))
               for m in file.message_type}
    return _Wire(classes, {**{(k.api_version, k.name): k.message.DESCRIPTOR.name for k in KINDS}, **_OPTIONS})


_built: tuple[int, _Wire] | None = None


def _wire() -> _Wire:
    """The wire messages, rebuilt when a kind is registered or removed."""
    global _built
    if _built is None or _built[0] != generation():
        _built = (generation(), build())
    return _built[1]


def _value(fd: FieldDescriptor, value: Any) -> Any:
    if fd.message_type is None:
        return base64.b64encode(value).decode() if fd.type == FieldDescriptor.TYPE_BYTES else value
    name = fd.message_type.name
    if name == "Time":  # Go writes a zero metav1.Time as an empty message: JSON's null, "not set"
        if not (value.seconds or value.nanos):
            return None
        return Timestamp(seconds=value.seconds, nanos=value.nanos).ToJsonString()
    if name == "IntOrString":
        return value.strVal if value.type == 1 else value.intVal
    if name == "Quantity":
        return getattr(value, "string")  # noqa: B009 - a dynamic message's field
    return _json(value)


def _json(message: Message) -> dict[str, Any]:
    """A wire message as Kubernetes' JSON for it: embedded structs flattened, Time/IntOrString/Quantity as text."""
    out: dict[str, Any] = {}
    for fd, value in message.ListFields():
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            value_fd = fd.message_type.fields_by_name["value"]
            out[fd.json_name] = {key: _value(value_fd, value[key]) for key in value}
        elif fd.is_repeated:
            out[fd.json_name] = [_value(fd, item) for item in value]
        elif fd.message_type is not None and fd.message_type.name.startswith(_INLINE_PREFIX):
            out.update(_json(value))
        else:
            single = _value(fd, value)
            if single is not None:
                out[fd.json_name] = single
    return out


def decode(raw: bytes) -> dict[str, Any]:
    """A protobuf body as the JSON dict of the same object.

    Raises BadRequest for a body that does not decode and for a kind this
    module has no wire message for (the client can send that one as JSON).
    """
    if not raw.startswith(MAGIC):
        raise errors.BadRequest("the protobuf body lacks the k8s envelope")
    try:
        wire_messages = _wire()
        envelope = wire_messages.classes["Unknown"].FromString(raw[len(MAGIC):])
        type_meta: Any = getattr(envelope, "typeMeta")  # noqa: B009 - a dynamic message's field
        api_version, kind = type_meta.apiVersion, type_meta.kind
        wire = wire_messages.kinds.get((api_version, kind))
        if wire is None:
            raise errors.BadRequest(f'{kind} in version "{api_version}" cannot be read as protobuf by this '
                                    "server; send JSON")
        obj = wire_messages.classes[wire].FromString(getattr(envelope, "raw"))  # noqa: B009
    except DecodeError as err:
        raise errors.BadRequest(f"the protobuf body does not decode: {err}") from None
    return {"apiVersion": api_version, "kind": kind, **_json(obj)}
