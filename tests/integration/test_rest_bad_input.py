"""Bad input over real HTTPS (TLS, the admin certificate, a real control plane on etcd): every bad request
is a metav1 Status with Kubernetes' code, nothing is stored, and the server answers the next request.

The gRPC front end's 3 MiB cap is checked here too, against the same process.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from podlab import errors
from podlab.client import Client
from podlab.v1 import objects_pb2 as v1
from tests.support.procs import ControlPlane

BOMB = Path(__file__).parents[1] / "unit" / "hostile" / "billion-laughs.yaml"
PODS = "/api/v1/namespaces/default/pods"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
MIB = 1024 * 1024


def _pod(name: str = "web", **container: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox", **container}]}}


async def _refused(http: aiohttp.ClientSession, url: str, reply: aiohttp.ClientResponse, code: int) -> dict:
    """The Status `reply` carries (asserting its code), after checking nothing was stored and the server answers."""
    status = await reply.json()
    assert (reply.status, status["kind"], status["status"], status["code"]) == (code, "Status", "Failure", code), \
        status
    for collection in (PODS, CONFIGMAPS):
        assert (await (await http.get(url + collection)).json())["items"] == []
    assert await (await http.get(url + "/readyz")).text() == "ok"
    return status


async def test_a_yaml_alias_bomb_is_a_400_and_nothing_is_stored(rest) -> None:
    http, url = rest
    reply = await http.post(url + CONFIGMAPS, data=BOMB.read_bytes(), headers={"Content-Type": "application/yaml"})
    status = await _refused(http, url, reply, 400)
    assert status["message"] == "error converting YAML to JSON: yaml: document contains excessive aliasing"


@pytest.mark.parametrize(("content_type", "body", "message"), [
    ("application/json", b'{"apiVersion": "v1", "kind": "Pod", "metadata": {', "unknown format"),
    ("application/yaml", b"kind: Pod\nmetadata: [oops\n  name: x\n", "error converting YAML to JSON"),
    ("application/json", b"[1, 2]", "must be a JSON object"),
    ("application/json", b"", "has no body"),
    ("text/plain", b"{}", "unknown format"),
])
async def test_malformed_bodies_are_refused(rest, content_type: str, body: bytes, message: str) -> None:
    http, url = rest
    reply = await http.post(url + PODS, data=body, headers={"Content-Type": content_type})
    status = await _refused(http, url, reply, 415 if content_type == "text/plain" else 400)
    assert message in status["message"]


async def test_unknown_fields_are_refused_when_strict_and_warned_of_by_default(rest) -> None:
    http, url = rest
    bogus = _pod(bogus=1)
    strict = await http.post(url + PODS, json=bogus, params={"fieldValidation": "Strict"})
    status = await _refused(http, url, strict, 400)
    assert status["message"] == ('Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
                                 'unknown field "spec.containers[0].bogus"')
    warned = await http.post(url + PODS, json=bogus)
    assert warned.status == 201
    assert warned.headers.getall("Warning") == ['299 - "unknown field \\"spec.containers[0].bogus\\""']


async def test_a_body_of_the_wrong_kind_for_the_url_is_refused(rest) -> None:
    http, url = rest
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    status = await _refused(http, url, await http.post(url + PODS, json=node), 400)
    assert status["message"] == 'the kind in the data ("Node") does not match the expected kind ("Pod")'
    deployment = {"apiVersion": "apps/v1", "kind": "Pod", "metadata": {"name": "x"}}
    status = await _refused(http, url, await http.post(url + PODS, json=deployment), 400)
    assert "does not match the expected API version (v1)" in status["message"]


async def _chunks(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def test_bodies_over_3_mib_are_413_declared_or_chunked_and_large_ones_under_it_are_read_whole(rest) -> None:
    http, url = rest
    big = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
                      "data": {"x": "y" * (4 * MIB)}}).encode()
    for body in (big, _chunks(big)):  # with a Content-Length, then chunked without one
        reply = await http.post(url + CONFIGMAPS, data=body, headers={"Content-Type": "application/json"})
        status = await _refused(http, url, reply, 413)
        assert (status["reason"], status["message"]) == ("RequestEntityTooLarge",
                                                         "Request entity too large: limit is 3145728")
    # Just under the cap, sent in many TLS records: read whole (then refused by validation, a ConfigMap's limit
    # being 1 MiB), not cut at the first chunk; and a 1 MiB one is stored.
    near = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "near"},
                       "data": {"x": "y" * (3 * MIB - 200)}}).encode()
    assert len(near) <= 3 * MIB
    reply = await http.post(url + CONFIGMAPS, data=_chunks(near), headers={"Content-Type": "application/json"})
    assert (await _refused(http, url, reply, 422))["reason"] == "Invalid"
    mib = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mib"}, "data": {"x": "y" * (MIB - 64)}}
    stored = await http.post(url + CONFIGMAPS, data=_chunks(json.dumps(mib).encode()),
                             headers={"Content-Type": "application/json"})
    assert stored.status == 201, await stored.text()
    got = await (await http.get(url + CONFIGMAPS + "/mib")).json()
    assert got["data"]["x"] == mib["data"]["x"]


async def test_a_watch_from_a_garbage_resource_version_is_a_400(rest) -> None:
    http, url = rest
    reply = await http.get(url + PODS, params={"watch": "true", "resourceVersion": "zzz"})
    status = await _refused(http, url, reply, 400)
    assert status["reason"] == "BadRequest"


async def test_grpc_refuses_a_20_mib_create_and_keeps_serving(rest, control_plane: ControlPlane) -> None:
    http, url = rest
    async with Client(control_plane.address) as client:
        huge = v1.ConfigMap(metadata=v1.ObjectMeta(name="huge"), data={"x": "y" * (20 * MIB)})
        with pytest.raises(errors.RequestEntityTooLarge, match="larger than max"):
            await client.create(huge)
        assert (await client.list(v1.ConfigMap, "default"))[0] == []
    assert await (await http.get(url + "/readyz")).text() == "ok"
