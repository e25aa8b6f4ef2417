"""PATCH: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and Kubernetes' strategic merge patch.

A patch is applied to the stored object's JSON, the result decoded as a
full object and written as an update at the read's resourceVersion, so
defaults, validation and optimistic concurrency are the update's. A lost
race re-reads and re-applies (the patch did not name a version).

Strategic merge patch merges the lists Kubernetes merges by key
(containers, volumes, env by name; ports by containerPort; volumeMounts by
mountPath; conditions by type) and honours the directives kubectl sends:
`$patch: delete|replace|merge`, `$setElementOrder/...`,
`$deleteFromPrimitiveList/...`, `$retainKeys`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
from aiohttp import web

from controlplane.registry import Registry
from controlplane.rest import codec
from controlplane.rest.status import UnsupportedMediaType
from podlab import errors
from podlab.kinds import Kind, meta

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
PATCH_TYPES = [JSON_PATCH, MERGE, STRATEGIC]

# Kubernetes' patchMergeKey for the lists podlab's kinds have, by field name.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "volumes": "name",
    "env": "name", "ports": "containerPort", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "conditions": "type", "containerStatuses": "name",
    "initContainerStatuses": "name", "hostAliases": "ip", "addresses": "type", "readinessGates": "conditionType",
}
RETRIES = 8


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    """Kubernetes' strategic merge of `patch` into `target` (a JSON value)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.partition("/")[2]
            if isinstance(out.get(name), list) and isinstance(value, list):
                out[name] = [v for v in out[name] if v not in value]
            continue
        if value is None:
            out.pop(key, None)
        elif isinstance(value, list) and key in MERGE_KEYS:
            out[key] = _merge_list(out.get(key), value, MERGE_KEYS[key])
        elif isinstance(value, dict):
            merged = strategic_merge(out.get(key), value, key)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        else:
            out[key] = copy.deepcopy(value)
    return out


def _merge_list(current: Any, patch: list[Any], key: str) -> list[Any]:
    items = [copy.deepcopy(i) for i in current] if isinstance(current, list) else []
    for element in patch:
        if not isinstance(element, dict):
            raise errors.BadRequest(f"a list merged by {key} must hold objects")
        if element.get("$patch") == "replace":
            return [{k: v for k, v in e.items() if k != "$patch"} for e in patch if isinstance(e, dict)]
        at = next((i for i, item in enumerate(items)
                   if isinstance(item, dict) and key in element and item.get(key) == element[key]), None)
        if element.get("$patch") == "delete":
            if at is not None:
                del items[at]
        elif at is None:
            items.append(strategic_merge({}, element))
        else:
            items[at] = strategic_merge(items[at], element)
    return items


def apply_patch(doc: dict[str, Any], patch: Any, content_type: str) -> Any:
    """`patch` (of `content_type`, one of PATCH_TYPES) applied to the JSON `doc`; raises BadRequest or Invalid."""
    if content_type == JSON_PATCH:
        if not isinstance(patch, list):
            raise errors.BadRequest("a JSON patch must be a list of operations")
        try:
            return jsonpatch.apply_patch(doc, patch)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as err:
            raise errors.Invalid(f"the server rejected our request due to an error in our request: {err}") \
                from None
    if not isinstance(patch, dict):
        raise errors.BadRequest("a merge patch must be a JSON object")
    if content_type == MERGE:
        return merge_patch(doc, patch)
    return strategic_merge(doc, patch)


async def apply(request: web.Request, registry: Registry, kind: Kind, name: str, namespace: str,
                status: bool = False) -> Any:
    """Patch object `name` as the request's content type says; returns the stored result."""
    content_type = request.content_type
    if content_type not in PATCH_TYPES:
        raise UnsupportedMediaType(f"the body of the request was in an unknown format - accepted media types "
                                   f"include: {', '.join(PATCH_TYPES)}")
    raw = await codec.read_raw(request)
    try:
        patch = json.loads(raw)
    except ValueError as err:
        raise errors.BadRequest(f"the body of the request was in an unknown format: {err}") from None
    for _ in range(RETRIES):
        current = await registry.get(kind, name, namespace)
        patched = apply_patch(codec.encode(current), patch, content_type)
        if not isinstance(patched, dict):
            raise errors.BadRequest("the patched object is not a JSON object")
        md = patched.get("metadata")
        md = md if isinstance(md, dict) else {}
        if md.get("name", name) != name:
            raise errors.BadRequest("a patch may not change the object's name")
        pinned = bool(md.get("resourceVersion")) and md["resourceVersion"] != meta(current).resource_version
        obj = codec.decode(patched, kind, request)
        meta(obj).resource_version = meta(obj).resource_version or meta(current).resource_version
        try:
            return await (registry.update_status(obj) if status else registry.update(obj))
        except errors.Conflict:
            if pinned:
                raise
    raise errors.Conflict(f'{kind.plural} "{name}": too many concurrent writers')
