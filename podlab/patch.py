"""Patches of an object's JSON: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and
Kubernetes' strategic merge patch; pure functions shared by the REST API and podctl.

Strategic merge patch merges the lists Kubernetes merges by key
(containers, volumes, env by name; ports by containerPort; volumeMounts by
mountPath; conditions by type) and honours the directives kubectl sends:
`$patch: delete|replace|merge`, `$setElementOrder/...`,
`$deleteFromPrimitiveList/...`, `$retainKeys`. Errors are ApiErrors with
the server's words, so both front ends report them alike.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch

from podlab import errors

JSON, MERGE, STRATEGIC = "json", "merge", "strategic"  # kubectl's --type words

# Kubernetes' patchMergeKey for the lists podlab's kinds have, by field name.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "volumes": "name",
    "env": "name", "ports": "containerPort", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "conditions": "type", "containerStatuses": "name",
    "initContainerStatuses": "name", "hostAliases": "ip", "addresses": "type", "readinessGates": "conditionType",
}


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


def apply_patch(doc: dict[str, Any], patch: Any, patch_type: str) -> dict[str, Any]:
    """`doc` with `patch` (decoded JSON) applied as `patch_type` (JSON, MERGE or STRATEGIC).

    Raises BadRequest for a patch of the wrong shape and Invalid for a JSON
    patch whose operations do not apply.
    """
    if patch_type == JSON:
        if not isinstance(patch, list):
            raise errors.BadRequest("a JSON patch must be a list of operations")
        try:
            patched = jsonpatch.apply_patch(doc, patch)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as err:
            raise errors.Invalid(f"the server rejected our request due to an error in our request: {err}") \
                from None
    else:
        if not isinstance(patch, dict):
            raise errors.BadRequest("a merge patch must be a JSON object")
        patched = merge_patch(doc, patch) if patch_type == MERGE else strategic_merge(doc, patch)
    if not isinstance(patched, dict):
        raise errors.BadRequest("the patched object is not a JSON object")
    return patched


def decode_patch(raw: bytes | str) -> Any:
    """A patch document's JSON (kubectl also takes YAML for -p; JSON is YAML's subset)."""
    try:
        return json.loads(raw)
    except ValueError as err:
        raise errors.BadRequest(f"the body of the request was in an unknown format: {err}") from None


def create_merge_patch(original: Any, edited: Any) -> Any:
    """The JSON merge patch that turns `original` into `edited` (what `edit` sends)."""
    if not isinstance(original, dict) or not isinstance(edited, dict):
        return copy.deepcopy(edited)
    patch: dict[str, Any] = {}
    for key in original.keys() - edited.keys():
        patch[key] = None
    for key, value in edited.items():
        if key not in original:
            patch[key] = copy.deepcopy(value)
        elif original[key] != value:
            patch[key] = (create_merge_patch(original[key], value)
                          if isinstance(value, dict) and isinstance(original[key], dict) else copy.deepcopy(value))
    return patch
