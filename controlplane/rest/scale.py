"""The `scale` subresource of Deployments and ReplicaSets: autoscaling/v1 Scale, as `kubectl scale` uses it.

GET answers the object's Scale; PUT takes a Scale (JSON or protobuf) and
PATCH patches the Scale's JSON (kubectl scale sends a merge patch of
`spec.replicas`); either writes only `spec.replicas` back, as an update of
the object at the resourceVersion read (a Scale that names an older one is a
Conflict, which is how `kubectl scale --resource-version` works). Nothing
here names a kind: any kind whose spec has `replicas` and a `selector` and
whose status has `replicas` is scalable.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from controlplane.rest import codec, patch
from controlplane.rest.call import Call
from controlplane.rest.status import UnsupportedMediaType, json_response
from podlab import errors
from podlab.kinds import Kind, kind_for_resource, meta
from podlab.selectors import LabelSelector


def scale_of(obj: Any) -> dict[str, Any]:
    """`obj`'s autoscaling/v1 Scale."""
    full = codec.encode(obj)["metadata"]
    metadata = {k: full[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in full}
    status: dict[str, Any] = {"replicas": obj.status.replicas}
    selector = str(LabelSelector.from_api(obj.spec.selector))
    if selector:
        status["selector"] = selector
    return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": metadata,
            "spec": {"replicas": obj.spec.replicas}, "status": status}


def _replicas(scale: Any) -> tuple[int, str]:
    """The replicas a Scale asks for, and the resourceVersion it names ("" for none); raises BadRequest."""
    if not isinstance(scale, dict) or scale.get("kind", "Scale") != "Scale":
        raise errors.BadRequest("the body of the request must be a Scale")
    spec = scale.get("spec") or {}
    replicas = spec.get("replicas", 0) if isinstance(spec, dict) else None
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise errors.BadRequest("spec.replicas must be an integer")
    md = scale.get("metadata") or {}
    return replicas, str(md.get("resourceVersion") or "") if isinstance(md, dict) else ""


async def _write(call: Call, kind: Kind, current: Any, replicas: int, version: str) -> web.Response:
    if version and version != meta(current).resource_version:
        raise errors.Conflict(f'Operation cannot be fulfilled on {kind.plural}.{kind.api_version.split("/")[0]} '
                              f'"{call.name}": the object has been modified; please apply your changes to the '
                              "latest version and try again")
    updated = type(current)()
    updated.CopyFrom(current)
    updated.spec.replicas = replicas
    return json_response(scale_of(await call.api.registry.update(updated)))


async def serve_scale(call: Call) -> web.StreamResponse:
    kind = kind_for_resource(call.request.path.rstrip("/").split("/")[-3])  # .../{plural}/{name}/scale
    registry = call.api.registry
    current = await registry.get(kind, call.name, call.namespace)
    method = call.request.method
    if method == "GET":
        return json_response(scale_of(current))
    if method == "PUT":
        replicas, version = _replicas(await codec.read_body(call.request))
        return await _write(call, kind, current, replicas, version)
    if call.request.content_type not in patch.PATCH_TYPES:
        raise UnsupportedMediaType(f"the body of the request was in an unknown format - accepted media types "
                                   f"include: {', '.join(patch.PATCH_TYPES)}")
    try:
        body = json.loads(await codec.read_raw(call.request))
    except ValueError as err:
        raise errors.BadRequest(f"the body of the request was in an unknown format: {err}") from None
    replicas, version = _replicas(patch.apply_patch(scale_of(current), body, call.request.content_type))
    return await _write(call, kind, current, replicas, version)
