"""Nodes and Namespaces: cluster-scoped, each with a status subresource."""

from __future__ import annotations

from google.protobuf.message import Message

from controlplane.strategies.base import Strategy
from podlab.kinds import kind_named
from podlab.v1 import objects_pb2 as v1


class NodeStrategy(Strategy):
    status_subresource = True

    def __init__(self) -> None:
        super().__init__(kind_named("Node"))


class NamespaceStrategy(Strategy):
    status_subresource = True

    def __init__(self) -> None:
        super().__init__(kind_named("Namespace"))

    def prepare_for_create(self, obj: Message) -> None:
        assert isinstance(obj, v1.Namespace)
        obj.status.phase = "Active"
