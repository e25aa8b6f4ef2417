"""What a request asks besides its object: DeleteOptions, and dryRun.

A delete's options come from its query and its body (a DeleteOptions, as
kubectl and client-go send them); dryRun=All may be in the query (create,
update, patch) or in the body's options (delete, eviction).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from controlplane.strategies import DeleteOptions
from podlab import errors, names
from podlab.validation import ErrorList, go_strings, invalid


def delete_options(request: web.Request, body: dict[str, Any] | None) -> DeleteOptions:
    body = body or {}
    grace: Any = body.get("gracePeriodSeconds", request.query.get("gracePeriodSeconds"))
    if grace is not None:
        try:
            grace = int(grace)
        except (TypeError, ValueError):
            raise errors.BadRequest(f'invalid gracePeriodSeconds "{grace}"') from None
        if grace < 0:
            raise errors.BadRequest("gracePeriodSeconds must be >= 0")
    pre = body.get("preconditions") or {}
    if not isinstance(pre, dict):
        raise errors.BadRequest("preconditions must be an object")
    policy = body.get("propagationPolicy", request.query.get("propagationPolicy"))
    orphan: Any = body.get("orphanDependents", request.query.get("orphanDependents"))
    if orphan is not None and policy is not None:
        errs = ErrorList()
        errs.invalid("propagationPolicy", policy, "orphanDependents and deletionPropagation cannot be both set")
        raise invalid("DeleteOptions.meta.k8s.io", "", errs)
    if orphan is not None:  # the deprecated boolean: true orphans, false is the default
        policy = names.ORPHAN if orphan in (True, "true", "1") else names.BACKGROUND
    return DeleteOptions(grace, str(pre.get("uid") or ""), str(pre.get("resourceVersion") or ""),
                         str(policy or ""))


_OPTIONS = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions", "DELETE": "DeleteOptions"}


def dry_run(request: web.Request, options: dict[str, Any] | None = None) -> bool:
    """Whether a write asks for dryRun=All (the only value Kubernetes knows), in its query or in the
    options of its body (a DeleteOptions, an Eviction's); Invalid for any other value."""
    values = request.query.getall("dryRun", [])
    in_body = (options.get("dryRun") or []) if isinstance(options, dict) else []
    values += [str(v) for v in in_body] if isinstance(in_body, list) else [str(in_body)]
    if all(v == "All" for v in values):
        return bool(values)
    errs = ErrorList()
    errs.unsupported("dryRun", go_strings(values), ["All"])
    raise invalid(f"{_OPTIONS.get(request.method, 'CreateOptions')}.meta.k8s.io", "", errs)
