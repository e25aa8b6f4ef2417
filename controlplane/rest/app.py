"""The Kubernetes REST front end: URLs -> registry verbs, for every kind in podlab.kinds.

Paths are Kubernetes' (`/api/v1/namespaces/{ns}/{resource}/{name}/{sub}`,
`/apis/{group}/{version}/...`); the resource is looked up in KINDS and the
verb in the HTTP method, so no handler names a kind. Subresources are the
`status` of kinds whose strategy has one and the verbs in
controlplane.rest.subresources. Every ApiError becomes a metav1.Status with
its HTTP code; anything else is a logged 500, and the server keeps serving.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from cryptography import x509
from google.protobuf.message import Message

from controlplane.api import Api
from controlplane.pipeline import ANONYMOUS, RequestInfo, UserInfo, resource_request, user_from_certificate
from controlplane.rest import codec, discovery, metrics, openapi, paging, patch
from controlplane.rest.call import Call
from controlplane.rest.options import delete_options, dry_run
from controlplane.rest.status import MethodNotAllowed, error_response, json_response, success
from controlplane.rest.subresources import subresources
from controlplane.rest.tables import table, wants_table
from controlplane.rest.watch import BOOKMARK_SECONDS, serve_watch
from podlab import errors
from podlab.kinds import Kind, kind_of, meta
from podlab.names import namespace_or_default

log = logging.getLogger(__name__)
API_KEY = web.AppKey("api", Api)


@dataclass(frozen=True)
class Target:
    """What a resource URL names."""

    kind: Kind
    namespace: str  # "" for a cluster-scoped kind or an all-namespaces list
    name: str = ""
    sub: str = ""


TARGET = web.RequestKey("target", Target)

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


def request_info(request: web.Request, t: Target) -> RequestInfo:
    """Kubernetes' RequestInfo of a resource URL: the verb from the method (and a name, and watch=true)."""
    method = request.method
    if method in ("GET", "HEAD"):
        verb = "get" if t.name else ("watch" if request.query.get("watch") in ("true", "1") else "list")
    elif method == "DELETE":
        verb = "delete" if t.name else "deletecollection"
    else:
        verb = _VERBS.get(method, method.lower())
    return resource_request(verb, t.kind, t.namespace, t.name, t.sub)


def caller(request: web.Request) -> UserInfo:
    """Who is calling: the subject of the client certificate TLS verified (the server demands one)."""
    tls = request.transport.get_extra_info("ssl_object") if request.transport else None
    der = tls.getpeercert(binary_form=True) if tls is not None else None
    return user_from_certificate(x509.load_der_x509_certificate(der)) if der else ANONYMOUS


def resolve(group: str, version: str, path: str) -> Target:
    """The Target of `path` (what follows /api/v1/ or /apis/{group}/{version}/); raises NotFound."""
    by_plural = {k.plural: k for k in discovery.kinds_in(group, version)}
    segs = [s for s in path.split("/") if s]
    namespace = ""
    if len(segs) >= 3 and segs[0] == "namespaces" and segs[2] in by_plural and by_plural[segs[2]].namespaced:
        namespace, segs = segs[1], segs[2:]
    kind = by_plural.get(segs[0]) if segs else None
    if kind is None or len(segs) > 3 or (kind.namespaced and len(segs) > 1 and not namespace):
        raise errors.NotFound("the server could not find the requested resource")
    return Target(kind, namespace, *segs[1:])


class Resources:
    """The handlers of resource URLs, over one Api."""

    def __init__(self, api: Api, bookmark_seconds: float) -> None:
        self.api = api
        self.bookmark_seconds = bookmark_seconds
        self.registry = api.registry

    def _writer(self, request: web.Request, options: dict[str, Any] | None = None) -> Api:
        """The Api a write goes through: the real one, or its dry run if the request asks for one."""
        return self.api.writer(dry_run(request, options))

    def _render(self, request: web.Request, kind: Kind) -> Callable[[Message], dict[str, Any]]:
        if wants_table(request):
            include = request.query.get("includeObject", "Metadata")
            return lambda obj: table(kind, [obj], meta(obj).resource_version, include)
        return codec.encode

    def _object(self, request: web.Request, obj: Message, status: int = 200) -> web.Response:
        return json_response(self._render(request, kind_of(obj))(obj), status)

    async def _body_object(self, request: web.Request, t: Target) -> Message:
        obj = codec.decode(await codec.read_body(request), t.kind, request)
        md = meta(obj)
        if t.kind.namespaced:
            wanted = namespace_or_default(t.namespace)
            if md.namespace and md.namespace != wanted:
                raise errors.BadRequest("the namespace of the provided object does not match the namespace "
                                        "sent on the request")
            md.namespace = wanted
        if t.name and md.name != t.name:
            raise errors.BadRequest(f'the name of the object ({md.name}) does not match the name on the URL '
                                    f'({t.name})')
        return obj

    async def handle(self, request: web.Request, t: Target) -> web.StreamResponse:
        method, kind = request.method, t.kind
        ns = namespace_or_default(t.namespace) if kind.namespaced else ""
        if t.sub:
            return await self._subresource(request, t, ns)
        if t.name:
            if method == "GET":
                return self._object(request, await self.registry.get(kind, t.name, ns))
            if method == "PUT":
                obj = await self._body_object(request, t)
                return self._object(request, await self._writer(request).registry.update(obj))
            if method == "PATCH":
                registry = self._writer(request).registry
                return self._object(request, await patch.apply(request, registry, kind, t.name, ns))
            if method == "DELETE":
                body = await codec.read_body(request) if request.can_read_body else None
                registry = self._writer(request, body).registry
                obj, removed = await registry.delete(kind, t.name, ns, delete_options(request, body))
                return self._object(request, obj) if not removed or kind.namespaced else \
                    json_response(success(kind, t.name, meta(obj).uid))
            raise MethodNotAllowed(f"the server does not allow this method on the requested resource ({method})")
        if method == "GET":
            if request.query.get("watch") in ("true", "1"):
                return await serve_watch(request, self.registry, kind, t.namespace, self._render(request, kind),
                                         self.bookmark_seconds)
            return await self._list(request, t)
        if method == "POST":
            obj = await self._body_object(request, t)
            return self._object(request, await self._writer(request).registry.create(obj), 201)
        if method == "DELETE":
            return await self._delete_collection(request, t)
        raise MethodNotAllowed(f"the server does not allow this method on the requested resource ({method})")

    async def _list(self, request: web.Request, t: Target) -> web.Response:
        """A list, or one page of it: a continued list reads the revision its first page read."""
        query = request.query
        resume = paging.Continue.parse(query.get("continue"), query.get("resourceVersion"))
        try:
            items, revision = await self.registry.list(t.kind, t.namespace, query.get("labelSelector", ""),
                                                       query.get("fieldSelector", ""),
                                                       resume.revision if resume else 0)
        except errors.Gone:
            raise errors.Gone(paging.EXPIRED) from None
        page = paging.page(items, revision, query.get("limit"), resume)
        if wants_table(request):
            body = table(t.kind, page.items, str(revision), query.get("includeObject", "Metadata"))
        else:
            body = codec.list_body(t.kind, page.items, revision)
        body["metadata"].update(page.metadata())
        return json_response(body)

    async def _delete_collection(self, request: web.Request, t: Target) -> web.Response:
        """deletecollection: delete every object the selectors match, each as its own delete."""
        body = await codec.read_body(request) if request.can_read_body else None
        registry = self._writer(request, body).registry
        options = delete_options(request, body)
        items, revision = await self.registry.list(t.kind, t.namespace, request.query.get("labelSelector", ""),
                                                   request.query.get("fieldSelector", ""))
        deleted = []
        for obj in items:
            md = meta(obj)
            try:
                gone, _ = await registry.delete(t.kind, md.name, md.namespace, options)
            except errors.NotFound:
                continue
            deleted.append(gone)
        return json_response(codec.list_body(t.kind, deleted, revision))

    async def _subresource(self, request: web.Request, t: Target, ns: str) -> web.StreamResponse:
        kind, method = t.kind, request.method
        if t.sub == "status" and self.registry.strategy(kind).status_subresource:
            if method == "GET":
                return self._object(request, await self.registry.get(kind, t.name, ns))
            if method == "PUT":
                obj = await self._body_object(request, t)
                return self._object(request, await self._writer(request).registry.update_status(obj))
            if method == "PATCH":
                registry = self._writer(request).registry
                return self._object(request, await patch.apply(request, registry, kind, t.name, ns, status=True))
            raise MethodNotAllowed(f"the server does not allow this method on {kind.plural}/status ({method})")
        verb = subresources().get((kind.plural, t.sub))
        if verb is None:
            raise errors.NotFound("the server could not find the requested resource")
        if method not in verb.methods:
            raise MethodNotAllowed(f"the server does not allow this method on {kind.plural}/{t.sub} ({method})")
        api = self._writer(request) if method != "GET" else self.api
        response = await verb.handle(Call(api, ns, t.name, request))
        return response if response is not None else json_response(success(kind, t.name, ""), 201)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _statuses(request: web.Request, handler: Handler) -> web.StreamResponse:
    """ApiErrors as Status; aiohttp's own HTTP errors as Status too; the rest a logged 500."""
    try:
        response = await handler(request)
        if not response.prepared:
            for warning in request.get(codec.WARNINGS, []):
                response.headers.add("Warning", '299 - "' + warning.replace('"', '\\"') + '"')
        return response
    except errors.ApiError as err:
        t = request.get(TARGET)
        return error_response(err, t.kind if t else None, t.name if t else "")
    except web.HTTPException as err:
        if err.status < 400:
            raise
        cls: type[errors.ApiError] = {404: errors.NotFound, 405: MethodNotAllowed,
                                      413: errors.RequestEntityTooLarge}.get(err.status, errors.BadRequest)
        return error_response(cls(err.reason))
    except Exception:
        log.exception("internal error serving %s %s", request.method, request.path)
        return error_response(errors.ApiError(f"an internal error occurred serving {request.method} "
                                              f"{request.path}"))


def make_app(api: Api, bookmark_seconds: float = BOOKMARK_SECONDS) -> web.Application:
    """The aiohttp application serving the Kubernetes API over `api`; watch bookmarks every `bookmark_seconds`."""
    app = web.Application(middlewares=[_statuses], client_max_size=codec.MAX_BODY + 1)
    app[API_KEY] = api
    resources = Resources(api, bookmark_seconds)

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def version(request: web.Request) -> web.Response:
        return json_response(discovery.version_info())

    async def core_versions(request: web.Request) -> web.Response:
        return json_response(discovery.api_versions())

    async def groups(request: web.Request) -> web.Response:
        body = discovery.api_groups()
        body["groups"].append(metrics.group_entry())
        return json_response(body)

    def group_resources(group: str, version: str) -> web.Response:
        body = discovery.resource_list(group, version, api.registry.strategies)
        if body is None:
            raise errors.NotFound("the server could not find the requested resource")
        return json_response(body)

    async def core_resources(request: web.Request) -> web.Response:
        return group_resources("", "v1")

    async def named_resources(request: web.Request) -> web.Response:
        return group_resources(request.match_info["group"], request.match_info["version"])

    async def serve(request: web.Request, group: str, version: str) -> web.StreamResponse:
        t = resolve(group, version, request.match_info["tail"])
        request[TARGET] = t
        with api.pipeline.serving(caller(request), request_info(request, t)):
            return await resources.handle(request, t)

    async def core(request: web.Request) -> web.StreamResponse:
        return await serve(request, "", "v1")

    async def named(request: web.Request) -> web.StreamResponse:
        return await serve(request, request.match_info["group"], request.match_info["version"])

    r = app.router
    for path in ("/healthz", "/readyz", "/livez"):
        r.add_get(path, ok)
    r.add_get("/version", version)
    r.add_get("/api", core_versions)
    r.add_get("/apis", groups)
    r.add_get("/api/v1", core_resources)
    metrics.add_routes(app, api)  # before the generic /apis routes: it is no kind of podlab.kinds
    r.add_get("/apis/{group}/{version}", named_resources)
    r.add_route("*", "/api/v1/{tail:.+}", core)
    r.add_route("*", "/apis/{group}/{version}/{tail:.+}", named)
    openapi.add_routes(app, api.registry.strategies)
    return app
