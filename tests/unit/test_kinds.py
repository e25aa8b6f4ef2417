"""One registration per kind: every registered kind is complete, and a new kind needs nothing but its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from controlplane.api import Api
from controlplane.apiserver import serve
from controlplane.memstore import MemoryStore
from controlplane.rest import k8sproto, make_app
from controlplane.strategies import strategies
from podlab import printers
from podlab.client import Client
from podlab.kinds import KINDS, Kind, kind_for_resource, meta, register, unregister, unwrap, wrap
from podlab.v1 import objects_pb2 as v1

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def minimal(kind: Kind[Any]) -> Message:
    obj = kind.message()
    meta(obj).name = "minimal"
    if kind.namespaced:
        meta(obj).namespace = "default"
    return obj


def incomplete(kind: Kind[Any]) -> list[str]:
    """What `kind`'s registration lacks: every part a client or the server derives from it."""
    lacks: list[str] = []
    obj = minimal(kind)
    if unwrap(wrap(obj)) != obj:
        lacks.append("a gRPC wire form that round-trips")
    try:
        k8sproto.build()
    except ValueError as err:
        lacks.append(f"Kubernetes' protobuf numbers ({err})")
    headers = printers.table_headers(kind, wide=True)
    row = printers.table_row(kind, obj, NOW, wide=True)
    if len(headers) != len(row) or "minimal" not in row:
        lacks.append(f"a table row that fills its columns ({headers} / {row})")
    if kind_for_resource(kind.plural) is not kind:
        lacks.append("a resource name of its own")
    if kind.scalable and not all(f in kind.message.DESCRIPTOR.fields_by_name for f in ("spec", "status")):
        lacks.append("spec.replicas and status.replicas for its scale subresource")
    return lacks


@pytest.mark.parametrize("kind", list(KINDS), ids=lambda k: k.name)
def test_every_registered_kind_is_complete(kind: Kind[Any]) -> None:
    assert incomplete(kind) == []
    strategy = strategies()[kind.name]
    obj = minimal(kind)
    strategy.default(obj)
    if kind.name not in ("Pod", "ReplicaSet", "Deployment", "Job"):  # a pod spec needs a container to be valid
        strategy.validate(obj)
    assert strategy.errors(obj) is not None


# -- a new kind, made and registered by this test alone ------------------------------------------------


def _widget_class() -> type[Message]:
    """A proto message for a kind podlab has never heard of: Widget {apiVersion, kind, metadata, spec{size}}."""
    pool = descriptor_pool.Default()
    name = "podlabtest/widget.proto"
    try:
        pool.FindFileByName(name)
    except KeyError:
        file = descriptor_pb2.FileDescriptorProto(name=name, package="podlabtest", syntax="proto3",
                                                  dependency=["podlab/v1/objects.proto"])
        spec = file.message_type.add(name="WidgetSpec")
        spec.field.add(name="size", number=1, type=FieldDescriptor.TYPE_INT32, json_name="size",
                       label=FieldDescriptor.LABEL_OPTIONAL)
        widget = file.message_type.add(name="Widget")
        for number, (field, json) in enumerate((("api_version", "apiVersion"), ("kind", "kind")), start=1):
            widget.field.add(name=field, number=number, type=FieldDescriptor.TYPE_STRING, json_name=json,
                             label=FieldDescriptor.LABEL_OPTIONAL)
        widget.field.add(name="metadata", number=3, type=FieldDescriptor.TYPE_MESSAGE, json_name="metadata",
                         type_name=".podlab.v1.ObjectMeta", label=FieldDescriptor.LABEL_OPTIONAL)
        widget.field.add(name="spec", number=4, type=FieldDescriptor.TYPE_MESSAGE, json_name="spec",
                         type_name=".podlabtest.WidgetSpec", label=FieldDescriptor.LABEL_OPTIONAL)
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("podlabtest.Widget"))


Widget = _widget_class()
WIDGETS = Kind("Widget", Widget, "widgets", True, ("widget", "wd"), "example.podlab.dev/v1",
               wire={"Widget": {"metadata": 1, "spec": 2}, "WidgetSpec": {"size": 1}})


@pytest.fixture
def widgets() -> Iterator[Kind[Any]]:
    register(WIDGETS)
    try:
        yield WIDGETS
    finally:
        unregister(WIDGETS)


def test_the_completeness_check_names_what_a_registration_lacks(widgets: Kind[Any]) -> None:
    assert incomplete(widgets) == []
    unregister(widgets)
    bare = register(Kind("Widget", Widget, "widgets", True, ("widget", "wd"), "example.podlab.dev/v1"))
    try:
        assert incomplete(bare) == [
            "Kubernetes' protobuf numbers (Widget: no kind declares Kubernetes' wire numbers for Widget)"]
    finally:
        unregister(bare)
        register(widgets)


async def test_a_kind_registered_at_run_time_is_served_by_every_front_end(widgets: Kind[Any]) -> None:
    api = Api.build(MemoryStore())
    await api.registry.ensure_namespaces()
    server, port = await serve(api, "127.0.0.1:0")
    http = TestClient(TestServer(make_app(api)))
    await http.start_server()
    try:
        group = await http.get("/apis/example.podlab.dev/v1")
        assert [r["name"] for r in (await group.json())["resources"]] == ["widgets"]

        made = await http.post("/apis/example.podlab.dev/v1/namespaces/default/widgets",
                               json={"apiVersion": "example.podlab.dev/v1", "kind": "Widget",
                                     "metadata": {"name": "w1"}, "spec": {"size": 3}})
        assert made.status == 201, await made.text()
        body = await made.json()
        assert (body["kind"], body["metadata"]["namespace"], body["spec"]) == ("Widget", "default", {"size": 3})
        assert body["metadata"]["uid"] and body["metadata"]["resourceVersion"]

        bad = await http.post("/apis/example.podlab.dev/v1/namespaces/default/widgets",
                              json={"apiVersion": "example.podlab.dev/v1", "kind": "Widget",
                                    "metadata": {"name": "Not_A_Name"}})
        assert bad.status == 422
        assert 'metadata.name: Invalid value: "Not_A_Name"' in (await bad.json())["message"]

        async with Client(f"127.0.0.1:{port}") as client:
            second = Widget()
            meta(second).name = "w2"
            second.spec.size = 5  # type: ignore[attr-defined]
            stored = await client.create(second)
            assert isinstance(stored, Widget) and meta(stored).uid
            items, _ = await client.list("Widget", "default")
            assert sorted(meta(w).name for w in items) == ["w1", "w2"]

        table = await http.get("/apis/example.podlab.dev/v1/namespaces/default/widgets",
                               headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
        cells = [row["cells"] for row in (await table.json())["rows"]]
        assert [c[0] for c in cells] == ["w1", "w2"]
        assert printers.print_table(items, widgets, NOW).splitlines()[0].split() == ["NAME", "AGE"]
    finally:
        await http.close()
        await server.stop(None)
        await api.close()


def test_built_in_kinds_keep_their_wire_members() -> None:
    pod = v1.Pod(metadata=v1.ObjectMeta(name="p"))
    assert wrap(pod).WhichOneof("kind") == "pod"
