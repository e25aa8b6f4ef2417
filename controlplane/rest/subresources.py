"""The pod-only subresources that are verbs, not objects: `pods/{name}/binding` and `pods/{name}/eviction`.

A table keyed by (resource, subresource), as Kubernetes' storage map is,
so the router never asks which kind it serves. Each handler takes the
decoded request body and answers with a Status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from controlplane.api import Api
from podlab import errors


@dataclass(frozen=True)
class Subresource:
    kind: str  # the body's kind: "Binding"
    handle: Callable[[Api, str, str, dict[str, Any]], Awaitable[None]]


def _grace(options: Any) -> int | None:
    if not isinstance(options, dict) or options.get("gracePeriodSeconds") is None:
        return None
    grace = options["gracePeriodSeconds"]
    if not isinstance(grace, int) or grace < 0:
        raise errors.BadRequest("gracePeriodSeconds must be a non-negative integer")
    return grace


async def _bind(api: Api, namespace: str, name: str, body: dict[str, Any]) -> None:
    target = body.get("target") or {}
    node = target.get("name", "") if isinstance(target, dict) else ""
    if not node:
        raise errors.BadRequest("a binding needs a target node name")
    uid = (body.get("metadata") or {}).get("uid", "")
    await api.pods.bind(namespace, name, uid, node)


async def _evict(api: Api, namespace: str, name: str, body: dict[str, Any]) -> None:
    await api.pods.evict(namespace, name, _grace(body.get("deleteOptions")), "")


SUBRESOURCES: dict[tuple[str, str], Subresource] = {
    ("pods", "binding"): Subresource("Binding", _bind),
    ("pods", "eviction"): Subresource("Eviction", _evict),
}
