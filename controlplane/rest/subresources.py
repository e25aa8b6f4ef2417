"""The subresources that are verbs or streams, not objects: pods' binding, eviction, log, exec, attach,
portforward; scale.

A table keyed by (resource, subresource), as Kubernetes' storage map is,
so the router never asks which kind it serves. Each entry names the HTTP
method it answers and the body kind it reads (if any).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from aiohttp import web

from controlplane.rest.call import Call
from controlplane.rest.options import dry_run
from controlplane.rest.portforward import serve_portforward
from controlplane.rest.remotecommand import serve_attach, serve_exec
from controlplane.rest.scale import serve_scale
from podlab import errors
from podlab.kinds import KINDS
from podlab.v1 import services_pb2 as api_pb


@dataclass(frozen=True)
class Subresource:
    methods: tuple[str, ...]  # the HTTP methods it answers
    kind: str  # what discovery lists as its kind
    verbs: tuple[str, ...]
    # Returns a response, or None for "done": 201 with a Success Status.
    handle: Callable[[Call], Awaitable[web.StreamResponse | None]]
    group_version: str = ""  # discovery's group/version of `kind` when it is not the parent's ("autoscaling/v1")


def _grace(options: Any) -> int | None:
    if not isinstance(options, dict) or options.get("gracePeriodSeconds") is None:
        return None
    grace = options["gracePeriodSeconds"]
    if not isinstance(grace, int) or grace < 0:
        raise errors.BadRequest("gracePeriodSeconds must be a non-negative integer")
    return grace


async def _bind(call: Call) -> None:
    body = await call.body("Binding")
    target = body.get("target") or {}
    node = target.get("name", "") if isinstance(target, dict) else ""
    if not node:
        raise errors.BadRequest("a binding needs a target node name")
    uid = (body.get("metadata") or {}).get("uid", "")
    await call.api.pods.bind(call.namespace, call.name, uid, node)


async def _evict(call: Call) -> None:
    body = await call.body("Eviction")
    options = body.get("deleteOptions")
    api = call.api.writer(isinstance(options, dict) and dry_run(call.request, options))
    await api.pods.evict(call.namespace, call.name, _grace(options), "")


def _int(query: Any, name: str) -> int | None:
    text = query.get(name)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise errors.BadRequest(f'invalid {name} "{text}"') from None


async def _log(call: Call) -> web.StreamResponse:
    """The container's log as chunked text/plain, as long as the agent streams it (follow)."""
    q = call.request.query
    logs = api_pb.LogsRequest(namespace=call.namespace, name=call.name, container=q.get("container", ""),
                              follow=q.get("follow") == "true", previous=q.get("previous") == "true",
                              timestamps=q.get("timestamps") == "true")
    for field, param in (("tail_lines", "tailLines"), ("since_seconds", "sinceSeconds")):
        value = _int(q, param)
        if value is not None:
            setattr(logs, field, value)
    chunks = call.api.agents.logs(logs)
    try:
        first = await anext(chunks, b"")
    except grpc.RpcError as err:
        raise errors.from_rpc_error(err) from None
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await response.prepare(call.request)
    try:
        await response.write(first)
        async for data in chunks:
            await response.write(data)
    except grpc.RpcError:
        pass  # the agent went away mid-stream: the log ends there, as a dropped kubelet connection does
    await response.write_eof()
    return response


async def _exec(call: Call) -> web.StreamResponse:
    return await serve_exec(call.request, call.api.agents.exec_session, call.namespace, call.name)


async def _attach(call: Call) -> web.StreamResponse:
    return await serve_attach(call.request, call.api.agents.attach_session, call.namespace, call.name)


async def _portforward(call: Call) -> web.StreamResponse:
    return await serve_portforward(call.request, call.api.agents.port_forward, call.namespace, call.name)


_POD_SUBRESOURCES: dict[tuple[str, str], Subresource] = {
    ("pods", "binding"): Subresource(("POST",), "Binding", ("create",), _bind),
    # policy/v1 is what kubectl drain looks for before it evicts instead of deleting.
    ("pods", "eviction"): Subresource(("POST",), "Eviction", ("create",), _evict, "policy/v1"),
    ("pods", "log"): Subresource(("GET",), "Pod", ("get",), _log),
    # kubectl's WebSocket exec is a GET; the SPDY one it falls back to was a POST.
    ("pods", "exec"): Subresource(("GET", "POST"), "PodExecOptions", ("create", "get"), _exec),
    ("pods", "attach"): Subresource(("GET", "POST"), "PodAttachOptions", ("create", "get"), _attach),
    ("pods", "portforward"): Subresource(("GET", "POST"), "PodPortForwardOptions", ("create", "get"), _portforward),
}
SCALE = Subresource(("GET", "PUT", "PATCH"), "Scale", ("get", "patch", "update"), serve_scale, "autoscaling/v1")


def subresources() -> dict[tuple[str, str], Subresource]:
    """(plural, subresource) -> its verb: the pods' own, and scale for every kind registered as scalable."""
    return {**_POD_SUBRESOURCES, **{(kind.plural, "scale"): SCALE for kind in KINDS if kind.scalable}}
