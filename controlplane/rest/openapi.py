"""OpenAPI generated from the proto descriptors: v3 (JSON) for explain and validation, v2 as kubectl reads it.

kubectl 1.32 reads `/openapi/v3` for `explain`, and to learn that the
server validates (`fieldValidation` on each kind's PATCH): then `apply` and
`create` leave validation to the server, which decodes strictly
(podlab.manifest). It also fetches `/openapi/v2`, which it can only read as
protobuf; that document is served empty (valid, and without schemas, so
kubectl falls back on the server's own validation).

Field names are protobuf's JSON names (Kubernetes' lowerCamelCase), types
follow the proto field types; every message becomes a schema under its full
proto name, and each kind's schema carries x-kubernetes-group-version-kind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from controlplane.rest import discovery
from controlplane.strategies import Strategy
from podlab.kinds import KINDS, Kind

# What kube-apiserver answers with (the "@" of the Accept header is no valid media type).
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_SCALARS: dict[int, dict[str, str]] = {
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
    FieldDescriptor.TYPE_ENUM: {"type": "string"},
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "double"},
    **{t: {"type": "integer", "format": "int32"} for t in (
        FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_SFIXED32)},
    **{t: {"type": "integer", "format": "int64"} for t in (
        FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64)},
}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Value": {"x-kubernetes-int-or-string": True},
    "google.protobuf.Struct": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


class _Schemas:
    def __init__(self) -> None:
        self.schemas: dict[str, dict[str, Any]] = {}

    def message(self, desc: Descriptor) -> str:
        name = desc.full_name
        if name not in self.schemas:
            self.schemas[name] = {}  # placed first: messages may nest themselves
            props = {fd.json_name: self.field(fd) for fd in desc.fields}
            self.schemas[name] = {"type": "object", "properties": props}
        return name

    def single(self, fd: FieldDescriptor) -> dict[str, Any]:
        if fd.message_type is None:
            return dict(_SCALARS[fd.type])
        known = _WELL_KNOWN.get(fd.message_type.full_name)
        if known is not None:
            return dict(known)
        return {"allOf": [_ref(self.message(fd.message_type))]}

    def field(self, fd: FieldDescriptor) -> dict[str, Any]:
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            value = fd.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.single(value)}
        if fd.is_repeated:
            return {"type": "array", "items": self.single(fd)}
        return self.single(fd)


def _gvk(kind: Kind) -> list[dict[str, str]]:
    group, version = discovery.group_version(kind)
    return [{"group": group, "version": version, "kind": kind.name}]


def _item_path(kind: Kind) -> str:
    group, version = discovery.group_version(kind)
    root = f"/apis/{group}/{version}" if group else "/api/v1"
    scope = "/namespaces/{namespace}" if kind.namespaced else ""
    return f"{root}{scope}/{kind.plural}/{{name}}"


def group_document(group: str, version: str) -> dict[str, Any] | None:
    """The OpenAPI v3 document of one group/version, or None if podlab serves nothing there."""
    kinds = discovery.kinds_in(group, version)
    if not kinds:
        return None
    out = _Schemas()
    paths: dict[str, Any] = {}
    for kind in kinds:
        name = out.message(kind.message.DESCRIPTOR)
        out.schemas[name]["x-kubernetes-group-version-kind"] = _gvk(kind)
        body = {"content": {"application/json": {"schema": _ref(name)}}}
        paths[_item_path(kind)] = {
            "get": {"operationId": f"read{kind.name}", "responses": {"200": body},
                    "x-kubernetes-action": "get", "x-kubernetes-group-version-kind": _gvk(kind)[0]},
            "patch": {"operationId": f"patch{kind.name}", "responses": {"200": body},
                      "parameters": [{"name": p, "in": "query", "schema": {"type": "string"}}
                                     for p in ("dryRun", "fieldManager", "fieldValidation", "force")],
                      "x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": _gvk(kind)[0]},
        }
    return {"openapi": "3.0.0", "info": {"title": "podlab", "version": version}, "paths": paths,
            "components": {"schemas": out.schemas}}


def _group_key(kind: Kind) -> str:
    group, version = discovery.group_version(kind)
    return f"apis/{group}/{version}" if group else "api/v1"


def add_routes(app: web.Application, strategies: Mapping[str, Strategy]) -> None:
    documents: dict[str, bytes] = {}
    for kind in KINDS:
        key = _group_key(kind)
        if key not in documents:
            group, version = discovery.group_version(kind)
            documents[key] = json.dumps(group_document(group, version), separators=(",", ":")).encode()
    hashes = {key: hashlib.sha256(doc).hexdigest()[:32].upper() for key, doc in documents.items()}
    root = json.dumps({"paths": {key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={h}"}
                                 for key, h in hashes.items()}}).encode()

    async def v3_root(request: web.Request) -> web.Response:
        return web.Response(body=root, content_type="application/json")

    async def v3_group(request: web.Request) -> web.Response:
        doc = documents.get(request.match_info["key"])
        if doc is None:
            raise web.HTTPNotFound()
        return web.Response(body=doc, content_type="application/json")

    async def v2(request: web.Request) -> web.Response:
        return web.Response(body=b"", content_type=V2_PROTOBUF)

    app.router.add_get("/openapi/v3", v3_root)
    app.router.add_get("/openapi/v3/{key:.+}", v3_group)
    app.router.add_get("/openapi/v2", v2)
