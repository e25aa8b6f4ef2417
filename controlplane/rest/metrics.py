"""metrics.k8s.io/v1beta1 (PodMetrics, NodeMetrics), as metrics-server serves it, from the agents' Stats.

Read-only and computed on each request: the pods or nodes asked for are
listed from the registry, each node's agent is asked for its Stats once (at
most podlab.usage.STATS_TIMEOUT; a node that does not answer has no metrics, as with
metrics-server), and podlab.usage turns the answers into usage. Discovery
lists the group, so `kubectl top` finds it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from controlplane.api import Api
from controlplane.rest.status import json_response
from podlab import errors, usage
from podlab.kinds import NODES, PODS
from podlab.v1 import objects_pb2 as v1
from podlab.v1 import services_pb2 as api

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
GROUP_VERSION = f"{GROUP}/{VERSION}"


def group_entry() -> dict[str, Any]:
    """The group's entry in /apis."""
    version = {"groupVersion": GROUP_VERSION, "version": VERSION}
    return {"name": GROUP, "versions": [version], "preferredVersion": version}


def _resource_list() -> dict[str, Any]:
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION, "resources": [
        {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
        {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]}]}


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(obj: Any) -> dict[str, Any]:
    md = {"name": obj.metadata.name, "creationTimestamp": _stamp(int(datetime.now(UTC).timestamp() * 1000))}
    if obj.metadata.namespace:
        md["namespace"] = obj.metadata.namespace
    if obj.metadata.labels:
        md["labels"] = dict(obj.metadata.labels)
    return md


def _usage(u: usage.Usage) -> dict[str, str]:
    return {"cpu": usage.cpu_quantity(u.cpu_cores), "memory": usage.memory_quantity(u.memory_bytes)}


def pod_metrics(u: usage.PodUsage) -> dict[str, Any]:
    return {"kind": "PodMetrics", "apiVersion": GROUP_VERSION, "metadata": _meta(u.pod),
            "timestamp": _stamp(u.timestamp_ms), "window": f"{max(1, round(u.window_seconds))}s",
            "containers": [{"name": name, "usage": _usage(c)} for name, c in u.containers]}


def node_metrics(node: v1.Node, reply: api.StatsResponse) -> dict[str, Any]:
    return {"kind": "NodeMetrics", "apiVersion": GROUP_VERSION, "metadata": _meta(node),
            "timestamp": _stamp(reply.timestamp_ms), "window": f"{max(1, round(reply.window_seconds))}s",
            "usage": _usage(usage.node_usage(reply))}


def _list(kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": kind, "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}


def add_routes(app: web.Application, core: Api) -> None:
    """Serve the group; call before the generic /apis routes so these match first."""
    base = f"/apis/{GROUP_VERSION}"

    async def resources(request: web.Request) -> web.Response:
        return json_response(_resource_list())

    async def nodes(request: web.Request) -> web.Response:
        name = request.match_info.get("name", "")
        if name:
            found = [await core.registry.get(NODES, name)]
        else:
            found, _ = await core.registry.list(NODES, "", request.query.get("labelSelector", ""),
                                                request.query.get("fieldSelector", ""))
        stats = await usage.gather_stats(core.agents.stats, (n.metadata.name for n in found))
        items = [node_metrics(n, stats[n.metadata.name]) for n in found if n.metadata.name in stats]
        if name:
            if not items:
                raise errors.NotFound(f'nodemetrics.metrics.k8s.io "{name}" not found')
            return json_response(items[0])
        return json_response(_list("NodeMetricsList", items))

    async def pods(request: web.Request) -> web.Response:
        name, namespace = request.match_info.get("name", ""), request.match_info.get("namespace", "")
        if name:
            try:
                found = [await core.registry.get(PODS, name, namespace)]
            except errors.NotFound:
                raise errors.NotFound(f'podmetrics.metrics.k8s.io "{namespace}/{name}" not found') from None
        else:
            found, _ = await core.registry.list(PODS, namespace, request.query.get("labelSelector", ""),
                                                request.query.get("fieldSelector", ""))
        stats = await usage.gather_stats(core.agents.stats, (p.spec.node_name for p in found))
        items = [pod_metrics(u) for u in usage.pod_usage(found, stats)]
        if name:
            if not items:
                raise errors.NotFound(f'podmetrics.metrics.k8s.io "{namespace}/{name}" not found')
            return json_response(items[0])
        return json_response(_list("PodMetricsList", items))

    r = app.router
    r.add_get(base, resources)
    r.add_get(f"{base}/nodes", nodes)
    r.add_get(f"{base}/nodes/{{name}}", nodes)
    r.add_get(f"{base}/pods", pods)
    r.add_get(f"{base}/namespaces/{{namespace}}/pods", pods)
    r.add_get(f"{base}/namespaces/{{namespace}}/pods/{{name}}", pods)
