"""dryRun=All over the REST front end: every verb answers as it would, and nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.dryrun import DryRunStore
from controlplane.memstore import MemoryStore
from controlplane.storage import Guard, Put
from controlplane.testing import InMemoryApi
from podlab.v1 import objects_pb2 as v1

pytestmark = pytest.mark.unit
PODS = "/api/v1/namespaces/default/pods"
CMS = "/api/v1/namespaces/default/configmaps"
DRY = {"dryRun": "All"}


def pod(name: str = "web") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def revision(fake: InMemoryApi) -> int:
    store = fake.api.store
    assert isinstance(store, MemoryStore)
    return store.revision


async def test_the_dry_run_store_checks_guards_against_the_live_state_and_writes_nothing() -> None:
    live = MemoryStore()
    await live.put(b"/k", b"v")
    dry = DryRunStore(live)
    assert await dry.txn([Guard(b"/k", 2)], [Put(b"/k", b"new")]) == 0
    assert await dry.txn([Guard(b"/k", 1)], [Put(b"/k", b"new")]) is None
    assert await dry.txn([Guard(b"/other", 0, target="create")], [Put(b"/other", b"x")]) == 0
    kept = await live.get(b"/k")
    assert kept is not None and kept.value == b"v" and await live.get(b"/other") is None
    assert live.revision == 2


async def test_a_dry_run_create_answers_the_defaulted_object_and_stores_nothing(world) -> None:
    fake, http = world
    before = revision(fake)
    reply = await http.post(PODS, json=pod(), params=DRY)
    assert reply.status == 201, await reply.text()
    body = await reply.json()
    assert body["metadata"]["uid"] and body["metadata"]["creationTimestamp"]
    assert "resourceVersion" not in body["metadata"]  # never stored, so it has no version (as Kubernetes)
    assert body["spec"]["restartPolicy"] == "Always" and body["status"]["qosClass"] == "BestEffort"
    assert fake.pods() == [] and revision(fake) == before


async def test_a_dry_run_create_refuses_what_a_create_would(world) -> None:
    fake, http = world
    invalid = pod()
    invalid["spec"]["restartPolicy"] = "Mybe"
    refused = await http.post(PODS, json=invalid, params=DRY)
    assert refused.status == 422
    assert (await refused.json())["message"] == ('The Pod "web" is invalid: spec.restartPolicy: Unsupported value: '
                                                 '"Mybe": supported values: "Always", "OnFailure", "Never"')
    elsewhere = await http.post("/api/v1/namespaces/nowhere/pods", json=pod(), params=DRY)
    assert elsewhere.status == 404 and (await elsewhere.json())["message"] == 'namespaces "nowhere" not found'
    await http.post(PODS, json=pod())
    again = await http.post(PODS, json=pod(), params=DRY)
    assert again.status == 409 and (await again.json())["reason"] == "AlreadyExists"


async def test_a_dry_run_update_and_patch_answer_the_result_and_change_nothing(world) -> None:
    fake, http = world
    stored = await (await http.post(PODS, json=pod())).json()
    rv = stored["metadata"]["resourceVersion"]
    changed = {**stored, "metadata": {**stored["metadata"], "labels": {"app": "web", "tier": "a"}}}
    updated = await http.put(f"{PODS}/web", json=changed, params=DRY)
    assert updated.status == 200, await updated.text()
    body = await updated.json()
    assert body["metadata"]["labels"] == {"app": "web", "tier": "a"}
    assert body["metadata"]["resourceVersion"] == rv  # what kubectl diff compares against: unchanged
    patched = await http.patch(f"{PODS}/web", params=DRY, data='{"metadata":{"labels":{"tier":"b"}}}',
                               headers={"Content-Type": "application/merge-patch+json"})
    assert (await patched.json())["metadata"]["labels"] == {"app": "web", "tier": "b"}
    assert dict(fake.pod("web").metadata.labels) == {"app": "web"}
    assert fake.pod("web").metadata.resource_version == rv
    stale = await http.put(f"{PODS}/web", json={**changed, "metadata": {**changed["metadata"],
                                                                        "resourceVersion": "1"}}, params=DRY)
    assert stale.status == 409 and (await stale.json())["reason"] == "Conflict"


async def test_a_dry_run_delete_answers_what_would_happen_and_keeps_the_object(world) -> None:
    fake, http = world
    fake.create_now(v1.Node(metadata=v1.ObjectMeta(name="n1")))
    await http.post(PODS, json=pod())
    fake.bind_now(fake.pod("web"), "n1")
    terminating = await http.delete(f"{PODS}/web", json={"kind": "DeleteOptions", "dryRun": ["All"]})
    assert terminating.status == 200, await terminating.text()
    assert (await terminating.json())["metadata"]["deletionGracePeriodSeconds"] == 30
    assert not fake.pod("web").metadata.HasField("deletion_timestamp")
    for name in ("a", "b"):
        await http.post(CMS, json={"metadata": {"name": name, "labels": {"x": "1"}}})
    gone = await http.delete(f"{CMS}/a", params=DRY)
    assert gone.status == 200 and (await gone.json())["metadata"]["name"] == "a"
    collection = await http.delete(CMS, params={**DRY, "labelSelector": "x=1"})
    assert [c["metadata"]["name"] for c in (await collection.json())["items"]] == ["a", "b"]
    assert sorted(c.metadata.name for c in fake.objects(v1.ConfigMap)) == ["a", "b"]


async def test_a_dry_run_eviction_and_status_write_leave_the_pod_and_record_no_event(world) -> None:
    fake, http = world
    fake.create_now(v1.Node(metadata=v1.ObjectMeta(name="n1")))
    await http.post(PODS, json=pod())
    fake.bind_now(fake.pod("web"), "n1")
    before = revision(fake)
    evicted = await http.post(f"{PODS}/web/eviction", json={
        "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web"},
        "deleteOptions": {"dryRun": ["All"]}})
    assert evicted.status == 201, await evicted.text()
    status = await (await http.get(f"{PODS}/web/status")).json()
    status["status"]["phase"] = "Running"
    written = await http.put(f"{PODS}/web/status", json=status, params=DRY)
    assert (await written.json())["status"]["phase"] == "Running"
    await fake.api.events.flush()
    assert revision(fake) == before and fake.events() == []
    assert fake.pod("web").status.phase == "Pending" and not fake.pod("web").metadata.annotations


async def test_an_unknown_dry_run_value_is_invalid_and_changes_nothing(world) -> None:
    fake, http = world
    reply = await http.post(PODS, json=pod(), params={"dryRun": "Yes"})
    assert reply.status == 422
    assert (await reply.json())["message"] == ('The CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported '
                                               'value: []string{"Yes"}: supported values: "All"')
    await http.post(PODS, json=pod())
    delete = await http.delete(f"{PODS}/web", json={"dryRun": ["All", "Some"]})
    assert delete.status == 422 and "DeleteOptions.meta.k8s.io" in (await delete.json())["message"]
    assert [p.metadata.name for p in fake.pods()] == ["web"]


async def test_a_dry_run_is_its_own_dry_run(world) -> None:
    fake, _ = world
    dry = fake.api.dry_run
    assert dry.dry_run is dry and fake.api.writer(False) is fake.api and fake.api.writer(True) is dry
