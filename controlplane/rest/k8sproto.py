"""Kubernetes' protobuf wire format, read for the bodies kubectl's typed clients send.

kubectl sends some bodies (create secret|configmap|namespace, drain's
evictions, typed deletes) as `application/vnd.kubernetes.protobuf`, and
client-go does not fall back to JSON on a 415. Those bodies are the magic
`k8s\\0` and a `runtime.Unknown` whose `raw` is the object in the field
numbers of `k8s.io/api/.../generated.proto`. The messages below are those
definitions, for the kinds that arrive this way, built as descriptors at
import (no generated code); a decoded body becomes the same JSON dict a
JSON body would be (the wire names are Kubernetes' JSON names), so the rest
of the request path is unchanged. A kind not listed here is a BadRequest.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError, Message

from podlab import errors

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
_PACKAGE = "podlab.k8swire"
_F = descriptor_pb2.FieldDescriptorProto
_SCALAR = {"string": _F.TYPE_STRING, "bytes": _F.TYPE_BYTES, "bool": _F.TYPE_BOOL, "int64": _F.TYPE_INT64,
           "int32": _F.TYPE_INT32}

# message -> [(field, number, type)]: "string", "[string]" (repeated), "{string}"/"{bytes}" (a map from
# string), or a message name ("[Name]" repeated).
_MESSAGES: dict[str, list[tuple[str, int, str]]] = {
    "TypeMeta": [("apiVersion", 1, "string"), ("kind", 2, "string")],
    "Unknown": [("typeMeta", 1, "TypeMeta"), ("raw", 2, "bytes"), ("contentEncoding", 3, "string"),
                ("contentType", 4, "string")],
    "OwnerReference": [("kind", 1, "string"), ("name", 3, "string"), ("uid", 4, "string"),
                       ("apiVersion", 5, "string"), ("controller", 6, "bool"), ("blockOwnerDeletion", 7, "bool")],
    "ObjectMeta": [("name", 1, "string"), ("generateName", 2, "string"), ("namespace", 3, "string"),
                   ("uid", 5, "string"), ("resourceVersion", 6, "string"), ("labels", 11, "{string}"),
                   ("annotations", 12, "{string}"), ("ownerReferences", 13, "[OwnerReference]"),
                   ("finalizers", 14, "[string]")],
    "Secret": [("metadata", 1, "ObjectMeta"), ("data", 2, "{bytes}"), ("type", 3, "string"),
               ("stringData", 4, "{string}"), ("immutable", 5, "bool")],
    "ConfigMap": [("metadata", 1, "ObjectMeta"), ("data", 2, "{string}"), ("binaryData", 3, "{bytes}"),
                  ("immutable", 4, "bool")],
    "NamespaceSpec": [("finalizers", 1, "[string]")],
    "Namespace": [("metadata", 1, "ObjectMeta"), ("spec", 2, "NamespaceSpec")],
    "Preconditions": [("uid", 1, "string"), ("resourceVersion", 2, "string")],
    "DeleteOptions": [("gracePeriodSeconds", 1, "int64"), ("preconditions", 2, "Preconditions"),
                      ("orphanDependents", 3, "bool"), ("propagationPolicy", 4, "string"),
                      ("dryRun", 5, "[string]")],
    "Eviction": [("metadata", 1, "ObjectMeta"), ("deleteOptions", 2, "DeleteOptions")],
}
# (apiVersion, kind) as the envelope names it -> the wire message.
_KINDS = {("v1", "Secret"): "Secret", ("v1", "ConfigMap"): "ConfigMap", ("v1", "Namespace"): "Namespace",
          ("policy/v1", "Eviction"): "Eviction", ("v1", "DeleteOptions"): "DeleteOptions",
          ("meta.k8s.io/v1", "DeleteOptions"): "DeleteOptions"}


def _field(message: descriptor_pb2.DescriptorProto, name: str, number: int, kind: str) -> None:
    field = message.field.add(name=name, number=number, json_name=name)
    if kind.startswith("{"):
        entry = message.nested_type.add(name=name[0].upper() + name[1:] + "Entry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL, json_name="key")
        entry.field.add(name="value", number=2, type=_SCALAR[kind[1:-1]], label=_F.LABEL_OPTIONAL,
                        json_name="value")
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


def _build() -> dict[str, type[Message]]:
    file = descriptor_pb2.FileDescriptorProto(name="podlab/k8swire.proto", package=_PACKAGE, syntax="proto2")
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for field in fields:
            _field(message, *field)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
            for name in _MESSAGES}


_CLASSES = _build()


def decode(raw: bytes) -> dict[str, Any]:
    """A protobuf body as the JSON dict of the same object.

    Raises BadRequest for a body that does not decode and for a kind this
    module has no wire message for (the client can send that one as JSON).
    """
    if not raw.startswith(MAGIC):
        raise errors.BadRequest("the protobuf body lacks the k8s envelope")
    try:
        envelope = _CLASSES["Unknown"].FromString(raw[len(MAGIC):])
        type_meta: Any = getattr(envelope, "typeMeta")  # noqa: B009 - a dynamic message's field
        api_version, kind = type_meta.apiVersion, type_meta.kind
        wire = _KINDS.get((api_version, kind))
        if wire is None:
            raise errors.BadRequest(f'{kind} in version "{api_version}" cannot be read as protobuf by this '
                                    "server; send JSON")
        obj = _CLASSES[wire].FromString(getattr(envelope, "raw"))  # noqa: B009
    except DecodeError as err:
        raise errors.BadRequest(f"the protobuf body does not decode: {err}") from None
    doc = json_format.MessageToDict(obj)
    return {"apiVersion": api_version, "kind": kind, **doc}
