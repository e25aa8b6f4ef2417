"""The one request pipeline both front ends share: who is asking, what for, and may they.

As the Kubernetes API server's handler chain (authentication -> audit ->
authorization -> admission -> registry): each front end authenticates its
caller into a `UserInfo` and describes the request as a `RequestInfo`
(REST from the URL and method, gRPC from the method and its message), then
calls `Pipeline.authorize`, the only place an access decision is made. The
decision and the response code go to the audit sink. Admission runs later,
inside the registry's create and update (controlplane.admission), with the
same `RequestContext`, which `current()` hands to any code below the front
end without threading it through every call.

Contract: a front end calls `authorize` before it reads or writes anything
for the request; a denied request raises Forbidden with Kubernetes' text and
has touched nothing.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from cryptography import x509
from cryptography.x509.oid import NameOID

from podlab import errors
from podlab.kinds import Kind

log = logging.getLogger(__name__)

# The groups Kubernetes gives every authenticated and every anonymous caller.
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"


@dataclass(frozen=True)
class UserInfo:
    """An authenticated caller (k8s.io/apiserver/pkg/authentication/user.Info)."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


ANONYMOUS = UserInfo("system:anonymous", (UNAUTHENTICATED,))
# The API server's own in-process callers (its controllers, leader election): Kubernetes'
# loopback client identity.
LOOPBACK = UserInfo("system:apiserver", ("system:masters", AUTHENTICATED))


def authenticated(name: str, groups: tuple[str, ...] = (), uid: str = "") -> UserInfo:
    """A caller whose identity was proved (a client certificate's CN and O), in system:authenticated."""
    return UserInfo(name, (*groups, AUTHENTICATED) if AUTHENTICATED not in groups else groups, uid)


class RequestInfo(NamedTuple):
    """What a request asks for (k8s.io/apiserver/pkg/endpoints/request.RequestInfo).

    `verb` is Kubernetes' API verb: get, list, watch, create, update, patch,
    delete, deletecollection (and the proxy verbs' subresources: pods/exec is
    `create` on resource pods, subresource exec). `api_group` is "" for the
    core group.
    """

    verb: str
    resource: str
    api_group: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


class RequestContext(NamedTuple):
    """One request: who asks, and what for. (Plain tuples: every request builds these two.)"""

    user: UserInfo
    request: RequestInfo


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


ALLOW = Decision(True)


class Authorizer(Protocol):
    """Decides one request; must not do I/O on the request's behalf (it runs before every verb)."""

    def authorize(self, user: UserInfo, request: RequestInfo) -> Decision: ...


class AlwaysAllow:
    """Today's policy: everyone may do everything (the security issue brings node and RBAC authorizers)."""

    def authorize(self, user: UserInfo, request: RequestInfo) -> Decision:
        return ALLOW


class AuditSink(Protocol):
    def record(self, ctx: RequestContext, code: int, decision: Decision) -> None: ...


class NoAudit:
    """No audit backend configured: Kubernetes' default (no --audit-log-path), and free."""

    def record(self, ctx: RequestContext, code: int, decision: Decision) -> None:
        pass


def forbidden(user: UserInfo, request: RequestInfo, reason: str = "") -> errors.Forbidden:
    """Kubernetes' Forbidden for a denied request (apiserver's endpoints/handlers/responsewriters)."""
    resource = request.resource + (f"/{request.subresource}" if request.subresource else "")
    subject = f'{resource} "{request.name}"' if request.name else resource
    scope = f'in the namespace "{request.namespace}"' if request.namespace else "at the cluster scope"
    text = (f'{subject} is forbidden: User "{user.name}" cannot {request.verb} resource "{resource}" '
            f'in API group "{request.api_group}" {scope}')
    return errors.Forbidden(text + (f": {reason}" if reason else ""))


_CURRENT: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("podlab_request", default=None)


def current() -> RequestContext | None:
    """The request this code runs for, or None outside any (a controller's own loop, a test)."""
    return _CURRENT.get()


class Pipeline:
    """Authorization and audit for every request, whichever front end it came through."""

    def __init__(self, authorizer: Authorizer | None = None, audit: AuditSink | None = None) -> None:
        self.authorizer: Authorizer = authorizer or AlwaysAllow()
        self.audit: AuditSink = audit or NoAudit()

    def authorize(self, user: UserInfo, request: RequestInfo) -> RequestContext:
        """Allow `request` for `user` or raise Forbidden (audited with 403)."""
        ctx = RequestContext(user, request)
        decision = self.authorizer.authorize(user, request)
        if not decision.allowed:
            self.audit.record(ctx, 403, decision)
            raise forbidden(user, request, decision.reason)
        return ctx

    def opened(self, user: UserInfo, request: RequestInfo) -> RequestContext:
        """Authorize a stream (watch, logs, exec): audited once, as it opens."""
        ctx = self.authorize(user, request)
        self.audit.record(ctx, 200, ALLOW)
        return ctx

    def serving(self, user: UserInfo, request: RequestInfo) -> Serving:
        """Authorize, then run the body as this request (`current()`), audited with its answer's code."""
        return Serving(self, self.authorize(user, request))


class Serving:
    """The body of one authorized request: `current()` inside it, audited with its answer's code on exit.

    A class rather than a generator-based context manager: every unary call
    of both front ends enters one, and this costs a third as much.
    """

    __slots__ = ("_pipeline", "_ctx", "_token", "_started")

    def __init__(self, pipeline: Pipeline, ctx: RequestContext) -> None:
        self._pipeline = pipeline
        self._ctx = ctx

    def __enter__(self) -> RequestContext:
        self._token = _CURRENT.set(self._ctx)
        self._started = time.monotonic()
        return self._ctx

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: object) -> None:
        _CURRENT.reset(self._token)
        code = 200 if kind is None else err.http_status if isinstance(err, errors.ApiError) else 500
        self._pipeline.audit.record(self._ctx, code, ALLOW)
        if log.isEnabledFor(logging.DEBUG):
            request = self._ctx.request
            log.debug("%s %s in %.1f ms", request.verb, request.resource, (time.monotonic() - self._started) * 1e3)


def resource_request(verb: str, kind: Kind, namespace: str = "", name: str = "",
                     subresource: str = "") -> RequestInfo:
    """The RequestInfo of a verb on `kind`'s resource (its group from the kind's apiVersion)."""
    return RequestInfo(verb, kind.plural, kind.group, subresource, namespace if kind.namespaced else "", name)


def user_from_certificate(cert: x509.Certificate) -> UserInfo:
    """The caller a verified client certificate names: its CN the user, its Os the groups (as Kubernetes)."""
    subject = cert.subject
    names = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        return ANONYMOUS
    groups = tuple(str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    return authenticated(str(names[0].value), groups)
