"""PATCH over REST: the request's content type picks podlab.patch's kind of patch.

A patch is applied to the stored object's JSON, the result decoded as a
full object and written as an update at the read's resourceVersion, so
defaults, validation and optimistic concurrency are the update's. A lost
race re-reads and re-applies (the patch did not name a version).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from controlplane.registry import Registry
from controlplane.rest import codec
from controlplane.rest.status import UnsupportedMediaType
from podlab import errors
from podlab.kinds import Kind, meta
from podlab.patch import JSON, MERGE, STRATEGIC, decode_patch
from podlab.patch import apply_patch as patch_json

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
PATCH_TYPES = {JSON_PATCH: JSON, MERGE_PATCH: MERGE, STRATEGIC_PATCH: STRATEGIC}
RETRIES = 8


def apply_patch(doc: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    """`patch` of `content_type` (one of PATCH_TYPES) applied to the JSON `doc`; raises BadRequest or Invalid."""
    if content_type not in PATCH_TYPES:
        raise UnsupportedMediaType(f"the body of the request was in an unknown format - accepted media types "
                                   f"include: {', '.join(PATCH_TYPES)}")
    return patch_json(doc, patch, PATCH_TYPES[content_type])


async def apply(request: web.Request, registry: Registry, kind: Kind, name: str, namespace: str,
                status: bool = False) -> Any:
    """Patch object `name` as the request's content type says; returns the stored result."""
    content_type = request.content_type
    if content_type not in PATCH_TYPES:
        raise UnsupportedMediaType(f"the body of the request was in an unknown format - accepted media types "
                                   f"include: {', '.join(PATCH_TYPES)}")
    patch = decode_patch(await codec.read_raw(request))
    for _ in range(RETRIES):
        current = await registry.get(kind, name, namespace)
        patched = apply_patch(codec.encode(current), patch, content_type)
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
