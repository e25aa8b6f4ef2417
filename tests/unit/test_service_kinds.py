"""Service, Endpoints and EndpointSlice are served by both front ends and print kubectl's columns."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp.test_utils import TestClient, TestServer
from google.protobuf.struct_pb2 import Value

from controlplane.api import Api
from controlplane.apiserver import serve
from controlplane.memstore import MemoryStore
from controlplane.rest import make_app
from podlab import printers
from podlab.client import Client
from podlab.kinds import ENDPOINT_SLICES, ENDPOINTS, SERVICES, kind_for_resource
from podlab.v1 import objects_pb2 as v1

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def test_short_names_resolve() -> None:
    assert kind_for_resource("svc") is SERVICES
    assert kind_for_resource("ep") is ENDPOINTS
    assert kind_for_resource("endpointslices") is ENDPOINT_SLICES


def test_tables_print_kubectl_columns() -> None:
    svc = v1.Service(metadata=v1.ObjectMeta(name="web"), spec=v1.ServiceSpec(
        type="NodePort", cluster_ip="10.96.0.20", ports=[
            v1.ServicePort(port=80, protocol="TCP", node_port=30080, target_port=Value(number_value=8080))]))
    assert printers.table_headers(SERVICES) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert printers.table_row(SERVICES, svc, NOW)[:5] == ["web", "NodePort", "10.96.0.20", "<none>",
                                                          "80:30080/TCP"]
    lb = v1.Service(metadata=v1.ObjectMeta(name="lb"), spec=v1.ServiceSpec(type="LoadBalancer"))
    assert printers.table_row(SERVICES, lb, NOW)[3:5] == ["<pending>", "<none>"]

    ep = v1.Endpoints(metadata=v1.ObjectMeta(name="web"), subsets=[v1.EndpointSubset(
        addresses=[v1.EndpointAddress(ip=f"10.0.0.{i}") for i in range(1, 6)],
        ports=[v1.EndpointPort(port=8080)])])
    assert printers.table_row(ENDPOINTS, ep, NOW)[1] == \
        "10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080 + 2 more..."
    assert printers.table_row(ENDPOINTS, v1.Endpoints(metadata=v1.ObjectMeta(name="e")), NOW)[1] == "<none>"

    s = v1.EndpointSlice(metadata=v1.ObjectMeta(name="web-abc"), address_type="IPv4",
                         ports=[v1.EndpointSlicePort(port=8080)],
                         endpoints=[v1.Endpoint(addresses=["10.0.0.1"])])
    assert printers.table_row(ENDPOINT_SLICES, s, NOW)[:4] == ["web-abc", "IPv4", "8080", "10.0.0.1"]
    empty = v1.EndpointSlice(metadata=v1.ObjectMeta(name="e"), address_type="IPv4")
    assert printers.table_row(ENDPOINT_SLICES, empty, NOW)[2:4] == ["<unset>", "<unset>"]


async def test_crud_over_grpc_and_rest() -> None:
    api = Api.build(MemoryStore())
    await api.registry.ensure_namespaces()
    server, port = await serve(api, "127.0.0.1:0")
    http = TestClient(TestServer(make_app(api)))
    await http.start_server()
    try:
        made = await http.post("/api/v1/namespaces/default/services", json={
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
        assert made.status == 201, await made.text()
        slice_made = await http.post("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", json={
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "web-1"},
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}]})
        assert slice_made.status == 201, await slice_made.text()
        async with Client(f"127.0.0.1:{port}") as client:
            svc = await client.get(v1.Service, "web", "default")
            assert svc.spec.selector == {"app": "web"}
            await client.create(v1.Endpoints(metadata=v1.ObjectMeta(name="web", namespace="default")))
            eps, _ = await client.list(v1.Endpoints, "default")
            assert [e.metadata.name for e in eps] == ["web"]
            slices, _ = await client.list(v1.EndpointSlice, "default")
            assert slices[0].endpoints[0].conditions.ready
            await client.delete("Service", "web", "default")
        gone = await http.get("/api/v1/namespaces/default/services/web")
        assert gone.status == 404
    finally:
        await http.close()
        await server.stop(None)
        await api.close()
