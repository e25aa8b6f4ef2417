"""The one request pipeline: a decision of the shared authorizer stops every front end before any write."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from controlplane.api import Api
from controlplane.apiserver import serve
from controlplane.local import LocalClient
from controlplane.memstore import MemoryStore
from controlplane.pipeline import (
    ANONYMOUS,
    LOOPBACK,
    Decision,
    RequestContext,
    RequestInfo,
    UserInfo,
    forbidden,
)
from controlplane.rest import make_app
from podlab import errors
from podlab.client import Client
from podlab.kinds import CONFIG_MAPS
from podlab.v1 import objects_pb2 as v1

DENIED = ('configmaps is forbidden: User "system:anonymous" cannot create resource "configmaps" '
          'in API group "" in the namespace "default": creating config maps is switched off')


class DenyConfigMapCreates:
    """Allows everything but creating ConfigMaps; remembers every request it was asked about."""

    def __init__(self) -> None:
        self.asked: list[tuple[UserInfo, RequestInfo]] = []

    def authorize(self, user: UserInfo, request: RequestInfo) -> Decision:
        self.asked.append((user, request))
        if request.verb == "create" and request.resource == "configmaps":
            return Decision(False, "creating config maps is switched off")
        return Decision(True)


class Recorder:
    def __init__(self) -> None:
        self.records: list[tuple[str, str, str, int]] = []

    def record(self, ctx: RequestContext, code: int, decision: Decision) -> None:
        self.records.append((ctx.user.name, ctx.request.verb, ctx.request.resource, code))


def settings() -> v1.ConfigMap:
    return v1.ConfigMap(metadata=v1.ObjectMeta(name="settings", namespace="default"), data={"a": "1"})


@pytest_asyncio.fixture
async def guarded() -> AsyncIterator[tuple[Api, DenyConfigMapCreates, Recorder]]:
    authorizer, audit = DenyConfigMapCreates(), Recorder()
    api = Api.build(MemoryStore(), authorizer=authorizer)
    api.pipeline.audit = audit
    await api.registry.ensure_namespaces()
    yield api, authorizer, audit
    await api.close()


async def test_a_denied_verb_is_refused_on_grpc_rest_and_in_process_and_nothing_is_stored(guarded) -> None:
    api, authorizer, audit = guarded
    server, port = await serve(api, "127.0.0.1:0")
    http = TestClient(TestServer(make_app(api)))
    await http.start_server()
    try:
        async with Client(f"127.0.0.1:{port}") as grpc_client:
            with pytest.raises(errors.Forbidden) as refused:
                await grpc_client.create(settings())
            assert str(refused.value) == DENIED

        response = await http.post("/api/v1/namespaces/default/configmaps",
                                   json={"apiVersion": "v1", "kind": "ConfigMap",
                                         "metadata": {"name": "settings"}, "data": {"a": "1"}})
        status = await response.json()
        assert response.status == 403
        assert (status["reason"], status["message"], status["code"]) == ("Forbidden", DENIED, 403)

        with pytest.raises(errors.Forbidden, match='User "system:apiserver" cannot create resource "configmaps"'):
            await LocalClient(api).create(settings())

        items, _ = await api.registry.list(CONFIG_MAPS)
        assert items == []
        # Every other verb still passes the same authorizer: a read on both front ends is allowed.
        listed = await http.get("/api/v1/namespaces/default/configmaps")
        assert listed.status == 200
    finally:
        await http.close()
        await server.stop(None)

    asked = {(user.name, r.verb, r.resource) for user, r in authorizer.asked}
    assert ("system:anonymous", "create", "configmaps") in asked
    assert ("system:apiserver", "create", "configmaps") in asked
    assert ("system:anonymous", "list", "configmaps") in asked
    assert audit.records.count(("system:anonymous", "create", "configmaps", 403)) == 2
    assert ("system:anonymous", "list", "configmaps", 200) in audit.records


async def test_the_audit_hook_records_who_did_what_with_the_response_code(guarded) -> None:
    api, _, audit = guarded
    local = LocalClient(api)
    pod = v1.Pod(metadata=v1.ObjectMeta(name="p", namespace="default"),
                 spec=v1.PodSpec(containers=[v1.Container(name="c", image="busybox")]))
    await local.create(pod)
    with pytest.raises(errors.AlreadyExists):
        await local.create(pod)
    with pytest.raises(errors.NotFound):
        await local.get(v1.Pod, "nope")
    assert audit.records[-3:] == [("system:apiserver", "create", "pods", 200),
                                  ("system:apiserver", "create", "pods", 409),
                                  ("system:apiserver", "get", "pods", 404)]


def test_forbidden_reads_as_kubernetes_for_a_cluster_scoped_subresource() -> None:
    request = RequestInfo("get", "nodes", "", "proxy", "", "node1")
    assert str(forbidden(ANONYMOUS, request)) == (
        'nodes/proxy "node1" is forbidden: User "system:anonymous" cannot get resource "nodes/proxy" '
        'in API group "" at the cluster scope')
    assert LOOPBACK.name == "system:apiserver"
