"""The API's kinds: one registration per kind, and every table derived from the registrations.

A kind's registration (a `Kind`, declared in its group's module: `core`,
`coordination`, `apps`) says what a client needs of it: its message, names
on the command line and in URLs, scope, group/version, discovery categories,
table columns (kubectl's printer), whether it scales and rolls out, and the
Kubernetes protobuf field numbers of the messages it brings. Its rules
(defaulting, validation, status, hooks) are the control plane's: a
Strategy in controlplane.strategies, found by the kind's name, with the
generic one for a kind that has none. The registry, the REST routes, the
printers, podctl, discovery, OpenAPI and the wire codecs all read the
registrations; a new kind is `register(Kind(...))` and its proto message.

The registry is written at import (the built-in kinds) and by `register` /
`unregister` (tests); readers take `KINDS` as a live view.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, cast

from google.protobuf import any_pb2
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


Row = Callable[[Any, datetime, bool, Sequence[v1.Pod]], list[str]]


def _name_and_age(obj: Message, now: datetime, wide: bool, pods: Sequence[v1.Pod]) -> list[str]:
    from podlab.printers import since  # the printers' helpers; they import no kind

    return [meta(obj).name, since(meta(obj).creation_timestamp, now)]


@dataclass(frozen=True)
class Columns:
    """A kind's `get` table, as kubectl prints it: headers, the -o wide extras, and a row.

    `row(obj, now, wide, pods)` gives the cells of `headers` (+ `wide` when
    asked); `pods` are the node's pods, for columns that count them. With
    `wide_replaces`, -o wide shows `wide` instead of `headers` (Events).
    """

    headers: tuple[str, ...] = ("NAME", "AGE")
    wide: tuple[str, ...] = ()
    row: Row = _name_and_age
    wide_replaces: bool = False


NAME_AND_AGE = Columns()


@dataclass(frozen=True)
class Kind(Generic[M]):
    name: str  # "Pod"
    message: type[M]  # v1.Pod
    plural: str  # "pods": the etcd key segment, the URL's resource and podctl's resource name
    namespaced: bool
    aliases: tuple[str, ...] = ()
    api_version: str = "v1"  # the group/version it is served under: "v1", "coordination.k8s.io/v1"
    categories: tuple[str, ...] = ()  # discovery's categories: "all" makes `kubectl get all` list it
    columns: Columns = NAME_AND_AGE
    # The scale subresource (spec.replicas, status.replicas, spec.selector): `kubectl scale`.
    scalable: bool = False
    # `kubectl rollout` (history, undo, status, restart) applies.
    rollout: bool = False
    # Kubernetes' protobuf numbers for the messages this kind brings (k8s.io/api generated.proto):
    # message name -> {jsonName: number}. Messages several kinds share are declared once, by the first.
    wire: Mapping[str, Mapping[str, int]] = dataclass_field(default_factory=dict)

    @functools.cached_property
    def field(self) -> str:
        """The api.Object oneof member that carries it ("other", an Any, for a kind with none)."""
        return _ONEOF.get(self.message.DESCRIPTOR.full_name, "other")

    @functools.cached_property
    def group(self) -> str:
        """Its API group ("" for core), as RequestInfo and RBAC name it."""
        return self.api_version.rpartition("/")[0]


_ONEOF = {f.message_type.full_name: f.name for f in api.Object.DESCRIPTOR.oneofs_by_name["kind"].fields
          if f.name != "other"}

_REGISTERED: dict[str, Kind[Any]] = {}
_BY_MESSAGE: dict[str, Kind[Any]] = {}
_BY_RESOURCE: dict[str, Kind[Any]] = {}
_BY_VERSION_KIND: dict[tuple[str, str], Kind[Any]] = {}
_generation = 0


def register(kind: Kind[M]) -> Kind[M]:
    """Add `kind` to the API; raises ValueError if its name, message or a resource name is taken."""
    global _generation
    names = (kind.plural, kind.name.lower(), *kind.aliases)
    clash = ([kind.name] if kind.name in _REGISTERED else []) + [n for n in names if n in _BY_RESOURCE]
    if clash or kind.message.DESCRIPTOR.full_name in _BY_MESSAGE:
        raise ValueError(f"kind {kind.name}: {', '.join(clash) or kind.message.__name__} already registered")
    _REGISTERED[kind.name] = kind
    _BY_MESSAGE[kind.message.DESCRIPTOR.full_name] = kind
    _BY_VERSION_KIND[(kind.api_version, kind.name)] = kind
    for alias in names:
        _BY_RESOURCE[alias] = kind
    _generation += 1
    return kind


def unregister(kind: Kind[Any]) -> None:
    """Remove a kind `register` added (tests)."""
    global _generation
    del _REGISTERED[kind.name]
    del _BY_MESSAGE[kind.message.DESCRIPTOR.full_name]
    del _BY_VERSION_KIND[(kind.api_version, kind.name)]
    for alias in [a for a, k in _BY_RESOURCE.items() if k is kind]:
        del _BY_RESOURCE[alias]
    _generation += 1


def generation() -> int:
    """Bumped by every register/unregister: tables derived from the kinds rebuild when it moves."""
    return _generation


class _Kinds(Sequence[Kind[Any]]):
    """Every registered kind, in registration order: a live view."""

    def __getitem__(self, index: Any) -> Any:
        return list(_REGISTERED.values())[index]

    def __len__(self) -> int:
        return len(_REGISTERED)

    def __iter__(self) -> Iterator[Kind[Any]]:
        return iter(list(_REGISTERED.values()))


KINDS: Sequence[Kind[Any]] = _Kinds()


def short_names(kind: Kind[Any]) -> list[str]:
    """The names discovery lists as short names: the aliases but the plural and the singular."""
    return [a for a in kind.aliases if a not in (kind.plural, kind.name.lower())]


def kind_named(name: str) -> Kind[Any]:
    """The kind called `name` ("Pod"); raises BadRequest for an unknown kind."""
    try:
        return _REGISTERED[name]
    except KeyError:
        raise BadRequest(f'no kind "{name}" is registered for version "v1"') from None


def kind_for_resource(resource: str) -> Kind[Any]:
    """The kind a command-line resource name means: "pods", "po", "pod", "Pod"."""
    kind = _BY_RESOURCE.get(resource.lower())
    if kind is None:
        raise BadRequest(f'the server doesn\'t have a resource type "{resource}"')
    return kind


def kind_for(api_version: str, name: str) -> Kind[Any] | None:
    """The kind an object's apiVersion and kind name, or None."""
    return _BY_VERSION_KIND.get((api_version, name))


def kind_of(obj: Message) -> Kind[Any]:
    kind = _BY_MESSAGE.get(obj.DESCRIPTOR.full_name)
    if kind is None:
        raise BadRequest(f"not an API object: {type(obj).__name__}")
    return kind


def wrap(obj: Message) -> api.Object:
    """An api.Object carrying `obj` (in its oneof member, or packed in `other`)."""
    kind = kind_of(obj)
    wrapped = api.Object()
    if kind.field == "other":
        wrapped.other.Pack(obj)
    else:
        getattr(wrapped, kind.field).CopyFrom(obj)
    return wrapped


def unwrap(wrapped: api.Object) -> Message:
    """The object an api.Object carries; raises BadRequest when it is empty or of no registered kind."""
    member = wrapped.WhichOneof("kind")
    if member is None:
        raise BadRequest("the request carries no object")
    if member != "other":
        return cast(Message, getattr(wrapped, member))
    packed: any_pb2.Any = wrapped.other
    kind = _BY_MESSAGE.get(packed.TypeName())
    if kind is None:
        raise BadRequest(f"the request carries an object of no registered kind: {packed.TypeName()}")
    obj = kind.message()
    packed.Unpack(obj)
    return obj


# The built-in kinds register themselves on import.
from podlab.kinds.apps import DEPLOYMENTS, REPLICA_SETS  # noqa: E402
from podlab.kinds.batch import JOBS  # noqa: E402
from podlab.kinds.coordination import LEASES  # noqa: E402
from podlab.kinds.core import CONFIG_MAPS, EVENTS, NAMESPACES, NODES, PODS, SECRETS  # noqa: E402
from podlab.kinds.services import ENDPOINT_SLICES, ENDPOINTS, SERVICES  # noqa: E402

__all__ = ["CONFIG_MAPS", "DEPLOYMENTS", "ENDPOINTS", "ENDPOINT_SLICES", "EVENTS", "JOBS", "KINDS", "LEASES",
           "NAMESPACES", "NODES", "PODS", "REPLICA_SETS", "SECRETS", "SERVICES", "ApiObject", "Columns", "Kind",
           "controller_ref", "generation", "kind_for", "kind_for_resource",
           "kind_named", "kind_of", "meta", "register", "short_names", "unregister", "unwrap", "wrap"]
