"""Nodes and Namespaces: cluster-scoped, each with a status subresource."""

from __future__ import annotations

from google.protobuf.message import Message

from controlplane.strategies.base import Strategy
from controlplane.validation.core import node_errors
from podlab.kinds import kind_named
from podlab.v1 import objects_pb2 as v1
from podlab.validation import ErrorList, dns1123_label_errors


class NodeStrategy(Strategy):
    status_subresource = True

    def __init__(self) -> None:
        super().__init__(kind_named("Node"))

    def field_errors(self, errs: ErrorList, obj: Message) -> None:
        assert isinstance(obj, v1.Node)
        node_errors(errs, obj)


class NamespaceStrategy(Strategy):
    status_subresource = True
    name_errors = staticmethod(dns1123_label_errors)

    def __init__(self) -> None:
        super().__init__(kind_named("Namespace"))

    def prepare_for_create(self, obj: Message) -> None:
        assert isinstance(obj, v1.Namespace)
        obj.status.phase = "Active"
