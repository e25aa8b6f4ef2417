"""The gRPC API server: the Cluster service over the registry.

Stateless: any number of replicas can serve the same etcd. Each RPC maps to
one registry verb; ApiErrors become gRPC statuses (NOT_FOUND, ALREADY_EXISTS,
INVALID_ARGUMENT, ABORTED for conflicts, OUT_OF_RANGE for a compacted watch).
Logs and exec are proxied to the node agent that runs the pod.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import grpc
from cryptography import x509
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from controlplane.api import Api
from controlplane.pipeline import ANONYMOUS, RequestInfo, UserInfo, resource_request, user_from_certificate
from controlplane.strategies import DeleteOptions
from podlab import __version__, errors, names
from podlab.kinds import PODS, Kind, kind_named, kind_of, meta, unwrap, wrap
from podlab.names import MAX_REQUEST_BYTES, namespace_or_default
from podlab.v1 import services_pb2 as api
from podlab.v1 import services_pb2_grpc as rpc

log = logging.getLogger(__name__)


async def _abort(context: grpc.aio.ServicerContext, err: errors.ApiError) -> None:
    await context.abort(err.code, err.message)


def _guarded(method):
    """Turn ApiErrors into gRPC statuses; anything else is an internal error, logged."""

    async def wrapper(self, request, context):
        try:
            return await method(self, request, context)
        except errors.ApiError as err:
            await _abort(context, err)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("internal error in %s", method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method.__name__}")

    wrapper.__name__ = method.__name__
    return wrapper


def _namespace(kind: Kind, namespace: str) -> str:
    return namespace_or_default(namespace) if kind.namespaced else ""


def _anonymous(context: grpc.aio.ServicerContext) -> UserInfo:
    """Every caller of a plaintext port: nothing proves who it is."""
    return ANONYMOUS


def tls_caller(context: grpc.aio.ServicerContext) -> UserInfo:
    """Who is calling over TLS: the verified client certificate's subject (anonymous without one)."""
    pem = context.auth_context().get("x509_pem_cert")
    if not pem:
        return ANONYMOUS
    return user_from_certificate(x509.load_pem_x509_certificate(pem[0]))


def _object_request(verb: str, obj: Message, subresource: str = "", name: bool = True) -> RequestInfo:
    """The request for a verb on `obj`; a create names no object, as a POST to its collection does."""
    kind = kind_of(obj)
    md = meta(obj)
    return resource_request(verb, kind, _namespace(kind, md.namespace), md.name if name else "", subresource)


def _pod_request(verb: str, subresource: str, namespace: str, name: str) -> RequestInfo:
    return resource_request(verb, PODS, namespace_or_default(namespace), name, subresource)


class ClusterService(rpc.ClusterServicer):
    def __init__(self, api: Api, tls: bool = False) -> None:
        self.api = api
        # Reading the peer's certificate costs a call per request; a plaintext port has none to read.
        self.caller = tls_caller if tls else _anonymous
        self.registry = api.registry
        self.agents = api.agents
        self.pipeline = api.pipeline

    @_guarded
    async def Create(self, request: api.CreateRequest, context: grpc.aio.ServicerContext) -> api.Object:
        obj = unwrap(request.object)
        with self.pipeline.serving(self.caller(context), _object_request("create", obj, name=False)):
            return wrap(await self.api.writer(request.dry_run).registry.create(obj))

    @_guarded
    async def Get(self, request: api.GetRequest, context: grpc.aio.ServicerContext) -> api.Object:
        kind = kind_named(request.kind)
        namespace = _namespace(kind, request.namespace)
        with self.pipeline.serving(self.caller(context), resource_request("get", kind, namespace, request.name)):
            return wrap(await self.registry.get(kind, request.name, namespace))

    @_guarded
    async def List(self, request: api.ListRequest, context: grpc.aio.ServicerContext) -> api.ListResponse:
        kind = kind_named(request.kind)
        with self.pipeline.serving(self.caller(context), resource_request("list", kind, request.namespace)):
            items, revision = await self.registry.list(
                kind, request.namespace, request.label_selector, request.field_selector)
        return api.ListResponse(items=[wrap(o) for o in items], resource_version=str(revision))

    @_guarded
    async def Update(self, request: api.UpdateRequest, context: grpc.aio.ServicerContext) -> api.Object:
        obj = unwrap(request.object)
        with self.pipeline.serving(self.caller(context), _object_request("update", obj)):
            return wrap(await self.api.writer(request.dry_run).registry.update(obj))

    @_guarded
    async def UpdateStatus(self, request: api.UpdateRequest, context: grpc.aio.ServicerContext) -> api.Object:
        obj = unwrap(request.object)
        with self.pipeline.serving(self.caller(context), _object_request("update", obj, "status")):
            return wrap(await self.api.writer(request.dry_run).registry.update_status(obj))

    @_guarded
    async def Delete(self, request: api.DeleteRequest, context: grpc.aio.ServicerContext) -> api.DeleteResponse:
        grace = request.grace_period_seconds if request.HasField("grace_period_seconds") else None
        if grace is not None and grace < 0:
            raise errors.BadRequest("gracePeriodSeconds must be >= 0")
        kind = kind_named(request.kind)
        options = DeleteOptions(grace, request.uid, request.resource_version, request.propagation_policy)
        namespace = _namespace(kind, request.namespace)
        with self.pipeline.serving(self.caller(context), resource_request("delete", kind, namespace, request.name)):
            obj, removed = await self.api.writer(request.dry_run).registry.delete(
                kind, request.name, namespace, options)
        return api.DeleteResponse(object=wrap(obj), removed=removed)

    async def Watch(self, request: api.WatchRequest,
                    context: grpc.aio.ServicerContext) -> AsyncIterator[api.WatchEvent]:
        try:
            kind = kind_named(request.kind)
            self.pipeline.opened(self.caller(context), resource_request("watch", kind, request.namespace))
            async for event in self.registry.watch(
                    kind, request.namespace, request.label_selector, request.field_selector,
                    request.resource_version, request.bookmark_seconds):
                out = event.memo.get(api.WatchEvent)  # built once for every watcher of a cached event
                if out is None:
                    out = event.memo[api.WatchEvent] = api.WatchEvent(type=event.type,
                                                                      resource_version=str(event.revision))
                    if event.object is not None:
                        out.object.CopyFrom(wrap(event.object))
                yield out
        except errors.ApiError as err:
            await _abort(context, err)

    @_guarded
    async def Bind(self, request: api.BindRequest, context: grpc.aio.ServicerContext) -> api.Object:
        if not request.node_name:
            raise errors.BadRequest("a binding needs a node name")
        with self.pipeline.serving(self.caller(context),
                                   _pod_request("create", "binding", request.namespace, request.name)):
            pod = await self.api.pods.bind(namespace_or_default(request.namespace), request.name, request.uid,
                                           request.node_name)
        return wrap(pod)

    @_guarded
    async def Evict(self, request: api.EvictRequest, context: grpc.aio.ServicerContext) -> api.Object:
        grace = request.grace_period_seconds if request.HasField("grace_period_seconds") else None
        if grace is not None and grace < 0:
            raise errors.BadRequest("gracePeriodSeconds must be >= 0")
        with self.pipeline.serving(self.caller(context),
                                   _pod_request("create", "eviction", request.namespace, request.name)):
            return wrap(await self.api.pods.evict(namespace_or_default(request.namespace), request.name, grace,
                                                  request.message))

    @_guarded
    async def RenewLease(self, request: api.RenewLeaseRequest,
                         context: grpc.aio.ServicerContext) -> api.RenewLeaseResponse:
        with self.pipeline.serving(self.caller(context), RequestInfo("update", "leases", "coordination.k8s.io", "",
                                                                names.NODE_LEASE_NAMESPACE, request.node_name)):
            return api.RenewLeaseResponse(renew_time_ms=await self.api.heartbeats.renew(
                request.node_name, request.holder_identity, request.holder_start_ms, request.lease_duration_seconds))

    @_guarded
    async def Version(self, request: api.VersionRequest, context: grpc.aio.ServicerContext) -> api.VersionResponse:
        return api.VersionResponse(version=__version__, etcd_version=await self.api.store.version())

    # -- proxies to the node agent ---------------------------------------------------

    async def Logs(self, request: api.LogsRequest,
                   context: grpc.aio.ServicerContext) -> AsyncIterator[api.LogChunk]:
        try:
            self.pipeline.opened(self.caller(context), _pod_request("get", "log", request.namespace, request.name))
            async for data in self.agents.logs(request):
                yield api.LogChunk(data=data)
        except errors.ApiError as err:
            await _abort(context, err)
        except grpc.RpcError as err:
            await context.abort(err.code(), err.details() or "node agent unreachable")

    async def Exec(self, request_iterator: AsyncIterator[api.ExecInput],
                   context: grpc.aio.ServicerContext) -> AsyncIterator[api.ExecOutput]:
        try:
            first = await anext(aiter(request_iterator))
            if first.WhichOneof("input") != "start":
                raise errors.BadRequest("the first exec message must be a start")
            self.pipeline.opened(self.caller(context),
                                 _pod_request("create", "exec", first.start.namespace, first.start.name))
            session = await self.agents.exec_session(first.start)
            async for output in session.run(request_iterator):
                yield output
        except StopAsyncIteration:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "empty exec stream")
        except errors.ApiError as err:
            await _abort(context, err)
        except grpc.RpcError as err:
            await context.abort(err.code(), err.details() or "node agent unreachable")

    async def Attach(self, request_iterator: AsyncIterator[api.ExecInput],
                     context: grpc.aio.ServicerContext) -> AsyncIterator[api.ExecOutput]:
        try:
            first = await anext(aiter(request_iterator))
            if first.WhichOneof("input") != "start":
                raise errors.BadRequest("the first attach message must be a start")
            self.pipeline.opened(self.caller(context),
                                 _pod_request("create", "attach", first.start.namespace, first.start.name))
            session = await self.agents.attach_session(first.start)
            async for output in session.run(request_iterator):
                yield output
        except StopAsyncIteration:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "empty attach stream")
        except errors.ApiError as err:
            await _abort(context, err)
        except grpc.RpcError as err:
            await context.abort(err.code(), err.details() or "node agent unreachable")

    async def PortForward(self, request_iterator: AsyncIterator[api.PortForwardInput],
                          context: grpc.aio.ServicerContext) -> AsyncIterator[api.PortForwardOutput]:
        try:
            first = await anext(aiter(request_iterator))
            if first.WhichOneof("input") != "start":
                raise errors.BadRequest("the first port-forward message must be a start")
            self.pipeline.opened(self.caller(context),
                                 _pod_request("create", "portforward", first.start.namespace, first.start.name))
            session = await self.agents.port_forward(first.start)
            async for output in session.run(request_iterator):
                yield output
        except StopAsyncIteration:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "empty port-forward stream")
        except errors.ApiError as err:
            await _abort(context, err)
        except grpc.RpcError as err:
            await context.abort(err.code(), err.details() or "node agent unreachable")

    async def NodeStats(self, request: api.NodeStatsRequest,
                        context: grpc.aio.ServicerContext) -> api.StatsResponse:
        try:
            self.pipeline.opened(self.caller(context), RequestInfo("get", "nodes", "", "proxy", "", request.node_name))
            return await self.agents.stats(request.node_name)
        except errors.ApiError as err:
            await _abort(context, err)
        except grpc.RpcError as err:
            await context.abort(err.code(), err.details() or "node agent unreachable")
        raise AssertionError("unreachable")  # abort raises


async def serve(core: Api, listen: str) -> tuple[grpc.aio.Server, int]:
    """Start the API server on `listen` ("host:port", port 0 = any free port). Returns it and its port."""
    # A request may carry an object of up to MAX_REQUEST_BYTES, as over REST; the margin is the envelope.
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_REQUEST_BYTES + 4096),
                                      ("grpc.max_send_message_length", 64 * 1024 * 1024),
                                      ("grpc.keepalive_permit_without_calls", 1),
                                      ("grpc.http2.min_ping_interval_without_data_ms", 4_000),
                                      ("grpc.http2.max_ping_strikes", 0)])
    rpc.add_ClusterServicer_to_server(ClusterService(core), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = (api.DESCRIPTOR.services_by_name["Cluster"].full_name, health.SERVICE_NAME,
             reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)
    port = server.add_insecure_port(listen)
    if port == 0:
        raise OSError(f"cannot listen on {listen}")
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set(names[0], health_pb2.HealthCheckResponse.SERVING)
    return server, port
