"""The API's kinds: their message classes, names on the command line, and scope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from google.protobuf.message import Message

from podlab.errors import BadRequest
from podlab.v1 import objects_pb2 as v1
from podlab.v1 import services_pb2 as api

M = TypeVar("M", bound=Message)


class ApiObject(Protocol):
    """What every API object (v1.Pod, v1.Node, ...) has, typed."""

    api_version: str
    kind: str
    metadata: v1.ObjectMeta


def meta(obj: Message) -> v1.ObjectMeta:
    """`obj`'s metadata (every API object has one)."""
    return cast(ApiObject, obj).metadata


def controller_ref(obj: Message) -> v1.OwnerReference | None:
    """The ownerReference with controller=true (an object has at most one), or None for an orphan."""
    return next((ref for ref in meta(obj).owner_references if ref.controller), None)


@dataclass(frozen=True)
class Kind(Generic[M]):
    name: str  # "Pod"
    message: type[M]  # v1.Pod
    field: str  # the api.Object oneof member: "pod"
    plural: str  # "pods": the etcd key segment and podctl's resource name
    namespaced: bool
    aliases: tuple[str, ...] = ()
    api_version: str = "v1"  # the group/version it is served under: "v1", "coordination.k8s.io/v1"
    categories: tuple[str, ...] = ()  # discovery's categories: "all" makes `kubectl get all` list it


PODS = Kind("Pod", v1.Pod, "pod", "pods", True, ("pod", "po"), categories=("all",))
NODES = Kind("Node", v1.Node, "node", "nodes", False, ("node", "no"))
NAMESPACES = Kind("Namespace", v1.Namespace, "namespace", "namespaces", False, ("namespace", "ns"))
CONFIG_MAPS = Kind("ConfigMap", v1.ConfigMap, "config_map", "configmaps", True, ("configmap", "cm"))
SECRETS = Kind("Secret", v1.Secret, "secret", "secrets", True, ("secret",))
EVENTS = Kind("Event", v1.Event, "event", "events", True, ("event", "ev"))
LEASES = Kind("Lease", v1.Lease, "lease", "leases", True, ("lease",), "coordination.k8s.io/v1")
REPLICA_SETS = Kind("ReplicaSet", v1.ReplicaSet, "replica_set", "replicasets", True, ("replicaset", "rs"), "apps/v1")
DEPLOYMENTS = Kind("Deployment", v1.Deployment, "deployment", "deployments", True, ("deployment", "deploy"),
                   "apps/v1")

def short_names(kind: Kind[Any]) -> list[str]:
    """The names discovery lists as short names: the aliases but the plural and the singular."""
    return [a for a in kind.aliases if a not in (kind.plural, kind.name.lower())]


KINDS: tuple[Kind[Any], ...] = (PODS, NODES, NAMESPACES, CONFIG_MAPS, SECRETS, EVENTS, LEASES, REPLICA_SETS,
                                DEPLOYMENTS)

_BY_NAME = {k.name: k for k in KINDS}
_BY_FIELD = {k.field: k for k in KINDS}
_BY_RESOURCE = {alias: k for k in KINDS for alias in (k.plural, k.name.lower(), *k.aliases)}


def kind_named(name: str) -> Kind[Any]:
    """The kind called `name` ("Pod"); raises BadRequest for an unknown kind."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise BadRequest(f'no kind "{name}" is registered for version "v1"') from None


def kind_for_resource(resource: str) -> Kind[Any]:
    """The kind a command-line resource name means: "pods", "po", "pod", "Pod"."""
    kind = _BY_RESOURCE.get(resource.lower())
    if kind is None:
        raise BadRequest(f'the server doesn\'t have a resource type "{resource}"')
    return kind


def wrap(obj: Message) -> api.Object:
    """An api.Object carrying `obj`."""
    for kind in KINDS:
        if isinstance(obj, kind.message):
            wrapped = api.Object()
            getattr(wrapped, kind.field).CopyFrom(obj)
            return wrapped
    raise BadRequest(f"not an API object: {type(obj).__name__}")


def unwrap(wrapped: api.Object) -> Message:
    """The object an api.Object carries; raises BadRequest when it is empty."""
    field = wrapped.WhichOneof("kind")
    if field is None:
        raise BadRequest("the request carries no object")
    return getattr(wrapped, field)


def kind_of(obj: Message) -> Kind[Any]:
    for kind in KINDS:
        if isinstance(obj, kind.message):
            return kind
    raise BadRequest(f"not an API object: {type(obj).__name__}")


def field_kind(field: str) -> Kind[Any]:
    return _BY_FIELD[field]
