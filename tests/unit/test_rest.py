"""The Kubernetes REST front end over the real registry (InMemoryApi), through aiohttp's test client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from controlplane.rest import k8sproto, make_app, tables
from controlplane.testing import InMemoryApi
from podlab import patch as patch_module
from podlab.kinds import KINDS, Kind
from podlab.v1 import objects_pb2 as v1
from podlab.v1 import services_pb2_grpc as rpc
from tests.support.fake_agent import FakeAgent
from tests.support.paging import check_pages_read_one_state

pytestmark = pytest.mark.unit
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
PODS = "/api/v1/namespaces/default/pods"


def pod(name: str = "web", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec}}


async def test_discovery_lists_every_kind_with_short_names_and_subresources(world) -> None:
    _, http = world
    core = await (await http.get("/api/v1")).json()
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["pods"]["shortNames"] == ["po"] and by_name["pods"]["namespaced"]
    assert by_name["nodes"]["shortNames"] == ["no"] and not by_name["nodes"]["namespaced"]
    assert {"pods/status", "pods/binding", "pods/eviction", "pods/attach", "pods/portforward", "configmaps",
            "events"} <= set(by_name)
    groups = await (await http.get("/apis")).json()
    named = {k.api_version.rpartition("/")[0] for k in KINDS} - {""}
    assert {g["name"] for g in groups["groups"]} == named | {"metrics.k8s.io"} and "coordination.k8s.io" in named
    metrics = await (await http.get("/apis/metrics.k8s.io/v1beta1")).json()
    assert {r["name"]: r["kind"] for r in metrics["resources"]} == {"nodes": "NodeMetrics", "pods": "PodMetrics"}
    leases = await (await http.get("/apis/coordination.k8s.io/v1")).json()
    assert [r["name"] for r in leases["resources"]] == ["leases"]
    assert (await http.get("/apis/nothing.example/v1")).status == 404
    assert (await (await http.get("/version")).json())["major"] == "1"
    assert await (await http.get("/healthz")).text() == "ok"


async def test_create_get_list_delete_pod(world) -> None:
    fake, http = world
    created = await http.post(PODS, json=pod())
    assert created.status == 201
    body = await created.json()
    assert body["metadata"]["namespace"] == "default" and body["metadata"]["uid"]
    got = await (await http.get(f"{PODS}/web")).json()
    assert got["spec"]["containers"][0]["image"] == "nginx"
    listed = await (await http.get(PODS, params={"labelSelector": "app=web"})).json()
    assert listed["kind"] == "PodList" and [p["metadata"]["name"] for p in listed["items"]] == ["web"]
    assert (await (await http.get(PODS, params={"labelSelector": "app=other"})).json())["items"] == []
    gone = await http.delete(f"{PODS}/web", json={"kind": "DeleteOptions", "gracePeriodSeconds": 0})
    assert gone.status == 200
    assert fake.pods() == []


async def test_errors_are_statuses_kubectl_prints() -> None:
    fake = InMemoryApi()
    async with TestClient(TestServer(make_app(fake.api))) as http:
        missing = await http.get(f"{PODS}/x")
        status = await missing.json()
        assert missing.status == 404
        assert (status["kind"], status["reason"], status["code"]) == ("Status", "NotFound", 404)
        assert status["message"] == 'pods "x" not found'
        assert status["details"] == {"name": "x", "kind": "pods"}
        await http.post(PODS, json=pod())
        again = await http.post(PODS, json=pod())
        assert again.status == 409 and (await again.json())["reason"] == "AlreadyExists"
    await fake.close()


async def test_invalid_pod_carries_causes_kubectl_rebuilds_its_line_from(world) -> None:
    fake, http = world
    reply = await http.post(PODS, json=pod("hello-world", restartPolicy="Mybe"))
    status = await reply.json()
    assert reply.status == 422 and status["reason"] == "Invalid"
    assert status["details"]["kind"] == "Pod" and status["details"]["name"] == "hello-world"
    assert status["details"]["causes"] == [{
        "reason": "FieldValueNotSupported", "field": "spec.restartPolicy",
        "message": 'Unsupported value: "Mybe": supported values: "Always", "OnFailure", "Never"'}]
    assert fake.pods() == []


@pytest.mark.parametrize(("body", "code"), [
    (b"{not json", 400),
    (json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}).encode(), 400),
    (json.dumps({**pod(), "spec": {"containers": [{"name": "c", "image": "x", "bogus": 1}]}}).encode(), 400),
    (b"[1]", 400),
    (b'{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "' + b"x" * (3 * 1024 * 1024) + b'"}}', 413),
])
async def test_bad_bodies_are_refused_and_nothing_is_stored(world, body: bytes, code: int) -> None:
    fake, http = world
    reply = await http.post(PODS, data=body, headers={"Content-Type": "application/json"},
                            params={"fieldValidation": "Strict"})
    assert reply.status == code
    assert (await reply.json())["kind"] == "Status"
    assert fake.pods() == []
    assert (await http.get("/healthz")).status == 200


async def test_yaml_bodies_are_read_and_a_yaml_alias_bomb_is_refused(world) -> None:
    fake, http = world
    yaml_pod = b"apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: c, image: nginx}]\n"
    created = await http.post(PODS, data=yaml_pod, headers={"Content-Type": "application/yaml"})
    assert created.status == 201, await created.text()
    bomb = (Path(__file__).parent / "hostile" / "billion-laughs.yaml").read_bytes()
    reply = await http.post("/api/v1/namespaces/default/configmaps", data=bomb,
                            headers={"Content-Type": "application/yaml"})
    status = await reply.json()
    assert (reply.status, status["reason"]) == (400, "BadRequest")
    assert status["message"] == "error converting YAML to JSON: yaml: document contains excessive aliasing"
    assert fake.objects(v1.ConfigMap) == [] and [p.metadata.name for p in fake.pods()] == ["web"]


async def test_update_conflicts_on_a_stale_resource_version(world) -> None:
    _, http = world
    first = await (await http.post(PODS, json=pod())).json()
    first["metadata"]["labels"]["tier"] = "a"
    ok = await http.put(f"{PODS}/web", json=first)
    assert ok.status == 200 and (await ok.json())["metadata"]["labels"]["tier"] == "a"
    first["metadata"]["labels"]["tier"] = "b"
    stale = await http.put(f"{PODS}/web", json=first)
    assert stale.status == 409 and (await stale.json())["reason"] == "Conflict"


async def test_delete_precondition_on_uid(world) -> None:
    _, http = world
    await http.post(PODS, json=pod())
    reply = await http.delete(f"{PODS}/web", json={"preconditions": {"uid": "not-it"}})
    assert reply.status == 409


async def test_delete_options_carry_the_propagation_policy_and_the_deprecated_orphan_flag(world) -> None:
    _, http = world
    cms = "/api/v1/namespaces/default/configmaps"
    for name in ("a", "b", "c"):
        await http.post(cms, json={"metadata": {"name": name, "finalizers": ["example.com/hold"]}})
    marked = await (await http.delete(f"{cms}/a", json={"propagationPolicy": "Foreground"})).json()
    assert marked["metadata"]["finalizers"] == ["example.com/hold", "foregroundDeletion"]
    marked = await (await http.delete(f"{cms}/b", params={"propagationPolicy": "Orphan"})).json()
    assert marked["metadata"]["finalizers"] == ["example.com/hold", "orphan"]
    both = await http.delete(f"{cms}/c", json={"orphanDependents": True, "propagationPolicy": "Orphan"})
    assert both.status == 422
    assert (await both.json())["message"] == ('The DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: '
                                              'Invalid value: "Orphan": orphanDependents and deletionPropagation '
                                              'cannot be both set')
    marked = await (await http.delete(f"{cms}/c", json={"orphanDependents": True})).json()
    assert marked["metadata"]["finalizers"] == ["example.com/hold", "orphan"]


async def test_table_has_kubectls_pod_columns_and_wide_ones_at_priority_one(world) -> None:
    _, http = world
    await http.post(PODS, json=pod())
    t = await (await http.get(PODS, headers={"Accept": TABLE})).json()
    assert t["kind"] == "Table"
    narrow = [c["name"] for c in t["columnDefinitions"] if c["priority"] == 0]
    wide = [c["name"] for c in t["columnDefinitions"] if c["priority"] == 1]
    assert narrow == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert wide == ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    (row,) = t["rows"]
    assert row["cells"][:3] == ["web", "0/1", "Pending"]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["name"] == "web"


async def test_status_subresource_and_binding(world) -> None:
    fake, http = world
    fake.create_now(v1.Node(metadata=v1.ObjectMeta(name="n1")))
    await http.post(PODS, json=pod())
    bound = await http.post(f"{PODS}/web/binding", json={
        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"}, "target": {"kind": "Node", "name": "n1"}})
    assert bound.status == 201
    current = await (await http.get(f"{PODS}/web/status")).json()
    assert current["spec"]["nodeName"] == "n1"
    current["status"]["phase"] = "Running"
    current["spec"]["nodeName"] = "ignored"
    updated = await (await http.put(f"{PODS}/web/status", json=current)).json()
    assert updated["status"]["phase"] == "Running" and updated["spec"]["nodeName"] == "n1"
    assert (await http.get("/api/v1/namespaces/default/configmaps/x/status")).status == 404


async def test_patches_merge_json_and_strategic(world) -> None:
    _, http = world
    await http.post(PODS, json=pod(containers=[{"name": "a", "image": "x", "env": [{"name": "E", "value": "1"}]},
                                               {"name": "b", "image": "y"}]))
    merge = await http.patch(f"{PODS}/web", data=json.dumps({"metadata": {"labels": {"extra": "1"}}}),
                             headers={"Content-Type": "application/merge-patch+json"})
    assert (await merge.json())["metadata"]["labels"] == {"app": "web", "extra": "1"}
    strategic = await http.patch(f"{PODS}/web", data=json.dumps({"spec": {"containers": [
        {"name": "b", "image": "z"}]}}),
        headers={"Content-Type": "application/strategic-merge-patch+json"})
    body = await strategic.json()
    assert strategic.status == 200, body
    containers = body["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("a", "x"), ("b", "z")]
    assert [e["name"] for e in containers[0]["env"]] == ["E"]
    assert patch_module.strategic_merge({"env": [{"name": "E", "value": "1"}]}, {"env": [
        {"name": "F", "value": "2"}, {"name": "E", "$patch": "delete"}], "$setElementOrder/env": [{"name": "F"}]}) \
        == {"env": [{"name": "F", "value": "2"}]}
    jp = await http.patch(f"{PODS}/web", data=json.dumps([{"op": "remove", "path": "/metadata/labels/extra"}]),
                          headers={"Content-Type": "application/json-patch+json"})
    assert (await jp.json())["metadata"]["labels"] == {"app": "web"}
    bad = await http.patch(f"{PODS}/web", data="{}", headers={"Content-Type": "text/plain"})
    assert bad.status == 415


async def read_events(reply, count: int) -> list[dict[str, Any]]:
    events = []
    async with asyncio.timeout(5):
        while len(events) < count:
            line = await reply.content.readline()
            assert line, "the watch ended early"
            events.append(json.loads(line))
    return events


async def test_watch_sends_current_objects_then_changes(world) -> None:
    fake, http = world
    await http.post(PODS, json=pod("a"))
    reply = await http.get(PODS, params={"watch": "true"})
    assert reply.status == 200
    (added,) = await read_events(reply, 1)
    assert (added["type"], added["object"]["metadata"]["name"]) == ("ADDED", "a")
    await http.post(PODS, json=pod("b"))
    (event,) = await read_events(reply, 1)
    assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "b")
    reply.close()


async def test_watch_resumes_after_a_resource_version_and_times_out(world) -> None:
    _, http = world
    listed = await (await http.get(PODS)).json()
    await http.post(PODS, json=pod("a"))
    reply = await http.get(PODS, params={"watch": "true", "resourceVersion": listed["metadata"]["resourceVersion"],
                                         "timeoutSeconds": "1"})
    (event,) = await read_events(reply, 1)
    assert event["object"]["metadata"]["name"] == "a"
    async with asyncio.timeout(5):
        assert await reply.content.read() == b""


async def test_watch_of_a_compacted_revision_is_410_expired(world) -> None:
    fake, http = world
    for name in "abc":
        await http.post(PODS, json=pod(name))
    await fake.store.compact(fake.store.revision)
    reply = await http.get(PODS, params={"watch": "true", "resourceVersion": "1"})
    assert reply.status == 410
    assert (await reply.json())["reason"] == "Expired"
    garbage = await http.get(PODS, params={"watch": "true", "resourceVersion": "zzz"})
    assert garbage.status == 400


async def test_openapi_v3_has_every_kind_with_its_gvk_and_field_validation(world) -> None:
    _, http = world
    root = await (await http.get("/openapi/v3")).json()
    assert set(root["paths"]) == {"api/v1"} | {f"apis/{k.api_version}" for k in KINDS if "/" in k.api_version}
    doc = await (await http.get(root["paths"]["api/v1"]["serverRelativeURL"])).json()
    schemas = doc["components"]["schemas"]
    assert schemas["podlab.v1.Pod"]["x-kubernetes-group-version-kind"] == [
        {"group": "", "version": "v1", "kind": "Pod"}]
    container = schemas["podlab.v1.Container"]["properties"]
    assert container["imagePullPolicy"] == {"type": "string"}
    assert container["ports"]["type"] == "array"
    patch = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]


@pytest_asyncio.fixture
async def bound(world) -> AsyncIterator[tuple[InMemoryApi, TestClient]]:
    """`world` with pod web bound to node n1, whose agent is a scripted FakeAgent."""
    fake, http = world
    agent_server = grpc.aio.server()
    rpc.add_NodeAgentServicer_to_server(FakeAgent(), agent_server)
    port = agent_server.add_insecure_port("127.0.0.1:0")
    await agent_server.start()
    try:
        node = fake.create_now(v1.Node(metadata=v1.ObjectMeta(name="n1")))
        node.status.agent_endpoint = f"127.0.0.1:{port}"
        fake.update_status_now(node)
        await http.post(PODS, json=pod())
        await http.post(f"{PODS}/web/binding", json={"kind": "Binding", "metadata": {"name": "web"},
                                                     "target": {"name": "n1"}})
        yield fake, http
    finally:
        await agent_server.stop(0)


async def test_log_is_proxied_to_the_pods_agent_as_text(bound) -> None:
    _, http = bound
    reply = await http.get(f"{PODS}/web/log", params={"tailLines": "5"})
    assert reply.status == 200 and reply.content_type == "text/plain"
    assert await reply.text() == "Hello World from c\n"
    wrong = await http.get(f"{PODS}/web/log", params={"container": "nope"})
    assert wrong.status == 400 and (await wrong.json())["message"] == "container nope is not valid for pod web"
    assert (await http.post(f"{PODS}/web/log", json={})).status == 405


async def exec_session(http: TestClient, *command: str, stdin: bytes | None = None) -> tuple[dict[int, bytes], Any]:
    """Run `command` over the v5 WebSocket protocol; returns the bytes per channel and the error-channel Status."""
    params = [("command", c) for c in command] + [("stdout", "true"), ("stderr", "true")]
    if stdin is not None:
        params.append(("stdin", "true"))
    channels: dict[int, bytes] = {}
    async with http.ws_connect(f"{PODS}/web/exec", params=params, protocols=("v5.channel.k8s.io",)) as ws:
        assert ws.protocol == "v5.channel.k8s.io"
        if stdin is not None:
            await ws.send_bytes(b"\x00" + stdin)
            await ws.send_bytes(b"\xff\x00")
        async with asyncio.timeout(5):
            async for msg in ws:
                channels[msg.data[0]] = channels.get(msg.data[0], b"") + msg.data[1:]
    return channels, json.loads(channels.pop(3))


async def test_exec_over_websocket_streams_output_and_the_exit_code(bound) -> None:
    _, http = bound
    out, status = await exec_session(http, "env")
    assert out == {1: b"MY_POD_NAME=web\n"} and status["status"] == "Success"
    out, status = await exec_session(http, "false")
    assert out == {2: b"failing\n"} and status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    out, status = await exec_session(http, "cat", stdin=b"typed")
    assert out == {1: b"typed"} and status["status"] == "Success"
    missing = await http.get("/api/v1/namespaces/default/pods/nope/exec", params={"command": "ls"})
    assert missing.status == 404


async def test_list_pages_read_the_first_pages_state_until_it_is_compacted(world) -> None:
    fake, http = world
    await check_pages_read_one_state(http, "", fake.store.compact)


async def test_delete_collection_by_label(world) -> None:
    fake, http = world
    for name in ("a", "b"):
        await http.post(PODS, json=pod(name))
    reply = await http.delete(PODS, params={"labelSelector": "app=a"})
    assert [p["metadata"]["name"] for p in (await reply.json())["items"]] == ["a"]
    assert [p.metadata.name for p in fake.pods()] == ["b"]


def _protobuf_secret() -> bytes:
    """A Secret as kubectl's typed client sends it: the k8s envelope around Kubernetes' wire fields."""
    classes = k8sproto._wire().classes
    secret = classes["Secret"](metadata=classes["ObjectMeta"](name="s1"), data={"f.txt": b"hi\n"}, type="Opaque")
    envelope = classes["Unknown"](typeMeta=classes["TypeMeta"](apiVersion="v1", kind="Secret"),
                                  raw=secret.SerializeToString(), contentType=k8sproto.CONTENT_TYPE)
    return k8sproto.MAGIC + envelope.SerializeToString()


async def test_a_protobuf_body_from_a_typed_client_is_read_like_json(world) -> None:
    fake, http = world
    reply = await http.post("/api/v1/namespaces/default/secrets", data=_protobuf_secret(),
                            headers={"Content-Type": k8sproto.CONTENT_TYPE})
    assert reply.status == 201, await reply.text()
    assert fake.get_now("Secret", "s1", "default").data == {"f.txt": b"hi\n"}
    garbage = await http.post("/api/v1/namespaces/default/secrets", data=b"k8s\x00\xff\xff",
                              headers={"Content-Type": k8sproto.CONTENT_TYPE})
    assert garbage.status == 400
    other = await http.post(PODS, data=b"{}", headers={"Content-Type": "text/plain"})
    assert other.status == 415


async def test_watch_bookmarks_only_when_allowed_and_an_error_event_when_history_goes() -> None:
    fake = InMemoryApi()
    async with TestClient(TestServer(make_app(fake.api, bookmark_seconds=0.05))) as http:
        listed = await (await http.get(PODS)).json()
        rv = listed["metadata"]["resourceVersion"]
        reply = await http.get(PODS, params={"watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true"})
        (bookmark,) = await read_events(reply, 1)
        assert bookmark["type"] == "BOOKMARK"
        assert bookmark["object"] == {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": rv}}
        reply.close()
        quiet = await http.get(PODS, params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "0.3"})
        async with asyncio.timeout(5):
            assert await quiet.content.read() == b""
        # get() returns once the stream's headers are in: a failure after them is an ERROR event.
        broken = await http.get(PODS, params={"watch": "true", "resourceVersion": rv})
        fake.break_watches()
        (error,) = await read_events(broken, 1)
        assert error["type"] == "ERROR" and error["object"]["kind"] == "Status"
    await fake.close()


async def test_unknown_fields_follow_field_validation(world) -> None:
    fake, http = world
    body = {**pod(), "spec": {"containers": [{"name": "c", "image": "x", "bogus": 1}]}}
    strict = await http.post(PODS, json=body, params={"fieldValidation": "Strict"})
    assert strict.status == 400 and 'unknown field "spec.containers[0].bogus"' in (await strict.json())["message"]
    warned = await http.post(PODS, json=body)
    assert warned.status == 201
    assert warned.headers.getall("Warning") == ['299 - "unknown field \\"spec.containers[0].bogus\\""']
    ignored = await http.post(PODS, json={**body, "metadata": {"name": "other"}}, params={"fieldValidation": "Ignore"})
    assert ignored.status == 201 and "Warning" not in ignored.headers
    assert (await http.post(PODS, json=body, params={"fieldValidation": "Loose"})).status == 400
    assert sorted(p.metadata.name for p in fake.pods()) == ["other", "web"]


def test_a_kind_without_printer_columns_gets_kubernetes_default_table() -> None:
    widgets = Kind("Widget", v1.ConfigMap, "config_map", "widgets", True)
    t = tables.table(widgets, [v1.ConfigMap(metadata=v1.ObjectMeta(name="w"))], "7")
    assert [c["name"] for c in t["columnDefinitions"]] == ["NAME", "AGE"]
    assert t["rows"][0]["cells"][0] == "w"


async def test_portforward_over_the_kubelets_v4_channels_reaches_the_port(bound) -> None:
    fake, http = bound
    pod = await fake.get("Pod", "web", "default")
    pod.status.phase = "Running"
    fake.update_status_now(pod)

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"echo:" + await reader.read(100))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)  # the fake agent's pod network is loopback
    port = server.sockets[0].getsockname()[1]
    try:
        async with http.ws_connect(f"{PODS}/web/portforward", params={"ports": str(port)},
                                   protocols=("v4.channel.k8s.io",)) as ws:
            assert ws.protocol == "v4.channel.k8s.io"
            first = [await ws.receive_bytes(timeout=5), await ws.receive_bytes(timeout=5)]
            assert sorted(first) == [b"\x00" + port.to_bytes(2, "little"), b"\x01" + port.to_bytes(2, "little")]
            await ws.send_bytes(b"\x00hello")
            assert await ws.receive_bytes(timeout=5) == b"\x00echo:hello"
    finally:
        server.close()
    pending = await http.get(f"{PODS}/nope/portforward", params={"ports": "80"})
    assert pending.status == 404


async def test_every_kind_reads_as_protobuf_with_kubernetes_nesting_quantities_and_int_or_string(world) -> None:
    fake, http = world
    w = k8sproto._wire().classes
    assert {k.name for k in KINDS} <= set(w)
    probe = w["Probe"](handler=w["InlineProbeProbeHandler"](
        httpGet=w["HTTPGetAction"](path="/", port=w["IntOrString"](type=1, strVal="http"))), periodSeconds=3)
    container = w["Container"](name="c", image="nginx", livenessProbe=probe,
                               ports=[w["ContainerPort"](name="http", containerPort=80)],
                               resources=w["ResourceRequirements"](limits={"cpu": w["Quantity"](string="500m")}))
    volume = w["Volume"](name="cfg", volumeSource=w["InlineVolumeVolumeSource"](configMap=w["ConfigMapVolumeSource"](
        localObjectReference=w["InlineConfigMapVolumeSourceLocalObjectReference"](name="app-config"))))
    pod = w["Pod"](metadata=w["ObjectMeta"](name="wire", creationTimestamp=w["Time"]()),
                   spec=w["PodSpec"](containers=[container], volumes=[volume]))
    envelope = w["Unknown"](typeMeta=w["TypeMeta"](apiVersion="v1", kind="Pod"), raw=pod.SerializeToString())
    reply = await http.post(PODS, data=k8sproto.MAGIC + envelope.SerializeToString(),
                            headers={"Content-Type": k8sproto.CONTENT_TYPE})
    assert reply.status == 201, await reply.text()
    (stored,) = fake.pods()
    c = stored.spec.containers[0]
    assert (c.liveness_probe.http_get.port.string_value, c.liveness_probe.period_seconds) == ("http", 3)
    assert c.resources.limits["cpu"] == "500m" and stored.spec.volumes[0].config_map.name == "app-config"
